"""Streams one chat answer off the GUI thread, with its speed."""

from __future__ import annotations

import re
import time

from PySide6.QtCore import QThread, Signal

from mlxstudio.core.errors import UserError


class ChatWorker(QThread):
    """Emits `delta` per piece, `failed` on an error; `stop()` ends it between pieces.

    After it finishes, `tokens` is the answer's token count (the server's usage, or the
    number of streamed pieces) and `seconds` the time from request to last piece.
    """

    delta = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        url: str,
        messages: list[dict],
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 256,
        api_key: str = "",
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.url, self.messages, self.api_key = url, messages, api_key
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.text = ""
        self.tokens = 0
        self.seconds = 0.0
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def run(self) -> None:
        from mlxstudio.core.serve.client import stream_chat

        question = self.messages[-1]["content"]
        system = next((m["content"] for m in self.messages if m["role"] == "system"), None)
        history = [m for m in self.messages[:-1] if m["role"] != "system"]
        usage: list[dict] = []
        pieces = 0
        started = time.monotonic()
        try:
            for piece in stream_chat(
                self.url,
                question,
                system=system,
                history=history,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                api_key=self.api_key or None,
                on_usage=usage.append,
            ):
                if self._stop:
                    break
                pieces += 1
                self.text += piece
                self.seconds = time.monotonic() - started
                self.delta.emit(piece)
        except UserError as err:
            self.failed.emit(window_message(str(err)))
        except OSError as err:  # a socket error the client did not word
            self.failed.emit(f"The server broke off the answer: {err}")
        # mlx-lm streams about one piece per token; its usage count is exact when sent.
        self.tokens = usage[-1].get("completion_tokens", pieces) if usage else pieces


_COMMAND_HINT = re.compile(r";[^;]*`mlxstudio [^`]*`")


def window_message(message: str) -> str:
    """A client error as the window says it: no command to type, a control to press."""
    if message.startswith("no server answers"):
        return "The server is not answering (it has stopped). Press Start server to chat again."
    message = _COMMAND_HINT.sub("", message)
    return message[:1].upper() + message[1:]
