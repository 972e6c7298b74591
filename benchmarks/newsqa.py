"""News QA on newsqa-dev: askarchive's search, answers, follow-ups and abstention, with a LangChain
baseline over the same archive.

    python benchmarks/newsqa.py [DATA] [--questions PATH] [--articles 3000] [--seed 1987]
                                [--workdir DIR] [--reindex] [--no-baseline] [--verbose]
                                [--encoder int8|fp32]

DATA is the bench folder (default ../shared/bench) with reuters21578/, wikinews/ and newsqa-dev/;
``--questions`` takes any file in the newsqa format (the dev set by default; a held-out set of the
same format works the same way: nothing here depends on qids or wordings).

Archive (one, for both systems): every article an item points at (doc_id, dup_ids,
distractor_ids, both corpora), every dated Wikinews article, then Reuters articles with a
non-empty body drawn at random (``--seed``) up to ``--articles``. It is written to the work folder
(default bench-out/newsqa/) as reuters.jsonl (id = the Reuters id, body verbatim with its line
breaks) and wikinews.jsonl (id ``wn-<line>``, plus its url), with ISO dates (YYYY-MM-DD). Hits map
back to corpus ids through ``archive.article(id).source_id``.

askarchive runs through the public ``Archive`` API only. The index goes to WORKDIR/store and is
reused unless ``--reindex``; its build is timed without the model load (both systems load their
model first), and the timing of the last full build is kept in WORKDIR/index-timing.json.
Grading (newsqa-dev README): text is lower-cased and whitespace collapsed; an answer "holds gold"
when the gold span is in ``answer.text`` and the answer did not abstain; a doc hit@5 is doc_id or
a dup_id among the top-5 passages of ``archive.search`` or their collapsed ``duplicates``.
Follow-ups: hit@5 is of ``archive.search(a2.query_used)``; turns[1] searched alone is shown for
contrast. The baseline has no conversation memory, so its follow-up query is turns[1]; a second
row gives it turns[0] + " " + turns[1] (the whole history concatenated: the generous choice).
Its answer figure is "passages hold gold": the gold span in its top-5 passages joined. See
newsqa_baseline.py for the baseline itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import time
from pathlib import Path

from benchcommon import BENCH_OUT, SHARED_BENCH, log, machine_line, percentile, require

from askarchive import Archive

KINDS = ("single", "dated", "followup", "unanswerable")
MONTH_OR_YEAR = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|1[89]\d\d|20\d\d)\b"
)
Key = tuple[str, int]


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_if_changed(path: Path, records: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def build_archive(
    data: Path, items: list[dict], total: int, seed: int, workdir: Path
) -> tuple[list[tuple[Key, dict]], list[Path]]:
    """The archive's records (key, record) and the two JSON Lines files holding them."""
    need: dict[str, set[int]] = {"reuters": set(), "wikinews": set()}
    for it in items:
        ids = [it["doc_id"]] if "doc_id" in it else []
        need[it["corpus"]].update(ids + it.get("dup_ids", []) + it.get("distractor_ids", []))
    reuters = {
        r["id"]: r
        for r in read_jsonl(require(data / "reuters21578" / "articles.jsonl", "Reuters-21578"))
    }
    wiki = read_jsonl(require(data / "wikinews" / "articles.jsonl", "Wikinews"))
    missing = sorted(need["reuters"] - reuters.keys()) + sorted(
        i for i in need["wikinews"] if i >= len(wiki)
    )
    if missing:
        raise SystemExit(f"the questions name articles not in the corpora: {missing[:10]}")
    dated = {i for i, a in enumerate(wiki) if a.get("date")}
    wn_ids = sorted(dated | need["wikinews"])
    pool = sorted(i for i, r in reuters.items() if i not in need["reuters"] and r["body"].strip())
    n_fill = max(0, total - len(need["reuters"]) - len(wn_ids))
    fill = set(random.Random(seed).sample(pool, min(n_fill, len(pool))))
    print(
        f"archive: {len(need['reuters'])} Reuters articles named by items + {len(wn_ids)} Wikinews "
        f"({len(need['wikinews'])} named by items, {len(dated)} dated, "
        f"{len(need['wikinews'] - dated)} undated but named) + {len(fill)} Reuters random fill "
        f"(seed {seed}) = {len(need['reuters']) + len(wn_ids) + len(fill)} articles"
    )
    out: list[tuple[Key, dict]] = []
    for i in sorted(need["reuters"] | fill):
        r = reuters[i]
        rec = {"id": str(i), "title": r["title"], "date": r["date"][:10], "body": r["body"]}
        out.append((("reuters", i), rec))
    for i in wn_ids:
        a = wiki[i]
        rec = {"id": f"wn-{i}", "title": a["title"], "date": (a.get("date") or "")[:10] or None}
        out.append((("wikinews", i), {**rec, "url": a.get("url"), "body": a["body"]}))
    workdir.mkdir(parents=True, exist_ok=True)
    files = [workdir / "reuters.jsonl", workdir / "wikinews.jsonl"]
    for path, corpus in zip(files, ("reuters", "wikinews"), strict=True):
        write_if_changed(path, [rec for key, rec in out if key[0] == corpus])
    return out, files


