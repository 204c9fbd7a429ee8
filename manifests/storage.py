"""One path abstraction for every byte the platform reads or writes outside Spark.

Local paths and `file://` URIs in tests; `s3://`, `gs://`, `hdfs://` through pyarrow's filesystems with
the same code (Spark itself reads those through Hadoop as `s3a://`, `gs://`; see README "Storage").
Writes are atomic: a temporary name in the same folder, then a rename. On object stores, where a put
is already atomic and rename is a copy, the object is written under its final name directly.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import IO

import pyarrow.fs as pafs


def resolve(uri: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI."""
    text = os.fspath(uri)
    if "://" not in text:
        return pafs.LocalFileSystem(), str(Path(text).absolute())
    if text.startswith("s3a://"):  # Hadoop's scheme for the same buckets
        text = "s3://" + text[len("s3a://") :]
    fs, path = pafs.FileSystem.from_uri(text)
    return fs, path


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Join path parts onto a local path or a URI."""
    text = os.fspath(base).rstrip("/")
    return "/".join([text, *(p.strip("/") for p in parts)])


def exists(uri: str | os.PathLike[str]) -> bool:
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    fs, path = resolve(uri)
    with fs.open_input_stream(path) as f:
        return bytes(f.read())


def write_bytes_atomic(uri: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` so that readers see either nothing or all of it."""
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
        os.replace(tmp, path)
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


def commit_temp(tmp: IO[bytes], uri: str | os.PathLike[str]) -> tuple[int, str]:
    """Move a file from local_temp_for into place; returns its (size, sha256)."""
    tmp.flush()
    size = tmp.tell()
    tmp.seek(0)
    digest = hashlib.sha256()
    fs, path = resolve(uri)
    try:
        if is_local(fs):
            for block in iter(lambda: tmp.read(1 << 20), b""):
                digest.update(block)
            tmp.close()
            os.replace(tmp.name, path)
        else:
            with fs.open_output_stream(path) as out:
                for block in iter(lambda: tmp.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    finally:
        tmp.close()
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return size, digest.hexdigest()


def discard_temp(tmp: IO[bytes]) -> None:
    tmp.close()
    if os.path.exists(tmp.name):
        os.unlink(tmp.name)
