"""Export a release in the Omnilingual ASR storage layout, for their `MixtureParquetStorage` and recipes.

    OUT/version=N/corpus=C/split=S/language=L/part-00000.parquet   text, audio_bytes, audio_size
    OUT/language_distribution_N.tsv                                 corpus, language, hours
    OUT/language_distribution_N.parquet                             the same table as Parquet

This is the layout their data preparation writes (`workflows/dataprep/hf_dataset_ingestion_example.py`: Ray's
`write_parquet(partition_cols=["corpus", "split", "language"], row_group_size=100)`, then `compute_stats` into
`language_distribution_{version}.tsv`, the `dataset_summary_path` of their training configs).

Decisions, each checked against the readers that matter:

* Partition columns live in the path only, as Hive partitioning (and Ray, Spark, `pyarrow.dataset.write_dataset`)
  writes them. A Hive reader restores them: `pyarrow.dataset(..., partitioning="hive")`, polars and duckdb with
  hive partitioning all see the six columns text, audio_bytes, audio_size, corpus, split, language. Storing them
  in the files as well breaks `pyarrow.parquet.ParquetDataset` (the reader their `MixtureParquetStorage` uses):
  it infers partition fields as dictionaries and cannot merge them with the files' string columns.
* The stats sit beside `version=N`, not inside it: any Parquet file inside the dataset folder is read as a
  fragment of the dataset (pyarrow adds its rows, polars and duckdb fail on the mismatched partitions).
* `audio_bytes` is Arrow binary holding the FLAC file of the shard sample, byte for byte (16 kHz mono 16-bit);
  their own ingestion writes list<int8>, and their loader accepts both. `audio_size` is its decoded sample count
  (from the FLAC header, checked to be 16 kHz mono).
* Unlabelled utterances (no text) and utterances of unknown language are skipped and counted: the layout is for
  supervised data and its language partition must be a language.

Same release, same bytes: rows in the release's order (shard path, key) within a partition, partitions in
(corpus, split, language) order, fixed row groups of 100 rows, fixed writer options. Memory holds one row group
and one batch of utterance rows: utterances.parquet is read a batch at a time in its (shard, key) order, in which
a partition's rows are together (its shards are), and each shard tar is streamed, its SHA-256 checked against
shards.parquet. Everything is written under a
temporary folder in OUT and renamed into place; part files roll over at about 256 MB.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE, SCHEMA_VERSION, SPLITS
from omnicorpus.manifests.shard_audio import ExportError, release_audio, utterance_count, utterance_rows

__all__ = ["ExportError", "export_omnilingual"]

#: Columns of the part files; corpus, split and language are the partition folders.
OMNILINGUAL_SCHEMA = pa.schema([
    pa.field("text", pa.string(), metadata={"doc": "Normalized transcript"}),
    pa.field("audio_bytes", pa.binary(), metadata={"doc": "FLAC file, 16 kHz mono 16-bit"}),
    pa.field("audio_size", pa.int64(), metadata={"doc": "Decoded samples at 16 kHz"}),
])
#: The same with `audio_bytes` as list<int8>, the type Omnilingual ASR's own ingestion writes (`--audio-int8`).
OMNILINGUAL_INT8_SCHEMA = OMNILINGUAL_SCHEMA.set(1, pa.field(
    "audio_bytes", pa.list_(pa.int8()), metadata={"doc": "FLAC file, 16 kHz mono 16-bit, as signed bytes"}))
PARTITION_COLUMNS = ("corpus", "split", "language")
STATS_SCHEMA = pa.schema([("corpus", pa.string()), ("language", pa.string()), ("hours", pa.float64())])

ROW_GROUP_ROWS = 100  # their ingestion's row_group_size; their loader streams row groups
MAX_FILE_BYTES = 256 * 1024 * 1024


def release_version(release: Release) -> int:
    """The number in a release id: `v0003` -> 3; a selection's is its parent's."""
    parent = release.info.get("parent")
    name = parent["id"] if release.info.get("kind") == "selection" and isinstance(parent, dict) else release.id
    match = re.fullmatch(r"v?0*(\d+)", name)
    if match is None:
        raise ValueError(f"release id {release.id!r} carries no number; pass version=")
    return int(match.group(1))


def stats_paths(out: str | os.PathLike[str], version: int) -> tuple[Path, Path]:
    """(TSV, Parquet) stats files of an export: `language_distribution_N.tsv` / `.parquet` beside `version=N`."""
    return (Path(out) / f"language_distribution_{version}.tsv", Path(out) / f"language_distribution_{version}.parquet")


class _Sample(NamedTuple):
    """One row of the Omnilingual layout, as read from a shard."""

    text: str
    flac: bytes
    samples: int  # the audio's length in 16 kHz samples


def _audio_column(flacs: tuple[bytes, ...], as_int8: bool) -> pa.Array:
    """The FLAC files as binary, or as list<int8> over the same bytes (no copy of each value)."""
    if not as_int8:
        return pa.array(flacs, pa.binary())
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in flacs])]).astype(np.int32)
    values = np.frombuffer(b"".join(flacs), dtype=np.int8)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.int8()))


class _PartitionWriter:
    """Part files of one partition folder: fixed row groups, a new file past max_bytes."""

    def __init__(self, folder: Path, metadata: dict[bytes, bytes], max_bytes: int, row_group_rows: int,
                 audio_int8: bool = False) -> None:
        self.folder, self.max_bytes, self.rows_per_group = folder, max_bytes, row_group_rows
        self.schema = (OMNILINGUAL_INT8_SCHEMA if audio_int8 else OMNILINGUAL_SCHEMA).with_metadata(metadata)
        self.audio_int8 = audio_int8
        self.files: list[Path] = []
        self.pending: list[_Sample] = []
        self.pending_bytes = 0
        self._file: IO[bytes] | None = None
        self._writer: pq.ParquetWriter | None = None

    def add(self, row: _Sample) -> None:
        size = len(row.flac) + len(row.text.encode())
        written = self._file.tell() if self._file is not None else 0
        if self.pending and written + self.pending_bytes + size > self.max_bytes:
            self._flush()  # the file is full: its last row group is short
            self._close_file()
        elif self._writer is not None and written + size > self.max_bytes:
            self._close_file()
        self.pending.append(row)
        self.pending_bytes += size
        if len(self.pending) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        if self._writer is None:
            path = self.folder / f"part-{len(self.files):05d}.parquet"
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb")  # noqa: SIM115 (closed in _close_file)
            self._writer = pq.ParquetWriter(
                self._file, self.schema, compression={"text": "zstd", "audio_bytes": "none", "audio_size": "zstd"},
                use_dictionary=False, write_statistics=["text", "audio_size"], store_schema=True)
            self.files.append(path)
        texts, audio, sizes = zip(*self.pending, strict=True)
        batch = pa.table([pa.array(texts, pa.string()), _audio_column(audio, self.audio_int8),
                          pa.array(sizes, pa.int64())], schema=self.schema)
        self._writer.write_table(batch, row_group_size=len(self.pending))
        self.pending, self.pending_bytes = [], 0

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._file.close()  # type: ignore[union-attr]
        self._writer, self._file = None, None

    def close(self) -> list[Path]:
        self._flush()
        self._close_file()
        return self.files


def _exported(release: Release, splits: Iterable[str], skipped: dict[str, int],
              other_splits: list[int]) -> Iterator[dict[str, Any]]:
    """The utterances to export, in the release's (shard, key) order; the others counted on the way in
    `skipped` (by reason) and `other_splits[0]`."""
    keep = set(splits)
    for u in utterance_rows(release, ["language", "corpus", "split", "text"]):
        if u["split"] not in keep:
            other_splits[0] += 1
        elif u["text"] is None or not u["text"].strip():
            skipped["unlabelled"] += 1
        elif u["language"] is None:
            skipped["no_language"] += 1
        else:
            yield u


def _stats_tsv(stats: pa.Table) -> bytes:
    lines = ["corpus\tlanguage\thours"]
    lines += [f"{r['corpus']}\t{r['language']}\t{r['hours']!r}" for r in stats.to_pylist()]
    return ("\n".join(lines) + "\n").encode()


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished folder into place; an earlier export there is swapped out, then removed."""
    old = None
    if final.exists():
        old = final.parent / f".old-{uuid.uuid4().hex}-{final.name}"
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old)


