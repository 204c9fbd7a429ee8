"""Shard: accepted segments -> WebDataset tars per (language, corpus, split).

A sample is `<key>.flac` (16 kHz mono) and `<key>.json`. Same segments and config, same bytes: samples in
key order, tar headers with fixed times, owners and modes, FLAC and JSON encoded deterministically.
Shard names carry a digest of their group's content, so a group that did not change is not written
again and releases share its shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from omnicorpus.corpus.pcm import encode_flac, read_flac
from omnicorpus.manifests import storage
from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.layout import group_index
from omnicorpus.manifests.schema import (
    QUALITY_COLUMNS,
    RECORDINGS,
    SAMPLE_RATE,
    SEGMENTS,
    SHARDS,
    UTTERANCES,
    item_meta,
)
from omnicorpus.manifests.tables import concat, conform, read_arrow_file, write_arrow_file
from omnicorpus.pipelines.stage import EnvironmentFault
from omnicorpus.pipelines.table_store import read_df

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

#: The stage table where the shard step records the shards it made for its inputs (read back when a release
#: of the same inputs is made again).
SHARD_RUNS = "shard_runs"


@dataclass(frozen=True)
class ShardTask:
    output_root: str
    target_bytes: int
    config_digest: str  # a change of stage parameters gives new shard names


def shard_dir(language: str | None, corpus: str, split: str) -> str:
    """Unlabelled audio of unknown language shards under `und`."""
    return f"shards/{language or 'und'}/{corpus}/{split}"


def _tarfile_header(name: str, size: int) -> bytes:
    """A USTAR header that depends only on the name and the size."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")


_TEMPLATE = _tarfile_header("", 0)
_NAME, _SIZE, _CHKSUM = slice(0, 100), slice(124, 136), slice(148, 156)


def tar_header(name: str, size: int) -> bytes:
    """_tarfile_header's bytes, made from its header by writing in the name, the size and the checksum: a
    tenth of the time, which counts at thousands of samples per shard."""
    raw = name.encode(tarfile.ENCODING, "surrogateescape")
    if len(raw) > 100 or size >= 8**11:  # a prefix field or a base-256 size: tarfile's own way
        return _tarfile_header(name, size)
    header = bytearray(_TEMPLATE)
    header[_NAME] = raw.ljust(100, tarfile.NUL)
    header[_SIZE] = b"%011o\0" % size
    header[_CHKSUM] = b" " * 8
    header[_CHKSUM] = b"%06o\0 " % sum(header)
    return bytes(header)


#: The sidecar's string fields that may be unknown (unlabelled audio, no speaker id): written as "" so that
#: every key has one type across a release (readers such as `datasets` infer types from the first samples).
_MAYBE_EMPTY = ("text", "raw_text", "speaker", "speaker_source")


#: The column run_shards adds to each segment: where its recording starts in the source file (seconds; a
#: Kaldi segment, a NeMo offset, a SpeechBrain start), so that a release's start and end locate the
#: utterance in `source`, as the schema says, where the segments' own are within the recording.
SOURCE_START = "_source_start"


def in_source(seg: dict[str, Any], at: str) -> float:
    """The segment's `start` or `end` in its source file's time (to the microsecond)."""
    return round(float(seg.get(SOURCE_START) or 0.0) + float(seg[at]), 6)


def sample_json(seg: dict[str, Any]) -> bytes:
    """The `<key>.json` of a sample: every key present in every sample, each with one type."""
    sample = {
        "key": seg["segment_id"], "language": seg["language"], "corpus": seg["corpus"], "split": seg["split"],
        "text": seg["text"], "raw_text": seg["raw_text"], "seconds": float(seg["seconds"]),
        "source": seg["source_uri"], "start": in_source(seg, "start"), "end": in_source(seg, "end"),
        "speaker": seg["speaker"], "speaker_source": seg["speaker_source"], "labelled": bool(seg["labelled"]),
    }
    for key in _MAYBE_EMPTY:
        if sample[key] is None:
            sample[key] = ""
    return json.dumps(sample, sort_keys=True, ensure_ascii=False).encode()


