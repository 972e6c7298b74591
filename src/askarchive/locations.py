"""Where askarchive keeps per-user files (XDG on Linux, the platform's convention elsewhere).

Every function only computes a path: nothing is created at import time or on a call, so reading
a location never leaves directories behind. Callers that write create the folder they need.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "askarchive"

# Tests and portable installs point these at a folder of their choosing.
DATA_DIR_ENV = "ASKARCHIVE_DATA_DIR"
CONFIG_DIR_ENV = "ASKARCHIVE_CONFIG_DIR"
CACHE_DIR_ENV = "ASKARCHIVE_CACHE_DIR"


def _from_env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Folder for data the app writes itself (chat sessions, exports)."""
    override = _from_env(DATA_DIR_ENV)
    if override is not None:
        return override
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False, ensure_exists=False)


def config_dir() -> Path:
    """Folder for settings a user edits by hand."""
    override = _from_env(CONFIG_DIR_ENV)
    if override is not None:
        return override
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False, ensure_exists=False)


def cache_dir() -> Path:
    """Folder for files the app can rebuild at any time (the exported query encoder)."""
    override = _from_env(CACHE_DIR_ENV)
    if override is not None:
        return override
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME, appauthor=False, ensure_exists=False)


def config_file() -> Path:
    """The TOML file of user settings (the ``[llm]`` endpoint)."""
    return config_dir() / "config.toml"


def sessions_db() -> Path:
    """The SQLite file holding chat sessions."""
    return data_dir() / "sessions.sqlite3"


def exports_dir() -> Path:
    """Where exported conversations (Markdown) are written."""
    return data_dir() / "exports"
