"""Helpers shared by the benchmark scripts: data paths, the machine line, timing, memory.

The scripts are run as ``python benchmarks/NAME.py``, so this module is importable by its bare name.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_BENCH = REPO.parent / "shared" / "bench"
BENCH_OUT = REPO / "bench-out"


def default_data(*parts: str) -> str:
    return str(SHARED_BENCH.joinpath(*parts))


def require(path: str | Path, what: str) -> Path:
    """The path, or exit with a message that says what is missing and how to point at it."""
    p = Path(path).expanduser()
    if not p.exists():
        sys.exit(
            f"benchmark data missing: {p} ({what}); pass its location as the data argument "
            "(see benchmarks/README.md)"
        )
    return p


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """Date, cores, CPU, load and library versions: printed at the top of every run."""
    import faiss
    import numpy

    try:
        import torch

        torch_v = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:  # the retrieval benchmark can run without torch installed
        torch_v = "absent"
    try:
        import onnxruntime

        ort_v = onnxruntime.__version__
    except ImportError:
        ort_v = "absent"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{dt.datetime.now().isoformat(timespec='seconds')} | nproc {os.cpu_count()} | "
        f"{cpu_model()} | load {load} | python {platform.python_version()} | torch {torch_v} | "
        f"onnxruntime {ort_v} | faiss {faiss.__version__} | numpy {numpy.__version__} | "
        f"sqlite {_sqlite_version()}"
    )


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size so far in MiB.

    For this process, Linux's VmHWM: the high-water mark of this program's own memory.
    ``ru_maxrss`` survives ``exec``, so a child started by a large benchmark process would
    report at least its parent's size at the fork (a 1M-chunk builder's 1.4 GiB was seen in
    every child). ``children`` is ``ru_maxrss`` of the largest waited-for child, in KiB.
    """
    if not children:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def log(msg: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
