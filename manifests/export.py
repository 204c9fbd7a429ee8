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
(corpus, split, language) order, fixed row groups of 100 rows, fixed writer options. Memory holds one row group:
each shard tar is streamed, and its SHA-256 checked against shards.parquet. Everything is written under a
temporary folder in OUT and renamed into place; part files roll over at about 256 MB.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from omnicorpus.manifests import storage
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE, SCHEMA_VERSION, SPLITS

#: Columns of the part files; corpus, split and language are the partition folders.
OMNILINGUAL_SCHEMA = pa.schema([
    pa.field("text", pa.string(), metadata={"doc": "Normalized transcript"}),
    pa.field("audio_bytes", pa.binary(), metadata={"doc": "FLAC file, 16 kHz mono 16-bit"}),
    pa.field("audio_size", pa.int64(), metadata={"doc": "Decoded samples at 16 kHz"}),
])
PARTITION_COLUMNS = ("corpus", "split", "language")
STATS_SCHEMA = pa.schema([("corpus", pa.string()), ("language", pa.string()), ("hours", pa.float64())])

ROW_GROUP_ROWS = 100  # their ingestion's row_group_size; their loader streams row groups
MAX_FILE_BYTES = 256 * 1024 * 1024


class ExportError(RuntimeError):
    """A release whose shards do not hold what its manifests say."""


def release_version(release: Release) -> int:
    """The number in a release id: `v0003` -> 3."""
    match = re.fullmatch(r"v?0*(\d+)", release.id)
    if match is None:
        raise ValueError(f"release id {release.id!r} carries no number; pass version=")
    return int(match.group(1))


def stats_paths(out: str | os.PathLike[str], version: int) -> tuple[Path, Path]:
    """(TSV, Parquet) stats files of an export: `language_distribution_N.tsv` / `.parquet` beside `version=N`."""
    return (Path(out) / f"language_distribution_{version}.tsv", Path(out) / f"language_distribution_{version}.parquet")


class _HashingReader(io.RawIOBase):
    """A file that hashes what is read through it (a tar streamed once, checked against its manifest)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.sha256 = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.f.read(len(b))
        b[: len(data)] = data
        self.sha256.update(data)
        return len(data)

    def finish(self) -> str:
        while self.read(1 << 20):
            pass
        return self.sha256.hexdigest()


def _flac_samples(data: bytes, where: str) -> int:
    """Decoded samples of a shard's FLAC, from its header; it must be 16 kHz mono FLAC."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels, kind, frames = f.samplerate, f.channels, f.format, f.frames
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ExportError(f"{where}: cannot read FLAC: {exc}") from None
    if rate != SAMPLE_RATE or channels != 1 or kind != "FLAC":
        raise ExportError(f"{where}: expected {SAMPLE_RATE} Hz mono FLAC, found {kind} {rate} Hz x {channels}")
    return int(frames)


class _Sample(NamedTuple):
    """One row of the Omnilingual layout, as read from a shard."""

    text: str
    flac: bytes
    samples: int  # the audio's length in 16 kHz samples


def _shard_samples(path: Path, sha256: str | None, wanted: dict[str, str]) -> Iterator[_Sample]:
    """The wanted keys of a shard, in the shard's order; checks the shard's hash."""
    found = 0
    with open(path, "rb") as raw:
        reader = _HashingReader(raw)
        with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
            for member in tar:
                key, _, suffix = member.name.rpartition(".")
                if suffix != "flac" or key not in wanted:
                    continue
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                found += 1
                yield _Sample(wanted[key], data, _flac_samples(data, f"{path}:{member.name}"))
        digest = reader.finish()
    if found != len(wanted):
        raise ExportError(f"{path}: {len(wanted) - found} sample(s) of utterances.parquet are not in the shard")
    if sha256 and digest != sha256:
        raise ExportError(f"{path}: SHA-256 {digest} differs from shards.parquet ({sha256})")


class _PartitionWriter:
    """Part files of one partition folder: fixed row groups, a new file past max_bytes."""

    def __init__(self, folder: Path, metadata: dict[bytes, bytes], max_bytes: int, row_group_rows: int) -> None:
        self.folder, self.max_bytes, self.rows_per_group = folder, max_bytes, row_group_rows
        self.schema = OMNILINGUAL_SCHEMA.with_metadata(metadata)
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
        batch = pa.table([pa.array(texts, pa.string()), pa.array(audio, pa.binary()), pa.array(sizes, pa.int64())],
                         schema=self.schema)
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


