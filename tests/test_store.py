"""The store's search reads: filters, passage rows, centroids and keyword rows, id lists of any
length, and the dense index held by the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from askarchive.models import Article, Chunk, DateWindow
from askarchive.store import chunks as chunk_rows
from askarchive.store.mirror import FaissMirror
from askarchive.store.sqlite import Store

DIM = 8

# (id, path, date, chunk texts)
ARTICLES = [
    ("a1", "feeds/Reuters/2015.jsonl", dt.date(2015, 3, 1), ["Oil prices rose.", "Gas fell."]),
    ("a2", "feeds/reuters/2016.jsonl", dt.date(2016, 7, 9), ["Oil exports grew."]),
    ("a3", "feeds/ap/2016.jsonl", dt.date(2016, 8, 2), ["Harbour reopened.", "Oil tankers."]),
    ("a4", "feeds/ap/undated.txt", None, ["Oil and gas, no date."]),
]


def _vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "idx", create=True)
    assert store is not None
    store.init_manifest("test-model", DIM, {"chunk_tokens": 64, "chunk_overlap": 0})
    with store.transaction():
        seed = 0
        for aid, path, day, texts in ARTICLES:
            body = " ".join(texts)
            parts, start = [], 0
            for seq, text in enumerate(texts):
                parts.append(Chunk(aid, seq, start, start + len(text), text, 3))
                start += len(text) + 1
            vecs = np.stack([_vector(seed + i) for i in range(len(texts))])
            seed += len(texts)
            article = Article(id=aid, title=f"Title {aid}", body=body, path=path, date=day)
            store.insert_article(article, f"hash-{aid}", parts, vecs)
        store.bump_generation()
    yield store
    store.close()


def _ids_of(store: Store, aid: str) -> list[int]:
    return sorted(c for c, h in store.hits(range(1, 100)).items() if h.article_id == aid)


def test_filters_by_window_and_source(store: Store) -> None:
    assert store.filtered_chunk_ids(None, None) is None
    reuters = store.filtered_chunk_ids(None, "REUTERS")  # any case, any part of the path
    assert reuters is not None
    assert reuters.tolist() == _ids_of(store, "a1") + _ids_of(store, "a2")
    window = DateWindow(dt.date(2016, 1, 1), dt.date(2016, 12, 31))
    in_2016 = store.filtered_chunk_ids(window, None)
    assert in_2016 is not None
    assert in_2016.tolist() == _ids_of(store, "a2") + _ids_of(store, "a3")  # not the undated a4
    both = store.filtered_chunk_ids(window, "ap/")
    assert both is not None and both.tolist() == _ids_of(store, "a3")
    nothing = store.filtered_chunk_ids(window, "no such feed")
    assert nothing is not None and len(nothing) == 0


def test_hits_carry_the_exact_text_and_skip_unknown_ids(store: Store) -> None:
    hits = store.hits([1, 2, 999])
    assert sorted(hits) == [1, 2]
    first = hits[1]
    body = store.article(first.article_id).body  # type: ignore[union-attr]
    assert body[first.start : first.end] == first.text == "Oil prices rose."
    assert first.date == dt.date(2015, 3, 1) and first.path == "feeds/Reuters/2015.jsonl"


def test_lookups_by_id_list_are_batched(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = (store.hits(range(1, 7)), store.vectors_for(list(range(1, 7)), DIM))
    seen: list[int] = []
    real = chunk_rows.in_batches

    def spy(con, sql, keys):  # type: ignore[no-untyped-def]
        for i in range(0, len(keys), chunk_rows.BATCH):
            seen.append(len(keys[i : i + chunk_rows.BATCH]))
        return real(con, sql, keys)

    monkeypatch.setattr(chunk_rows, "BATCH", 2)
    monkeypatch.setattr(chunk_rows, "in_batches", spy)
    hits = store.hits(range(1, 7))
    vectors = store.vectors_for(list(range(1, 7)), DIM)
    centroids = store.article_centroids(["a1", "a2", "a3", "a4", "nope"], DIM)
    assert hits == whole[0]
    assert vectors.keys() == whole[1].keys()
    assert all(np.array_equal(vectors[c], whole[1][c]) for c in vectors)
    assert seen == [2, 2, 2] * 2 + [2, 2, 1]
    assert sorted(centroids) == ["a1", "a2", "a3", "a4"]


def test_centroid_is_the_normalised_mean_of_an_articles_chunks(store: Store) -> None:
    ids = _ids_of(store, "a1")
    vecs = store.vectors_for(ids, DIM)
    mean = np.mean([vecs[c] for c in ids], axis=0)
    got = store.article_centroids({"a1"}, DIM)["a1"]
    assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-6)


def test_keyword_rows_are_filtered_like_the_dense_side(store: Store) -> None:
    assert store.keyword_rows("oil") == 4
    everything = {c for c, _ in store.keyword_top(["oil"], 10)}
    assert len(everything) == 4
    window = DateWindow(dt.date(2016, 1, 1), None)
    dated = {c for c, _ in store.keyword_top(["oil"], 10, window=window, source="ap/")}
    assert dated == set(_ids_of(store, "a3")) & everything
    assert store.keyword_top(['oil" OR gas'], 10) == []  # quoted: never FTS5 syntax


def test_the_dense_index_is_held_not_mixed_in(store: Store) -> None:
    assert not isinstance(store, FaissMirror)
    assert store.faiss.source is store
    dense = store.dense_index()
    assert dense is store.dense_index()  # kept for the generation
    assert sorted(dense.ids.tolist()) == list(range(1, 7))
    store.save_faiss()
    assert store.faiss.load(store.generation) is not None
