"""The model run by ONNX Runtime, fed by the ``tokenizers`` package: no torch anywhere.

Two uses share this code. Questions (one short text, one thread, so the retriever's keyword query
keeps the other core) and bulk indexing (thousands of chunks, sorted by token length so a batch
pads little, every core). The tokenizer reproduces sentence-transformers' own preprocessing
(strip, truncate to the model's ``max_seq_length``, pad to the longest text of the batch); the
probe check below proves it on every open, against vectors recorded with PyTorch at export time.

Each exported file has a sidecar ``<file>.probes.json`` written before the file is published: the
probe texts and the vectors they must give. Opening a file embeds those probes and compares, so a
stale or damaged file, or a tokenizer that drifted from the model's, is caught without PyTorch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import numpy as np

from askarchive.embed.runtime import offline_environment

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Exported fp32 vectors agree with PyTorch's to ~3e-7 and a file's own recorded vectors are
# reproduced to ~1e-7; anything near this bound is a broken file or a drifted tokenizer.
TOLERANCE = 1e-4
# Probe texts up to this long are embedded on every open (see ``check``).
CHECK_CHARS = 200


class EncoderUnavailable(Exception):
    """An ONNX encoder cannot be used; the message says why."""


def probes_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".onnx") + ".probes.json")


def read_config(model_path: str) -> tuple[int, int]:
    """(max_seq_length, hidden size) from the model folder's own config files."""
    with open(os.path.join(model_path, "sentence_bert_config.json"), encoding="utf-8") as fh:
        max_len = int(json.load(fh).get("max_seq_length", 256))
    with open(os.path.join(model_path, "config.json"), encoding="utf-8") as fh:
        dim = int(json.load(fh)["hidden_size"])
    return max_len, dim


# One text's model input: token ids and token type ids, special tokens included.
Row = tuple[list[int], list[int]]
# Each text's ids without special tokens where the chunker knows them (``Featurizer.rows``).
Ids: TypeAlias = Sequence[list[int] | None] | None


class Featurizer:
    """Texts to the model's input arrays, exactly as sentence-transformers prepares them."""

    def __init__(self, model_path: str) -> None:
        from tokenizers import Tokenizer

        self.max_length, self.dim = read_config(model_path)
        tok = Tokenizer.from_file(os.path.join(model_path, "tokenizer.json"))
        tok.no_padding()
        # Counted with the special tokens, as the model sees them.
        tok.enable_truncation(self.max_length, strategy="longest_first")
        self._tok = tok
        self._wrap = _wrapping(tok)

    def encodings(self, texts: Sequence[str]) -> list[Any]:
        # sentence-transformers strips each text before tokenizing it.
        return self._tok.encode_batch([str(t).strip() for t in texts])

    def rows(self, texts: Sequence[str], tokens: Ids = None) -> list[Row]:
        """Each text's model input. A text with ``tokens`` (its ids without special tokens, as
        the chunker cut them from its article's) is not tokenized again: on a WordPiece (BERT)
        tokenizer a text bounded by whitespace gets the same ids alone as inside its article."""
        out: list[Row | None] = [None] * len(texts)
        if tokens is not None and self._wrap is not None:
            before, after = self._wrap
            room = self.max_length - len(before) - len(after)
            for i, ids in enumerate(tokens):
                if ids is not None and len(ids) <= room:
                    full = before + ids + after
                    out[i] = (full, [0] * len(full))
        todo = [i for i, row in enumerate(out) if row is None]
        for i, enc in zip(todo, self.encodings([texts[i] for i in todo]), strict=True):
            out[i] = (enc.ids, enc.type_ids)
        return out  # type: ignore[return-value]

    @staticmethod
    def pad(rows: Sequence[Row]) -> dict[str, np.ndarray]:
        width = max(len(ids) for ids, _ in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for r, (row_ids, row_types) in enumerate(rows):
            n = len(row_ids)
            ids[r, :n] = row_ids
            mask[r, :n] = 1
            types[r, :n] = row_types
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.rows(texts))


