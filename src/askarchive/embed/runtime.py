"""What both encoders share: the offline switches, and one PyTorch pass through the model.

Nothing leaves the machine (README "Safety"). The model is a local folder, so the Hugging Face
libraries never need the network. onnxruntime's official builds carry Microsoft's 1DS
telemetry: from native threads, some seconds after the runtime starts, it looks up and posts
to mobile.events.data.microsoft.com, and it keeps a device id and an event database under
~/.cache/Microsoft/DeveloperTools. ``ORT_DISABLE_TELEMETRY=1`` stops all of that, but only when
it is in the environment before onnxruntime is imported (``disable_telemetry_events()`` comes
too late). So the switches are set when this module is imported (``embedding``,
``ortencoder`` and ``variants`` all import it), and again just before each of those libraries
is; child processes (the ONNX export) inherit them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

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


# The one deliberate import-time action: a library imported later by anyone in this process
# must already see the switches.
offline_environment()


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
