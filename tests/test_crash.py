"""Kill a real indexing process at several points; the store must stay consistent and the
next run must finish the job without redoing committed work."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from askarchive import Archive
from tests.fakes import HashEmbedder
from tests.helpers import assert_consistent, make_archive

ROOT = Path(__file__).resolve().parent.parent
N_ARTICLES = 30


def _run_until(index: Path, archive: Path, stop_at: float | str, sig: int) -> str:
    """Start the worker; send ``sig`` once its progress passes ``stop_at``; return its output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", str(index), str(archive)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        phase, *rest = line.split()
        if phase == stop_at or (
            phase == "embed"
            and isinstance(stop_at, float)
            and int(rest[0]) >= stop_at * int(rest[1])
        ):
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=60)
    return "".join(seen) + out + err


@pytest.mark.parametrize("stop_at", [0.0, 0.3, 0.7, "save"])
def test_kill_9_at_several_points(tmp_path: Path, stop_at: float | str) -> None:
    make_archive(tmp_path / "arch", n=N_ARTICLES, sentences=14)
    index = tmp_path / "idx"
    _run_until(index, tmp_path / "arch", stop_at, signal.SIGKILL)

    emb = HashEmbedder()
    with Archive.open(index, embedder=emb) as archive:
        assert_consistent(archive._store)
        committed = archive.stats().articles
        committed_chunks = archive.stats().chunks
        report = archive.index([tmp_path / "arch"])
        assert_consistent(archive._store)
        # Committed articles are never embedded again.
        assert report.unchanged == committed
        assert report.added == N_ARTICLES - committed
        total = archive.stats().chunks
        assert emb.encoded == total - committed_chunks
        assert archive.stats().articles == N_ARTICLES
    if stop_at == 0.3:
        assert 0 < committed < N_ARTICLES, "the kill should land mid-run"


def test_ctrl_c_stops_after_the_batch_and_keeps_it(tmp_path: Path) -> None:
    make_archive(tmp_path / "arch", n=N_ARTICLES, sentences=14)
    index = tmp_path / "idx"
    out = _run_until(index, tmp_path / "arch", 0.4, signal.SIGINT)
    assert "interrupted=True" in out, out
    assert "Traceback" not in out
    with Archive.open(index, embedder=HashEmbedder()) as archive:
        assert_consistent(archive._store)
        kept = archive.stats().articles
        assert 0 < kept < N_ARTICLES
        report = archive.index([tmp_path / "arch"])
        assert report.unchanged == kept and report.added == N_ARTICLES - kept
