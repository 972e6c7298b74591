"""Every LLM request ends by its deadline, whatever the server does (tests/llm_server.py).

A server that trickles header bytes, sends one token and then keep-alives, drips a line that
never ends, or streams without end must not hold the caller past ``timeout`` seconds; the
answer then falls back to the extractive one with a one-line notice, in the CLI and the chat.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from askarchive import locations
from askarchive.answer.llm import client as llm_stream
from askarchive.answer.llm import config as llm
from askarchive.answer.llm.answer import llm_answer, rewrite_query, stream_chat
from askarchive.answer.llm.config import LLMConfig
from askarchive.archive import Archive
from askarchive.cli import main as cli
from askarchive.errors import LLMUnavailable
from tests.fakes import HashEmbedder
from tests.llm_server import FakeLLM
from tests.test_llm import GOOD, make_passages

DEADLINE = 1.0
# Room for a loaded machine past the deadline; without a deadline these calls would last until
# the server is stopped (minutes), or 10 s for "slow" and "slow_start".
SLACK = 3.0
STALLING = ["trickle", "endless", "drip", "drip_body", "slow", "slow_start"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (llm.ENV_URL, llm.ENV_MODEL, llm.ENV_KEY, llm.ENV_TIMEOUT):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(locations.CONFIG_DIR_ENV, str(tmp_path / "config"))


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    fake = FakeLLM().start()
    yield fake
    fake.stop()


def config_for(server: FakeLLM, timeout: float = DEADLINE) -> LLMConfig:
    return LLMConfig(url=server.url, model="test-model", timeout=timeout)


def workers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "askarchive-llm"]


def assert_workers_end() -> None:
    # The request thread must not outlive the call for long (it would keep reading).
    for _ in range(40):
        if not workers_alive():
            return
        time.sleep(0.05)
    raise AssertionError(f"request threads still running: {workers_alive()}")


@pytest.mark.parametrize("script", STALLING)
def test_streamed_answer_ends_at_the_deadline(server: FakeLLM, script: str) -> None:
    server.script, server.reply = script, GOOD
    tokens: list[str] = []
    began = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"within 1 s") as err:
        llm_answer("q", make_passages(), config_for(server), embed=None, on_token=tokens.append)
    elapsed = time.monotonic() - began
    assert DEADLINE - 0.05 <= elapsed < DEADLINE + SLACK, elapsed
    assert "\n" not in str(err.value)
    if script in ("trickle", "drip_body", "slow"):
        assert tokens[:1] == ["The"]  # streamed before the stall, then abandoned
        assert "not complete" in str(err.value)
    if script in ("trickle", "endless", "drip", "drip_body"):
        assert server.disconnected.wait(2.0), "the client did not hang up"
    assert_workers_end()


def test_endless_stream_is_cut_by_the_deadline_with_bounded_output(server: FakeLLM) -> None:
    server.script, server.delay = "endless", 0.001
    tokens: list[str] = []
    with pytest.raises(LLMUnavailable, match="not complete within 1 s"):
        stream = stream_chat(config_for(server), [])
        for delta in stream:
            tokens.append(delta)
    assert tokens and sum(map(len, tokens)) <= llm_stream.MAX_RESPONSE_BYTES


def test_endless_stream_is_cut_by_the_size_cap(server: FakeLLM, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(llm_stream, "MAX_RESPONSE_BYTES", 64 << 10)
    server.script = "endless"
    began = time.monotonic()
    with pytest.raises(LLMUnavailable, match="stopped reading"):
        llm_answer("q", make_passages(), config_for(server, timeout=30), embed=None)
    assert time.monotonic() - began < 10
    assert server.disconnected.wait(2.0)


@pytest.mark.parametrize("script", ["drip", "slow_start", "trickle", "endless"])
def test_non_streamed_request_ends_at_the_deadline(server: FakeLLM, script: str) -> None:
    server.script, server.delay = script, 0.002  # "endless": 0.5 MB/s, below the size cap
    began = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"within 1 s"):
        rewrite_query(config_for(server), "and then?", [])
    assert time.monotonic() - began < DEADLINE + SLACK
    assert_workers_end()


def test_a_quick_answer_is_untouched_by_the_deadline(server: FakeLLM) -> None:
    server.reply, server.delay = GOOD, 0.01  # about 0.3 s of streaming, inside the deadline
    answer = llm_answer("q", make_passages(), config_for(server, timeout=10), embed=None)
    assert answer.mode == "llm" and answer.notice is None
    assert_workers_end()


def test_cancel_still_wins_over_the_deadline(server: FakeLLM) -> None:
    server.script = "trickle"
    cancel = threading.Event()
    stream = stream_chat(config_for(server, timeout=10), [], cancel=cancel)
    assert next(stream) == "The"
    began = time.monotonic()
    threading.Timer(0.2, cancel.set).start()
    assert list(stream) == [] and stream.cancelled
    assert time.monotonic() - began < SLACK  # the cancel, not the 10 s deadline, ended it
    assert server.disconnected.wait(2.0)


# --- what the user sees: extractive answer plus a one-line notice ---------------------------

ARTICLES = [
    {
        "id": "1",
        "title": "Aqaba container terminal deal signed",
        "date": "2016-06-14",
        "body": "Jordan signed a deal on Tuesday for a new container terminal in Aqaba. "
        "The terminal will handle 1.5 million containers a year, the ports minister said.",
    },
    {
        "id": "2",
        "title": "Oil prices fall after OPEC meeting",
        "date": "2015-12-05",
        "body": "Brent crude fell four percent after the OPEC meeting in Vienna on Friday.",
    },
]
QUESTION = "How many containers will the Aqaba terminal handle?"


@pytest.fixture
def hash_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = tmp_path / "news.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in ARTICLES), encoding="utf-8")
    index = tmp_path / "idx"
    with Archive.open(index, embedder=HashEmbedder(dim=128)) as archive:
        archive.index([src])
    opened = Archive.open.__func__  # type: ignore[attr-defined]

    def open_with_hash(cls: Any, index: Any = None, **kw: Any) -> Archive:
        kw.pop("model", None)
        return opened(cls, index, embedder=HashEmbedder(dim=128), **kw)

    # The CLI opens the index with the real model; the hash embedder keeps this test fast.
    monkeypatch.setattr(Archive, "open", classmethod(open_with_hash))
    return index


@pytest.mark.parametrize("script", ["trickle", "endless"])
def test_cli_ask_shows_the_extractive_answer_at_the_deadline(
    hash_index: Path,
    server: FakeLLM,
    script: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.script = script
    monkeypatch.setenv(llm.ENV_TIMEOUT, "1")
    began = time.monotonic()
    code = cli.main(["ask", QUESTION, "--index", str(hash_index), "--llm", server.url])
    assert code == 0 and time.monotonic() - began < DEADLINE + SLACK + 1
    out, err = capsys.readouterr()
    assert "1.5 million containers" in out and "[1]" in out
    notices = [line for line in err.splitlines() if "LLM unavailable" in line]
    assert len(notices) == 1 and "within 1 s" in notices[0], err
    assert "showing an extractive answer" in notices[0]


def test_cli_ask_json_at_the_deadline(
    hash_index: Path,
    server: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.script = "drip"
    monkeypatch.setenv(llm.ENV_TIMEOUT, "1")
    code = cli.main(["ask", QUESTION, "--index", str(hash_index), "--llm", server.url, "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "extractive" and "no response" in data["notice"]
    assert "within 1 s" in data["notice"] and "\n" not in data["notice"]
    assert any("1.5 million" in s["text"] for s in data["sentences"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("script", ["trickle", "endless"])
async def test_chat_shows_the_extractive_answer_at_the_deadline(
    hash_index: Path, server: FakeLLM, script: str, tmp_path: Path
) -> None:
    from askarchive.tui.app import AskArchiveApp
    from askarchive.tui.backend import ChatBackend
    from askarchive.tui.widgets.answer import TurnView

    server.script, server.delay = script, 0.01
    config = config_for(server)
    backend = ChatBackend(lambda create: Archive.open(hash_index, create=create), (), config)
    app = AskArchiveApp(
        backend, sessions_path=tmp_path / "sessions.sqlite3", exports_dir=tmp_path / "exports"
    )
    async with app.run_test(size=(140, 40)) as pilot:
        app.screen.query_one("#question").value = QUESTION
        began = time.monotonic()
        await pilot.press("enter")
        view = list(app.screen.query(TurnView))[-1]
        while view.state == "pending" and time.monotonic() - began < 30:
            await pilot.pause(0.05)
        elapsed = time.monotonic() - began
        # Without the deadline the answer would never come (the server never ends); the bound
        # is loose because the whole app shares a possibly loaded CPU.
        assert view.state == "done" and elapsed < 20, (view.state, elapsed)
        assert app.screen.query_one("#status").get("activity") != "answering…"
        answer = view.answer
        assert answer is not None and answer.mode == "extractive"
        assert answer.notice is not None and "within 1 s" in answer.notice
        assert "1.5 million containers" in answer.text
        # The words streamed before the deadline are replaced by the extractive answer...
        assert "Jordan signed a deal on Tuesday" in view.body.source
        assert "archive says so" not in view.body.source
        # ...and the notice is on screen, on one line.
        notice = str(view.query_one(".notice").render())
        assert notice.startswith("LLM unavailable") and "\n" not in notice
