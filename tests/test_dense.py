"""The dense index: HNSW graph with exact fallback, masked deletions, never-reused chunk ids."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from askarchive import Archive
from askarchive.store import dense as faissindex
from askarchive.store.dense import DenseIndex
from tests.fakes import HashEmbedder
from tests.helpers import assert_consistent


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, n: int) -> list[int]:
    order = np.argsort(-(vecs @ q), kind="stable")[:n]
    return [int(ids[i]) for i in order]


@pytest.fixture
def graph() -> tuple[DenseIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 600)
    ids = np.arange(1000, 1600, dtype=np.int64)
    dense = DenseIndex.empty(32)
    dense.add(ids, vecs)
    return dense, ids, vecs


def test_exact_and_graph_search_agree(
    graph: tuple[DenseIndex, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    dense, ids, vecs = graph
    q = vecs[17]
    exact = [i for i, _ in dense.search(q, 10, None)]
    assert exact == _exact(vecs, ids, q, 10)
    monkeypatch.setattr(faissindex, "EXACT_LIMIT", 0)  # force the graph walk
    walked = [i for i, _ in dense.search(q, 10, None)]
    assert walked[0] == 1017
    assert len(set(walked) & set(exact)) >= 9


def test_filtered_graph_search_never_returns_fewer_than_exist(
    graph: tuple[DenseIndex, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    dense, ids, vecs = graph
    monkeypatch.setattr(faissindex, "EXACT_LIMIT", 0)
    # Seven allowed ids scattered through the graph: a walk from the entry point can miss some,
    # the fallback must not.
    allowed = np.array([1003, 1101, 1250, 1333, 1444, 1555, 1599], dtype=np.int64)
    hits = dense.search(vecs[0], 50, allowed)
    assert sorted(i for i, _ in hits) == allowed.tolist()
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


def test_removed_ids_are_never_returned(graph: tuple[DenseIndex, np.ndarray, np.ndarray]) -> None:
    dense, ids, vecs = graph
    dense.remove([1017, 1018])
    assert dense.dead == 2
    got = [i for i, _ in dense.search(vecs[17], 600, None)]
    assert 1017 not in got and 1018 not in got and len(got) == 598


def test_reconcile_masks_deleted_and_lists_missing(
    graph: tuple[DenseIndex, np.ndarray, np.ndarray],
) -> None:
    dense, ids, _ = graph
    live = np.concatenate([ids[5:], np.array([2000, 2001], dtype=np.int64)])
    missing = dense.reconcile(live)
    assert missing.tolist() == [2000, 2001]
    assert dense.dead == 5
    assert dense.positions(ids[:6]).tolist() == [5]


def _write(folder: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    lines = [json.dumps({"id": i, "title": t, "body": b, "date": "2016-06-15"}) for i, t, b in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(prefix: str, n: int) -> list[tuple[str, str, str]]:
    return [
        (f"{prefix}{i}", f"{prefix} story {i}", f"The {prefix} story number {i} about item{i}.")
        for i in range(n)
    ]


def _indexed(tmp_path: Path, alphas: int) -> tuple[Path, Archive]:
    """An archive folder holding ``alphas`` alpha stories in a.jsonl, and its open index."""
    arch = tmp_path / "arch"
    _write(arch, "a.jsonl", _rows("alpha", alphas))
    archive = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    archive.index([arch])
    return arch, archive


def test_chunk_ids_are_never_reused(tmp_path: Path) -> None:
    arch, archive = _indexed(tmp_path, 3)
    last = archive._store.con.execute("SELECT MAX(id) FROM chunks").fetchone()[0]
    # Deleting the newest rows would let SQLite hand their ids out again.
    (arch / "a.jsonl").unlink()
    _write(arch, "b.jsonl", _rows("beta", 3))
    archive.index([arch])
    ids = [r[0] for r in archive._store.con.execute("SELECT id FROM chunks")]
    assert ids and min(ids) > last
    assert_consistent(archive._store)
    hits = archive.search("alpha story item1", k=5, mode="dense")
    assert hits and all(h.citation.title.startswith("beta") for h in hits)
    archive.close()


def test_index_catches_up_from_an_older_file(tmp_path: Path) -> None:
    arch, archive = _indexed(tmp_path, 5)
    old_file = next((tmp_path / "idx").glob("*.faiss"))
    saved = old_file.read_bytes()
    _write(arch, "a.jsonl", _rows("alpha", 4))  # alpha4 goes away
    _write(arch, "b.jsonl", _rows("beta", 2))
    archive.index([arch])
    archive.close()
    # Keep only the older generation's file: a reader must update it, not trust or rebuild it.
    for f in (tmp_path / "idx").glob("*.faiss"):
        f.unlink()
    old_file.write_bytes(saved)
    reader = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    store = reader._store
    dense = store.dense_index()
    assert dense.dead >= 1 and dense.ntotal == 5 + 2
    assert_consistent(store)
    # The stories are near-identical, so duplicate collapsing is off to see every one.
    hits = reader.retriever.search("beta story", k=10, mode="dense", collapse_duplicates=False)
    got = {h.citation.title for h in hits}
    assert {"beta story 0", "beta story 1"} <= got and "alpha story 4" not in got
    reader.close()


def test_an_old_flat_file_is_replaced_by_a_graph(tmp_path: Path) -> None:
    arch, archive = _indexed(tmp_path, 4)
    archive.close()
    path = next((tmp_path / "idx").glob("*.hnsw.faiss"))
    legacy = path.with_name(path.name.replace(".hnsw.faiss", ".faiss"))
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(64))
    faiss.write_index(flat, str(legacy))  # the format and name of earlier versions, here empty
    path.unlink()
    reader = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    assert reader._store.dense_index().ntotal == 4
    assert len(reader.search("alpha story", k=3, mode="dense")) == 3
    reader.close()
    writer = Archive.open(tmp_path / "idx", embedder=HashEmbedder())
    writer.index([arch])  # nothing changed, but the old file is replaced by a graph file
    writer.close()
    assert not legacy.exists() and len(list((tmp_path / "idx").glob("*.hnsw.faiss"))) == 1


def test_many_deletions_rebuild_the_graph_on_save(tmp_path: Path) -> None:
    arch, archive = _indexed(tmp_path, 8)
    _write(arch, "a.jsonl", _rows("alpha", 2))
    archive.index([arch])
    dense = archive._store.dense_index()
    assert dense.dead == 0 and dense.ntotal == 2
    archive.close()
