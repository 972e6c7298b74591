"""Nothing leaves the machine: ``search``, ``ask`` and a chat session run under strace.

Each command runs in its own process under ``strace -f`` (every thread and child), tracing the
calls that reach the network. Any DNS traffic (port 53, systemd-resolved) or any connection or
datagram to an address that is not loopback fails the test; the configured LLM endpoint, the
fake server on 127.0.0.1, is the one allowed peer. The chat runs with the real model and opens
the ONNX query encoder, the source of the telemetry lookups this guards against (onnxruntime's
1DS client looked up mobile.events.data.microsoft.com about nine seconds after starting), so the
session is kept open for a while after the encoder opened. The processes get an empty cache and
config folder, and onnxruntime's telemetry store (``Microsoft/DeveloperTools`` in the cache
folder) must not appear in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.llm_server import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "archive"
QUESTION = "Why did Jordan's water minister resign?"
# Seconds the chat stays open after the ONNX encoder opened; onnxruntime's telemetry used to
# make its first lookup about nine seconds after the runtime started.
LINGER = 12.0
TRACED = "connect,sendto,sendmsg,sendmmsg"
RESOLVER_SOCKETS = ("io.systemd.Resolve", "/run/systemd/resolve/")
# Switches askarchive must set itself: the processes start without them.
SWITCHES = (
    "ORT_DISABLE_TELEMETRY",
    "HF_HUB_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)

CHAT = r"""
import asyncio
import sys
import time
from pathlib import Path

import askarchive.tui.app as app_module
from askarchive.tui.app import AskArchiveApp
from askarchive.tui.backend import ChatBackend
from askarchive.tui.widgets.answer import TurnView


class Chat(AskArchiveApp):
    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))


