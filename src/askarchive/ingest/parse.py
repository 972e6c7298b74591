"""``parse_file``: one input file to Articles, reporting (never raising) whatever goes wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from askarchive.ingest.dates import caption_date, infer_date, parse_date_value
from askarchive.ingest.files import (
    EMPTY_REASON,
    HTML_SUFFIXES,
    INVALID_UTF8_REASON,
    MAX_ARTICLE_BYTES,
    SUPPORTED_SUFFIXES,
    article_id,
    read_text,
    unsupported_reason,
)
from askarchive.ingest.pages import PageParts, is_page, parse_page, parse_plain
from askarchive.ingest.records import parse_csv, parse_json, parse_jsonl
from askarchive.models import Article, DateSource, Skipped

_SPLIT_HINT = "one article — split it into smaller files, or use .jsonl with one article a line"
_NO_TEXT = "no article text found"


@dataclass(slots=True)
class ParseResult:
    """Articles from one file; ``skipped``: not indexed; ``warnings``: indexed with a caveat."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)


def _article(
    path: Path,
    title: str,
    body: str,
    fields: dict[str, str],
    date_text: str | None,
    caption: str | None = None,
    url: str | None = None,
) -> Article:
    date = parse_date_value(date_text) if date_text else None
    source: DateSource | None = "metadata" if date else None
    if date is None:
        date = infer_date(body) or caption_date(caption)
        source = "inferred" if date else None
    key_path = str(path)
    return Article(
        id=article_id(key_path, ""),
        title=title or path.stem,
        body=body,
        path=key_path,
        source_id=fields.pop("id", None) or None,
        date=date,
        date_source=source,
        url=url or None,
        metadata=fields,
    )


def _parse_single(path: Path, suffix: str, result: ParseResult) -> None:
    read = read_text(path, MAX_ARTICLE_BYTES, _SPLIT_HINT)
    if read.text is None:
        result.skipped.append(Skipped(str(path), read.problem or EMPTY_REASON))
        return
    text = read.text
    if suffix in HTML_SUFFIXES:
        from askarchive.ingest.html import parse_html  # pulls in trafilatura only when needed

        html = parse_html(text)
        if not html.body:
            result.skipped.append(Skipped(str(path), f"{_NO_TEXT} in the HTML page"))
            return
        article = _article(path, html.title, html.body, html.fields, html.date, url=html.url)
    else:
        parts: PageParts = (
            parse_page(text) if is_page(text) else parse_plain(text, markdown=suffix != ".txt")
        )
        if not parts.body:
            result.skipped.append(Skipped(str(path), _NO_TEXT))
            return
        fields = parts.fields
        date_text = fields.pop("date", None)
        url = fields.pop("url", None)
        article = _article(path, parts.title, parts.body, fields, date_text, parts.caption, url)
    result.articles.append(article)
    if read.replaced:
        result.warnings.append(Skipped(str(path), INVALID_UTF8_REASON))


def parse_file(path: str | Path) -> ParseResult:
    """Parse one file. Bad content and I/O problems are reported in the result, never raised."""
    result = ParseResult()
    target = Path(path)
    try:
        target = target.resolve()
        suffix = target.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            result.skipped.append(Skipped(str(target), unsupported_reason(target)))
        elif suffix in (".jsonl", ".ndjson"):
            parse_jsonl(target, result.articles, result.skipped.append, result.warnings.append)
        elif suffix == ".csv":
            parse_csv(target, result.articles, result.skipped.append, result.warnings.append)
        elif suffix == ".json":
            parse_json(target, result.articles, result.skipped.append, result.warnings.append)
        else:
            _parse_single(target, suffix, result)
    except OSError as err:
        result.skipped.append(Skipped(str(target), f"cannot read: {err.strerror or err}"))
    except Exception as err:  # noqa: BLE001 - one odd file must not stop a 20k-file index run
        result.skipped.append(
            Skipped(str(target), f"could not parse ({type(err).__name__}: {err}); please report it")
        )
    return result
