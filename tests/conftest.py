"""Shared fixtures. The real model loads once per session and only for tests that ask for it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from askarchive.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
