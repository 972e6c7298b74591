"""A bar of three inputs for the filters applied to every question: since, until, source."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

from askarchive.models import Filters
from askarchive.safe import visible


class FilterBar(Horizontal):
    """Hidden until asked for. Enter applies (empty fields clear); Esc closes without applying."""

    BINDINGS = [Binding("escape", "close", "Close filters", id="filters.close")]

    class Applied(Message):
        def __init__(self, filters: Filters) -> None:
            super().__init__()
            self.filters = filters

    class Closed(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Static(Text("Filters"), classes="label")
        yield Input(placeholder="since YYYY[-MM[-DD]]", id="filter-since", compact=True)
        yield Input(placeholder="until YYYY[-MM[-DD]]", id="filter-until", compact=True)
        yield Input(placeholder="source: part of path", id="filter-source", compact=True)

    def load(self, filters: Filters) -> None:
        self.query_one("#filter-since", Input).value = visible(filters.since or "")
        self.query_one("#filter-until", Input).value = visible(filters.until or "")
        self.query_one("#filter-source", Input).value = visible(filters.source or "")

    def current(self) -> Filters:
        return Filters.of(
            self.query_one("#filter-since", Input).value,
            self.query_one("#filter-until", Input).value,
            self.query_one("#filter-source", Input).value,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(self.current()))

    def action_close(self) -> None:
        self.post_message(self.Closed())
