"""Releases over the storage abstraction: made, found, gated and read on a second filesystem (fsspec's
in-memory one, through pyarrow's fsspec handler, as any object store would be) with the same bytes as on
the local disk, and a local release named by a `file://` URI is the same release."""

from __future__ import annotations

import uuid

import pyarrow.compute as pc
import pytest

from omnicorpus.manifests import storage
from omnicorpus.manifests.release import (
    RELEASE_FILES,
    build_release,
    latest_release,
    move_latest,
    newest_release,
    open_release,
)


@pytest.fixture(scope="module")
def local_release(pipeline_run):
    return pipeline_run[1].release


def _tables_as_sharded(release):
    """The tables a run hands build_release: shard paths relative to the output root, not the release."""
    def rooted(table, column):
        paths = pc.replace_substring_regex(table.column(column), r"^\.\./\.\./", "")
        return table.set_column(table.schema.get_field_index(column), column, paths)

    return rooted(release.table("shards"), "path"), rooted(release.table("utterances"), "shard"), \
        release.table("rejects")


def test_a_release_is_made_found_and_read_on_another_filesystem(local_release):
    root = f"memory://omnicorpus-{uuid.uuid4().hex}/out"
    shards, utterances, rejects = _tables_as_sharded(local_release)
    config_hash = local_release.info["config_hash"]

    release, new = build_release(root, shards, utterances, rejects, config_hash=config_hash)
    assert new and release.id == "v0001"
    assert release.uri == f"{root}/releases/v0001" and release.root == root
    for name in RELEASE_FILES:  # the manifests depend on their content only, wherever they are written
        assert storage.read_bytes(storage.join(release.uri, name)) == (local_release.path / name).read_bytes()
    assert release.table("utterances").equals(local_release.table("utterances"))
    assert storage.list_names(storage.join(root, "releases")) == [".last_id", "v0001"]  # no temporary left

    assert latest_release(root) is None and newest_release(root).id == "v0001"  # made, not yet gated
    move_latest(root, release)
    found = open_release(root)  # an output root means its latest release
    assert (found.uri, found.info) == (release.uri, release.info)

    same, new = build_release(root, shards, utterances, rejects, config_hash=config_hash)
    assert (same.id, new) == ("v0001", False)  # the same content is no new release
    child, new = build_release(root, shards.slice(0, 1), utterances.filter(pc.equal(
        utterances.column("shard"), shards.column("path")[0])), rejects, config_hash=config_hash)
    assert new and child.id == "v0002" and child.info["parent"] == "v0001"

    with pytest.raises(ValueError, match="remote storage"):
        release.path  # noqa: B018 - what reads local files is told so in one line


def test_a_file_uri_names_the_same_local_release(local_release):
    by_uri = open_release(f"file://{local_release.path}")
    assert by_uri.path == local_release.path and by_uri.info == local_release.info
    assert by_uri.root == str(local_release.path.parent.parent)
