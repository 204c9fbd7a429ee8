"""A Spark standalone cluster on loopback, started from the installed pyspark by `omnicorpus cluster up`
(a master and two workers), runs the whole chain through the console script and makes the release that
local mode makes of the same input: the same shard bytes and the same manifest rows. `cluster down` leaves
no JVM behind, whatever the test's outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from omnicorpus.manifests.release import open_release
from omnicorpus.pipelines.cluster import read_state

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))  # the console script pip installed


def omnicorpus(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    return subprocess.run([OMNICORPUS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("cluster")
    up = omnicorpus("cluster", "up", "--workers", "2", "--cores", "1", "--memory", "1g", "--state", state)
    started = read_state(state)
    try:
        assert up.returncode == 0, up.stderr
        assert started is not None and started.master in up.stdout
        yield started
    finally:
        down = omnicorpus("cluster", "down", "--state", state)
        assert down.returncode == 0, down.stderr
        if started is not None:
            assert not [pid for pid in started.pids if _alive(pid)], "a Spark process outlived `cluster down`"


def test_a_second_cluster_in_the_same_state_folder_is_refused(cluster):
    again = omnicorpus("cluster", "up", "--state", cluster.state_dir)
    assert again.returncode == 1 and "cluster down" in again.stderr
    status = omnicorpus("cluster", "status", "--state", cluster.state_dir)
    assert status.returncode == 0 and json.loads(status.stdout)["alive_workers"] == 2


def test_the_sample_corpus_on_a_cluster_makes_the_local_release(cluster, pipeline_run, sample_corpus, tmp_path):
    _, local_run = pipeline_run
    out = tmp_path / "out"
    run = omnicorpus("run", sample_corpus / "omnicorpus.yaml", "--out", out, "--master", cluster.master)
    assert run.returncode == 0, run.stderr
    with urllib.request.urlopen(f"{cluster.web_ui}/json/", timeout=10) as reply:
        apps = json.load(reply)["completedapps"]
    assert any(app["name"] == "omnicorpus" for app in apps), "the run did not go through the cluster"

    local, remote = local_run.release, open_release(out)
    for name in ("shards", "utterances", "summary", "rejects"):
        assert remote.table(name).equals(local.table(name)), name
    for shard in local.table("shards").column("path").to_pylist():
        assert (remote.path / shard).read_bytes() == (local.path / shard).read_bytes(), shard
