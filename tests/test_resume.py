"""A run killed at any point and run again ends with the same release, every item once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from omnicorpus.manifests.layout import table_uri
from omnicorpus.manifests.release import open_release
from omnicorpus.manifests.schema import RECORDINGS, SEGMENTS
from omnicorpus.manifests.tables import read_table


def _run_and_kill(cmd: list[str], when: Callable[[], bool], limit: float = 240.0) -> bool:
    """Start the command, SIGKILL it (and its Spark JVM) as soon as `when()` holds; True if it was killed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if when():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.05)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_runs_resume_to_a_byte_identical_release(pipeline_run, sample_corpus, tmp_path):
    cfg, report = pipeline_run
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "omnicorpus.pipelines.cli", "run", str(sample_corpus / "omnicorpus.yaml"),
           "--out", str(out)]

    killed_in_ingest = _run_and_kill(cmd, lambda: len(list((out / "audio").rglob("*.flac"))) >= 20)
    assert killed_in_ingest, "the run ended before it could be killed during ingest"
    assert not (out / "releases").exists()

    killed_in_shard = _run_and_kill(cmd, lambda: any((out / "shards").rglob("*.tar")))
    assert killed_in_shard, "the run ended before it could be killed while writing shards"
    assert not (out / "releases" / "latest").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    ours, reference = open_release(out), report.release
    assert ours.id == reference.id == "v0001"
    for name in ("release.json", "shards.parquet", "utterances.parquet", "summary.parquet", "rejects.parquet"):
        assert _digest(ours.path / name) == _digest(reference.path / name), f"{name} differs"
    for shard in ours.table("shards").to_pylist():  # every referenced shard is there, whole
        assert _digest(ours.path / shard["path"]) == shard["sha256"]
    recordings = read_table(table_uri(str(out), "recordings"), RECORDINGS).column("recording_id").to_pylist()
    segments = read_table(table_uri(str(out), "segments"), SEGMENTS).column("segment_id").to_pylist()
    assert len(recordings) == len(set(recordings)) and len(segments) == len(set(segments))
    assert not list((out / "tables").glob("_tmp-*")), "no temporary folder left behind"


def test_an_increment_is_named_from_its_rows_whatever_their_order(spark):
    """curate names an increment by a digest its executors compute (one row reaches the driver): the same rows
    in any order and partitioning give the same name, one changed or missing row another."""
    from omnicorpus.pipelines.spark import content_digest

    rows = [(f"rec-{i}", f"v{i % 3}") for i in range(500)]
    df = spark.createDataFrame(rows, "recording_id string, item_version string")
    shuffled = spark.createDataFrame(list(reversed(rows)), "recording_id string, item_version string").repartition(7)
    count, digest = content_digest(df, ["recording_id", "item_version"])
    assert (count, digest) == content_digest(shuffled, ["recording_id", "item_version"]) and count == 500
    changed = spark.createDataFrame([*rows[:-1], ("rec-499", "v9")], "recording_id string, item_version string")
    assert content_digest(changed, ["recording_id", "item_version"])[1] != digest
    assert content_digest(df.limit(499), ["recording_id", "item_version"])[1] != digest
    assert content_digest(df.limit(0), ["recording_id", "item_version"]) == (0, "")
