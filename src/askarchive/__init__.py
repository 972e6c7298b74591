"""askarchive: ask questions of a news archive, offline, with exact citations.

Importing this package is cheap: the embedding model, FAISS and SQLite files are only touched
when an ``Archive`` method needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from askarchive.errors import AskArchiveError
from askarchive.models import (
    Answer,
    AnswerSentence,
    Article,
    Chunk,
    Citation,
    DateWindow,
    IndexReport,
    Passage,
    Skipped,
    Stats,
    Turn,
)

if TYPE_CHECKING:
    from askarchive.archive import Archive

__all__ = [
    "Answer",
    "AnswerSentence",
    "Archive",
    "Article",
    "AskArchiveError",
    "Chunk",
    "Citation",
    "DateWindow",
    "IndexReport",
    "Passage",
    "Skipped",
    "Stats",
    "Turn",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Archive pulls in numpy and sqlite helpers; keep `import askarchive` instant.
    if name == "Archive":
        from askarchive.archive import Archive

        return Archive
    raise AttributeError(name)
