"""Discovery, the audit's first step: the image files under the paths given, each with its key or the reason
it cannot be assessed.

Folders are searched recursively for image files (:data:`IMAGE_SUFFIXES`); files named explicitly are
assessed whatever their suffix.  A file that cannot be read as a file gets its reason, which never stops the
audit.  A file's key (:class:`FileKey`) is what the result cache (:mod:`phoneiqa.audit.store`) knows one
version of it by.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".hif"}
)
"""File suffixes (any case) an audit looks for inside folders."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A file an audit found: its path as found, and why it cannot be assessed (empty if it can)."""

    path: str
    error: str = ""


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file: absolute path, size in bytes, modification time in ns."""

    path: str
    size: int
    mtime_ns: int


def find_images(paths: Iterable[str | os.PathLike]) -> list[Entry]:
    """The image files under ``paths`` (folders recursively, symbolic links followed once), sorted by path.

    Folders that cannot be listed and paths that do not exist come back as entries with an error.
    """
    entries: list[Entry] = []
    visited: set[tuple[int, int]] = set()
    for given in paths:
        path = os.path.expanduser(os.fspath(given))
        if os.path.isdir(path):
            entries += _walk(path, visited)
        elif os.path.lexists(path):
            entries.append(Entry(path))
        else:
            entries.append(Entry(path, "no such file or folder"))
    return sorted(set(entries), key=lambda e: e.path)


def _walk(folder: str, visited: set[tuple[int, int]]) -> Iterator[Entry]:
    """Depth-first listing of one folder, each real folder once (so symbolic-link loops end)."""
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in visited:
            return
        visited.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda d: d.name)
    except OSError as exc:
        yield Entry(folder, f"folder not searched: {_file_error(folder, exc)}")
        return
    for child in children:
        if Path(child.name).suffix.lower() in IMAGE_SUFFIXES:
            yield Entry(child.path)
            continue
        try:
            is_dir = child.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(child.path, visited)


def file_key(entry: Entry) -> FileKey | str:
    """The cache key of a found file, or why it cannot be read as a file at all."""
    try:
        st = os.stat(entry.path)
    except OSError as exc:
        return _file_error(entry.path, exc)
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not an image file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return FileKey(os.path.abspath(entry.path), st.st_size, st.st_mtime_ns)


def _file_error(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link (its target does not exist)"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def discover(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[list[Entry], dict[str, str]]:
    """The image files under ``paths``, sorted, and the reasons of those found unusable already (path -> error)."""
    entries = find_images([paths] if isinstance(paths, (str, os.PathLike)) else paths)
    return entries, {e.path: e.error for e in entries if e.error}


def file_keys(entries: Iterable[Entry], errors: dict[str, str]) -> Iterator[tuple[Entry, FileKey]]:
    """The cache key of each entry not in ``errors``; one that cannot be read as a file gets its reason there."""
    for entry in entries:
        if entry.path in errors:
            continue
        key = file_key(entry)
        if isinstance(key, str):
            errors[entry.path] = key
        else:
            yield entry, key
