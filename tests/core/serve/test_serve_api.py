"""The OpenAI-compatible API on the tiny model: mlx-lm's server behind our fixes, the
official openai client, our own client, API keys, 4xx answers and concurrent requests."""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from servehelpers import FEW, serve_in_thread, stop

from mlxstudio.core.errors import UserError
from mlxstudio.core.serve.client import base_url, chat, list_models, stream_chat

# --- the official openai client ---------------------------------------------------------


def test_openai_chat_and_stream(openai_client):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = openai_client.chat.completions.create(
        model="tiny-llama", messages=messages, max_tokens=FEW, temperature=0.7
    )
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage.completion_tokens <= FEW

    stream = openai_client.chat.completions.create(
        model="tiny-llama", messages=messages, max_tokens=FEW, stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta]
    assert "".join(p for p in pieces if p)


def test_openai_completions(openai_client):
    reply = openai_client.completions.create(
        model="default_model", prompt="The capital", max_tokens=FEW
    )
    assert isinstance(reply.choices[0].text, str)


def test_models_lists_the_served_model(openai_client, server):
    assert [m.id for m in openai_client.models.list()] == ["tiny-llama"]
    assert openai_client.models.retrieve("tiny-llama").id == server.model_id == "tiny-llama"


def test_openai_client_gets_404_for_an_unknown_model(openai_client):
    import openai

    with pytest.raises(openai.NotFoundError, match="'gpt-4o' is not served here"):
        openai_client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], max_tokens=FEW
        )
    with pytest.raises(openai.NotFoundError, match="not served here"):
        openai_client.models.retrieve("gpt-4o")


# --- our client -------------------------------------------------------------------------


def test_chat_stream_and_list_models(server):
    assert list_models(server.url) == ["tiny-llama"]
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    answer = chat(server.url, "Hello?", system="Be brief.", history=history, max_tokens=FEW)
    assert isinstance(answer, str) and answer
    usage = []
    text = "".join(
        stream_chat(server.url, "Hello?", max_tokens=FEW, temperature=0, on_usage=usage.append)
    )
    assert text
    assert usage and 0 < usage[0]["completion_tokens"] <= FEW


def test_top_p_is_passed_through(server):
    # top_p must be in (0, 1]: mlx-lm's 400 proves the field arrived.
    assert chat(server.url, "Hi", top_p=0.9, max_tokens=FEW) is not None
    with pytest.raises(UserError, match="server error 400"):
        chat(server.url, "Hi", top_p=1.5, max_tokens=FEW)


def test_client_accepts_url_without_v1(server):
    bare = server.url.removesuffix("/v1")
    assert base_url(bare + "/") == server.url
    assert base_url(bare.removeprefix("http://")) == server.url
    assert list_models(bare) == ["tiny-llama"]


def test_served_id_default_model_and_path_are_the_same_model(server):
    greedy = chat(server.url, "Hi", temperature=0, max_tokens=FEW)
    assert chat(server.url, "Hi", temperature=0, max_tokens=FEW, model="tiny-llama") == greedy
    assert chat(server.url, "Hi", temperature=0, max_tokens=FEW, model="default_model") == greedy


def test_unknown_model_is_a_404_with_a_message(server):
    # mlx-lm would try to load "gpt-4o" from the hub (or any path a client names).
    with pytest.raises(
        UserError, match="error 404 .*'gpt-4o' is not served here; use 'tiny-llama'"
    ):
        chat(server.url, "Hi", model="gpt-4o", max_tokens=FEW)
    with pytest.raises(UserError, match="error 404"):
        chat(server.url, "Hi", model="/etc", max_tokens=FEW)


def test_server_error_message_reaches_the_user(server):
    with pytest.raises(UserError, match="max_tokens must be at least 1"):
        chat(server.url, "Hi", max_tokens=0)


def _raw_post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_malformed_json_is_a_400_with_a_message(server):
    status, body = _raw_post(server.url, b'{"messages": [', {"Content-Type": "application/json"})
    assert status == 400 and "Invalid JSON" in body["error"]
    status, body = _raw_post(server.url, b"[1, 2]")
    assert status == 400 and "JSON dictionary" in body["error"]


def test_connection_refused(free_port):
    with pytest.raises(UserError, match="no server answers at .*mlxstudio serve MODEL"):
        chat(f"http://127.0.0.1:{free_port}", "Hi")


def test_timeout():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        with pytest.raises(UserError, match="did not answer within 0.5 s"):
            chat(url, "Hi", timeout=0.5)


# --- API key ----------------------------------------------------------------------------


def test_api_key_is_enforced(tiny_model):
    openai = pytest.importorskip("openai")
    srv, thread = serve_in_thread(tiny_model, api_key="s3cret")
    try:
        with pytest.raises(UserError, match="error 401 .*missing API key"):
            chat(srv.url, "Hi", max_tokens=FEW)
        with pytest.raises(UserError, match="error 401 .*wrong API key"):
            list_models(srv.url, api_key="guess")
        assert chat(srv.url, "Hi", max_tokens=FEW, api_key="s3cret") is not None
        assert list_models(srv.url, api_key="s3cret") == ["tiny-llama"]

        wrong = openai.OpenAI(base_url=srv.url, api_key="guess", max_retries=0)
        with pytest.raises(openai.AuthenticationError, match="wrong API key"):
            wrong.models.list()
        right = openai.OpenAI(base_url=srv.url, api_key="s3cret", max_retries=0)
        assert [m.id for m in right.models.list()] == ["tiny-llama"]
        stream = right.chat.completions.create(
            model="tiny-llama",
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=FEW,
            stream=True,
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        stop(srv, thread)


# --- concurrency ------------------------------------------------------------------------


def test_twenty_concurrent_requests_are_all_answered(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, timeout=120)

    def ask(i: int) -> tuple[int, str]:
        if i % 2:  # half streamed, half not
            stream = client.chat.completions.create(
                model="tiny-llama",
                messages=[{"role": "user", "content": f"Count to {i}"}],
                max_tokens=8,
                stream=True,
            )
            return i, "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        reply = client.chat.completions.create(
            model="tiny-llama",
            messages=[{"role": "user", "content": f"Count to {i}"}],
            max_tokens=8,
        )
        return i, reply.choices[0].message.content

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        answers = dict(pool.map(ask, range(20)))
    seconds = time.monotonic() - started
    assert sorted(answers) == list(range(20))
    assert all(isinstance(a, str) for a in answers.values())
    print(f"20 concurrent requests answered in {seconds:.1f} s")
