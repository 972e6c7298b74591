"""Bulk embedding by encoder variant, side by side on the same chunks: PyTorch fp32 (how indexing
ran before variants), ONNX Runtime fp32 and ONNX Runtime int8.

    python benchmarks/encoders.py [DATA] [--chunks 3000] [--batch 32] [--tune 16,32,64]

The chunks are cut by the pipeline's own parser and chunker from the first Reuters-21578
articles, whole articles only, until ``--chunks``. Each backend embeds exactly those texts with
the batch size given, in the order torch, ONNX fp32, int8, then int8, ONNX fp32, torch; a
backend's rate is the mean of its two runs, so a load change during the run weighs on all three
alike. ONNX Runtime runs as indexing does: a ``TextPool`` (one single-threaded session per core,
each text alone); PyTorch is sentence-transformers' ``encode`` (length-sorted batches).
Vectors are compared with PyTorch's (cosine, min and mean). ``--tune`` times both variants
again in one session on every core, in padded batches of each listed size (how indexing ran
before), and prints how far those vectors are from the same texts run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from benchcommon import default_data, log, machine_line, peak_rss_mb, require


def load_chunks(data: Path, limit: int) -> tuple[int, list[str]]:
    """(articles, chunk texts) of the first Reuters articles that fit in ``limit`` chunks."""
    import tempfile

    from askarchive.embed.embedding import SentenceTransformerEmbedder
    from askarchive.index.chunking import ChunkSettings, chunk_article
    from askarchive.ingest import parse_file

    tokens = SentenceTransformerEmbedder()  # only its tokenizer is used: no torch here
    with open(data, encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    with tempfile.TemporaryDirectory(prefix="askarchive-bench-") as tmp:
        src = Path(tmp) / "reuters.jsonl"
        # Enough articles for ``limit`` chunks (Reuters averages under 2 chunks an article).
        src.write_text("".join(lines[: limit + 50]), encoding="utf-8")
        parsed = parse_file(src)
    texts: list[str] = []
    articles = 0
    for article in parsed.articles:
        cut = chunk_article(article, tokens, ChunkSettings())[1]
        if len(texts) + len(cut) > limit:
            break
        texts += cut
        articles += 1
    return articles, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=default_data("reuters21578", "articles.jsonl"))
    parser.add_argument("--chunks", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tune", default="", help="padded batch sizes to time again, e.g. 16,64")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data = require(args.data, "Reuters-21578 articles.jsonl")

    from askarchive.embed import variants
    from askarchive.embed.embedding import SentenceTransformerEmbedder, resolve_model_path
    from askarchive.embed.ortencoder import Featurizer, cores, open_checked, open_pool

    print(machine_line())
    articles, texts = load_chunks(data, args.chunks)
    n = len(texts)
    log(f"{articles} articles, {n} chunks; making or opening the encoder files")
    name, path = resolve_model_path(None)
    featurizer = Featurizer(path)
    onnx = {
        enc: open_pool(variants.ensure(enc, name, path), featurizer) for enc in variants.ENCODERS
    }
    model = SentenceTransformerEmbedder().load()

    def torch_run(batch: int, part: list[str] = texts) -> np.ndarray:
        return model.encode(part, batch_size=batch, normalize_embeddings=True)

    runs = {
        "torch fp32": torch_run,
        "onnx fp32": lambda b, part=texts: onnx["fp32"].encode(part, b),
        "onnx int8": lambda b, part=texts: onnx["int8"].encode(part, b),
    }
    for run in runs.values():  # warm-up: first calls allocate and pick kernels
        run(args.batch, texts[:64])
    took: dict[str, list[float]] = {k: [] for k in runs}
    vecs: dict[str, np.ndarray] = {}
    for name_ in [*runs, *reversed(runs)]:
        log(f"{name_} ({len(took[name_]) + 1} of 2)")
        t = time.perf_counter()
        vecs[name_] = runs[name_](args.batch)
        took[name_].append(time.perf_counter() - t)

    print(
        f"{articles} articles, {n} chunks (Reuters-21578), batch {args.batch}, "
        f"onnxruntime threads {cores()}, torch threads {_torch_threads()}"
    )
    base = sum(took["torch fp32"]) / 2
    ref = vecs["torch fp32"]
    result = {}
    for key, times in took.items():
        mean = sum(times) / 2
        cos = (vecs[key] * ref).sum(axis=1)
        runs_s = ", ".join(f"{t:.1f}" for t in times)
        print(
            f"{key:11s} {n / mean:7.1f} chunks/s {articles / mean:6.1f} articles/s "
            f"x{base / mean:5.2f} of torch  (runs {runs_s} s)  "
            f"cosine to torch min {cos.min():.4f} mean {cos.mean():.5f}"
        )
        result[key] = {"chunks_per_s": n / mean, "speedup": base / mean, "cos_min": cos.min()}
    for enc in variants.ENCODERS:
        batched = open_checked(onnx[enc].path, featurizer, threads=cores())
        for batch in [int(b) for b in args.tune.split(",") if b]:
            t = time.perf_counter()
            got = batched.encode(texts, batch)
            dt = time.perf_counter() - t
            drift = float(np.abs(got - vecs[f"onnx {enc}"]).max())
            print(
                f"onnx {enc}, one session, padded batches of {batch:3d}: {n / dt:7.1f} chunks/s, "
                f"largest difference to the same texts alone {drift:.4f}"
            )
    print(f"peak RSS {peak_rss_mb():.0f} MiB")
    print(json.dumps({k: {m: round(float(x), 4) for m, x in v.items()} for k, v in result.items()}))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
