"""Ingestion: find input files and turn each into Articles.

``discover(paths)`` lists the files to index; ``parse_file(path)`` parses one, reporting bad
content in its result instead of raising. Nothing heavy is imported until a file needs it.
"""

from __future__ import annotations

from askarchive.ingest.files import (
    MAX_ARTICLE_BYTES,
    SUPPORTED_SUFFIXES,
    article_id,
    discover,
    roots,
)
from askarchive.ingest.parse import ParseResult, parse_file

__all__ = [
    "MAX_ARTICLE_BYTES",
    "SUPPORTED_SUFFIXES",
    "ParseResult",
    "article_id",
    "discover",
    "parse_file",
    "roots",
]
