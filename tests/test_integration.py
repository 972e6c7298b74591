"""End to end with the real bundled model on the bundled sample archive.

One index is built per test session (about half a minute on a laptop CPU) and shared.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from askarchive import Archive

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "archive"

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index = tmp_path_factory.mktemp("sample") / "idx"
    with Archive.open(index) as archive:
        report = archive.index([SAMPLE])
    assert report.added == 40 and not report.skipped and not report.warnings
    return index


@pytest.fixture(scope="session")
def sample(sample_index: Path) -> Archive:
    return Archive.open(sample_index)


def _titles(sample: Archive) -> list[str]:
    rows = sample._store.con.execute("SELECT title FROM articles ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_reindex_unchanged_embeds_nothing(sample: Archive) -> None:
    report = sample.index([SAMPLE])
    assert (report.added, report.updated, report.removed, report.chunks) == (0, 0, 0, 0)
    assert report.unchanged == 40


def test_small_batches_embed_exactly_like_encode(sample: Archive) -> None:
    import numpy as np

    from askarchive.embed.embedding import SMALL_BATCH
    from askarchive.embed.variants import DEFAULT_ENCODER

    texts = ["Who won the football final?", "Oil prices fall after OPEC meeting in Vienna"]
    emb = sample.embedder
    assert emb.encoder == DEFAULT_ENCODER  # type: ignore[attr-defined]
    fast = emb.encode(texts)
    assert len(texts) <= SMALL_BATCH
    # The same texts through the bulk pool (every core, each text alone): the same vectors.
    bulk = emb._onnx.bulk("cpu").encode(texts, batch_size=len(texts))  # type: ignore[attr-defined]
    np.testing.assert_allclose(fast, bulk, atol=1e-6)
    # And near the model as trained (fp32 through PyTorch; test_encoders holds fp32 to 1e-5).
    slow = emb.load().encode(texts, normalize_embeddings=True, convert_to_numpy=True)  # type: ignore[attr-defined]
    assert float((fast * slow).sum(axis=1).min()) > 0.97


def test_every_citation_is_an_exact_span(sample: Archive) -> None:
    queries = _titles(sample) + [
        "water minister resigned",
        "kidney donation",
        "oil spill Kuwait fog",
        "record temperature Dubai",
        "chess champion",
    ]
    checked = 0
    for mode in ("hybrid", "dense", "keyword"):
        for q in queries:
            for p in sample.search(q, k=5, mode=mode, parse_dates=False):
                body = sample.article(p.article_id).body
                assert body[p.citation.start : p.citation.end] == p.text
                checked += 1
    assert checked > 300


def test_title_queries_find_their_article(sample: Archive) -> None:
    titles = _titles(sample)
    hits = 0
    for t in titles:
        top = sample.search(t, k=1, parse_dates=False)[0]
        hits += top.citation.title == t
    assert hits >= len(titles) - 2


def test_keyword_side_finds_numbers(sample: Archive) -> None:
    top = sample.search("780 publishers", k=1)[0]
    assert "Casablanca" in top.citation.title


def test_date_phrase_ranks_and_publication_words_filter(sample: Archive) -> None:
    # "in June 2016" in a question dates an event: articles published then come first.
    hits = sample.search("What happened to Jordan's water minister in June 2016?", k=5)
    assert len(hits) == 5
    first = hits[0].citation.date
    assert first is not None and (first.year, first.month) == (2016, 6)
    assert hits[0].window is not None and hits[0].window.use == "hint"
    # Words that name publication filter: every hit was published in June 2016.
    hits = sample.search("articles published in June 2016 about water", k=5)
    assert hits and hits[0].window is not None and hits[0].window.use == "filter"
    assert all(
        p.citation.date and (p.citation.date.year, p.citation.date.month) == (2016, 6) for p in hits
    )


def test_wire_repeats_collapse(sample: Archive) -> None:
    hits = sample.search("tanker collision off Kuwait oil spill", k=5)
    tanker = [p for p in hits if "Kuwait" in p.citation.title and "anker" in p.citation.title]
    assert len({p.article_id for p in tanker}) == 1, "the repeat is folded into the first story"
    dups = {d.article_id for p in tanker for d in p.duplicates}
    assert len(dups) == 1 and dups.isdisjoint({tanker[0].article_id})


QUESTIONS = [
    "Why did Jordan's water minister resign?",
    "How much is the Aqaba desalination deal worth?",
    "Who won the Arab youth chess championship?",
    "What temperature did Dubai reach?",
    "How many manuscripts did the Alexandria library put online?",
    "What is spreading in the Al-Ahsa oasis?",
    "Who won the Beirut marathon?",
    "Why are Cairo bakeries extending their hours?",
]


def test_answers_are_verbatim_and_cited(sample: Archive) -> None:
    for q in QUESTIONS:
        answer = sample.ask(q, llm=False)
        assert not answer.abstained, q
        assert answer.sentences
        for s in answer.sentences:
            assert s.citation_index is not None and 1 <= s.citation_index <= len(answer.citations)
            cited = answer.citations[s.citation_index - 1]
            body = sample.article(cited.article_id).body
            assert s.start is not None and s.end is not None
            assert body[s.start : s.end] == s.text
            assert cited.start <= s.start and s.end <= cited.end
            assert f"[{s.citation_index}]" in answer.text


def test_off_topic_question_abstains(sample: Archive) -> None:
    for q in ["Who won the 2014 football World Cup final?", "What is the price of Bitcoin?"]:
        answer = sample.ask(q, llm=False)
        assert answer.abstained, (q, answer.text)
        assert answer.text.startswith("I found nothing in the archive that answers this question.")
        assert answer.related and not answer.citations


def test_follow_up_keeps_the_topic(sample: Archive) -> None:
    conv = sample.conversation()
    first = conv.ask("Why did Jordan's water minister resign in June 2016?", llm=False)
    assert not first.abstained
    second = conv.ask("what reason did his family give?", llm=False)
    assert "Haddadin" in second.query_used or "minister" in second.query_used.lower()
    assert any("Family" in c.title for c in second.citations), second.text
    assert "kidney" in second.text.lower()


def test_cli_json_end_to_end(sample_index: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "askarchive.cli.main", *args, "--index", str(sample_index)],
            capture_output=True,
            text=True,
            timeout=300,
        )

    proc = cli("index", str(SAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["unchanged"] == 40 and report["chunks"] == 0
    assert set(report) >= {
        "added",
        "updated",
        "removed",
        "unchanged",
        "chunks",
        "seconds",
        "skipped",
    }
    assert proc.stderr == "", "no progress bar when output is piped"

    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["articles"] == 40 and stats["model"] == "all-MiniLM-L6-v2"
    assert stats["first_date"] < stats["last_date"]

    proc = cli("search", "Haddadin resignation", "-k", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert {"title", "date", "path", "start", "end", "label"} <= set(hits[0]["citation"])


def test_readme_python_example_runs(sample_index: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n", readme.index("## Use it from Python")) + len("```python\n")
    code = readme[start : readme.index("```", start)]
    # Run it where the example expects to be: a folder with the sample archive and an index.
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    shutil.copytree(sample_index, tmp_path / "embeddings")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "[1]" in proc.stdout
