"""Chat sessions kept in one SQLite file: each turn stores the question and the full answer.

The answer is stored as ``Answer.to_dict()`` JSON so a reopened session shows exactly what was
shown before (text, citations, rewritten query, date window) without asking the index again.
This is the store only: the turns a follow-up builds on live in a ``Conversation``, and the
Markdown an export is written in comes from ``answer.markdown``. No textual import here: the
TUI and any other front end share this store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askarchive.answer.markdown import answer_markdown, cited_sentences, escape_markdown
from askarchive.errors import BadInput, StoreCorrupt
from askarchive.models import Answer, AnswerSentence, Citation, DateWindow, Filters, Passage
from askarchive.safe import visible

SCHEMA_VERSION = 1
DEFAULT_TITLE = "New conversation"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    opened TEXT,
    since TEXT,
    until TEXT,
    source TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
"""


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    title: str
    created: str
    updated: str
    turns: int = 0
    since: str | None = None
    until: str | None = None
    source: str | None = None

    @property
    def filters(self) -> Filters:
        """The filters saved with the session, applied again when it is reopened."""
        return Filters.of(self.since, self.until, self.source)


@dataclass(frozen=True, slots=True)
class StoredTurn:
    id: int
    session_id: int
    seq: int
    question: str
    answer: Answer
    created: str


