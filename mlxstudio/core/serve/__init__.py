"""Serving a model over an OpenAI-compatible API, and a chat client."""
