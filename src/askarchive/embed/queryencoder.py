"""A faster encoder for questions: the same model, exported once to ONNX and run by ONNX Runtime.

A question is one short text. PyTorch spends 15-25 ms of one core on it here, most of it in
matrix products that are too small for its kernels to run well; ONNX Runtime runs the identical
graph in about half that time. Indexing (large batches) stays on PyTorch.

The export runs in a child process (``python -m askarchive.embed.queryencoder MODEL OUT``), so its
output, warnings and memory never reach the chat, and a failed export cannot take the caller down.
It happens once per model and machine; the file is cached under the user cache folder, keyed by
the model's files and the library versions that made it. Every time the file is opened its
vectors are checked against the PyTorch model on a few probe texts, and any disagreement means
the file is deleted and PyTorch is used, so a stale or damaged file can never change results.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from askarchive.embed.embedding import TELEMETRY_OFF, offline_environment

# Bump when the exported graph changes, so older cached files are not picked up.
FORMAT = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Vectors from the two runtimes agree to ~3e-7 here; anything near this bound is a broken export.
TOLERANCE = 1e-4
EXPORT_TIMEOUT = 600.0
PROBES = (
    "Who replaced the water minister in June 2016?",
    "x",
    "Oil prices fell sharply after the OPEC meeting in Vienna, traders said on Monday. " * 12,
)


class EncoderUnavailable(Exception):
    """The fast path cannot be used; the message says why (PyTorch is used instead)."""


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for pkg in ("torch", "onnx", "onnxruntime", "onnxscript", "sentence-transformers"):
        try:
            found.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            found.append(f"{pkg}=none")
    return ",".join(found)


def fingerprint(model_path: str) -> str:
    """A short key that changes whenever the model's files or the exporting libraries change."""
    h = hashlib.sha256(f"format={FORMAT};{_versions()}".encode())
    root = Path(model_path)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def cache_path(name: str, model_path: str) -> Path:
    from askarchive.locations import cache_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cache_dir() / "query-encoders" / f"{safe}-{fingerprint(model_path)}.onnx"


class OnnxQueryEncoder:
    """An ONNX Runtime session over the exported model; takes the tokenizer's tensors."""

    def __init__(self, path: Path) -> None:
        offline_environment()  # before onnxruntime starts, or its telemetry is already on
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EncoderUnavailable("onnxruntime is not installed") from exc
        opts = ort.SessionOptions()
        # One thread: the retriever runs its keyword query on the other core at the same time.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise EncoderUnavailable(f"cannot load {path}: {exc}") from exc
        names = [i.name for i in self._session.get_inputs()]
        if names != list(INPUTS):
            raise EncoderUnavailable(f"{path} takes inputs {names}, expected {list(INPUTS)}")
        self.path = path

    def run(self, features: dict[str, Any]) -> np.ndarray:
        """Vectors for the tokenizer's output (torch tensors or arrays; other keys ignored)."""
        feeds = {}
        for name in INPUTS:
            value = features.get(name)
            if value is None and name == "token_type_ids":
                value = np.zeros_like(feeds["input_ids"])
            feeds[name] = np.asarray(value, dtype=np.int64)
        (out,) = self._session.run(None, feeds)
        return np.ascontiguousarray(out, dtype=np.float32)


def check(encoder: OnnxQueryEncoder, model: Any, texts: Sequence[str] = PROBES) -> float:
    """Largest difference between ONNX Runtime and PyTorch vectors for ``texts`` (one at a time
    and as one padded batch); raise ``EncoderUnavailable`` above ``TOLERANCE``."""
    from askarchive.embed.embedding import model_features, torch_vectors

    worst = 0.0
    batches = [[t] for t in texts] + [list(texts)]
    for batch in batches:
        features = model_features(model, batch)
        ref = torch_vectors(model, features)
        got = encoder.run(features)
        if got.shape != ref.shape:
            raise EncoderUnavailable(f"{encoder.path} returns shape {got.shape}, not {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    if not worst <= TOLERANCE:
        raise EncoderUnavailable(f"{encoder.path} disagrees with the model by {worst:.2g}")
    return worst


def open_checked(path: Path, model: Any) -> OnnxQueryEncoder:
    """Open a cached export and prove it matches ``model``; a bad file is deleted."""
    offline_environment()
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise EncoderUnavailable("onnxruntime is not installed") from exc
    try:
        encoder = OnnxQueryEncoder(path)
        check(encoder, model)
    except EncoderUnavailable:
        # The library loaded, so the file is at fault: the next warm-up exports a fresh one.
        path.unlink(missing_ok=True)
        raise
    return encoder


def export_in_child(model_path: str, out: Path) -> None:
    """Run the export in a fresh interpreter; raise ``EncoderUnavailable`` if it fails."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **TELEMETRY_OFF)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "askarchive.embed.queryencoder", model_path, str(out)],
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EncoderUnavailable(f"export did not finish: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        raise EncoderUnavailable(f"export failed: {lines[-1] if lines else done.returncode}")


def export(model_path: str, out: Path) -> float:
    """Export the sentence-transformers model at ``model_path`` to ``out``; return the checked
    difference from PyTorch. Written to a temporary name first, so ``out`` is whole or absent."""
    import torch
    from sentence_transformers import SentenceTransformer

    from askarchive.embed.embedding import model_features

    model = SentenceTransformer(model_path, device="cpu").eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            features = dict(zip(INPUTS, (input_ids, attention_mask, token_type_ids), strict=True))
            vec = self.model.forward(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vec, p=2, dim=1)

    sample = model_features(model, ["a short example question", "another"])
    args = tuple(sample[name] for name in INPUTS)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with torch.inference_mode():
        program = torch.onnx.export(
            Sentence().eval(),
            args,
            dynamo=True,
            input_names=list(INPUTS),
            output_names=["query_vector"],
            dynamic_shapes=tuple({0: batch, 1: seq} for _ in INPUTS),
            optimize=True,
            verbose=False,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        # One self-contained file (the model is far below protobuf's 2 GB limit), so a single
        # rename publishes it.
        program.save(str(tmp), external_data=False)
        worst = check(OnnxQueryEncoder(tmp), model)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return worst


def prune(keep: Path) -> None:
    """Delete older exports of the same model (each is ~90 MB); ``keep`` is the current one."""
    stem = keep.name.rsplit("-", 1)[0]
    for old in keep.parent.glob(f"{stem}-*.onnx"):
        if old != keep and old.name.rsplit("-", 1)[0] == stem:
            old.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(
            "usage: python -m askarchive.embed.queryencoder MODEL_FOLDER OUT.onnx", file=sys.stderr
        )
        return 2
    try:
        worst = export(args[0], Path(args[1]))
    except Exception as exc:  # reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    print(json.dumps({"path": args[1], "max_difference": worst}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
