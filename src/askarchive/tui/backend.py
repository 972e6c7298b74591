"""What the chat screens need from the archive, behind one thread-safe object (no textual here).

Screens call these methods from worker threads; the ``Archive`` is opened lazily on first use so
the app can draw before the index (or the model) is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askarchive.models import Answer, Article, IndexReport, Turn

if TYPE_CHECKING:
    from askarchive.archive import Archive


@dataclass(frozen=True, slots=True)
class Filters:
    """Filters applied to every question until cleared. Dates are as typed (YYYY[-MM[-DD]])."""

    since: str | None = None
    until: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, since: str | None, until: str | None, source: str | None) -> Filters:
        return cls(
            (since or "").strip() or None,
            (until or "").strip() or None,
            (source or "").strip() or None,
        )

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.source)

    def describe(self) -> str:
        parts = []
        if self.since or self.until:
            parts.append(f"dates {self.since or '…'} to {self.until or '…'}")
        if self.source:
            parts.append(f"source ~ {self.source}")
        return ", ".join(parts) if parts else "no filters"


ArchiveOpener = Callable[[bool], "Archive"]


class ChatBackend:
    """One archive, the filters and the turns of the conversation on screen."""

    def __init__(
        self,
        open_archive: ArchiveOpener,
        index_paths: Sequence[str | Path] = (),
        llm: Any = None,
        llm_model: str | None = None,
    ) -> None:
        self._open_archive = open_archive
        self.index_paths = [Path(p) for p in index_paths]
        self.llm = llm
        self.llm_model = llm_model
        self.filters = Filters()
        self.turns: list[Turn] = []
        self._archive: Archive | None = None
        self._roots: list[Path] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_paths(
        cls,
        index: str | Path | None,
        archive: str | Path | None,
        llm: Any = None,
        llm_model: str | None = None,
        model: str | None = None,
    ) -> ChatBackend:
        """The real backend: ``Archive.open(index)``, created only if given paths to index."""

        def opener(create: bool) -> Archive:
            from askarchive.archive import Archive

            return Archive.open(index, model=model, create=create)

        return cls(opener, [archive] if archive is not None else [], llm, llm_model)

    # -- the archive ------------------------------------------------------------------------------
    def archive(self) -> Archive:
        """Open the archive on first use (raises ``AskArchiveError`` with the fix)."""
        with self._lock:
            if self._archive is None:
                self._archive = self._open_archive(bool(self.index_paths))
            return self._archive

    @property
    def is_open(self) -> bool:
        return self._archive is not None

    def roots(self) -> list[Path]:
        """The folders given to ``index``, to show paths relative to; [] until the archive is
        open (it is never opened from here)."""
        from askarchive.answer.markdown import indexed_roots

        with self._lock:
            archive = self._archive
        if archive is None:
            return []
        if self._roots is None:
            self._roots = indexed_roots(archive)
        return self._roots

    def needs_index(self) -> bool:
        """True when archive paths were given: bring the index up to date with them on start.

        An unchanged archive costs a scan of file sizes and times and embeds nothing, so this
        is cheap on every start and picks up articles added since the last session.
        """
        if self.index_paths:
            self.archive()  # open (and create) now, so errors surface before indexing starts
        return bool(self.index_paths)

    def warm_up(self) -> None:
        self.archive().warm_up(queries=False)

    def prepare_queries(self) -> None:
        """Make the fast question encoder (once per machine); questions work meanwhile."""
        self.archive().warm_up(queries=True)

    def index(
        self,
        paths: Sequence[str | Path] | None,
        progress: Callable[[Any], None],
        cancel: threading.Event,
    ) -> IndexReport:
        use = list(paths) if paths else list(self.index_paths)
        try:
            return self.archive().index(use, progress=progress, cancel=cancel)
        finally:
            self._roots = None  # indexing records its folders

    def article(self, article_id: str) -> Article:
        return self.archive().article(article_id)

    def check_filters(self, filters: Filters) -> None:
        """Raise ``BadInput`` for dates the archive cannot read, before they are used."""
        from askarchive.archive import Archive

        Archive.explicit_window(filters.since, filters.until)

    # -- asking -----------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Answer ``question`` as a follow-up of ``turns``; the caller records the turn."""
        f = self.filters
        conv = self.archive().conversation(since=f.since, until=f.until, source=f.source)
        conv.turns = list(self.turns)
        extra = {"model": self.llm_model} if self.llm_model else {}
        return conv.ask(question, llm=self.llm, on_token=on_token, cancel=cancel, **extra)

    def record(self, question: str, answer: Answer) -> None:
        self.turns.append(Turn(question, answer.query_used, answer.text, answer.window))

    def close(self) -> None:
        with self._lock:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
                self._roots = None
