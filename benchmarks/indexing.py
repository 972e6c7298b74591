"""Indexing benchmarks on Reuters-21578 (real articles, real model).

``throughput``: the full in-process pipeline (parse, chunk, embed, SQLite, FAISS) against a bare
encode by the index's own bulk backend (``archive.embedder.encode`` of all texts at once: ONNX
Runtime for int8 and fp32 on the CPU) over exactly the same chunk texts, same encoder object,
same process, in ``--rounds`` rounds of bare then pipeline (each on a new store); each round
gives a ratio and the median is reported. The pipeline's stored vectors are compared with the
bare encode's: the pipeline reuses the chunker's token ids, and must still give the same vectors.

``incremental``: build a store of N articles (default: all but one), then add ONE new article
file and time the re-index warm (in process, model loaded) and cold (the CLI as a subprocess),
plus a no-change re-run of each. The store is kept (default bench-out/reuters-store) for
benchmarks/retrieval.py.

    python benchmarks/indexing.py throughput [DATA] [--n 1000] [--encoder int8|fp32] [--rounds 3]
    python benchmarks/indexing.py incremental [DATA] [--n all] [--store bench-out/reuters-store]
        [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchcommon import BENCH_OUT, default_data, log, machine_line, peak_rss_mb, require

DEFAULT_DATA = default_data("reuters21578", "articles.jsonl")


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line for line in fh if line.strip()]


def write_archive(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / name
    out.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines), "utf-8")
    return out


class Ticker:
    """Index progress to stderr about once a minute, so a long background run shows life."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.last = time.perf_counter()
        self.start = self.last

    def __call__(self, p: object) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            done, total = getattr(p, "chunks_done", 0), getattr(p, "chunks_total", 0)
            rate = done / (now - self.start) if done else 0.0
            log(f"{getattr(p, 'phase', '?')}: {done}/{total} chunks ({rate:.1f}/s overall)")


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class NoEncode:
    """The real model's tokens and name, and one fixed unit vector for every text."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.name, self.dim, self.max_tokens = real.name, real.dim, real.max_tokens
        self.encoder = real.encoder
        self.unit = np.eye(1, self.dim, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self.real.count_tokens(texts)

    def tokens(self, text: str):  # type: ignore[no-untyped-def]
        return self.real.tokens(text)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return np.repeat(self.unit, len(texts), axis=0)


def throughput(args: argparse.Namespace) -> None:
    from askarchive.archive import Archive
    from askarchive.index.chunking import chunk_article
    from askarchive.ingest import parse_file

    data = require(args.data, "Reuters-21578 articles.jsonl")
    print(machine_line())
    lines = read_lines(data)[: args.n]
    with tempfile.TemporaryDirectory(prefix="askarchive-bench-") as tmp:
        src = write_archive(Path(tmp) / "archive", "reuters.jsonl", lines)
        t0 = time.perf_counter()
        archive = Archive.open(Path(tmp) / "store-0", encoder=args.encoder)
        archive.warm_up()
        load_s = time.perf_counter() - t0
        emb = archive.embedder
        backend = emb.bulk_backend()  # type: ignore[attr-defined]

        # Exactly the texts the pipeline will embed: same parser, same chunker, same settings.
        parsed = parse_file(src)
        texts: list[str] = []
        for article in parsed.articles:
            texts += chunk_article(article, archive.embedder, archive.settings)[1]
        log(f"{len(parsed.articles)} articles, {len(texts)} chunks; warming up")
        emb.encode(texts[: max(64, len(texts) // 4)], batch_size=32)
        archive.close()
        # What the bare encode spends on tokenizing, which the pipeline does not repeat.
        featurizer = emb._onnx.featurizer()  # type: ignore[attr-defined]
        t = time.perf_counter()
        featurizer.rows(texts)
        tokenize_s = time.perf_counter() - t

        bare: list[float] = []
        pipe: list[float] = []
        bare_cpu: list[float] = []
        pipe_cpu: list[float] = []
        worst = 0.0
        # Rounds of bare, pipeline (each on a new store, same encoder object): on a shared
        # machine a load change hits neighbouring runs alike, so each round gives a ratio.
        for r in range(args.rounds):
            log(f"round {r + 1} of {args.rounds}: bare encode")
            t, c = time.perf_counter(), cpu_seconds()
            want = emb.encode(texts, batch_size=32)
            bare.append(time.perf_counter() - t)
            bare_cpu.append(cpu_seconds() - c)
            log(f"round {r + 1} of {args.rounds}: pipeline")
            with Archive.open(Path(tmp) / f"store-{r + 1}", embedder=emb) as archive:
                t, c = time.perf_counter(), cpu_seconds()
                report = archive.index([src.parent])
                pipe.append(time.perf_counter() - t)
                pipe_cpu.append(cpu_seconds() - c)
                # Chunk ids follow the file's order, as ``texts`` does.
                _, got = archive._store.all_vectors(emb.dim)  # type: ignore[attr-defined]
            worst = max(worst, float(abs(got - want).max()))
            if report.chunks != len(texts):
                sys.exit(f"pipeline embedded {report.chunks} chunks, expected {len(texts)}")
        # Everything the pipeline does besides encoding: the same run with a stand-in encoder.
        with Archive.open(Path(tmp) / "store-rest", embedder=NoEncode(emb)) as archive:
            t, c = time.perf_counter(), cpu_seconds()
            archive.index([src.parent])
            rest_s, rest_cpu = time.perf_counter() - t, cpu_seconds() - c

    n, arts = len(texts), len(parsed.articles)
    ratios = [b / p for b, p in zip(bare, pipe, strict=True)]
    bare_m, pipe_m = statistics.median(bare), statistics.median(pipe)
    print(f"encoder {emb.encoder} on {backend[1]} ({backend[0]})")  # type: ignore[attr-defined]
    print(f"articles {arts}  chunks {n}  model load (excluded) {load_s:.1f} s")
    print(f"bare encode  {', '.join(f'{b:.1f}' for b in bare)} s: {n / bare_m:.1f} chunks/s")
    print(f"pipeline     {', '.join(f'{p:.1f}' for p in pipe)} s: {n / pipe_m:.1f} chunks/s")
    print(f"articles/s   bare {arts / bare_m:.1f}, pipeline {arts / pipe_m:.1f}")
    print(
        f"ratio pipeline/bare throughput, per round {', '.join(f'{x:.3f}' for x in ratios)}; "
        f"median {statistics.median(ratios):.3f}, of the median times {bare_m / pipe_m:.3f}  "
        "(target >= 0.95)"
    )
    print(
        f"tokenizing the chunk texts (part of the bare encode; the pipeline reuses the "
        f"chunker's ids): {tokenize_s:.2f} s, {tokenize_s / bare_m:.1%} of the bare encode"
    )
    cpu_ratios = [b / p for b, p in zip(bare_cpu, pipe_cpu, strict=True)]
    print(
        f"CPU-seconds, bare {', '.join(f'{b:.1f}' for b in bare_cpu)}; pipeline "
        f"{', '.join(f'{p:.1f}' for p in pipe_cpu)}; bare/pipeline median "
        f"{statistics.median(cpu_ratios):.3f} (the share of the pipeline's work that is the "
        "encode: its throughput ratio on two otherwise idle, saturated cores)"
    )
    print(
        f"the pipeline without encoding (stand-in encoder): {rest_s:.2f} s, {rest_cpu:.2f} "
        f"CPU-s; the bare encode: {statistics.median(bare_cpu):.1f} CPU-s"
    )
    print(f"largest difference of a stored vector from the bare encode's: {worst:.2g}")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


def _fresh_store_dir(path: Path) -> None:
    if path.exists():
        if any(path.iterdir()) and not (path / "CURRENT").exists():
            sys.exit(f"{path} exists and is not an askarchive store; pick another --store")
        shutil.rmtree(path)


def _cli(store: Path, archive_dir: Path) -> tuple[float, dict[str, object], float | None]:
    """Run `askarchive index` cold; (seconds, JSON report, peak RSS MiB if GNU time exists).

    The child's RSS comes from GNU time: getrusage(RUSAGE_CHILDREN) would report the parent's
    size, since the forked child counts the parent's pages until it execs.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "askarchive.cli.main", "index", str(archive_dir)]
    cmd += ["--index", str(store), "--json"]
    gnu_time = shutil.which("time")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        if gnu_time:
            cmd = [gnu_time, "-o", rss.name, "-f", "%M", *cmd]
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        took = time.perf_counter() - t
        text = rss.read().strip()
    if out.returncode != 0:
        sys.exit(f"CLI failed ({out.returncode}): {out.stderr.strip()}")
    peak = int(text.splitlines()[-1]) / 1024 if gnu_time and text else None
    return took, json.loads(out.stdout), peak