class _ShardSink:
    """Streams the samples of one shard as a tar into a temporary file, hashing as it writes, then moves it
    into place. The bytes are those of Python's tarfile in USTAR format (header, data padded to 512 bytes,
    two zero blocks, padding to a 10240-byte record), written without its per-member overhead."""

    def __init__(self, root: str, path: str) -> None:
        self.root, self.path = root, path
        self.tmp = storage.local_temp_for(storage.join(root, path))
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.utterances: list[dict[str, Any]] = []
        self.seconds = 0.0

    def _write(self, data: bytes) -> None:
        self.tmp.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def add(self, seg: dict[str, Any], flac: bytes) -> None:
        meta = sample_json(seg)
        key = seg["segment_id"]
        self._write(tar_header(f"{key}.flac", len(flac)))
        self._write(flac)  # the large part, not copied again
        self._write(b"".join((tarfile.NUL * (-len(flac) % tarfile.BLOCKSIZE), tar_header(f"{key}.json", len(meta)),
                              meta, tarfile.NUL * (-len(meta) % tarfile.BLOCKSIZE))))
        self.seconds += seg["seconds"]
        self.utterances.append(seg)

    def discard(self) -> None:
        storage.discard_temp(self.tmp)

    def close(self, meta: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(shard row, utterance rows) once the tar is in place."""
        end = self.size + 2 * tarfile.BLOCKSIZE
        self._write(tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-end) % tarfile.RECORDSIZE))
        size, sha256 = storage.commit_temp(self.tmp, storage.join(self.root, self.path), self.sha256.hexdigest())
        shard = {"path": self.path, **meta, "num_samples": len(self.utterances), "seconds": self.seconds,
                 "bytes": size, "sha256": sha256}
        utterances = [{
            "key": u["segment_id"], "shard": self.path, "language": u["language"], "corpus": u["corpus"],
            "split": u["split"], "seconds": u["seconds"], "text": u["text"], "raw_text": u["raw_text"],
            "speaker": u["speaker"], "speaker_source": u["speaker_source"], "source": u["source_uri"],
            "start": in_source(u, "start"),
            "end": in_source(u, "end"),
            "lid_language": u["lid_language"], "lid_prob": u["lid_prob"],
            "partner": item_meta(u["meta"]).get("partner"), "license": u["license"],
            **{name: u[name] for name in QUALITY_COLUMNS},
        } for u in self.utterances]
        return shard, utterances


def group_digest(segments: list[dict[str, Any]], config_digest: str) -> str:
    h = hashlib.sha256(config_digest.encode())
    for seg in segments:
        # everything a sample's JSON holds that a re-ingest may change without changing the audio (a new salt
        # gives new pseudonyms, a new licence a new ledger, a new measure new signals): a group whose rows would
        # read otherwise is written again
        h.update(json.dumps([seg["segment_id"], seg["pcm_sha256"], seg["start"], seg["end"], seg["text"],
                             seg.get(SOURCE_START) or 0.0, seg["speaker"], seg["speaker_source"], seg["license"],
                             *(seg[name] for name in QUALITY_COLUMNS)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


class _SegmentAudio:
    """The FLAC bytes of each segment: copied from its pack, or (segments made before packs existed) cut from
    its recording and encoded."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.packs = storage.RangeReader()
        self.recording: tuple[str | None, Any] = (None, None)

    def flac(self, seg: dict[str, Any]) -> bytes:
        """The segment's FLAC bytes, checked against its flac_sha256 (segments from before checksums are
        not): a pack damaged on disk is not copied; the span is cut again from its recording, which must
        give the same bytes, or the store is damaged and the run fails saying where."""
        expected = seg.get("flac_sha256")
        if seg["flac_pack"] is not None:
            pack = storage.join(self.root, seg["flac_pack"])
            try:
                data = self.packs.read(pack, seg["flac_offset"], seg["flac_bytes"])
            except (OSError, ValueError) as exc:  # missing or short: damaged like a wrong byte
                data, problem = b"", f"{type(exc).__name__}: {exc}"
            else:
                problem = "" if len(data) == seg["flac_bytes"] else f"{len(data)} of {seg['flac_bytes']} bytes"
            if not problem and (expected is None or hashlib.sha256(data).hexdigest() == expected):
                return data
            log.warning("segment %s: its FLAC in %s is damaged (%s); cutting it again from %s", seg["segment_id"],
                        seg["flac_pack"], problem or "SHA-256 differs", seg["audio_path"])
        data = self._cut(seg)
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise EnvironmentFault(f"segment {seg['segment_id']}: the audio store is damaged: neither its pack "
                                   f"{seg['flac_pack']} nor its recording {seg['audio_path']} gives its FLAC back "
                                   f"(SHA-256 {expected})")
        return data

    def _cut(self, seg: dict[str, Any]) -> bytes:
        if self.recording[0] != seg["audio_path"]:
            uri = storage.join(self.root, seg["audio_path"])
            self.recording = (seg["audio_path"], read_flac(storage.read_bytes(uri)))
        a, b = round(seg["start"] * SAMPLE_RATE), round(seg["end"] * SAMPLE_RATE)
        return encode_flac(self.recording[1][a:b])

    def close(self) -> None:
        self.packs.close()


def write_group_shards(table: pa.Table, task: ShardTask) -> pa.Table:
    """Write the shards of one (language, corpus, split) group and its index; returns its SHARDS rows."""
    offsets: dict[str, float | None] = {}
    if SOURCE_START in table.column_names:
        offsets = dict(zip(table.column("segment_id").to_pylist(), table.column(SOURCE_START).to_pylist(),
                           strict=True))
        table = table.drop_columns([SOURCE_START])
    segments = sorted(conform(table, SEGMENTS).to_pylist(), key=lambda s: s["segment_id"])
    for seg in segments:
        seg[SOURCE_START] = offsets.get(seg["segment_id"])
    if not segments:
        return SHARDS.empty_table()
    first = segments[0]
    meta = {"language": first["language"], "corpus": first["corpus"], "split": first["split"]}
    folder = shard_dir(first["language"], first["corpus"], first["split"])
    digest = group_digest(segments, task.config_digest)
    name = f"{folder}/{digest}-{{:06d}}.tar"
    shards_index, utterances_index = (storage.join(task.output_root, p) for p in group_index(name.format(0)))
    if storage.exists(shards_index):  # this exact group was written whole before
        return read_arrow_file(shards_index, SHARDS)
    shards: list[dict[str, Any]] = []
    utterances: list[dict[str, Any]] = []
    sink = _ShardSink(task.output_root, name.format(0))
    with contextlib.closing(_SegmentAudio(task.output_root)) as audio:
        for seg in segments:
            try:
                sink.add(seg, audio.flac(seg))
            except BaseException:
                sink.discard()
                raise
            if sink.size >= task.target_bytes:
                shard, utts = sink.close(meta)
                shards.append(shard)
                utterances.extend(utts)
                sink = _ShardSink(task.output_root, name.format(len(shards)))
    if sink.utterances:
        shard, utts = sink.close(meta)
        shards.append(shard)
        utterances.extend(utts)
    else:
        sink.discard()
    shards_table = conform(shards, SHARDS)
    write_arrow_file(conform(utterances, UTTERANCES), utterances_index, UTTERANCES)
    write_arrow_file(shards_table, shards_index, SHARDS)
    return shards_table


def shard_spec_task(cfg: PipelineConfig) -> ShardTask:
    return ShardTask(cfg.output, cfg.shard.target_bytes, cfg.stages_digest())


def run_shards(cfg: PipelineConfig, accepted: DataFrame | None) -> tuple[pa.Table, pa.Table]:
    """Shard these segments, one Spark task per (language, corpus, split) group, or per part of a group
    larger than `shard.task_bytes`; (shards, utterances)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if accepted is None:
        return SHARDS.empty_table(), UTTERANCES.empty_table()
    task = shard_spec_task(cfg)
    keys = ["language", "corpus", "split"]
    recordings = read_df(accepted.sparkSession, cfg.output, "recordings", RECORDINGS)
    if recordings is not None:  # one row per recording (max: never a second row, whatever the table holds)
        starts = recordings.groupBy("recording_id").agg(F.max("start").alias(SOURCE_START))
        accepted = accepted.join(starts, "recording_id", "left")
    # segments made before packs: about a byte per sample
    size = F.coalesce(F.col("flac_bytes"), (F.col("seconds") * SAMPLE_RATE).cast("long"))
    parts = accepted.groupBy(*keys).agg(
        F.greatest(F.lit(1), F.ceil(F.sum(size) / cfg.shard.task_bytes)).cast("long").alias("_parts"))
    parts = parts.select(*(F.col(k).alias(f"_{k}") for k in keys), "_parts")
    same_group = [accepted[k].eqNullSafe(parts[f"_{k}"]) for k in keys]  # null language: `und`
    with_part = (accepted.join(F.broadcast(parts), same_group)
                 .withColumn("_part", F.pmod(F.xxhash64("segment_id"), F.col("_parts")))
                 .drop("_parts", *(f"_{k}" for k in keys)))
    shards = conform(
        with_part.groupBy(*keys, "_part")
        .applyInArrow(lambda t: write_group_shards(t.drop_columns(["_part"]), task), from_arrow_schema(SHARDS))
        .toArrow(), SHARDS)
    return shards, group_utterances(cfg.output, shards)


def group_utterances(root: str, shards: pa.Table) -> pa.Table:
    """The utterances of these shards, from their groups' indexes."""
    groups = sorted({group_index(p)[1] for p in shards.column("path").to_pylist()})
    return concat((read_arrow_file(storage.join(root, g), UTTERANCES) for g in groups), UTTERANCES)


def groups_whole(root: str, shards: pa.Table) -> bool:
    """Whether every group these shards belong to is whole (its index is there: not deleted since)."""
    indexes = {group_index(p)[0] for p in shards.column("path").to_pylist()}
    return all(storage.exists(storage.join(root, i)) for i in indexes)
