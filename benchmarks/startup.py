"""Chat start-up: time from launching the process to a usable question box, and to a loaded model;
with ``--cli``, cold ``askarchive search`` and ``ask`` in fresh processes instead.

    python benchmarks/startup.py [INDEX] [--runs N]
    python benchmarks/startup.py --cli [--runs 10]

Each run starts a fresh Python process that opens the chat (headless, real backend, real
index) and reports when Textual has drawn the first frame with the question box focused, and
later when the embedding model has finished loading in its worker. Wall time is measured by
this parent from just before the process is spawned, so interpreter start-up counts too.
The index defaults to ``bench-out/startup-index`` built from examples/archive.

``--cli`` builds two indexes of examples/archive (``bench-out/startup-int8`` and
``bench-out/startup-fp32``, once) and runs, round-robin so that load changes hit every row alike:
``search`` and ``ask --no-llm`` on each, plus the same on the fp32 index with questions forced
through PyTorch (``fast_queries=False``: how every fresh process ran before the question path
dropped torch). Each run is a fresh interpreter calling the CLI's ``main`` under GNU time
(peak RSS); it reports whether torch or sentence-transformers got imported. The encoder files
must exist (the first build makes them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchcommon import BENCH_OUT, REPO, log, machine_line, percentile

CHILD = r"""
import sys
from pathlib import Path

import askarchive.tui.app as app_module
from askarchive.tui.app import AskArchiveApp
from askarchive.tui.backend import ChatBackend

class Timed(AskArchiveApp):
    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

    def on_ready(self) -> None:
        focused = type(self.focused).__name__
        heavy = [m for m in ("torch", "sentence_transformers", "faiss") if m in sys.modules]
        print(f"READY {focused} heavy={heavy}", flush=True)
        self.set_interval(0.05, self._poll)

    def _poll(self) -> None:
        if self.backend.is_open and getattr(self.backend.archive().embedder, "loaded", False):
            print("MODEL", flush=True)
            self.exit()

Timed(ChatBackend.for_paths(sys.argv[1], None)).run(headless=True, size=(120, 40))
"""


def one_run(index: Path, data_dir: str) -> tuple[float, float, str]:
    env = {**os.environ, "ASKARCHIVE_DATA_DIR": data_dir}
    # Textual reads the app class's source file, so the child must be a real file.
    child = Path(data_dir) / "startup_child.py"
    child.write_text(CHILD, encoding="utf-8")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(child), str(index)], stdout=subprocess.PIPE, text=True, env=env
    )
    ready = model = float("nan")
    detail = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            ready = time.perf_counter() - t0
            detail = line.strip()
        elif line.startswith("MODEL"):
            model = time.perf_counter() - t0
    proc.wait(timeout=120)
    return ready, model, detail


CLI_CHILD = r"""
import sys
if sys.argv[1] == "torch":
    import askarchive.archive as a
    from askarchive.embed.embedding import SentenceTransformerEmbedder as S
    a.SentenceTransformerEmbedder = lambda *args, **kw: S(*args, fast_queries=False, **kw)
from askarchive.cli.main import main
code = main(sys.argv[2:])
heavy = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
print("CHILD", code, ",".join(heavy) or "-", file=sys.stderr)
"""


def cli_run(questions: str, argv: list[str]) -> tuple[float, float, str]:
    """One fresh process running ``askarchive ARGV``: (seconds, peak RSS MiB, heavy modules)."""
    gnu_time = shutil.which("time")
    cmd = [sys.executable, "-c", CLI_CHILD, questions, *argv]
    if gnu_time:
        cmd = [gnu_time, "-f", "RSS %M", *cmd]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    code, rss, heavy = child_report(done.stderr)
    if code not in ("0", "?"):
        sys.exit(f"askarchive {' '.join(argv)} exited {code}: {done.stderr[-500:]}")
    return took, rss, heavy


def child_report(stderr: str) -> tuple[str, float, str]:
    """(exit code, peak RSS MiB, heavy modules) from the lines GNU time and a child print."""
    code, rss, heavy = "?", float("nan"), "?"
    for line in stderr.splitlines():
        if line.startswith("RSS "):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("CHILD "):
            _, code, heavy = line.split()
    return code, rss, heavy


def cli_rows(rows: dict[str, tuple[str, list[str]]], runs: int) -> dict[str, list[tuple]]:
    """Run every row ``runs`` times, round-robin; print p50/p95 seconds and peak RSS per row."""
    seen: dict[str, list[tuple]] = {name: [] for name in rows}
    for i in range(runs):
        for name, (questions, argv) in rows.items():
            seen[name].append(cli_run(questions, argv))
        log(f"round {i + 1}/{runs}: " + ", ".join(f"{n} {v[-1][0]:.2f} s" for n, v in seen.items()))
    for name, got in seen.items():
        secs = [g[0] for g in got]
        heavy = sorted({g[2] for g in got})
        print(
            f"{name:34s} p50 {percentile(secs, 50):5.2f} s  p95 {percentile(secs, 95):5.2f} s  "
            f"peak RSS {max(g[1] for g in got):5.0f} MiB  torch/st imported: {','.join(heavy)}"
        )
    return seen


def cold_cli(runs: int) -> None:
    from askarchive import Archive

    indexes = {}
    for encoder in ("int8", "fp32"):
        index = BENCH_OUT / f"startup-{encoder}"
        indexes[encoder] = str(index)
        if not (index / "CURRENT").exists():
            log(f"building {index} from examples/archive ({encoder})")
            with Archive.open(index, encoder=encoder) as archive:
                archive.index([REPO / "examples" / "archive"])
                archive.warm_up()
    query = "Aqaba desalination deal"
    question = "Why did Jordan's water minister resign?"
    rows: dict[str, tuple[str, list[str]]] = {}
    for encoder, index in indexes.items():
        rows[f"search, {encoder} index"] = ("onnx", ["search", query, "--index", index])
        rows[f"ask --no-llm, {encoder} index"] = (
            "onnx",
            ["ask", question, "--no-llm", "--index", index],
        )
    fp32 = indexes["fp32"]
    rows["search, fp32, PyTorch questions"] = ("torch", ["search", query, "--index", fp32])
    rows["ask, fp32, PyTorch questions"] = ("torch", ["ask", question, "--no-llm", "--index", fp32])
    print(f"\n## Cold CLI on examples/archive ({runs} fresh processes per row, round-robin)")
    cli_rows(rows, runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("index", nargs="?", default=str(BENCH_OUT / "startup-index"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cli", action="store_true", help="cold search/ask instead of the chat")
    args = ap.parse_args()
    print(machine_line())
    if args.cli:
        cold_cli(args.runs)
        return
    index = Path(args.index)
    if not index.exists():
        from askarchive import Archive

        log(f"building {index} from examples/archive")
        with Archive.open(index) as archive:
            archive.index([REPO / "examples" / "archive"])
    readies, models = [], []
    with tempfile.TemporaryDirectory() as data_dir:
        for i in range(args.runs):
            ready, model, detail = one_run(index, data_dir)
            readies.append(ready)
            models.append(model)
            log(f"run {i + 1}: input usable {ready:.2f} s, model loaded {model:.2f} s ({detail})")
    print(f"\n## Chat start-up ({args.runs} runs, fresh process each)")
    p50 = percentile(readies, 50)
    print(f"launch to usable question box: p50 {p50:.2f} s, max {max(readies):.2f} s")
    print(f"launch to model loaded (background worker): p50 {percentile(models, 50):.2f} s")
    print(f"first frame: {detail}")


if __name__ == "__main__":
    main()
