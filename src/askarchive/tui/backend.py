"""What the chat screens need from the archive, behind one thread-safe object (no textual here).

Screens call these methods from worker threads; the ``Archive`` is opened lazily on first use so
the app can draw before the index (or the model) is touched. The backend holds the one
``Conversation`` on screen and the session store it is saved in: screens and widgets reach
both only through it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askarchive.models import Answer, Article, Filters, IndexReport
from askarchive.sessions import Session, SessionStore, StoredTurn

if TYPE_CHECKING:
    from askarchive.archive import Archive
    from askarchive.conversation import Conversation

ArchiveOpener = Callable[[bool], "Archive"]

__all__ = ["ArchiveOpener", "ChatBackend", "Filters", "Session", "StoredTurn"]


class ChatBackend:
    """One archive, the conversation on screen (turns and filters) and the saved sessions."""

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
        self.sessions: SessionStore | None = None  # None: conversations are not saved
        self.session_id: int | None = None  # the saved session the conversation is, if any
        self._conversation: Conversation | None = None
        self._archive: Archive | None = None
        self._roots: list[Path] | None = None
        self._lock = threading.Lock()  # guards the archive
        self._conversation_lock = threading.Lock()  # apart: opening the archive can be slow

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

    # -- the conversation -------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The conversation on screen. Made on first use: importing the facade is not free, and
        the app draws first."""
        with self._conversation_lock:
            if self._conversation is None:
                # Only the models: the archive (numpy, SQLite) opens at the first question.
                from askarchive.conversation import Conversation

                self._conversation = Conversation(self.archive)
            return self._conversation

    @property
    def filters(self) -> Filters:
        c = self.conversation
        since, until = (None if d is None else str(d) for d in (c.since, c.until))
        return Filters.of(since, until, c.source)

    @filters.setter
    def filters(self, filters: Filters) -> None:
        self.set_filters(filters)

    def set_filters(self, filters: Filters) -> None:
        """Apply ``filters`` to every following question, and save them with the open session.

        Raises ``BadInput`` (before anything changes) for dates the archive cannot read.
        """
        from askarchive.archive import Archive

        Archive.explicit_window(filters.since, filters.until)
        self._apply(filters)
        if self.sessions is not None and self.session_id is not None:
            self.sessions.set_filters(self.session_id, filters.since, filters.until, filters.source)

    def _apply(self, filters: Filters) -> None:
        c = self.conversation
        c.since, c.until, c.source = filters.since, filters.until, filters.source

    def ask(
        self,
        question: str,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Answer ``question`` as a follow-up of the conversation; ``record`` keeps the turn
        (the screen calls it once the answer is shown, so a cancelled one leaves no turn)."""
        extra = {"model": self.llm_model} if self.llm_model else {}
        return self.conversation.answer(
            question, llm=self.llm, on_token=on_token, cancel=cancel, **extra
        )

    def record(self, question: str, answer: Answer) -> str | None:
        """Add the turn to the conversation, then save it; the saved session's title, or None
        when sessions are off. A failed save raises ``AskArchiveError``; the turn stays."""
        self.conversation.record(question, answer)
        store = self.sessions
        if store is None:
            return None
        if self.session_id is None:
            self.session_id = store.create().id
            f = self.filters
            store.set_filters(self.session_id, f.since, f.until, f.source)
        store.append(self.session_id, question, answer)
        return store.get(self.session_id).title

    # -- saved sessions ---------------------------------------------------------------------------
    def open_sessions(self, path: Path, clock: Callable[[], dt.datetime] | None = None) -> None:
        """Save conversations in the SQLite file ``path`` (raises ``AskArchiveError``/``OSError``
        when it cannot be used; the chat then works without saving)."""
        self.sessions = SessionStore(path, clock=clock)

    def close_sessions(self) -> None:
        if self.sessions is not None:
            self.sessions.close()

    def last_session_id(self) -> int | None:
        """The session open when the chat was last used, to reopen on start."""
        if self.sessions is None:
            return None
        last = self.sessions.last()
        return last.id if last is not None else None

    def open_session(self, session_id: int) -> tuple[Session, list[StoredTurn]]:
        """Make the saved session the conversation on screen: its turns and its filters.

        Raises ``BadInput`` (before anything changes) for a session that no longer exists.
        """
        store = self._store()
        session = store.get(session_id)
        turns = store.turns(session_id)
        self.conversation.restore((t.question, t.answer) for t in turns)
        self._apply(session.filters)
        self.session_id = session.id
        store.mark_opened(session.id)
        return session, turns

    def new_session(self) -> None:
        """Start a new conversation; the filters stay. It is saved at its first answer."""
        self.conversation.reset()
        self.session_id = None

    def current_session(self) -> Session | None:
        """The open session as saved now (it may have been renamed); None when the
        conversation is new or its session was deleted."""
        if self.sessions is None or self.session_id is None:
            return None
        return next((s for s in self.sessions.list() if s.id == self.session_id), None)

    def list_sessions(self) -> list[Session]:
        return self._store().list()

    def rename_session(self, session_id: int, title: str) -> Session:
        return self._store().rename(session_id, title)

    def delete_session(self, session_id: int) -> None:
        self._store().delete(session_id)

    def export_session(self, directory: Path) -> Path | None:
        """Write the open session as Markdown into ``directory``; None when there is none yet."""
        if self.sessions is None or self.session_id is None:
            return None
        return self.sessions.export(self.session_id, directory)

    def _store(self) -> SessionStore:
        if self.sessions is None:
            raise RuntimeError("sessions are off: callers check ChatBackend.sessions first")
        return self.sessions

    def close(self) -> None:
        with self._lock:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
                self._roots = None
