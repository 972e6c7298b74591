"""One question in, one grounded ``Answer`` out: rewrite, retrieve, answer, fall back.

Kept apart from ``archive.py`` so the facade stays a list of user actions and this file holds the
policy: follow-ups are rewritten (by the LLM when one is configured, else by rules), the window
from the question or the conversation is applied, and an LLM failure degrades to an extractive
answer with a one-line notice instead of an error.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from askarchive.answer.llm.config import LLMConfig
from askarchive.errors import LLMUnavailable
from askarchive.models import Answer, DateWindow, Turn

if TYPE_CHECKING:
    from askarchive.embed.embedding import Embedder
    from askarchive.search.retriever import Retriever

DateArg = str | dt.date | None
# The since/until flags as a window (None when neither is given); raises BadInput on bad dates.
WindowResolver = Callable[[DateArg, DateArg], DateWindow | None]


def _llm_config(llm: LLMConfig | str | bool | None, model: str | None) -> LLMConfig | None:
    if llm is False:
        return None
    if isinstance(llm, LLMConfig):
        return llm
    return LLMConfig.resolve(url=llm if isinstance(llm, str) else None, model=model)


def answer_question(
    question: str,
    turns: Sequence[Turn],
    *,
    retriever: Retriever,
    embedder: Embedder,
    explicit_window: WindowResolver,
    since: DateArg,
    until: DateArg,
    llm: LLMConfig | str | bool | None,
    model: str | None,
    on_token: Callable[[str], None] | None,
    cancel: threading.Event | None,
    source: str | None,
    k: int,
) -> Answer:
    """Answer ``question`` after ``turns`` with what an open archive hands over: its retriever,
    its embedder (for the query vector and the LLM answer's checks) and how it reads the
    since/until flags. The archive itself is not passed, so this module never imports it."""
    from askarchive.answer.extractive import extractive_answer
    from askarchive.answer.followup import rewrite
    from askarchive.search.querydates import merge, parse_window

    config = _llm_config(llm, model)
    notice: str | None = None

    rw = rewrite(question, turns)
    query, window = rw.query, rw.window
    if config is not None and rw.followup:
        from askarchive.answer.llm.answer import rewrite_query

        try:
            written = rewrite_query(config, question, turns)
            query, parsed = parse_window(written)
            if parsed is not None and parsed.use == "hint":
                query = written.strip()
            window = parsed or window
        except LLMUnavailable as exc:
            notice = f"LLM unavailable ({exc}); follow-up rewritten by rules"

    # Explicit since/until (flags, filters) win over any window read from the words.
    explicit = explicit_window(since, until)
    window = merge(explicit, window) if explicit else window
    qvec = embedder.encode([query])[0]
    # A window read from words ranks (or, naming publication, filters and widens when it
    # matches too little); the passages carry the window as it was finally used.
    passages = retriever.search(query, k, window=window, source=source, qvec=qvec)
    if passages:
        window = passages[0].window

    if config is not None and passages:
        from askarchive.answer.llm.answer import llm_answer

        try:
            answer = llm_answer(
                question,
                passages,
                config,
                embed=embedder.encode,
                on_token=on_token,
                cancel=cancel,
                window=window,
                query_used=query,
            )
            if notice:
                answer.notice = notice
            return answer
        except LLMUnavailable as exc:
            fallback = f"LLM unavailable ({exc}); showing an extractive answer"
            notice = f"{notice}; {fallback}" if notice else fallback

    # No ``embed``: embedding the candidate sentences dominated the answer step, and words plus
    # the passages' similarity rank them as well (extractive.py; figures in BENCHMARKS.md).
    answer = extractive_answer(question, passages, window=window, query_used=query)
    answer.notice = notice
    return answer
