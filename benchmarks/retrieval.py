"""Warm query latency at >= 100k chunks: hybrid, dense, keyword, next to a bare FAISS search.

The 100k-chunk store is SYNTHETIC: embedding 100k real chunks takes 45 minutes to hours here, so
the real Reuters store built by ``benchmarks/indexing.py incremental`` (~34k chunks, real text,
real vectors) is replicated through the Store API until it holds >= 100k chunks. Copy r of an
article keeps its text (so FTS5 holds real text, three times over, like repeated wire stories),
gets an id and title suffix, and gets its vectors perturbed with small Gaussian noise and
re-normalised (so FAISS holds 100k distinct vectors). Queries are 200 questions built by wrapping
Reuters headlines (drawn with a fixed seed from the store) in question templates.

    python benchmarks/retrieval.py [SOURCE_STORE] [--target 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from benchcommon import BENCH_OUT, log, machine_line, peak_rss_mb, percentile, require

TEMPLATES = (
    "What happened with {}?",
    "What was reported about {}?",
    "Why {}?",
    "Tell me about {}",
    "What did officials say on {}?",
)


def replicate(
    source: Path,
    dest: Path,
    target: int,
    noise: float,
    seed: int,
    *,
    shift_days: int = 0,
    exact: bool = False,
    label: str = "synthetic",
    on_written: Callable[[int], None] | None = None,
    dense: bool = True,
) -> int:
    """Fill ``dest`` with copies of the articles of ``source`` until it holds ``target`` chunks.

    Copy r of an article gets an id and title suffix, vectors perturbed by Gaussian ``noise`` and
    its date moved by ``r * shift_days``. Whole copies are written unless ``exact``, which stops
    at ``target``; ``on_written`` hears the running chunk count after each article. Without
    ``dense`` the FAISS index is left for the caller to build (and time). Returns the chunks
    written."""
    from askarchive.index.chunking import ChunkSettings
    from askarchive.models import Chunk
    from askarchive.store.sqlite import Store

    src = Store.open(source, create=False)
    if src is None:
        sys.exit(f"no store at {source}")
    manifest = src.manifest()
    dim = int(manifest["dim"])
    # The source is small (thousands of chunks): read it once.
    articles = []
    for (aid,) in src.con.execute("SELECT id FROM articles ORDER BY id").fetchall():
        art = src.article(aid)
        assert art is not None
        rows = src.con.execute(
            "SELECT seq, start, end, tokens, vector FROM chunks WHERE article_id=? ORDER BY seq",
            (aid,),
        ).fetchall()
        vecs = np.stack([np.frombuffer(r[4], np.float32, dim) for r in rows])
        articles.append((art, [r[:4] for r in rows], vecs))
    src.close()
    n_src = sum(len(rows) for _, rows, _ in articles)
    copies = -(-target // n_src)
    log(f"replicating {len(articles)} articles, {n_src} chunks, x{copies} into {dest}")
    if dest.exists():
        import shutil

        if not (dest / "CURRENT").exists():
            sys.exit(f"{dest} exists and is not an askarchive store; remove it or pick another")
        shutil.rmtree(dest)
    out = Store.open(dest, create=True)
    assert out is not None
    settings = ChunkSettings(int(manifest["chunk_tokens"]), int(manifest["chunk_overlap"]))
    values: dict = dict(settings.as_manifest())
    if "encoder" in manifest:  # the copy's questions must be embedded by the source's variant
        values["encoder"] = manifest["encoder"]
    out.init_manifest(manifest["model"], dim, values)
    rng = np.random.default_rng(seed)
    written = 0
    for copy in range(copies):
        for i in range(0, len(articles), 500):
            with out.transaction():
                for art, rows, vecs in articles[i : i + 500]:
                    if copy:
                        vecs = vecs + rng.normal(0, noise, vecs.shape).astype(np.float32)
                        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                        date = art.date
                        if date is not None and shift_days:
                            date += dt.timedelta(days=shift_days * copy)
                        art = dataclasses.replace(
                            art,
                            id=f"{art.id}~{copy}",
                            title=f"{art.title} (copy {copy})",
                            date=date,
                        )
                    chunks = [Chunk(art.id, q, s, e, art.body[s:e], tok) for q, s, e, tok in rows]
                    out.insert_article(art, f"{label}-{copy}", chunks, vecs)
                    written += len(rows)
                    if on_written is not None:
                        on_written(written)
                out.bump_generation()
            if exact and written >= target:
                break
        log(f"copy {copy + 1}/{copies} written")
        if exact and written >= target:
            break
    if dense:
        out.save_faiss()
        log(f"synthetic store: {out.counts()[1]} chunks")
    out.close()
    return written


def make_queries(archive: object, n: int, seed: int) -> list[tuple[str, str | None]]:
    """(question, yyyy-mm of its source article) for ``n`` distinct real headlines."""
    con = archive._store.con  # type: ignore[attr-defined]
    rows = con.execute(
        "SELECT title, date FROM articles WHERE id NOT LIKE '%~%' AND length(title) > 12 "
        "ORDER BY id"
    ).fetchall()
    rng = random.Random(seed)
    picked = rng.sample(rows, n)
    out = []
    for i, (title, date) in enumerate(picked):
        topic = " ".join(title.split()).lower().rstrip(".")
        out.append((TEMPLATES[i % len(TEMPLATES)].format(topic), date[:7] if date else None))
    return out


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def row(name: str, ms: list[float]) -> str:
    return (
        f"{name:<36} p50 {percentile(ms, 50):7.2f} ms   p95 {percentile(ms, 95):7.2f} ms   "
        f"mean {sum(ms) / len(ms):7.2f} ms"
    )


def month_window(month: str | None) -> tuple[str | None, str | None]:
    """First and last day of the month ``yyyy-mm``."""
    import calendar

    if month is None:
        return None, None
    y, m = (int(x) for x in month.split("-"))
    return f"{month}-01", f"{month}-{calendar.monthrange(y, m)[1]:02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default=str(BENCH_OUT / "reuters-store"))
    parser.add_argument("--store", default=str(BENCH_OUT / "reuters-100k"))
    parser.add_argument("--target", type=int, default=100_000, help="chunks (default 100000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.02, help="vector noise std per dim")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="re-create the synthetic store")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and FAISS threads (default: theirs)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import faiss

    from askarchive.archive import Archive

    source = require(
        args.source,
        "a Reuters store; build it with `python benchmarks/indexing.py incremental`",
    )
    print(machine_line())
    dest = Path(args.store)
    if args.rebuild or not (dest / "CURRENT").exists():
        t = time.perf_counter()
        replicate(source, dest, args.target, args.noise, args.seed)
        log(f"replicated in {time.perf_counter() - t:.0f} s")

    t = time.perf_counter()
    archive = Archive.open(dest, create=False)
    archive.warm_up()
    load_s = time.perf_counter() - t
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    stats = archive.stats()
    if stats.chunks < args.target:
        sys.exit(f"{dest} holds {stats.chunks} chunks < {args.target}; pass --rebuild")
    retriever = archive.retriever
    store = archive._store  # type: ignore[attr-defined]
    t = time.perf_counter()
    index = store.dense_index()
    faiss_load_s = time.perf_counter() - t
    bare_ids, vecs = store.all_vectors(archive.embedder.dim)
    bare = faiss.IndexFlatIP(vecs.shape[1])
    bare.add(vecs)
    del vecs
    graph = index.index  # the same HNSW graph the retriever walks, searched bare
    queries = make_queries(archive, args.queries, args.seed)
    qvecs = archive.embedder.encode([q for q, _ in queries])
    n = 50  # the retriever's candidate depth for k=5

    log("warm-up")
    for q, _ in queries[:10]:
        for mode in ("hybrid", "dense", "keyword"):
            archive.search(q, k=5, mode=mode)  # type: ignore[arg-type]

    emb = archive.embedder
    fast = emb.query_backend == "onnxruntime"  # type: ignore[attr-defined]

    def torch_query(fn: Callable[[], object]) -> Callable[[], object]:
        """``fn`` with questions embedded by PyTorch, for the side-by-side rows."""

        def run() -> object:
            before = emb.fast_queries  # type: ignore[attr-defined]
            emb.fast_queries = False  # type: ignore[attr-defined]
            try:
                return fn()
            finally:
                emb.fast_queries = before  # type: ignore[attr-defined]

        return run

    names = [
        "query embedding alone",
        "query embedding, PyTorch path",
        "e2e search hybrid, PyTorch queries",
        "bare FAISS IndexFlatIP.search top-50",
        "bare FAISS HNSW graph search top-50",
        "e2e search hybrid (k=5)",
        "e2e search dense (k=5)",
        "e2e search keyword (k=5)",
        "e2e search hybrid + 1-month window",
        "retriever hybrid, query vector given",
        "retriever dense, query vector given",
        "  part: FAISS dense top-50",
        "  part: FTS5 budgeted top-50",
        "  part: FTS5 unbudgeted top-50",
        "  part: store.hits SQL (first 64 ids)",
        "  part: vectors_for (64 ids)",
        "  part: date selector (chunk ids)",
        "  part: store.dense_index() check",
        "  part: store.chunk_table() check",
        "  part: article centroids (first 64 ids)",
    ]
    ms: dict[str, list[float]] = {k: [] for k in names}
    dense_overlap: list[float] = []  # retriever dense top 10 vs exact flat top 10
    kw_overlap: list[float] = []  # budgeted vs unbudgeted keyword top 10

    def run_rotated(i: int, steps: list[tuple[str, Callable[[], object]]]) -> None:
        # Rotate the order so no step always runs right after the same neighbour.
        rot = i % len(steps)
        for name, fn in steps[rot:] + steps[:rot]:
            ms[name].append(timed(fn))

    # Phase 1: only what a user's process does, searches back to back. The bare flat scan
    # (150 MB of vectors) and the unbudgeted FTS5 query of phase 2 would evict the caches a
    # real session keeps warm, so they are not interleaved with these rows.
    log(f"timing {len(queries)} queries end to end")
    for i, (q, month) in enumerate(queries):
        since, until = month_window(month)
        run_rotated(
            i,
            [
                (names[2], torch_query(lambda q=q: archive.search(q, k=5, mode="hybrid"))),
                (names[5], lambda q=q: archive.search(q, k=5, mode="hybrid")),
                (names[6], lambda q=q: archive.search(q, k=5, mode="dense")),
                (names[7], lambda q=q: archive.search(q, k=5, mode="keyword")),
                (names[8], lambda q=q, s=since, u=until: archive.search(q, 5, s, u)),
            ],
        )
    # Phase 2: the parts, the bare FAISS searches, and result overlaps.
    log(f"timing {len(queries)} queries by part")
    for i, ((q, month), qv) in enumerate(zip(queries, qvecs, strict=True)):
        since, until = month_window(month)
        run_rotated(
            i,
            [
                (names[0], lambda q=q: archive.embedder.encode([q])),
                (names[1], torch_query(lambda q=q: archive.embedder.encode([q]))),
                (names[3], lambda qv=qv: bare.search(qv.reshape(1, -1), n)),
                (names[4], lambda qv=qv: graph.search(qv.reshape(1, -1), n)),
                (names[9], lambda q=q, qv=qv: retriever.search(q, 5, qvec=qv)),
                (names[10], lambda q=q, qv=qv: retriever.search(q, 5, mode="dense", qvec=qv)),
            ],
        )
        dense = retriever.dense(qv, n, None)
        kw = retriever.keyword(q, n)
        full_kw = retriever.keywords.search(q, n)  # no archive size given: never budgeted
        exact = bare_ids[bare.search(qv.reshape(1, -1), 10)[1][0]].tolist()
        dense_overlap.append(len(set(exact) & {c for c, _ in dense[:10]}) / 10)
        if full_kw:
            top = min(10, len(full_kw))
            kw_overlap.append(len({c for c, _ in kw[:top]} & {c for c, _ in full_kw[:top]}) / top)
        fused = list(dict.fromkeys([c for c, _ in dense] + [c for c, _ in kw]))
        window = archive.explicit_window(since, until)
        ms[names[11]].append(timed(lambda qv=qv: retriever.dense(qv, n, None)))
        ms[names[12]].append(timed(lambda q=q: retriever.keyword(q, n)))
        ms[names[13]].append(timed(lambda q=q: retriever.keywords.search(q, n)))
        ms[names[14]].append(timed(lambda f=fused: store.hits(f[:64])))
        ms[names[15]].append(timed(lambda f=fused: store.vectors_for(f[:64], archive.embedder.dim)))
        ms[names[16]].append(timed(lambda w=window: store.filtered_chunk_ids(w, None)))
        ms[names[17]].append(timed(store.dense_index))
        ms[names[18]].append(timed(store.chunk_table))
        arts = {h.article_id for h in store.hits(fused[:64]).values()}
        ms[names[19]].append(timed(lambda a=arts: store.article_centroids(a, emb.dim)))

    print(
        f"store {dest}: {stats.articles} articles, {stats.chunks} chunks (SYNTHETIC: real Reuters "
        f"chunks replicated, see header), {stats.bytes / 2**20:.0f} MiB"
    )
    print(
        f"model load {load_s:.1f} s, dense index load or build {faiss_load_s:.2f} s "
        f"({index.ntotal} vectors), {len(queries)} queries, warm, "
        f"threads {args.threads or 'default'}"
    )
    for name in names:
        print(row(name, ms[name]))
    p50 = percentile(ms[names[5]], 50)
    p95 = percentile(ms[names[5]], 95)
    backend = emb.query_backend  # type: ignore[attr-defined]
    print(f"question encoder: {backend}" + ("" if fast else " (the fast path was not available)"))
    for fast_row, torch_row in ((0, 1), (5, 2)):
        ratio = percentile(ms[names[fast_row]], 50) / percentile(ms[names[torch_row]], 50)
        print(f"ratio {names[fast_row]} / {names[torch_row]}, p50: {ratio:.2f}")
    print(f"hybrid e2e vs targets: p50 {p50:.1f} ms (<= 30), p95 {p95:.1f} ms (<= 80)")
    dense_p50 = percentile(ms[names[10]], 50)
    for i in (3, 4):
        ratio = dense_p50 / percentile(ms[names[i]], 50)
        print(f"ratio retriever dense (vector given) / {names[i]}, p50: {ratio:.2f}")
    print(f"dense top-10 overlap with exact flat search: {np.mean(dense_overlap):.3f}")
    print(f"keyword top-10 overlap, budgeted vs unbudgeted: {np.mean(kw_overlap):.3f}")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")
    archive.close()


if __name__ == "__main__":
    main()
