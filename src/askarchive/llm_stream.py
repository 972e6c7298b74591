"""Talking to an OpenAI-compatible ``/chat/completions`` endpoint with the standard library.

Streaming uses server-sent events; every read has the configured timeout, so a server that stops
sending fails within it. A ``cancel`` event interrupts a blocked read from a watcher thread by
shutting the socket down, so stopping is prompt even while the server is silent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from askarchive.errors import LLMUnavailable

if TYPE_CHECKING:
    from askarchive.llm import LLMConfig

KEY_HINT = "check ASKARCHIVE_LLM_API_KEY"


def one_line(value: object, limit: int = 160) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Request:
    """One POST to ``{url}/chat/completions``, closable from another thread to cancel it."""

    def __init__(self, config: LLMConfig, payload: dict[str, Any]) -> None:
        self.config = config
        parts = urlsplit(config.url)
        path = parts.path.rstrip("/")
        self.path = path if path.endswith("/chat/completions") else path + "/chat/completions"
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(parts.hostname, parts.port, timeout=config.timeout)
        self.payload = payload
        # http.client drops conn.sock once a "Connection: close" response starts, while the
        # response keeps reading from it; this reference lets another thread still interrupt.
        self._sock: socket.socket | None = None
        self._resp: http.client.HTTPResponse | None = None

    def open(self) -> http.client.HTTPResponse:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        body = json.dumps(self.payload).encode("utf-8")
        with self.errors():
            self.conn.connect()
            self._sock = self.conn.sock
            self.conn.request("POST", self.path, body=body, headers=headers)
            resp = self._resp = self.conn.getresponse()
        if resp.status != 200:
            raise LLMUnavailable(self._http_error(resp))
        return resp

    def _http_error(self, resp: http.client.HTTPResponse) -> str:
        detail = ""
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            raw = resp.read(2000).decode("utf-8", "replace")
            detail = raw
            err = json.loads(raw).get("error", raw)
            detail = err.get("message", raw) if isinstance(err, dict) else str(err)
        reason = f"HTTP {resp.status} from {self.where}" + (
            f": {one_line(detail, 100)}" if detail else ""
        )
        if resp.status in (401, 403):
            reason += f"; {KEY_HINT}"
        elif resp.status == 404:
            reason += "; check the URL (usually ending in /v1) and the model name"
        return reason

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except LLMUnavailable:
            raise
        except TimeoutError:
            raise LLMUnavailable(
                f"no response from {self.where} within {self.config.timeout:g} s"
            ) from None
        except ConnectionRefusedError:
            raise LLMUnavailable(f"connection refused by {self.where}") from None
        except (OSError, http.client.HTTPException) as exc:
            what = one_line(exc) or type(exc).__name__
            raise LLMUnavailable(f"connection to {self.where} failed: {what}") from None

    def interrupt(self) -> bool:
        """Wake a thread blocked on this connection; safe to call from any thread."""
        sock = self._sock
        if sock is None:
            return False
        # shutdown() makes a blocked recv() return at once; the reading thread then closes.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return True

    def close(self) -> None:
        self.interrupt()
        if self._resp is not None:
            self._resp.close()
        self.conn.close()


class ChatStream:
    """Iterator over the text deltas of one streamed completion.

    Errors surface while iterating. After the end, ``finish_reason`` holds the server's reason
    and ``cancelled`` tells whether ``cancel`` cut the stream short.
    """

    def __init__(
        self, config: LLMConfig, messages: list[dict[str, str]], cancel: threading.Event | None
    ) -> None:
        payload = {"model": config.model, "messages": messages, "stream": True, "temperature": 0}
        self._request = _Request(config, payload)
        self._cancel = cancel
        self._done = threading.Event()
        self.finish_reason: str | None = None
        self.cancelled = False
        self._gen = self._run()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def _watch(self) -> None:
        assert self._cancel is not None
        while not self._done.is_set():
            # Keep trying after a cancel: the socket may not exist yet while connecting.
            if self._cancel.wait(0.05) and self._request.interrupt():
                return

    def _run(self) -> Iterator[str]:
        if self._cancel is not None and self._cancel.is_set():
            self.cancelled = True
            return
        if self._cancel is not None:
            threading.Thread(target=self._watch, name="llm-cancel", daemon=True).start()
        produced = False
        try:
            try:
                resp = self._request.open()
                if "json" in (resp.getheader("Content-Type") or ""):
                    # The server ignored stream=true and sent the whole completion at once.
                    with self._request.errors():
                        text = _message_text(_load_json(resp.read()))
                    produced = bool(text.strip())
                    self.finish_reason = "stop"
                    if text:
                        yield text
                else:
                    for delta in self._events(resp):
                        produced = produced or bool(delta.strip())
                        yield delta
            except LLMUnavailable:
                if self._cancel is not None and self._cancel.is_set():
                    self.cancelled = True
                    return
                raise
            if self._cancel is not None and self._cancel.is_set():
                self.cancelled = True
                return
            if not produced:
                raise LLMUnavailable(f"the model at {self._request.where} returned an empty answer")
        finally:
            self._done.set()
            self._request.close()

    def _events(self, resp: http.client.HTTPResponse) -> Iterator[str]:
        data: list[str] = []
        while True:
            if self._cancel is not None and self._cancel.is_set():
                return
            with self._request.errors():
                raw = resp.readline(1 << 20)
            if not raw:
                break
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise LLMUnavailable("malformed stream: not UTF-8") from None
            if line == "":
                if data:
                    text, finished = self._event("\n".join(data))
                    data = []
                    if finished:
                        return
                    if text:
                        yield text
                continue
            field_name, _, value = line.partition(":")
            if field_name == "data":
                data.append(value[1:] if value.startswith(" ") else value)
            elif field_name not in ("", "event", "id", "retry"):
                raise LLMUnavailable(f"malformed stream: unexpected line {one_line(line, 60)!r}")
        if data:
            text, finished = self._event("\n".join(data))
            if text:
                yield text
            if finished:
                return
        # Some servers close without "[DONE]"; a finish_reason seen means the answer is whole.
        if self.finish_reason is None:
            raise LLMUnavailable("malformed stream: it ended before the answer was complete")

    def _event(self, data: str) -> tuple[str, bool]:
        if data.strip() == "[DONE]":
            self.finish_reason = self.finish_reason or "stop"
            return "", True
        chunk = _load_json(data.encode("utf-8"))
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise LLMUnavailable(f"malformed stream: event without choices: {one_line(data, 60)}")
        text = ""
        for choice in choices:
            if not isinstance(choice, dict):
                raise LLMUnavailable("malformed stream: a choice is not an object")
            delta = choice.get("delta") or {}
            piece = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(piece, str):
                text += piece
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return text, False


def _load_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LLMUnavailable(f"malformed response: not JSON: {one_line(raw[:60])}") from None
    if not isinstance(value, dict):
        raise LLMUnavailable("malformed response: not a JSON object")
    if "error" in value:
        err = value["error"]
        msg = err.get("message", err) if isinstance(err, dict) else err
        raise LLMUnavailable(f"the server reported an error: {one_line(msg, 100)}")
    return value


def _message_text(body: dict[str, Any]) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMUnavailable("malformed response: no choices[0].message.content") from None
    if not isinstance(content, str):
        raise LLMUnavailable("malformed response: the message content is not text")
    return content


def stream_chat(
    config: LLMConfig, messages: list[dict[str, str]], *, cancel: threading.Event | None = None
) -> ChatStream:
    """Stream a chat completion, yielding text deltas; a set ``cancel`` ends it quietly."""
    return ChatStream(config, messages, cancel)


def complete(config: LLMConfig, messages: list[dict[str, str]], **options: Any) -> str:
    """One non-streaming completion; the whole reply text."""
    payload = {"model": config.model, "messages": messages, "stream": False, "temperature": 0}
    payload.update(options)
    request = _Request(config, payload)
    try:
        resp = request.open()
        with request.errors():
            raw = resp.read()
        return _message_text(_load_json(raw))
    finally:
        request.close()
