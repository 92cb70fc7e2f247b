"""A fake OpenAI-compatible chat server that writes question/answer pairs about the note in
the prompt, as a real model does (`Q:`/`A:` lines, with chatter around them): the edge
`data generate --url` talks to. Real HTTP on 127.0.0.1.

Notes steer it: a sentence with GARBLE makes its first answer unreadable (a retry reads
it), NEVER makes every answer unreadable (the chunk is skipped)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Writer:
    url: str
    requests: list[dict] = field(default_factory=list)
    delay_s: float = 0.0
    seen_garble: set[str] = field(default_factory=set)


def _note(prompt: str) -> tuple[str, int, str | None]:
    """The note, the number of pairs asked for, and the date a time question names."""
    note = prompt.split(":\n\n", 1)[1].split("\n\nWrite ", 1)[0]
    count = int(re.search(r"\n\nWrite (\d+)", prompt).group(1))
    dated = re.search(r"what they did or wrote on (\d{4}-\d{2}-\d{2})", prompt)
    return note, count, dated.group(1) if dated else None


def _answer(writer: Writer, prompt: str, cot: bool) -> str:
    note, count, date = _note(prompt)
    if "NEVER" in note:
        return "I'm sorry, I can't help with that."
    if "GARBLE" in note and note not in writer.seen_garble:
        writer.seen_garble.add(note)
        return "Here are the questions you asked for: tomatoes, sauce and compost."
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", note) if len(s.split()) > 3]
    lines = ["Sure! Here are the questions:", ""]
    if date:
        sentences = sentences[:1]
    for i, sentence in enumerate(sentences[:count], 1):
        words = " ".join(re.findall(r"[\w'-]+", sentence)[:6])
        question = f"What did I do on {date}?" if date else f"What did I write about {words}?"
        answer = f"You wrote: {sentence}"
        if cot:
            answer = f"<think>The note says it.</think><answer>{answer}</answer>"
        lines += [f"{i}. **Q:** {question}", f"**A:** {answer}", ""]
    return "\n".join(lines + ["I hope these help!"])


def send_chat_reply(handler: BaseHTTPRequestHandler, body: dict, text: str) -> None:
    """Answer a chat-completions request with `text`, in the shape OpenAI's API has."""
    prompt = body["messages"][-1]["content"]
    reply = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "fake",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4},
    }
    data = json.dumps(reply).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(writer: Writer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            writer.requests.append(body)
            if writer.delay_s:
                time.sleep(writer.delay_s)
            prompt = body["messages"][-1]["content"]
            text = _answer(writer, prompt, "<think>" in prompt)
            send_chat_reply(self, body, text)

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def fake_writer(delay_s: float = 0.0) -> Iterator[Writer]:
    writer = Writer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(writer))
    writer.url, writer.delay_s = f"http://127.0.0.1:{server.server_port}/v1", delay_s
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield writer
    finally:
        server.shutdown()
        server.server_close()


def write_notes(folder) -> None:
    """A few notes of the kinds people keep: dated Markdown, plain text, HTML."""
    (folder / "journal").mkdir(parents=True)
    (folder / "journal" / "2025-03-14-garden.md").write_text(
        "---\ntitle: Garden\ndate: 2025-03-14\n---\n"
        "Today I finally planted the tomato seedlings in the raised bed behind the garage. "
        "I chose the San Marzano variety because my grandmother always used them for sauce.\n",
        encoding="utf-8",
    )
    (folder / "books.txt").write_text(
        "I loved The Left Hand of Darkness by Ursula Le Guin this year. "
        "I stopped reading thrillers because they leave me restless. "
        "My friend Marta (marta.v@example.com, +34 612 345 678) recommended Piranesi to me.\n",
        encoding="utf-8",
    )
    (folder / "trip.html").write_text(
        "<html><head><title>Trip</title><script>var tracking = 1;</script></head><body>"
        "<h1>Lisbon</h1><p>We walked up to the castle of Sao Jorge at sunset.</p>"
        "<p>I ate pastries every morning at a bakery in Belem.</p></body></html>",
        encoding="utf-8",
    )
