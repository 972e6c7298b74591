"""Encoder variants of the model, the files that hold them, and the device that runs bulk work.

A variant names the numbers a vector is made of: ``fp32`` is the model as trained (run by
PyTorch or by ONNX Runtime on its exported graph, which agree to ~3e-7), ``int8`` is that
exported graph with its matrix products quantised to 8-bit integers by ONNX Runtime. Vectors of
two variants differ slightly, so an index records the variant it was built with and its
questions are embedded by that same variant (an index made before variants were recorded is
``fp32``, see ``LEGACY_ENCODER``).

Both files are made locally from the bundled weights, once per model and machine, under the user
cache folder: the fp32 export in a child process that imports torch, the int8 file from it in a
child that imports only onnx and onnxruntime. Each file has a sidecar of reference vectors
(``ortencoder.probes_path``) recorded when it was made, so opening it later needs no torch.

    python -m askarchive.embed.variants export MODEL_FOLDER OUT.onnx
    python -m askarchive.embed.variants quantize FP32.onnx OUT.onnx MODEL_FOLDER
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from askarchive.embed.ortencoder import (
    INPUTS,
    TOLERANCE,
    EncoderUnavailable,
    Featurizer,
    OrtEncoder,
    probes_path,
    record_probes,
)
from askarchive.embed.runtime import TELEMETRY_OFF
from askarchive.errors import BadInput

ENCODERS = ("fp32", "int8")
# Chosen from benchmarks/encoders.py, quality.py, newsqa.py and answers.py (BENCHMARKS.md,
# "Encoders"): on a 2-core CPU int8 embeds 3.4-3.5x as many chunks per second as PyTorch
# (fp32 through ONNX Runtime: 1.5-1.8x) and retrieves as well (every SQuAD and news retrieval
# figure within 0.004). Bulk embedding runs each text alone (ortencoder.TextPool), so an int8
# vector depends on its text only, as fp32's does.
DEFAULT_ENCODER = "int8"
# What an index that records no variant was built with: PyTorch, fp32.
LEGACY_ENCODER = "fp32"
DEVICES = ("auto", "cpu", "cuda")
# Bump when the files' content or layout changes, so older cached files are not picked up.
FORMAT = 3
MAKE_TIMEOUT = 900.0
# The int8 file must stay this close (cosine) to fp32 on every probe, or it is not published.
INT8_MIN_COSINE = 0.98
PROBES = (
    "Who replaced the water minister in June 2016?",
    "x",
    "  Leading and trailing spaces are stripped, as sentence-transformers does.  ",
    "Qui a gagné? ¿Quién ganó? 谁赢了？ Ünïcödé ﬁ ligatures",
    "Oil prices fell sharply after the OPEC meeting in Vienna, traders said on Monday. " * 30,
)


def check_encoder(encoder: str) -> str:
    if encoder not in ENCODERS:
        raise BadInput(f"unknown encoder {encoder!r}; use one of: {', '.join(ENCODERS)}")
    return encoder


# Libraries whose versions key the cached files: they make the files and run them.
KEY_PACKAGES = ("torch", "onnx", "onnxruntime", "sentence_transformers", "transformers")


def _versions() -> str:
    """Installed versions of KEY_PACKAGES, read from the names of their ``.dist-info`` folders:
    one directory listing, where ``importlib.metadata`` would take ~0.1 s of a cold start."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and "-" in name:
                pkg, _, version = name[: -len(".dist-info")].partition("-")
                key = pkg.lower().replace("-", "_").replace(".", "_")
                if key in KEY_PACKAGES:
                    found.setdefault(key, version)
    return ",".join(f"{pkg}={found.get(pkg, 'none')}" for pkg in KEY_PACKAGES)


