"""The ONNX Runtime question encoder: cache keys, refusing bad files, and (with the real model)
vectors equal to PyTorch's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from askarchive.embed import queryencoder as qe


class TinyModel:
    """Stands in for a SentenceTransformer: every text embeds to the same unit vector."""

    def preprocess(self, texts: list[str]) -> dict[str, Any]:
        import torch

        ids = torch.ones((len(texts), 3), dtype=torch.long)
        return {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        import torch

        return {"sentence_embedding": torch.ones((features["input_ids"].shape[0], 4))}


def write_constant_model(path: Path, value: float) -> Path:
    """An ONNX graph with the encoder's inputs whose output rows all equal ``value``."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
        for name in qe.INPUTS
    ]
    output = helper.make_tensor_value_info("query_vector", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["ids_f"], ["row"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["row", "scale"], ["query_vector"]),
    ]
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [1, 4], [value] * 4)
    graph = helper.make_graph(nodes, "constant", inputs, [output], initializer=[scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_cache_path_follows_the_model_files(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASKARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"1234")
    first = qe.cache_path("my/model", str(model))
    assert first.parent == tmp_path / "cache" / "query-encoders"
    assert first.name.startswith("my_model-") and first.suffix == ".onnx"
    assert qe.cache_path("my/model", str(model)) == first
    (model / "weights.bin").write_bytes(b"12345")
    assert qe.cache_path("my/model", str(model)) != first
    assert not (tmp_path / "cache").exists()  # computing a path creates nothing


def test_prune_keeps_only_the_current_export(tmp_path: Path) -> None:
    names = ["m-aaaa.onnx", "m-bbbb.onnx", "m-x-cccc.onnx", "other-dddd.onnx"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    qe.prune(tmp_path / "m-bbbb.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == names[1:]


def test_a_matching_export_is_accepted(tmp_path: Path) -> None:
    path = write_constant_model(tmp_path / "good.onnx", 0.5)  # ones / |ones| in 4 dimensions
    encoder = qe.open_checked(path, TinyModel())
    vecs = encoder.run(TinyModel().preprocess(["a", "b"]))
    np.testing.assert_allclose(vecs, np.full((2, 4), 0.5, np.float32))
    assert path.exists()


def test_a_disagreeing_export_is_deleted(tmp_path: Path) -> None:
    path = write_constant_model(tmp_path / "bad.onnx", 0.7)
    with pytest.raises(qe.EncoderUnavailable, match="disagrees"):
        qe.open_checked(path, TinyModel())
    assert not path.exists()


def test_a_damaged_file_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "damaged.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(qe.EncoderUnavailable, match="cannot load"):
        qe.open_checked(path, TinyModel())
    assert not path.exists()


def test_export_failure_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(qe.EncoderUnavailable) as err:
        qe.export_in_child(str(tmp_path / "no-such-model"), tmp_path / "out.onnx")
    assert "\n" not in str(err.value) and str(err.value).startswith("export failed")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*tmp"))


def test_usage_message() -> None:
    assert qe.main([]) == 2


@pytest.mark.model
def test_questions_embed_like_pytorch(real_embedder: Any) -> None:
    from askarchive.embed.embedding import SentenceTransformerEmbedder

    assert real_embedder.prepare_queries() == "onnxruntime"
    assert qe.cache_path(real_embedder.name, real_embedder._path).exists()
    model = real_embedder.load()
    texts = [
        "Who replaced Jordan's water minister Haddadin in June 2016?",
        "oil",
        "What did officials say about the 1987 grain exports to the Soviet Union, and why?",
        "Qui a gagné? ¿Quién ganó? 谁赢了？",
        "long question " * 300,  # beyond the model's 256 tokens: truncated the same way
    ]
    batches = [[t] for t in texts] + [texts[:4], texts[1:]]
    for batch in batches:
        want = model.encode(batch, normalize_embeddings=True, convert_to_numpy=True)
        np.testing.assert_allclose(real_embedder.encode(batch), want, atol=1e-5)

    # A second embedder (a new process, say) opens the cached export on its first question.
    again = SentenceTransformerEmbedder()
    again._model = model
    again.encode(["first question"])
    assert again.query_backend == "onnxruntime"
    off = SentenceTransformerEmbedder(fast_queries=False)
    off._model = model
    off.encode(["first question"])
    assert off.prepare_queries() == "torch (fast_queries=False)" and off._query_encoder is None
