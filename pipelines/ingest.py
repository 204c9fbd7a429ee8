"""Ingest: source items -> normalized 16 kHz mono FLAC in the audio store + the recordings table.

`ingest_items` is the stage (a plain function over an Arrow batch of SOURCE_ITEMS); `run_ingest` is the
Spark job around it: list every source with Spark tasks (metadata only, see pipelines.sources), keep the
items no earlier run has accounted for (joins with the `ingested` table on the executors; the increment is
named by a digest they compute), run the stage with mapInArrow, and move the written files into place.
Nothing proportional to the corpus reaches the driver: only the ids of the items whose earlier outcome is
removed (changed, retried, gone), as many as changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.listing import Ignored
from omnicorpus.corpus.pcm import audio_metrics, encode_pcm16, pcm_int16
from omnicorpus.manifests import storage
from omnicorpus.manifests.config import IngestParams, PipelineConfig
from omnicorpus.manifests.keys import speaker_pseudonym, split_row_uri
from omnicorpus.manifests.languages import UNDETERMINED, UnknownLanguageError, to_language
from omnicorpus.manifests.layout import audio_store_path, table_uri
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.schema import (
    INGESTED,
    RECORDINGS,
    REJECTS,
    SOURCE_ITEMS,
    ListingProblem,
    Reason,
    Stage,
    item_meta,
)
from omnicorpus.pipelines.engine import Step, Work, purge_items, run_step
from omnicorpus.pipelines.sources import Listed as Listed  # the listing, where the job's callers import it from
from omnicorpus.pipelines.sources import ListedFrame as ListedFrame
from omnicorpus.pipelines.sources import item_versions as item_versions
from omnicorpus.pipelines.sources import list_all as list_all
from omnicorpus.pipelines.sources import list_on_spark as list_on_spark
from omnicorpus.pipelines.spark import content_digest, environment_errors, persisted, run_on_spark, unpersist
from omnicorpus.pipelines.stage import (
    ENVIRONMENT_ERRORS,
    EnvironmentFault,
    StageResult,
    StageSpec,
    reject_row,
    rejects_table,
)
from omnicorpus.pipelines.table_store import read_columns, read_df, write_increment

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_COMMUNITY_REASONS = {Reason.NO_CONSENT, Reason.INVALID_METADATA, Reason.WITHDRAWN}


@dataclass(frozen=True)
class IngestTask:
    output_root: str
    params: IngestParams
    #: corpora whose sources allow running their Kaldi wav.scp commands (`allow_commands: true`)
    commands_allowed: frozenset[str] = frozenset()


class ItemRejected(Exception):
    def __init__(self, reason: Reason, detail: str, stage: Stage = Stage.INGEST) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.stage = reason, detail, stage


@lru_cache(maxsize=8)
def _parquet_file(path: str) -> tuple[pq.ParquetFile, list[int]]:
    fs, inner = storage.resolve(path)
    pf = pq.ParquetFile(fs.open_input_file(inner))
    starts, total = [], 0
    for i in range(pf.num_row_groups):
        starts.append(total)
        total += pf.metadata.row_group(i).num_rows
    return pf, starts


def read_source_audio(source_uri: str) -> bytes:
    """Bytes of the audio an item points at: a file, or the audio struct of a Parquet row."""
    path, row = split_row_uri(source_uri)
    if row is None:
        try:
            return storage.read_bytes(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ItemRejected(Reason.MISSING_FILE, f"{path} does not exist (or is no file)") from None
    pf, starts = _parquet_file(path)
    group = max(i for i, s in enumerate(starts) if s <= row)
    cell = pf.read_row_group(group, columns=["audio"]).column("audio")[row - starts[group]].as_py()
    if isinstance(cell, dict):
        if cell.get("bytes") is not None:
            return bytes(cell["bytes"])  # empty bytes are an empty file, never a reason to follow the path
        if cell.get("path"):
            folder = os.path.dirname(path)
            target = os.path.normpath(os.path.join(folder, cell["path"].replace("\\", "/")))
            if os.path.isabs(cell["path"]) or not target.startswith(folder.rstrip("/") + "/"):
                raise ItemRejected(Reason.PATH_OUTSIDE_SOURCE, f"{source_uri}: audio path {cell['path']!r} "
                                                               "is outside the dataset's folder")
            return read_source_audio(target)
    raise ItemRejected(Reason.MISSING_FILE, f"{source_uri}: no audio bytes or path in the row")


def _language(item: dict[str, Any]) -> str:
    raw = item["language_raw"]
    if raw is None or raw.strip().lower() == UNDETERMINED:
        if item["labelled"]:
            raise ItemRejected(Reason.UNKNOWN_LANGUAGE, "a labelled item needs a language; none given")
        return UNDETERMINED  # unlabelled audio of unknown language still serves self-supervised training
    try:
        return to_language(raw, source=item["corpus"], text=item["raw_text"])
    except UnknownLanguageError as exc:
        raise ItemRejected(Reason.UNKNOWN_LANGUAGE, str(exc)) from exc


def _listing_rejection(problem: ListingProblem) -> ItemRejected:
    reason = Reason(problem["reason"])
    return ItemRejected(reason, problem["detail"], Stage.COMMUNITY if reason in _COMMUNITY_REASONS else Stage.INGEST)


def command_audio(item: dict[str, Any], task: IngestTask) -> bytes:
    """The output of a `pipe:` item's command (a Kaldi wav.scp command its source allows), run without a shell
    in the folder the listing named, bounded in time and size."""
    from omnicorpus.corpus.commands import PIPE_PREFIX, CommandError, parse_rxfilename, run_command

    command = item["source_uri"][len(PIPE_PREFIX):]
    if item["corpus"] not in task.commands_allowed:
        raise ItemRejected(Reason.COMMAND_NOT_ALLOWED, f"command not run (the source does not allow commands): "
                                                       f"{command}")
    rx = parse_rxfilename(item["source_uri"])
    if rx.problem or not rx.stages:
        raise ItemRejected(Reason.COMMAND_NOT_ALLOWED, f"command cannot run without a shell: {command}"
                                                       f"{f' ({rx.problem})' if rx.problem else ''}")
    cwd = item_meta(item["meta"]).get("cwd")
    try:
        return run_command(rx.stages, cwd=cwd or os.getcwd(), timeout_s=task.params.command_timeout_seconds,
                           max_bytes=task.params.command_max_bytes)
    except CommandError as exc:
        raise ItemRejected(Reason.COMMAND_FAILED, exc.detail) from None


def ingest_one(item: dict[str, Any], task: IngestTask) -> dict[str, Any]:
    """One source item -> one recordings row (and its FLAC in the audio store), or ItemRejected."""
    from omnicorpus.corpus.commands import PIPE_PREFIX

    if item["listing_error"]:
        raise _listing_rejection(item["listing_error"])
    language = _language(item)
    if item["source_uri"].startswith(PIPE_PREFIX):
        data = command_audio(item, task)
    else:
        data = read_source_audio(item["source_uri"])
    try:
        audio = decode_audio(data, start=item["start"], end=item["end"], channel=item["channel"],
                             max_seconds=task.params.max_recording_seconds, name=item["source_uri"])
    except AudioDecodeError as exc:
        raise ItemRejected(Reason(exc.reason), str(exc)) from exc
    pcm = pcm_int16(audio.samples)  # once: hashed for the store's name and encoded into it
    metrics = audio_metrics(audio.samples, pcm)
    rel = audio_store_path(metrics.pcm_sha256)
    target = storage.join(task.output_root, rel)
    if not storage.exists(target):  # content-addressed: identical audio is stored once
        storage.write_bytes_atomic(target, encode_pcm16(pcm))
    return {
        "recording_id": item["item_id"],
        "item_version": item["item_version"],
        "corpus": item["corpus"],
        "split": item["split"],
        "language": language,
        "language_raw": item["language_raw"],
        "source_uri": item["source_uri"],
        "start": item["start"],
        "end": item["end"],
        "channel": item["channel"],
        "license": item["license"],
        "labelled": bool(item["labelled"]),
        "speaker": speaker_pseudonym(item["corpus"], item["speaker_raw"], task.params.speaker_salt),
        "speaker_source": item["speaker_source"],
        "raw_text": item["raw_text"],
        "audio_path": rel,
        "num_samples": metrics.num_samples,
        "seconds": metrics.seconds,
        "orig_sample_rate": audio.orig_sample_rate,
        "orig_channels": audio.orig_channels,
        "orig_codec": audio.orig_codec,
        "peak": metrics.peak,
        "rms_dbfs": metrics.rms_dbfs,
        "clip_fraction": metrics.clip_fraction,
        "dc_offset": metrics.dc_offset,
        "pcm_sha256": metrics.pcm_sha256,
        "meta": item["meta"],
    }


def ingest_items(batch: pa.RecordBatch, task: IngestTask) -> StageResult:
    """The ingest stage over a batch of SOURCE_ITEMS. Never raises on bad data: it rejects."""
    kept, rejected = [], []
    for item in batch.to_pylist():
        try:
            kept.append(ingest_one(item, task))
        except ItemRejected as exc:
            rejected.append(reject_row(item, "item_id", exc.stage, exc.reason, exc.detail,
                                       language=item["language_raw"]))
        except ENVIRONMENT_ERRORS as exc:  # a full disk, a permission, an I/O error: not the item's fault
            raise EnvironmentFault(f"{item['source_uri']}: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # the item's bytes made a reader fail: keep it accounted for and say what
            rejected.append(reject_row(item, "item_id", Stage.INGEST, Reason.DECODE_ERROR,
                                       f"{type(exc).__name__}: {exc}", language=item["language_raw"]))
    return StageResult(pa.Table.from_pylist(kept, schema=RECORDINGS), rejects_table(rejected))


def allowed_commands(cfg: PipelineConfig) -> frozenset[str]:
    return frozenset(s.name for s in cfg.sources if s.allow_commands)


def ingest_spec(output_root: str, params: IngestParams, commands_allowed: frozenset[str] = frozenset()) -> StageSpec:
    return StageSpec("ingest", ingest_items, IngestTask(output_root, params, commands_allowed), SOURCE_ITEMS,
                     RECORDINGS,
                     batch_rows=32)


@dataclass(frozen=True)
class IngestReport:
    listed: dict[str, int]  # items listed per source
    layouts: dict[str, str]  # the layout each source was read as (what `auto` chose)
    new: int  # items ingested in this run: never seen, changed, or retried
    recordings: int  # of those, ingested
    rejects: int  # of those, rejected
    increment: str | None
    changed: int = 0  # of `new`, items listed before with other settings or content
    retried: int = 0  # of `new`, items rejected before for a cause that is gone (a missing file now there)
    gone: int = 0  # items of earlier runs no longer listed: their rows were removed
    ignored: dict[str, Ignored] = field(default_factory=dict)  # per source, files that are no item

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "layouts": self.layouts, "new": self.new, "recordings": self.recordings,
                "rejects": self.rejects, "increment": self.increment, "changed": self.changed,
                "retried": self.retried, "gone": self.gone,
                "ignored": {name: ign.count for name, ign in self.ignored.items()}}


def list_sources(cfg: PipelineConfig) -> pa.Table:
    """Every item of every configured source (metadata only), in a stable order, listed in this process."""
    return list_all(cfg).items


#: Ingest rejects whose cause can go away without the listing changing: retried once the file is there.
_RETRIED_WHEN_PRESENT = (str(Reason.MISSING_FILE), str(Reason.EMPTY_FILE))


@dataclass(frozen=True)
class IngestPlan:
    new: pa.Table  # the items to ingest (SOURCE_ITEMS)
    new_versions: pa.Array
    stale: list[str]  # ids whose earlier outcome is removed first: changed, retried, or no longer listed
    changed: int
    retried: int
    gone: int


def _retry_keys(keys: list[str], uris: list[str]) -> list[str]:
    """The keys of ingest rejects for a file that was missing or empty whose file is now there, not empty."""
    ids = []
    for key, uri in zip(keys, uris, strict=True):
        path, row = split_row_uri(uri)
        if row is None and "://" not in path and "#" not in path:
            try:
                if os.stat(path).st_size > 0:
                    ids.append(key)
            except OSError:
                continue
    return ids


_RETRY_FILTER = (pc.field("stage") == str(Stage.INGEST)) & pc.field("reason").isin(_RETRIED_WHEN_PRESENT)


def _retryable(root: str) -> list[str]:
    """Ids of items rejected at ingest for a file that was missing or empty and is now there, not empty."""
    rejects = read_columns(root, "rejects", ["key", "source_uri", "reason"], _RETRY_FILTER)
    return _retry_keys(rejects.column("key").to_pylist(), rejects.column("source_uri").to_pylist())


def plan_ingest(root: str, listed: Listed) -> IngestPlan:
    """What an ingest run would do with a listing made on the driver (`list_all`; the job plans on Spark, see
    `ingest_work`): which items are new (or changed, or to retry), which earlier outcomes go. Writes nothing."""
    seen = read_columns(root, "ingested", ["item_id", "item_version"])
    ids, versions = listed.items.column("item_id"), listed.versions
    current = pc.binary_join_element_wise(ids, versions, ":")
    seen_pairs = pc.binary_join_element_wise(seen.column("item_id"), seen.column("item_version"), ":")
    outdated = pc.invert(pc.is_in(seen_pairs, value_set=current))  # listed with another version, or not at all
    seen_ids = seen.column("item_id")
    gone_ids = set(seen_ids.filter(pc.invert(pc.is_in(seen_ids, value_set=ids))).to_pylist())
    changed_ids = set(seen_ids.filter(outdated).to_pylist()) - gone_ids
    retried_ids = set(_retryable(root)) - changed_ids - gone_ids
    stale = sorted(gone_ids | changed_ids | retried_ids)
    fresh = pc.is_in(seen_pairs, value_set=current)
    done = seen_pairs.filter(fresh)
    todo = pc.or_(pc.invert(pc.is_in(current, value_set=done)), pc.is_in(ids, value_set=pa.array(stale, pa.string())))
    return IngestPlan(listed.items.filter(todo), versions.filter(todo), stale, len(changed_ids), len(retried_ids),
                      len(gone_ids))


# --- the job's plan, on Spark ------------------------------------------------------------------------

@dataclass(frozen=True)
class StaleItems:
    """Items whose earlier outcome an ingest run removes first (their ids reach the driver: as many as changed)."""

    ids: list[str]
    changed: int  # listed before in another version (other settings or content)
    retried: int  # rejected before for a cause that is gone (a missing file now there)
    gone: int  # no longer listed


def _ingested_df(spark: SparkSession, root: str) -> DataFrame | None:
    return read_df(spark, root, "ingested", INGESTED)


def _retried_on_spark(spark: SparkSession, root: str) -> DataFrame | None:
    """Ids of the ingest rejects for a missing or empty file whose file is now there, not empty (each looked at
    on the executors); None without rejects."""
    from pyspark.sql import functions as F

    rejects = read_df(spark, root, "rejects", REJECTS)
    if rejects is None:
        return None

    def retry(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # on the executors
        for batch in batches:
            keys = _retry_keys(batch.column("key").to_pylist(), batch.column("source_uri").to_pylist())
            yield pa.RecordBatch.from_arrays([pa.array(keys, pa.string())], names=["item_id"])

    candidates = rejects.where((F.col("stage") == str(Stage.INGEST))
                               & F.col("reason").isin(*_RETRIED_WHEN_PRESENT)).select("key", "source_uri")
    return candidates.mapInArrow(retry, "item_id string").distinct()


#: Most pending items whose ids are broadcast to pick their rows from the listing (more: a shuffle join).
_BROADCAST_IDS = 500_000


@dataclass
class SparkPlan:
    """What an ingest run does, found on the executors: the stale items (their ids on the driver, as many as
    changed), and the ids of the items to ingest (new, changed or to retry), kept on the executors' disks."""

    stale: StaleItems
    pending: DataFrame | None  # item_id; None: every listed item
    count: int  # items to ingest
    kept: list[DataFrame]

    def unpersist(self) -> None:
        unpersist(self.kept)


