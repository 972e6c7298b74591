"""A small modal that asks for one line of text (a session name, a folder to index)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from askarchive.safe import visible


class PromptScreen(ModalScreen[str | None]):
    """Dismisses with the text typed (Enter) or None (Esc)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__(classes="prompt")
        self.title_text = visible(title)
        self.value = visible(value)  # a session title: shown, never sent to the terminal
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(self.title_text, style="bold"))
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(Text("Enter to confirm · Esc to cancel", style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
