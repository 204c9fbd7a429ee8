"""The one layer under every entry point (the CLI, the DAG tasks, spark-submit): open Spark for a config,
run the chain, gate a release once, write its report. Entry points parse their arguments, call these and
print or return what they give; none of them builds a Spark session or runs the gate itself.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.release import Release, open_release, output_root_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from omnicorpus.pipelines.run import RunReport
    from omnicorpus.pipelines.sources import Listed, ListedFrame
    from omnicorpus.quality.gate import Verdict


def open_spark(cfg: PipelineConfig, master: str | None = None) -> SparkSession:
    """The Spark session of a config (`master` overrides its `spark.master`; "" means: the master spark-submit
    was given)."""
    from omnicorpus.pipelines.spark import spark_session

    # Starting the JVM takes seconds of waiting here, and importing the chain seconds of CPU (Great
    # Expectations alone about 4 s): the imports run in a thread meanwhile. One that fails is left for the
    # import that needs it to raise again, where it is used.
    loading = threading.Thread(target=_import_chain, name="import-chain", daemon=True)
    loading.start()
    try:
        return spark_session(cfg.spark.master if master is None else master, cfg.spark.conf)
    finally:
        loading.join()


#: What a run imports after Spark is up: the stages, the gate and the report.
_CHAIN = ("omnicorpus.pipelines.run", "omnicorpus.quality.report")


def _import_chain() -> None:
    for name in _CHAIN:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 -- raised again, with its traceback, where the module is used
            continue


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
    from omnicorpus.quality.gate import validate_release
    from omnicorpus.quality.report import write_report

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
