"""Retrieval quality on a BEIR-layout folder: ``askarchive eval DIR``.

The corpus is indexed by the real pipeline (ingest, chunking, embedding, SQLite, FAISS) into a
temporary store, so the figures measure what users get, not a shortcut. Every query runs in each
mode with k=100; hits are passages, metrics are over documents: each passage maps back to its
corpus ``_id`` and a document counts at the rank of its first passage.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``,
optional ``answers``), ``qrels/test.tsv`` (header, then ``query-id corpus-id score``).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askarchive.errors import BadInput
from askarchive.text import one_line

if TYPE_CHECKING:
    from askarchive.archive import Archive
    from askarchive.embed.embedding import Embedder

MODES = ("hybrid", "dense", "keyword")
DEPTH = 100
ANSWER_DEPTH = 5
# The cap the answerer uses; with k=100 it rarely binds when each document is one paragraph.
PER_ARTICLE = 2


# -- metrics (pure) ------------------------------------------------------------------------------
def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """nDCG@k with linear gains (as trec_eval and BEIR): sum rel_i / log2(i + 1), i from 1."""
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    dcg = sum(relevant.get(doc, 0.0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return max(dcg, 0.0) / idcg


def recall_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    wanted = {d for d, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """1 / rank of the first relevant document within the top k, else 0."""
    for i, doc in enumerate(ranked[:k], 1):
        if relevant.get(doc, 0.0) > 0:
            return 1.0 / i
    return 0.0


def normalise(text: str) -> str:
    """``text`` on one line and lowercased: how gold answers are matched against passages.

    Not ``text.normalize_term``: a gold answer is matched as a phrase, stopwords and plurals
    included."""
    return one_line(text).lower()


def answer_found(passages: Sequence[str], answers: Sequence[str]) -> bool:
    """True when some passage contains some gold answer (case and whitespace ignored)."""
    golds = [g for g in (normalise(a) for a in answers) if g]
    texts = [normalise(p) for p in passages]
    return any(g in t for g in golds for t in texts)


def dedupe(docs: Sequence[str]) -> list[str]:
    """Documents in order of their first appearance."""
    return list(dict.fromkeys(docs))


# -- the data set --------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    docs: dict[str, dict[str, str]]  # _id -> {"title", "text"}, in corpus order
    queries: list[tuple[str, str, list[str]]]  # (_id, text, answers), only queries with qrels
    qrels: dict[str, dict[str, float]] = field(default_factory=dict)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(
                    f"{path} line {n} is not JSON ({exc.msg}); fix or remove it"
                ) from None
            if not isinstance(row, dict) or "_id" not in row:
                raise BadInput(f'{path} line {n} has no "_id"; every BEIR record needs one')
            rows.append(row)
    return rows


def load_beir(folder: str | Path, split: str = "test") -> Dataset:
    root = Path(folder).expanduser()
    needed = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"]
    for path in needed:
        if not path.is_file():
            raise BadInput(
                f"{path} is missing; `askarchive eval` needs a BEIR folder with corpus.jsonl, "
                f"queries.jsonl and qrels/{split}.tsv"
            )
    docs: dict[str, dict[str, str]] = {}
    for row in _jsonl(needed[0]):
        docs[str(row["_id"])] = {
            "title": str(row.get("title") or ""),
            "text": str(row.get("text") or ""),
        }
    qrels: dict[str, dict[str, float]] = {}
    with open(needed[2], encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if (n == 1 and parts[0] == "query-id") or not line.strip():
                continue
            if len(parts) != 3:
                raise BadInput(f"{needed[2]} line {n}: expected query-id, corpus-id, score")
            try:
                score = float(parts[2])
            except ValueError:
                raise BadInput(
                    f"{needed[2]} line {n}: score {parts[2]!r} is not a number"
                ) from None
            qrels.setdefault(parts[0], {})[parts[1]] = score
    queries = [
        (str(q["_id"]), str(q.get("text") or ""), [str(a) for a in q.get("answers") or []])
        for q in _jsonl(needed[1])
        if str(q["_id"]) in qrels and str(q.get("text") or "").strip()
    ]
    if not docs or not queries:
        raise BadInput(f"{root} has no documents or no queries with qrels; nothing to evaluate")
    return Dataset(root.name, docs, queries, qrels)


def join_articles(data: Dataset) -> Dataset:
    """Paragraphs ``A_P`` joined into whole articles ``A``; qrels move to the article."""
    if not all("_" in d for d in data.docs):
        raise BadInput(
            "--articles needs corpus ids of the form ARTICLE_PARAGRAPH (as in squad-dev); "
            "run without --articles"
        )
    groups: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for doc_id, doc in data.docs.items():
        groups.setdefault(doc_id.rsplit("_", 1)[0], []).append((doc_id, doc))

    def order(item: tuple[str, dict[str, str]]) -> tuple[int, str]:
        tail = item[0].rsplit("_", 1)[1]
        return (int(tail), "") if tail.isdigit() else (sys.maxsize, tail)

    docs: dict[str, dict[str, str]] = {}
    for art, paras in groups.items():
        paras.sort(key=order)
        title = next((d["title"] for _, d in paras if d["title"]), "")
        docs[art] = {"title": title, "text": "\n\n".join(d["text"] for _, d in paras)}
    qrels: dict[str, dict[str, float]] = {}
    for qid, rel in data.qrels.items():
        mapped = qrels.setdefault(qid, {})
        for doc_id, score in rel.items():
            art = doc_id.rsplit("_", 1)[0]
            mapped[art] = max(mapped.get(art, score), score)
    return Dataset(data.name + " (whole articles)", docs, data.queries, qrels)


# -- running -------------------------------------------------------------------------------------
class _Ticker:
    """Progress lines on stderr, at most every few seconds."""

    def __init__(self, quiet: bool, every: float = 5.0) -> None:
        self.quiet = quiet
        self.every = every
        self.last = 0.0

    def __call__(self, msg: str, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.quiet and (force or now - self.last >= self.every):
            self.last = now
            print(f"eval: {msg}", file=sys.stderr, flush=True)


def _make_workdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"cannot use {path} as the eval work folder ({exc.strerror}); pick another --workdir"
        ) from exc


def _index(archive: Archive, data: Dataset, folder: Path, tick: _Ticker) -> dict[str, Any]:
    from askarchive.index.indexer import Progress

    src = folder / "corpus.jsonl"
    text = "".join(
        json.dumps({"id": doc_id, **doc}, ensure_ascii=False) + "\n"
        for doc_id, doc in data.docs.items()
    )
    # Rewriting identical bytes would still change the file's mtime and cost a re-hash.
    if not src.exists() or src.read_text(encoding="utf-8") != text:
        src.write_text(text, encoding="utf-8")

    def progress(p: Progress) -> None:
        if p.phase == "embed":
            tick(f"indexing: {p.chunks_done}/{p.chunks_total} chunks embedded")

    tick(f"indexing {len(data.docs)} documents", force=True)
    report = archive.index([src], progress=progress)
    if report.skipped:
        tick(f"{len(report.skipped)} documents skipped (e.g. {report.skipped[0].reason})", True)
    # Totals of the store, not of this run: with a kept workdir a run may embed nothing.
    stats = archive.stats()
    return {"documents": stats.articles, "chunks": stats.chunks, "seconds": report.seconds}


def run(
    folder: str | Path,
    *,
    answers: bool = False,
    articles: bool = False,
    limit: int | None = None,
    model: str | None = None,
    embedder: Embedder | None = None,
    modes: Sequence[str] = MODES,
    quiet: bool = False,
    workdir: str | Path | None = None,
    encoder: str | None = None,
) -> dict[str, Any]:
    """Index the corpus of ``folder`` into a temporary store and score every mode.

    With ``workdir`` the corpus file and its index are kept there instead, so a second run (after
    a change to retrieval, say) re-embeds nothing and only scores the queries again.
    ``encoder`` picks the vector variant of a new index (a kept one keeps its own).

    Returns ``{"name", "queries", "documents", "chunks", "modes": {mode: {metric: value}},
    "seconds": {...}}``; ``answer@5`` appears only with ``answers``.
    """
    from askarchive.archive import Archive

    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1 (got {limit})")
    data = load_beir(folder)
    if articles:
        data = join_articles(data)
    queries = data.queries[:limit] if limit else data.queries
    if answers and not any(a for _, _, a in queries):
        raise BadInput(f'{folder}/queries.jsonl has no "answers"; run without --answers')
    tick = _Ticker(quiet)

    with contextlib.ExitStack() as stack:
        if workdir is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="askarchive-eval-"))
        else:
            tmp = str(workdir)
            _make_workdir(Path(tmp))
        archive = Archive.open(Path(tmp) / "store", model=model, embedder=embedder, encoder=encoder)
        try:
            built = _index(archive, data, Path(tmp), tick)
            source_of = _source_ids(archive)
            t = time.perf_counter()
            tick(f"encoding {len(queries)} queries", force=True)
            qvecs = archive.embedder.encode([q for _, q, _ in queries])
            encode_s = time.perf_counter() - t
            results: dict[str, dict[str, float]] = {}
            search_s: dict[str, float] = {}
            for mode in modes:
                t = time.perf_counter()
                results[mode] = _score_mode(
                    archive, data, queries, qvecs, mode, source_of, answers, tick
                )
                search_s[mode] = round(time.perf_counter() - t, 2)
        finally:
            archive.close()
    tick("done", force=True)
    return {
        "name": data.name,
        "queries": len(queries),
        "documents": built["documents"],
        "chunks": built["chunks"],
        "modes": results,
        "seconds": {"index": round(built["seconds"], 2), "encode_queries": round(encode_s, 2)}
        | {f"search_{m}": s for m, s in search_s.items()},
    }


def _source_ids(archive: Archive) -> Callable[[str], str]:
    """Map a stored article id back to its corpus ``_id`` (cached: one lookup per article)."""
    cache: dict[str, str] = {}

    def source(article_id: str) -> str:
        if article_id not in cache:
            art = archive.article(article_id)
            cache[article_id] = art.source_id or article_id
        return cache[article_id]

    return source


def _score_mode(
    archive: Archive,
    data: Dataset,
    queries: Sequence[tuple[str, str, list[str]]],
    qvecs: Any,
    mode: str,
    source_of: Callable[[str], str],
    answers: bool,
    tick: _Ticker,
) -> dict[str, float]:
    sums = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    found = 0
    retriever = archive.retriever
    for n, ((qid, text, golds), qvec) in enumerate(zip(queries, qvecs, strict=True), 1):
        passages = retriever.search(
            text,
            DEPTH,
            window=None,
            mode=mode,  # type: ignore[arg-type]
            per_article=PER_ARTICLE,
            collapse_duplicates=False,
            qvec=qvec if mode != "keyword" else None,
        )
        ranked = dedupe([source_of(p.article_id) for p in passages])
        rel = data.qrels.get(qid, {})
        sums["ndcg@10"] += ndcg_at(ranked, rel, 10)
        sums["recall@10"] += recall_at(ranked, rel, 10)
        sums["recall@100"] += recall_at(ranked, rel, 100)
        sums["mrr@10"] += mrr_at(ranked, rel, 10)
        if answers and answer_found([p.text for p in passages[:ANSWER_DEPTH]], golds):
            found += 1
        tick(f"{mode}: {n}/{len(queries)} queries")
    out = {m: s / len(queries) for m, s in sums.items()}
    if answers:
        out["answer@5"] = found / len(queries)
    return out