async def main(index, llm_url, question, linger):
    app = Chat(ChatBackend.for_paths(index, None, llm=llm_url))
    limit = time.monotonic() + 120
    async with app.run_test(size=(120, 40)) as pilot:
        backend = app.backend
        # The chat warms the model up, then switches questions to the ONNX encoder.
        while time.monotonic() < limit:
            await pilot.pause(0.1)
            if backend.is_open and backend.archive().embedder.query_backend != "torch":
                break
        opened = time.monotonic()
        print("ENCODER", backend.archive().embedder.query_backend, flush=True)
        app.screen.query_one("#question").value = question
        await pilot.press("enter")
        view = None
        while time.monotonic() < limit:
            await pilot.pause(0.1)
            views = list(app.screen.query(TurnView))
            if views and views[-1].state != "pending":
                view = views[-1]
                break
        state = f"{view.state} {view.answer.mode}" if view else "none"
        print("ANSWER", state, flush=True)
        while time.monotonic() < opened + linger:
            await pilot.pause(0.2)


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
"""


def network_problems(trace: str) -> list[str]:
    """Lines of an ``strace -e trace=connect,sendto,...`` log that reach beyond this machine."""
    found = []
    for line in trace.splitlines():
        v4 = re.findall(r'inet_addr\("([^"]+)"\)', line)
        v6 = re.findall(r'inet_pton\(AF_INET6, "([^"]+)"', line)
        reasons = []
        if re.search(r"sin6?_port=htons\(53\)", line):
            reasons.append("DNS")
        if any(not a.startswith("127.") for a in v4):
            reasons.append("non-loopback IPv4")
        if any(a != "::1" and not a.startswith("::ffff:127.") for a in v6):
            reasons.append("non-loopback IPv6")
        if "AF_UNIX" in line and any(s in line for s in RESOLVER_SOCKETS):
            reasons.append("DNS via systemd-resolved")
        if reasons:
            found.append(f"{'/'.join(reasons)}: {line.strip()[:200]}")
    return found


def test_network_problems_flags_what_onnxruntime_telemetry_did() -> None:
    # Lines as strace printed them for the chat before telemetry was switched off.
    seen = (
        '17737 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.2.0.53")}'
        ", 16) = 0\n"
        '17737 sendto(8, "9\\200\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\6mobile\\6events\\4data"..., '
        "50, MSG_NOSIGNAL, NULL, 0) = 50\n"
        "17801 connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2603:1030::12", &sin6_addr), sin6_scope_id=0}, 28) = -1\n'
        '17802 connect(3, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}'
        ", 110) = 0\n"
    )
    problems = network_problems(seen)
    assert [p.split(":")[0] for p in problems] == [
        "DNS/non-loopback IPv4",
        "non-loopback IPv6",
        "DNS via systemd-resolved",
    ]
    allowed = (
        '1 connect(5, {sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr("127.0.0.1")}'
        ", 16) = 0\n"
        '2 connect(4, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT\n'
        "3 connect(6, {sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0\n'
    )
    assert network_problems(allowed) == []


def test_importing_askarchive_switches_telemetry_off() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    code = f"import os, askarchive.archive; print([os.environ.get(k) for k in {SWITCHES!r}])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == str(["1"] * len(SWITCHES))


def test_export_child_gets_the_switches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from askarchive.embed import variants

    seen = {}

    def fake_run(args, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw["env"])
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(variants.subprocess, "run", fake_run)
    variants._child("export", "model", str(tmp_path / "out.onnx"))
    assert all(seen.get(k) == "1" for k in SWITCHES)


def strace_command() -> list[str] | str:
    """The strace command line to trace with, or why strace cannot be used here."""
    if shutil.which("strace") is None:
        return "strace is not installed (.ci/run installs it; apt-get install strace)"
    why = ""
    # With --seccomp-bpf only the traced calls stop the process, so tracing costs little.
    for extra in (["--seccomp-bpf"], []):
        cmd = ["strace", *extra, "-f", "-qq", "-e", f"trace={TRACED}"]
        probe = subprocess.run(
            [*cmd, "-o", os.devnull, "true"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and not probe.stderr.strip():
            return cmd
        why = probe.stderr.strip()[:200]
    return f"strace cannot trace here: {why}"


@pytest.fixture(scope="module")
def traced_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    from askarchive import Archive

    index = tmp_path_factory.mktemp("offline") / "idx"
    with Archive.open(index, embedder=real_embedder) as archive:
        assert archive.index([SAMPLE]).added == 40
    # The ONNX export is made once per test session (tests/conftest.py keeps it private); made
    # here, so the traced chat opens it as every later chat on a machine does.
    assert real_embedder.prepare_queries() == "onnxruntime"
    return index


@pytest.mark.model
def test_search_ask_and_chat_make_no_network_traffic(traced_index: Path, tmp_path: Path) -> None:
    strace = strace_command()
    if isinstance(strace, str):
        pytest.skip(strace)
    server = FakeLLM().start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
        env = {k: v for k, v in env.items() if not k.startswith("ASKARCHIVE_LLM_")}
        env.update(
            XDG_CACHE_HOME=str(tmp_path / "cache"),  # where onnxruntime kept its telemetry
            XDG_CONFIG_HOME=str(tmp_path / "config"),  # no user config file names an LLM
            ASKARCHIVE_DATA_DIR=str(tmp_path / "data"),
            ASKARCHIVE_INDEX=str(traced_index),
        )
        script = Path(sys.executable).with_name("askarchive")
        cli = [str(script)] if script.exists() else [sys.executable, "-m", "askarchive.cli.main"]
        chat = tmp_path / "chat_child.py"
        chat.write_text(CHAT, encoding="utf-8")
        runs = {
            "search": cli + ["search", "desalination deal", "-k", "3"],
            "ask": cli + ["ask", QUESTION, "--llm", server.url],
            "chat": [
                sys.executable,
                str(chat),
                str(traced_index),
                server.url,
                QUESTION,
                str(LINGER),
            ],
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}

        def start(name: str) -> None:
            with (tmp_path / f"{name}.out").open("wb") as out:
                procs[name] = subprocess.Popen(
                    [*strace, "-o", str(tmp_path / f"{name}.strace"), *runs[name]],
                    env=env,
                    cwd=tmp_path,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )

        # The chat first; search and ask run while it waits with the encoder open, so the three
        # do not fight over the CPU while loading the model.
        start("chat")
        limit = time.monotonic() + 150
        while time.monotonic() < limit and procs["chat"].poll() is None:
            if b"ENCODER" in (tmp_path / "chat.out").read_bytes():
                break
            time.sleep(0.2)
        start("search")
        start("ask")
        outputs = {}
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(limit - time.monotonic(), 0) + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            text = (tmp_path / f"{name}.out").read_text(encoding="utf-8", errors="replace")
            outputs[name] = (proc.returncode, text)
    finally:
        server.stop()

    for name, (code, text) in outputs.items():
        assert code == 0, f"{name} exited {code}: {text[-2000:]}"
    assert "desalination" in outputs["search"][1].lower()
    assert "[1]" in outputs["ask"][1]
    chat_out = outputs["chat"][1]
    assert "ENCODER onnxruntime" in chat_out, chat_out[-2000:]
    assert "ANSWER done llm" in chat_out, chat_out[-2000:]
    assert len(server.requests) == 2  # the LLM endpoint was used, by `ask` and by the chat

    problems = {}
    for name in runs:
        trace = (tmp_path / f"{name}.strace").read_text(encoding="utf-8", errors="replace")
        problems[name] = network_problems(trace)
        if name != "search":  # the check sees connections: the one to the endpoint is there
            assert f"htons({server.port})" in trace, f"{name}: no connect to the LLM in the trace"
    assert problems == {name: [] for name in runs}
    leftovers = [str(p) for p in (tmp_path / "cache").rglob("*") if "Microsoft" in str(p)]
    assert leftovers == [], "onnxruntime telemetry started (its store was created)"
