"""Runs one real indexing process for test_crash.py, printing progress so the test can kill it
at a chosen point. Usage: python -m tests.crash_worker INDEX ARCHIVE [--graceful]."""

from __future__ import annotations

import sys

import askarchive.index.indexer as indexer
from askarchive import Archive
from askarchive.cli.main import _Interrupts
from tests.fakes import SlowHashEmbedder

# Small commits so a kill lands between several of them.
indexer.COMMIT_CHUNKS = 16
indexer.MINI_BATCH = 4


def main() -> None:
    index, archive_dir = sys.argv[1], sys.argv[2]

    def progress(p: indexer.Progress) -> None:
        print(f"{p.phase} {p.chunks_done} {p.chunks_total}", flush=True)

    archive = Archive.open(index, embedder=SlowHashEmbedder(delay=0.02))
    with _Interrupts() as cancel:
        report = archive.index([archive_dir], progress=progress, cancel=cancel)
    print(f"result added={report.added} interrupted={report.interrupted}", flush=True)


if __name__ == "__main__":
    main()
