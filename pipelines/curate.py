"""Curate: recordings -> accepted segments. Segment, identify language, normalize and filter in one pass
over new recordings; then dedup the hash groups that changed, so the whole corpus holds each audio once.

Tables: `segments` (what survived the per-recording stages), `curated` (the recordings processed, so a
re-run takes only new ones), `accepted` (segments after dedup: what a release is made of), `deduped` (what
dedup decided on, so a re-run decides only the groups that changed) and `rejects`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.schema import DEDUPED, RECORDINGS, SEGMENTS
from omnicorpus.pipelines.dedup import dedup_spec
from omnicorpus.pipelines.engine import Step, Work, run_step
from omnicorpus.pipelines.filter import filter_spec
from omnicorpus.pipelines.langid import langid_spec
from omnicorpus.pipelines.normalize import normalize_spec
from omnicorpus.pipelines.segment import segment_spec
from omnicorpus.pipelines.spark import content_digest, environment_errors, run_grouped_on_spark, run_on_spark
from omnicorpus.pipelines.stage import StageSpec, chain
from omnicorpus.pipelines.table_store import read_df, write_increment

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


@dataclass(frozen=True)
class CurateReport:
    recordings: int  # new recordings curated in this run
    segments: int  # segments they gave that passed every per-recording stage
    rejects: int  # rejects of those stages
    accepted: int  # segments accepted by this run's dedup (of the hash groups that changed)
    dedup_rejects: int  # rejected by it

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


#: How dedup decides: group by group, from the segments whose row changed since (`deduped` says what was
#: decided on). The engine deletes what dedup wrote another way (recomputed whole, before this existed).
DEDUP_PARAMS = "hash-groups-1"


def _hash_group() -> Column:
    """The group a segment is deduplicated in: its PCM hash; a segment without one is a group of its own."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col("pcm_sha256"), F.concat(F.lit("\0"), F.col("segment_id")))


def _fingerprinted(segments: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return segments.withColumn("fingerprint", F.xxhash64(*(F.col(c) for c in SEGMENTS.names)))


def _retract_groups(root: str, segment_ids: list[str], increment: str) -> int:
    """Remove dedup's earlier verdicts on these segments (accepted rows, dedup rejects, what it decided on)."""
    from omnicorpus.pipelines.engine import RowSelection, purge_rows

    if not segment_ids:
        return 0
    ids = pa.array(segment_ids, pa.string())

    def of(column: str, under: str = "") -> RowSelection:
        return RowSelection((column,), lambda t: pc.is_in(t.column(column), value_set=ids), under)

    selections = {"accepted": of("segment_id"), "rejects": of("key", "stage=dedup/"), "deduped": of("segment_id")}
    return purge_rows(root, selections, [f"dedup={increment}"], {"dedup": increment, "segments": len(ids)})


@holds_output_lock
@environment_errors("dedup")
def run_dedup(cfg: PipelineConfig, spark: SparkSession) -> tuple[int, int]:
    """Dedup of what changed: the hash groups that gained, lost or changed a segment since dedup last ran
    are decided again from all their current copies, their earlier verdicts retracted first, so that the
    tables equal a dedup of the whole corpus while a run reads only the keys of what is there: (accepted,
    rejects) of this run's groups."""
    root = cfg.output

    def plan() -> Work[tuple[DataFrame, DataFrame, DataFrame]] | None:
        from pyspark.sql.pandas.types import from_arrow_schema

        segments = read_df(spark, root, "segments", SEGMENTS)
        decided = read_df(spark, root, "deduped", DEDUPED)
        if segments is None and decided is None:
            return None
        if segments is None:
            segments = spark.createDataFrame([], from_arrow_schema(SEGMENTS))
        if decided is None:
            decided = spark.createDataFrame([], from_arrow_schema(DEDUPED))
        now = _fingerprinted(segments).select(*DEDUPED.names)
        same = ["segment_id", "fingerprint"]
        changed = now.join(decided, same, "left_anti").unionByName(decided.join(now, same, "left_anti"))
        count, digest = content_digest(changed, DEDUPED.names)
        return Work([f"changed={count}:{digest}"], (segments, decided, changed)) if count else None

    def write(work: tuple[DataFrame, DataFrame, DataFrame], increment: str) -> dict[str, Any]:
        from pyspark.sql import functions as F

        segments, decided, changed = work
        # the groups and the segments decided before, as they are now: the retraction rewrites `deduped`,
        # which `changed` and `decided` read lazily (both are as large as what changed, not the corpus)
        keys = sorted(r[0] for r in changed.select(_hash_group().alias("group")).distinct().collect())
        groups = spark.createDataFrame([(k,) for k in keys], "group string")
        earlier = decided.withColumn("group", _hash_group()).join(F.broadcast(groups), "group", "left_semi")
        retracted = _retract_groups(root, sorted(r[0] for r in earlier.select("segment_id").collect()), increment)
        todo = _fingerprinted(segments).withColumn("group", _hash_group()).join(F.broadcast(groups), "group",
                                                                                 "left_semi")
        out = run_grouped_on_spark(dedup_spec(), todo.select(*SEGMENTS.names), "pcm_sha256")
        write_increment(out.kept, root, "accepted", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        write_increment(todo.select(*DEDUPED.names), root, "deduped", [], increment)
        counts = {"groups": len(keys), "accepted": out.kept.count(), "rejects": out.rejects.count(),
                  "retracted": retracted}
        out.unpersist()
        return counts

    outcome = run_step(root, Step("dedup", plan, write, params=DEDUP_PARAMS))
    return outcome.info.get("accepted", 0), outcome.info.get("rejects", 0)


def curate(cfg: PipelineConfig, spark: SparkSession) -> CurateReport:
    recordings, segments, rejects = run_curate(cfg, spark)
    accepted, dedup_rejects = run_dedup(cfg, spark)
    return CurateReport(recordings, segments, rejects, accepted, dedup_rejects)
