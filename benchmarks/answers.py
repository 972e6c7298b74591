"""Extractive answers on SQuAD-dev whole articles: gold-answer hit rate, abstention, latency.

    python benchmarks/answers.py [SQUAD_DIR] [--questions N] [--encoder int8|fp32]
                                 [--workdir bench-out/answers]

1. Full store (all 48 articles): the share of questions whose extractive answer (the quoted
   sentences) contains a gold answer string, through the real ``Archive.ask`` path.
2. Half store (articles with an even number only; the others deleted): questions whose gold
   article is gone should abstain, the others should not. Support scores are swept over
   thresholds to calibrate ``answer.ABSTAIN_THRESHOLD``; precision and recall are for the
   "abstain" decision.
3. Latency of the answer step beyond retrieval (sentence split, scoring, MMR: the
   ``extractive_answer`` call exactly as ``answering.py`` makes it), warm, next to the retrieval
   step it follows (query embedding and search, with the same empty-window fallback).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

from benchcommon import BENCH_OUT, default_data, log, machine_line, percentile, require

from askarchive import Archive
from askarchive.answer.extractive import ABSTAIN_THRESHOLD, extractive_answer, support
from askarchive.answer.followup import rewrite
from askarchive.evaluate import join_articles, load_beir, normalise


def build_full(data, folder: Path, encoder: str | None) -> Path:  # type: ignore[no-untyped-def]
    store = folder / "full"
    corpus = folder / "articles.jsonl"
    if not corpus.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(corpus, "w", encoding="utf-8") as fh:
            for doc_id, doc in data.docs.items():
                fh.write(json.dumps({"id": doc_id, **doc}, ensure_ascii=False) + "\n")
    with Archive.open(store, encoder=encoder) as archive:
        t = time.perf_counter()
        report = archive.index([corpus])
        took = time.perf_counter() - t
        log(f"full store: {report.added} added, {report.chunks} chunks, {took:.0f} s")
    return store


def build_half(full: Path, folder: Path) -> tuple[Path, set[str]]:
    """Copy the full store and delete the odd-numbered articles (no re-embedding needed)."""
    half = folder / "half"
    shutil.rmtree(half, ignore_errors=True)
    shutil.copytree(full, half)
    with Archive.open(half) as archive:
        store = archive._store
        rows = store.con.execute("SELECT id, source_id FROM articles").fetchall()
        gone = [aid for aid, src in rows if int(src) % 2 == 1]
        with store.transaction():
            store.delete_articles(gone)
            store.bump_generation()
        store.save_faiss()
        kept = {src for _, src in rows if int(src) % 2 == 0}
    return half, kept


def answer_text(answer) -> str:  # type: ignore[no-untyped-def]
    return " ".join(s.text for s in answer.sentences)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", default=default_data("squad-dev"))
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency", type=int, default=100, help="questions to time (default 100)")
    ap.add_argument("--latency-only", action="store_true", help="skip the quality passes")
    ap.add_argument("--workdir", default=str(BENCH_OUT / "answers"), help="corpus and stores")
    ap.add_argument(
        "--encoder",
        choices=["int8", "fp32"],
        default=None,
        help="vector variant of a new store (give each its own --workdir)",
    )
    args = ap.parse_args()

    print(machine_line())
    data = join_articles(load_beir(require(args.data, "SQuAD dev in BEIR layout")))
    folder = Path(args.workdir)
    full = build_full(data, folder, args.encoder)
    half, kept = build_half(full, folder)
    rng = random.Random(args.seed)
    questions = rng.sample(data.queries, min(args.questions, len(data.queries)))
    gold_article = {qid: next(iter(data.qrels[qid])) for qid, _, _ in questions}

    # 1. Gold answers in the extractive answer, full store, real ask() path.
    hit = abstained = 0
    retrieval_ms: list[float] = []
    answer_ms: list[float] = []
    n_q = len(questions)
    with Archive.open(full) as archive:
        archive.warm_up()
        archive.ask("warm-up question about anything", llm=False)
        if not args.latency_only:
            for n, (_qid, text, answers) in enumerate(questions, 1):
                a = archive.ask(text, llm=False)
                abstained += a.abstained
                got = normalise(answer_text(a))
                hit += any(normalise(g) in got for g in answers)
                if n % 100 == 0:
                    log(f"full store: {n}/{n_q} questions")
            print(
                f"\n## Extractive answers, full store ({len(data.docs)} articles, {n_q} questions)"
            )
            print(f"gold answer in answer text: {hit / n_q:.3f} ({hit}/{n_q})")
            print(f"abstained (all answerable): {abstained / n_q:.3f}")
        # 3. Latency: the same path split into its two steps, timed separately.
        for _qid, text, _answers in questions[: args.latency]:
            rw = rewrite(text, [])
            t0 = time.perf_counter()
            qvec = archive.embedder.encode([rw.query])[0]
            passages = archive.retriever.search(rw.query, 5, window=rw.window, qvec=qvec)
            window = rw.window
            if not passages and window is not None:
                # As ask() does; without it a dated question times an instant abstention.
                passages = archive.retriever.search(rw.query, 5, qvec=qvec)
                window = None if passages else window
            t1 = time.perf_counter()
            # The same call as answering.answer_question (no sentence embedding).
            extractive_answer(text, passages, window=window, query_used=rw.query)
            t2 = time.perf_counter()
            retrieval_ms.append((t1 - t0) * 1000)
            answer_ms.append((t2 - t1) * 1000)
    if answer_ms:
        print(f"\n## Latency, warm ({len(answer_ms)} questions)")
        print(
            f"answer step beyond retrieval: p50 {percentile(answer_ms, 50):.1f} ms, "
            f"p95 {percentile(answer_ms, 95):.1f} ms; retrieval incl. query embedding: "
            f"p50 {percentile(retrieval_ms, 50):.1f} ms"
        )
    if args.latency_only:
        return

    # 2. Abstention on the half store.
    scored: list[tuple[float, bool]] = []  # (support, should_abstain)
    with Archive.open(half) as archive:
        for qid, text, _answers in questions:
            rw = rewrite(text, [])
            qvec = archive.embedder.encode([rw.query])[0]
            passages = archive.retriever.search(rw.query, 5, window=rw.window, qvec=qvec)
            if not passages and rw.window is not None:
                passages = archive.retriever.search(rw.query, 5, qvec=qvec)
            s = support(text, passages, query_used=rw.query) if passages else 0.0
            scored.append((s, gold_article[qid] not in kept))
    pos = sum(1 for _, y in scored if y)
    print(f"\n## Abstention, half store ({len(kept)} of {len(data.docs)} articles kept)")
    print(f"{pos} questions lost their article (should abstain), {n_q - pos} kept it")
    print("threshold | abstain precision | abstain recall | F1 | answerable kept")
    best = (0.0, 0.0)
    # The threshold in use is listed even when it falls between the grid's steps.
    grid = sorted({x / 100 for x in range(10, 71, 5)} | {ABSTAIN_THRESHOLD})
    for t in grid:
        tp = sum(1 for s, y in scored if s < t and y)
        fp = sum(1 for s, y in scored if s < t and not y)
        fn = sum(1 for s, y in scored if s >= t and y)
        tn = (n_q - pos) - fp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        mark = "  <- ABSTAIN_THRESHOLD" if t == ABSTAIN_THRESHOLD else ""
        print(f"{t:9.2f} | {p:17.3f} | {r:14.3f} | {f1:.3f} | {tn / max(1, n_q - pos):.3f}{mark}")
        if f1 > best[1]:
            best = (t, f1)
    print(f"best F1 at threshold {best[0]:.2f} ({best[1]:.3f})")


if __name__ == "__main__":
    main()
