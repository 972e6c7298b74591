"""Embedding on Ray (``index --ray``): a local 2-CPU Ray cluster, the real model, a small archive.

The cluster starts once for the module. What must hold: the result equals a local run; a worker
killed mid-run has its calls retried and every article arrives; a driver killed with -9 leaves a
readable index that the next run completes without re-embedding what was committed; without Ray
or with an unreachable address, ``--ray`` is one line naming the fix.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from askarchive import Archive
from askarchive.cli.main import main
from tests.helpers import assert_consistent, make_archive

ROOT = Path(__file__).resolve().parent.parent
N_ARTICLES = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- without a cluster --------------------------------------------------------------------------
def test_missing_ray_is_one_line_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    make_archive(tmp_path / "arch", n=2)
    code = main(["index", str(tmp_path / "arch"), "--index", str(tmp_path / "idx"), "--ray"])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "pip install 'askarchive[ray]'" in line


def test_unreachable_address_is_one_line_and_quick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'askarchive[ray]'")
    make_archive(tmp_path / "arch", n=2)
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    code = main(
        ["index", str(tmp_path / "arch"), "--index", str(tmp_path / "idx"), "--ray", address]
    )
    assert time.monotonic() - started < 15
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot reach a Ray cluster at {address}" in line


def test_addresses_are_read_as_documented() -> None:
    from askarchive.index.ray_address import RayUnavailable, _host_port, normalise

    assert normalise(None) is None and normalise(False) is None
    assert normalise(True) == "" and normalise("local") == "" and normalise(" ") == ""
    assert normalise("head:6379") == "head:6379"
    assert _host_port("head") == ("head", 6379)
    assert _host_port("10.0.0.5:7000") == ("10.0.0.5", 7000)
    assert _host_port("ray://head") == ("head", 10001)
    assert _host_port("[::1]:6380") == ("::1", 6380)
    assert _host_port("auto") is None
    with pytest.raises(RayUnavailable, match="not a number"):
        _host_port("head:port")


# -- on a local cluster, with the real model ----------------------------------------------------
@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    ray = pytest.importorskip(
        "ray", reason="Ray is an optional extra: pip install 'askarchive[ray]'"
    )
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def pool(cluster, real_embedder):  # type: ignore[no-untyped-def]
    from askarchive.index.ray_embed import RayEmbedder

    with RayEmbedder(real_embedder, cluster) as p:
        yield p


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "arch"
    make_archive(folder, n=N_ARTICLES, sentences=14)
    return folder


@pytest.fixture(scope="module")
def local_vectors(archive_dir: Path, real_embedder, tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    index = tmp_path_factory.mktemp("local") / "idx"
    with Archive.open(index, embedder=real_embedder) as archive:
        archive.index([archive_dir])
        return _vectors(archive)


def _vectors(archive: Archive) -> dict[tuple[str, int, int, str], np.ndarray]:
    """Each chunk, keyed by where it sits and what it says, with its stored vector."""
    store = archive._store
    ids, vecs = store.all_vectors(archive.embedder.dim)
    hits = store.hits([int(i) for i in ids])
    return {
        (h.article_id, h.start, h.end, h.text): vecs[row]
        for row, h in enumerate(hits[int(i)] for i in ids)
    }


def _assert_same_as_local(archive: Archive, local: dict) -> None:
    got = _vectors(archive)
    assert got.keys() == local.keys()  # the same chunks, at the same spans
    worst = max(float(np.abs(got[k] - local[k]).max()) for k in local)
    assert worst < 1e-4, worst


@pytest.mark.model
def test_driver_killed_9_resumes_from_the_last_commit(
    tmp_path: Path, cluster: str, archive_dir: Path, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    # First of the model tests: the driver's own pool needs the cluster's CPUs, which the
    # module's pool holds once it starts. Ray stops a dead driver's workers.
    index = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ray_crash_worker", str(index), str(archive_dir), cluster],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        phase, done, total = line.split()
        if phase == "embed" and int(done) >= 0.4 * int(total):
            proc.kill()
            break
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)

    with Archive.open(index, embedder=real_embedder) as archive:
        assert_consistent(archive._store)
        committed = archive.stats().articles
        assert 0 < committed < N_ARTICLES, "the kill should land mid-run"
        report = archive.index([archive_dir])  # resuming needs no Ray
        assert (report.unchanged, report.added) == (committed, N_ARTICLES - committed)
        assert archive.stats().articles == N_ARTICLES
        assert_consistent(archive._store)


@pytest.mark.model
def test_pool_workers_load_the_model_offline(pool) -> None:  # type: ignore[no-untyped-def]
    assert pool.workers == 2
    for info in pool.workers_info:
        assert info["name"] == "all-MiniLM-L6-v2" and info["offline"] == "1"
    assert len({info["pid"] for info in pool.workers_info}) == 2


@pytest.mark.model
def test_ray_index_equals_a_local_run(
    tmp_path: Path, pool, archive_dir: Path, local_vectors: dict, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    # (Starting a pool from an address inside index() is what the driver test's child does.)
    with Archive.open(tmp_path / "idx", embedder=real_embedder) as archive:
        report = archive.index([archive_dir], ray=pool)
        assert report.added == N_ARTICLES
        assert_consistent(archive._store)
        _assert_same_as_local(archive, local_vectors)
        again = archive.index([archive_dir], ray=pool)
        assert (again.added, again.unchanged) == (0, N_ARTICLES)


@pytest.mark.model
def test_killed_worker_is_restarted_and_its_calls_retried(
    tmp_path: Path, pool, archive_dir: Path, local_vectors: dict, real_embedder, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import askarchive.index.indexer as indexer

    monkeypatch.setattr(indexer, "COMMIT_CHUNKS", 12)  # several batches, so the run goes on
    victim = pool.workers_info[0]["pid"]
    killed = threading.Event()

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase == "embed" and p.chunks_done and not killed.is_set():
            killed.set()
            # Shortly after: while the next batch is on the workers.
            threading.Timer(0.2, os.kill, (victim, signal.SIGKILL)).start()

    with Archive.open(tmp_path / "idx", embedder=real_embedder) as archive:
        report = archive.index([archive_dir], ray=pool, progress=progress)
        assert killed.is_set()
        assert report.added == N_ARTICLES and archive.stats().articles == N_ARTICLES
        assert_consistent(archive._store)
        _assert_same_as_local(archive, local_vectors)
    import ray

    pids = {ray.get(a.info.remote())["pid"] for a in pool._actors}
    assert victim not in pids and len(pids) == 2, "the killed worker should have been replaced"
