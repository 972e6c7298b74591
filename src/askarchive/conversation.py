"""``Conversation``: questions that build on each other, over one ``Archive``.

It owns the turns of a conversation; the CLI's ``ask`` has none, the chat holds one, and Python
users get one from ``Archive.conversation()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from askarchive.models import Answer, Turn

if TYPE_CHECKING:
    from askarchive.archive import Archive


class Conversation:
    """Questions that build on each other: each ``ask`` sees the earlier turns.

    The one owner of a conversation's turns. The chat holds one as well and puts a reopened
    session back with ``restore``; a turn is only ever built and added by ``record``.
    """

    def __init__(
        self,
        archive: Archive | Callable[[], Archive],
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        source: str | None = None,
    ) -> None:
        # A function in place of the archive opens it at the first question: the chat keeps a
        # conversation (a reopened session, its filters) before it has touched the index.
        self._archive = archive
        self.since = since
        self.until = until
        self.source = source
        self.turns: list[Turn] = []

    @property
    def archive(self) -> Archive:
        found = self._archive
        return found() if callable(found) else found

    def answer(self, question: str, **kwargs: object) -> Answer:
        """Answer ``question`` as the next turn without recording it; ``record`` adds it once it
        is kept (the chat drops an answer the user cancelled). Keyword arguments go to
        ``Archive.ask``; since, until and source default to the conversation's."""
        kwargs.setdefault("since", self.since)
        kwargs.setdefault("until", self.until)
        kwargs.setdefault("source", self.source)
        return self.archive.ask(question, history=list(self.turns), **kwargs)  # type: ignore[arg-type]

    def record(self, question: str, answer: Answer) -> None:
        """Add an answered question as the latest turn: the next follow-up builds on it."""
        self.turns.append(Turn(question, answer.query_used, answer.text, answer.window))

    def ask(self, question: str, **kwargs: object) -> Answer:
        """Answer ``question`` as a follow-up of the earlier turns and record it."""
        answer = self.answer(question, **kwargs)
        self.record(question, answer)
        return answer

    def restore(self, exchanges: Iterable[tuple[str, Answer]]) -> None:
        """Start again from saved (question, answer) pairs, oldest first."""
        self.reset()
        for question, answer in exchanges:
            self.record(question, answer)

    def reset(self) -> None:
        self.turns.clear()
