"""Big archives: the graph keeps 8-bit codes, re-scores its candidates exactly from SQLite, and
is saved again only once enough chunks changed."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from askarchive import Archive
from askarchive.store import dense as faissindex
from askarchive.store import faissfile, mirror
from askarchive.store.dense import DenseIndex
from tests.fakes import HashEmbedder
from tests.helpers import assert_consistent


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def compact() -> tuple[DenseIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    vecs = _unit(rng, 800)
    ids = np.arange(5000, 5800, dtype=np.int64)
    dense = DenseIndex.empty(32, vecs[:400])
    dense.add(ids, vecs)
    exact = dict(zip(ids.tolist(), vecs, strict=True))
    dense.exact_vectors = lambda wanted: {i: exact[i] for i in wanted if i in exact}
    return dense, ids, vecs


def _top(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, n: int) -> list[int]:
    return [int(ids[i]) for i in np.argsort(-(vecs @ q), kind="stable")[:n]]


def test_codes_decode_like_faiss(compact: tuple[DenseIndex, np.ndarray, np.ndarray]) -> None:
    dense, _, vecs = compact
    assert dense.compact and DenseIndex.usable(dense.index)
    pos = np.array([0, 7, 799])
    storage = faiss.downcast_index(faiss.downcast_index(dense.index.index).storage)
    decoded = storage.sa_decode(np.ascontiguousarray(dense.vectors()[pos]))
    np.testing.assert_allclose(dense._scores(vecs[3], pos), decoded @ vecs[3], atol=1e-5)


def test_compact_search_is_rescored_exactly(
    compact: tuple[DenseIndex, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    dense, ids, vecs = compact
    q = _unit(np.random.default_rng(9), 1)[0]
    exact = dense.search(q, 10, None)
    assert [i for i, _ in exact] == _top(vecs, ids, q, 10)
    for cid, score in exact:  # exact scores, not those of the codes
        assert score == pytest.approx(float(vecs[cid - 5000] @ q), abs=1e-6)
    monkeypatch.setattr(faissindex, "EXACT_LIMIT", 0)  # the graph walk, then re-scored
    walked = dense.search(q, 10, None)
    assert len(set(walked) & set(exact)) >= 9
    assert [s for _, s in walked] == sorted((s for _, s in walked), reverse=True)
    allowed = ids[::97]  # a selective filter: the exact fallback over the codes
    got = dense.search(q, 20, allowed)
    assert sorted(i for i, _ in got) == allowed.tolist()


def _write(folder: Path, name: str, prefix: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": f"{prefix}{i}",
            "title": f"{prefix} story {i}",
            "date": "2016-06-15",
            "body": f"The {prefix} story number {i} about item{i} and topic{i % 7}.",
        }
        for i in range(n)
    ]
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_big_store_keeps_codes_and_saves_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "COMPACT_FROM", 40)
    monkeypatch.setattr(mirror, "LAG_LIMIT", 3)
    arch, idx = tmp_path / "arch", tmp_path / "idx"
    _write(arch, "a.jsonl", "alpha", 30)
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        archive.index([arch])
        small = next(idx.glob("*.hnsw.faiss"))
        assert not archive._store.dense_index().compact  # below the threshold: float32
        _write(arch, "b.jsonl", "beta", 20)
        archive.index([arch])  # 50 chunks: the save converts the graph to codes
    saved = next(idx.glob("*.hnsw.faiss"))
    assert saved != small and not small.exists()

    with Archive.open(idx, embedder=HashEmbedder()) as reader:
        dense = reader._store.dense_index()
        assert dense.compact and dense.ntotal == 50
        assert_consistent(reader._store)
        # The same order and scores as an exact scan of the vectors in SQLite.
        store, query = reader._store, "beta story number 7 item7"
        qvec = reader.embedder.encode([query])[0]
        ids, vecs = store.all_vectors(64)
        got = store.dense_index().search(qvec, 20, None)[:5]  # candidates as deep as search's
        want = dict(zip(ids.tolist(), (vecs @ qvec).tolist(), strict=True))
        assert all(s == pytest.approx(want[i], abs=1e-6) for i, s in got)  # exact scores
        np.testing.assert_allclose([s for _, s in got], sorted(want.values())[::-1][:5], atol=1e-6)

    _write(arch, "c.jsonl", "gamma", 2)  # 2 chunks <= LAG_LIMIT: the file is kept as it is
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        archive.index([arch])
    assert [p.name for p in idx.glob("*.hnsw.faiss")] == [saved.name]
    with Archive.open(idx, embedder=HashEmbedder(), create=False) as reader:
        assert_consistent(reader._store)  # brought up to date from SQLite
        hits = reader.search("gamma story", k=2, mode="dense", parse_dates=False)
        assert {h.citation.title for h in hits} == {"gamma story 0", "gamma story 1"}

    _write(arch, "d.jsonl", "delta", 4)  # now 6 behind: the graph is saved again
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        archive.index([arch])
    files = list(idx.glob("*.hnsw.faiss"))
    assert len(files) == 1 and files[0] != saved
    with Archive.open(idx, embedder=HashEmbedder(), create=False) as reader:
        assert reader._store.dense_index().ntotal == 56
        assert_consistent(reader._store)

    # A damaged newest file is never kept, however few chunks came since.
    files[0].write_bytes(files[0].read_bytes()[:200])
    _write(arch, "e.jsonl", "epsilon", 1)
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        archive.index([arch])
    files = list(idx.glob("*.hnsw.faiss"))
    assert len(files) == 1 and faissfile.summary(files[0]) is not None


@pytest.mark.parametrize("articles", [30, 60])
def test_a_new_databases_graph_grows_with_its_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, articles: int
) -> None:
    """A first index adds each commit's vectors to the graph while the next batch embeds; the
    save then only writes it. Past the threshold the graph turns to codes once, mid-run."""
    # As in use, the codes' ranges are learnt from the first COMPACT_FROM vectors.
    monkeypatch.setattr(mirror, "COMPACT_FROM", 40)
    monkeypatch.setattr(faissindex, "BUILD_BATCH", 40)
    monkeypatch.setattr("askarchive.index.indexer.COMMIT_CHUNKS", 8)
    builds: list[int] = []
    build = mirror.FaissMirror._build

    def counted(self: mirror.FaissMirror, count: int) -> DenseIndex:
        builds.append(self.source.chunk_table().ids.size)
        return build(self, count)

    monkeypatch.setattr(mirror.FaissMirror, "_build", counted)
    arch, idx = tmp_path / "arch", tmp_path / "idx"
    _write(arch, "a.jsonl", "alpha", articles)
    with Archive.open(idx, embedder=HashEmbedder()) as archive:
        report = archive.index([arch])
        assert report.chunks == articles
        # Built from the database only when the graph passed 40 chunks, before the last commit.
        assert builds == ([] if articles < 40 else [builds[0]])
        assert all(40 <= n < articles for n in builds)
    with Archive.open(idx, embedder=HashEmbedder()) as reader:
        dense = reader._store.dense_index()
        assert dense.ntotal == articles and dense.compact == (articles >= 40)
        assert_consistent(reader._store)
        # It finds what a graph built from the database at the end finds.
        built = reader._store.faiss._build(articles)
        for query in ("alpha story number 7 item7", "topic3 item12", "story 40"):
            qvec = reader.embedder.encode([query])[0]
            got, want = dense.search(qvec, 20, None), built.search(qvec, 20, None)
            np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
