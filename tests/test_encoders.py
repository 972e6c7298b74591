"""Encoder variants: the device choice, the cached files and their reference vectors, the
variant an index records, and (with the real model) vectors and a question path without torch."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from askarchive import Archive
from askarchive.embed import ortencoder, variants
from askarchive.errors import BadInput, StoreMismatch
from askarchive.index.chunking import ChunkSettings
from askarchive.store.sqlite import Store
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "archive"


def yes() -> bool:
    return True


def no() -> bool:
    return False


@pytest.mark.parametrize(
    ("requested", "encoder", "ort", "torch", "want"),
    [
        ("auto", "int8", no, no, ("cpu", "onnxruntime")),
        ("auto", "fp32", no, no, ("cpu", "onnxruntime")),
        ("auto", "int8", yes, no, ("cuda", "onnxruntime")),
        ("auto", "fp32", no, yes, ("cuda", "torch")),
        ("auto", "int8", no, yes, ("cpu", "onnxruntime")),  # torch cannot run int8
        ("cpu", "fp32", yes, yes, ("cpu", "onnxruntime")),
        ("cuda", "fp32", yes, yes, ("cuda", "onnxruntime")),
        ("cuda", "fp32", no, yes, ("cuda", "torch")),
    ],
)
def test_device_choice(requested: str, encoder: str, ort: Any, torch: Any, want: Any) -> None:
    assert variants.choose_device(requested, encoder, ort_cuda=ort, torch_cuda=torch) == want


def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    for encoder, torch in (("int8", yes), ("fp32", no)):
        with pytest.raises(BadInput) as err:
            variants.choose_device("cuda", encoder, ort_cuda=no, torch_cuda=torch)
        assert "\n" not in str(err.value) and "--device auto" in str(err.value)
    with pytest.raises(BadInput, match="unknown device"):
        variants.choose_device("gpu", "int8", ort_cuda=no, torch_cuda=no)


def test_a_cpu_torch_build_is_not_imported_to_look_for_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda _pkg: "2.13.0+cpu")
    monkeypatch.setitem(sys.modules, "torch", None)  # importing it would raise
    assert variants.torch_has_cuda() is False


def test_encoder_paths_follow_the_model_files_and_the_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"1234")
    fp32 = variants.encoder_path("fp32", "my/model", str(model))
    int8 = variants.encoder_path("int8", "my/model", str(model))
    assert fp32.parent == int8.parent == tmp_path / "cache" / "encoders"
    assert fp32.name.startswith("my_model-fp32-") and int8.name.startswith("my_model-int8-")
    (model / "weights.bin").write_bytes(b"12345")
    assert variants.encoder_path("fp32", "my/model", str(model)) != fp32
    assert not (tmp_path / "cache").exists()  # computing a path creates nothing
    with pytest.raises(BadInput, match="unknown encoder"):
        variants.encoder_path("int4", "m", str(model))


def test_prune_keeps_the_current_file_of_each_variant(tmp_path: Path) -> None:
    names = ["m-int8-f3-aaaa", "m-int8-f3-bbbb", "m-fp32-f3-cccc", "other-int8-f3-dddd"]
    for name in names:
        (tmp_path / f"{name}.onnx").write_bytes(b"")
        (tmp_path / f"{name}.probes.json").write_text("{}")
    variants.prune(tmp_path / "m-int8-f3-bbbb.onnx")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(f"{n}{ext}" for n in names[1:] for ext in (".onnx", ".probes.json"))


class FourDims:
    """Stands in for a Featurizer: every text becomes three tokens of id 1."""

    dim = 4

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        ids = np.ones((len(texts), 3), np.int64)
        return {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0}


def write_constant_model(path: Path, value: float) -> Path:
    """An ONNX graph with the encoder's inputs whose output rows all equal ``value``."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
        for name in ortencoder.INPUTS
    ]
    output = helper.make_tensor_value_info("vector", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["ids_f"], ["row"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["row", "scale"], ["vector"]),
    ]
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [1, 4], [value] * 4)
    graph = helper.make_graph(nodes, "constant", inputs, [output], initializer=[scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_file_matching_its_reference_vectors_opens(tmp_path: Path) -> None:
    path = write_constant_model(tmp_path / "good.onnx", 0.5)
    ortencoder.record_probes(path, ["a", "b"], np.full((2, 4), 0.5))
    encoder = ortencoder.open_checked(path, FourDims())  # type: ignore[arg-type]
    np.testing.assert_allclose(encoder.run(FourDims()(["x"])), np.full((1, 4), 0.5))
    assert path.exists() and ortencoder.probes_path(path).exists()


@pytest.mark.parametrize(
    ("recorded", "content", "message"),
    [
        (0.7, None, "disagrees with its reference"),
        (None, None, "no usable reference vectors"),
        (0.5, b"not a model", "cannot load"),
    ],
)
def test_a_bad_file_is_deleted_with_its_sidecar(
    tmp_path: Path, recorded: float | None, content: bytes | None, message: str
) -> None:
    path = write_constant_model(tmp_path / "m.onnx", 0.5)
    if content is not None:
        path.write_bytes(content)
    if recorded is not None:
        ortencoder.record_probes(path, ["a"], np.full((1, 4), recorded))
    with pytest.raises(ortencoder.EncoderUnavailable, match=message):
        ortencoder.open_checked(path, FourDims())  # type: ignore[arg-type]
    assert not path.exists() and not ortencoder.probes_path(path).exists()


class Lengths:
    """Stands in for a Featurizer: a text of n characters becomes n tokens of id n."""

    dim = 4
    pad = staticmethod(ortencoder.Featurizer.pad)

    def rows(self, texts: list[str], tokens: Any = None) -> list[tuple[list[int], list[int]]]:
        return [([len(t)] * len(t), [0] * len(t)) for t in texts]

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        return self.pad(self.rows(texts))


def test_a_text_pool_runs_each_text_alone_and_keeps_the_order(tmp_path: Path) -> None:
    # The graph's output is the mean token id: n for a text of n characters run alone, less
    # when padding zeros share its run, as with activation scales of int8 in a padded batch.
    path = write_constant_model(tmp_path / "mean.onnx", 1.0)
    texts = ["a" * n for n in (5, 1, 9, 3, 7, 2, 8, 4, 6)] * 7
    want = np.array([[len(t)] * 4 for t in texts], np.float32)
    pool = ortencoder.TextPool(path, Lengths(), cpus=2)  # type: ignore[arg-type]
    assert len(pool.sessions) == 2
    np.testing.assert_allclose(pool.encode(texts), want)
    batched = ortencoder.OrtEncoder(path, Lengths())  # type: ignore[arg-type]
    assert not np.allclose(batched.encode(texts, batch_size=32), want)
    assert pool.encode([]).shape == (0, 4)


def test_failed_steps_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ortencoder.EncoderUnavailable) as err:
        variants._child("export", str(tmp_path / "no-such-model"), str(tmp_path / "out.onnx"))
    assert "\n" not in str(err.value) and str(err.value).startswith("export failed")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*tmp*"))
    assert variants.main([]) == 2


def legacy_index(root: Path) -> Path:
    """An index made before variants were recorded: its manifest names no encoder."""
    store = Store.open(root, create=True)
    assert store is not None
    store.init_manifest("all-MiniLM-L6-v2", 384, ChunkSettings().as_manifest())
    store.close()
    return root


def test_an_index_without_a_recorded_variant_stays_fp32(tmp_path: Path) -> None:
    root = legacy_index(tmp_path / "old")
    with Archive.open(root) as archive:
        assert archive.embedder.encoder == "fp32"  # type: ignore[attr-defined]
    with Archive.open(root, encoder="fp32") as archive:
        assert archive.embedder.encoder == "fp32"  # type: ignore[attr-defined]
    with pytest.raises(StoreMismatch) as err:
        Archive.open(root, encoder="int8")
    assert "\n" not in str(err.value) and "--rebuild" in str(err.value)
    assert "built with the fp32 encoder" in str(err.value)
    with Archive.open(tmp_path / "new") as archive:
        assert archive.embedder.encoder == variants.DEFAULT_ENCODER  # type: ignore[attr-defined]
    with Archive.open(root, encoder="int8", rebuild=True) as archive:
        assert archive.embedder.encoder == "int8"  # type: ignore[attr-defined]


def test_the_manifest_records_the_variant_and_refuses_another(tmp_path: Path) -> None:

    make = HashEmbedder()
    make.encoder = "int8"  # type: ignore[attr-defined]
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "a.txt").write_text("Title\n\nSome words about water.", "utf-8")
    with Archive.open(tmp_path / "idx", embedder=make) as archive:
        archive.index([tmp_path / "arch"])
        assert archive._store.manifest()["encoder"] == "int8"
    other = HashEmbedder()
    other.encoder = "fp32"  # type: ignore[attr-defined]
    with pytest.raises(StoreMismatch, match="built with the int8 encoder, not fp32"):
        Archive.open(tmp_path / "idx", embedder=other)
    with Archive.open(tmp_path / "idx", embedder=HashEmbedder()) as archive:  # no variant: ok
        assert archive.stats().articles == 1


