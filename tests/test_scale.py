"""A release of the paper's size, simulated without audio: its long tail, and plan, report and the gate's
manifest checks on it as a user runs them (the installed console script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from omnicorpus.model.step_planner import StepPlanner
from omnicorpus.pipelines.simulate import Simulation, language_hours, shard_rows, simulate
from omnicorpus.quality.scale import SAMPLE_SHARDS, WHOLE_UTTERANCES

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))  # the console script pip installed
#: Large enough that the gate and the report read a sample of shards (over WHOLE_UTTERANCES), small enough for
#: CI: small shards, so that the sample holds some 50k utterances.
MID = ("--hours", "20000", "--languages", "400", "--corpora", "12", "--shard-gib", "0.05")


def omnicorpus(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    return subprocess.run([OMNICORPUS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def test_the_papers_scale_has_its_long_tail_and_about_300k_shards_of_1_gib():
    sim = Simulation()  # 4.3M hours, 1,600 languages, 40 corpora
    hours = language_hours(sim)
    assert hours.sum() == pytest.approx(4_300_000)
    assert 3 <= (hours > 100_000).sum() <= 15, "a few languages over 100k hours"
    assert (hours < 1).sum() >= 200, "hundreds of languages under one hour"
    shards = pl.from_arrow(shard_rows(sim))
    assert 250_000 <= shards.height <= 350_000
    full = shards.filter(pl.col("seconds") > 3600)
    gib = full["seconds"] * sim.flac_bytes_per_second / 2**30
    assert gib.max() <= 1.0 and gib.median() > 0.5
    assert shards["language"].n_unique() == 1600 and shards["corpus"].n_unique() <= 40


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simulated")
    run = omnicorpus("simulate", out, *MID)
    assert run.returncode == 0, run.stderr
    assert "simulated release v0001" in run.stdout
    return out


def test_simulate_writes_a_release_marked_simulated_with_the_gates_sample_of_utterances(simulated):
    release = simulated / "releases" / "v0001"
    info = json.loads((release / "release.json").read_text())
    assert info["simulated"]["hours"] == 20_000 and info["counts"]["languages"] == 400
    assert info["counts"]["hours"] == pytest.approx(20_000, rel=1e-9)
    assert info["counts"]["utterances"] > WHOLE_UTTERANCES, "large enough for the sampled path"
    utterances = pl.read_parquet(release / "utterances.parquet")
    assert utterances.height == info["simulated"]["utterance_rows"]
    assert utterances["shard"].n_unique() == info["simulated"]["utterances_of_shards"] == SAMPLE_SHARDS
    shards = pl.read_parquet(release / "shards.parquet")
    assert shards.height == info["counts"]["shards"]
    summary = pl.read_parquet(release / "summary.parquet")
    assert summary["utterances"].sum() == info["counts"]["utterances"] == shards["num_samples"].sum()


def test_the_same_parameters_give_the_same_bytes(simulated, tmp_path):
    run = omnicorpus("simulate", tmp_path, *MID)
    assert run.returncode == 0, run.stderr
    for name in ("shards", "summary", "utterances"):
        a = (simulated / "releases" / "v0001" / f"{name}.parquet").read_bytes()
        assert a == (tmp_path / "releases" / "v0001" / f"{name}.parquet").read_bytes(), name


def test_plan_report_and_the_gates_manifest_checks_run_on_it(simulated):
    plan = omnicorpus("plan", simulated)
    assert plan.returncode == 0, plan.stderr
    assert "partitions of the train split" in plan.stdout and "eng_Latn" in plan.stdout
    gate = omnicorpus("validate", "--manifests-only", simulated)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "quality gate: passed" in gate.stdout
    assert f"sample of {SAMPLE_SHARDS}" in gate.stdout + gate.stderr
    report = omnicorpus("report", simulated)
    assert report.returncode == 0, report.stderr
    html = (simulated / "quality" / "v0001" / "report.html").read_text()
    assert "Simulated release" in html and "20,000" in html  # the total comes from the summary, not the sample
    assert f"a sample of {SAMPLE_SHARDS}" in html


def test_the_gate_fails_a_simulated_release_whose_summary_or_sampled_shard_is_wrong(simulated, tmp_path):
    release = tmp_path / "out" / "releases" / "v0001"
    shutil.copytree(simulated / "releases" / "v0001", release)
    summary = pl.read_parquet(release / "summary.parquet")
    summary = summary.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("hours") + 1.0)
                                   .otherwise(pl.col("hours")).alias("hours"))
    pq.write_table(summary.to_arrow(), release / "summary.parquet")
    shards = pl.read_parquet(release / "shards.parquet")
    sampled = pl.read_parquet(release / "utterances.parquet", columns=["shard"])["shard"][0]
    shards = shards.with_columns(pl.when(pl.col("path") == sampled).then(pl.col("num_samples") + 1)
                                 .otherwise(pl.col("num_samples")).alias("num_samples"))
    pq.write_table(shards.to_arrow(), release / "shards.parquet")
    gate = omnicorpus("validate", "--manifests-only", release)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    verdict = json.loads((tmp_path / "out" / "quality" / "v0001" / "verdict.json").read_text())
    failed = {(f["table"], f["column"]) for f in verdict["failures"]}
    assert ("summary", "hours_error") in failed
    assert ("shards", "num_samples") in failed  # num_samples == the utterances of a sampled shard


def test_a_step_is_planned_from_the_summary_and_shards_and_reads_only_its_shards_row_groups(tmp_path):
    release, _ = simulate(str(tmp_path), Simulation(hours=1500, languages=30, corpora=4, shard_bytes=2**24))
    assert "utterance_rows" in release.info["simulated"]
    assert release.info["simulated"]["utterance_rows"] == release.info["counts"]["utterances"], "a whole one"
    planner = StepPlanner(release.uri, seed=3)
    state = planner.state_dict()
    step = planner.plan_step(32)
    assert len(step.draws) == 32 and len(step.shards) <= 32
    read = planner.read_step(step)
    assert read.utterances["key"].null_count() == 0, "every draw is an utterance of its shard"
    assert read.utterances["shard"].to_list() == [s for s, _ in step.draws]
    meta = pq.ParquetFile(Path(release.uri) / "utterances.parquet").metadata
    small = planner.plan_step(2)
    holding = {g for g in range(meta.num_row_groups)
               for s in small.shards
               if meta.row_group(g).column(1).statistics.min <= s <= meta.row_group(g).column(1).statistics.max}
    assert planner.read_step(small).row_groups == len(holding) < meta.num_row_groups
    planner.load_state_dict(state)
    assert planner.plan_step(32) == step, "a step is re-planned exactly from the planner's state"
    train = pl.read_parquet(Path(release.uri) / "shards.parquet").filter(pl.col("split") == "train")
    assert set(step.shards) <= set(train["path"].to_list())
