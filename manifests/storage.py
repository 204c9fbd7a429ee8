"""One path abstraction for every byte the platform reads or writes outside Spark.

Local paths and `file://` URIs in tests; `s3://`, `gs://`, `hdfs://` through pyarrow's filesystems with
the same code (Spark itself reads those through Hadoop as `s3a://`, `gs://`; see README "Storage").
Writes are atomic and durable: a temporary name in the same folder, written and fsynced, then renamed,
then the folder fsynced, so that after a crash or a power cut the file is either absent or whole (and a
rename that returned stays done). On object stores, where a put is already atomic and rename is a copy,
the object is written under its final name directly.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
import uuid
from typing import IO

import pyarrow as pa
import pyarrow.fs as pafs

_LOCAL = pafs.LocalFileSystem()


def is_remote(uri: str | os.PathLike[str]) -> bool:
    """Whether `uri` names something off the local file system (`file://` and plain paths are local)."""
    text = os.fspath(uri)
    return "://" in text and not text.startswith("file://")


def resolve(uri: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI: pyarrow's own filesystems (s3, gs, hdfs, file),
    and any other scheme fsspec knows (memory, az, ...) through pyarrow's fsspec handler."""
    text = os.fspath(uri)
    if "://" not in text:
        return _LOCAL, os.path.abspath(text)
    if text.startswith("s3a://"):  # Hadoop's scheme for the same buckets
        text = "s3://" + text[len("s3a://") :]
    try:
        return pafs.FileSystem.from_uri(text)
    except pa.ArrowInvalid:  # a scheme pyarrow has no filesystem of its own for
        import fsspec

        protocol, _, path = text.partition("://")
        return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(protocol))), "/" + path.lstrip("/")


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Join path parts onto a local path or a URI."""
    text = os.fspath(base).rstrip("/")
    return "/".join([text, *(p.strip("/") for p in parts)])


def parent(uri: str | os.PathLike[str]) -> str:
    """The folder a local path or a URI names its last part in."""
    return os.fspath(uri).rstrip("/").rpartition("/")[0]


def join_relative(base: str | os.PathLike[str], rel: str) -> str:
    """What a relative path (one that may climb with `..`, as a release's shard paths do) names from `base`,
    normalized: a local path, or a URI of the same scheme."""
    text = os.fspath(base)
    if not is_remote(text):
        return os.path.normpath(os.path.join(text.removeprefix("file://"), rel))
    scheme, _, path = text.partition("://")
    return f"{scheme}://{posixpath.normpath(posixpath.join('/' + path, rel)).lstrip('/')}"


def exists(uri: str | os.PathLike[str]) -> bool:
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def file_size(uri: str | os.PathLike[str]) -> int | None:
    """The size of a file, or None when there is no file of that name (nothing, or a folder)."""
    fs, path = resolve(uri)
    info = fs.get_file_info(path)
    return info.size if info.type == pafs.FileType.File else None


def open_input(uri: str | os.PathLike[str]) -> pafs.NativeFile:
    """A file opened for streaming reads (FileNotFoundError, an OSError, when it is not there)."""
    fs, path = resolve(uri)
    return fs.open_input_stream(path)


def delete_file(uri: str | os.PathLike[str]) -> None:
    fs, path = resolve(uri)
    fs.delete_file(path)
    if is_local(fs):
        fsync_dir(os.path.dirname(path))


def delete_tree(uri: str | os.PathLike[str]) -> None:
    """Remove a folder and everything in it (nothing when it is not there)."""
    fs, path = resolve(uri)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)


def put_tree(folder: str | os.PathLike[str], uri: str | os.PathLike[str]) -> None:
    """Copy a local folder's files (a site built on this machine) to `uri`, each written atomically."""
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            local = os.path.join(dirpath, name)
            with open(local, "rb") as f:
                write_bytes_atomic(join(uri, os.path.relpath(local, folder).replace(os.sep, "/")), f.read())


def list_names(uri: str | os.PathLike[str]) -> list[str]:
    """The names in a folder, sorted (none when it does not exist)."""
    fs, path = resolve(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(info.base_name for info in infos)


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    fs, path = resolve(uri)
    with fs.open_input_stream(path) as f:
        return bytes(f.read())


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a folder's entries (a file renamed into it, a file created) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Make a file's bytes durable (a file another writer, such as Spark, closed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: str, dst: str) -> None:
    """Rename a written file (or folder) into place: its bytes fsynced before, both folders after."""
    if os.path.isfile(src):
        fsync_file(src)
    os.replace(src, dst)
    fsync_dir(os.path.dirname(dst) or ".")
    if os.path.dirname(src) != os.path.dirname(dst):
        fsync_dir(os.path.dirname(src) or ".")


def write_bytes_atomic(uri: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` so that readers see either nothing or all of it, durably (see the module doc)."""
    fs, path = resolve(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if not is_local(fs):
        with fs.open_output_stream(path) as f:
            f.write(data)
        return
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{path.rsplit('/', 1)[1]}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def local_temp_for(uri: str | os.PathLike[str]) -> IO[bytes]:
    """A local temporary file to stream a large output into (beside its destination when that is local)."""
    fs, path = resolve(uri)
    folder = None
    if is_local(fs):
        folder = path.rsplit("/", 1)[0]
        os.makedirs(folder, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False)  # noqa: SIM115


def commit_temp(tmp: IO[bytes], uri: str | os.PathLike[str], sha256: str | None = None) -> tuple[int, str]:
    """Move a file from local_temp_for into place; returns its (size, sha256).

    A writer that hashed the bytes as it wrote them passes `sha256`, and they are not hashed again.
    """
    tmp.flush()
    size = tmp.tell()
    tmp.seek(0)
    digest = hashlib.sha256()
    fs, path = resolve(uri)
    try:
        if is_local(fs):
            if sha256 is None:
                for block in iter(lambda: tmp.read(1 << 20), b""):
                    digest.update(block)
            os.fsync(tmp.fileno())
            tmp.close()
            os.replace(tmp.name, path)
            fsync_dir(os.path.dirname(path))
        else:
            with fs.open_output_stream(path) as out:
                for block in iter(lambda: tmp.read(1 << 20), b""):
                    if sha256 is None:
                        digest.update(block)
                    out.write(block)
    finally:
        tmp.close()
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return size, sha256 if sha256 is not None else digest.hexdigest()


def discard_temp(tmp: IO[bytes]) -> None:
    tmp.close()
    if os.path.exists(tmp.name):
        os.unlink(tmp.name)


class RangeReader:
    """Reads byte ranges of files, keeping each file open until close(): many small reads of few files."""

    def __init__(self) -> None:
        self._local: dict[str, int] = {}
        self._remote: dict[str, pafs.NativeFile] = {}

    def read(self, uri: str | os.PathLike[str], offset: int, size: int) -> bytes:
        text = os.fspath(uri)
        if text in self._local:
            data = os.pread(self._local[text], size, offset)
        elif text in self._remote:
            data = self._remote[text].read_at(size, offset)
        else:
            fs, path = resolve(text)
            if is_local(fs):
                self._local[text] = os.open(path, os.O_RDONLY)
            else:
                self._remote[text] = fs.open_input_file(path)
            return self.read(text, offset, size)
        if len(data) != size:
            raise OSError(f"{text}: {size} bytes wanted at offset {offset}, {len(data)} read")
        return data

    def close(self) -> None:
        for fd in self._local.values():
            os.close(fd)
        for f in self._remote.values():
            f.close()
        self._local.clear()
        self._remote.clear()
