"""Errors a user can act on: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A problem with the user's input or environment, with a message saying what to do.

    `fix` names the fix (see core/data/issues.FIXES) when the app has a control for it, so the
    window can offer the control instead of the message's command-line wording."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix
