"""Dates read from a question's words, used to rank rather than to filter.

"What were Acme's revenues in the first quarter of 1986?" names when something happened; the
archive reports it days or months later. So a window read from words is a *hint*: articles
published in the period, or soon after it, rank above the others, and none is removed. Only an
explicit since/until (or words that name publication, see ``querydates``) filters.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from askarchive.models import DateWindow

# An article published in the period, or within a few days after it, scores up to
# (1 + HINT_WEIGHT) times its fused relevance; the credit then falls linearly to nothing by
# FADE_DAYS after the period. "A few days" is the period's own length, at least GRACE_DAYS: a
# match played on a Saturday is reported that week, the figures for March within a month.
HINT_WEIGHT = 1.0
GRACE_DAYS = 3
FADE_DAYS = 92


def closeness(days: np.ndarray, window: DateWindow) -> np.ndarray:
    """How well each publication day (``datetime64[D]``, NaT when undated) fits ``window``, 0..1.

    1 inside the window and for a grace period after it (the window's length, at least
    ``GRACE_DAYS``); then falling linearly to 0 at ``FADE_DAYS`` after it; 0 before it and for
    undated articles.
    """
    out = np.zeros(len(days), dtype=np.float32)
    dated = ~np.isnat(days)
    if not dated.any():
        return out
    ok = dated.copy()
    if window.since is not None:
        ok &= days >= np.datetime64(window.since, "D")
    if window.until is None:
        out[ok] = 1.0
        return out
    length = (window.until - window.since).days + 1 if window.since is not None else FADE_DAYS
    grace = min(max(GRACE_DAYS, length), FADE_DAYS - 1)
    after = (days - np.datetime64(window.until, "D")).astype("timedelta64[D]").astype(np.float64)
    after = np.where(dated, after, 0.0)
    fade = np.clip((FADE_DAYS - after) / (FADE_DAYS - grace), 0.0, 1.0)
    out[ok] = np.where(after[ok] <= grace, 1.0, fade[ok])
    return out


def boost(days: np.ndarray, window: DateWindow) -> np.ndarray:
    """Multipliers for fused scores: 1 for no fit, up to ``1 + HINT_WEIGHT``."""
    return 1.0 + HINT_WEIGHT * closeness(days, window)


def widened(window: DateWindow, found: int) -> DateWindow:
    """``window`` turned from a filter into a hint, saying why: it matched too little."""
    what = "nothing" if found == 0 else f"only {found} passage{'s' * (found != 1)}"
    note = f"{what} published then, so all dates were searched, those nearest first"
    return replace(window, use="hint", note=note)
