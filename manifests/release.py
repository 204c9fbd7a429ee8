"""Releases: immutable folders `OUT/releases/<id>/` that a trainer and every user read.

    release.json        id, time, config hash, parent, counts, schema version, content digest
    shards.parquet      every shard: path (relative to the release folder), language, corpus, split, ...
    utterances.parquet  one row per sample
    summary.parquet     hours, utterances, shards, speakers per (language, corpus, split)
    rejects.parquet     every rejection of every stage

A release is written under a temporary name and renamed into place when complete; `OUT/releases/latest`
(a one-line file naming the newest release) moves last. Shards live outside releases, in `OUT/shards/`,
and are shared by every release that holds them. The manifests depend only on their content, so the same
inputs and config give byte-identical files; release.json's time is `SOURCE_DATE_EPOCH` when set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from omnicorpus.manifests import storage
from omnicorpus.manifests.languages import UNDETERMINED
from omnicorpus.manifests.layout import release_dir, releases_dir, root_of_release
from omnicorpus.manifests.licences import licence_ledger, summary_parts, utterance_parts
from omnicorpus.manifests.schema import REJECTS, SCHEMA_VERSION, SHARDS, SUMMARY, UTTERANCES
from omnicorpus.manifests.tables import conform, read_table, to_parquet_bytes

RELEASE_FILES = ("shards.parquet", "utterances.parquet", "summary.parquet", "rejects.parquet")


@dataclass(frozen=True)
class Release:
    uri: str  # the release folder, `<output root>/releases/<id>`: a local path or a storage URI
    info: dict[str, Any]

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def path(self) -> Path:
        """The release folder on this machine's file system, for what reads local files (the gate's Great
        Expectations, the report, the trainer's shard reader); a release on remote storage has none."""
        if storage.is_remote(self.uri):
            raise ValueError(f"{self.uri} is on remote storage: this needs the release on a local file system")
        return Path(self.uri.removeprefix("file://"))

    @property
    def root(self) -> str:
        """The output root the release was made in, whose `shards/` its shard paths point into."""
        return root_of_release(self.uri)

    def table(self, name: str) -> pa.Table:
        from omnicorpus.manifests.schema import TABLES

        return read_table(storage.join(self.uri, f"{name}.parquet"), TABLES[name])


def latest_release(root: str | os.PathLike[str]) -> Release | None:
    pointer = storage.join(releases_dir(root), "latest")
    if not storage.exists(pointer):
        return None
    return open_release(release_dir(root, storage.read_bytes(pointer).decode().strip()))


def _release_ids(root: str | os.PathLike[str]) -> list[str]:
    """The ids of the releases made in an output root (folders `v<n>` that hold a release.json), in order."""
    folder = releases_dir(root)
    return [name for name in storage.list_names(folder)
            if name.startswith("v") and storage.exists(storage.join(folder, name, "release.json"))]


def newest_release(root: str | os.PathLike[str]) -> Release | None:
    """The release made last, whether or not it passed its gate (`latest` names the newest that did)."""
    ids = _release_ids(root)
    return open_release(release_dir(root, ids[-1])) if ids else None


def open_release(path: str | os.PathLike[str]) -> Release:
    """A release by its folder, or by an output root (then its latest release); a local path or a storage URI.
    Local symlinks are resolved: a release's shard paths are relative to where it really lies."""
    uri = os.fspath(path)
    if not storage.is_remote(uri):
        uri = str(Path(uri.removeprefix("file://")).resolve())
    info_uri = storage.join(uri, "release.json")
    if not storage.exists(info_uri):
        latest = latest_release(uri) if storage.exists(releases_dir(uri)) else None
        if latest is None:
            raise FileNotFoundError(f"{uri} is not a release (no release.json) nor an output root with one")
        return latest
    return Release(uri, json.loads(storage.read_bytes(info_uri).decode("utf-8")))


def output_root_of(release: Release) -> str:
    """The output root a release was made in (a local path or a storage URI), whose `shards/` its shard paths
    point into; a one-line ValueError when the release folder does not lie in one (a copy of the folder alone)."""
    shards = pc.unique(release.table("shards").column("path")).to_pylist()[:3]
    missing = [storage.join_relative(release.uri, p) for p in shards
               if storage.file_size(storage.join_relative(release.uri, p)) is None]
    if storage.parent(release.uri).rpartition("/")[2] == "releases" and not missing:
        return release.root
    example = f" (e.g. {missing[0]} is missing)" if missing else ""
    raise ValueError(
        f"{release.uri} is release {release.id} outside the output root it was made in: its shard paths are "
        f"relative to that root's releases/{release.id}/ folder and point into its shards/{example}; give the "
        f"release as OUT/releases/{release.id} (or OUT) of that output root, or copy the output root whole")


def summarize(utterances: pa.Table, shards: pa.Table) -> pa.Table:
    """Hours, utterances, shards and speakers per (language, corpus, split)."""
    keys = ["language", "corpus", "split"]
    utts = pl.DataFrame(utterances).group_by(keys).agg(
        (pl.col("seconds").sum() / 3600).alias("hours"),
        pl.len().alias("utterances"),
        pl.col("speaker").drop_nulls().n_unique().alias("speakers"),
    )
    shard_counts = pl.DataFrame(shards).group_by(keys).agg(pl.len().alias("shards"))
    table = utts.join(shard_counts, on=keys, how="left", nulls_equal=True).sort(keys, nulls_last=True)
    return conform(table.to_arrow(), SUMMARY)


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys]) if table.num_rows else table