def _partitions(release: Release, splits: Iterable[str]) -> tuple[dict[tuple[str, str, str], list[dict[str, Any]]],
                                                                   dict[str, int], int]:
    """Utterances to export grouped by (corpus, split, language) in release order; skipped counts; other splits."""
    keep = set(splits)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    skipped = {"unlabelled": 0, "no_language": 0}
    other_splits = 0
    columns = ["key", "shard", "language", "corpus", "split", "text"]
    for u in release.table("utterances").select(columns).to_pylist():
        if u["split"] not in keep:
            other_splits += 1
        elif u["text"] is None or not u["text"].strip():
            skipped["unlabelled"] += 1
        elif u["language"] is None:
            skipped["no_language"] += 1
        else:
            groups[(u["corpus"], u["split"], u["language"])].append(u)
    for rows in groups.values():
        rows.sort(key=lambda u: (u["shard"], u["key"]))
    return dict(sorted(groups.items())), skipped, other_splits


def _stats_tsv(stats: pa.Table) -> bytes:
    lines = ["corpus\tlanguage\thours"]
    lines += [f"{r['corpus']}\t{r['language']}\t{r['hours']!r}" for r in stats.to_pylist()]
    return ("\n".join(lines) + "\n").encode()


def _replace_dir(tmp: Path, final: Path) -> None:
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
                       row_group_rows: int = ROW_GROUP_ROWS) -> dict[str, Any]:
    """Write `release` in the Omnilingual ASR layout under `out/version=N` (N: the release's number unless
    `version` is given), with its stats beside it; an earlier export of the same version is replaced.

    Returns what was written: `utterances` exported, `skipped` (unlabelled or of unknown language, with
    `skipped_by_reason`), `other_splits` (utterances of splits not asked for), `hours` per corpus then language,
    `files` (part files, relative to `out`), `files_written`, `bytes`, `path`, `stats_tsv`, `stats_parquet`.
    """
    out = Path(out)
    version = release_version(release) if version is None else int(version)
    groups, skipped, other_splits = _partitions(release, splits)
    shards = {s["path"]: s["sha256"] for s in release.table("shards").select(["path", "sha256"]).to_pylist()}
    metadata = {b"omnicorpus_release": release.id.encode(), b"omnicorpus_schema_version": SCHEMA_VERSION.encode()}

    final = out / f"version={version}"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".tmp-{uuid.uuid4().hex}-version={version}"
    samples: dict[tuple[str, str], int] = defaultdict(int)
    files: list[Path] = []
    try:
        for (corpus, split, language), rows in groups.items():
            folder = tmp / f"corpus={corpus}" / f"split={split}" / f"language={language}"
            writer = _PartitionWriter(folder, metadata, max_file_bytes, row_group_rows)
            by_shard: dict[str, dict[str, str]] = defaultdict(dict)
            for u in rows:
                by_shard[u["shard"]][u["key"]] = u["text"]
            for shard, wanted in by_shard.items():  # in path order: rows were sorted by (shard, key)
                if shard not in shards:
                    raise ExportError(f"{release.path}: utterances name shard {shard}, which shards.parquet lacks")
                for row in _shard_samples(release.path / shard, shards[shard], wanted):
                    writer.add(row)
                    samples[(corpus, language)] += row.samples
            files += [p.relative_to(tmp) for p in writer.close()]
        _replace_dir(tmp, final)
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
    rel = [str(Path(final.name) / f) for f in files]
    return {
        "release": release.id,
        "version": version,
        "path": str(final),
        "utterances": sum(len(rows) for rows in groups.values()),
        "skipped": sum(skipped.values()),
        "skipped_by_reason": skipped,
        "other_splits": other_splits,
        "hours": dict(hours),
        "files": rel,
        "files_written": len(rel),
        "bytes": sum((out / f).stat().st_size for f in rel),
        "stats_tsv": str(tsv),
        "stats_parquet": str(parquet),
    }
