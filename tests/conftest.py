"""Shared fixtures. The real model loads once per session and only for tests that ask for it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Keep the exported query encoder out of the user's cache; one export per test session."""
    from askarchive.locations import CACHE_DIR_ENV

    old = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = old


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from askarchive.embed.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
