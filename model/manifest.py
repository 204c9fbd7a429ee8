"""What the trainer reads of a release: its manifests (Parquet) and, for what is drawn, its shards.

A release folder may be a local path or a URI that `manifests.storage` understands (s3://, gs://, ...).
Shard paths in the manifests are relative to the release folder (`../../shards/...`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from typing import IO

import polars as pl
import pyarrow.parquet as pq

from omnicorpus.manifests import storage


def read_manifest(release_dir: str | os.PathLike[str], name: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """`<release>/<name>.parquet` (utterances, shards, summary) as a polars frame."""
    fs, path = storage.resolve(storage.join(release_dir, f"{name}.parquet"))
    frame = pl.from_arrow(pq.read_table(path, filesystem=fs, columns=list(columns) if columns else None))
    assert isinstance(frame, pl.DataFrame)
    return frame


def shard_uri(release_dir: str | os.PathLike[str], relative: str) -> str:
    """The location of a shard given by its path relative to the release folder, `..` resolved."""
    base = os.fspath(release_dir)
    if "://" in base:
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, relative))}"
    return os.path.normpath(os.path.join(os.path.abspath(base), relative))


def open_binary(uri: str) -> IO[bytes]:
    """A seekable binary file: the OS's for local paths, pyarrow's random-access file for URIs."""
    if "://" not in uri or uri.startswith("file://"):
        return open(uri.removeprefix("file://"), "rb", buffering=1 << 16)  # noqa: SIM115
    fs, path = storage.resolve(uri)
    return fs.open_input_file(path)