def fingerprint(model_path: str) -> str:
    """A short key that changes whenever the model's files or the libraries that make and run
    the file change (read from package metadata: nothing is imported)."""
    h = hashlib.sha256(f"format={FORMAT};{_versions()}".encode())
    root = Path(model_path)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def encoder_path(encoder: str, name: str, model_path: str) -> Path:
    """Where the cached file of ``encoder`` for this model lives (computing it creates nothing)."""
    from askarchive.locations import cache_dir

    check_encoder(encoder)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    key = fingerprint(model_path)
    return cache_dir() / "encoders" / f"{safe}-{encoder}-f{FORMAT}-{key}.onnx"


def prune(keep: Path) -> None:
    """Delete older files of the same model and variant (each is 25-90 MB)."""
    stem = keep.name.rsplit("-", 1)[0]
    for old in keep.parent.glob(f"{stem}-*.onnx"):
        if old != keep and old.name.rsplit("-", 1)[0] == stem:
            old.unlink(missing_ok=True)
            probes_path(old).unlink(missing_ok=True)


def ensure(encoder: str, name: str, model_path: str) -> Path:
    """The file of ``encoder``, made first if it is missing (fp32: ~20 s, int8: ~5 s more)."""
    out = encoder_path(check_encoder(encoder), name, model_path)
    if out.exists() and probes_path(out).exists():
        return out
    if encoder == "fp32":
        _child("export", model_path, str(out))
    else:
        fp32 = ensure("fp32", name, model_path)
        _child("quantize", str(fp32), str(out), model_path)
    prune(out)
    return out


def _child(*args: str) -> None:
    """Run one step in a fresh interpreter; its memory, output and failure stay there."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **TELEMETRY_OFF)
    cmd = [sys.executable, "-m", "askarchive.embed.variants", *args]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=MAKE_TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EncoderUnavailable(f"{args[0]} did not finish: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        raise EncoderUnavailable(f"{args[0]} failed: {lines[-1] if lines else done.returncode}")


def _publish(tmp: Path, out: Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    # The sidecar first: a reader that finds the file always finds its reference vectors.
    record_probes(out, texts, vectors)
    os.replace(tmp, out)


def export(model_path: str, out: Path) -> float:
    """fp32: export the model to ONNX, fuse its attention and normalisation layers for ONNX
    Runtime, and record the vectors PyTorch gives the probe texts; return the largest difference
    between the file (fed by this package's tokenizer) and PyTorch."""
    if not os.path.isfile(os.path.join(model_path, "config.json")):
        raise EncoderUnavailable(f"{model_path} is not a model folder")  # before torch loads
    import torch
    from onnxruntime.transformers import optimizer
    from sentence_transformers import SentenceTransformer

    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_name(f".{out.name}.{os.getpid()}.raw.onnx")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.onnx")
    # Eager attention traces into the plain products and softmax that ONNX Runtime's optimizer
    # recognises and fuses into one Attention op per layer (about twice as fast on the CPU, and
    # what lets int8 quantise the attention products too). The reference stays the default model.
    eager = SentenceTransformer(
        model_path, device="cpu", model_kwargs={"attn_implementation": "eager"}
    ).eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = eager

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            features = dict(zip(INPUTS, (input_ids, attention_mask, token_type_ids), strict=True))
            vec = self.model.forward(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vec, p=2, dim=1)

    sample = eager.preprocess(["a short example question", "another"])
    try:
        with torch.inference_mode():
            torch.onnx.export(
                Sentence().eval(),
                tuple(sample[name] for name in INPUTS),
                str(raw),
                dynamo=False,
                input_names=list(INPUTS),
                output_names=["vector"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "seq"} for name in INPUTS},
                    "vector": {0: "batch"},
                },
                opset_version=17,
            )
        with open(os.path.join(model_path, "config.json"), encoding="utf-8") as fh:
            config = json.load(fh)
        fused = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.get("num_attention_heads", 0)),
            hidden_size=int(config.get("hidden_size", 0)),
            opt_level=1,
        )
        fused.save_model_to_file(str(tmp))
        model = SentenceTransformer(model_path, device="cpu")
        want = np.stack(
            [model.encode([t], normalize_embeddings=True, convert_to_numpy=True)[0] for t in PROBES]
        )
        # This package's tokenizer (no torch) must give what PyTorch got from its own.
        got = OrtEncoder(tmp, Featurizer(model_path)).encode(list(PROBES), batch_size=1)
        worst = float(np.abs(got - want).max())
        if worst > TOLERANCE:
            raise EncoderUnavailable(f"the exported graph differs from PyTorch by {worst:.2g}")
        _publish(tmp, out, PROBES, want)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return worst


