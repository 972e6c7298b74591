"""Ray scaling figures for BENCHMARKS.md "Ray (issue 15)".

Embedding throughput of the same chunk texts (real Reuters articles, chunked as the indexer
does, sorted by length as the indexer sorts each batch, fed in its 512-chunk commit batches)
three ways on this machine: in process (the bulk runtime on every core), and on a local Ray with
1 and with 2 workers (one CPU each, pinned). Then the single writer's rate: a whole
``Archive.index`` run whose embedder returns stand-in vectors at once, i.e. everything the one
local writer does (scan, parse, chunk, decide, SQLite, FAISS) at zero embedding cost. That rate
is the ceiling of any cluster.

    python benchmarks/ray_scaling.py [DATA] [--encoder int8] [--texts 512] [--articles 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from benchcommon import default_data, log, machine_line, require

DEFAULT_DATA = default_data("reuters21578", "articles.jsonl")


def chunk_texts(folder: Path, embedder) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(tokens, embedding text) of every chunk of the articles in ``folder``."""
    from askarchive.index.chunking import ChunkSettings, chunk_article
    from askarchive.ingest import discover, parse_file

    files, _ = discover([folder])
    out = []
    for f in files:
        for article in parse_file(f).articles:
            chunks, texts = chunk_article(article, embedder, ChunkSettings())
            out += [(c.tokens, t) for c, t in zip(chunks, texts, strict=True)]
    return out


class StandIn:
    """The real tokenizer, with a fixed unit vector per text instead of the model's."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.name, self.dim, self.max_tokens = real.name, real.dim, real.max_tokens
        self.encoder = getattr(real, "encoder", None)
        rng = np.random.default_rng(0)
        table = rng.standard_normal((1024, self.dim)).astype(np.float32)
        self.table = table / np.linalg.norm(table, axis=1, keepdims=True)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.real.count_tokens(texts)

    def tokens(self, text: str):  # type: ignore[no-untyped-def]
        return self.real.tokens(text)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.table[[hash(t) % len(self.table) for t in texts]]


def timed(encode, texts: list[str], repeats: int = 2) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Best chunks/s over ``repeats`` runs, in the indexer's 512-chunk commit batches."""
    best, vecs = 0.0, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        parts = [encode(texts[i : i + 512]) for i in range(0, len(texts), 512)]
        took = time.perf_counter() - t0
        best, vecs = max(best, len(texts) / took), np.concatenate(parts)
    assert vecs is not None
    return best, vecs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=DEFAULT_DATA)
    ap.add_argument("--encoder", default="int8", help="encoder variant (the index default)")
    ap.add_argument("--texts", type=int, default=512, help="chunk texts for the embedding runs")
    ap.add_argument("--articles", type=int, default=2000, help="articles for the writer's rate")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--writer-only", action="store_true", help="skip the embedding runs")
    args = ap.parse_args()

    from askarchive import Archive
    from askarchive.embed.embedding import SentenceTransformerEmbedder

    print(machine_line())
    data = require(args.data, "Reuters-21578 as JSON Lines")
    lines = [ln for ln in data.read_text(encoding="utf-8").splitlines() if ln.strip()]
    work = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    try:
        arch = work / "arch"
        arch.mkdir()
        (arch / "reuters.jsonl").write_text("\n".join(lines[: args.articles]) + "\n", "utf-8")
        real = SentenceTransformerEmbedder(encoder=args.encoder, device="cpu")
        chunks = chunk_texts(arch, real)
        texts = [t for _, t in sorted(chunks[: args.texts], key=lambda c: c[0])]
        log(f"{len(chunks)} chunks in {args.articles} articles; embedding {len(texts)}")
        results: dict[str, float] = {}

        diffs: dict[str, float] = {}
        if not args.writer_only:
            embedding_runs(real, texts, args.repeats, results, diffs)

        # Stand-in vectors: the run is scan + parse + chunk (before the first "embed" progress),
        # then the commit loop (SQLite and FAISS per batch), which is what runs beside Ray.
        marks: dict[str, float] = {}

        def progress(p) -> None:  # type: ignore[no-untyped-def]
            marks.setdefault(p.phase, time.perf_counter())

        with Archive.open(work / "idx", embedder=StandIn(real)) as archive:
            t0 = time.perf_counter()
            report = archive.index([arch], progress=progress)
            took = time.perf_counter() - t0
        prepare = marks["embed"] - t0
        commit = marks.get("save", t0 + took) - marks["embed"]
        results["writer, whole run (stand-in vectors)"] = report.chunks / took
        results["writer, scan+parse+chunk only"] = report.chunks / prepare
        results["writer, commit loop only"] = report.chunks / commit
        log(
            f"writer: {report.chunks} chunks, {report.added} articles in {took:.2f} s "
            f"(parse+chunk {prepare:.2f} s, commits {commit:.2f} s)"
        )
        print(json.dumps({"texts": len(texts), "max_abs_diff_vs_local": diffs, **results}))
        for key, value in results.items():
            print(f"{key:38s} {value:10.1f} chunks/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def embedding_runs(real, texts: list[str], repeats: int, results: dict, diffs: dict) -> None:  # type: ignore[no-untyped-def]
    """Local, then a local Ray with 1 and 2 workers; fills ``results`` and ``diffs``."""
    import ray

    from askarchive.index.ray_embed import RayEmbedder

    real.encode(texts[:64])  # load and warm
    key = f"local, {real.bulk_backend()[1]} on {os.cpu_count()} cores"
    results[key], local = timed(real.encode, texts, repeats)
    log(f"{key}: {results[key]:.1f} chunks/s")

    started = time.perf_counter()
    ray.init(
        num_cpus=os.cpu_count() or 2,
        object_store_memory=128 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    log(f"Ray up in {time.perf_counter() - started:.1f} s")
    try:
        for workers in (1, 2):
            started = time.perf_counter()
            with RayEmbedder(real, "", workers=workers) as pool:
                up = time.perf_counter() - started
                pool.encode(texts[:64])  # warm
                key = f"Ray, {workers} worker(s) x 1 core"
                results[key], vecs = timed(pool.encode, texts, repeats)
                diffs[key] = float(np.abs(vecs - local).max())
                log(f"{key}: {results[key]:.1f} chunks/s (pool up in {up:.1f} s)")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
