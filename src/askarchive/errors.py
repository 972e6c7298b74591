"""Errors a user can cause. Each message is one line and names the fix.

The CLI prints ``str(error)`` and exits non-zero; the TUI shows it as a notification. Anything
that is *not* an ``AskArchiveError`` is a bug and may show a traceback.
"""

from __future__ import annotations


class AskArchiveError(Exception):
    """Base class: ``str(err)`` is a single line a user can act on."""

    exit_code = 1


class StoreMissing(AskArchiveError):
    """No index where one was expected."""


class StoreEmpty(AskArchiveError):
    """The index exists but holds no articles."""


class StoreMismatch(AskArchiveError):
    """The index was built with another model, chunking or format version."""


class StoreCorrupt(AskArchiveError):
    """The index files cannot be read. ``reason`` says what is wrong, without the fix."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class StoreBusy(AskArchiveError):
    """Another process is writing to the index."""

    exit_code = 3


class BadInput(AskArchiveError):
    """A bad argument: empty query, bad date, k < 1, missing path."""

    exit_code = 2


class NothingIndexed(AskArchiveError):
    """Every input was skipped."""


class LLMUnavailable(AskArchiveError):
    """The configured LLM endpoint failed; callers fall back to extractive answers."""
