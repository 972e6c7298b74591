"""The ``askarchive`` command. Each subcommand is a thin wrapper over one ``Archive`` call, and
its options carry the same names as that call's keyword arguments."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import Any

from askarchive.errors import AskArchiveError
from askarchive.safe import json_text, visible


def _add_index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--index",
        metavar="DIR",
        default=None,
        help="index folder (default: $ASKARCHIVE_INDEX, else ./embeddings)",
    )
    p.add_argument("--model", default=None, help="embedding model folder (default: bundled MiniLM)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="askarchive", description="Ask questions of a news archive, with exact citations."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index (or re-index) archive folders and files")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _add_index_option(p)
    p.add_argument("--rebuild", action="store_true", help="start the index over from scratch")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--encoder",
        choices=["int8", "fp32"],
        default=None,
        help="vector variant of a new index or a rebuild (default int8; an index keeps its own)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where embedding runs (default auto: a GPU when one is reported, else the CPU)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="embed on Ray: a local Ray for this run, or the cluster at ADDRESS "
        "(HOST:6379, ray://HOST:10001, auto); needs `pip install 'askarchive[ray]'`",
    )

    p = sub.add_parser("stats", help="what the index holds")
    _add_index_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="find passages, with citations")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--since", default=None, help="earliest publication date (YYYY[-MM[-DD]])")
    p.add_argument("--until", default=None, help="latest publication date (YYYY[-MM[-DD]])")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "keyword"])
    p.add_argument(
        "--no-parse-dates",
        dest="parse_dates",
        action="store_false",
        help="do not read date phrases like 'in June 2016' from the query",
    )
    p.add_argument("--source", default=None, help="only articles whose path contains this text")
    _add_index_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question from the archive, citing every sentence")
    p.add_argument("question")
    p.add_argument("--since", default=None)
    p.add_argument("--until", default=None)
    p.add_argument("--llm", default=None, metavar="URL", help="OpenAI-compatible endpoint URL")
    p.add_argument("--llm-model", dest="llm_model", default=None, help="model name for --llm")
    p.add_argument("--no-llm", dest="no_llm", action="store_true", help="never use an LLM")
    p.add_argument("--source", default=None)
    _add_index_option(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("chat", help="open the terminal chat")
    _add_index_option(p)
    p.add_argument("--archive", default=None, metavar="PATH", help="index this archive first")
    p.add_argument("--llm", default=None, metavar="URL")
    p.add_argument("--llm-model", dest="llm_model", default=None)

    p = sub.add_parser("eval", help="retrieval quality on a BEIR-layout folder")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--answers", action="store_true", help="also score gold answers in top 5")
    p.add_argument("--articles", action="store_true", help="join paragraphs into whole articles")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
    p.add_argument(
        "--workdir",
        default=None,
        help="keep the corpus and its index in this folder and reuse them on the next run",
    )
    p.add_argument("--model", default=None)
    p.add_argument("--json", action="store_true")
    return parser


def _print_json(obj: Any) -> None:
    print(json_text(obj))  # control characters as \uXXXX, never raw


def _open(args: argparse.Namespace, create: bool = False):  # type: ignore[no-untyped-def]
    from askarchive.archive import Archive

    return Archive.open(args.index, model=args.model, create=create)


class _Interrupts:
    """First Ctrl-C asks indexing to stop after the batch in flight; a second one aborts."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __enter__(self) -> threading.Event:
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self.event

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nstopping after the current batch (Ctrl-C again to abort)…", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)


def cmd_index(args: argparse.Namespace) -> int:
    from askarchive.archive import Archive
    from askarchive.cli import render

    # With --rebuild even a damaged index opens: the rebuild moves its files aside.
    archive = Archive.open(
        args.index, model=args.model, create=True, rebuild=args.rebuild, encoder=args.encoder
    )
    with archive, _Interrupts() as cancel, render.IndexProgress(enabled=not args.json) as bar:
        try:
            report = archive.index(
                args.paths,
                rebuild=args.rebuild,
                progress=bar,
                cancel=cancel,
                ray=args.ray,
                device=args.device,
            )
        except AskArchiveError as err:
            report = getattr(err, "report", None)
            if report is not None:
                bar.close()
                if args.json:
                    _print_json(report.to_dict())
                else:
                    render.index_report(report)
            raise
    if args.json:
        _print_json(report.to_dict())
    else:
        render.index_report(report)
    return 130 if report.interrupted else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from askarchive.cli import render

    with _open(args) as archive:
        stats = archive.stats()
    if args.json:
        _print_json(stats.to_dict())
    else:
        render.stats(stats, archive.root)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from askarchive.answer.markdown import indexed_roots
    from askarchive.cli import render

    with _open(args) as archive:
        passages = archive.search(
            args.query,
            k=args.k,
            since=args.since,
            until=args.until,
            mode=args.mode,
            parse_dates=args.parse_dates,
            source=args.source,
        )
        roots = indexed_roots(archive)
    if args.json:
        _print_json([{"rank": i, **p.to_dict()} for i, p in enumerate(passages, 1)])
    else:
        render.passages(args.query, passages, roots)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from askarchive.answer.llm.config import LLMConfig
    from askarchive.answer.markdown import indexed_roots
    from askarchive.cli import render

    # Resolved here so tokens are streamed only when a model writes them: an extractive answer
    # is printed once, whole, by render.answer.
    config = None if args.no_llm else LLMConfig.resolve(url=args.llm, model=args.llm_model)
    stream = render.TokenStream() if config is not None and not args.json else None
    with _open(args) as archive:
        answer = archive.ask(
            args.question,
            since=args.since,
            until=args.until,
            llm=config if config is not None else False,
            source=args.source,
            on_token=stream if stream is not None and stream.live else None,
        )
        roots = indexed_roots(archive)
    if args.json:
        _print_json(answer.to_dict())
        return 0
    shown = bool(stream and stream.shown)
    streamed = shown and answer.mode == "llm" and not answer.abstained
    if shown and not streamed:
        render.out.print()  # a partial LLM reply is on screen; the full answer follows it
    render.answer(answer, streamed=streamed, roots=roots)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from askarchive.tui import run_chat

    run_chat(args.index, args.archive, llm=args.llm, llm_model=args.llm_model, model=args.model)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from askarchive import evaluate
    from askarchive.cli import render

    result = evaluate.run(
        args.dir,
        answers=args.answers,
        articles=args.articles,
        limit=args.limit,
        model=args.model,
        workdir=args.workdir,
    )
    if args.json:
        _print_json(result)
    else:
        render.eval_table(result)
    return 0


def _damaged(args: argparse.Namespace, err: Exception) -> str:
    from askarchive.archive import default_index_dir

    index = getattr(args, "index", None) or default_index_dir()
    return (
        f"the index at {index} is damaged ({err}); "
        f"rebuild it with `askarchive index PATH --rebuild --index {index}`"
    )


COMMANDS = {
    "index": cmd_index,
    "stats": cmd_stats,
    "search": cmd_search,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "eval": cmd_eval,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AskArchiveError as err:
        print(visible(f"askarchive: error: {err}"), file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        return 0
    except (OSError, sqlite3.Error) as err:
        if type(err) is sqlite3.DatabaseError:  # "malformed", "not a database": found mid-read
            print(visible(f"askarchive: error: {_damaged(args, err)}"), file=sys.stderr)
            return 1
        # Disk full, permissions, a folder removed mid-run: the index keeps its last commit.
        print(
            visible(
                f"askarchive: error: cannot read or write the index ({err}); "
                "check free disk space and the folder's permissions, then run the command again"
            ),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("askarchive: interrupted; the index keeps its last committed state", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
