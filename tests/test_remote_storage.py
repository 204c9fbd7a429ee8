"""Releases over the storage abstraction: made, found, gated and read on a second filesystem (fsspec's
in-memory one, through pyarrow's fsspec handler, as any object store would be) with the same bytes as on
the local disk, and a local release named by a `file://` URI is the same release."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

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


def _copy_to_memory(local_root: Path) -> str:
    """The output root copied whole (but its quality results) onto fsspec's in-memory filesystem."""
    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"memory://omnicorpus-{uuid.uuid4().hex}/out"
    for path in sorted(local_root.rglob("*")):
        rel = path.relative_to(local_root).as_posix()
        if path.is_file() and not rel.startswith("quality/"):
            memory.pipe(storage.resolve(storage.join(root, rel))[1], path.read_bytes())
    return root


def _checks(verdict):
    return [(c.table, c.expectation, c.column, c.success, c.detail) for c in verdict.checks]


def test_the_gate_and_the_report_read_an_output_root_on_another_filesystem(pipeline_run, tmp_path):
    """The gate (every check, the shard files' bytes included) and the report give on a copy of the output
    root on a second filesystem what they give on the local disk; their results are written there."""
    from omnicorpus.manifests.layout import group_index
    from omnicorpus.manifests.release import output_root_of
    from omnicorpus.quality.gate import validate_release
    from omnicorpus.quality.report import write_report

    cfg, report = pipeline_run
    local = validate_release(report.release.path, output_root=cfg.output, docs_dir=tmp_path / "docs")
    root = _copy_to_memory(Path(cfg.output))

    release = open_release(root)
    assert release.uri == f"{root}/releases/{report.release.id}" and output_root_of(release) == root
    verdict = validate_release(release.uri, output_root=output_root_of(release))
    assert verdict.passed and _checks(verdict) == _checks(local) and verdict.tables == local.tables
    quality = f"{root}/quality/{release.id}"
    assert verdict.data_docs == f"{quality}/data_docs/index.html" and storage.exists(verdict.data_docs)
    assert set(verdict.pages) == set(local.pages) and all(storage.exists(p) for p in verdict.pages.values())
    assert json.loads(storage.read_bytes(f"{quality}/verdict.json"))["checks"] == len(local.checks)

    html = write_report(release.uri, verdict=verdict)
    assert html == f"{quality}/report.html"
    local_html = write_report(report.release.path, tmp_path / "report.html", verdict=local)
    assert storage.read_bytes(html) == local_html.read_bytes()

    # a shard rotted on that filesystem fails the gate there, and its group is forgotten there only
    shard = sorted(pc.unique(release.table("shards").column("path")).to_pylist())[0]
    shard_uri = storage.join_relative(release.uri, shard)
    data = bytearray(storage.read_bytes(shard_uri))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes_atomic(shard_uri, bytes(data))
    rotted = validate_release(release.uri, output_root=root)
    assert not rotted.passed and rotted.damaged_shards == [shard]
    index = group_index(shard_uri[len(root) + 1:])[0]
    assert rotted.rebuild == sorted(group_index(shard_uri[len(root) + 1:]))
    assert not storage.exists(storage.join(root, index)) and (Path(cfg.output) / index).is_file()
