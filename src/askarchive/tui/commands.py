"""Command palette entries: every key binding of the current screen, plus filter commands.

Typing ``since 2016``, ``until 2016-06`` or ``source syria`` in the palette offers to set that
filter directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from askarchive.safe import visible

_FILTER = re.compile(r"\s*(since|until|source)\s*[:=]?\s+(\S.*?)\s*$", re.IGNORECASE)


class ChatCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        from askarchive.tui.screens.chat import ChatScreen

        screen = self.screen
        out: list[tuple[str, Callable[[], Any], str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            b = active.binding
            if not b.id or not b.description or b.id in seen:
                continue
            seen.add(b.id)
            keys = b.key_display or self.app.get_key_display(b)
            out.append((b.description, partial(self._run, active.node, b.action), f"key: {keys}"))
        if isinstance(screen, ChatScreen):
            out.append(
                ("Clear filters", screen.action_clear_filters, "ask the whole archive again")
            )
        return out

    async def _run(self, node: Any, action: str) -> None:
        await self.app.run_action(action, node)

    async def discover(self) -> Hits:
        for name, command, help_text in self._commands():
            yield DiscoveryHit(Content(name), command, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        from askarchive.tui.screens.chat import ChatScreen

        matcher = self.matcher(query)
        for name, command, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, text=name, help=help_text)
        m = _FILTER.match(query)
        if m and isinstance(self.screen, ChatScreen):
            field, value = m.group(1).lower(), m.group(2)
            label = visible(f"Filter {field}: {value}")
            yield Hit(
                1.0,
                Content(label),
                partial(self.screen.set_filter_field, field, value),
                text=label,
                help="applies to every question until cleared",
            )