def plan_on_spark(spark: SparkSession, root: str, listed: ListedFrame) -> SparkPlan:
    """The ingest plan as `plan_ingest` makes it on the driver, from one aggregation of the listing's ids and
    versions with the ingested table's (per id: listed or gone, ingested in its version or in another) and the
    ingest rejects whose file is now there. Writes nothing: the pending ids are computed before the stale items'
    rows are purged, and kept."""
    from pyspark.sql import functions as F

    retried = _retried_on_spark(spark, root)
    seen = _ingested_df(spark, root)
    if seen is None:  # nothing ingested: every item is new; only the retried can be stale
        ids = [] if retried is None else sorted(retried.toArrow().column("item_id").to_pylist())
        return SparkPlan(StaleItems(ids, 0, len(ids), 0), None, sum(listed.counts.values()), [])
    none = F.lit(None).cast("string")
    versions = listed.items.select("item_id", F.col("item_version").alias("listed"), none.alias("seen")).unionByName(
        seen.select("item_id", none.alias("listed"), F.col("item_version").alias("seen")))
    # an item has one listed version and (almost always) one ingested one: the least and greatest ingested tell
    # whether it was ingested in its version only (both equal it) or also in another (either differs)
    per_id = versions.groupBy("item_id").agg(F.max("listed").alias("version"), F.min("seen").alias("least"),
                                             F.max("seen").alias("greatest"))
    version = F.col("version")
    listed_now = version.isNotNull()
    done = F.coalesce((F.col("least") == version) & (F.col("greatest") == version), F.lit(False))
    outdated = listed_now & F.coalesce((F.col("least") != version) | (F.col("greatest") != version), F.lit(False))
    kind = F.when(~listed_now, F.lit("gone")).when(outdated, F.lit("changed"))
    status = per_id.select("item_id", kind.alias("kind"), (listed_now & (~done | outdated)).alias("pending"))
    if retried is not None:  # rejected for a file now there, and neither changed nor gone
        status = status.join(retried.select("item_id", F.lit(True).alias("retry")), "item_id", "left").select(
            "item_id", F.coalesce("kind", F.when(F.col("retry"), F.lit("retried"))).alias("kind"),
            (F.col("pending") | F.coalesce("retry", F.lit(False))).alias("pending"))
        status = status.unionByName(retried.join(per_id, "item_id", "left_anti").select(
            "item_id", F.lit("retried").alias("kind"), F.lit(False).alias("pending")))
    status = persisted(status.where("kind is not null or pending"))
    try:
        stale = status.where("kind is not null").select("item_id", "kind").toArrow()
        pending = persisted(status.where("pending").select("item_id"))
        count = pending.count()
    finally:
        status.unpersist()
    kinds = stale.column("kind").to_pylist()
    return SparkPlan(StaleItems(sorted(stale.column("item_id").to_pylist()), kinds.count("changed"),
                                kinds.count("retried"), kinds.count("gone")), pending, count, [pending])


