"""The output layout: where everything a run writes under its output root lives, named in one place.

    OUT/audio/ab/cd/<pcm sha256>.flac                      audio_store_path
    OUT/audio/segments/ab/<sha256>.pack                    segment_pack_path
    OUT/tables/<table>/                                    table_uri
    OUT/shards/<lang>/<corpus>/<split>/<digest>-NNNNNN.tar
    OUT/shards/<lang>/<corpus>/<split>/<digest>.{shards,utterances}.arrow   group_index
    OUT/tables/_commits/<increment>.json                   (pipelines.engine: finished work)
    OUT/releases/<id>/                                     releases_dir
    OUT/quality/<id>/{verdict.json,data_docs/,report.html} quality_dir
"""

from __future__ import annotations

import logging
import os
import re

from omnicorpus.manifests import storage

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def releases_dir(root: str | os.PathLike[str]) -> str:
    """The folder of an output root's releases (and of its `latest` pointer and release id counter): a local
    path or a storage URI, as the root is."""
    return storage.join(root, "releases")


def release_dir(root: str | os.PathLike[str], release_id: str) -> str:
    """The folder of one release."""
    return storage.join(releases_dir(root), release_id)


def root_of_release(release_folder: str | os.PathLike[str]) -> str:
    """The output root a release folder lies in (`<root>/releases/<id>` -> `<root>`)."""
    parent, _, _ = os.fspath(release_folder).rstrip("/").rpartition("/")
    root, _, folder = parent.rpartition("/")
    if folder != "releases":
        raise ValueError(f"{release_folder} is no releases/<id> folder of an output root")
    return root


def quality_dir(root: str | os.PathLike[str], release_id: str) -> str:
    """Where a release's quality results go: the gate's verdict and Data Docs, the HTML report (a local path or
    a storage URI, as the root is)."""
    return storage.join(root, "quality", release_id)


def table_uri(root: str, table: str) -> str:
    """The folder of a stage table under an output root (a local path or a storage URI)."""
    return storage.join(root, "tables", table)


def _require_sha256(text: str) -> None:
    if not _SHA256_RE.match(text or ""):
        raise ValueError(f"not a lowercase hex SHA-256: {text!r}")


def audio_store_path(pcm_sha256: str) -> str:
    """Relative path in the content-addressed audio store: 'audio/ab/cd/<sha>.flac'."""
    _require_sha256(pcm_sha256)
    return f"audio/{pcm_sha256[:2]}/{pcm_sha256[2:4]}/{pcm_sha256}.flac"


def segment_pack_path(sha256: str) -> str:
    """Relative path of a pack of segment FLACs, named by the SHA-256 of its bytes: 'audio/segments/ab/<sha>.pack'.

    A pack is the FLAC files of the segments of one batch of recordings, concatenated; a segment names its
    pack, offset and size. Sharding then copies bytes instead of decoding recordings and encoding spans.
    """
    _require_sha256(sha256)
    return f"audio/segments/{sha256[:2]}/{sha256}.pack"


def group_index(shard_path: str) -> tuple[str, str]:
    """(shards, utterances) index files (Arrow IPC) of the group a shard belongs to; the shards file is written
    last, so its presence means the group is whole."""
    folder, name = shard_path.rsplit("/", 1)
    stem = f"{folder}/{name.split('-')[0]}"
    return f"{stem}.shards.arrow", f"{stem}.utterances.arrow"


def _canonical(uri: str | os.PathLike[str]) -> str:
    """A local path with its links resolved (shards are compared by where they really lie), or the URI."""
    return os.path.realpath(os.fspath(uri).removeprefix("file://")) if not storage.is_remote(uri) else os.fspath(uri)


def forget_groups(root: str | os.PathLike[str], release_folder: str | os.PathLike[str],
                  shard_paths: list[str]) -> list[str]:
    """Remove the index of each group these shards (paths relative to `release_folder`) belong to, so that the
    next run writes the group again from its segments instead of trusting its files. Shards outside
    `root/shards/` are left alone. The tars stay (another release may point at them) until the rebuild
    replaces them atomically. Returns the indexes removed, relative to `root`. Local or on storage."""
    root = _canonical(root).rstrip("/")
    removed = []
    for path in shard_paths:
        shard = _canonical(storage.join_relative(release_folder, path))
        if not shard.startswith(f"{root}/shards/"):
            log.warning("shard %s is not under %s/shards: not rebuilt", shard, root)
            continue
        for index in group_index(shard[len(root) + 1:]):
            target = storage.join(root, index)
            if storage.exists(target):
                storage.delete_file(target)
                removed.append(index)
    if removed:
        log.warning("%d damaged shard(s): group indexes removed, the next run rebuilds them: %s",
                    len(shard_paths), ", ".join(removed))
    return sorted(set(removed))
