"""Chat start-up: time from launching the process to a usable question box, and to a loaded model.

    python benchmarks/startup.py [INDEX] [--runs N]

Each run starts a fresh Python process that opens the chat (headless, real backend, real
index) and reports when Textual has drawn the first frame with the question box focused, and
later when the embedding model has finished loading in its worker. Wall time is measured by
this parent from just before the process is spawned, so interpreter start-up counts too.
The index defaults to ``bench-out/startup-index`` built from examples/archive.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("index", nargs="?", default=str(BENCH_OUT / "startup-index"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(machine_line())
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
