"""The ONNX Runtime encoders of one model variant: questions on one thread, bulk on every core.

Neither imports torch. Questions open the variant's cached file (checked against its recorded
vectors, ~50 ms) and, with ``make``, create it first; bulk indexing does the same on the device
``variants.choose_device`` picks. When the file cannot be made or opened, ``question`` returns
None with the reason in ``reason``: an fp32 index then falls back to PyTorch, an int8 one cannot.
"""

from __future__ import annotations

import threading
from pathlib import Path

from askarchive.embed.ortencoder import (
    EncoderUnavailable,
    Featurizer,
    OrtEncoder,
    TextPool,
    cores,
)


class OnnxPaths:
    def __init__(self, name: str, model_path: str, encoder: str, device: str = "auto") -> None:
        from askarchive.embed.variants import check_encoder

        self.name = name
        self.model_path = model_path
        self.encoder = check_encoder(encoder)
        self.device = device
        self.reason = "not opened yet"
        self._featurizer: Featurizer | None = None
        self._question: OrtEncoder | None = None
        self._bulk: OrtEncoder | TextPool | None = None
        self._looked = False
        self._lock = threading.Lock()

    def featurizer(self) -> Featurizer:
        if self._featurizer is None:
            self._featurizer = Featurizer(self.model_path)
        return self._featurizer

    def path(self, *, make: bool) -> Path:
        from askarchive.embed import variants

        if make:
            return variants.ensure(self.encoder, self.name, self.model_path)
        path = variants.encoder_path(self.encoder, self.name, self.model_path)
        if not path.exists():
            raise EncoderUnavailable(f"no {self.encoder} encoder file yet; warm_up() makes one")
        return path

    @property
    def ready(self) -> bool:
        return self._question is not None

    def question(self, *, make: bool, wait: bool = True) -> OrtEncoder | None:
        """The question encoder, or None (see ``reason``). Without ``wait`` it never blocks on
        another thread that is making the file; without ``make`` it only opens an existing one.
        """
        from askarchive.embed.ortencoder import open_checked

        if self._question is not None:
            return self._question
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self._question is None and (make or not self._looked):
                self._looked = True
                try:
                    self._question = open_checked(self.path(make=make), self.featurizer())
                    self.reason = "onnxruntime"
                except (EncoderUnavailable, OSError) as exc:
                    self.reason = str(exc)
        finally:
            self._lock.release()
        return self._question

    def bulk(self, device: str) -> OrtEncoder | TextPool:
        """The encoder for many texts at once: on the CPU a ``TextPool`` (every core, each text
        alone, so its vector does not depend on its batch); on the GPU padded batches."""
        from askarchive.embed.ortencoder import open_checked, open_pool

        with self._lock:
            if self._bulk is None:
                if device == "cpu":
                    self._bulk = open_pool(self.path(make=True), self.featurizer())
                else:
                    self._bulk = open_checked(
                        self.path(make=True), self.featurizer(), threads=cores(), device=device
                    )
        return self._bulk