def source_key(source_id: str | None) -> Key | None:
    if not source_id:
        return None
    if source_id.startswith("wn-"):
        return ("wikinews", int(source_id[3:]))
    return ("reuters", int(source_id)) if source_id.isdigit() else None


def index_archive(archive: Archive, files: list[Path], workdir: Path, fresh: bool) -> dict:
    t = time.perf_counter()
    archive.warm_up(queries=False)  # the model load is kept out of the index timing
    load = time.perf_counter() - t
    t = time.perf_counter()
    report = archive.index(files)
    took = time.perf_counter() - t
    for s in report.skipped:
        print(f"  askarchive skipped {s.path}: {s.reason}")
    timing_file = workdir / "index-timing.json"
    if fresh or not timing_file.exists():
        timing = {"chunks": report.chunks, "articles": report.added, "seconds": took}
        timing.update(load=load, when=time.strftime("%Y-%m-%d %H:%M"), fresh=fresh)
        timing_file.write_text(json.dumps(timing), encoding="utf-8")
    else:
        timing = json.loads(timing_file.read_text(encoding="utf-8"))
        print(
            f"askarchive: reused {archive.root} ({report.unchanged} unchanged, {report.added} "
            f"added, {report.removed} removed, {took:.1f} s); index timing below is from the "
            f"build of {timing['when']}"
        )
    return timing


def rate_line(name: str, t: dict) -> str:
    s = t["seconds"]
    return (
        f"{name:<10} | {t['chunks']:6d} | {s:7.1f} | {t['chunks'] / s:8.1f} | "
        f"{t['articles'] / s:10.2f} | {t['load']:.1f} s"
    )


