"""Curate: recordings -> accepted segments. Segment, identify language, normalize and filter in one pass
over new recordings; pair near-duplicate audio by fingerprint; then dedup the groups that changed, so the
whole corpus holds each audio once.

Tables: `segments` (what survived the per-recording stages), `curated` (the recordings processed, so a
re-run takes only new ones), `near_duplicates` (pairs of segments of different recordings with nearly the same
audio, and the group each pair is deduplicated in), `accepted` (segments after dedup: what a release is made
of), `deduped` (what dedup decided on, so a re-run decides only the groups that changed) and `rejects`.
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
from omnicorpus.manifests.schema import DEDUPED, NEAR_DUPLICATES, RECORDINGS, SEGMENTS
from omnicorpus.pipelines.dedup import dedup_spec
from omnicorpus.pipelines.engine import Step, Work, run_step
from omnicorpus.pipelines.filter import filter_spec
from omnicorpus.pipelines.fingerprint import VERSION as FINGERPRINT_VERSION
from omnicorpus.pipelines.langid import langid_spec
from omnicorpus.pipelines.near_duplicates import BAND_ROWS, SCORED, band_rows, group_labels, scored_pairs
from omnicorpus.pipelines.normalize import normalize_spec
from omnicorpus.pipelines.segment import segment_spec
from omnicorpus.pipelines.spark import (
    content_digest,
    environment_errors,
    persisted,
    run_grouped_on_spark,
    run_on_spark,
)
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
    return chain("curate", segment_spec(cfg.output, cfg.segment, cfg.dedup.near_duplicates), langid_spec(cfg.langid),
                 normalize_spec(), filter_spec(cfg.filter))


def curate_params_digest(cfg: PipelineConfig) -> str:
    """What the per-recording stages' output depends on besides the recordings: their parameters."""
    params: dict[str, Any] = {"segment": asdict(cfg.segment), "langid": asdict(cfg.langid),
                              "filter": asdict(cfg.filter)}
    params["segment"].pop("batch_streams")  # how many recordings share a VAD batch changes no result
    if cfg.dedup.near_duplicates:  # the segments carry fingerprints of this kind
        params["fingerprint"] = FINGERPRINT_VERSION
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
#: decided on). The engine deletes what dedup wrote another way (recomputed whole, or grouped by PCM hash
#: alone, before these existed).
DEDUP_PARAMS = "dup-groups-2"

#: The columns the near-duplicate step reads of each segment.
_FINGERPRINTED = ["segment_id", "recording_id", "pcm_sha256", "audio_fingerprint", "source_uri", "corpus"]


def _hash_group(column: str = "pcm_sha256") -> Column:
    """The group a segment is deduplicated in (`column`: its dup_group, or in `deduped` the hash it was grouped
    by); a segment without one is a group of its own."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col(column), F.concat(F.lit("\0"), F.col("segment_id")))


def near_duplicate_pairs(indexed: DataFrame, min_similarity: float, max_bucket: int) -> DataFrame:
    """NEAR_DUPLICATES rows of fingerprinted segments (`_FINGERPRINTED` columns): the segments sharing a bucket
    of a signature band (one of at most `max_bucket` segments) are candidates unless of one recording or one
    PCM hash; those scoring at least `min_similarity` are pairs, labelled by their connected component over
    PCM hashes (one task: the pairs, not the corpus)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    bands = indexed.mapInArrow(lambda batches: (band_rows(b) for b in batches), from_arrow_schema(BAND_ROWS))
    shared = bands.groupBy("band").count().where((F.col("count") >= 2) & (F.col("count") <= max_bucket))
    bucketed = bands.join(shared.select("band"), "band", "left_semi")
    a, b = bucketed.alias("a"), bucketed.alias("b")
    candidates = (a.join(b, (F.col("a.band") == F.col("b.band")) & (F.col("a.segment_id") < F.col("b.segment_id"))
                         & (F.col("a.recording_id") != F.col("b.recording_id"))
                         & (F.col("a.pcm_sha256") != F.col("b.pcm_sha256")))
                  .select(F.col("a.segment_id").alias("segment_id"), F.col("b.segment_id").alias("other_segment_id"))
                  .distinct())
    other = indexed.select(*(F.col(c).alias(f"other_{c}") for c in _FINGERPRINTED))
    joined = candidates.join(indexed, "segment_id").join(other, "other_segment_id")
    scored = persisted(joined.mapInArrow(lambda batches: (scored_pairs(x, min_similarity) for x in batches),
                                         from_arrow_schema(SCORED)))

    def label(batches):  # runs in one task, over every pair
        edges = [(x, y) for batch in batches for x, y in zip(batch.column("pcm_sha256").to_pylist(),
                                                            batch.column("other_pcm_sha256").to_pylist(), strict=True)]
        labels = group_labels(edges)
        yield pa.RecordBatch.from_pydict({"pcm_sha256": list(labels), "dup_group": list(labels.values())},
                                         schema=pa.schema([("pcm_sha256", pa.string()), ("dup_group", pa.string())]))

    labels = scored.select("pcm_sha256", "other_pcm_sha256").coalesce(1).mapInArrow(
        label, "pcm_sha256 string, dup_group string")
    return scored.join(labels, "pcm_sha256").select(*NEAR_DUPLICATES.names)


