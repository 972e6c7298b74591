"""Runs one real ``index --ray`` process for test_ray.py, printing progress so the test can kill
it with -9 mid-run. Usage: python -m tests.ray_crash_worker INDEX ARCHIVE RAY_ADDRESS."""

from __future__ import annotations

import sys

import askarchive.index.indexer as indexer
from askarchive import Archive

# Small commits so the kill lands between several of them.
indexer.COMMIT_CHUNKS = 12


def main() -> None:
    index, archive_dir, address = sys.argv[1:4]

    def progress(p: indexer.Progress) -> None:
        print(f"{p.phase} {p.chunks_done} {p.chunks_total}", flush=True)

    # fp32: its vectors do not depend on how texts are batched (int8's scales do).
    with Archive.open(index, encoder="fp32") as archive:
        report = archive.index([archive_dir], progress=progress, ray=address)
    print(f"result {report.added} {report.interrupted}", flush=True)


if __name__ == "__main__":
    main()
