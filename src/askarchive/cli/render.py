"""Terminal output for the CLI. Article text is always wrapped in ``rich.text.Text``, never parsed
as markup, so a passage containing ``[bold]`` prints literally, and it always passes through
``safe.visible`` first, so a control character in it is shown (``\\x1b``), never sent to the
terminal."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from askarchive.answer.markdown import (
    answer_parts,
    display_path,
    hard_breaks,
    is_finished_answer,
    to_plain,
)
from askarchive.index.indexer import Progress
from askarchive.models import Answer, DateWindow, IndexReport, Passage, Stats
from askarchive.safe import visible

out = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


class IndexProgress:
    """Progress callback for ``Archive.index``: a bar on a terminal, silence when piped."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None
        self._phase = ""

    def __enter__(self) -> IndexProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Bar,
            )

            self._progress = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                # Each redraw is Python on the cores the encoder uses: rich's default of ten a
                # second takes CPU from it for nothing a reader can follow; two is enough.
                refresh_per_second=2,
            )
            self._progress.start()
        return self

    def __call__(self, p: Progress) -> None:
        if self._progress is None:
            return
        if p.phase != self._phase:
            self._phase = p.phase
            total = p.chunks_total if p.phase == "embed" else p.total
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(p.phase, total=total or None, detail="")
        if p.phase == "embed":
            rate = ""
            task = self._progress.tasks[-1]
            if task.elapsed:
                secs = task.elapsed
                rate = f"{p.done / secs:5.1f} articles/s, {p.chunks_done / secs:.0f} chunks/s"
            detail = f"chunks · {p.done}/{p.total} articles · {rate}"
            # Totals grow while files are still being parsed (the indexer estimates the rest),
            # so the ETA column follows them.
            self._progress.update(
                self._task, completed=p.chunks_done, total=p.chunks_total or None, detail=detail
            )
        else:
            self._progress.update(self._task, completed=p.done, detail="files")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def index_report(report: IndexReport) -> None:
    for s in report.skipped:
        err.print(Text(visible(f"skipped {s.path}: {s.reason}"), style="yellow"))
    for w in report.warnings:
        err.print(Text(visible(f"warning {w.path}: {w.reason}"), style="yellow"))
    if report.interrupted:
        err.print("interrupted: the committed part is kept; run the same command to finish")
    if report.added or report.updated or report.removed:
        line = (
            f"{report.added} added, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged; "
            f"{report.chunks} chunks embedded in {report.seconds:.1f} s"
        )
    else:
        line = f"nothing changed: {report.unchanged} articles up to date, nothing embedded"
    if report.skipped:
        line += f"; {len(report.skipped)} skipped"
    out.print(Text(line))


def stats(s: Stats, root: Path) -> None:
    span = (
        f"{s.first_date} to {s.last_date}" if s.first_date and s.last_date else "no dated articles"
    )
    out.print(Text(visible(f"index     {root}")))
    out.print(Text(f"articles  {s.articles}"))
    out.print(Text(f"chunks    {s.chunks}"))
    out.print(Text(visible(f"model     {s.model}")))
    out.print(Text(f"dates     {span}"))
    out.print(Text(f"size      {s.bytes / 1e6:.1f} MB"))


def highlight(text: str, query: str) -> Text:
    from askarchive.search.keyword import query_terms

    t = Text(visible(text))
    terms = [re.escape(w) for w in query_terms(query) if len(w) > 1]
    if terms:
        t.highlight_regex(
            re.compile(r"\b(" + "|".join(terms) + r")\w*", re.IGNORECASE), "bold yellow"
        )
    return t


def window_line(window: DateWindow) -> Text:
    """``date window: <dates> from "<phrase>", as a hint|filter: …`` (``DateWindow.explain``)."""
    return Text(visible(f"date window: {window.explain()}"), style="dim")


def passages(query: str, found: list[Passage], roots: Sequence[Path] = ()) -> None:
    if not found:
        out.print("no passages matched; try other words or a wider date range")
        return
    window = found[0].window
    if window is not None:
        out.print(window_line(window))
    for rank, p in enumerate(found, 1):
        c = p.citation
        head = Text(f"{rank}. ", style="bold")
        head.append(visible(c.title), style="bold")
        head.append(f"  {c.date.isoformat() if c.date else 'undated'}  ", style="cyan")
        head.append(visible(f"{display_path(c.path, roots)}:{c.start}-{c.end}"), style="dim")
        out.print(head)
        out.print(highlight(p.text, query))
        for d in p.duplicates:
            where = display_path(d.path, roots)
            also = f"   also: {d.title} ({d.date or 'undated'}) {where}"
            out.print(Text(visible(also), style="dim"))
        out.print()


def answer(a: Answer, *, streamed: bool = False, roots: Sequence[Path] = ()) -> None:
    """Print an answer once: its words (Markdown on a terminal, plain text when piped), then its
    sources, or for an abstention the closest passages, one per line with paths relative to the
    indexed folder. ``streamed``: the words are already on screen (LLM tokens)."""
    if a.notice:
        err.print(Text(visible(a.notice), style="yellow"))
    if a.window is not None:
        err.print(window_line(a.window))
    parts = answer_parts(a, roots)
    if streamed:
        out.print()  # ends the streamed line
    elif out.is_terminal:
        from rich.markdown import Markdown

        out.print(Markdown(visible(hard_breaks(parts.body))))
    else:
        out.print(Text(visible(to_plain(parts.body))))
    if parts.lines:
        out.print()
        out.print(Text(parts.heading, style="bold"))
        for line in parts.lines:
            out.print(Text(visible(line)))
    for s in a.sentences:
        if s.supported is False:
            err.print(Text(visible(f"unsupported: {s.text} ({s.note})"), style="red"))


class TokenStream:
    """Prints LLM tokens as they arrive, when stdout is a terminal.

    Two things are kept off the screen, because ``answer`` prints them once, whole: the model's
    reply that the archive has nothing (held back while the text could still be that reply),
    and a finished answer handed over in one piece (the extractive fallback when the LLM fails
    or there is nothing to send it).
    """

    def __init__(self) -> None:
        self.live = sys.stdout.isatty()
        self.shown = ""  # what reached the screen
        self._held = ""

    def __call__(self, token: str) -> None:
        from askarchive.answer.llm.answer import ABSTAIN

        if is_finished_answer(token):
            return
        if not self.shown:
            self._held += token
            head = self._held.lstrip(" .\n")
            if ABSTAIN.startswith(head) or head.startswith(ABSTAIN):
                return
            token, self._held = self._held, ""
        self.shown += token
        sys.stdout.write(visible(token))
        sys.stdout.flush()


def eval_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    title = f"{result.get('name', 'eval')}: {result.get('queries')} queries"
    table = Table(title=Text(visible(title)))
    metrics = [
        m
        for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "answer@5")
        if any(m in row for row in result["modes"].values())
    ]
    table.add_column("mode")
    for m in metrics:
        table.add_column(m, justify="right")
    for mode, row in result["modes"].items():
        table.add_row(visible(mode), *(f"{row[m]:.3f}" if m in row else "" for m in metrics))
    out.print(table)
