"""The index folder: which database is live (``CURRENT``), the one-writer lock, damaged files.

Everything here works on file names and locks only; no database is opened. See ``sqlite.py`` for
the folder's layout and how these pieces keep readers and a crashed writer consistent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from pathlib import Path

from askarchive.errors import StoreBusy, StoreCorrupt

LOCK_NAME = "index.lock"
POINTER = "CURRENT"
DAMAGED_PREFIX = "damaged-"
_DB_NAME = re.compile(r"store-[0-9A-Za-z_-]{1,64}\.sqlite")


def damaged(root: Path, reason: str) -> StoreCorrupt:
    """The error for a store that cannot be read: one line naming the rebuild that fixes it."""
    return StoreCorrupt(
        f"the index at {root} is damaged: {reason}; "
        f"rebuild it with `askarchive index PATH --rebuild --index {root}`",
        reason=reason,
    )


def make_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreCorrupt(
            f"cannot create the index folder {root} ({exc.strerror}); "
            "choose another folder with --index"
        ) from exc


def new_database_path(root: Path) -> Path:
    return root / f"store-{uuid.uuid4().hex}.sqlite"


def database_uid(db: Path) -> str:
    """The id in a database's file name, shared by the FAISS files derived from it."""
    return db.stem.removeprefix("store-")


# -- the one writer -------------------------------------------------------------------------------
def lock_folder(root: Path) -> int:
    """Take the one-writer lock of ``root``; return the descriptor (closing it releases it)."""
    import fcntl

    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusy(
            f"another `askarchive index` is writing to {root}; "
            "wait for it to finish, then run the command again"
        ) from None
    return fd


def writer_active(root: Path) -> bool:
    """True while some connection (any process, this one included) holds the write lock."""
    import fcntl

    try:
        fd = os.open(root / LOCK_NAME, os.O_RDONLY)  # readers create no file
    except FileNotFoundError:
        return False  # no writer has ever run here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if we got it
    return False


# -- CURRENT --------------------------------------------------------------------------------------
def live_database(root: Path) -> Path | None:
    """The database ``CURRENT`` names, checked to be a store file inside ``root``.

    None when there is no ``CURRENT``; ``StoreCorrupt`` when it names no such file.
    """
    pointer = root / POINTER
    try:
        raw = pointer.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None  # no index here (or a file where the folder should be)
    except OSError as exc:
        raise damaged(root, f"its {POINTER} file cannot be read ({exc.strerror})") from exc
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise damaged(root, f"its {POINTER} file holds no database name") from None
    if not name:
        raise damaged(root, f"its {POINTER} file is empty")
    if not _DB_NAME.fullmatch(name):
        raise damaged(
            root, f"its {POINTER} file names {name[:80]!r}, not a database in the index folder"
        )
    db = root / name
    if not db.exists():
        raise damaged(root, f"its {POINTER} file names a missing database {name}")
    if db.resolve().parent != root.resolve():
        raise damaged(root, f"its database {name} links to a file outside the index folder")
    return db


def publish(root: Path, db: Path) -> None:
    """Make ``db`` the live database of ``root`` (one atomic rename)."""
    tmp = root / (POINTER + ".tmp")
    tmp.write_text(db.name + "\n", encoding="utf-8")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, root / POINTER)


def remove_stale_files(root: Path) -> None:
    """Delete databases and FAISS files that ``CURRENT`` does not name (hold the lock)."""
    live = live_database(root)
    if live is None:
        return
    keep = database_uid(live)
    for path in root.glob("store-*"):
        if keep not in path.name:
            path.unlink(missing_ok=True)


def move_aside(root: Path, keep: Path) -> Path:
    """Move the files of a damaged store into a new ``damaged-<time>`` folder of ``root``.

    Every ``store-*`` file except those of the database ``keep`` goes, with a copy of
    ``CURRENT`` (which ``publish`` then replaces). Nothing is deleted; a file ``CURRENT``
    names outside the folder is never touched. Hold the lock.
    """
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = root / f"{DAMAGED_PREFIX}{stamp}"
    n = 1
    while True:
        try:
            dest.mkdir()
            break
        except FileExistsError:
            n += 1
            dest = root / f"{DAMAGED_PREFIX}{stamp}-{n}"
    pointer = root / POINTER
    if pointer.is_file() and not pointer.is_symlink():
        (dest / POINTER).write_bytes(pointer.read_bytes())
    elif pointer.exists() or pointer.is_symlink():
        os.rename(pointer, dest / POINTER)  # a folder or link: publish could not replace it
    keep_id = database_uid(keep)
    for path in sorted(root.glob("store-*")):
        if keep_id not in path.name:
            os.rename(path, dest / path.name)
    return dest
