"""Recognising the manifests that speech toolkits write, from their names and first bytes, and reading
their rows. Used by the `folder` adapter (SpeechBrain, NeMo, LJSpeech, Hugging Face audiofolder and
plain CSV/TSV/JSON-lines tables) and by the `lhotse` adapter (JSON lines, gzipped or not).

`identify(path)` reads at most HEAD_BYTES of a file (decompressed) and says what it is:

  - `speechbrain_csv`: a CSV whose header has `ID` and `wav` (SpeechBrain's `load_data_csv` format:
    `ID,duration,wav,spk_id,wrd`, the old `ID,duration,wav,wav_format,wav_opts,spk_id,...` style, with
    `char`, `phn`, `start`, `stop`, `channel`... columns; spaces after the commas are allowed, as
    SpeechBrain reads with `skipinitialspace`);
  - `speechbrain_json`: one JSON object keyed by utterance id whose values are objects with a `wav`
    (SpeechBrain's `load_data_json` format, as json.dump(..., indent=2) writes it);
  - `ljspeech`: a `metadata*.csv` without header whose lines are `id|transcription[|normalized]`;
  - `table`: a CSV / TSV with a header, or JSON lines, with an audio path column (PATH_COLUMNS): NeMo
    manifests, Hugging Face audiofolder `metadata.csv` / `metadata.jsonl`, Common Voice-like TSVs;
  - `lhotse`: a Lhotse recordings / supervisions / cuts manifest (by name or by its first object);
  - `tarred_nemo`: a NeMo tarred-audio manifest (`shard_id` in its objects): out of scope;
  - `lexicon`: SpeechBrain's lexicon CSVs (`ID,duration,char,phn`): no audio, not read;
  - `unknown`: none of these.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnicorpus.corpus.text import first_key, json_objects, lenient, read_csv_rows, strip_eol

#: Columns / keys naming the audio file of a row, in order of preference.
PATH_COLUMNS = ("audio_filepath", "file", "path", "file_name", "audio", "wav")
#: Suffixes (lowercase) of the files at a folder source's root that are taken for manifests.
MANIFEST_SUFFIXES = (".jsonl.gz", ".json.gz", ".csv", ".tsv", ".json", ".jsonl")
#: How much of a file `identify` reads.
HEAD_BYTES = 1 << 16

TABLE = "table"
SPEECHBRAIN_CSV = "speechbrain_csv"
SPEECHBRAIN_JSON = "speechbrain_json"
LJSPEECH = "ljspeech"
LHOTSE = "lhotse"
TARRED_NEMO = "tarred_nemo"
LEXICON = "lexicon"
UNKNOWN = "unknown"
#: The kinds a `folder` source lists items from.
READABLE = (TABLE, SPEECHBRAIN_CSV, SPEECHBRAIN_JSON, LJSPEECH)

#: Lhotse manifest names: `[<corpus>_]<recordings|supervisions|cuts>[_<part>][.<shard>].jsonl[.gz]`
#: (also `.json[.gz]`, a JSON array), as `RecordingSet.to_file` and the recipes name them.
LHOTSE_NAME = re.compile(r"^(?:(?P<prefix>.*?)_)?(?P<kind>recordings|supervisions|cuts)(?:_(?P<part>.*?))?"
                         r"(?:\.(?P<shard>\d+))?\.(?P<ext>jsonl|json)(?P<gz>\.gz)?$", re.IGNORECASE)
_LHOTSE_CUT_TYPES = ("MonoCut", "MultiCut", "MixedCut", "PaddingCut", "DataCut", "Cut")
_SB_LEXICON = ["ID", "duration", "char", "phn"]
# `{ "<utt id>": {` at the start of a file: a SpeechBrain JSON manifest as json.dump(indent=2) writes it
_SB_JSON_HEAD = re.compile(r'^\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{')
_LHOTSE_KEYS = re.compile(r'"(?:sources|recording_id)"\s*:|"type"\s*:\s*"(?:MonoCut|MultiCut|MixedCut)"')
_LJ_ID = re.compile(r"^[^\s/\\|,]+$")


@dataclass(frozen=True)
class Identified:
    """What a candidate manifest is (see the module doc); `columns` are its header / first keys."""

    path: Path
    kind: str
    columns: tuple[str, ...] = ()
    note: str = ""


def manifest_suffix(name: str) -> str | None:
    """The MANIFEST_SUFFIXES entry the name ends with (case-insensitive), else None."""
    lower = name.lower()
    for suffix in MANIFEST_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    return None


def open_binary(path: str | Path) -> io.BufferedIOBase:
    """The file opened for reading bytes; `.gz` files decompressed."""
    if str(path).lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def head(path: str | Path, limit: int = HEAD_BYTES) -> bytes:
    """The first `limit` bytes of the (decompressed) file (more, up to 1 MiB, when they hold no line end),
    without a UTF-8 BOM."""
    with open_binary(path) as f:
        data = f.read(limit)
        if b"\n" not in data and len(data) == limit:  # a long first line (a JSON object): up to 1 MiB of it
            data += f.read(max(0, (1 << 20) - limit))
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without line ending) of each line, streamed; gzip-aware; BOM dropped."""
    with open_binary(path) as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            yield lineno, strip_eol(line)


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, problem) of each non-blank line of a JSON-lines file (gzip-aware),
    decoded leniently (strings may hold surrogates for bytes that are not UTF-8)."""
    return json_objects(iter_lines(path))


def read_json(path: str | Path) -> Any:
    """A whole JSON document (gzip-aware), strings decoded leniently; ValueError when it is not JSON."""
    with open_binary(path) as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return json.loads(lenient(data))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (line {exc.lineno})") from None


def read_speechbrain_csv(path: str | Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """(header, rows) of a SpeechBrain CSV, read as `load_data_csv` does (csv with `skipinitialspace`),
    leniently decoded. Rows are (line number, {column: value}); blank lines skipped."""
    return read_csv_rows(path, skipinitialspace=True)


def lhotse_name(name: str) -> re.Match[str] | None:
    """The LHOTSE_NAME match of a file name, or None."""
    return LHOTSE_NAME.match(name)


def is_lhotse_object(obj: Any) -> bool:
    """True for the first object of a Lhotse manifest: a recording, a supervision or a cut."""
    if not isinstance(obj, dict):
        return False
    if "sources" in obj and "sampling_rate" in obj:
        return True
    if "recording_id" in obj and "start" in obj and "duration" in obj and "id" in obj:
        return True
    return obj.get("type") in _LHOTSE_CUT_TYPES and "id" in obj


def _is_ljspeech_line(line: str) -> bool:
    parts = line.split("|")
    return len(parts) in (2, 3) and bool(_LJ_ID.match(parts[0])) and bool(parts[1].strip())


def identify(path: Path) -> Identified:
    """What the candidate manifest at `path` is (see the module doc), from its name and first bytes."""
    name = path.name
    suffix = manifest_suffix(name)
    # a Lhotse name, unless the first object says otherwise (a NeMo `cuts_manifest.json`)
    named = suffix not in (".csv", ".tsv") and lhotse_name(name) is not None
    try:
        data = head(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if named:
            return Identified(path, LHOTSE, note=f"cannot be read ({exc})")
        return Identified(path, UNKNOWN, note=f"cannot be read ({exc})")
    first = lenient(strip_eol(data.split(b"\n", 1)[0]))
    if suffix in (".csv", ".tsv"):
        if suffix == ".csv" and name.lower().startswith("metadata") and _is_ljspeech_line(first):
            return Identified(path, LJSPEECH, tuple(first.split("|")))
        delimiter = "\t" if suffix == ".tsv" else ","
        columns = [c.strip() for c in next(csv.reader([first], delimiter=delimiter, skipinitialspace=True), [])]
        if suffix == ".csv" and "ID" in columns and "wav" in columns:
            return Identified(path, SPEECHBRAIN_CSV, tuple(columns))
        if first_key(dict.fromkeys(columns), PATH_COLUMNS):
            return Identified(path, TABLE, tuple(columns))
        if columns == _SB_LEXICON:
            return Identified(path, LEXICON, tuple(columns))
        return Identified(path, UNKNOWN, tuple(columns), "no audio path column")
    # JSON / JSON lines
    text = lenient(data)
    line = next((ln for ln in text.split("\n") if ln.strip()), "")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        if named:  # empty, a JSON array, or a first line longer than the head
            return Identified(path, LHOTSE)
        if _SB_JSON_HEAD.match(text) and re.search(r'"wav"\s*:', text):
            return Identified(path, SPEECHBRAIN_JSON)
        if text.lstrip().startswith("["):  # a JSON array: how Lhotse writes its .json manifests
            if _LHOTSE_KEYS.search(text):
                return Identified(path, LHOTSE)
            return Identified(path, UNKNOWN, note="a JSON array")
        return Identified(path, UNKNOWN, note="neither JSON lines nor a SpeechBrain JSON object of utterances")
    if named and not (isinstance(obj, dict) and not is_lhotse_object(obj)):
        return Identified(path, LHOTSE)
    if isinstance(obj, list):
        if obj and is_lhotse_object(obj[0]):
            return Identified(path, LHOTSE)
        return Identified(path, UNKNOWN, note="a JSON array")
    if not isinstance(obj, dict):
        return Identified(path, UNKNOWN, note="not a JSON object")
    keys = tuple(str(k) for k in obj)
    if is_lhotse_object(obj):
        return Identified(path, LHOTSE, keys)
    if "shard_id" in obj or name.lower().startswith("tarred_audio_manifest"):
        return Identified(path, TARRED_NEMO, keys)
    if first_key(obj, PATH_COLUMNS):
        return Identified(path, TABLE, keys)
    values = list(obj.values())
    if values and all(isinstance(v, dict) for v in values) and any("wav" in v for v in values):
        return Identified(path, SPEECHBRAIN_JSON, keys[:5])
    return Identified(path, UNKNOWN, keys, "no audio path key")
