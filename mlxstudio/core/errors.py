"""Errors a user can act on: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""
