"""One exchange on screen: the question, what was searched, and the answer with [n] markers."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from askarchive.answer.markdown import (
    abstention_markdown,
    answer_markdown,
    escape_markdown,
    is_finished_answer,
)
from askarchive.models import Answer
from askarchive.safe import visible
from askarchive.tui.widgets.sources import app_roots


def describe_search(answer: Answer) -> Text:
    """'searched: <query> · dates: <window, where from, hint or filter>' as plain text."""
    text = Text("searched: ", style="dim")
    text.append(visible(answer.query_used or "—"), style="italic")
    w = answer.window
    if w is not None:
        text.append(" · dates: ", style="dim")
        text.append(visible(w.explain()))
    return text


class TurnView(Vertical, can_focus=True):
    """A question and its answer. Focus or click selects it (the sources panel follows)."""

    FOCUS_ON_CLICK = False

    class Selected(Message):
        def __init__(self, view: TurnView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, question: str, answer: Answer | None = None) -> None:
        super().__init__(classes="turn")
        self.question = question
        self.answer: Answer | None = answer
        self.state = "done" if answer is not None else "pending"
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        question = visible(self.question)
        yield Static(Text.assemble(("› ", "bold"), (question, "bold")), classes="question")
        yield Static(Text("searching…", style="dim"), classes="meta")
        yield Markdown(classes="body", open_links=False)
        yield Static("", classes="notice")

    def on_mount(self) -> None:
        if self.answer is not None:
            self.show_answer(self.answer)

    @property
    def body(self) -> Markdown:
        return self.query_one(".body", Markdown)

    def _notice(self, text: str, kind: str) -> None:
        notice = self.query_one(".notice", Static)
        notice.update(Text(visible(text)))
        notice.set_classes(f"notice -{kind}" if text else "notice")

    async def append_token(self, token: str) -> None:
        """Stream a piece of answer text in (called via ``call_from_thread``)."""
        if self.state != "pending" or is_finished_answer(token):
            return  # a whole extractive answer: ``finish`` shows it, rendered
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        await self._stream.write(visible(escape_markdown(token, flatten=False)))

    async def _end_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def finish(self, answer: Answer) -> None:
        await self._end_stream()
        self.show_answer(answer)

    def show_answer(self, answer: Answer) -> None:
        self.answer = answer
        self.state = "done"
        self.query_one(".meta", Static).update(describe_search(answer))
        if answer.abstained:
            self.body.update(visible(abstention_markdown(answer, app_roots(self))))
        else:
            self.body.update(visible(answer_markdown(answer)))
        self.set_class(answer.abstained, "-abstained")
        self._notice(answer.notice or "", "info")

    async def cancelled(self) -> None:
        self.state = "cancelled"
        await self._end_stream()
        self.query_one(".meta", Static).update(Text("cancelled", style="dim"))
        self._notice("cancelled: ask again, or ask something else", "warning")

    async def failed(self, message: str) -> None:
        self.state = "failed"
        await self._end_stream()
        self.query_one(".meta", Static).update(Text("no answer", style="dim"))
        self._notice(message, "error")

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))

    def on_click(self) -> None:
        # Select without taking focus, so typing still goes to the question box.
        self.post_message(self.Selected(self))