@holds_output_lock
@environment_errors("near-duplicates")
def run_near_duplicates(cfg: PipelineConfig, spark: SparkSession) -> int:
    """The near-duplicate pairs of the segments (pipelines.near_duplicates), found again whole when their
    fingerprints changed (a new increment replaces the last; none when `dedup.near_duplicates` is off):
    the pairs found."""
    root, params = cfg.output, cfg.dedup

    def plan() -> Work[DataFrame | None] | None:
        segments = read_df(spark, root, "segments", SEGMENTS)
        if segments is None:
            return None
        indexed = segments.select(*_FINGERPRINTED).where("audio_fingerprint is not null and pcm_sha256 is not null")
        count, digest = content_digest(indexed, _FINGERPRINTED[:4]) if params.near_duplicates else (0, "")
        return Work([f"fingerprints={count}:{digest}"], indexed if count else None)

    def write(indexed: DataFrame | None, increment: str) -> dict[str, Any]:
        if indexed is None:  # nothing to pair: this empty increment replaces the pairs found before
            return {"pairs": 0}
        pairs = persisted(near_duplicate_pairs(indexed, params.min_similarity, params.max_bucket))
        write_increment(pairs, root, "near_duplicates", [], increment)
        found = pairs.count()
        pairs.unpersist()
        return {"pairs": found}

    step = Step("near_duplicates", plan, write, whole=True,
                params=hashlib.sha256(json.dumps(asdict(params), sort_keys=True).encode()).hexdigest()[:16])
    return run_step(root, step).info.get("pairs", 0)


def with_dup_groups(segments: DataFrame, pairs: DataFrame | None) -> DataFrame:
    """The segments with `dup_group`: the label of their PCM hash's near-duplicate group, else that hash."""
    from pyspark.sql import functions as F

    if pairs is None:
        return segments.withColumn("dup_group", F.col("pcm_sha256"))
    labels = (pairs.select("pcm_sha256", "dup_group")
              .unionByName(pairs.select(F.col("other_pcm_sha256").alias("pcm_sha256"), "dup_group")).distinct())
    return (segments.drop("dup_group").join(labels, "pcm_sha256", "left")
            .withColumn("dup_group", F.coalesce(F.col("dup_group"), F.col("pcm_sha256"))).select(*SEGMENTS.names))


def _fingerprinted(segments: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return segments.withColumn("fingerprint", F.xxhash64(*(F.col(c) for c in SEGMENTS.names)))


def _decided_rows(fingerprinted: DataFrame) -> DataFrame:
    """DEDUPED rows of segments with their dup_group: the hash they are grouped by is that group."""
    from pyspark.sql import functions as F

    return fingerprinted.select("segment_id", F.col("dup_group").alias("pcm_sha256"), "fingerprint")


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
        segments = with_dup_groups(segments, read_df(spark, root, "near_duplicates", NEAR_DUPLICATES))
        now = _decided_rows(_fingerprinted(segments))
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
        todo = _fingerprinted(segments).withColumn("group", _hash_group("dup_group")).join(
            F.broadcast(groups), "group", "left_semi")
        out = run_grouped_on_spark(dedup_spec(), todo.select(*SEGMENTS.names), "dup_group")
        write_increment(out.kept, root, "accepted", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        write_increment(_decided_rows(todo), root, "deduped", [], increment)
        counts = {"groups": len(keys), "accepted": out.kept.count(), "rejects": out.rejects.count(),
                  "retracted": retracted}
        out.unpersist()
        return counts

    outcome = run_step(root, Step("dedup", plan, write, params=DEDUP_PARAMS))
    return outcome.info.get("accepted", 0), outcome.info.get("rejects", 0)


def curate(cfg: PipelineConfig, spark: SparkSession) -> CurateReport:
    recordings, segments, rejects = run_curate(cfg, spark)
    run_near_duplicates(cfg, spark)
    accepted, dedup_rejects = run_dedup(cfg, spark)
    return CurateReport(recordings, segments, rejects, accepted, dedup_rejects)
