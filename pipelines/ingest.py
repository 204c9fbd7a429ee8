"""Ingest: source items -> normalized 16 kHz mono FLAC in the audio store + the recordings table.

`ingest_items` is the stage (a plain function over an Arrow batch of SOURCE_ITEMS); `run_ingest` is the
Spark job around it: list every source on the driver (metadata only), keep the items no earlier run
has accounted for, run the stage with mapInArrow, and move the written files into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.manifests.keys import speaker_pseudonym, split_row_uri
from omnicorpus.manifests.languages import UNDETERMINED, UnknownLanguageError, to_language
from omnicorpus.manifests.schema import RECORDINGS, SOURCE_ITEMS, Reason, Stage
from omnicorpus.manifests.tables import concat
from omnicorpus.pipelines.audio import (
    AudioDecodeError,
    audio_metrics,
    audio_store_path,
    decode_audio,
    encode_flac,
)
from omnicorpus.pipelines.config import IngestParams, PipelineConfig
from omnicorpus.pipelines.spark import arrow_to_spark, run_on_spark
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table
from omnicorpus.pipelines.table_store import (
    clean_uncommitted,
    commit_increment,
    increment_id,
    known_keys,
    write_increment,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_COMMUNITY_REASONS = {Reason.NO_CONSENT, Reason.INVALID_METADATA, Reason.WITHDRAWN}


@dataclass(frozen=True)
class IngestTask:
    output_root: str
    params: IngestParams


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
        if not storage.exists(path):
            raise ItemRejected(Reason.MISSING_FILE, f"{path} does not exist")
        return storage.read_bytes(path)
    pf, starts = _parquet_file(path)
    group = max(i for i, s in enumerate(starts) if s <= row)
    cell = pf.read_row_group(group, columns=["audio"]).column("audio")[row - starts[group]].as_py()
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        if cell.get("path"):
            return read_source_audio(storage.join(path.rsplit("/", 1)[0], cell["path"]))
    raise ItemRejected(Reason.MISSING_FILE, f"{source_uri}: no audio bytes or path in the row")


def _language(item: dict[str, Any]) -> str | None:
    raw = item["language_raw"]
    if raw is None or raw.strip().lower() == UNDETERMINED:
        if item["labelled"]:
            raise ItemRejected(Reason.UNKNOWN_LANGUAGE, "a labelled item needs a language; none given")
        return None  # unlabelled audio of unknown language still serves self-supervised training
    try:
        return to_language(raw, source=item["corpus"], text=item["raw_text"])
    except UnknownLanguageError as exc:
        raise ItemRejected(Reason.UNKNOWN_LANGUAGE, str(exc)) from exc


def _listing_rejection(error: str) -> ItemRejected:
    code, _, detail = error.partition(": ")
    try:
        reason = Reason(code)
    except ValueError:
        return ItemRejected(Reason.LISTING_ERROR, error)
    return ItemRejected(reason, detail, Stage.COMMUNITY if reason in _COMMUNITY_REASONS else Stage.INGEST)


def ingest_one(item: dict[str, Any], task: IngestTask) -> dict[str, Any]:
    """One source item -> one recordings row (and its FLAC in the audio store), or ItemRejected."""
    if item["listing_error"]:
        raise _listing_rejection(item["listing_error"])
    language = _language(item)
    data = read_source_audio(item["source_uri"])
    try:
        audio = decode_audio(data, start=item["start"], end=item["end"],
                             max_seconds=task.params.max_recording_seconds, name=item["source_uri"])
    except AudioDecodeError as exc:
        raise ItemRejected(Reason(exc.reason), str(exc)) from exc
    metrics = audio_metrics(audio.samples)
    rel = audio_store_path(metrics.pcm_sha256)
    target = storage.join(task.output_root, rel)
    if not storage.exists(target):  # content-addressed: identical audio is stored once
        storage.write_bytes_atomic(target, encode_flac(audio.samples))
    return {
        "recording_id": item["item_id"],
        "corpus": item["corpus"],
        "split": item["split"],
        "language": language,
        "language_raw": item["language_raw"],
        "source_uri": item["source_uri"],
        "start": item["start"],
        "end": item["end"],
        "license": item["license"],
        "labelled": bool(item["labelled"]),
        "speaker": speaker_pseudonym(item["corpus"], item["speaker_raw"], task.params.speaker_salt),
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
        except Exception as exc:  # a bug or an I/O failure: keep the item accounted for and say what
            rejected.append(reject_row(item, "item_id", Stage.INGEST, Reason.DECODE_ERROR,
                                       f"{type(exc).__name__}: {exc}", language=item["language_raw"]))
    return StageResult(pa.Table.from_pylist(kept, schema=RECORDINGS), rejects_table(rejected))


def ingest_spec(output_root: str, params: IngestParams) -> StageSpec:
    return StageSpec("ingest", ingest_items, IngestTask(output_root, params), SOURCE_ITEMS, RECORDINGS,
                     batch_rows=32)


@dataclass(frozen=True)
class IngestReport:
    listed: dict[str, int]  # items listed per source
    layouts: dict[str, str]  # the layout each source was read as (what `auto` chose)
    new: int  # items no earlier run had accounted for
    recordings: int  # of those, ingested
    rejects: int  # of those, rejected
    increment: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "layouts": self.layouts, "new": self.new, "recordings": self.recordings,
                "rejects": self.rejects, "increment": self.increment}


def list_sources(cfg: PipelineConfig) -> pa.Table:
    """Every item of every configured source (metadata only), in a stable order."""
    return list_sources_with_layouts(cfg)[0]


def list_sources_with_layouts(cfg: PipelineConfig) -> tuple[pa.Table, dict[str, str]]:
    """(every item, the layout each source was read as): `auto` resolves to the layout it detected."""
    from omnicorpus.corpus.registry import list_source

    listed = {src.name: list_source(src) for src in cfg.sources}
    return concat((t for t, _ in listed.values()), SOURCE_ITEMS), {n: layout for n, (_, layout) in listed.items()}


def run_ingest(cfg: PipelineConfig, spark: SparkSession) -> IngestReport:
    """Ingest every item of the configured sources that no earlier run has accounted for."""
    items, layouts = list_sources_with_layouts(cfg)
    listed = {s.name: 0 for s in cfg.sources}
    for name in items.column("corpus").to_pylist():
        listed[name] += 1
    root = cfg.output
    clean_uncommitted(root)
    done = pa.concat_arrays([
        known_keys(root, "recordings", "recording_id"),
        known_keys(root, "rejects", "key", pc.field("stage").isin([str(Stage.INGEST), str(Stage.COMMUNITY)])),
    ])
    new = items.filter(pc.invert(pc.is_in(items.column("item_id"), value_set=done)))
    if new.num_rows == 0:
        return IngestReport(listed, layouts, 0, 0, 0, None)
    increment = increment_id("ingest", new.column("item_id").to_pylist())
    partitions = -(-new.num_rows // cfg.ingest.items_per_partition)
    df = arrow_to_spark(spark, new, max(partitions, spark.sparkContext.defaultParallelism))
    out = run_on_spark(ingest_spec(root, cfg.ingest), df)
    write_increment(out.kept, root, "recordings", ["corpus", "language"], increment)
    write_increment(out.rejects, root, "rejects", ["stage"], increment)
    n_kept, n_rej = out.kept.count(), out.rejects.count()
    out.unpersist()
    commit_increment(root, increment, {"stage": "ingest", "items": new.num_rows, "recordings": n_kept,
                                       "rejects": n_rej})
    return IngestReport(listed, layouts, new.num_rows, n_kept, n_rej, increment)
