"""The manifest table: what an index was built with (format, model, chunking), its write
generation, the roots given to ``index``, and the highest chunk id ever handed out."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from askarchive.errors import StoreMismatch
from askarchive.store.database import SCHEMA_VERSION


def read(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM manifest").fetchall())


def _value(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM manifest WHERE key=?", (key,)).fetchone()
    return str(row[0]) if row else None


def _set(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO manifest VALUES (?, ?)", (key, value))


def write_new(con: sqlite3.Connection, model: str, dim: int, settings: Mapping[str, int]) -> None:
    """The manifest of a new index (call inside a write transaction)."""
    values = {
        "schema_version": str(SCHEMA_VERSION),
        "model": model,
        "dim": str(dim),
        "generation": "0",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **{k: str(v) for k, v in settings.items()},
    }
    con.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)", values.items())


def check(
    manifest: Mapping[str, str], root: Path, model: str, dim: int, settings: Mapping[str, int]
) -> None:
    """Raise ``StoreMismatch`` (naming the flag or rebuild that fixes it) unless the index was
    built in this format, with ``model`` and with these chunk ``settings``."""
    m = manifest
    fix = f"rebuild it with `askarchive index PATH --rebuild --index {root}`"
    if m.get("schema_version") != str(SCHEMA_VERSION):
        raise StoreMismatch(
            f"the index at {root} has format version {m.get('schema_version')}, "
            f"this askarchive reads version {SCHEMA_VERSION}; {fix}"
        )
    if m.get("model") != model or m.get("dim") != str(dim):
        raise StoreMismatch(
            f"the index at {root} was built with model {m.get('model')!r} "
            f"({m.get('dim')} dims), not {model!r}; pass --model {m.get('model')} or {fix}"
        )
    for key, value in settings.items():
        if m.get(key) != str(value):
            raise StoreMismatch(
                f"the index at {root} was built with {key}={m.get(key)}, not {value}; {fix}"
            )


def roots(con: sqlite3.Connection) -> list[Path]:
    raw = _value(con, "roots")
    return [Path(p) for p in json.loads(raw)] if raw else []


def set_roots(con: sqlite3.Connection, paths: list[str]) -> None:
    _set(con, "roots", json.dumps(paths, ensure_ascii=False))


def generation(con: sqlite3.Connection) -> int:
    raw = _value(con, "generation")
    return int(raw) if raw else 0


def set_generation(con: sqlite3.Connection, gen: int) -> None:
    con.execute("UPDATE manifest SET value=? WHERE key='generation'", (str(gen),))


def last_chunk_id(con: sqlite3.Connection) -> int:
    """The highest chunk id ever handed out, even if that chunk has since been deleted."""
    raw = _value(con, "last_chunk_id")
    top = con.execute("SELECT MAX(id) FROM chunks").fetchone()[0] or 0
    return max(int(top), int(raw) if raw else 0)


def set_last_chunk_id(con: sqlite3.Connection, cid: int) -> None:
    _set(con, "last_chunk_id", str(cid))