def _adopt_earlier_outcomes(spark: SparkSession, root: str, listed: ListedFrame) -> None:
    """An output root from before item versions: take what it holds as done with the current versions
    (once), rather than ingest a whole corpus again."""
    from pyspark.sql import functions as F

    def plan() -> Work[tuple[DataFrame, int]] | None:
        recordings, rejects = read_df(spark, root, "recordings", RECORDINGS), read_df(spark, root, "rejects", REJECTS)
        done = []
        if recordings is not None:
            done.append(recordings.select(F.col("recording_id").alias("item_id")))
        if rejects is not None:
            taken = rejects.where(F.col("stage").isin(str(Stage.INGEST), str(Stage.COMMUNITY)))
            done.append(taken.select(F.col("key").alias("item_id")))
        if not done:
            return None
        ids = done[0] if len(done) == 1 else done[0].unionByName(done[1])
        adopted = listed.items.join(ids.distinct(), "item_id", "left_semi").select("item_id", "corpus",
                                                                                   "item_version")
        count, digest = content_digest(adopted, ["item_id", "item_version"])
        return Work([f"items={count}:{digest}"], (adopted, count)) if count else None

    def write(work: tuple[DataFrame, int], increment: str) -> dict[str, Any]:
        rows, count = work
        write_increment(rows, root, "ingested", ["corpus"], increment)
        return {"adopted": count}

    run_step(root, Step("adopt", plan, write))