def _relative(paths: pa.ChunkedArray) -> pa.Array:
    """Shard paths as seen from a release folder (`OUT/releases/<id>/`)."""
    return pc.binary_join_element_wise(pa.scalar("../../"), paths, "")


def build_release(root: str, shards: pa.Table, utterances: pa.Table, rejects: pa.Table, *,
                  config_hash: str, extra: dict[str, Any] | None = None, summary: pa.Table | None = None
                  ) -> tuple[Release, bool]:
    """Make a release of these tables (shard paths relative to `root`); (release, whether it is new).

    When the content equals the latest release's, no release is made and the latest is returned. `summary`:
    the release's summary when the utterances given are not all of them (a simulated release holds those of
    a sample of its shards); its counts then come from the summary.
    """
    shards = _sorted(conform(shards, SHARDS), ["path"])
    shards = shards.set_column(0, "path", _relative(shards.column("path")))
    utterances = _sorted(conform(utterances, UTTERANCES), ["shard", "key"])
    utterances = utterances.set_column(1, "shard", _relative(utterances.column("shard")))
    rejects = _sorted(conform(rejects, REJECTS), ["stage", "key", "reason"])
    whole = summary is None
    summary = summarize(utterances, shards) if summary is None else _sorted(conform(summary, SUMMARY),
                                                                            ["language", "corpus", "split"])
    files = {
        "shards.parquet": to_parquet_bytes(shards, SHARDS),
        "utterances.parquet": to_parquet_bytes(utterances, UTTERANCES),
        "summary.parquet": to_parquet_bytes(summary, SUMMARY),
        "rejects.parquet": to_parquet_bytes(rejects, REJECTS),
    }
    digest = hashlib.sha256()
    for name in RELEASE_FILES:
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    digest.update(config_hash.encode())
    content = digest.hexdigest()

    parent = latest_release(root)
    if parent is not None and parent.info.get("content_sha256") == content:
        return parent, False
    for earlier in map(open_release, (release_dir(root, i) for i in _release_ids(root))):
        # made by a run that stopped before `latest` moved: the same release
        if earlier.info.get("content_sha256") == content and earlier.info.get("parent") == (
                parent.id if parent else None):
            return earlier, True
    release_id = _next_release_id(root)
    created = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    by_stage = pl.DataFrame(rejects.select(["stage"])).group_by("stage").len().sort("stage") \
        if rejects.num_rows else None
    info = {
        "id": release_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "parent": parent.id if parent else None,
        "config_hash": config_hash,
        "schema_version": SCHEMA_VERSION,
        "content_sha256": content,
        "counts": {
            "utterances": utterances.num_rows if whole else int(pc.sum(summary.column("utterances")).as_py() or 0),
            "hours": round(float(pc.sum(utterances.column("seconds")).as_py() or 0.0) / 3600, 6) if whole
            else round(float(pc.sum(summary.column("hours")).as_py() or 0.0), 6),
            "shards": shards.num_rows,
            "languages": len(set((utterances if whole else summary).column("language").to_pylist())
                             - {None, UNDETERMINED}),
            "corpora": len(set((utterances if whole else summary).column("corpus").to_pylist())),
            "rejects": rejects.num_rows,
            "rejects_by_stage": {} if by_stage is None else dict(by_stage.iter_rows()),
        },
        "licences": licence_ledger(utterance_parts(utterances) if whole
                                   else summary_parts(summary, (extra or {}).get("sources"))),
        **(extra or {}),
    }
    files["release.json"] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    final = release_dir(root, release_id)
    write_release_folder(final, files)
    return Release(final, info), True


def write_release_folder(final: str, files: dict[str, bytes]) -> None:
    """Put a release's files in place, all or nothing: on a local file system written under a temporary name,
    fsynced and renamed; on an object store (where a put is atomic and a rename is a copy) each file put under
    its final name, release.json last, since a folder without it is no release (open_release)."""
    if storage.is_remote(final):
        for name in (*RELEASE_FILES, "release.json"):
            storage.write_bytes_atomic(storage.join(final, name), files[name])
        return
    folder = Path(final.removeprefix("file://"))
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    for name in files:
        storage.fsync_file(tmp / name)
    storage.fsync_dir(tmp)
    storage.replace_durably(str(tmp), str(folder))


#: The number of the last release made, kept beside the releases: ids never go back, even when release
#: folders are pruned.
LAST_ID = ".last_id"


def _next_release_id(root: str) -> str:
    folder = releases_dir(root)
    names = storage.list_names(folder)
    numbers = [int(name[1:]) for name in names if name.startswith("v") and name[1:].isdigit()]
    counter = storage.join(folder, LAST_ID)
    if LAST_ID in names:
        numbers.append(int(storage.read_bytes(counter).decode().strip() or 0))
    number = max(numbers, default=0) + 1
    storage.write_bytes_atomic(counter, f"{number}\n".encode())
    return f"v{number:04d}"


def move_latest(root: str, release: Release) -> None:
    """Point `latest` at a release (after it passed the quality gate)."""
    storage.write_bytes_atomic(storage.join(releases_dir(root), "latest"), f"{release.id}\n".encode())
