"""Peak memory of ``search``, ``ask`` and ``chat`` on a >= 100k-chunk index, each a fresh process.

    python benchmarks/memory.py [SOURCE_STORE] [--target 100000] [--runs 3]

The index is SYNTHETIC: SOURCE_STORE (default bench-out/newsqa/store, the 3,000 real Reuters and
Wikinews articles of benchmarks/newsqa.py, with their variant's vectors) is replicated by
``retrieval.replicate`` (copies keep their text; their vectors get small noise) into
bench-out/memory-100k until it holds ``--target`` chunks, once. Rows, round-robin: ``search``,
``ask --no-llm``, and the chat (headless Textual, real backend: it opens, warms up, answers one
question through ``Archive.ask`` and exits), all with the ONNX question encoder of the store's
variant; beside them, for an fp32 store, ``search`` with questions forced through PyTorch, the
memory the question path used to need.
Peak RSS comes from GNU time; each row says whether torch or sentence-transformers got imported.
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

from benchcommon import BENCH_OUT, log, machine_line, require
from startup import child_report, cli_rows

CHAT_CHILD = r"""
import sys
from pathlib import Path

import askarchive.tui.app as app_module
from askarchive.tui.app import AskArchiveApp
from askarchive.tui.backend import ChatBackend

class Timed(AskArchiveApp):
    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

    def on_ready(self) -> None:
        self.set_interval(0.1, self._poll)

    def _poll(self) -> None:
        if self.backend.is_open and getattr(self.backend.archive().embedder, "loaded", False):
            self.backend.archive().ask(sys.argv[2], llm=False)
            heavy = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
            print("CHILD 0", ",".join(heavy) or "-", file=sys.stderr, flush=True)
            self.exit()

Timed(ChatBackend.for_paths(sys.argv[1], None)).run(headless=True, size=(120, 40))
"""


def chat_run(index: str, question: str, data_dir: str) -> tuple[float, float, str]:
    child = Path(data_dir) / "memory_chat_child.py"  # Textual reads the app's source file
    child.write_text(CHAT_CHILD, encoding="utf-8")
    env = {**os.environ, "ASKARCHIVE_DATA_DIR": data_dir}
    cmd = [shutil.which("time") or "time", "-f", "RSS %M", sys.executable, str(child)]
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, index, question], capture_output=True, text=True, env=env, check=False
    )
    took = time.perf_counter() - t0
    _, rss, heavy = child_report(done.stderr)
    if heavy == "?":
        sys.exit(f"chat child failed: {done.stderr[-800:]}")
    return took, rss, heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", default=str(BENCH_OUT / "newsqa" / "store"))
    ap.add_argument("--target", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--store", default=str(BENCH_OUT / "memory-100k"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(machine_line())
    store = Path(args.store)
    if not (store / "CURRENT").exists():
        from retrieval import replicate

        replicate(
            require(args.source, "a store built by benchmarks/newsqa.py"),
            store,
            args.target,
            0.02,
            0,
        )
    from askarchive import Archive

    with Archive.open(store, create=False) as archive:
        stats = archive.stats()
        encoder = archive.embedder.encoder  # type: ignore[attr-defined]
        archive.warm_up()  # makes the question encoder file if this machine has none yet
    print(
        f"store {store}: {stats.articles} articles, {stats.chunks} chunks "
        f"(SYNTHETIC: replicated, see the docstring), {stats.bytes / 2**20:.0f} MiB, "
        f"{encoder} vectors"
    )
    query = "oil prices after the OPEC meeting"
    question = "Why did oil prices fall?"
    index = str(store)
    rows = {
        "search": ("onnx", ["search", query, "--index", index]),
        "ask --no-llm": ("onnx", ["ask", question, "--no-llm", "--index", index]),
    }
    if encoder == "fp32":  # int8 has no PyTorch form: its questions always run ONNX Runtime
        rows["search, PyTorch questions"] = ("torch", ["search", query, "--index", index])
    print(f"\n## Peak RSS, fresh processes ({args.runs} runs per row, round-robin)")
    cli_rows(rows, args.runs)
    chats = []
    with tempfile.TemporaryDirectory() as data_dir:
        for i in range(args.runs):
            chats.append(chat_run(index, question, data_dir))
            log(f"chat run {i + 1}: {chats[-1][0]:.1f} s, {chats[-1][1]:.0f} MiB")
    heavy = ",".join(sorted({c[2] for c in chats}))
    print(
        f"{'chat: open, warm up, one answer':34s} peak RSS {max(c[1] for c in chats):5.0f} MiB"
        f"  torch/st imported: {heavy}"
    )


if __name__ == "__main__":
    main()
