"""A plain folder of audio, with sidecar transcripts, or with the manifests speech toolkits write.

Manifest mode: the files at the root whose names end in .csv / .tsv / .json / .jsonl / .jsonl.gz /
.json.gz (hidden files and `<stem>.json` sidecars of root audio files excepted) are recognised from
their names and first bytes (see corpus.toolkits):

  - SpeechBrain CSV (`load_data_csv`): a header with `ID` and `wav`, e.g. `ID,duration,wav,spk_id,wrd`
    (librispeech_prepare.py, common_voice_prepare.py), `ID,duration,wav,spk_id,wrd,char,phn`, the old
    `ID,duration,wav,wav_format,wav_opts,spk_id,spk_id_format,spk_id_opts,wrd,wrd_format,wrd_opts`,
    read with `skipinitialspace` as SpeechBrain does. Text: wrd / words / transcript / text / ...;
    speaker: spk_id; language: lang / language / locale. Optional `start` / `stop`: SpeechBrain recipes
    write them in samples (AMI, Switchboard, Google Speech Commands) or in seconds (MEDIA, Libriheavy);
    with a `duration` column they are seconds when stop - start equals the duration, samples when
    (stop - start) / duration is a usual sample rate (8 kHz ... 96 kHz, within 1%), else a bad_offsets
    listing_error; without `duration` they cannot be told apart (bad_offsets, unless start = 0 and no
    stop). `start` without `stop` is seconds, the item ending at start + duration (Libriheavy). A
    `channel` column (0-based number, or a letter A, B, ... as Switchboard writes it) selects a channel.
  - SpeechBrain JSON (`load_data_json`): one object keyed by utterance id, e.g. `{"utt": {"wav": "...",
    "length": 1.2, "words": "...", "spk_id": ...}}` (TIMIT, the mini-LibriSpeech templates); `wav` may
    also be an object `{"file", "start", "stop", "duration"}` (samples, as above; AMI single mic).
    Several files per entry (`"files": [...]`, AMI arrays) is a listing_error.
  - SpeechBrain's placeholders: `$data_root` (CSV) and `{data_root}` (JSON), or any other `$name` /
    `{name}` in an audio path, are what SpeechBrain replaces at load time with the recipe's data folder;
    here they are replaced by the manifest's own folder (put the manifests in the data folder, or the
    files are missing_file errors).
  - NeMo manifests: JSON lines with audio_filepath, text, duration and optional offset, lang,
    speaker / spk_id, in any `*.json` / `*.jsonl` file (train_manifest.json, manifest_dev.json, ...);
    `offset` (+ `duration`) makes a segment item (start = offset, end = offset + duration). A tarred
    NeMo dataset (tarred_audio_manifest.json, objects with `shard_id`, audio inside audio_<N>.tar) is
    out of scope: ValueError.
  - LJSpeech: `metadata*.csv` without header, lines `id|transcription|normalized transcription`
    (read unquoted), audio `wavs/<id>.wav`. raw_text is the normalized transcription (numbers and
    abbreviations spelled out as spoken; the transcription when that field is empty or absent), the
    original transcription goes to meta when it differs.
  - Other tables (Hugging Face audiofolder `metadata.csv` / `metadata.jsonl` with `file_name`, Common
    Voice-like TSVs, JSON lines): a header / first object with an audio path column: audio_filepath,
    file, path, file_name, audio or wav. Columns: transcript text / transcript / sentence / raw_text /
    transcription, language / lang / locale, speaker / speaker_id / client_id / spk_id, split; offset /
    duration as for NeMo. TSV is read unquoted, CSV with standard quoting.
  Paths are relative to the manifest's folder; `duration` / `length` goes to meta.

Whose paths may lead where: the manifests that users' own toolkits generate on their own machines
(SpeechBrain CSV / JSON, NeMo JSON lines, i.e. JSON lines whose path key is `audio_filepath`) name files
anywhere, absolute paths included, as those tools write them: they are followed as written. The other
manifests come with a corpus or from whoever hands it over (plain CSV / TSV / JSON-lines tables, Hugging
Face audiofolder metadata, LJSpeech metadata.csv): an audio path there that is absolute or climbs out of
the source folder (`/etc/passwd`, `../../etc/passwd`, `..\\..\\x`) is a `path_outside_source`
listing_error (a reject at ingest), judged on the path as written (`Listing.outside`) before anything is
looked up: the file is never stat-ed nor opened, and the item's source_uri is the manifest line
(`<manifest>#line=<n>`), not the outside file. CSV / TSV records end at `\\n` or `\\r\\n` only: a bare
`\\r` inside a field stays in it.

Which manifests are read: `manifest.*` wins; else a single one (its name gives its split when it says
one: `test.csv`); else several whose names all say a split (SpeechBrain's `train.csv` / `dev.csv` /
`test.csv` or `train-clean-100.csv` / `dev-clean.csv`, TIMIT's `train.json` / `valid.json`, NeMo's
`train_manifest.json` / `manifest_dev.json`, ...) are all read, each giving its split to its rows; else
ValueError. A row's split column wins over the name. When the root has no manifest, Hugging Face
audiofolder `metadata.csv` / `metadata.jsonl` files (with a `file_name` column) one or two folders
down are read, each relative to its folder, the split from the folder names (`train/`, `data/test/`).

Not understood: a manifest-like file at the root that is none of these (no audio path column, not
LJSpeech, not SpeechBrain) is a ValueError naming the file, its columns and what was looked for, and so
are Lhotse manifests (list them with layout `lhotse`): a folder with a manifest is never listed as
plain audio. SpeechBrain's lexicon CSVs (`ID,duration,char,phn`) are no manifest of audio: not
read (counted as ignored).

Sidecar mode (no manifest): every audio file under the root (recursively; hidden files and folders
skipped; symlinked folders not followed, so `ln -s . loop` is no endless tree; an audio name that is a
dangling symlink, a symlink loop or a FIFO is listed with a missing_file listing_error, never opened),
with an optional `<stem>.txt` (the transcript, without its final line ending) and/or `<stem>.json`
({"text" or "transcript", "language", "speaker", "split"}; its text wins over the .txt; a sidecar that is
no regular file is never opened: a listing_error).
Split is train unless the manifest / sidecar gives one.

Ignored files (both modes; see listing.ignored_files): every file under the root, hidden ones
excepted, that is neither audio, nor a manifest that was read, nor a `<stem>.txt` / `<stem>.json`
beside an audio file `<stem>.<ext>`.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from omnicorpus.corpus import toolkits
from omnicorpus.corpus.files import FileIndex, files_in, require_dir, subdirs
from omnicorpus.corpus.listing import AUDIO_EXTENSIONS, Listing, error, line_uri, normalize_split, split_from_name
from omnicorpus.corpus.text import first_key, is_clean, printable, read_csv_rows, read_lines, split_fields, text_value
from omnicorpus.corpus.tree import audio_problem, audio_stems, sidecar_item, walk_tree
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "folder"
PATH_COLUMNS = toolkits.PATH_COLUMNS
TEXT_COLUMNS = ("text", "transcript", "sentence", "raw_text", "transcription")
LANGUAGE_COLUMNS = ("language", "lang", "locale")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id", "spk_id")
MANIFEST_EXTENSIONS = toolkits.MANIFEST_SUFFIXES
#: Hugging Face audiofolder metadata files, also read one or two folders below the root.
HF_METADATA = ("metadata.csv", "metadata.jsonl")
#: What a manifest at the root must be (for the "not understood" error).
LOOKED_FOR = (f"an audio path column ({', '.join(PATH_COLUMNS)}) in a CSV/TSV header or JSON lines (NeMo, "
              "Hugging Face audiofolder), a SpeechBrain CSV (ID,...,wav,...) or JSON ({id: {\"wav\": ...}}), an "
              "LJSpeech metadata.csv (id|transcription|normalized)")
#: Usual sample rates, for telling SpeechBrain start/stop in samples from seconds.
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
_PLACEHOLDER = re.compile(r"\$([\w.]+)|\{(\w+)\}")


@dataclass(frozen=True)
class Dialect:
    """The columns of one manifest format."""

    paths: tuple[str, ...] = PATH_COLUMNS
    texts: tuple[str, ...] = TEXT_COLUMNS
    speakers: tuple[str, ...] = SPEAKER_COLUMNS
    languages: tuple[str, ...] = LANGUAGE_COLUMNS
    durations: tuple[str, ...] = ("duration",)
    speechbrain: bool = False  # start/stop in samples or seconds, channel column, path placeholders


TABLE = Dialect()
SPEECHBRAIN = Dialect(paths=("wav",), texts=("wrd", "words", *TEXT_COLUMNS),
                      speakers=("spk_id", "speaker", "speaker_id", "client_id"),
                      durations=("duration", "length"), speechbrain=True)


@dataclass(frozen=True)
class Manifest:
    """A manifest to read: its path, kind (toolkits.READABLE) and the split its name / folder says."""

    path: Path
    kind: str
    split: str | None = None


def _stem(name: str) -> str:
    suffix = toolkits.manifest_suffix(name)
    return name[: -len(suffix)] if suffix else name.rsplit(".", 1)[0]


def _not_understood(found: list[toolkits.Identified]) -> str:
    first = found[0]
    what = f"columns: {', '.join(first.columns)}" if first.columns else ""
    if first.note:
        what = f"{what}; {first.note}" if what else first.note
    more = ""
    if len(found) > 1:
        more = f" (and {len(found) - 1} more: {', '.join(f.path.name for f in found[1:4])})"
    return printable(f"{LAYOUT}: {first.path} is not a manifest this layout understands ({what or 'empty'}); "
                     f"looked for {LOOKED_FOR}{more}")


def _root_manifests(root: Path) -> list[toolkits.Identified]:
    """The manifest-like files at the root, identified; ValueError for those this layout cannot read."""
    names = files_in(root)
    stems = audio_stems(names)
    found: list[toolkits.Identified] = []
    for name in names:
        if name.startswith(".") or not toolkits.manifest_suffix(name):
            continue
        if name.lower().endswith(".json") and name[:-5] in stems:
            continue  # a sidecar of an audio file
        found.append(toolkits.identify(root / name))
    tarred = [f for f in found if f.kind == toolkits.TARRED_NEMO]
    if tarred:
        raise ValueError(f"{LAYOUT}: {tarred[0].path} is a tarred NeMo manifest (audio inside audio_<N>.tar "
                         f"shards): tarred NeMo datasets are out of scope; list the untarred audio with a plain "
                         f"NeMo manifest")
    lhotse = [f for f in found if f.kind == toolkits.LHOTSE]
    if lhotse:
        raise ValueError(f"{LAYOUT}: {root} holds Lhotse manifests ({', '.join(f.path.name for f in lhotse[:4])}): "
                         f"list it with layout lhotse (or auto)")
    unknown = [f for f in found if f.kind == toolkits.UNKNOWN]
    if unknown:
        raise ValueError(_not_understood(unknown))
    return [f for f in found if f.kind in toolkits.READABLE]


def _hf_metadata(root: Path) -> list[Manifest]:
    """Hugging Face audiofolder metadata files one or two folders below the root (with a file_name column)."""
    found = []
    seen = {os.path.realpath(root)}  # a symlinked folder that leads back (`ln -s . loop`) is looked at once
    for sub in subdirs(root):
        for d in (sub, *subdirs(sub)):
            real = os.path.realpath(d)
            if real in seen:
                continue
            seen.add(real)
            for name in HF_METADATA:
                p = d / name
                if not p.is_file():
                    continue
                ident = toolkits.identify(p)
                if ident.kind == toolkits.TABLE and "file_name" in ident.columns:
                    rel = p.parent.relative_to(root).parts
                    split = next((s for s in map(split_from_name, rel) if s), None)
                    found.append(Manifest(p, toolkits.TABLE, split))
    return found


def find_manifests(root: Path) -> list[Manifest]:
    """The manifests to read (see the module doc); [] for sidecar mode; ValueError for a manifest that
    is not understood, or several that are not named after their splits."""
    candidates = _root_manifests(root)
    if not candidates:
        return _hf_metadata(root)
    named = [c for c in candidates if _stem(c.path.name).lower() == "manifest"]
    if named:
        return [Manifest(named[0].path, named[0].kind)]
    splits = [split_from_name(_stem(c.path.name)) for c in candidates]
    if len(candidates) == 1 or all(splits):
        return [Manifest(c.path, c.kind, s) for c, s in zip(candidates, splits, strict=True)]
    raise ValueError(f"{LAYOUT}: {root} has several manifests ({', '.join(c.path.name for c in candidates)}); "
                     f"name one manifest.* or name each after its split")


def has_manifest(root: Path) -> bool:
    """True when `root` has a manifest this layout reads (at the root, or Hugging Face audiofolder metadata
    below it), or one it rejects with its own error (not understood, several, Lhotse, tarred NeMo)."""
    try:
        return bool(find_manifests(root))
    except ValueError:
        return True


# --- values ----------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _placeholders(value: str, base: str) -> str:
    """SpeechBrain's `$data_root` / `{data_root}` (any name) replaced by the manifest's folder."""
    return _PLACEHOLDER.sub(lambda _m: base, value)


def _usual_rate(rate: float) -> int | None:
    best = min(SAMPLE_RATES, key=lambda r: abs(r - rate))
    return best if abs(best - rate) <= 0.01 * best else None


def speechbrain_span(start_value: Any, stop_value: Any, duration: float | None
                     ) -> tuple[float | None, float | None, str | None]:
    """(start, end) in seconds of SpeechBrain start / stop values (samples or seconds; see the module doc),
    or a problem."""
    start, stop = _number(start_value), _number(stop_value)
    if start_value not in (None, "") and start is None or stop_value not in (None, "") and stop is None:
        return None, None, f"start {start_value!r} / stop {stop_value!r} are not numbers"
    if start is None and stop is None:
        return None, None, None
    if stop is None:  # Libriheavy: start (seconds) and duration
        assert start is not None
        if start < 0:
            return None, None, f"negative start {start_value!r}"
        if start == 0 and duration is None:
            return None, None, None
        return round(start, 6), None if duration is None else round(start + duration, 6), None
    start = start or 0.0
    if stop <= start:
        if stop == start == 0:
            return None, None, None
        return None, None, f"stop {stop_value!r} is not after start {start_value!r}"
    if start < 0:
        return None, None, f"negative start {start_value!r}"
    if duration is None or duration <= 0:
        return None, None, (f"start {start_value!r} / stop {stop_value!r} may be samples or seconds: no duration "
                            f"column to tell")
    if abs((stop - start) - duration) <= max(0.01, 0.001 * duration):
        return round(start, 6), round(stop, 6), None
    rate = _usual_rate((stop - start) / duration)
    if rate is None:
        return None, None, (f"start {start_value!r} / stop {stop_value!r} with duration {duration} are neither "
                            f"seconds nor samples at a usual rate")
    return round(start / rate, 6), round(stop / rate, 6), None


def _channel(value: Any) -> tuple[int | None, str | None]:
    """A SpeechBrain `channel` value: a 0-based number, or a letter (A = 0, as Switchboard writes them)."""
    text = text_value(value)
    if text is None:
        return None, None
    text = text.strip()
    if text.isdigit():
        return int(text), None
    if len(text) == 1 and text.isalpha() and text.isascii():
        return ord(text.upper()) - ord("A"), None
    return None, f"channel {printable(text)!r} is neither a number nor a letter"


# --- rows ------------------------------------------------------------------------------------------

@dataclass
class _Context:
    listing: Listing
    files: FileIndex
    manifest: Path
    base: str
    split: str | None
    #: audio paths must stay inside the source (`Listing.outside`): tables and LJSpeech, not the toolkits'
    confined: bool = True


def _is_json_lines(manifest: Path) -> bool:
    return toolkits.manifest_suffix(manifest.name) in (".json", ".jsonl", ".json.gz", ".jsonl.gz")


def _add_row(ctx: _Context, where: str, fallback_uri: str, row: dict[str, Any], dialect: Dialect,
             meta: dict[str, Any]) -> None:
    """One item of a manifest row (any format) with its columns named by `dialect`."""
    listing = ctx.listing
    problems: list[str] = []
    text_key = first_key(row, dialect.texts)
    raw_text = text_value(row.get(text_key)) if text_key else None
    transcript_problem: ListingProblem | None = None
    if raw_text is not None and not is_clean(raw_text):
        raw_text = None
        transcript_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: {text_key} is not valid UTF-8")

    def field(names: tuple[str, ...]) -> str | None:
        key = first_key(row, names)
        value = text_value(row.get(key)) if key else None
        if value is not None and not is_clean(value):
            problems.append(f"{key} is not valid UTF-8")
            value = printable(value)
        return value

    language = field(dialect.languages)
    speaker = field(dialect.speakers)
    split_value = field(("split",))
    split = ctx.split or "train"
    if split_value is not None:
        mapped = normalize_split(split_value)
        if mapped is None:
            problems.append(f"unknown split {split_value!r}")
        split = mapped  # type: ignore[assignment]
    duration_key = first_key(row, dialect.durations)
    duration = _number(row.get(duration_key)) if duration_key else None
    if duration is not None:
        meta["duration"] = duration
    start = end = None
    channel = None
    offset_problem = None
    if dialect.speechbrain:
        start, end, offset_problem = speechbrain_span(row.get("start"), row.get("stop"), duration)
        channel, channel_problem = _channel(row.get("channel"))
        if channel_problem:
            problems.append(channel_problem)
    else:
        offset = _number(row.get("offset"))
        if offset is not None:
            start = offset
            end = offset + duration if duration is not None else None
            if start < 0 or (end is not None and end <= start):
                problems.append(f"bad offset {offset} / duration {duration}")
    path_key = first_key(row, dialect.paths)
    path_value = row.get(path_key or "")
    if not isinstance(path_value, str) or not path_value.strip():
        listing.add(fallback_uri, raw_text=raw_text, speaker_raw=speaker, split=split, language_raw=language,
                    meta=meta, listing_error=error(Reason.LISTING_ERROR, f"{where}: no audio path"))
        return
    path_value = path_value.strip()
    if dialect.speechbrain:
        path_value = _placeholders(path_value, ctx.base)
    # a NeMo manifest (JSON lines with audio_filepath) is the user's own toolkit output: it names files anywhere
    nemo = path_key == "audio_filepath" and _is_json_lines(ctx.manifest)
    if ctx.confined and not dialect.speechbrain and not nemo:
        outside = listing.outside(ctx.base, path_value, where)
        if outside is not None:  # never resolved, stat-ed or opened; the item stands for the manifest line
            listing.add(fallback_uri, raw_text=raw_text, speaker_raw=speaker, split=split, language_raw=language,
                        meta=meta, listing_error=outside)
            return
    uri, exists = ctx.files.resolve(os.path.join(ctx.base, path_value))
    problem: ListingProblem | None
    if not exists:
        problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
    elif offset_problem:
        problem = error(Reason.BAD_OFFSETS, f"{where}: {offset_problem}")
    elif problems:
        problem = error(Reason.LISTING_ERROR, f"{where}: {'; '.join(problems)}")
    else:
        problem = transcript_problem
    listing.add(uri, start=start, end=end, channel=channel, raw_text=raw_text, speaker_raw=speaker, split=split,
                language_raw=language, listing_error=problem, meta=meta)


def _table_rows(manifest: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    suffix = toolkits.manifest_suffix(manifest.name)
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL
        _, rows = read_csv_rows(manifest, delimiter=delimiter, quoting=quoting)
        return ((n, row, None) for n, row in rows)
    return toolkits.iter_json_lines(manifest)


def _read_rows(ctx: _Context, rows: Iterator[tuple[int, dict[str, Any] | None, str | None]],
               dialect: Dialect, id_column: str | None = None) -> None:
    manifest = ctx.manifest
    for lineno, row, parse_problem in rows:
        if row is None:
            ctx.listing.add(line_uri(manifest.absolute(), lineno), split=ctx.split or "train",
                            listing_error=error(Reason.LISTING_ERROR, f"{manifest}: {parse_problem}"))
            continue
        meta: dict[str, Any] = {"manifest": manifest.name, "line": lineno}
        if id_column and text_value(row.get(id_column)):
            meta["id"] = printable(str(row[id_column]))
        _add_row(ctx, f"{manifest} line {lineno}", line_uri(manifest.absolute(), lineno), row, dialect, meta)


def _read_table(ctx: _Context) -> None:
    _read_rows(ctx, _table_rows(ctx.manifest), TABLE)


def _read_speechbrain_csv(ctx: _Context) -> None:
    _, rows = toolkits.read_speechbrain_csv(ctx.manifest)
    _read_rows(ctx, ((n, row, None) for n, row in rows), SPEECHBRAIN, id_column="ID")


def _read_speechbrain_json(ctx: _Context) -> None:
    manifest = ctx.manifest
    uri = str(manifest.absolute())
    try:
        data = toolkits.read_json(manifest)
    except (ValueError, OSError) as exc:
        ctx.listing.add(line_uri(uri, 1), split=ctx.split or "train",
                        listing_error=error(Reason.LISTING_ERROR, f"{manifest}: {exc}"))
        return
    if not isinstance(data, dict):
        ctx.listing.add(line_uri(uri, 1), split=ctx.split or "train", listing_error=error(
            Reason.LISTING_ERROR, f"{manifest}: not a JSON object of utterances"))
        return
    for utt, entry in data.items():
        where, fallback = f"{manifest} entry {utt!r}", f"{uri}#id={utt}"
        meta: dict[str, Any] = {"manifest": manifest.name, "id": printable(utt)}
        if not isinstance(entry, dict):
            ctx.listing.add(fallback, split=ctx.split or "train",
                            listing_error=error(Reason.LISTING_ERROR, f"{where} is not a JSON object"))
            continue
        row = dict(entry)
        wav = row.get("wav")
        if isinstance(wav, dict):  # {"file": ..., "start": ..., "stop": ..., "duration": ...} (AMI)
            if "files" in wav and "file" not in wav:
                text_key = first_key(row, SPEECHBRAIN.texts)
                ctx.listing.add(fallback, raw_text=text_value(row[text_key]) if text_key else None,
                                split=ctx.split or "train", meta=meta, listing_error=error(
                                    Reason.LISTING_ERROR, f"{where}: several audio files (\"files\", one per "
                                                          f"microphone) cannot be one item"))
                continue
            for key in ("start", "stop", "duration"):
                if key in wav and key not in row:
                    row[key] = wav[key]
            row["wav"] = wav.get("file")
        _add_row(ctx, where, fallback, row, SPEECHBRAIN, meta)


def _read_ljspeech(ctx: _Context) -> None:
    manifest, listing = ctx.manifest, ctx.listing
    wavs = os.path.join(ctx.base, "wavs")
    for lineno, raw in read_lines(manifest):
        if not raw.strip():
            continue
        where = f"{manifest} line {lineno}"
        fields, bad = split_fields(raw, "|")
        utt = fields[0].strip()
        if len(fields) not in (2, 3) or not utt:
            listing.add(line_uri(manifest.absolute(), lineno), split=ctx.split or "train", listing_error=error(
                Reason.LISTING_ERROR, f"{where}: not id|transcription|normalized transcription"))
            continue
        index = 2 if len(fields) == 3 and fields[2].strip() else 1
        raw_text: str | None = fields[index] or None
        problem: ListingProblem | None = None
        meta: dict[str, Any] = {"manifest": manifest.name, "line": lineno}
        if index == 2 and fields[1] != fields[2]:
            meta["transcription"] = printable(fields[1])
        if index in bad:
            raw_text = None
            problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: the transcription is not valid UTF-8")
        outside = listing.outside(wavs, utt + ".wav", where)
        if outside is not None:
            listing.add(line_uri(manifest.absolute(), lineno), raw_text=raw_text, split=ctx.split or "train",
                        listing_error=outside, meta=meta)
            continue
        uri, exists = ctx.files.resolve(os.path.join(wavs, utt + ".wav"))
        if not exists:
            problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
        listing.add(uri, raw_text=raw_text, split=ctx.split or "train", listing_error=problem, meta=meta)


_READERS: dict[str, Callable[[_Context], None]] = {
    toolkits.TABLE: _read_table,
    toolkits.SPEECHBRAIN_CSV: _read_speechbrain_csv,
    toolkits.SPEECHBRAIN_JSON: _read_speechbrain_json,
    toolkits.LJSPEECH: _read_ljspeech,
}


def _read_manifest(listing: Listing, files: FileIndex, m: Manifest) -> None:
    confined = m.kind in (toolkits.TABLE, toolkits.LJSPEECH)
    _READERS[m.kind](_Context(listing, files, m.path, str(m.path.parent.absolute()), m.split, confined))


def _walk(listing: Listing, root: Path, files: FileIndex, manifests: list[Manifest]) -> None:
    """The tree under root: its audio files as sidecar items (when there is no manifest), what is neither
    audio nor read counted as ignored."""

    def add_sidecar_item(dirpath: str, name: str, names: set[str]) -> None:
        path = os.path.join(dirpath, name)
        uri, exists = files.resolve(path)
        item = sidecar_item(files, dirpath, name.rsplit(".", 1)[0], names)
        item["listing_error"] = audio_problem(files, path, exists) or item["listing_error"]
        listing.add(uri, **item)

    read = {str(m.path.absolute()) for m in manifests} | {os.path.realpath(m.path) for m in manifests}
    audio = walk_tree(listing, root, files, read, None if manifests else add_sidecar_item)
    if not manifests and audio == 0:
        raise ValueError(f"{LAYOUT}: {root} has no audio files ({', '.join(AUDIO_EXTENSIONS)}) "
                         f"and no manifest ({LOOKED_FOR})")


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    manifests = find_manifests(root)
    for m in manifests:
        _read_manifest(listing, files, m)
    _walk(listing, root, files, manifests)
    return listing.table()


@dataclass(frozen=True)
class Part:
    """A part of a folder's listing that lists on its own: one manifest, or (manifest None) the walk of the
    tree, which lists the sidecar items of a folder without manifests and counts the ignored files."""

    manifest: Manifest | None
    manifests: tuple[Manifest, ...] = ()  # for the walk: every manifest of the folder (read, so not ignored)


def list_parts(source: SourceConfig) -> list[Part]:
    """The parts of the folder's listing, in the order `list_items` lists them: each manifest, then the walk.
    ValueError as `list_items` (a manifest that is not understood, ...)."""
    root = require_dir(source.path, LAYOUT).absolute()
    manifests = find_manifests(root)
    return [*(Part(m) for m in manifests), Part(None, tuple(manifests))]


def list_part(source: SourceConfig, part: Part) -> pa.Table:
    """`Listing.part_table()` of one part: the rows `list_items` gives for it."""
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    if part.manifest is not None:
        _read_manifest(listing, files, part.manifest)
    else:
        _walk(listing, root, files, list(part.manifests))
    return listing.part_table()