def _summary(report: object) -> str:
    r = report.to_dict() if hasattr(report, "to_dict") else dict(report)  # type: ignore[call-overload]
    keys = ("added", "updated", "removed", "unchanged", "chunks")
    return " ".join(f"{k}={r[k]}" for k in keys)


def incremental(args: argparse.Namespace) -> None:
    from askarchive.archive import Archive

    data = require(args.data, "Reuters-21578 articles.jsonl")
    print(machine_line())
    lines = read_lines(data)
    n = len(lines) - 2 if args.n == "all" else int(args.n)
    if n + 2 > len(lines):
        sys.exit(f"--n {n} leaves no held-out articles: the file has {len(lines)}")
    # The last two articles are held out: each is later added as a brand-new file.
    base, new1, new2 = lines[:n], lines[-2], lines[-1]
    store = Path(args.store)
    reused = args.reuse and (store / "CURRENT").exists()
    if not reused:
        _fresh_store_dir(store)

    with tempfile.TemporaryDirectory(prefix="askarchive-bench-") as tmp:
        folder = Path(tmp) / "archive"
        if reused:
            # The earlier full build stays untouched: the new articles go into a copy of it,
            # from their own folder (indexing one folder leaves other folders' articles alone).
            copy = Path(tmp) / "store"
            shutil.copytree(store, copy, ignore=shutil.ignore_patterns("index.lock"))
            store = copy
        else:
            write_archive(folder, "reuters.jsonl", base)
        t = time.perf_counter()
        archive = Archive.open(store)
        archive.warm_up()
        load_s = time.perf_counter() - t
        full = None
        full_s = 0.0
        if reused:
            t = time.perf_counter()
            archive._store.lock()  # type: ignore[attr-defined]
            archive._store.save_faiss()  # type: ignore[attr-defined]
            archive._store.unlock()  # type: ignore[attr-defined]
            took = time.perf_counter() - t
            log(f"reused {args.store}; FAISS file loaded or converted in {took:.1f} s")
        else:
            log(f"model loaded in {load_s:.1f} s; full build of {n} articles into {store}")
            t = time.perf_counter()
            full = archive.index([folder], progress=Ticker())
            full_s = time.perf_counter() - t
            log(f"full build {full_s:.0f} s: {_summary(full)}")
        stats = archive.stats()

        write_archive(folder, "new-1.jsonl", [new1])
        t = time.perf_counter()
        warm_new = archive.index([folder])
        warm_new_s = time.perf_counter() - t
        t = time.perf_counter()
        warm_same = archive.index([folder])
        warm_same_s = time.perf_counter() - t
        archive.close()
        rss_self = peak_rss_mb()

        write_archive(folder, "new-2.jsonl", [new2])
        cold_new_s, cold_new, rss_new = _cli(store, folder)
        cold_same_s, cold_same, rss_same = _cli(store, folder)

    mib = stats.bytes / 2**20
    print(f"store {store}: {stats.articles} articles, {stats.chunks} chunks, {mib:.0f} MiB")
    print(f"model load (excluded from warm timings)   {load_s:8.2f} s")
    if full is None:
        print("full build: not re-run (--reuse: the store of an earlier run, copied)")
    else:
        print(f"full build, warm                           {full_s:8.1f} s  {_summary(full)}")
        print(f"  = {full.chunks / full_s:.1f} chunks/s, {full.added / full_s:.1f} articles/s")
    print(f"add 1 article file, warm (in process)      {warm_new_s:8.2f} s  {_summary(warm_new)}")
    print(f"no-change re-run, warm (in process)        {warm_same_s:8.2f} s  {_summary(warm_same)}")
    print(f"add 1 article file, cold CLI subprocess    {cold_new_s:8.2f} s  {_summary(cold_new)}")
    print(f"no-change re-run, cold CLI subprocess      {cold_same_s:8.2f} s  {_summary(cold_same)}")
    if full_s:
        print(f"ratio add-1 warm / full build              {warm_new_s / full_s:8.5f}")
    print(f"add-1 warm {warm_new_s:.2f} s against the target of <= 3 s")
    cli_rss = "/".join(f"{r:.0f}" if r else "?" for r in (rss_new, rss_same))
    print(f"peak RSS: this process {rss_self:.0f} MiB; CLI add-1/no-change {cli_rss} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("throughput", help="pipeline vs bare encode, same chunks")
    p.add_argument("data", nargs="?", default=DEFAULT_DATA)
    p.add_argument("--n", type=int, default=1000, help="articles (default 1000)")
    p.add_argument("--encoder", choices=["int8", "fp32"], default=None)
    p.add_argument("--rounds", type=int, default=3, help="bare/pipeline pairs (default 3)")
    p.set_defaults(run=throughput)
    p = sub.add_parser("incremental", help="full build, then add one article")
    p.add_argument("data", nargs="?", default=DEFAULT_DATA)
    p.add_argument("--n", default="all", help="articles in the base build (default: all but 2)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="skip the full build when --store exists; add the new articles to a copy of it",
    )
    p.add_argument("--store", default=str(BENCH_OUT / "reuters-store"))
    p.set_defaults(run=incremental)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.run(args)


if __name__ == "__main__":
    main()
