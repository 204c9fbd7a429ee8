"""Ingest: source items -> normalized 16 kHz mono FLAC in the audio store + the recordings table.

`ingest_items` is the stage (a plain function over an Arrow batch of SOURCE_ITEMS); `run_ingest` is the
Spark job around it: list every source on the driver (metadata only), keep the items no earlier run
has accounted for, run the stage with mapInArrow, and move the written files into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.listing import Ignored, ignored_files
from omnicorpus.corpus.pcm import audio_metrics, encode_flac
from omnicorpus.manifests import storage
from omnicorpus.manifests.config import IngestParams, PipelineConfig
from omnicorpus.manifests.keys import speaker_pseudonym, split_row_uri
from omnicorpus.manifests.languages import UNDETERMINED, UnknownLanguageError, to_language
from omnicorpus.manifests.layout import audio_store_path, table_uri
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.schema import INGESTED, RECORDINGS, SOURCE_ITEMS, ListingProblem, Reason, Stage, item_meta
from omnicorpus.manifests.tables import concat, conform
from omnicorpus.pipelines.engine import Step, Work, purge_items, run_step
from omnicorpus.pipelines.spark import arrow_to_spark, environment_errors, run_on_spark
from omnicorpus.pipelines.stage import (
    ENVIRONMENT_ERRORS,
    EnvironmentFault,
    StageResult,
    StageSpec,
    reject_row,
    rejects_table,
)
from omnicorpus.pipelines.table_store import known_keys, read_columns, write_increment, write_local_increment

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
    metrics = audio_metrics(audio.samples)
    rel = audio_store_path(metrics.pcm_sha256)
    target = storage.join(task.output_root, rel)
    if not storage.exists(target):  # content-addressed: identical audio is stored once
        storage.write_bytes_atomic(target, encode_flac(audio.samples))
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


@dataclass(frozen=True)
class Listed:
    """Every item of every configured source (metadata only), with the version of each."""

    items: pa.Table  # SOURCE_ITEMS, in a stable order
    versions: pa.Array  # item_version of each row of `items`
    layouts: dict[str, str]  # the layout each source was read as: `auto` resolves to the one detected
    ignored: dict[str, Ignored]

    @property
    def counts(self) -> dict[str, int]:
        names = self.items.column("corpus").to_pylist()
        return {name: names.count(name) for name in self.layouts}


def item_versions(items: pa.Table, params: IngestParams) -> pa.Array:
    """item_version of each listed item: a digest of its whole listing row (location, transcript, language,
    licence, labelled, speaker, split, listing problem, ...) and of the ingest parameters that shape its
    recording. Any change of a source's settings or of what its manifests say gives a new version."""
    shaping = json.dumps({"max_recording_seconds": params.max_recording_seconds,
                          "speaker_salt": params.speaker_salt}, sort_keys=True)
    columns = [c for c in SOURCE_ITEMS.names if c not in ("item_id", "item_version")]
    rows = items.select(columns).to_pylist()
    return pa.array([hashlib.sha256(f"{shaping}\0{json.dumps(row, sort_keys=True, ensure_ascii=False)}".encode()
                                    ).hexdigest()[:16] for row in rows], pa.string())


def list_sources(cfg: PipelineConfig) -> pa.Table:
    """Every item of every configured source (metadata only), in a stable order."""
    return list_all(cfg).items


def list_all(cfg: PipelineConfig) -> Listed:
    from omnicorpus.corpus.registry import list_source

    listed = {src.name: list_source(src) for src in cfg.sources}
    items = concat((t for t, _ in listed.values()), SOURCE_ITEMS)
    versions = item_versions(items, cfg.ingest)
    items = items.set_column(items.schema.get_field_index("item_version"), SOURCE_ITEMS.field("item_version"),
                             versions)
    return Listed(items, versions, {n: layout for n, (_, layout) in listed.items()},
                  {n: ignored_files(t) for n, (t, _) in listed.items()})


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


