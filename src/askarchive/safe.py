"""Article text never drives the terminal.

Titles, bodies, paths, URLs, LLM replies and error messages that quote them are data. A terminal
reads some characters in them as commands: ESC starts a sequence that can clear the screen,
retitle the window or make text blink, BEL rings, CR rewrites the line, and on many terminals a
C1 character such as U+009B (CSI) does what ESC + ``[`` does. ``visible`` is the one function
every place that shows such text (the CLI's ``render`` module, the chat's widgets and screens,
error lines, the session export) passes it through; ``json_text`` is its counterpart for
``--json`` output.

Controls are shown as a Python-style escape (``\\x1b``) rather than as a glyph (``␛``): it is
plain ASCII, so every font and terminal shows it; it names the character exactly, C1 included
(Unicode's Control Pictures cover only C0 and DEL); and it reads the same as the article's bytes
do in ``repr`` and in a hex dump, so a user can search the source file for it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Unicode category Cc: C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F). Newline and tab
# lay text out and are kept. U+2028/U+2029 (line and paragraph separators) are not controls to a
# terminal, and nothing reads them as a command, so text keeps them.
_KEEP = frozenset("\n\t")
_CONTROLS = [c for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in _KEEP]
_VISIBLE = {chr(c): f"\\x{c:02x}" for c in _CONTROLS}
_FIND = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONTROLS) + "]")

# JSON escapes C0 itself; with ensure_ascii=False it leaves DEL, C1 and U+2028/U+2029 raw. Those
# only ever occur inside JSON strings, where \\uXXXX means the same character.
_JSON = {chr(c): f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)}
_JSON_FIND = re.compile("[\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    """``text`` with every control character except newline and tab written out as ``\\xNN``.

    The result holds no character a terminal acts on, so it can go to stdout, stderr or a
    Textual widget as it is. Text without controls (nearly all of it) comes back unchanged.
    """
    # One regex pass: ~1 µs for a title, ~15 ms per MB, and ``text`` itself back when it holds
    # no control character. (str.translate is ~4 µs for a title and ~250 ms per MB of non-ASCII.)
    return _FIND.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return _VISIBLE[match.group()]


def _json_escape(match: re.Match[str]) -> str:
    return _JSON[match.group()]


def json_text(obj: Any, *, indent: int | None = 2) -> str:
    """``obj`` as JSON (non-ASCII letters kept as they are) in which every control character is
    a ``\\uXXXX`` escape, so printing it cannot drive a terminal; ``json.loads`` gives back the
    exact text."""
    dumped = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _JSON_FIND.sub(_json_escape, dumped)


__all__ = ["json_text", "visible"]
