"""Bad days: an error of the environment fails the run and is never a verdict on an item; the next run,
once the environment is fixed, takes the same items and loses none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnicorpus.manifests.release import open_release

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))


def omnicorpus(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMNICORPUS_NO_UI": "1", "SOURCE_DATE_EPOCH": "1764028800"}
    return subprocess.run([OMNICORPUS, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def small_disk(tmp_path):
    """A real 32 KiB tmpfs (root only), grown later by `remount`."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_fails_the_run_and_the_next_run_takes_every_item(sample_corpus, small_disk):
    out = small_disk / "out"
    args = ["run", "--source", f"sb=folder:{sample_corpus / 'speechbrain'}", "--language", "sb=fr", "--out", out]
    full = omnicorpus(*args)
    assert full.returncode == 75, full.stdout + full.stderr  # EX_TEMPFAIL: retry later
    last = full.stderr.strip().splitlines()[-1]  # (above it, Spark's own log of the failed task)
    assert last.startswith("error: ingest stopped by an error of the environment, not of an item: ")
    assert "No space left on device" in last and "run again once that is fixed" in last
    assert not (out / "releases").exists()

    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    again = omnicorpus(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    release = open_release(out)
    assert release.info["counts"]["utterances"] == 3, "every clip is in the release"
    assert release.table("rejects").num_rows == 0, "the full disk left no reject behind"


def test_an_unwritable_audio_store_is_no_verdict_on_the_item(sample_corpus, tmp_path):
    """The stage itself: an OS error (here the output root is a file, so nothing can be written under it)
    raises EnvironmentFault instead of rejecting the item as undecodable."""
    from omnicorpus.manifests.config import IngestParams, PipelineConfig, SourceConfig
    from omnicorpus.pipelines.ingest import ingest_spec, list_all
    from omnicorpus.pipelines.stage import EnvironmentFault, run_local

    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("a file where the output root should be")
    cfg = PipelineConfig(sources=(SourceConfig("sb", "folder", str(sample_corpus / "speechbrain"), language="fr"),),
                         output=str(not_a_folder))
    items = list_all(cfg).items
    with pytest.raises(EnvironmentFault, match="NotADirectoryError|FileExistsError"):
        run_local(ingest_spec(str(not_a_folder), IngestParams()), items)


def test_atomic_writes_fsync_the_file_before_and_the_folder_after_the_rename(tmp_path, monkeypatch):
    from omnicorpus.manifests import storage

    synced: list[tuple[str, bool]] = []  # (path, whether it existed under its final name at the time)
    real_fsync = os.fsync
    target = tmp_path / "sub" / "data.bin"

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((path, target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    storage.write_bytes_atomic(target, b"x" * 100)
    assert target.read_bytes() == b"x" * 100
    files = [(p, done) for p, done in synced if Path(p).name.startswith(".tmp-")]
    folders = [(p, done) for p, done in synced if p == str(target.parent)]
    assert files and not files[0][1], "the bytes are fsynced under the temporary name, before the rename"
    assert folders and folders[-1][1], "the folder is fsynced after the rename"


def test_a_second_run_on_the_same_output_root_fails_naming_the_holder(sample_corpus, tmp_path):
    from omnicorpus.manifests.lock import output_lock

    out = tmp_path / "out"
    with output_lock(out):  # this process holds it, as a running `omnicorpus run` would
        second = omnicorpus("run", "--source", f"sb=folder:{sample_corpus / 'speechbrain'}", "--language", "sb=fr",
                            "--out", out)
    assert second.returncode == 1
    last = second.stderr.strip().splitlines()[-1]
    assert f"is in use by another omnicorpus run (pid {os.getpid()} on " in last
    assert not (out / "tables").exists(), "the second run wrote nothing"


@pytest.mark.parametrize(("out", "message"), [
    ("/", "is a system folder"), ("/etc/omnicorpus", "lies in the system folder tree of /etc"),
    ("{source}/out", "lies inside source sb"), ("{parent}", "lies inside the output root"),
])
def test_an_output_root_where_no_output_belongs_is_refused(tmp_path, out, message):
    source = tmp_path / "clips"
    source.mkdir()
    (tmp_path / "omnicorpus.yaml").write_text(
        f"sources:\n  - {{name: sb, layout: folder, path: {source}}}\n"
        f"output: {out.format(source=source, parent=tmp_path)}\n")
    check = omnicorpus("config", "check", tmp_path / "omnicorpus.yaml")
    assert check.returncode == 1 and message in check.stderr


def test_the_spark_ui_is_off_unless_asked_for(spark):
    assert spark.conf.get("spark.ui.enabled") == "false"