class SessionStore:
    """Sessions and their turns. Safe to call from several threads (one lock, short calls)."""

    def __init__(self, path: str | Path, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: dt.datetime.now().astimezone())
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA foreign_keys = ON")
            version = self._con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"{self.path} was written by a newer askarchive; upgrade, or move the file away"
                )
            self._con.executescript(_SCHEMA)
            self._con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(
                f"cannot read the sessions file {self.path} ({exc}); move it away to start afresh"
            ) from exc

    # -- plumbing -------------------------------------------------------------------------------
    def _now(self) -> str:
        return self._clock().isoformat(timespec="seconds")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._con.execute(sql, args)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock:
            return self._con.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -------------------------------------------------------------------------------
    _SELECT = (
        "SELECT s.*, (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) AS n FROM sessions s"
    )

    @staticmethod
    def _session(row: sqlite3.Row) -> Session:
        return Session(
            row["id"],
            row["title"],
            row["created"],
            row["updated"],
            row["n"],
            row["since"],
            row["until"],
            row["source"],
        )

    def create(self, title: str | None = None) -> Session:
        now = self._now()
        with self._lock:
            cur = self._con.execute(
                "INSERT INTO sessions (title, created, updated, opened) VALUES (?, ?, ?, ?)",
                ((title or "").strip() or DEFAULT_TITLE, now, now, now),
            )
            new_id = int(cur.lastrowid or 0)
        return self.get(new_id)

    def get(self, session_id: int) -> Session:
        rows = self._query(f"{self._SELECT} WHERE s.id = ?", (session_id,))
        if not rows:
            raise BadInput(f"no chat session {session_id}; list them on the sessions screen")
        return self._session(rows[0])

    def list(self) -> list[Session]:
        """All sessions, most recently active first."""
        return [
            self._session(r) for r in self._query(f"{self._SELECT} ORDER BY updated DESC, id DESC")
        ]

    def last(self) -> Session | None:
        """The session the user had open most recently, if any."""
        rows = self._query(f"{self._SELECT} ORDER BY opened DESC, updated DESC, id DESC LIMIT 1")
        return self._session(rows[0]) if rows else None

    def mark_opened(self, session_id: int) -> None:
        self._write("UPDATE sessions SET opened = ? WHERE id = ?", (self._now(), session_id))

    def rename(self, session_id: int, title: str) -> Session:
        title = title.strip()
        if not title:
            raise BadInput("a session title cannot be empty; type a name")
        if not self._write("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id)):
            raise BadInput(f"no chat session {session_id}; list them on the sessions screen")
        return self.get(session_id)

    def delete(self, session_id: int) -> None:
        if not self._write("DELETE FROM sessions WHERE id = ?", (session_id,)):
            raise BadInput(f"no chat session {session_id}; list them on the sessions screen")

    def set_filters(
        self, session_id: int, since: str | None, until: str | None, source: str | None
    ) -> None:
        """Remember the filters so a reopened session applies them again."""
        self._write(
            "UPDATE sessions SET since = ?, until = ?, source = ? WHERE id = ?",
            (since or None, until or None, source or None, session_id),
        )

    # -- turns ----------------------------------------------------------------------------------
    def turns(self, session_id: int) -> list[StoredTurn]:
        rows = self._query("SELECT * FROM turns WHERE session_id = ? ORDER BY seq", (session_id,))
        return [
            StoredTurn(
                r["id"],
                r["session_id"],
                r["seq"],
                r["question"],
                answer_from_dict(json.loads(r["answer"])),
                r["created"],
            )
            for r in rows
        ]

    def append(self, session_id: int, question: str, answer: Answer) -> StoredTurn:
        """Add a finished turn; the first question also names an untitled session."""
        now = self._now()
        payload = json.dumps(answer.to_dict(), ensure_ascii=False)
        with self._lock:
            con = self._con
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "SELECT title FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None:
                    raise BadInput(f"no chat session {session_id}; start a new one")
                seq = con.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?",
                    (session_id,),
                ).fetchone()[0]
                cur = con.execute(
                    "INSERT INTO turns (session_id, seq, question, answer, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (session_id, seq, question, payload, now),
                )
                title = row[0] if row[0] != DEFAULT_TITLE else _title_from(question)
                con.execute(
                    "UPDATE sessions SET updated = ?, title = ? WHERE id = ?",
                    (now, title, session_id),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return StoredTurn(int(cur.lastrowid or 0), session_id, seq, question, answer, now)

    # -- export ---------------------------------------------------------------------------------
    def export_markdown(self, session_id: int) -> str:
        """The whole conversation as Markdown: each question, its answer and its sources."""
        session = self.get(session_id)
        lines = [f"# {escape_markdown(session.title)}", ""]
        if session.filters.active:
            lines += [f"Filters: {escape_markdown(session.filters.describe())}", ""]
        for turn in self.turns(session_id):
            a = turn.answer
            lines += [f"## {turn.seq}. {escape_markdown(turn.question)}", ""]
            meta = [f"searched for: {escape_markdown(a.query_used)}"]
            if a.window is not None:
                meta.append(f"dates: {a.window.describe()}")
            lines += ["*" + " · ".join(meta) + "*", "", answer_markdown(a), ""]
            if a.notice:
                lines += [f"> {escape_markdown(a.notice)}", ""]
            if a.citations:
                lines += ["Sources:", ""]
                for n, c in enumerate(a.citations, 1):
                    where = f"{c.path}:{c.start}-{c.end}"
                    url = f" <{c.url}>" if c.url else ""
                    when = c.date.isoformat() if c.date else "undated"
                    lines.append(
                        f"{n}. {escape_markdown(c.title)} ({when}), {escape_markdown(where)}{url}"
                    )
                    for quote in cited_sentences(a, n):
                        lines.append(f"   > {escape_markdown(quote)}")
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def export(self, session_id: int, directory: str | Path) -> Path:
        """Write the Markdown export into ``directory`` and return the file path."""
        session = self.get(session_id)
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", session.title.lower()).strip("-")[:48] or "session"
        path = out_dir / f"askarchive-{session.id}-{slug}.md"
        # A file people ``cat``: control characters from articles are written out visibly.
        path.write_text(visible(self.export_markdown(session_id)), encoding="utf-8")
        return path


def _title_from(question: str) -> str:
    words = " ".join(question.split())
    return words if len(words) <= 60 else words[:59].rstrip() + "…"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _window(data: dict[str, Any] | None) -> DateWindow | None:
    if not data:
        return None
    return DateWindow(
        _date(data.get("since")),
        _date(data.get("until")),
        data.get("origin", "explicit"),
        data.get("phrase"),
        data.get("use", "filter"),
        data.get("note"),
    )


def _citation(data: dict[str, Any]) -> Citation:
    return Citation(
        data["article_id"],
        data.get("title", ""),
        _date(data.get("date")),
        data.get("path", ""),
        data.get("url"),
        int(data.get("start", 0)),
        int(data.get("end", 0)),
    )


def _passage(data: dict[str, Any]) -> Passage:
    return Passage(
        text=data.get("text", ""),
        score=float(data.get("score", 0.0)),
        article_id=data["article_id"],
        chunk_id=int(data.get("chunk_id", 0)),
        citation=_citation(data["citation"]),
        window=_window(data.get("window")),
        duplicates=tuple(_citation(c) for c in data.get("duplicates", [])),
        dense_rank=data.get("dense_rank"),
        keyword_rank=data.get("keyword_rank"),
        similarity=data.get("similarity"),
    )


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """Inverse of ``Answer.to_dict()``."""
    known = set(AnswerSentence.__slots__)  # type: ignore[attr-defined]
    return Answer(
        text=data.get("text", ""),
        sentences=[
            AnswerSentence(**{k: v for k, v in s.items() if k in known})
            for s in data.get("sentences", [])
        ],
        citations=[_citation(c) for c in data.get("citations", [])],
        abstained=bool(data.get("abstained", False)),
        query_used=data.get("query_used", ""),
        window=_window(data.get("window")),
        related=[_passage(p) for p in data.get("related", [])],
        notice=data.get("notice"),
        mode=data.get("mode", "extractive"),
        lead=AnswerSentence(**{k: v for k, v in lead.items() if k in known})
        if isinstance(lead := data.get("lead"), dict)
        else None,
    )
