"""Test helpers: small archives written on the fly, and store invariants (fakes.py holds the
stand-in embedders)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TOPICS = [
    (
        "Ceasefire talks resume in Geneva",
        "Envoys met in Geneva on Monday to restart ceasefire talks.",
    ),
    (
        "Oil prices fall after OPEC meeting",
        "Brent crude fell 4 percent after the OPEC meeting in Vienna.",
    ),
    (
        "Drought hits wheat harvest in Morocco",
        "Farmers in Morocco reported the worst wheat harvest in decades.",
    ),
    (
        "New metro line opens in Riyadh",
        "The first line of the Riyadh metro carried 20,000 passengers.",
    ),
    (
        "Lebanon names new central bank governor",
        "Parliament approved the nomination after months of delay.",
    ),
    ("Desalination plant approved for Gaza", "Donors pledged 500 million dollars for the plant."),
]


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return path


def make_archive(folder: Path, n: int = 6, sentences: int = 12) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        title, lead = TOPICS[i % len(TOPICS)]
        body = " ".join(
            f"{lead} Paragraph {i}.{j} adds detail number {j * 7 + i} about {title.split()[0]}."
            for j in range(sentences)
        )
        out.append(write_article(folder, f"article_{i:03d}.txt", f"{title} {i}", body))
    return out


def faiss_ids(store) -> set[int]:  # type: ignore[no-untyped-def]
    dense = store.dense_index()
    return set(dense.ids[dense.live].tolist())


def assert_consistent(store) -> None:  # type: ignore[no-untyped-def]
    """Every FAISS id has a chunk row and back; every chunk has its article and keyword row."""
    con = store.con
    chunk_ids = {r[0] for r in con.execute("SELECT id FROM chunks")}
    assert faiss_ids(store) == chunk_ids
    fts_ids = {r[0] for r in con.execute("SELECT rowid FROM chunks_fts")}
    assert fts_ids == chunk_ids
    orphans = con.execute(
        "SELECT COUNT(*) FROM chunks c LEFT JOIN articles a ON a.id = c.article_id "
        "WHERE a.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0
    empty = con.execute(
        "SELECT COUNT(*) FROM articles a "
        "WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.article_id = a.id)"
    ).fetchone()[0]
    assert empty == 0


def drain_pty(master: int) -> bytes:
    """Everything a child wrote to the terminal whose master side is ``master``, then close it."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks)


def isolate_user_dirs(monkeypatch: Any, tmp_path: Path) -> None:
    """No LLM endpoint from the environment, and config and data folders under ``tmp_path``:
    a chat under test never reads the real user's config file or writes their sessions."""
    from askarchive import locations
    from askarchive.answer.llm import config

    for name in (config.ENV_URL, config.ENV_MODEL, config.ENV_KEY):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(locations.CONFIG_DIR_ENV, str(tmp_path / "config"))
    monkeypatch.setenv("ASKARCHIVE_DATA_DIR", str(tmp_path / "data"))
