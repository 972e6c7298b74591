"""Retrieval quality on SQuAD-dev: exactly what ``askarchive eval`` computes, with a machine line.

    python benchmarks/quality.py [DATA] [--articles] [--limit N] [--workdir DIR]
                                 [--encoder int8|fp32]

is ``askarchive eval DATA --answers [--articles] [--limit N]`` plus the machine line, timings and
the JSON result (for BENCHMARKS.md). The indexed corpus is kept in ``bench-out/``, so a re-run
after a retrieval change only scores the queries again.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchcommon import BENCH_OUT, default_data, machine_line, peak_rss_mb, require


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=default_data("squad-dev"))
    parser.add_argument("--articles", action="store_true", help="join paragraphs into articles")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--workdir",
        default=None,
        help="keep corpus and index here (default bench-out/quality-paragraphs|articles)",
    )
    parser.add_argument(
        "--encoder",
        choices=["int8", "fp32"],
        default=None,
        help="vector variant of a new index (default: askarchive's; a kept index keeps its own)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require(args.data, "a BEIR folder such as squad-dev")

    from askarchive import evaluate
    from askarchive.cli import render

    print(machine_line())
    t = time.perf_counter()
    workdir = args.workdir or BENCH_OUT / (
        "quality-articles" if args.articles else "quality-paragraphs"
    )
    result = evaluate.run(
        args.data,
        answers=True,
        articles=args.articles,
        limit=args.limit,
        workdir=workdir,
        encoder=args.encoder,
    )
    took = time.perf_counter() - t
    render.eval_table(result)
    print(json.dumps(result))
    print(f"total {took:.0f} s, peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