def quantize(fp32: Path, out: Path, model_path: str) -> float:
    """int8: quantise the weights of the matrix products and fused attention (per output
    channel; activations per batch at run time). Return the lowest probe cosine to fp32."""
    if not fp32.exists():
        raise EncoderUnavailable(f"{fp32} does not exist")
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.onnx")
    try:
        quantize_dynamic(
            str(fp32),
            str(tmp),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # Fused ops hide some tensor types from ONNX's shape inference; they are all float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        featurizer = Featurizer(model_path)
        got = np.concatenate([OrtEncoder(tmp, featurizer).run(featurizer([t])) for t in PROBES])
        ref = json.loads(probes_path(fp32).read_text(encoding="utf-8"))
        cosine = float((got * np.asarray(ref["vectors"], np.float32)).sum(axis=1).min())
        if cosine < INT8_MIN_COSINE:
            raise EncoderUnavailable(f"the int8 file drifts from fp32 (cosine {cosine:.3f})")
        _publish(tmp, out, PROBES, got)
    finally:
        tmp.unlink(missing_ok=True)
    return cosine


# -- device ---------------------------------------------------------------------------------


def torch_has_cuda() -> bool:
    """Whether torch reports a usable GPU. A CPU build says so in its version, which is read
    without importing torch (seconds), so a CPU machine never pays for the check."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if "+cpu" in version("torch"):
            return False
    except PackageNotFoundError:
        return False
    import torch

    return bool(torch.cuda.is_available())


def ort_has_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def choose_device(
    requested: str,
    encoder: str,
    *,
    ort_cuda: Callable[[], bool] = ort_has_cuda,
    torch_cuda: Callable[[], bool] = torch_has_cuda,
) -> tuple[str, str]:
    """(device, runtime) for bulk embedding: ``("cpu"|"cuda", "onnxruntime"|"torch")``.

    ``auto`` takes CUDA only when a runtime able to run ``encoder`` reports it (ONNX Runtime
    runs both variants, PyTorch only fp32), and the CPU otherwise, silently. ``cuda`` without
    such a runtime is a one-line error.
    """
    if requested not in DEVICES:
        raise BadInput(f"unknown device {requested!r}; use one of: {', '.join(DEVICES)}")
    if requested != "cpu":
        if ort_cuda():
            return "cuda", "onnxruntime"
        if encoder == "fp32" and torch_cuda():
            return "cuda", "torch"
        if requested == "cuda":
            need = "onnxruntime-gpu" if encoder == "int8" else "onnxruntime-gpu or a CUDA torch"
            raise BadInput(
                f"--device cuda: no CUDA device is visible to {need} for the {encoder} encoder; "
                "use --device auto or --device cpu"
            )
    return "cpu", CPU_RUNTIME[encoder]


# Bulk fp32 on the CPU: ONNX Runtime runs the same (fused) graph 1.7x as fast as PyTorch.
CPU_RUNTIME = {"fp32": "onnxruntime", "int8": "onnxruntime"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    steps = {"export": 2, "quantize": 3}
    if not args or steps.get(args[0]) != len(args) - 1:
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        if args[0] == "export":
            result = export(args[1], Path(args[2]))
        else:
            result = quantize(Path(args[1]), Path(args[2]), args[3])
    except Exception as exc:  # reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    print(json.dumps({"path": args[2], args[0]: result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
