"""How hybrid fusion settings change quality on SQuAD-dev (an experiment; changes nothing).

Indexes the corpus once (kept in bench-out/squad-store, or --articles: bench-out/squad-articles),
takes for each query the dense and keyword candidate lists exactly as the retriever computes them,
and scores variants of the reciprocal-rank fusion: dense/keyword weights, RRF constant, candidate
depth. Variant ``w1.0/1.0 k60 n50`` is what ``Retriever.search`` does for k <= 5. Metrics as in
``askarchive eval``; answer@5 here reads the top five chunks without the per-article cap.

    python benchmarks/fusion.py [DATA] [--articles] [--limit 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchcommon import BENCH_OUT, default_data, log, machine_line, require

VARIANTS = [  # (dense weight, keyword weight, RRF constant, candidates per list)
    (1.0, 1.0, 60, 50),
    (1.0, 1.0, 60, 1000),
    (1.0, 1.0, 10, 50),
    (1.0, 1.5, 60, 50),
    (1.0, 2.0, 60, 50),
    (1.5, 1.0, 60, 50),
    (1.0, 1.5, 10, 50),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=default_data("squad-dev"))
    parser.add_argument("--articles", action="store_true")
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require(args.data, "a BEIR folder such as squad-dev")

    from askarchive.archive import Archive
    from askarchive.evaluate import (
        answer_found,
        dedupe,
        join_articles,
        load_beir,
        mrr_at,
        ndcg_at,
    )

    print(machine_line())
    data = load_beir(args.data)
    if args.articles:
        data = join_articles(data)
    store_dir = BENCH_OUT / ("squad-articles" if args.articles else "squad-store")
    archive = Archive.open(store_dir)
    if archive.stats().articles == 0:
        import json

        log(f"indexing {len(data.docs)} documents into {store_dir}")
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "corpus.jsonl"
            with open(src, "w", encoding="utf-8") as fh:
                for doc_id, doc in data.docs.items():
                    fh.write(json.dumps({"id": doc_id, **doc}, ensure_ascii=False) + "\n")
            archive.index([src])
    queries = data.queries[: args.limit]
    retriever = archive.retriever
    qvecs = archive.embedder.encode([q for _, q, _ in queries])
    source: dict[str, str] = {}
    text: dict[int, tuple[str, str]] = {}  # chunk id -> (doc id, text)

    depth = max(v[3] for v in VARIANTS)
    lists = []
    t = time.perf_counter()
    for (_, q, _), qv in zip(queries, qvecs, strict=True):
        dense = [c for c, _ in retriever.dense(qv, depth, None)]
        kw = [c for c, _ in retriever.keyword(q, depth)]
        lists.append((dense, kw))
    log(f"candidate lists for {len(queries)} queries in {time.perf_counter() - t:.0f} s")

    def fetch(cids: list[int]) -> None:
        for cid, hit in retriever.store.hits([c for c in cids if c not in text]).items():
            if hit.article_id not in source:
                source[hit.article_id] = archive.article(hit.article_id).source_id or ""
            text[cid] = (source[hit.article_id], hit.text)

    print(f"{data.name}: {len(queries)} queries, {archive.stats().chunks} chunks")
    print(f"{'variant':<24} {'ndcg@10':>8} {'mrr@10':>8} {'answer@5':>9}")
    rows = [("dense only", None), ("keyword only", None)] + [(None, v) for v in VARIANTS]
    for label, variant in rows:
        nd = mr = ans = 0.0
        for (qid, _, golds), (dense, kw) in zip(queries, lists, strict=True):
            if variant is None:
                order = dense[:50] if label == "dense only" else kw[:50]
            else:
                wd, wk, rrf, n = variant
                fused: dict[int, float] = {}
                for w, ranked in ((wd, dense[:n]), (wk, kw[:n])):
                    for r, cid in enumerate(ranked, 1):
                        fused[cid] = fused.get(cid, 0.0) + w / (rrf + r)
                order = sorted(fused, key=lambda c: -fused[c])[:50]
            fetch(order)
            docs = dedupe([text[c][0] for c in order])
            rel = data.qrels.get(qid, {})
            nd += ndcg_at(docs, rel, 10)
            mr += mrr_at(docs, rel, 10)
            ans += answer_found([text[c][1] for c in order[:5]], golds)
        name = label or "w{}/{} k{} n{}".format(*variant)  # type: ignore[str-format]
        m = len(queries)
        print(f"{name:<24} {nd / m:8.3f} {mr / m:8.3f} {ans / m:9.3f}")
    archive.close()


if __name__ == "__main__":
    main()
