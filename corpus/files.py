"""The file system as the adapters see it: one `os.scandir` per folder (FileIndex), symlinks resolved the
way `Path.resolve` does, and why a path that is no regular file is none (a dangling symlink, a loop, a
FIFO), in words for a listing problem.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from omnicorpus.corpus.text import printable

_FILE, _LINK, _OTHER, _DIR = 0, 1, 2, 3


class FileIndex:
    """Existence and resolved path of files, from one `os.scandir` per directory.

    `resolve(path)` gives what `str(Path(path).resolve())` gives (the parent is `realpath`-ed once per
    directory; a file that is itself a symlink is resolved on its own) and whether it is a regular
    file (following symlinks). Create one per listing: it caches what it has seen.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, dict[str, int] | None] = {}
        self._real: dict[str, str] = {}

    def entries(self, directory: str) -> dict[str, int] | None:
        """name -> kind of a directory's entries (see `is_folder`, `is_link`), None when it cannot be listed."""
        found = self._dirs.get(directory, False)
        if found is not False:
            return found  # type: ignore[return-value]
        listing: dict[str, int] | None = {}
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    try:
                        if entry.is_symlink():
                            kind = _LINK
                        elif entry.is_file(follow_symlinks=False):
                            kind = _FILE
                        elif entry.is_dir(follow_symlinks=False):
                            kind = _DIR
                        else:
                            kind = _OTHER
                    except OSError:
                        kind = _OTHER
                    listing[entry.name] = kind  # type: ignore[index]
        except OSError:
            listing = None
        self._dirs[directory] = listing
        return listing

    @staticmethod
    def is_folder(kind: int) -> bool:
        """An `entries` kind that is a folder (not a symlink to one)."""
        return kind == _DIR

    @staticmethod
    def is_link(kind: int) -> bool:
        """An `entries` kind that is a symlink (to anything, or dangling)."""
        return kind == _LINK

    def realdir(self, directory: str) -> str:
        real = self._real.get(directory)
        if real is None:
            real = self._real[directory] = os.path.realpath(directory)
        return real

    def resolve(self, path: str) -> tuple[str, bool]:
        """(resolved absolute path, is an existing regular file). Never raises: a symlink loop or a
        dangling symlink resolves as far as it goes and is no file (see `problem`)."""
        if "\x00" in path:  # no file system call can take it
            return path, False
        path = os.path.abspath(path)
        parent, name = os.path.split(path)
        return self.resolve_in(parent, name)

    def resolve_in(self, parent: str, name: str) -> tuple[str, bool]:
        """`resolve(parent/name)` for an absolute, normalized `parent` (the fast path of a listing)."""
        if not name or name in (".", "..") or os.sep in name or "\x00" in name:
            path = os.path.abspath(os.path.join(parent, name))
            if "\x00" in path:
                return path, False
            if not name or name in (".", ".."):
                return realpath(path), os.path.isfile(path)
            return self.resolve(path)
        path = os.path.join(parent, name)
        listing = self.entries(parent)
        if listing is None:
            return os.path.join(self.realdir(parent), name), False
        kind = listing.get(name)
        if kind is None:
            return os.path.join(self.realdir(parent), name), False
        if kind == _LINK:
            return realpath(path), os.path.isfile(path)
        return os.path.join(self.realdir(parent), name), kind == _FILE

    def problem(self, path: str) -> str:
        """Why `path`, which `resolve` found to be no regular file, is none, in words (for a listing_error):
        `symlink loop`, `dangling symlink to <target>`, `a folder`, `not a regular file` or `does not
        exist`. Costs a stat or two: call it only for what is missing."""
        if "\x00" in path:
            return "the path holds a NUL byte"
        try:
            st = os.lstat(path)
        except OSError as exc:
            return "does not exist" if exc.errno == errno.ENOENT else f"cannot be read ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return "symlink loop (too many levels of symbolic links)"
                try:
                    to = os.readlink(path)
                except OSError:
                    to = "?"
                return f"dangling symlink to {printable(to)}"
            st = target
        if stat.S_ISDIR(st.st_mode):
            return "a folder, not a file"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        return "exists"


def realpath(path: str) -> str:
    """`str(Path(path).resolve())` without its RuntimeError on a symlink loop (the path as far as it resolves)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def subdirs(path: str | os.PathLike[str]) -> list[Path]:
    """The folders (not hidden; symlinks to folders included) directly in `path`, sorted by name;
    from one scandir, without a stat per entry where the file system gives entry types."""
    found = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                try:
                    if not entry.name.startswith(".") and entry.is_dir():
                        found.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return []
    return [Path(path) / name for name in sorted(found)]


def files_in(path: str | os.PathLike[str]) -> list[str]:
    """Names of the regular files (or symlinks to them) directly in `path`, sorted; [] when unreadable."""
    found = []
    try:
        with os.scandir(path) as it:
            for entry in it:
                try:
                    if entry.is_file():
                        found.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(found)


def walk(root: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk` in a deterministic order (sorted names), following no symlinked directories."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        filenames.sort()
        yield dirpath, dirnames, filenames


def require_dir(path: str | os.PathLike[str], layout: str) -> Path:
    """The source folder as a Path; a one-line ValueError when it is not a folder."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{layout}: source folder {p} does not exist")
    if not p.is_dir():
        raise ValueError(f"{layout}: source path {p} is not a folder")
    return p
