"""Where the optional LLM endpoint is and how long a request may take: ``LLMConfig``.

Read from arguments, then the environment, then the ``[llm]`` table of the config file (its path
comes from ``locations`` like every other per-user file). Kept apart from the client and the
prompts so both can name the config without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from askarchive.errors import BadInput
from askarchive.locations import config_file
from askarchive.text import one_line

ENV_URL = "ASKARCHIVE_LLM_URL"
ENV_MODEL = "ASKARCHIVE_LLM_MODEL"
ENV_KEY = "ASKARCHIVE_LLM_API_KEY"
ENV_TIMEOUT = "ASKARCHIVE_LLM_TIMEOUT"
# llama.cpp's server ignores the model field; other servers answer 404 and the error names the fix.
DEFAULT_MODEL_NAME = "default"
# The total deadline of one request: connecting, the first token and the whole answer (see
# client.py). A small local model on a laptop CPU reads the passages and answers within it.
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class LLMConfig:
    """Where to send chat requests. ``url`` is the API base, e.g. ``http://127.0.0.1:11434/v1``.

    ``timeout`` is the total deadline of each request in seconds, from connecting to the last
    word of the answer; at the deadline the request fails with ``LLMUnavailable``.
    """

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def resolve(
        cls, url: str | None = None, model: str | None = None, config_path: Path | None = None
    ) -> LLMConfig | None:
        """Arguments beat environment, which beats ``[llm]`` in the config file; no URL -> None.

        The API key is read only from ``ASKARCHIVE_LLM_API_KEY`` so it never sits in a file or in
        shell history. A URL without a model uses ``"default"``.
        """
        from_file = _read_config(config_path)
        env = {k: v for k in (ENV_URL, ENV_MODEL, ENV_TIMEOUT) if (v := os.environ.get(k))}
        base = url or env.get(ENV_URL) or from_file.get("url")
        if not base:
            return None
        base = base.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(
                f"LLM url {base!r} is not an http(s) URL; use e.g. http://127.0.0.1:11434/v1"
            )
        name = model or env.get(ENV_MODEL) or from_file.get("model") or DEFAULT_MODEL_NAME
        timeout = _positive(env.get(ENV_TIMEOUT), ENV_TIMEOUT)
        if timeout is None:
            timeout = _positive(from_file.get("timeout"), "timeout in the config file")
        return cls(
            url=base,
            model=name,
            api_key=os.environ.get(ENV_KEY) or None,
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
        )


def _read_config(config_path: Path | None) -> dict[str, Any]:
    path = Path(config_path) if config_path is not None else config_file()
    if not path.is_file():
        if config_path is not None:
            raise BadInput(f"config file {path} does not exist; create it or omit the option")
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise BadInput(f"reading {path} needs Python 3.11+ or `pip install tomli`") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"config file {path} is unreadable ({one_line(exc, 160)}); fix it") from None
    section = data.get("llm", {})
    if not isinstance(section, dict):
        raise BadInput(f"[llm] in {path} must be a table; fix the config file")
    for key in ("url", "model"):
        if key in section and not isinstance(section[key], str):
            raise BadInput(f"llm.{key} in {path} must be a string; fix the config file")
    # An api_key key is ignored on purpose: keys belong in the environment only.
    return {k: section[k] for k in ("url", "model", "timeout") if k in section}


def _positive(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if isinstance(value, bool) or not number > 0:
        raise BadInput(f"{what} must be a number of seconds > 0, got {value!r}")
    return number