class AskarchiveRun:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.keys: dict[str, Key | None] = {}
        self.ms: dict[str, list[float]] = {k: [] for k in KINDS}

    def key(self, article_id: str) -> Key | None:
        if article_id not in self.keys:
            self.keys[article_id] = source_key(self.archive.article(article_id).source_id)
        return self.keys[article_id]

    def hit(self, passages, gold: set[Key]) -> bool:  # type: ignore[no-untyped-def]
        ids = [c.article_id for p in passages for c in (p.citation, *p.duplicates)]
        return any(self.key(a) in gold for a in ids)

    def ask(self, kind: str, ask, question: str):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        answer = ask(question, llm=False)
        self.ms[kind].append((time.perf_counter() - t) * 1000)
        return answer

    def run(self, it: dict, gold: set[Key]) -> dict:
        kind, a = it["kind"], self.archive
        r: dict = {"fails": []}
        if kind == "followup":
            conv = a.conversation()
            a1 = self.ask(kind, conv.ask, it["turns"][0])
            ans = self.ask(kind, conv.ask, it["turns"][1])
            passages = a.search(ans.query_used, k=5)
            r["hit_alone"] = self.hit(a.search(it["turns"][1], k=5), gold)
            r["q1_abstained"] = a1.abstained
            r["q1_holds"] = not a1.abstained and norm(it["q1_answer"]) in norm(a1.text)
            r["q1_text"], r["query_used"] = a1.text, ans.query_used
            if not r["q1_holds"]:
                r["fails"].append("q1 abstained" if a1.abstained else "q1 answer lacks gold")
        else:
            passages = a.search(it["question"], k=5)
            ans = self.ask(kind, a.ask, it["question"])
        r["abstained"], r["text"] = ans.abstained, ans.text
        r["top1"] = passages[0].citation.title if passages else "(no passage)"
        if kind == "unanswerable":
            if not ans.abstained:
                r["fails"].append("answered (should abstain)")
            return r
        r["hit"] = self.hit(passages, gold)
        r["holds"] = not ans.abstained and norm(it["answer"]) in norm(ans.text)
        # The answer text ends with the sources list (titles): note hits found only there.
        said = norm(" ".join(s.text for s in ans.sentences))
        r["holds_in_sources_only"] = r["holds"] and norm(it["answer"]) not in said
        distractors = {(it["corpus"], d) for d in it.get("distractor_ids", [])}
        r["distractor"] = any(self.key(c.article_id) in distractors for c in ans.citations)
        if not r["hit"]:
            r["fails"].append("doc not in top 5" + (" (query_used)" if kind == "followup" else ""))
        if not r["holds"]:
            r["fails"].append("abstained" if ans.abstained else "answer lacks gold")
        if r["distractor"]:
            r["fails"].append("cites a distractor")
        return r


def frac(rows: list[dict], field: str) -> str:
    n = sum(bool(r.get(field)) for r in rows)
    return f"{n / len(rows):.3f} ({n:>2})" if rows else "-"


def kind_table(items: list[dict], res: dict[str, dict], base: dict[str, dict] | None) -> None:
    print("\n## askarchive per kind (doc hit@5 | answer holds gold | abstained)")
    print("group              |   n | doc hit@5  | holds gold | abstained | more")
    groups: list[tuple[str, list[dict]]] = []
    for kind in KINDS:
        groups.append((kind, [it for it in items if it["kind"] == kind]))
        if kind == "single":
            singles = groups[-1][1]
            for corpus in ("reuters", "wikinews"):
                groups.append((f"  {corpus}", [it for it in singles if it["corpus"] == corpus]))
            dated = [it for it in singles if MONTH_OR_YEAR.search(it["question"])]
            groups.append(("  names a date", dated))
            groups.append(("  names no date", [it for it in singles if it not in dated]))
    for name, group in groups:
        rows = [res[it["qid"]] for it in group]
        if not rows:
            continue
        ab = sum(r["abstained"] for r in rows)
        more = ""
        if name == "dated":
            more = f"cites a distractor {frac(rows, 'distractor')}"
        elif name == "followup":
            more = (
                f"turns[1] alone hit@5 {frac(rows, 'hit_alone')}; q1 holds "
                f"{frac(rows, 'q1_holds')}; q1 abstained {sum(r['q1_abstained'] for r in rows)}"
            )
        answerable = name != "unanswerable"
        hit = frac(rows, "hit") if answerable else "-"
        holds = frac(rows, "holds") if answerable else "-"
        src = sum(bool(r.get("holds_in_sources_only")) for r in rows)
        if src:
            more += f"{'; ' if more else ''}{src} holds only via the sources list"
        print(
            f"{name:<18} | {len(rows):3d} | {hit:>10} | {holds:>10} | "
            f"{f'{ab}/{len(rows)}':>9} | {more}"
        )
    if base:
        print("\n## baseline per kind (doc hit@5 | top-5 passages hold gold)")
        for kind in KINDS[:3]:
            rows = [base[it["qid"]] for it in items if it["kind"] == kind]
            if rows:
                print(f"{kind:<12} | {len(rows):3d} | {frac(rows, 'hit')} | {frac(rows, 'holds')}")