def _retryable(root: str) -> list[str]:
    """Ids of items rejected at ingest for a file that was missing or empty and is now there, not empty."""
    rejects = read_columns(root, "rejects", ["key", "source_uri", "reason"],
                           (pc.field("stage") == str(Stage.INGEST)) & pc.field("reason").isin(_RETRIED_WHEN_PRESENT))
    ids = []
    for key, uri in zip(rejects.column("key").to_pylist(), rejects.column("source_uri").to_pylist(), strict=True):
        path, row = split_row_uri(uri)
        if row is None and "://" not in path and "#" not in path:
            try:
                if os.stat(path).st_size > 0:
                    ids.append(key)
            except OSError:
                continue
    return ids


def _adopt_earlier_outcomes(root: str, listed: Listed) -> None:
    """An output root from before item versions: take what it holds as done with the current versions
    (once), rather than ingest a whole corpus again."""

    def plan() -> Work[pa.Table] | None:
        done = pa.concat_arrays([
            known_keys(root, "recordings", "recording_id"),
            known_keys(root, "rejects", "key", pc.field("stage").isin([str(Stage.INGEST), str(Stage.COMMUNITY)])),
        ])
        mask = pc.is_in(listed.items.column("item_id"), value_set=done)
        if not pc.any(mask).as_py():
            return None
        ids = listed.items.column("item_id").filter(mask)
        return Work(ids.to_pylist(), pa.table({"item_id": ids, "corpus": listed.items.column("corpus").filter(mask),
                                               "item_version": listed.versions.filter(mask)}))

    def write(rows: pa.Table, increment: str) -> dict[str, Any]:
        write_local_increment(conform(rows, INGESTED), root, "ingested", ["corpus"], increment)
        return {"adopted": rows.num_rows}

    run_step(root, Step("adopt", plan, write))


def plan_ingest(root: str, listed: Listed, *, adopt: bool = True) -> IngestPlan:
    """What an ingest run does: which items are new (or changed, or to retry), which earlier outcomes go.
    `adopt`: take an output root from before item versions as it is (writes; see _adopt_earlier_outcomes)."""
    if adopt and not storage.exists(table_uri(root, "ingested")) and storage.exists(table_uri(root, "recordings")):
        _adopt_earlier_outcomes(root, listed)
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


@holds_output_lock
@environment_errors("ingest")
def run_ingest(cfg: PipelineConfig, spark: SparkSession, listed: Listed | None = None) -> IngestReport:
    """Ingest every listed item that no earlier run took in its current version; first remove what earlier
    runs made of items that changed, are to be retried, or are no longer listed. `listed`: the sources'
    listing, when the caller has made it."""
    listed = listed if listed is not None else list_all(cfg)
    root = cfg.output
    planned: list[IngestPlan] = []

    def plan() -> Work[IngestPlan] | None:
        ingest = plan_ingest(root, listed)
        purge_items(root, ingest.stale)
        planned.append(ingest)
        if ingest.new.num_rows == 0:
            return None
        return Work(pc.binary_join_element_wise(ingest.new.column("item_id"), ingest.new_versions, ":").to_pylist(),
                    ingest)

    def write(ingest: IngestPlan, increment: str) -> dict[str, Any]:
        new = ingest.new
        partitions = -(-new.num_rows // cfg.ingest.items_per_partition)
        df = arrow_to_spark(spark, new, max(partitions, spark.sparkContext.defaultParallelism))
        out = run_on_spark(ingest_spec(root, cfg.ingest, allowed_commands(cfg)), df)
        write_increment(out.kept, root, "recordings", ["corpus", "language"], increment)
        write_increment(out.rejects, root, "rejects", ["stage"], increment)
        taken = pa.table({"item_id": new.column("item_id"), "corpus": new.column("corpus"),
                          "item_version": ingest.new_versions})
        write_local_increment(conform(taken, INGESTED), root, "ingested", ["corpus"], increment)
        n_kept, n_rej = out.kept.count(), out.rejects.count()
        out.unpersist()
        return {"items": new.num_rows, "recordings": n_kept, "rejects": n_rej}

    outcome = run_step(root, Step("ingest", plan, write))
    ingest = planned[-1]
    info = outcome.info if outcome.ran else {}
    return IngestReport(listed=listed.counts, layouts=listed.layouts, ignored=listed.ignored,
                        changed=ingest.changed, retried=ingest.retried, gone=ingest.gone,
                        new=info.get("items", 0), recordings=info.get("recordings", 0),
                        rejects=info.get("rejects", 0), increment=outcome.increment)
