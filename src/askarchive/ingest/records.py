"""Many-article files: .jsonl/.ndjson and .csv (streamed line by line) and .json.

Each record is turned into an Article on its own; a bad record is reported and skipped while the
rest of the file is still indexed.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from askarchive.ingest.dates import infer_date, parse_date_value
from askarchive.ingest.files import (
    BINARY_REASON,
    BINARY_SNIFF_BYTES,
    EMPTY_REASON,
    INVALID_UTF8_REASON,
    MAX_JSON_BYTES,
    article_id,
    cannot_read,
    decode,
    looks_binary,
    read_text,
)
from askarchive.ingest.pages import paragraphs
from askarchive.models import Article, Skipped

TITLE_FIELDS = ("title", "headline")
BODY_FIELDS = ("body", "text", "content", "article")
DATE_FIELDS = ("date", "published_at", "published", "pubdate", "publication_date")
URL_FIELDS = ("url", "link")
ID_FIELDS = ("id", "_id")  # "_id" as in BEIR-style corpora
_LIST_KEYS = ("articles", "items", "records", "data", "documents")
_TITLE_FALLBACK_CHARS = 100
_CSV_FIELD_LIMIT = 64 * 1024 * 1024
NO_BODY_REASON = "no body text (expected a field named body, text, content or article)"

Report = Callable[[Skipped], None]


def _pick(fields: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in fields:
            value = fields[name]
            if value is not None and value != "":
                return name, value
    return None, None


def _as_text(value: Any) -> str:
    if isinstance(value, dict):
        return ""  # a nested object is not article text
    if isinstance(value, list):
        return "\n\n".join(_as_text(v) for v in value if v is not None)
    return value if isinstance(value, str) else str(value)


def _fallback_title(body: str) -> str:
    line = body.split("\n", 1)[0]
    if len(line) <= _TITLE_FALLBACK_CHARS:
        return line
    cut = line[:_TITLE_FALLBACK_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


class RecordBuilder:
    """Turns record mappings of one file into Articles with stable, de-duplicated keys."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._keys: set[str] = set()

    def build(self, record: Any, fallback_key: str) -> Article | str:
        """An Article, or the reason this record cannot be one."""
        if not isinstance(record, Mapping):
            return f"not a record: expected a JSON object, got {type(record).__name__}"
        fields = {str(k).strip().lower(): v for k, v in record.items()}
        originals = {str(k).strip().lower(): str(k) for k in record}
        used: set[str] = set()

        body_name, body_value = _pick(fields, BODY_FIELDS)
        body = paragraphs(_as_text(body_value).splitlines()) if body_value is not None else ""
        if not body:
            return NO_BODY_REASON
        used.add(body_name or "")
        title_name, title_value = _pick(fields, TITLE_FIELDS)
        title = " ".join(_as_text(title_value).split()) if title_value is not None else ""
        used.add(title_name or "")
        date_name, date_value = _pick(fields, DATE_FIELDS)
        used.add(date_name or "")
        url_name, url_value = _pick(fields, URL_FIELDS)
        used.add(url_name or "")
        id_name, id_value = _pick(fields, ID_FIELDS)
        used.add(id_name or "")

        source_id = str(id_value).strip() if id_value is not None else None
        key = source_id or fallback_key
        if key in self._keys:
            key = f"{key}@{fallback_key}"
        self._keys.add(key)

        day = parse_date_value(date_value)
        source = "metadata" if day else None
        if day is None:
            day = infer_date(body)
            source = "inferred" if day else None

        metadata: dict[str, str] = {}
        for name, value in fields.items():
            if name in used or value is None or isinstance(value, (dict, bool)):
                continue
            if isinstance(value, list):
                if not all(isinstance(v, (str, int, float)) for v in value):
                    continue
                value = ", ".join(str(v) for v in value)
            text = str(value).strip()
            if text:
                metadata[originals[name]] = text
        if key:
            metadata["record"] = key
        return Article(
            id=article_id(self.path, key),
            title=title or _fallback_title(body),
            body=body,
            path=self.path,
            source_id=source_id or None,
            date=day,
            date_source=source,
            url=str(url_value).strip() if url_value is not None else None,
            metadata=metadata,
        )


