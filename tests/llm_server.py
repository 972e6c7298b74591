"""A scripted OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, OS-chosen port.

Set ``server.script`` to choose how the next requests are answered:

``"good"``        stream ``server.reply`` word by word (chunked SSE); JSON if ``stream`` is false
``"abstain"``     stream the abstention token
``"http_error"``  answer with ``server.status`` (500 by default) and a JSON error body
``"slow"``        send the headers and one delta, then stall until the test ends
``"slow_start"``  stall before sending anything
``"garbage"``     a ``data:`` line that is not JSON
``"html"``        an HTML page with status 200
``"truncated"``   some deltas, then close without finish_reason or ``[DONE]``
``"error_event"`` an SSE event carrying ``{"error": ...}``
``"empty"``       only ``[DONE]``
``"json"``        a non-streamed JSON completion even when streaming was asked for
``"trickle"``     one delta, then an SSE keep-alive comment every ``tick`` seconds, never ending
                  (not streamed: the JSON body one byte per ``tick``)
``"endless"``     deltas of ``server.reply`` over and over (``delay`` apart), never finishing
                  (not streamed: a body without a length that never ends)
``"drip"``        a 200 status line, then one header byte every ``tick`` seconds, forever
``"drip_body"``   one delta, then a ``data:`` line one byte every ``tick`` seconds, no newline
a callable       ``script(body) -> str``: the reply text, streamed like ``"good"``

Every request is kept in ``server.requests`` (path, headers, parsed body) for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ABSTAIN = "NOT_IN_ARCHIVE"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    def __init__(self) -> None:
        self.script: str | Callable[[dict[str, Any]], str] = "good"
        self.reply = "The archive says so [1]."
        self.status = 500
        self.delay = 0.0  # seconds between streamed deltas
        self.tick = 0.05  # seconds between the keep-alives or bytes of the trickling scripts
        self.requests: list[Recorded] = []
        self.sent = 0  # deltas written so far
        self.disconnected = threading.Event()  # a write failed: the client hung up
        self.release = threading.Event()  # frees stalled handlers when the test ends
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLM:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-stream is what several tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        fake = self.fake
        fake.requests.append(Recorded(self.path, dict(self.headers.items()), body))
        try:
            self._answer(fake, body)
        except (BrokenPipeError, ConnectionResetError):
            fake.disconnected.set()

    def _answer(self, fake: FakeLLM, body: dict[str, Any]) -> None:
        script = fake.script
        if self.path != "/v1/chat/completions":
            return self._send(404, "application/json", b'{"error": {"message": "no such path"}}')
        if script == "http_error":
            err = json.dumps({"error": {"message": "model exploded"}}).encode()
            return self._send(fake.status, "application/json", err)
        if script == "html":
            return self._send(200, "text/html", b"<html><body>It works!</body></html>\n")
        if script == "slow_start":
            fake.release.wait(10)
            return None
        if script == "drip":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Padding: ")
            while not fake.release.wait(fake.tick):
                self.wfile.write(b"x")
                self.wfile.flush()
            return None
        reply = script(body) if callable(script) else fake.reply
        if script == "abstain":
            reply = ABSTAIN
        if script == "json" or not body.get("stream"):
            payload = json.dumps(_completion(reply)).encode()
            if script in ("trickle", "endless"):
                return self._trickle_json(fake, script, payload)
            return self._send(200, "application/json", payload)
        self._start_stream()
        if script == "garbage":
            self._chunk(b'data: {"choices": [{"delta": {"content": "Hel\n\n')
        elif script == "error_event":
            self._event({"error": {"message": "out of memory"}})
        elif script == "empty":
            self._chunk(b"data: [DONE]\n\n")
        elif script in ("trickle", "drip_body"):
            self._event({"choices": [{"index": 0, "delta": {"content": "The"}}]})
            fake.sent += 1
            if script == "drip_body":
                self._chunk(b'data: {"choices": [{"delta": {"content": "')
            while not fake.release.wait(fake.tick):
                self._chunk(b": keep-alive\n\n" if script == "trickle" else b"x")
        elif script == "endless":
            pieces = re.findall(r"\s*\S+", reply)
            while not fake.release.is_set():
                for piece in pieces:
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                    fake.sent += 1
                    if fake.delay:
                        fake.release.wait(fake.delay)
        else:
            pieces = re.findall(r"\s*\S+", reply)
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            for i, piece in enumerate(pieces):
                self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                fake.sent += 1
                if script == "slow" and i == 0:
                    fake.release.wait(10)
                    return None
                if fake.delay:
                    fake.release.wait(fake.delay)
            if script != "truncated":
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")  # the zero-length chunk that ends a chunked body
        return None

    def _trickle_json(self, fake: FakeLLM, script: str, payload: bytes) -> None:
        # "trickle": the promised body one byte per tick; "endless": a body with no length
        # that never stops (read until the connection closes, which it never does).
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if script == "trickle":
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(len(payload)) if script == "trickle" else iter(int, 1):
            if fake.release.wait(fake.tick if script == "trickle" else fake.delay):
                return
            self.wfile.write(payload[i : i + 1] if script == "trickle" else b" " * 1024)
            self.wfile.flush()

    def _send(self, status: int, ctype: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, obj: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "cmpl-test",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
    }
