"""A chat client for any OpenAI-compatible server, using only the standard library."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from mlxstudio.core.errors import UserError

# mlx-lm's sentinel for "the model the server was started with".
DEFAULT_MODEL = "default_model"


def base_url(url: str) -> str:
    """The API base for a server address: 'localhost:8080' -> 'http://localhost:8080/v1'."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/v1") else url + "/v1"


def chat(
    url: str,
    question: str,
    *,
    system: str | None = None,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_tokens: int = 256,
    model: str | None = None,
    history: list[dict] | None = None,
    api_key: str | None = None,
    timeout: float = 300,
) -> str:
    """Ask one question (after an optional system prompt and history); return the answer text."""
    body = _chat_body(question, system, history, model, stream=False)
    body.update(temperature=temperature, top_p=top_p, max_tokens=max_tokens)
    with _post(url, "/chat/completions", body, timeout, api_key) as resp:
        data = _read_json(resp, url)
    try:
        return data["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise UserError(f"unexpected answer from {base_url(url)}: {str(data)[:200]}") from None


def stream_chat(
    url: str,
    question: str,
    *,
    system: str | None = None,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_tokens: int = 256,
    model: str | None = None,
    history: list[dict] | None = None,
    api_key: str | None = None,
    timeout: float = 300,
    on_usage: Callable[[dict], None] | None = None,
) -> Iterator[str]:
    """Like chat(), but yield the answer piece by piece as the server streams it.

    on_usage(usage) receives the server's token counts (prompt_tokens, completion_tokens)
    after the last piece, if the server reports them.
    """
    body = _chat_body(question, system, history, model, stream=True)
    body.update(temperature=temperature, top_p=top_p, max_tokens=max_tokens)
    body["stream_options"] = {"include_usage": True}
    with _post(url, "/chat/completions", body, timeout, api_key) as resp:
        try:
            for raw in resp:
                line = raw.decode("utf-8").strip()
                # Blank lines separate events; lines starting with ':' are keep-alives.
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    return
                event = json.loads(payload)
                if "error" in event:
                    raise UserError(f"server error: {_error_text(event)}")
                if event.get("usage") and on_usage is not None:
                    on_usage(event["usage"])
                for choice in event.get("choices", []):
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
        except TimeoutError:
            raise _timeout_error(url, timeout) from None
        except (http.client.HTTPException, ConnectionError) as e:
            raise UserError(f"the server at {base_url(url)} broke off the answer: {e}") from None
        except json.JSONDecodeError:
            raise UserError(f"the server at {base_url(url)} sent a malformed event") from None


def list_models(url: str, *, timeout: float = 30, api_key: str | None = None) -> list[str]:
    """The ids of the models the server offers."""
    req = urllib.request.Request(base_url(url) + "/models", headers=_auth(api_key))
    with _open(req, url, timeout) as resp:
        data = _read_json(resp, url)
    try:
        return [m["id"] for m in data["data"]]
    except (KeyError, TypeError):
        raise UserError(f"unexpected model list from {base_url(url)}: {str(data)[:200]}") from None


def _chat_body(
    question: str,
    system: str | None,
    history: list[dict] | None,
    model: str | None,
    *,
    stream: bool,
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += list(history or [])
    messages.append({"role": "user", "content": question})
    return {"model": model or DEFAULT_MODEL, "messages": messages, "stream": stream}


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _post(
    url: str, path: str, body: dict, timeout: float, api_key: str | None = None
) -> http.client.HTTPResponse:
    req = urllib.request.Request(
        base_url(url) + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **_auth(api_key)},
        method="POST",
    )
    return _open(req, url, timeout)


def _open(req: urllib.request.Request, url: str, timeout: float) -> http.client.HTTPResponse:
    """urlopen with every failure turned into a one-line UserError."""
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise UserError(
            f"server error {e.code} from {base_url(url)}: {_http_error_text(e)}"
        ) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            raise UserError(
                f"no server answers at {base_url(url)}; start one with `mlxstudio serve MODEL`"
            ) from None
        if isinstance(e.reason, TimeoutError):
            raise _timeout_error(url, timeout) from None
        raise UserError(f"cannot reach {base_url(url)}: {e.reason}") from None
    except TimeoutError:
        raise _timeout_error(url, timeout) from None
    except (http.client.HTTPException, ConnectionError) as e:
        # e.g. the server closed the connection without an answer (it crashed handling it).
        raise UserError(f"the server at {base_url(url)} gave no answer: {e!r}") from None


def _read_json(resp: http.client.HTTPResponse, url: str) -> Any:
    try:
        return json.loads(resp.read())
    except TimeoutError:
        raise UserError(f"the server at {base_url(url)} stopped answering") from None
    except (http.client.HTTPException, ConnectionError) as e:
        raise UserError(f"the server at {base_url(url)} broke off the answer: {e!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"the server at {base_url(url)} did not answer with JSON") from None


def _http_error_text(e: urllib.error.HTTPError) -> str:
    raw = e.read().decode("utf-8", "replace").strip()
    try:
        return _error_text(json.loads(raw))
    except (json.JSONDecodeError, AttributeError):
        return raw.splitlines()[0] if raw else (e.reason or "no details")


def _error_text(data: dict) -> str:
    # mlx-lm sends {"error": "text"}; OpenAI sends {"error": {"message": "text"}}.
    err = data.get("error", data)
    if isinstance(err, dict):
        err = err.get("message", err)
    return str(err)


def _timeout_error(url: str, timeout: float) -> UserError:
    return UserError(f"the server at {base_url(url)} did not answer within {timeout:g} s")