class _Lines:
    """Decoded lines of a file read in binary, noting the first line with invalid UTF-8."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.number = 0
        self.first_bad_line: int | None = None

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.number += 1
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.first_bad_line is None:
                    self.first_bad_line = self.number
                yield raw.decode("utf-8", "replace")


def _sniff(handle: Any) -> str | None:
    """None if the file is fine to stream, else the reason to skip it whole."""
    head = handle.read(BINARY_SNIFF_BYTES)
    handle.seek(0)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text: save the file as UTF-8 to index it line by line"
    if looks_binary(head):
        return BINARY_REASON
    if not head.strip():
        size = os.fstat(handle.fileno()).st_size
        if size <= BINARY_SNIFF_BYTES or not handle.read().strip():
            return EMPTY_REASON
        handle.seek(0)
    return None


def _finish(path: Path, lines: _Lines, warn: Report) -> None:
    if lines.first_bad_line is not None:
        warn(Skipped(str(path), f"{INVALID_UTF8_REASON} (first at line {lines.first_bad_line})"))


def parse_jsonl(path: Path, articles: list[Article], skip: Report, warn: Report) -> None:
    builder = RecordBuilder(path)
    try:
        with open(path, "rb") as handle:
            reason = _sniff(handle)
            if reason:
                skip(Skipped(str(path), reason))
                return
            lines = _Lines(handle)
            for line in lines:
                if not line.strip():
                    continue
                where = f"{path}:{lines.number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    skip(Skipped(where, f"malformed JSON: {err.msg} at column {err.colno}"))
                    continue
                built = builder.build(record, f"line{lines.number}")
                if isinstance(built, str):
                    skip(Skipped(where, built))
                else:
                    articles.append(built)
            _finish(path, lines, warn)
    except OSError as err:
        skip(Skipped(str(path), cannot_read(err)))


def _delimiter(header: str) -> str:
    return max((",", ";", "\t"), key=header.count)


def parse_csv(path: Path, articles: list[Article], skip: Report, warn: Report) -> None:
    builder = RecordBuilder(path)
    # Article bodies easily pass csv's default 128 KB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    try:
        with open(path, "rb") as handle:
            reason = _sniff(handle)
            if reason:
                skip(Skipped(str(path), reason))
                return
            first = handle.readline()
            handle.seek(0)
            lines = _Lines(handle)
            reader = csv.reader(lines, delimiter=_delimiter(decode(first)[0]))
            header: list[str] | None = None
            row_number = 0
            while True:
                start = lines.number + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as err:
                    skip(Skipped(f"{path}:{start}", f"malformed CSV: {err}"))
                    if lines.number < start:
                        break  # the reader is stuck; stop rather than loop
                    continue
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [cell.strip() for cell in row]
                    continue
                row_number += 1
                where = f"{path}:{start}"
                if len(row) > len(header):
                    skip(Skipped(where, f"{len(row)} fields but the header names {len(header)}"))
                    continue
                # A short row just lacks its last fields.
                record = {name: value for name, value in zip(header, row, strict=False) if name}
                built = builder.build(record, f"row{row_number}")
                if isinstance(built, str):
                    skip(Skipped(where, built))
                else:
                    articles.append(built)
            if header is not None and row_number == 0:
                skip(Skipped(str(path), "CSV has a header row but no records"))
            _finish(path, lines, warn)
    except OSError as err:
        skip(Skipped(str(path), cannot_read(err)))


def parse_json(path: Path, articles: list[Article], skip: Report, warn: Report) -> None:
    read = read_text(path, MAX_JSON_BYTES, "a .json file — convert it to .jsonl, one record a line")
    if read.text is None:
        skip(Skipped(str(path), read.problem or EMPTY_REASON))
        return
    if read.replaced:
        warn(Skipped(str(path), INVALID_UTF8_REASON))
    try:
        data = json.loads(read.text)
    except json.JSONDecodeError as err:
        skip(Skipped(str(path), f"malformed JSON: {err.msg} at line {err.lineno}"))
        return
    except RecursionError:
        skip(Skipped(str(path), "malformed JSON: nested too deeply"))
        return
    if (
        isinstance(data, dict)
        and not _pick({k.lower(): v for k, v in data.items()}, BODY_FIELDS)[0]
    ):
        lists = [data[k] for k in data if k.lower() in _LIST_KEYS and isinstance(data[k], list)]
        if lists:
            data = lists[0]
    builder = RecordBuilder(path)
    if isinstance(data, list):
        for n, record in enumerate(data, start=1):
            built = builder.build(record, f"item{n}")
            if isinstance(built, str):
                skip(Skipped(f"{path}:item{n}", built))
            else:
                articles.append(built)
        if not data:
            skip(Skipped(str(path), "empty JSON list: no records"))
        return
    built = builder.build(data, "")
    if isinstance(built, str):
        skip(Skipped(str(path), built))
    else:
        articles.append(built)
