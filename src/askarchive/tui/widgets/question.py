"""The question box: an Input that remembers earlier questions (up/down walks through them)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class QuestionInput(Input):
    _HISTORY = Binding.Group("History", compact=True)
    BINDINGS = [
        Binding(
            "up",
            "history(-1)",
            "Earlier question",
            key_display="↑",
            id="question.older",
            group=_HISTORY,
        ),
        Binding(
            "down",
            "history(1)",
            "Later question",
            key_display="↓",
            id="question.newer",
            group=_HISTORY,
        ),
    ]

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(placeholder=placeholder, id=id, select_on_focus=False)
        self.history: list[str] = []
        self._pos = 0
        self._draft = ""

    def remember(self, question: str) -> None:
        """Add a question to the history (consecutive repeats are kept once)."""
        question = question.strip()
        if question and (not self.history or self.history[-1] != question):
            self.history.append(question)
        self._pos = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._pos == len(self.history):
            # Leaving the draft line: keep what was typed so "down" can bring it back.
            self._draft = self.value
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self.history[self._pos] if self._pos < len(self.history) else self._draft
        self.cursor_position = len(self.value)
