"""Curate: recordings -> accepted segments. Segment, identify language, normalize and filter in one pass
over new recordings; then dedup across the whole corpus.

Tables: `segments` (what survived the per-recording stages), `curated` (the recordings processed, so a
re-run takes only new ones), `accepted` (segments after dedup: what a release is made of) and `rejects`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.schema import RECORDINGS, SEGMENTS
from omnicorpus.pipelines.dedup import dedup_spec
from omnicorpus.pipelines.engine import Step, Work, run_step
from omnicorpus.pipelines.filter import filter_spec
from omnicorpus.pipelines.langid import langid_spec
from omnicorpus.pipelines.normalize import normalize_spec
from omnicorpus.pipelines.segment import segment_spec
from omnicorpus.pipelines.spark import content_digest, environment_errors, run_grouped_on_spark, run_on_spark
from omnicorpus.pipelines.stage import StageSpec, chain
from omnicorpus.pipelines.table_store import read_df, table_files, write_increment

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class CurateReport:
    recordings: int  # new recordings curated in this run
    segments: int  # segments they gave that passed every per-recording stage
    rejects: int  # rejects of those stages
    accepted: int  # segments accepted after dedup, whole corpus
    dedup_rejects: int  # whole corpus

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def curate_spec(cfg: PipelineConfig) -> StageSpec:
    return chain("curate", segment_spec(cfg.output, cfg.segment), langid_spec(cfg.langid), normalize_spec(),
                 filter_spec(cfg.filter))


def curate_params_digest(cfg: PipelineConfig) -> str:
    """What the per-recording stages' output depends on besides the recordings: their parameters."""
    params = {"segment": asdict(cfg.segment), "langid": asdict(cfg.langid), "filter": asdict(cfg.filter)}
    params["segment"].pop("batch_streams")  # how many recordings share a VAD batch changes no result
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


@holds_output_lock
@environment_errors("curate")
def run_curate(cfg: PipelineConfig, spark: SparkSession) -> tuple[int, int, int]:
    """Per-recording stages over the recordings no earlier run curated with these parameters (what was
    curated with others is removed first, so a change of segment, langid or filter settings takes effect
    on everything): (recordings, segments, rejects)."""
    root = cfg.output

    def plan() -> Work[tuple[DataFrame, int]] | None:
        recordings = read_df(spark, root, "recordings", RECORDINGS)
        if recordings is None:
            return None
        curated = read_df(spark, root, "curated")
        new = recordings if curated is None else recordings.join(curated, "recording_id", "left_anti")
        count, digest = content_digest(new, ["recording_id", "item_version"])
        return Work([f"recordings={count}:{digest}"], (new, count)) if count else None

    def write(work: tuple[DataFrame, int], increment: str) -> dict[str, Any]:
        new, count = work
        partitions = max(spark.sparkContext.defaultParallelism, -(-count // cfg.segment.batch_streams))
        new = new.repartition(partitions, "recording_id").sortWithinPartitions("recording_id")
        out = run_on_spark(curate_spec(cfg), new)
        write_increment(out.kept, root, "segments", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        write_increment(new.select("recording_id"), root, "curated", [], increment)
        info = {"recordings": count, "segments": out.kept.count(), "rejects": out.rejects.count()}
        out.unpersist()
        return info

    outcome = run_step(root, Step("curate", plan, write, params=curate_params_digest(cfg)))
    info = outcome.info if outcome.ran else {}
    return info.get("recordings", 0), info.get("segments", 0), info.get("rejects", 0)


@holds_output_lock
@environment_errors("dedup")
def run_dedup(cfg: PipelineConfig, spark: SparkSession) -> tuple[int, int]:
    """Dedup over every segment of the corpus: (accepted, rejects). Skipped when its input is unchanged."""
    root = cfg.output

    def plan() -> Work[DataFrame] | None:
        segments = read_df(spark, root, "segments", SEGMENTS)
        # The segment files name the segments exactly: any new curation or removal of rows renames some.
        return None if segments is None else Work(table_files(root, "segments"), segments)

    def write(segments: DataFrame, increment: str) -> dict[str, Any]:
        out = run_grouped_on_spark(dedup_spec(), segments, "pcm_sha256")
        write_increment(out.kept, root, "accepted", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        counts = {"accepted": out.kept.count(), "rejects": out.rejects.count()}
        out.unpersist()
        return counts

    outcome = run_step(root, Step("dedup", plan, write, whole=True))
    return outcome.info.get("accepted", 0), outcome.info.get("rejects", 0)


def curate(cfg: PipelineConfig, spark: SparkSession) -> CurateReport:
    recordings, segments, rejects = run_curate(cfg, spark)
    accepted, dedup_rejects = run_dedup(cfg, spark)
    return CurateReport(recordings, segments, rejects, accepted, dedup_rejects)