def export_omnilingual(release: Release, out: str | os.PathLike[str], *, version: int | None = None,
                       splits: Iterable[str] = SPLITS, max_file_bytes: int = MAX_FILE_BYTES,
                       row_group_rows: int = ROW_GROUP_ROWS, audio_int8: bool = False,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write `release` in the Omnilingual ASR layout under `out/version=N` (N: the release's number unless
    `version` is given), with its stats beside it; an earlier export of the same version is replaced.

    Returns what was written: `utterances` exported, `skipped` (unlabelled or of unknown language, with
    `skipped_by_reason`), `other_splits` (utterances of splits not asked for), `hours` per corpus then language,
    `files` (part files, relative to `out`), `files_written`, `bytes`, `path`, `stats_tsv`, `stats_parquet`.
    `audio_int8`: audio_bytes as list<int8> (their ingestion's type) instead of binary; `progress(done, total)`
    is called after each utterance.
    """
    out = Path(out)
    version = release_version(release) if version is None else int(version)
    metadata = {b"omnicorpus_release": release.id.encode(), b"omnicorpus_schema_version": SCHEMA_VERSION.encode()}

    final = out / f"version={version}"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".tmp-{uuid.uuid4().hex}-version={version}"
    samples: dict[tuple[str, str], int] = defaultdict(int)
    skipped = {"unlabelled": 0, "no_language": 0}
    other_splits = [0]
    total, exported = utterance_count(release), 0
    files: dict[tuple[str, str, str], list[Path]] = {}
    partition: tuple[str, str, str] | None = None
    writer: _PartitionWriter | None = None
    try:
        # A partition's rows are together in the release's order, as its shards are (shards/<lang>/<corpus>/
        # <split>/...): one writer open at a time, closed when the next partition starts.
        for u, audio in release_audio(release, _exported(release, splits, skipped, other_splits)):
            here = (u["corpus"], u["split"], u["language"])
            if here != partition:
                if writer is not None and partition is not None:
                    files[partition] = [p.relative_to(tmp) for p in writer.close()]
                if here in files:
                    raise ExportError(f"{release.uri}: the utterances of {here} are not together in shard order")
                partition = here
                folder = tmp / f"corpus={here[0]}" / f"split={here[1]}" / f"language={here[2]}"
                writer = _PartitionWriter(folder, metadata, max_file_bytes, row_group_rows, audio_int8)
            assert writer is not None
            writer.add(_Sample(u["text"], audio.flac, audio.samples))
            samples[(here[0], here[2])] += audio.samples
            exported += 1
            if progress is not None:
                progress(exported + other_splits[0] + sum(skipped.values()), total)
        if writer is not None and partition is not None:
            files[partition] = [p.relative_to(tmp) for p in writer.close()]
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    keys = sorted(samples)
    stats = pa.table([[c for c, _ in keys], [lang for _, lang in keys],
                      [samples[k] / SAMPLE_RATE / 3600 for k in keys]], schema=STATS_SCHEMA)
    tsv, parquet = stats_paths(out, version)
    storage.write_bytes_atomic(tsv, _stats_tsv(stats))
    buf = io.BytesIO()
    pq.write_table(stats, buf, compression="zstd", store_schema=True)
    storage.write_bytes_atomic(parquet, buf.getvalue())

    hours: dict[str, dict[str, float]] = defaultdict(dict)
    for row in stats.to_pylist():
        hours[row["corpus"]][row["language"]] = row["hours"]
    rel = [str(Path(final.name) / f) for key in sorted(files) for f in files[key]]
    return {
        "release": release.id,
        "version": version,
        "path": str(final),
        "utterances": exported,
        "skipped": sum(skipped.values()),
        "skipped_by_reason": skipped,
        "other_splits": other_splits[0],
        "hours": dict(hours),
        "files": rel,
        "files_written": len(rel),
        "bytes": sum((out / f).stat().st_size for f in rel),
        "stats_tsv": str(tsv),
        "stats_parquet": str(parquet),
    }
