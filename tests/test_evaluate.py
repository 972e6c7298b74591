"""`askarchive eval`: metric arithmetic, BEIR loading, article joining, and the CLI output."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest

from askarchive import evaluate
from askarchive.cli import main as cli
from askarchive.errors import BadInput
from askarchive.evaluate import (
    answer_found,
    dedupe,
    join_articles,
    load_beir,
    mrr_at,
    ndcg_at,
    recall_at,
)
from tests.fakes import HashEmbedder

# -- pure metrics on hand-computed cases ---------------------------------------------------------


def test_ndcg_perfect_and_empty() -> None:
    assert ndcg_at(["a", "b"], {"a": 1}, 10) == 1.0
    assert ndcg_at(["x", "y"], {"a": 1}, 10) == 0.0
    assert ndcg_at([], {"a": 1}, 10) == 0.0
    assert ndcg_at(["a"], {}, 10) == 0.0


def test_ndcg_second_rank_and_two_relevant() -> None:
    # One relevant doc at rank 2: 1/log2(3) over an ideal of 1.
    assert ndcg_at(["x", "a"], {"a": 1}, 10) == pytest.approx(1 / math.log2(3))
    # Relevant at ranks 1 and 3 of two: (1 + 1/2) / (1 + 1/log2(3)).
    got = ndcg_at(["a", "x", "b"], {"a": 1, "b": 1}, 10)
    assert got == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_ndcg_graded_and_cutoff() -> None:
    # Grades 2 and 1, retrieved in the wrong order: (1 + 2/log2 3) / (2 + 1/log2 3).
    got = ndcg_at(["b", "a"], {"a": 2, "b": 1}, 10)
    assert got == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # Beyond the cut-off a hit earns nothing.
    assert ndcg_at(["x", "y", "a"], {"a": 1}, 2) == 0.0
    # Zero-grade qrels are not relevant.
    assert ndcg_at(["a"], {"a": 0, "b": 1}, 10) == 0.0


def test_recall_at() -> None:
    rel = {"a": 1, "b": 1, "c": 0}
    assert recall_at(["a", "x", "b"], rel, 2) == 0.5
    assert recall_at(["a", "x", "b"], rel, 3) == 1.0
    assert recall_at(["c"], rel, 10) == 0.0
    assert recall_at(["a"], {}, 10) == 0.0


def test_mrr_at() -> None:
    assert mrr_at(["x", "y", "a"], {"a": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at(["a", "b"], {"b": 1, "a": 1}, 10) == 1.0
    assert mrr_at(["x", "y", "a"], {"a": 1}, 2) == 0.0


def test_answer_found_ignores_case_and_spacing() -> None:
    assert answer_found(["The  Denver\nBroncos won."], ["denver broncos"])
    assert not answer_found(["The Denver Broncos won."], ["Carolina Panthers"])
    assert not answer_found([], ["x"])
    assert not answer_found(["anything"], ["", "  "])


def test_dedupe_keeps_first_rank() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


# -- a tiny BEIR folder --------------------------------------------------------------------------

DOCS = [
    ("d1", "Volcano in Iceland", "The Eyjafjallajokull volcano erupted, grounding flights."),
    ("d2", "Copper prices", "Copper futures climbed in London trading on Tuesday."),
    ("d3", "Chess championship", "Magnus Carlsen retained the chess championship in Dubai."),
    ("d4", "Wheat harvest", "Farmers in Kansas reported a record wheat harvest."),
    ("d5", "Marathon", "Kipchoge ran the Berlin marathon in a record time."),
]
QUERIES = [
    ("q1", "volcano eruption flights", ["eyjafjallajokull"]),
    ("q2", "copper futures London", ["London  trading"]),
    ("q3", "chess championship Dubai", ["Oslo"]),
    ("q4", "zebra xylophone", ["wheat"]),  # no keyword matches anything
    ("q5", "not judged", []),  # no qrels: not evaluated
]
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 1), ("q3", "d5", 1), ("q4", "d4", 1)]


def write_beir(root: Path, docs=DOCS, queries=QUERIES, qrels=QRELS) -> Path:  # type: ignore[no-untyped-def]
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, title, text in docs:
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid, text, answers in queries:
            fh.write(json.dumps({"_id": qid, "text": text, "answers": answers}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_load_beir_keeps_only_judged_queries(tmp_path: Path) -> None:
    data = load_beir(write_beir(tmp_path / "beir"))
    assert list(data.docs) == ["d1", "d2", "d3", "d4", "d5"]
    assert [q for q, _, _ in data.queries] == ["q1", "q2", "q3", "q4"]
    assert data.qrels["q3"] == {"d3": 1.0, "d5": 1.0}


def test_keyword_mode_end_to_end(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "beir")
    result = evaluate.run(root, answers=True, embedder=HashEmbedder(), quiet=True)
    assert result["queries"] == 4
    assert result["documents"] == 5
    kw = result["modes"]["keyword"]
    # q1, q2 perfect; q3 finds d3 (only) at rank 1 of two relevant; q4 finds nothing.
    q3_ndcg = 1 / (1 + 1 / math.log2(3))
    assert kw["ndcg@10"] == pytest.approx((1 + 1 + q3_ndcg + 0) / 4)
    assert kw["recall@10"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert kw["recall@100"] == pytest.approx(kw["recall@10"])
    assert kw["mrr@10"] == pytest.approx(3 / 4)
    # q1 and q2 have their answer in a top passage; q3's answer is nowhere; q4 gets no passages.
    assert kw["answer@5"] == pytest.approx(2 / 4)
    assert set(result["modes"]) == {"hybrid", "dense", "keyword"}
    for row in result["modes"].values():
        assert set(row) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "answer@5"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
    # Dense mode ranks every document for every query, so all are within the top 100.
    assert result["modes"]["dense"]["recall@100"] == 1.0


def test_limit_and_no_answers(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "beir")
    result = evaluate.run(root, limit=2, embedder=HashEmbedder(), quiet=True, modes=["keyword"])
    assert result["queries"] == 2
    assert result["modes"]["keyword"]["mrr@10"] == 1.0
    assert "answer@5" not in result["modes"]["keyword"]


def test_workdir_keeps_the_index_and_a_second_run_embeds_nothing(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "beir")
    embedder = HashEmbedder()
    first = evaluate.run(root, embedder=embedder, quiet=True, workdir=tmp_path / "work")
    embedded = embedder.encoded
    assert (tmp_path / "work" / "store" / "CURRENT").exists()
    second = evaluate.run(root, embedder=embedder, quiet=True, workdir=tmp_path / "work")
    # Only the queries were encoded again, not one document.
    assert embedder.encoded - embedded == first["queries"]
    assert second["modes"] == first["modes"]
    assert (second["documents"], second["chunks"]) == (first["documents"], first["chunks"])


def test_join_articles_orders_paragraphs_and_maps_qrels(tmp_path: Path) -> None:
    docs = [
        ("7_10", "Seven", "Tenth paragraph about glaciers."),
        ("7_2", "Seven", "Second paragraph about glaciers."),
        ("8_0", "Eight", "Only paragraph about deserts."),
    ]
    qrels = [("q1", "7_10", 1), ("q2", "8_0", 1)]
    queries = [("q1", "glaciers tenth", ["tenth"]), ("q2", "deserts", ["deserts"])]
    data = join_articles(load_beir(write_beir(tmp_path / "b", docs, queries, qrels)))
    assert data.docs["7"]["text"] == (
        "Second paragraph about glaciers.\n\nTenth paragraph about glaciers."
    )
    assert data.qrels == {"q1": {"7": 1.0}, "q2": {"8": 1.0}}
    result = evaluate.run(
        tmp_path / "b", articles=True, answers=True, embedder=HashEmbedder(), quiet=True
    )
    assert result["documents"] == 2
    assert result["modes"]["keyword"]["mrr@10"] == 1.0
    assert result["modes"]["keyword"]["answer@5"] == 1.0


def test_articles_needs_paragraph_ids(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "beir")
    with pytest.raises(BadInput, match="ARTICLE_PARAGRAPH"):
        evaluate.run(root, articles=True, embedder=HashEmbedder(), quiet=True)


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "beir")
    (root / "qrels" / "test.tsv").unlink()
    with pytest.raises(BadInput, match=r"qrels/test\.tsv"):
        load_beir(root)


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def hash_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI resolves evaluate.run at call time; inject the torch-free embedder there.
    monkeypatch.setattr(
        evaluate, "run", functools.partial(evaluate.run, embedder=HashEmbedder(), quiet=True)
    )


@pytest.mark.usefixtures("hash_eval")
def test_cli_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_beir(tmp_path / "beir")
    assert cli.main(["eval", str(root), "--answers"]) == 0
    out = capsys.readouterr().out
    assert "4 queries" in out
    for word in ("hybrid", "dense", "keyword", "ndcg@10", "recall@100", "answer@5"):
        assert word in out
    assert "0.750" in out  # keyword MRR@10


@pytest.mark.usefixtures("hash_eval")
def test_cli_json_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_beir(tmp_path / "beir")
    assert cli.main(["eval", str(root), "--json", "--limit", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["queries"] == 3
    assert result["modes"]["keyword"]["recall@10"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_cli_missing_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corpus.jsonl" in err[0]