def latency_table(ms: dict[str, list[float]], base_ms: list[float]) -> None:
    print("\n## latency, warm (ms)")
    rows = [(f"ask {k}", v) for k, v in ms.items() if v]
    rows.append(("ask all", [x for v in ms.values() for x in v]))
    if base_ms:
        rows.append(("baseline search", base_ms))
    for name, v in rows:
        p50, p95 = percentile(v, 50), percentile(v, 95)
        print(f"{name:<17} | n {len(v):3d} | p50 {p50:7.1f} | p95 {p95:7.1f}")


def final_table(items, res, base, timing, base_timing) -> None:  # type: ignore[no-untyped-def]
    def share(kind: str, field: str, rows_of: dict | None) -> float | None:
        rows = [rows_of[it["qid"]] for it in items if it["kind"] == kind] if rows_of else []
        return sum(bool(r.get(field)) for r in rows) / len(rows) if rows else None

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    answerable = [res[it["qid"]] for it in items if it["kind"] != "unanswerable"]
    asks = [r["abstained"] for r in answerable]
    asks += [r["q1_abstained"] for r in answerable if "q1_abstained" in r]
    # (metric, kind, field, compared with the baseline, target; a negative target is a maximum)
    spec = [
        ("doc hit@5 single", "single", "hit", True, 0.97),
        ("doc hit@5 dated", "dated", "hit", True, 0.92),
        ("doc hit@5 follow-up", "followup", "hit", True, 0.87),
        ("  baseline given the history", "followup", "hit_history", True, None),
        ("answer holds gold single *", "single", "holds", True, 0.85),
        ("answer holds gold dated *", "dated", "holds", True, None),
        ("answer holds gold follow-up q2 *", "followup", "holds", True, None),
        ("  baseline given the history", "followup", "holds_history", True, None),
        ("dated answer cites a distractor", "dated", "distractor", False, None),
        ("abstains, unanswerable", "unanswerable", "abstained", False, 0.80),
    ]
    lines = [
        (m, None if "history" in fd else share(k, fd, res), share(k, fd, base) if b else None, t)
        for m, k, fd, b, t in spec
    ]
    lines.append(
        ("abstains, answerable asks", sum(asks) / len(asks) if asks else None, None, -0.05)
    )
    print("\n## askarchive vs baseline (* baseline: gold span in its top-5 passages)")
    print(f"{'metric':<33} | askarchive | baseline | target   | met")
    for name, ours, theirs, target in lines:
        want, met = "", ""
        if target is not None and ours is not None:
            want = f"<= {-target:.2f}" if target < 0 else f">= {target:.2f}"
            met = "yes" if (ours <= -target if target < 0 else ours >= target) else "NO"
        print(f"{name:<33} | {f(ours):>10} | {f(theirs):>8} | {want:<8} | {met}")
    for label, key in (("chunks/s", "chunks"), ("articles/s", "articles")):
        ours = f"{timing[key] / timing['seconds']:.1f}"
        theirs = f"{base_timing[key] / base_timing['seconds']:.1f}" if base_timing else "-"
        print(f"{'index ' + label:<33} | {ours:>10} | {theirs:>8} |          |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=str(SHARED_BENCH), help="bench data folder")
    ap.add_argument("--questions", default=None, help="newsqa-format JSON Lines (default: dev)")
    ap.add_argument("--articles", type=int, default=3000, help="archive size (default 3000)")
    ap.add_argument("--seed", type=int, default=1987, help="seed of the random Reuters fill")
    ap.add_argument("--workdir", default=str(BENCH_OUT / "newsqa"))
    ap.add_argument("--reindex", action="store_true", help="rebuild the askarchive index")
    ap.add_argument("--no-baseline", action="store_true", help="skip the LangChain baseline")
    ap.add_argument("--verbose", action="store_true", help="print the answers of failures")
    ap.add_argument(
        "--encoder",
        choices=["int8", "fp32"],
        default=None,
        help="vector variant of a new askarchive index (give each its own --workdir)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data = require(args.data, "the bench folder with reuters21578/ and wikinews/")
    qpath = require(args.questions or data / "newsqa-dev" / "newsqa_dev.jsonl", "newsqa questions")
    newsqa_baseline = None
    if not args.no_baseline:
        import newsqa_baseline  # exits with the install line when langchain is missing

    print(machine_line())
    print(f"questions: {qpath}")
    items = read_jsonl(qpath)
    workdir = Path(args.workdir)
    articles, files = build_archive(data, items, args.articles, args.seed, workdir)
    store = workdir / "store"
    if args.reindex:
        shutil.rmtree(store, ignore_errors=True)
    fresh = not store.exists()
    res: dict[str, dict] = {}
    base: dict[str, dict] | None = None
    base_ms: list[float] = []
    base_timing: dict | None = None
    with Archive.open(store, encoder=args.encoder) as archive:
        log(f"askarchive: indexing {len(articles)} articles into {store}")
        timing = index_archive(archive, files, workdir, fresh)
        stats = archive.stats()
        print(f"askarchive store: {stats.articles} articles, {stats.chunks} chunks")
        if newsqa_baseline is not None:
            log("baseline: loading the model and indexing")
            bl = newsqa_baseline.Baseline()
            saved = str(workdir / "baseline-index")
            if args.reindex or not bl.load(saved):
                bl.build(articles)
                bl.save(saved)
            else:
                print(f"baseline: reused {saved}; index timing below is from its build")
            base_timing = {"chunks": bl.chunks, "articles": len(articles), "seconds": bl.seconds}
            base_timing["load"] = bl.load_seconds
        print("\n## indexing (model load excluded, printed apart)")
        print("system     | chunks | seconds | chunks/s | articles/s | model load")
        print(rate_line("askarchive", timing))
        if base_timing:
            print(rate_line("baseline", base_timing))
        archive.warm_up()
        archive.ask("warm-up question about anything", llm=False)
        run = AskarchiveRun(archive)
        for n, it in enumerate(items, 1):
            gold = {(it["corpus"], d) for d in [it.get("doc_id"), *it.get("dup_ids", [])]}
            res[it["qid"]] = run.run(it, gold)
            if n % 20 == 0:
                log(f"askarchive: {n}/{len(items)} items")
    if newsqa_baseline is not None:
        base = {}
        for it in items:
            gold = {(it["corpus"], d) for d in [it.get("doc_id"), *it.get("dup_ids", [])]}
            q = it["turns"][1] if it["kind"] == "followup" else it["question"]
            t = time.perf_counter()
            top = bl.search(q, k=5)
            base_ms.append((time.perf_counter() - t) * 1000)
            joined = norm(" ".join(text for _, text in top))
            base[it["qid"]] = {
                "hit": any(k in gold for k, _ in top),
                "holds": "answer" in it and norm(it["answer"]) in joined,
            }
            if it["kind"] == "followup":
                # A plain pipeline has no memory; the generous variant searches the history
                # and the question together.
                top = bl.search(" ".join(it["turns"]), k=5)
                joined = norm(" ".join(text for _, text in top))
                base[it["qid"]]["hit_history"] = any(k in gold for k, _ in top)
                base[it["qid"]]["holds_history"] = norm(it["answer"]) in joined
    kind_table(items, res, base)
    latency_table(run.ms, base_ms)
    final_table(items, res, base, timing, base_timing)
    print("\n## failures (qid | kind | what failed | question | top-1 title)")
    for it in items:
        r = res[it["qid"]]
        if not r["fails"]:
            continue
        q = " / ".join(it["turns"]) if it["kind"] == "followup" else it["question"]
        extra = f" [query_used: {r['query_used']}]" if "query_used" in r else ""
        print(f"{it['qid']} | {it['kind']} | {', '.join(r['fails'])} | {q}{extra} | {r['top1']}")
        if args.verbose:
            if "q1_text" in r and not r["q1_holds"]:
                print(f"    q1 answer: {' '.join(r['q1_text'].split())}")
            print(f"    answer: {' '.join(r['text'].split())}")


if __name__ == "__main__":
    main()
