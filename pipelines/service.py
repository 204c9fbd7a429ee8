"""The one layer under every entry point (the CLI, the DAG tasks, spark-submit): open Spark for a config,
run the chain, gate a release once, write its report. Entry points parse their arguments, call these and
print or return what they give; none of them builds a Spark session or runs the gate itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.release import Release, open_release, output_root_of
from omnicorpus.quality.gate import Verdict, validate_release
from omnicorpus.quality.report import write_report

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from omnicorpus.pipelines.run import RunReport
    from omnicorpus.pipelines.sources import Listed, ListedFrame


def open_spark(cfg: PipelineConfig, master: str | None = None) -> SparkSession:
    """The Spark session of a config (`master` overrides its `spark.master`; "" means: the master spark-submit
    was given)."""
    from omnicorpus.pipelines.spark import spark_session

    return spark_session(cfg.spark.master if master is None else master, cfg.spark.conf)


@dataclass
class Published:
    """A release after its gate: made now (`new`) or the latest one, unchanged, checked again."""

    release: Release
    new: bool
    verdict: Verdict
    report: Path | str

    @property
    def passed(self) -> bool:
        return self.verdict.passed


def gate(release_dir: str | Path, verdict: Verdict | None) -> tuple[Verdict, Path | str]:
    """The verdict of a release (`verdict`, when make_release just validated it; else the gate runs now, on
    the release in its output root) and its HTML report, written beside its quality results."""
    if verdict is None:
        made = open_release(release_dir)
        verdict = validate_release(made.uri, output_root=output_root_of(made))
    return verdict, write_report(release_dir, verdict=verdict.as_dict())


@holds_output_lock
def publish(cfg: PipelineConfig, spark: SparkSession, listed: Listed | ListedFrame | None = None) -> Published:
    """Shard, make a release when anything changed, gate it once and write its report. An unchanged latest
    release is checked again (a shard may have rotted since; the gate marks it for rebuilding)."""
    from omnicorpus.pipelines.run import make_release

    release, new, verdict = make_release(cfg, spark, listed)
    verdict, report = gate(release.uri, verdict)
    return Published(release, new, verdict, report)


@holds_output_lock
def run_all(cfg: PipelineConfig, spark: SparkSession) -> tuple[RunReport, Published]:
    """Ingest, curate and publish: the whole chain, gated once."""
    from omnicorpus.pipelines.run import run_pipeline

    report = run_pipeline(cfg, spark)
    verdict, path = gate(report.release.uri, report.verdict)
    return report, Published(report.release, report.new_release, verdict, path)