@dataclass
class Pending:
    """The items an ingest run takes: their rows (on the executors), how many, what is persisted for them."""

    rows: DataFrame
    count: int
    kept: list[DataFrame]

    def unpersist(self) -> None:
        unpersist(self.kept)


def ingest_work(spark: SparkSession, root: str, listed: ListedFrame) -> tuple[Work[Pending] | None, StaleItems]:
    """The ingest step's plan (the engine has cleaned up first): an output root from before item versions
    adopted, the plan made (plan_on_spark), the earlier outcomes of the stale items removed, then the rows of the
    items to ingest picked from the listing (a few ids broadcast, so that a run with little new shuffles no
    listing rows) and kept on the executors' disks (the caller unpersists them), named by a digest the
    executors compute; and the stale items."""
    from pyspark.sql import functions as F

    if not storage.exists(table_uri(root, "ingested")) and storage.exists(table_uri(root, "recordings")):
        _adopt_earlier_outcomes(spark, root, listed)
    plan = plan_on_spark(spark, root, listed)
    try:
        purge_items(root, plan.stale.ids)
        if not plan.count:
            return None, plan.stale
        if plan.pending is None:
            todo = Pending(listed.items, plan.count, [])
        else:
            pick = F.broadcast(plan.pending) if plan.count <= _BROADCAST_IDS else plan.pending
            rows = persisted(listed.items.join(pick, "item_id", "left_semi").select(*SOURCE_ITEMS.names))
            todo = Pending(rows, plan.count, [rows])
        count, digest = content_digest(todo.rows, ["item_id", "item_version"])  # computes (and keeps) the rows
    finally:
        plan.unpersist()
    return Work([f"items={count}:{digest}"], Pending(todo.rows, count, todo.kept)), plan.stale


