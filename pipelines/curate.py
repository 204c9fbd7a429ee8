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
from omnicorpus.pipelines.filter import filter_spec
from omnicorpus.pipelines.langid import langid_spec
from omnicorpus.pipelines.normalize import normalize_spec
from omnicorpus.pipelines.segment import segment_spec
from omnicorpus.pipelines.spark import content_digest, environment_errors, run_grouped_on_spark, run_on_spark
from omnicorpus.pipelines.stage import StageSpec, chain
from omnicorpus.pipelines.table_store import (
    clean_uncommitted,
    commit_increment,
    committed_increments,
    delete_increment,
    increment_id,
    read_df,
    replace_output,
    table_files,
    write_increment,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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


def drop_outdated_curation(root: str, params: str) -> int:
    """Remove what the per-recording stages made with other parameters (segments, their rejects, the
    curated marks), so that a change of segment, langid or filter settings takes effect on everything."""
    outdated = [inc for inc, info in committed_increments(root, "curate").items() if info.get("params") != params]
    for increment in outdated:
        delete_increment(root, increment)
    return len(outdated)


@holds_output_lock
@environment_errors("curate")
def run_curate(cfg: PipelineConfig, spark: SparkSession) -> tuple[int, int, int]:
    """Per-recording stages over the recordings no earlier run curated with these parameters:
    (recordings, segments, rejects)."""
    root = cfg.output
    clean_uncommitted(root)
    params = curate_params_digest(cfg)
    drop_outdated_curation(root, params)
    recordings = read_df(spark, root, "recordings", RECORDINGS)
    if recordings is None:
        return 0, 0, 0
    curated = read_df(spark, root, "curated")
    new = recordings if curated is None else recordings.join(curated, "recording_id", "left_anti")
    count, digest = content_digest(new, ["recording_id", "item_version"])
    if not count:
        return 0, 0, 0
    increment = increment_id("curate", [f"recordings={count}:{digest}", f"params={params}"])
    partitions = max(spark.sparkContext.defaultParallelism, -(-count // cfg.segment.batch_streams))
    new = new.repartition(partitions, "recording_id").sortWithinPartitions("recording_id")
    out = run_on_spark(curate_spec(cfg), new)
    write_increment(out.kept, root, "segments", ["corpus", "language"], increment)
    write_increment(out.rejects, root, "rejects", ["stage"], increment)
    write_increment(new.select("recording_id"), root, "curated", [], increment)
    n_seg, n_rej = out.kept.count(), out.rejects.count()
    out.unpersist()
    commit_increment(root, increment, {"stage": "curate", "recordings": count, "segments": n_seg,
                                       "rejects": n_rej, "params": params})
    return count, n_seg, n_rej


@holds_output_lock
@environment_errors("dedup")
def run_dedup(cfg: PipelineConfig, spark: SparkSession) -> tuple[int, int]:
    """Dedup over every segment of the corpus: (accepted, rejects). Skipped when its input is unchanged."""
    root = cfg.output
    segments = read_df(spark, root, "segments", SEGMENTS)
    if segments is None:
        return 0, 0
    # The segment files name the segments exactly: any new curation or removal of rows renames some.
    increment = increment_id("dedup", table_files(root, "segments"))

    def write() -> dict[str, int]:
        out = run_grouped_on_spark(dedup_spec(), segments, "pcm_sha256")
        write_increment(out.kept, root, "accepted", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        counts = {"accepted": out.kept.count(), "rejects": out.rejects.count()}
        out.unpersist()
        return counts

    info = replace_output(root, "dedup", increment, write)
    return info["accepted"], info["rejects"]


def curate(cfg: PipelineConfig, spark: SparkSession) -> CurateReport:
    recordings, segments, rejects = run_curate(cfg, spark)
    accepted, dedup_rejects = run_dedup(cfg, spark)
    return CurateReport(recordings, segments, rejects, accepted, dedup_rejects)
