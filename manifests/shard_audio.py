"""Reading a release's audio back out of its shards, checked: what every export streams.

A shard tar is read once, front to back, through a reader that hashes every byte; the hash must equal the
shard's `sha256` in shards.parquet and every wanted key must be found, or the export fails with
`ExportError` (a release whose shards do not hold what its manifests say is not exported in part). Each
sample's FLAC is checked to be 16 kHz mono FLAC and its decoded length read from its header.

    for row, audio in release_audio(release, utterance_rows(release, ["text"])):
        row["key"], audio.flac, audio.samples

Memory holds one batch of utterance rows, one shard's wanted rows and one sample at a time: utterances.parquet
is read a batch at a time in its (shard, key) order, and each tar is streamed, never extracted.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

import pyarrow.parquet as pq
import soundfile as sf

from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE


class ExportError(RuntimeError):
    """A release whose shards do not hold what its manifests say."""


class HashingReader(io.RawIOBase):
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


def flac_samples(data: bytes, where: str) -> int:
    """Decoded samples of a shard's FLAC, from its header; it must be 16 kHz mono FLAC."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels, kind, frames = f.samplerate, f.channels, f.format, f.frames
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ExportError(f"{where}: cannot read FLAC: {exc}") from None
    if rate != SAMPLE_RATE or channels != 1 or kind != "FLAC":
        raise ExportError(f"{where}: expected {SAMPLE_RATE} Hz mono FLAC, found {kind} {rate} Hz x {channels}")
    return int(frames)


class SampleAudio(NamedTuple):
    """One utterance's audio as its shard holds it."""

    flac: bytes  # the FLAC file, byte for byte (16 kHz mono 16-bit)
    samples: int  # its length in 16 kHz samples

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


def shard_audio(uri: str, sha256: str | None, keys: Iterable[str]) -> Iterator[tuple[str, SampleAudio]]:
    """(key, audio) of the wanted keys of one shard, in the shard's order; checks the shard's hash and that
    every key was found."""
    from omnicorpus.manifests import storage

    wanted = set(keys)
    found = 0
    with storage.open_input(uri) as raw:
        reader = HashingReader(raw)
        with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
            for member in tar:
                key, _, suffix = member.name.rpartition(".")
                if suffix != "flac" or key not in wanted:
                    continue
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                found += 1
                yield key, SampleAudio(data, flac_samples(data, f"{uri}:{member.name}"))
        digest = reader.finish()
    if found != len(wanted):
        raise ExportError(f"{uri}: {len(wanted) - found} sample(s) of utterances.parquet are not in the shard")
    if sha256 and digest != sha256:
        raise ExportError(f"{uri}: SHA-256 {digest} differs from shards.parquet ({sha256})")


ROW_BATCH = 8192  # utterance rows read from utterances.parquet at a time


def utterance_count(release: Release) -> int:
    """The release's utterances, from utterances.parquet's footer (nothing else is read)."""
    from omnicorpus.manifests import storage

    fs, path = storage.resolve(storage.join(release.uri, "utterances.parquet"))
    with fs.open_input_file(path) as f:
        return int(pq.ParquetFile(f).metadata.num_rows)


def utterance_rows(release: Release, columns: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The release's utterances as dicts of `columns` (key and shard always), in the release's own order (shard,
    then key), read `ROW_BATCH` rows at a time: memory holds one batch whatever the release's size. A release's
    utterances.parquet is written in that order (`build_release`, `select`); one whose shards are not in order
    fails with ExportError, since the exports read each shard once, in order, for the same bytes every time."""
    from omnicorpus.manifests import storage

    names = list(dict.fromkeys(["key", "shard", *columns]))
    fs, path = storage.resolve(storage.join(release.uri, "utterances.parquet"))
    last: str | None = None
    with fs.open_input_file(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=ROW_BATCH, columns=names):
            for row in batch.to_pylist():
                if last is not None and row["shard"] < last:
                    raise ExportError(f"{release.uri}: utterances.parquet is not in shard order at {row['key']!r} "
                                      f"({row['shard']} after {last}); rebuild the release")
                last = row["shard"]
                yield row


def release_audio(release: Release, rows: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], SampleAudio]]:
    """(row, audio) for utterance rows of `release` (dicts with `key` and `shard`, as utterances.parquet
    names them, in (shard, key) order as `utterance_rows` gives them), each shard read once, in the shard's
    order within it. Rows are consumed one shard at a time: memory holds one shard's rows, never the release's.
    A shard that comes back after another was read fails with ExportError."""
    from omnicorpus.manifests import storage

    shards = {s["path"]: s["sha256"] for s in release.table("shards").select(["path", "sha256"]).to_pylist()}
    done: set[str] = set()

    def read(shard: str, wanted: dict[str, dict[str, Any]]) -> Iterator[tuple[dict[str, Any], SampleAudio]]:
        if shard not in shards:
            raise ExportError(f"{release.uri}: utterances name shard {shard}, which shards.parquet lacks")
        if shard in done:
            raise ExportError(f"{release.uri}: the rows of shard {shard} are not together; sort them by (shard, key)")
        done.add(shard)
        for key, audio in shard_audio(storage.join_relative(release.uri, shard), shards[shard], wanted):
            yield wanted[key], audio

    current: str | None = None
    wanted: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["shard"] != current:
            if current is not None:
                yield from read(current, wanted)
            current, wanted = row["shard"], {}
        wanted[row["key"]] = row
    if current is not None:
        yield from read(current, wanted)
