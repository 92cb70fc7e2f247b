"""The chat transcript: bubbles with the model's Markdown rendered (code in monospace),
Copy to the clipboard, errors as red notices, live streaming, each run's conversation
restored (never another run's), New chat; screenshots light and dark at two sizes."""

from __future__ import annotations

import pytest
from screens import screenshot

from mlxstudio.core.serve.prompts import append_chat, read_conversation

ANSWER = (
    "Use a **list comprehension**:\n\n"
    "```python\nsquares = [n * n for n in range(10)]\nprint(squares)\n```\n\n"
    "- short\n- fast, and `range` is lazy"
)


def _turn(run, chat, prompt, answer, **extra):
    record = {"chat": chat, "prompt": prompt, "answer": answer, "system": "", **extra}
    append_chat(run, {"tokens": 21, "seconds": 0.7, "tokens_per_second": 30.0, **record})


@pytest.fixture
def runs(window, installed_tiny, studio_home):
    a, b = studio_home / "runs" / "run-a", studio_home / "runs" / "run-b"
    for run in (a, b):
        run.mkdir(parents=True)
    _turn(a, "c1", "An old question", "An old answer")
    _turn(a, "c2", "How do I square numbers in Python?", ANSWER, system="Be brief.")
    _turn(a, "c2", "Thanks!", "You're welcome.")
    _turn(b, None, "Question for B", "Answer from B")  # logged before conversations had ids
    window.state.set_model(installed_tiny)
    return a, b


def test_markdown_bubbles_copy_and_errors(window, qtbot):
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.widgets.chat_view import ChatView

    chat = ChatView()
    qtbot.addWidget(chat)
    chat.resize(700, 500)
    chat.show()
    question = chat.add_user("Show me <code> & co")
    answer = chat.add_answer()
    for piece in (ANSWER[:30], ANSWER[30:70], ANSWER[70:]):
        chat.stream(piece)
    assert answer.text == ANSWER
    qtbot.waitUntil(lambda: "<pre" in answer.bubble.html(), timeout=2000)  # throttled render
    chat.finish_answer("21 tokens · 0.7 s · 30.0 tokens/s")
    html = answer.bubble.html()
    assert "font-weight:700" in html and "list comprehension" in html  # **bold**
    assert "<li" in html and "```" not in html
    code = html[html.index("<pre") :]
    assert "font-family:'" in code and "squares = [n * n for n in range(10)]" in code
    assert "&lt;code&gt; &amp; co" in question.bubble.html()  # the user's text is not HTML
    assert answer.info.text().endswith("30.0 tokens/s")

    answer.copy_button.click()
    assert QApplication.clipboard().text() == ANSWER
    assert answer.copy_button.text() == "Copied"

    # Sides: yours right, the model's left.
    qtbot.wait(50)
    assert question.bubble.geometry().right() > answer.bubble.geometry().right()
    assert question.bubble.x() > answer.bubble.x()

    error = chat.add_error("The server is not answering.")
    assert error.role == "error" and "not answering" in error.bubble.html()
    assert "Error: The server is not answering." in chat.toPlainText()


def test_each_run_shows_its_own_conversation(window, runs):
    page = window.serve_page
    a, b = runs
    window.state.set_run(a)
    window.go("serve")
    texts = [m.text for m in page.transcript.messages()]
    assert texts == ["How do I square numbers in Python?", ANSWER, "Thanks!", "You're welcome."]
    assert page.history[0] == {"role": "system", "content": "Be brief."}
    assert len(page.history) == 5 and page.chat_id == "c2"
    assert "30.0 tokens/s" in page.transcript.messages()[1].info.text()

    window.state.set_run(b)  # another run: its conversation, never run A's
    assert [m.text for m in page.transcript.messages()] == ["Question for B", "Answer from B"]

    window.state.set_run(a)
    assert page.transcript.messages()[0].text == "How do I square numbers in Python?"
    page.new_chat()
    assert not page.transcript.messages() and page.history == []
    assert page.chat_id != "c2" and read_conversation(a)[-1]["chat"] == "c2"  # log kept
    window.state.set_run(b)
    window.state.set_run(a)
    assert not page.transcript.messages()  # the new chat, not the old one, is A's now


def test_chat_page_screenshots_light_and_dark(window, runs, qtbot):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from mlxstudio.gui.style import apply_style

    page = window.serve_page
    window.state.set_run(runs[0])
    window.go("serve")
    bubble = page.transcript.messages()[1].bubble
    app = QApplication.instance()
    try:
        for scheme in ("light", "dark"):
            apply_style(app, scheme)
            qtbot.wait(50)
            base = page.transcript.palette().color(QPalette.ColorRole.Base)
            assert (base.lightness() < 128) == (scheme == "dark")
            # The model's bubble follows the palette: darker than white in dark mode.
            shade = bubble.grab().toImage().pixelColor(bubble.width() // 2, 4)
            assert (shade.lightness() < 128) == (scheme == "dark"), shade.name()
            for width, height in ((1280, 800), (1024, 640)):
                window.resize(width, height)
                qtbot.wait(50)
                screenshot(window, f"serve-chat-{scheme}-{width}x{height}")
        page.new_chat()  # the empty state, with its one line of help and its action
        screenshot(window, "serve-chat-empty-dark-1024x640")
    finally:
        apply_style(app, "light")
