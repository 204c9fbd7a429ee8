"""The whole chain: ingest, curate (segment, langid, normalize, filter, dedup), shard, release.

What the CLI's `run`, the Airflow DAGs and the tests call. Each step is idempotent on its own, so the
chain is too: a second run over unchanged sources makes no new release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnicorpus.manifests.release import Release, build_release, move_latest
from omnicorpus.manifests.schema import REJECTS
from omnicorpus.manifests.tables import read_table
from omnicorpus.pipelines.config import PipelineConfig
from omnicorpus.pipelines.curate import CurateReport, curate
from omnicorpus.pipelines.ingest import IngestReport, run_ingest
from omnicorpus.pipelines.shard import run_shards
from omnicorpus.pipelines.table_store import table_uri

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class RunReport:
    ingest: IngestReport
    curate: CurateReport
    release: Release
    new_release: bool

    def as_dict(self) -> dict[str, Any]:
        return {"ingest": self.ingest.as_dict(), "curate": self.curate.as_dict(),
                "release": str(self.release.path), "new_release": self.new_release}


def make_release(cfg: PipelineConfig, spark: SparkSession) -> tuple[Release, bool]:
    """Shard what is accepted and publish it as a release; `latest` moves to it."""
    shards, utterances = run_shards(cfg, spark)
    rejects = read_table(table_uri(cfg.output, "rejects"), REJECTS)
    release, new = build_release(cfg.output, shards, utterances, rejects, config_hash=cfg.digest(),
                                 extra={"sources": [s.name for s in cfg.sources], "params": cfg.stage_params()})
    move_latest(cfg.output, release)
    return release, new


def run_pipeline(cfg: PipelineConfig, spark: SparkSession) -> RunReport:
    ingest = run_ingest(cfg, spark)
    curated = curate(cfg, spark)
    release, new = make_release(cfg, spark)
    return RunReport(ingest, curated, release, new)
