"""The one-line status bar: model state, filters, session and what is running."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from askarchive.safe import visible


class StatusLine(Static):
    """Shows a few named fields; every value is plain text (never parsed as markup), its control
    characters shown (``safe.visible``): values quote session titles, paths and filters."""

    FIELDS = ("model", "activity", "filters", "session")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._values: dict[str, str] = {}

    def set(self, **values: str | None) -> None:
        for key, value in values.items():
            if key not in self.FIELDS:
                raise KeyError(key)
            if value:
                self._values[key] = value
            else:
                self._values.pop(key, None)
        self.update(self.render_text())

    def get(self, key: str) -> str:
        return self._values.get(key, "")

    def render_text(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for key in self.FIELDS:
            value = self._values.get(key)
            if not value:
                continue
            if text:
                text.append(" │ ", style="dim")
            text.append(visible(value), style="bold" if key == "activity" else "")
        return text
