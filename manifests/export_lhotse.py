"""Export a release as Lhotse manifests (`--format lhotse`) or as Lhotse Shar (`--format lhotse-shar`), written
here without Lhotse, opened by Lhotse's own readers (`lhotse.load_manifest`, `CutSet.from_file`,
`CutSet.from_shar`).

Manifests (shar=False), as `RecordingSet.to_file` / `SupervisionSet.to_file` / `CutSet.to_file` write them:

    OUT/recordings.jsonl.gz                      one Recording per utterance: id = key, one AudioSource of type
                                                 "file", 16 kHz, num_samples, duration, channel_ids [0]
    OUT/supervisions.jsonl.gz                    one SupervisionSegment per utterance: id = recording_id = key,
                                                 start 0, the whole duration, channel 0, text, language, speaker
    OUT/cuts.jsonl.gz                            one MonoCut per utterance holding both, as CutSet.from_manifests
                                                 makes it (but id = key)
    OUT/audio/<language>/<corpus>/<key>.flac     the shard's FLAC, byte for byte

    cuts = CutSet.from_file("OUT/cuts.jsonl.gz").with_recording_path_prefix("OUT")

Shar (shar=True), as `lhotse.shar.SharWriter(OUT, fields={"recording": "flac"}, shard_size=N)` writes it:

    OUT/cuts.000000.jsonl.gz      the shard's cuts; each recording's source is the placeholder
                                  {"type": "shar", "channels": [0], "source": ""}
    OUT/recording.000000.tar      per cut, in the same order: `<key>.flac` (the shard's FLAC, not re-encoded),
                                  then `<key>.json` (the placeholder Recording, one JSON line)
    OUT/cuts.000001.jsonl.gz ...  a new pair every `shard_size` cuts

    cuts = CutSet.from_shar(in_dir="OUT")

Decisions:

* Audio paths are relative to OUT (`audio/eng_Latn/fleurs/<key>.flac`). Lhotse opens a relative "file" source
  relative to the working directory, not to the manifest, so a reader either works in OUT or calls
  `with_recording_path_prefix(OUT)` (CutSet, RecordingSet) once; Lhotse's recipes leave paths as they were
  given them the same way. Absolute paths would open from anywhere but break as soon as the folder is moved,
  copied to a cluster or unpacked elsewhere, and would make the bytes depend on where the export was written;
  with relative paths the export depends only on the release. Our own `lhotse` input layout reads them
  relative to the manifest's folder, so an export lists back in.
* Every utterance is exported, labelled or not, of every split: a supervision without text has no `text`
  (Lhotse's field is optional), one of no language no `language`; its audio then lies under `und`. Our
  language codes (`eng_Latn`) are kept as they are. `custom` holds corpus, split, raw_text, speaker_source (the
  corpus's own speaker id), source, start and end (in the source file's seconds) and partner, each only when set.
* Durations come from the FLAC itself (its decoded sample count / 16000), not from the manifest's `seconds`:
  Lhotse checks what it decodes against num_samples and duration.
* OUT holds nothing but these files: `CutSet.from_shar(in_dir=OUT)` takes every file name's first part as a
  field, so a stray file there would break it. An existing OUT is replaced only when it holds nothing but an
  earlier export (of either format); anything else is refused rather than deleted.
* Identifiers that become paths (key everywhere, being the tar member name in Shar; language and corpus for
  the audio folders) must each be one safe path component: `ValueError` names the bad value before anything
  is written. Keys must be unique in the release (they are the recording and cut ids).

Same release, same bytes: rows in the release's order (shard path, then the shard's own order, which is key
order); JSON with Lhotse's key order; gzip with no file name and mtime 0; tar members as Lhotse's TarWriter
makes them (mode 0644, mtime 0, uid/gid 0, no user names). Memory holds one sample's audio and one batch of
utterance rows at a time: utterances.parquet is read a batch at a time (`shard_audio.utterance_rows`, once to
check the identifiers, once to export), each shard tar streamed once and its SHA-256 checked
(`shard_audio.release_audio`; `ExportError` otherwise). The result lists the manifests (or Shar files) as
`files`; the manifests format's audio files are counted in `audio_files` and in `bytes`, not listed.
Everything is written into `.tmp-<uuid>-<name>` beside OUT and moved into place (`export.replace_dir`): a
failed export leaves an earlier one untouched and no temporary folder behind.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from omnicorpus.manifests.export import replace_dir
from omnicorpus.manifests.keys import safe_component
from omnicorpus.manifests.languages import UNDETERMINED
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE
from omnicorpus.manifests.shard_audio import ExportError, SampleAudio, release_audio, utterance_count, utterance_rows

__all__ = ["ExportError", "export_lhotse"]

COLUMNS = ["key", "shard", "language", "corpus", "split", "text", "raw_text", "speaker", "speaker_source", "source",
           "start", "end",
           "partner"]
#: supervision.custom, in this order
CUSTOM = ("corpus", "split", "raw_text", "speaker_source", "source", "start", "end", "partner")
MANIFESTS = ("recordings.jsonl.gz", "supervisions.jsonl.gz", "cuts.jsonl.gz")
AUDIO_DIR = "audio"
#: What an earlier export of either format holds at its top level (a folder holding anything else is not replaced).
_EXPORT_ENTRY = re.compile(r"(recordings|supervisions|cuts)\.jsonl\.gz|cuts\.\d{6}\.jsonl\.gz|recording\.\d{6}\.tar"
                           rf"|{AUDIO_DIR}")


# --- the Lhotse records, with the fields and key order Lhotse's to_dict gives them ----------------------------


def _recording(key: str, samples: int, source: dict[str, Any]) -> dict[str, Any]:
    return {"id": key, "sources": [source], "sampling_rate": SAMPLE_RATE, "num_samples": samples,
            "duration": samples / SAMPLE_RATE, "channel_ids": [0]}


def _file_source(path: str) -> dict[str, Any]:
    return {"type": "file", "channels": [0], "source": path}


#: Where a Shar tar's audio goes; the reader fills it in (lhotse.shar.utils.to_shar_placeholder).
_SHAR_SOURCE: dict[str, Any] = {"type": "shar", "channels": [0], "source": ""}


def _supervision(row: dict[str, Any], samples: int) -> dict[str, Any]:
    sup: dict[str, Any] = {"id": row["key"], "recording_id": row["key"], "start": 0,
                           "duration": samples / SAMPLE_RATE, "channel": 0}
    # Lhotse leaves out unset optional fields (asdict_nonull); so do we, in its field order
    for name in ("text", "language", "speaker"):
        if row[name] is not None:
            sup[name] = row[name]
    custom = {name: row[name] for name in CUSTOM if row[name] is not None}
    if custom:
        sup["custom"] = custom
    return sup


def _cut(row: dict[str, Any], samples: int, recording: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["key"], "start": 0, "duration": samples / SAMPLE_RATE, "channel": 0,
            "supervisions": [_supervision(row, samples)], "recording": recording, "type": "MonoCut"}


# --- writers ------------------------------------------------------------------------------------------------


class _JsonlGz:
    """A gzipped JSON-lines file, written line by line; the same lines give the same bytes (no name, mtime 0)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "wb")  # noqa: SIM115 (closed in close)
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)

    def write(self, obj: dict[str, Any]) -> None:
        # as Lhotse's SequentialJsonlWriter: json.dumps(ensure_ascii=False), one object a line
        self._gz.write((json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


class _Tar:
    """An uncompressed tar streamed member by member, with the fixed member metadata Lhotse's TarWriter gives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "wb")  # noqa: SIM115 (closed in close)
        self._tar = tarfile.open(fileobj=self._raw, mode="w|")  # noqa: SIM115 (closed in close)

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self._tar.close()
        self._raw.close()


class _ManifestsWriter:
    """recordings / supervisions / cuts JSONL and the audio files beside them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.audio_files = self.audio_bytes = 0  # counted, not listed: a release holds millions
        self._folders: set[Path] = set()
        self._out = {name: _JsonlGz(folder / name) for name in MANIFESTS}

    def add(self, row: dict[str, Any], audio: SampleAudio) -> None:
        relative = f"{AUDIO_DIR}/{row['language'] or UNDETERMINED}/{row['corpus']}/{row['key']}.flac"
        path = self.folder / relative
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        try:
            with open(path, "xb") as f:  # "x": keys are the recording ids, and two never share a file
                f.write(audio.flac)
        except FileExistsError:
            raise ValueError(f"key {row['key']!r} repeats in utterances.parquet; keys are the Lhotse recording "
                             "and cut ids") from None
        self.audio_files += 1
        self.audio_bytes += len(audio.flac)
        recording = _recording(row["key"], audio.samples, _file_source(relative))
        self._out["recordings.jsonl.gz"].write(recording)
        self._out["supervisions.jsonl.gz"].write(_supervision(row, audio.samples))
        self._out["cuts.jsonl.gz"].write(_cut(row, audio.samples, recording))

    def close(self) -> list[str]:
        for writer in self._out.values():
            writer.close()
        return list(MANIFESTS)


class _SharWriter:
    """Shar shards: `cuts.%06d.jsonl.gz` + `recording.%06d.tar`, a new pair every shard_size cuts."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        self.folder, self.shard_size = folder, shard_size
        self.files: list[str] = []
        self._count = 0
        self._cuts: _JsonlGz | None = None
        self._tar: _Tar | None = None

    def _next_shard(self) -> None:
        self._close_shard()
        index = len(self.files) // 2
        names = (f"cuts.{index:06d}.jsonl.gz", f"recording.{index:06d}.tar")
        self._cuts, self._tar = _JsonlGz(self.folder / names[0]), _Tar(self.folder / names[1])
        self.files += names

    def _close_shard(self) -> None:
        for writer in (self._cuts, self._tar):
            if writer is not None:
                writer.close()
        self._cuts, self._tar = None, None

    def add(self, row: dict[str, Any], audio: SampleAudio) -> None:
        if self._count % self.shard_size == 0:
            self._next_shard()
        assert self._cuts is not None and self._tar is not None
        recording = _recording(row["key"], audio.samples, _SHAR_SOURCE)
        # data first, then its manifest (lhotse.shar.readers.tar reads them pairwise); the manifest line is
        # json.dumps with its defaults, as AudioTarWriter prints it
        self._tar.add(f"{row['key']}.flac", audio.flac)
        self._tar.add(f"{row['key']}.json", (json.dumps(recording) + "\n").encode("utf-8"))
        self._cuts.write(_cut(row, audio.samples, recording))
        self._count += 1

    def close(self) -> list[str]:
        if not self.files:
            self._next_shard()  # an empty release: one empty shard, so that from_shar opens it
        self._close_shard()
        return self.files


# --- the export ---------------------------------------------------------------------------------------------


def _check_names(release: Release, shar: bool) -> None:
    """Every identifier that names a file checked in a pass over the manifest before anything is written: keys
    (Shar's tar members, the manifests' audio files), and for the manifests also language and corpus (folders)."""
    for row in utterance_rows(release, [] if shar else ["language", "corpus"]):
        safe_component(row["key"], "key")
        if not shar:
            safe_component(row["language"] or UNDETERMINED, "language")
            safe_component(row["corpus"], "corpus")


def _check_replaceable(final: Path) -> None:
    """An existing `final` is replaced whole: only when it holds nothing but an earlier export."""
    if not final.exists() and not final.is_symlink():
        return
    if not final.is_dir() or final.is_symlink():
        raise ValueError(f"{final} exists and is not a folder: not replaced by the export")
    others = sorted(p.name for p in final.iterdir() if not _EXPORT_ENTRY.fullmatch(p.name))
    if others:
        raise ValueError(f"{final} holds other files than a Lhotse export ({', '.join(others[:3])}): "
                         "not replaced; export into a new or empty folder")


def _write(writer: _ManifestsWriter | _SharWriter, pairs: Iterator[tuple[dict[str, Any], SampleAudio]],
           total: int, progress: Callable[[int, int], None] | None) -> int:
    """Every (row, audio) through the writer; the samples written."""
    samples = done = 0
    for row, audio in pairs:
        writer.add(row, audio)
        samples += audio.samples
        done += 1
        if progress is not None:
            progress(done, total)
    if done != total:  # release_audio checks every shard; this guards the count the report gives
        raise ExportError(f"{done} of {total} utterances were read from the shards")
    return samples


def _size(folder: Path, files: Iterable[str]) -> int:
    return sum((folder / f).stat().st_size for f in files)


def export_lhotse(release: Release, out: str | os.PathLike[str], *, shar: bool = False, shard_size: int = 1000,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write every utterance of `release` under `out` as Lhotse manifests with the audio beside them, or as Lhotse
    Shar shards of `shard_size` cuts (`shar=True`); an earlier export in `out` is replaced (see the module doc).

    `progress(done, total)` is called after each utterance. Returns `format` ("lhotse" / "lhotse-shar"),
    `release`, `path`, `utterances`, `files` (relative to `out`, sorted), `bytes` and `hours` written.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1 (got {shard_size})")
    final = Path(out).absolute()
    _check_replaceable(final)
    _check_names(release, shar)
    total = utterance_count(release)
    final.parent.mkdir(parents=True, exist_ok=True)
    # beside `out`, not in it: the move into place is a rename on one file system, and `out` never holds it
    tmp = final.parent / f".tmp-{uuid.uuid4().hex}-{final.name}"
    try:
        tmp.mkdir()
        writer: _ManifestsWriter | _SharWriter = _SharWriter(tmp, shard_size) if shar else _ManifestsWriter(tmp)
        try:
            samples = _write(writer, release_audio(release, utterance_rows(release, COLUMNS)), total, progress)
        finally:
            files = writer.close()
        size = _size(tmp, files)
        audio_files = writer.audio_files if isinstance(writer, _ManifestsWriter) else 0
        size += writer.audio_bytes if isinstance(writer, _ManifestsWriter) else 0
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "format": "lhotse-shar" if shar else "lhotse",
        "release": release.id,
        "path": str(final),
        "utterances": total,
        "files": sorted(files),
        **({} if shar else {"audio_files": audio_files}),
        "bytes": size,
        "hours": round(samples / SAMPLE_RATE / 3600, 6),
    }
