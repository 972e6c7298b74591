"""Are the chunker's token ids what the encoder would get by tokenizing each chunk's text?

Bulk embedding takes each chunk's ids from its article's tokens instead of tokenizing the text
again (``chunking.chunk_with_tokens``, ``ortencoder.Featurizer.rows``). This chunks every article
of the given archives with the real tokenizer and compares, for every chunk, the input the
encoder builds from those ids with a fresh tokenization of its text: they must never differ.
Prints per archive the chunks, how many carry ids, and the differences.

    python benchmarks/chunk_ids.py [PATH ...]   (default: the sample archive and the bench corpora)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchcommon import default_data, machine_line

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = [
    str(ROOT / "examples" / "archive"),
    default_data("reuters21578", "articles.jsonl"),
    default_data("wikinews", "articles.jsonl"),
    default_data("squad-dev", "corpus.jsonl"),
]


def check(path: str, embedder, featurizer) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(chunks, chunks with ids, chunks whose ids differ from their text's) of one archive."""
    from askarchive.index.chunking import ChunkSettings, chunk_with_tokens
    from askarchive.ingest import discover, parse_file

    files, _ = discover([path])
    chunks = given = differ = 0
    for f in files:
        for article in parse_file(f).articles:
            _, texts, tokens = chunk_with_tokens(article, embedder, ChunkSettings())
            if not texts:
                continue
            fresh = [e.ids for e in featurizer.encodings(texts)]
            cut = featurizer.rows(texts, tokens)
            for ids, (got, _), tok in zip(fresh, cut, tokens, strict=True):
                chunks += 1
                given += tok is not None
                differ += got != ids
    return chunks, given, differ


def line(chunks: int, given: int, differ: int) -> str:
    return f"chunks {chunks}, with ids {given} ({given / max(chunks, 1):.3f}), differ {differ}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="*", default=DEFAULTS)
    args = ap.parse_args()
    from askarchive.embed.embedding import SentenceTransformerEmbedder
    from askarchive.embed.ortencoder import Featurizer

    print(machine_line())
    embedder = SentenceTransformerEmbedder()
    featurizer = Featurizer(embedder._path)
    total = [0, 0, 0]
    for path in args.paths:
        if not Path(path).exists():
            print(f"{path}: not found, skipped")
            continue
        counts = check(path, embedder, featurizer)
        total = [a + b for a, b in zip(total, counts, strict=True)]
        print(f"{path}: {line(*counts)}")
    print(f"all: {line(*total)}")
    return 1 if total[2] else 0


if __name__ == "__main__":
    raise SystemExit(main())
