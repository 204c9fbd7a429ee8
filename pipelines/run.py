"""The whole chain: ingest, curate (segment, langid, normalize, filter, dedup), shard, release.

What the CLI's `run`, the Airflow DAGs and the tests call. Each step is idempotent on its own, so the
chain is too: a second run over unchanged sources makes no new release.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnicorpus.corpus.withdrawals import Withdrawal, load_withdrawals
from omnicorpus.manifests.config import ContaminationParams, PipelineConfig
from omnicorpus.manifests.layout import table_uri
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.release import Release, build_release, latest_release, move_latest
from omnicorpus.manifests.schema import REJECTS, SEGMENTS, SHARDS
from omnicorpus.manifests.tables import read_table
from omnicorpus.pipelines.contamination import EvalIndex, build_index, contamination_spec
from omnicorpus.pipelines.curate import CurateReport, curate
from omnicorpus.pipelines.engine import Step, Work, run_step
from omnicorpus.pipelines.ingest import IngestReport, run_ingest
from omnicorpus.pipelines.shard import SHARD_RUNS, group_utterances, groups_whole, run_shards
from omnicorpus.pipelines.sources import Listed, ListedFrame, list_on_spark
from omnicorpus.pipelines.spark import environment_errors, run_on_spark
from omnicorpus.pipelines.stage import StageSpec
from omnicorpus.pipelines.table_store import read_df, read_increment, write_increment, write_local_increment
from omnicorpus.pipelines.withdraw import withdraw_spec
from omnicorpus.quality.gate import Verdict, validate_release

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class RunReport:
    ingest: IngestReport
    curate: CurateReport
    release: Release
    new_release: bool
    verdict: Verdict | None  # the gate's, for a release made (or left unpublished) by this run

    @property
    def passed(self) -> bool:
        return self.verdict is None or self.verdict.passed

    def as_dict(self) -> dict[str, Any]:
        return {"ingest": self.ingest.as_dict(), "curate": self.curate.as_dict(),
                "release": str(self.release.path), "new_release": self.new_release,
                "gate": None if self.verdict is None else self.verdict.passed}


def _withdrawal_keys(withdrawals: Iterable[Withdrawal]) -> list[str]:
    return [json.dumps(dataclasses.asdict(w), sort_keys=True) for w in withdrawals]


def release_segments(cfg: PipelineConfig, spark: SparkSession) -> DataFrame | None:
    """The accepted segments less what the community withdrawal register names and, with `contamination.eval`,
    less the train segments an evaluation set holds; those are written as rejects (stage `community`, reason
    `withdrawn`; stage and reason `contamination`), recomputed whenever their inputs change."""
    root = cfg.output
    accepted = read_df(spark, root, "accepted", SEGMENTS)
    if accepted is None:
        return None
    withdrawals = load_withdrawals(root)
    withdrawn = _withdrawal_keys(withdrawals)
    if withdrawals:
        accepted = _rejecting_step(root, "withdraw", withdraw_spec(withdrawals), withdrawn, accepted)
    if cfg.contamination.eval:  # over what the withdrawals left: a withdrawal changes its input too
        index = eval_index(cfg.contamination)
        accepted = _rejecting_step(root, "contamination", contamination_spec(index), [index.digest, *withdrawn],
                                   accepted)
    return accepted


def _rejecting_step(root: str, name: str, spec: StageSpec, keys: list[str], segments: DataFrame) -> DataFrame:
    """The segments a release-time stage keeps; its rejects are written by a whole step of that name (done again
    when its keys or dedup's output change)."""
    out = run_on_spark(spec, segments)

    def write(rejects: DataFrame, increment: str) -> dict[str, Any]:
        write_increment(rejects, root, "rejects", ["stage"], increment)
        return {"rejects": rejects.count()}

    run_step(root, Step(name, lambda: Work(keys, out.rejects), write, whole=True, after=("dedup",)))
    return out.kept


@cache
def eval_index(params: ContaminationParams) -> EvalIndex:
    """The evaluation sets' index, read once per process (the release step and the shard step's keys)."""
    return build_index(params)


def shard_inputs(cfg: PipelineConfig) -> list[str]:
    """What the shards of a release depend on besides the accepted segments (named by dedup's committed
    increment, which the shard step declares it comes after): the withdrawals and the stage parameters."""
    contamination = [f"contamination={eval_index(cfg.contamination).digest}"] if cfg.contamination.eval else []
    return [*_withdrawal_keys(load_withdrawals(cfg.output)), f"stages={cfg.stages_digest()}",
            f"task_bytes={cfg.shard.task_bytes}", *contamination]


def release_shards(cfg: PipelineConfig, spark: SparkSession) -> tuple[pa.Table, pa.Table]:
    """(shards, utterances) the next release serves, forward: the withdrawals applied (their rejects
    written), then what is left sharded; the shard step is skipped when it was done over the same inputs
    and every group it made is whole, and its record of the shards is read back."""
    root = cfg.output
    kept = release_segments(cfg, spark)

    def write(_: None, increment: str) -> dict[str, Any]:
        shards, _utterances = run_shards(cfg, kept)
        write_local_increment(shards, root, SHARD_RUNS, [], increment)
        return {"shards": shards.num_rows}

    def intact(increment: str, _: dict[str, Any]) -> bool:
        return groups_whole(root, read_increment(root, SHARD_RUNS, increment, SHARDS))

    outcome = run_step(root, Step("shard", lambda: Work(shard_inputs(cfg), None), write, whole=True,
                                  after=("dedup",), intact=intact))
    assert outcome.increment is not None
    shards = read_increment(root, SHARD_RUNS, outcome.increment, SHARDS)
    return shards, group_utterances(root, shards)


def listing_record(cfg: PipelineConfig, listed: Listed | ListedFrame) -> list[dict[str, Any]]:
    """What release.json records of each source's listing (see manifests.accounting)."""
    counts = listed.counts
    return [{"name": s.name, "layout": listed.layouts[s.name], "license": s.license, "listed": counts[s.name],
             "ignored": listed.ignored[s.name].count, "ignored_examples": list(listed.ignored[s.name].examples)}
            for s in cfg.sources]


@holds_output_lock
@environment_errors("release")
def make_release(cfg: PipelineConfig, spark: SparkSession,
                 listed: Listed | ListedFrame | None = None) -> tuple[Release, bool, Verdict | None]:
    """Shard what is accepted, make a release of it and validate it: `latest` moves to it only when it passes
    the quality gate; a failing release stays for inspection. (release, new, verdict); no verdict when the
    content is that of the latest release, which passed when it was made. `listed`: the sources' listing
    (listed again on Spark when not given), recorded in release.json for the per-source accounting."""
    if listed is None:
        listed = list_on_spark(cfg, spark)
        listed.unpersist()  # only its counts are needed
    shards, utterances = release_shards(cfg, spark)
    rejects = read_table(table_uri(cfg.output, "rejects"), REJECTS)  # the withdrawals' included
    release, new = build_release(cfg.output, shards, utterances, rejects, config_hash=cfg.digest(),
                                 extra={"sources": listing_record(cfg, listed), "params": cfg.stage_params()})
    latest = latest_release(cfg.output)
    if latest is not None and latest.id == release.id:
        return release, new, None
    verdict = validate_release(release.path, output_root=Path(cfg.output))
    if verdict.passed:
        move_latest(cfg.output, release)
    return release, new, verdict


@holds_output_lock
def run_pipeline(cfg: PipelineConfig, spark: SparkSession) -> RunReport:
    listed = list_on_spark(cfg, spark)
    try:
        ingest = run_ingest(cfg, spark, listed)
    finally:
        listed.unpersist()
    curated = curate(cfg, spark)
    release, new, verdict = make_release(cfg, spark, listed)
    return RunReport(ingest, curated, release, new, verdict)
