"""Talking to an OpenAI-compatible ``/chat/completions`` endpoint with the standard library.

Every request has one total deadline, ``config.timeout`` seconds from the start of the call:
connecting, the first token and the whole answer must all fit in it. The blocking HTTP work runs
in a daemon thread and the caller waits on a queue, never past the deadline, so no server (one
that trickles header bytes, sends keep-alives forever, or streams without end) and no stuck
resolver can hold the caller. At the deadline, or on ``cancel``, the socket is shut down, which
makes the worker's blocked read return at once; the worker also sets the socket timeout to the
time left before every read, checks the deadline between reads, and stops after
``MAX_RESPONSE_BYTES``, so it ends promptly too and its memory stays bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from askarchive.answer.llm.config import ENV_KEY, LLMConfig
from askarchive.errors import LLMUnavailable
from askarchive.text import one_line

KEY_HINT = f"check {ENV_KEY}"
# An answer is a few kilobytes; a response past this is a runaway server, not an answer.
MAX_RESPONSE_BYTES = 4 << 20
MAX_LINE_BYTES = 1 << 20
# A server's reason in an error message is cut here: the message stays one readable line.
REASON_CHARS = 160
_READ_SIZE = 1 << 16
_CANCEL_POLL = 0.05  # seconds between looks at ``cancel`` while waiting for the worker
_END = object()


class _Request:
    """One POST to ``{url}/chat/completions`` with a total deadline, stoppable from any thread."""

    def __init__(self, config: LLMConfig, payload: dict[str, Any]) -> None:
        self.config = config
        parts = urlsplit(config.url)
        path = parts.path.rstrip("/")
        self.path = path if path.endswith("/chat/completions") else path + "/chat/completions"
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(parts.hostname, parts.port, timeout=config.timeout)
        self.payload = payload
        self.deadline = math.inf  # monotonic; set by ``start``
        self.received = 0  # response bytes read so far
        self.stopped = threading.Event()
        # http.client drops conn.sock once a "Connection: close" response starts, while the
        # response keeps reading from it; this reference lets another thread still interrupt.
        self._sock: socket.socket | None = None
        self._resp: http.client.HTTPResponse | None = None

    def start(self) -> None:
        self.deadline = time.monotonic() + self.config.timeout

    def expired_reason(self) -> str:
        limit = f"within {self.config.timeout:g} s"
        if self.received:
            return f"the answer from {self.where} was not complete {limit}"
        return f"no response from {self.where} {limit}"

    def _arm(self) -> None:
        """Before every blocking step: fail if the deadline passed, else wait at most until it."""
        if self.stopped.is_set():
            raise LLMUnavailable("the request was stopped")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LLMUnavailable(self.expired_reason())
        self.conn.timeout = left
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.settimeout(left)

    def open(self) -> http.client.HTTPResponse:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        body = json.dumps(self.payload).encode("utf-8")
        with self.errors():
            self._arm()
            self.conn.connect()
            self._sock = self.conn.sock
            # Checked after publishing the socket: either ``interrupt`` sees it, or this sees
            # the stop, so a request stopped while connecting is never sent.
            self._arm()
            self.conn.request("POST", self.path, body=body, headers=headers)
            self._arm()
            resp = self._resp = self.conn.getresponse()
        if resp.status != 200:
            raise LLMUnavailable(self._http_error(resp))
        return resp

    def read(self, resp: http.client.HTTPResponse) -> bytes:
        """At most one chunk of the body (b"" at its end), within the deadline and the cap."""
        with self.errors():
            self._arm()
            data = resp.read1(_READ_SIZE)
        self.received += len(data)
        if self.received > MAX_RESPONSE_BYTES:
            raise LLMUnavailable(
                f"the response from {self.where} passed {MAX_RESPONSE_BYTES >> 20} MiB; "
                "stopped reading it"
            )
        return data

    def read_all(self, resp: http.client.HTTPResponse) -> bytes:
        parts = []
        while data := self.read(resp):
            parts.append(data)
        return b"".join(parts)

    def _http_error(self, resp: http.client.HTTPResponse) -> str:
        detail = ""
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError, LLMUnavailable):
            self._arm()
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
            # Socket timeouts are set to the time left, so this is the deadline passing.
            raise LLMUnavailable(self.expired_reason()) from None
        except ConnectionRefusedError:
            raise LLMUnavailable(f"connection refused by {self.where}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if self.stopped.is_set() or time.monotonic() >= self.deadline:
                raise LLMUnavailable(self.expired_reason()) from None
            what = one_line(exc, REASON_CHARS) or type(exc).__name__
            raise LLMUnavailable(f"connection to {self.where} failed: {what}") from None

    def interrupt(self) -> None:
        """Stop the request; safe from any thread. A blocked read returns at once."""
        self.stopped.set()
        sock = self._sock
        if sock is not None:
            # shutdown() makes a blocked recv() return at once; the worker then closes.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.interrupt()
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            if self._resp is not None:
                self._resp.close()
            self.conn.close()


def _bounded(
    request: _Request, produce: Callable[[], Iterator[str]], cancel: threading.Event | None
) -> Iterator[str]:
    """Yield what ``produce`` yields, run in a worker thread, never waiting past the deadline.

    Returns early (quietly) once ``cancel`` is set; raises ``LLMUnavailable`` at the deadline or
    on the worker's failure. However it ends, the request is stopped, so the worker ends too.
    """
    out: queue.SimpleQueue[object] = queue.SimpleQueue()

    def work() -> None:
        try:
            for item in produce():
                if request.stopped.is_set():
                    return
                out.put(item)
            out.put(_END)
        except BaseException as exc:  # handed to the caller, which decides
            out.put(exc)
        finally:
            request.close()

    request.start()
    threading.Thread(target=work, name="askarchive-llm", daemon=True).start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return
            left = request.deadline - time.monotonic()
            if left <= 0:
                raise LLMUnavailable(request.expired_reason())
            try:
                item = out.get(timeout=min(left, _CANCEL_POLL) if cancel is not None else left)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, str)
            yield item
    finally:
        request.interrupt()


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
        self.finish_reason: str | None = None
        self.cancelled = False
        self._gen = self._run()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def _is_cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def _run(self) -> Iterator[str]:
        if self._is_cancelled():
            self.cancelled = True
            return
        produced = False
        try:
            for delta in _bounded(self._request, self._produce, self._cancel):
                produced = produced or bool(delta.strip())
                yield delta
        except LLMUnavailable:
            if self._is_cancelled():
                self.cancelled = True
                return
            raise
        if self._is_cancelled():
            self.cancelled = True
            return
        if not produced:
            raise LLMUnavailable(f"the model at {self._request.where} returned an empty answer")

    def _produce(self) -> Iterator[str]:
        """Runs in the worker thread: the deltas of the response."""
        resp = self._request.open()
        if "json" in (resp.getheader("Content-Type") or ""):
            # The server ignored stream=true and sent the whole completion at once.
            text = _message_text(_load_json(self._request.read_all(resp)))
            self.finish_reason = "stop"
            if text:
                yield text
        else:
            yield from self._events(resp)

    def _lines(self, resp: http.client.HTTPResponse) -> Iterator[bytes]:
        pending = bytearray()
        while data := self._request.read(resp):
            pending += data
            if b"\n" in data:  # only then split: a line dripped byte by byte stays linear
                *lines, rest = bytes(pending).split(b"\n")
                yield from lines
                pending = bytearray(rest)
            if len(pending) > MAX_LINE_BYTES:
                raise LLMUnavailable("malformed stream: a line longer than 1 MiB")
        if pending:
            yield bytes(pending)

    def _events(self, resp: http.client.HTTPResponse) -> Iterator[str]:
        data: list[str] = []
        for raw in self._lines(resp):
            try:
                line = raw.decode("utf-8").rstrip("\r")
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
        raise LLMUnavailable(
            f"malformed response: not JSON: {one_line(raw[:60], REASON_CHARS)}"
        ) from None
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

    def produce() -> Iterator[str]:
        yield _message_text(_load_json(request.read_all(request.open())))

    return "".join(_bounded(request, produce, None))
