"""Finding input files, reading them safely, and naming articles.

Reading never raises for bad content: callers get a reason string they can show a user.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from askarchive.errors import BadInput
from askarchive.models import Skipped

PAGE_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
RECORD_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")
SUPPORTED_SUFFIXES: tuple[str, ...] = PAGE_SUFFIXES + HTML_SUFFIXES + RECORD_SUFFIXES

# One article per file above this size is almost certainly a dump of many articles.
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
# A .json file must be loaded whole; past this size, .jsonl (streamed) is the right format.
MAX_JSON_BYTES = 200 * 1024 * 1024

BINARY_SNIFF_BYTES = 8192
EMPTY_REASON = "empty file"
BINARY_REASON = "binary file, not text"
INVALID_UTF8_REASON = "invalid UTF-8: decoded with replacement characters"

# Folder documentation that sits next to articles; indexing it would pollute answers.
_FOLDER_DOC_STEMS = frozenset({"readme", "license", "licence", "copying", "changelog"})
_SUPPORTED_TEXT = " ".join(SUPPORTED_SUFFIXES)


def article_id(path: str | Path, key: str = "") -> str:
    """Stable id: the same absolute path and record key always give the same id."""
    return hashlib.sha1(f"{path}#{key}".encode()).hexdigest()[:16]


def unsupported_reason(path: Path) -> str:
    kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
    return f"unsupported file type {kind} (supported: {_SUPPORTED_TEXT})"


def _resolve_existing(raw: str | Path) -> Path:
    if str(raw).strip() == "":
        raise BadInput("no such file or folder: '' — give a file or folder path")
    path = Path(raw).expanduser()
    if not path.exists():
        raise BadInput(f"no such file or folder: {raw} — check the path")
    return path.resolve()


def roots(paths: Sequence[str | Path]) -> list[Path]:
    """The given paths, resolved; raises BadInput for one that does not exist."""
    return [_resolve_existing(raw) for raw in paths]


def _link_problem(entry: os.DirEntry[str], err: OSError) -> str:
    """Why a symlink that cannot be followed is skipped."""
    try:
        target = os.readlink(entry.path)
    except OSError:
        target = "?"
    if err.errno == errno.ELOOP:
        return f"symlink loop: {target} leads back to itself"
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"dangling symlink: its target {target} does not exist"
    return cannot_read(err)


def _walk(
    folder: Path, skipped: list[Skipped], visited: set[Path], above: tuple[Path, ...] = ()
) -> Iterable[Path]:
    """Files under ``folder``; ``above`` holds the real paths of the folders being walked."""
    real = folder.resolve()
    if real in visited:  # a folder reached twice through a symlink: its files are listed once
        return
    visited.add(real)
    above = (*above, real)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as err:
        skipped.append(Skipped(str(folder), f"cannot read folder: {err.strerror or err}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        link = entry.is_symlink()
        try:
            if link:  # follow it: a link that leads nowhere is named, never dropped silently
                mode = os.stat(entry.path).st_mode
                is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
            else:  # the type scandir already read: no extra system call per file
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
        except OSError as err:
            reason = _link_problem(entry, err) if link else cannot_read(err)
            skipped.append(Skipped(entry.path, reason))
            continue
        if is_dir:
            target = Path(entry.path).resolve()
            if link and target in above:
                skipped.append(
                    Skipped(entry.path, f"symlink loop: points back to the folder {target}")
                )
                continue
            yield from _walk(Path(entry.path), skipped, visited, above)
        elif not is_file:
            # Opening a FIFO would block; a device or socket holds no article.
            skipped.append(Skipped(entry.path, "not a regular file (a FIFO, socket or device)"))
        elif entry.name.split(".", 1)[0].lower() not in _FOLDER_DOC_STEMS:
            yield Path(entry.path)


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Supported files under ``paths`` (absolute, resolved, in sorted walk order, no repeats).

    Folders are walked recursively; hidden files and folders and folder READMEs/licences are
    ignored. A file named explicitly is always considered. Unsupported files, symlink loops,
    dangling symlinks and special files (FIFOs, sockets, devices) become ``Skipped``.
    """
    files: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    visited: set[Path] = set()
    for root in roots(paths):
        candidates = _walk(root, skipped, visited) if root.is_dir() else [root]
        for candidate in candidates:
            path = candidate.resolve()
            if path in seen:
                continue
            seen.add(path)
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                skipped.append(Skipped(str(path), unsupported_reason(path)))
    return files, skipped


@dataclass(frozen=True, slots=True)
class TextRead:
    """Outcome of reading one file as text: ``text`` is None when ``problem`` says why."""

    text: str | None
    problem: str | None = None
    replaced: bool = False


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def too_big_reason(size: int, limit: int, hint: str) -> str:
    return f"file is {_mb(size)}, over the {_mb(limit)} limit for {hint}"


def looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 text has NUL bytes but is still text
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def decode(data: bytes) -> tuple[str, bool]:
    """Text of ``data`` and whether undecodable bytes had to be replaced."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            return data.decode("utf-16", "replace"), True
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True


def read_text(path: Path, limit: int, hint: str) -> TextRead:
    """Read a whole file as text, refusing files over ``limit`` bytes without reading them."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                return TextRead(None, too_big_reason(size, limit, hint))
            # read(n) allocates n bytes up front, so ask for the known size, not the limit.
            data = handle.read(size + 1)
            if len(data) > size:  # the file grew while we looked
                data += handle.read(limit + 1 - len(data))
    except OSError as err:
        return TextRead(None, cannot_read(err))
    if len(data) > limit:
        return TextRead(None, too_big_reason(len(data), limit, hint))
    if looks_binary(data):
        return TextRead(None, BINARY_REASON)
    text, replaced = decode(data)
    if not text.strip():
        return TextRead(None, EMPTY_REASON)
    return TextRead(text, None, replaced)


def cannot_read(err: OSError) -> str:
    return f"cannot read: {err.strerror or err}"
