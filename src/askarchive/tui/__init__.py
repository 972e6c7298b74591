"""The terminal chat (``askarchive chat``). Importing this package does not import textual."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_chat(
    index: str | Path | None = None,
    archive: str | Path | None = None,
    llm: Any = None,
    *,
    llm_model: str | None = None,
    model: str | None = None,
) -> None:
    """Open the chat on the index in ``index``; index ``archive`` first if the index is empty.

    ``llm`` is an endpoint URL, an ``LLMConfig``, False (never) or None (env/config file);
    ``llm_model`` names the LLM model and ``model`` the embedding model folder.
    """
    from askarchive.tui.app import AskArchiveApp
    from askarchive.tui.backend import ChatBackend

    backend = ChatBackend.for_paths(index, archive, llm, llm_model, model)
    try:
        AskArchiveApp(backend).run()
    finally:
        backend.close()


__all__ = ["run_chat"]