def _wrapping(tok: Any) -> tuple[list[int], list[int]] | None:
    """The special ids put before and after one text's ids, if ids cut from a longer text can
    be used as they are: only for a BERT normaliser, pre-tokeniser and WordPiece model, which
    act on each whitespace-separated word alone, and type ids that are all 0. Else None."""
    from tokenizers import models, normalizers, pre_tokenizers

    if not (
        isinstance(tok.normalizer, normalizers.BertNormalizer)
        and isinstance(tok.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
        and isinstance(tok.model, models.WordPiece)
    ):
        return None
    plain = tok.encode("probe text", add_special_tokens=False).ids
    full = tok.encode("probe text")
    for k in range(len(full.ids) - len(plain) + 1):
        if full.ids[k : k + len(plain)] == plain:
            if any(full.type_ids):
                return None
            return list(full.ids[:k]), list(full.ids[k + len(plain) :])
    return None


def cores() -> int:
    """CPU cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class OrtEncoder:
    """An ONNX Runtime session over one exported file of the model."""

    def __init__(
        self,
        path: Path,
        featurizer: Featurizer,
        *,
        threads: int = 1,
        device: str = "cpu",
        rewrite: bool | None = None,
    ) -> None:
        offline_environment()  # before onnxruntime starts, or its telemetry is already on
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EncoderUnavailable("onnxruntime is not installed") from exc
        opts = ort.SessionOptions()
        if not (threads > 1 if rewrite is None else rewrite):
            # The files are fused when made; the extended rewrites add ~0.15 s to a cold start
            # and nothing measurable to one text. Without them, every session that runs a
            # text alone (questions, ``TextPool``) runs the same graph: the same vector.
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on cores shared with other work (the chat,
        # the parser thread, other programs) spinning took time from them and gained nothing.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise EncoderUnavailable(f"cannot load {path}: {exc}".replace("\n", " ")) from exc
        names = [i.name for i in self._session.get_inputs()]
        if names != list(INPUTS):
            raise EncoderUnavailable(f"{path} takes inputs {names}, expected {list(INPUTS)}")
        self.path = path
        self.featurizer = featurizer
        self.dim = featurizer.dim

    def run(self, features: dict[str, Any]) -> np.ndarray:
        """Unit vectors for tokenized input (arrays or torch tensors; other keys ignored)."""
        feeds = {}
        for name in INPUTS:
            value = features.get(name)
            if value is None and name == "token_type_ids":
                value = np.zeros_like(feeds["input_ids"])
            feeds[name] = np.asarray(value, dtype=np.int64)
        (out,) = self._session.run(None, feeds)
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32, tokens: Ids = None) -> np.ndarray:
        """Vectors in input order; texts are batched by token length so little is padded.
        ``tokens``: see ``Featurizer.rows``."""
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        rows = self.featurizer.rows(texts, tokens)
        order = sorted(range(len(texts)), key=lambda i: len(rows[i][0]))
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            out[part] = self.run(self.featurizer.pad([rows[i] for i in part]))
        return out


# One session per core, each on one thread, up to this many; past it sessions get more threads
# (every session holds its own copy of the weights: 90 MB for fp32).
MAX_SESSIONS = 8


class TextPool:
    """Many texts on every core, each text run alone: a vector depends on its text only.

    int8 files quantise activations with one scale per run, so a text batched with others would
    get a vector that depends on its batch-mates (up to 0.03 a component); alone, it gets the
    same vector as when it is a question. Alone also means no padding, and one single-threaded
    session per core keeps every core busy on small products: on 2 cores this runs faster than
    one two-threaded session on padded batches of 32, for both variants (BENCHMARKS.md).
    """

    def __init__(self, path: Path, featurizer: Featurizer, *, cpus: int | None = None) -> None:
        total = cpus or cores()
        n = min(total, MAX_SESSIONS)
        self.sessions = [
            OrtEncoder(path, featurizer, threads=max(1, total // n), rewrite=False)
            for _ in range(n)
        ]
        self.path = path
        self.featurizer = featurizer
        self.dim = featurizer.dim

    def run(self, features: dict[str, Any]) -> np.ndarray:
        return self.sessions[0].run(features)

    def encode(self, texts: Sequence[str], batch_size: int = 32, tokens: Ids = None) -> np.ndarray:
        """Vectors in input order (``batch_size`` is ignored: every text runs alone).
        ``tokens``: see ``Featurizer.rows``."""
        import threading

        out = np.zeros((len(texts), self.dim), np.float32)
        rows = self.featurizer.rows(texts, tokens)
        # Longest first, so the last texts to finish are short ones and no core idles long.
        order = iter(sorted(range(len(texts)), key=lambda i: -len(rows[i][0])))
        lock = threading.Lock()
        failed: list[BaseException] = []

        def work(session: OrtEncoder) -> None:
            while not failed:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                try:
                    out[i] = session.run(self.featurizer.pad([rows[i]]))[0]
                except BaseException as exc:  # raised again in the caller's thread
                    failed.append(exc)

        # ONNX Runtime releases the GIL while it runs, so the threads use every core.
        workers = [threading.Thread(target=work, args=(s,)) for s in self.sessions[1:]]
        for worker in workers:
            worker.start()
        work(self.sessions[0])
        for worker in workers:
            worker.join()
        if failed:
            raise failed[0]
        return out


def record_probes(path: Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Write the sidecar that ``open_checked`` compares against (before ``path`` is published)."""
    payload = {"texts": list(texts), "vectors": np.asarray(vectors, np.float64).tolist()}
    tmp = probes_path(path).with_name(f".{probes_path(path).name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, probes_path(path))


def check(encoder: OrtEncoder | TextPool, probes: Path) -> float:
    """Largest difference between ``encoder``'s vectors for the recorded probe texts (each on
    its own, as a question is embedded) and the recorded ones; above ``TOLERANCE`` it raises."""
    try:
        data = json.loads(probes.read_text(encoding="utf-8"))
        texts = [str(t) for t in data["texts"]]
        want = np.asarray(data["vectors"], np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EncoderUnavailable(f"no usable reference vectors beside {encoder.path}") from exc
    if want.shape != (len(texts), encoder.dim) or not texts:
        raise EncoderUnavailable(f"the reference vectors beside {encoder.path} do not fit it")
    # The short probes only: the long ones (truncation) were proven when the file was made,
    # and each costs a cold start more than all the short ones together.
    short = [i for i, t in enumerate(texts) if len(t) <= CHECK_CHARS] or [0]
    got = np.concatenate([encoder.run(encoder.featurizer([texts[i]])) for i in short])
    worst = float(np.abs(got - want[short]).max())
    if not worst <= TOLERANCE:
        raise EncoderUnavailable(f"{encoder.path} disagrees with its reference by {worst:.2g}")
    return worst


E = TypeVar("E", "OrtEncoder", "TextPool")


def open_checked(path: Path, featurizer: Featurizer, **kwargs: Any) -> OrtEncoder:
    """Open an exported file in one session and prove it against its sidecar; a bad pair is
    deleted."""
    return _proven(path, lambda: OrtEncoder(path, featurizer, **kwargs))


def open_pool(path: Path, featurizer: Featurizer) -> TextPool:
    """``open_checked`` for a ``TextPool`` over every core."""
    return _proven(path, lambda: TextPool(path, featurizer))


def _proven(path: Path, make: Callable[[], E]) -> E:
    offline_environment()
    try:
        import onnxruntime  # noqa: F401  (a missing library must not delete a good file)
    except ImportError as exc:
        raise EncoderUnavailable("onnxruntime is not installed") from exc
    if not path.exists():
        raise EncoderUnavailable(f"{path} does not exist")
    try:
        encoder = make()
        check(encoder, probes_path(path))
    except EncoderUnavailable:
        # The runtime loaded, so the files are at fault: the next warm-up makes fresh ones.
        path.unlink(missing_ok=True)
        probes_path(path).unlink(missing_ok=True)
        raise
    return encoder