def record_ingested(todo: DataFrame, count: int, root: str, increment: str) -> None:
    """The ingested table's rows of an increment: the items it took, in their versions."""
    write_increment(todo.select("item_id", "corpus", "item_version").coalesce(max(1, -(-count // 4_000_000))),
                    root, "ingested", ["corpus"], increment)


@holds_output_lock
@environment_errors("ingest")
def run_ingest(cfg: PipelineConfig, spark: SparkSession, listed: Listed | ListedFrame | None = None) -> IngestReport:
    """Ingest every listed item that no earlier run took in its current version; first remove what earlier
    runs made of items that changed, are to be retried, or are no longer listed. `listed`: the sources'
    listing, when the caller has made it (else they are listed on Spark, see pipelines.sources)."""
    root = cfg.output
    if isinstance(listed, ListedFrame):
        frame = listed
    else:
        frame = list_on_spark(cfg, spark) if listed is None else ListedFrame.of(spark, listed)
    planned: list[StaleItems] = []

    def plan() -> Work[Pending] | None:
        work, stale = ingest_work(spark, root, frame)
        planned.append(stale)
        return work

    def write(todo: Pending, increment: str) -> dict[str, Any]:
        count = todo.count
        try:
            partitions = -(-count // cfg.ingest.items_per_partition)
            df = todo.rows.repartition(max(partitions, spark.sparkContext.defaultParallelism))
            out = run_on_spark(ingest_spec(root, cfg.ingest, allowed_commands(cfg)), df)
            write_increment(out.kept, root, "recordings", ["corpus", "language"], increment)
            write_increment(out.rejects, root, "rejects", ["stage"], increment)
            record_ingested(todo.rows, count, root, increment)
            n_kept, n_rej = out.kept.count(), out.rejects.count()
            out.unpersist()
        finally:
            todo.unpersist()
        return {"items": count, "recordings": n_kept, "rejects": n_rej}

    try:
        outcome = run_step(root, Step("ingest", plan, write))
    finally:
        if frame is not listed:
            frame.unpersist()
    stale = planned[-1]
    info = outcome.info if outcome.ran else {}
    return IngestReport(listed=frame.counts, layouts=frame.layouts, ignored=frame.ignored,
                        changed=stale.changed, retried=stale.retried, gone=stale.gone,
                        new=info.get("items", 0), recordings=info.get("recordings", 0),
                        rejects=info.get("rejects", 0), increment=outcome.increment)