def test_cli_refuses_another_variant_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from askarchive.cli.main import main

    root = legacy_index(tmp_path / "old")
    code = main(["index", str(SAMPLE), "--index", str(root), "--encoder", "int8", "--json"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err
    assert err.startswith("askarchive: error:") and "--rebuild" in err
    with pytest.raises(SystemExit):  # argparse lists the choices
        main(["index", str(SAMPLE), "--index", str(root), "--device", "tpu"])


# -- with the real model ------------------------------------------------------------------------


@pytest.mark.model
def test_fp32_questions_embed_like_pytorch(real_embedder: Any) -> None:
    from askarchive.embed.embedding import SentenceTransformerEmbedder

    assert real_embedder.prepare_queries() == "onnxruntime"
    model = real_embedder.load()
    texts = [
        "Who replaced Jordan's water minister Haddadin in June 2016?",
        "oil",
        "  What did officials say about the 1987 grain exports to the Soviet Union, and why? ",
        "Qui a gagné? ¿Quién ganó? 谁赢了？",
        "long question " * 300,  # beyond the model's 256 tokens: truncated the same way
    ]
    for batch in [[t] for t in texts] + [texts[:4], texts[1:]]:
        want = model.encode(batch, normalize_embeddings=True, convert_to_numpy=True)
        np.testing.assert_allclose(real_embedder.encode(batch), want, atol=1e-5)
    # Bulk fp32 (many texts) runs the same file on every core.
    many = texts * 3
    want = model.encode(many, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(real_embedder.encode(many), want, atol=1e-5)

    # A second embedder (a new process, say) opens the cached file on its first question.
    again = SentenceTransformerEmbedder()
    again.encode(["first question"])
    assert again.query_backend == "onnxruntime" and not again._model
    off = SentenceTransformerEmbedder(fast_queries=False)
    off._model = model
    off.encode(["first question"])
    assert off.prepare_queries() == "torch (fast_queries=False)"


@pytest.mark.model
@pytest.mark.parametrize("encoder", variants.ENCODERS)
def test_every_variant_gives_a_text_one_vector_whatever_its_batch(encoder: str) -> None:
    """int8 quantises activations with one scale per run: batched with others, a text's vector
    would move by up to 0.03. Bulk embedding runs each text alone, as a question is run."""
    from askarchive.embed.embedding import SMALL_BATCH, SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(encoder=encoder)
    text = "Oil prices fell after the OPEC meeting in Vienna, traders said."
    mates = ["x", "A much longer text about the central bank and interest rates. " * 12, "Why?"]
    alone = emb.encode([text])
    bulk = [*mates, text, *mates] * (SMALL_BATCH // 4 + 1)
    assert len(bulk) > SMALL_BATCH
    for batch in ([text, *mates], bulk):  # the question path and the bulk path
        got = emb.encode(batch)[batch.index(text)]
        np.testing.assert_allclose(got, alone[0], atol=1e-6)


@pytest.mark.model
def test_int8_stays_close_to_fp32(real_embedder: Any) -> None:
    from askarchive.embed.embedding import SentenceTransformerEmbedder

    int8 = SentenceTransformerEmbedder(encoder="int8")
    texts = [
        "Jordan signed a $1.1 billion agreement to build a desalination plant in Aqaba.",
        "Oil prices fell after the OPEC meeting in Vienna, traders said.",
        "Who replaced the water minister?",
        "The central bank raised interest rates by half a point on Tuesday.",
        "Wheat exports to the Soviet Union rose in 1987.",
    ]
    got, want = int8.encode(texts), real_embedder.encode(texts)
    assert float((got * want).sum(axis=1).min()) > 0.97
    assert int8.query_backend == "onnxruntime" or int8.encode(texts[:1]).shape == (1, 384)


@pytest.mark.model
def test_search_and_ask_import_neither_torch_nor_sentence_transformers(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "idx", encoder="int8") as archive:
        assert archive.index([SAMPLE]).added == 40
        archive.warm_up()
    code = (
        "import sys\n"
        "from askarchive.cli.main import main\n"
        "codes = [main([cmd, text, '--index', sys.argv[1]] + extra) for cmd, text, extra in [\n"
        "    ('search', 'Aqaba desalination', ['-k', '2']),\n"
        "    ('ask', 'Why did the water minister resign?', ['--no-llm'])]]\n"
        "heavy = [m for m in ('torch', 'sentence_transformers') if m in sys.modules]\n"
        "print('RESULT', codes, heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "idx")],
        capture_output=True,
        text=True,
        env=dict(os.environ),  # the session's private cache holds the encoder files
        timeout=300,
        check=False,
    )
    assert "RESULT [0, 0] []" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def test_the_cli_help_names_the_default_variant() -> None:
    from askarchive.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = sub.choices["index"].format_help()
    assert f"(default {variants.DEFAULT_ENCODER};" in " ".join(text.split())


@pytest.mark.model
@pytest.mark.parametrize("encoder", variants.ENCODERS)
def test_the_chunkers_ids_give_the_vectors_of_the_texts(encoder: str) -> None:
    """Bulk embedding takes each chunk's ids from the chunker instead of tokenizing its text
    again; the vectors are the same to the last bit."""
    from askarchive.embed.embedding import SentenceTransformerEmbedder
    from askarchive.index.chunking import ChunkSettings, chunk_with_tokens
    from askarchive.models import Article

    emb = SentenceTransformerEmbedder(encoder=encoder)
    body = " ".join(f"Sentence {i} says OPEC met in Vienna on June {i}, 1987." for i in range(60))
    article = Article(id="a", title="Oil prices fall", body=body, path="p")
    _, texts, tokens = chunk_with_tokens(article, emb, ChunkSettings(40, 8))
    assert len(texts) > 4 and all(t is not None for t in tokens)
    np.testing.assert_array_equal(emb.encode_tokens(texts, tokens), emb.encode(texts))


def test_ids_cut_from_a_longer_text_are_used_only_by_a_wordpiece_tokenizer() -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "probe": 3, "text": 4}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    assert ortencoder._wrapping(tok) == ([1], [2])
    # Byte-level BPE marks a word's leading space in its token: a word cut from the middle of
    # an article is another token than the same word opening a text.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    assert ortencoder._wrapping(tok) is None
