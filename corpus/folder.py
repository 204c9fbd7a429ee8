"""A plain folder of audio, with sidecar transcripts or one manifest.

Manifest mode: a `.csv` / `.tsv` / `.jsonl` file at the root (or NeMo's `manifest.json`, JSON lines)
whose header / first object has an audio path column: audio_filepath, file, path, file_name or audio.
`manifest.*` wins; else a single candidate; else several candidates whose names all say a split
(`train.jsonl`, `dev_manifest.jsonl`...) are all read, each giving its split to its rows; else
ValueError. Paths are absolute or relative to the manifest's folder. Columns: transcript text /
transcript / sentence / raw_text / transcription, language / lang / locale, speaker / speaker_id /
client_id, split; NeMo `offset` (+ `duration`) makes a segment item (start = offset, end = offset +
duration); `duration` goes to meta. TSV is read unquoted, CSV with standard quoting.

Sidecar mode: every audio file under the root (recursively; hidden files and folders skipped), with
an optional `<stem>.txt` (the transcript, without its final line ending) and/or `<stem>.json`
({"text" or "transcript", "language", "speaker", "split"}; its text wins over the .txt).
Split is train unless the manifest / sidecar gives one.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.corpus.listing import (
    AUDIO_EXTENSIONS,
    FileIndex,
    Listing,
    error,
    files_in,
    first_key,
    is_audio_name,
    is_clean,
    line_uri,
    normalize_split,
    printable,
    read_csv_rows,
    read_jsonl_rows,
    read_text_file,
    require_dir,
    split_from_name,
    text_value,
)
from omnicorpus.manifests.schema import Reason
from omnicorpus.pipelines.config import SourceConfig

LAYOUT = "folder"
PATH_COLUMNS = ("audio_filepath", "file", "path", "file_name", "audio")
TEXT_COLUMNS = ("text", "transcript", "sentence", "raw_text", "transcription")
LANGUAGE_COLUMNS = ("language", "lang", "locale")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
MANIFEST_EXTENSIONS = (".csv", ".tsv", ".jsonl")


def _manifest_columns(path: Path) -> list[str]:
    """Column names of a candidate manifest (header, or keys of the first JSON object); [] if unreadable."""
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            for _, obj, _problem in read_jsonl_rows(path):
                return list(obj) if obj else []
            return []
        with open(path, "rb") as f:
            first = f.readline().decode("utf-8", "replace").lstrip("\ufeff")
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        return [c.strip() for c in next(csv.reader([first], delimiter=delimiter), [])]
    except OSError:
        return []


def find_manifests(root: Path) -> list[tuple[Path, str | None]]:
    """(manifest, split its name gives when several are read) at the root; [] for sidecar mode."""
    candidates = []
    for file_name in files_in(root):
        name = file_name.lower()
        if name.startswith(".") or not (name.endswith(MANIFEST_EXTENSIONS) or name == "manifest.json"):
            continue
        p = root / file_name
        if first_key(dict.fromkeys(_manifest_columns(p)), PATH_COLUMNS):
            candidates.append(p)
    named = [p for p in candidates if p.stem.lower() == "manifest"]
    if named:
        return [(named[0], None)]
    if len(candidates) <= 1:
        return [(p, None) for p in candidates]
    splits = [split_from_name(p.stem) for p in candidates]
    if all(splits):
        return list(zip(candidates, splits, strict=True))
    raise ValueError(f"{LAYOUT}: {root} has several manifests ({', '.join(p.name for p in candidates)}); "
                     f"name one manifest.* or name each after its split")


def _rows(manifest: Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    suffix = manifest.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return list(read_jsonl_rows(manifest))
    delimiter = "\t" if suffix == ".tsv" else ","
    quoting = csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL
    _, rows = read_csv_rows(manifest, delimiter=delimiter, quoting=quoting)
    return [(n, row, None) for n, row in rows]


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """A transcript value: None when absent or empty (an empty cell means no transcript)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def _list_manifest(listing: Listing, manifest: Path, split_default: str | None, files: FileIndex) -> None:
    base = str(manifest.parent.absolute())
    for lineno, row, parse_problem in _rows(manifest):
        where = f"{manifest} line {lineno}"
        if row is None:
            listing.add(line_uri(manifest.absolute(), lineno), split=split_default or "train",
                        listing_error=error(Reason.LISTING_ERROR, f"{manifest}: {parse_problem}"))
            continue
        problems: list[str] = []
        text_key = first_key(row, TEXT_COLUMNS)
        raw_text = _text(row.get(text_key)) if text_key else None
        transcript_problem = None
        if raw_text is not None and not is_clean(raw_text):
            raw_text = None
            transcript_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: {text_key} is not valid UTF-8")

        def field(names: tuple[str, ...], row: dict[str, Any] = row,
                  problems: list[str] = problems) -> str | None:
            key = first_key(row, names)
            value = text_value(row.get(key)) if key else None
            if value is not None and not is_clean(value):
                problems.append(f"{key} is not valid UTF-8")
                value = printable(value)
            return value

        language = field(LANGUAGE_COLUMNS)
        speaker = field(SPEAKER_COLUMNS)
        split_value = field(("split",))
        split = split_default or "train"
        if split_value is not None:
            mapped = normalize_split(split_value)
            if mapped is None:
                problems.append(f"unknown split {split_value!r}")
            split = mapped
        meta: dict[str, Any] = {"manifest": manifest.name, "line": lineno}
        duration, offset = _number(row.get("duration")), _number(row.get("offset"))
        if duration is not None:
            meta["duration"] = duration
        start = end = None
        if offset is not None:
            start = offset
            end = offset + duration if duration is not None else None
            if start < 0 or (end is not None and end <= start):
                problems.append(f"bad offset {offset} / duration {duration}")
        path_value = row.get(first_key(row, PATH_COLUMNS) or "")
        if not isinstance(path_value, str) or not path_value.strip():
            listing.add(line_uri(manifest.absolute(), lineno), raw_text=raw_text, speaker_raw=speaker,
                        split=split, language_raw=language, meta=meta,
                        listing_error=error(Reason.LISTING_ERROR, f"{where}: no audio path"))
            continue
        uri, exists = files.resolve(os.path.join(base, path_value.strip()))
        if not exists:
            problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
        elif problems:
            problem = error(Reason.LISTING_ERROR, f"{where}: {'; '.join(problems)}")
        else:
            problem = transcript_problem
        listing.add(uri, start=start, end=end, raw_text=raw_text, speaker_raw=speaker, split=split,
                    language_raw=language, listing_error=problem, meta=meta)


def _sidecar_json(path: str) -> tuple[dict[str, Any], str | None]:
    """The sidecar object (strings decoded leniently) and a problem when it is not a JSON object."""
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8", "surrogateescape").lstrip("\ufeff"))
    except (json.JSONDecodeError, OSError) as exc:
        return {}, error(Reason.LISTING_ERROR, f"{path}: not a JSON object ({exc})")
    if not isinstance(obj, dict):
        return {}, error(Reason.LISTING_ERROR, f"{path}: not a JSON object")
    return obj, None


def _sidecar_item(dirpath: str, stem: str, names: set[str]) -> dict[str, Any]:
    """listing.add keyword arguments from the `<stem>.txt` / `<stem>.json` sidecars."""
    raw_text = language = speaker = None
    split: str | None = "train"
    text_problem = None
    problems: list[str] = []
    meta: dict[str, Any] | None = None
    if stem + ".txt" in names:
        try:
            raw_text, text_problem = read_text_file(os.path.join(dirpath, stem + ".txt"))
        except OSError as exc:
            text_problem = error(Reason.LISTING_ERROR, f"{os.path.join(dirpath, stem + '.txt')}: {exc}")
    json_problem = None
    if stem + ".json" in names:
        side = os.path.join(dirpath, stem + ".json")
        meta = {"sidecar": stem + ".json"}
        obj, json_problem = _sidecar_json(side)
        key = first_key(obj, ("text", "transcript"))
        if key is not None and obj[key] is not None:
            raw_text, text_problem = _text(obj[key]), None
            if raw_text is not None and not is_clean(raw_text):
                raw_text = None
                text_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{side}: {key} is not valid UTF-8")
        language, speaker = text_value(obj.get("language")), text_value(obj.get("speaker"))
        problems += [f"{k} is not valid UTF-8" for k, v in (("language", language), ("speaker", speaker))
                     if v is not None and not is_clean(v)]
        language = printable(language) if language else None
        speaker = printable(speaker) if speaker else None
        split_value = text_value(obj.get("split"))
        if split_value is not None:
            split = normalize_split(split_value)
            if split is None:
                problems.append(f"unknown split {printable(split_value)!r}")
        if problems:
            json_problem = json_problem or error(Reason.LISTING_ERROR, f"{side}: {'; '.join(problems)}")
    return {"raw_text": raw_text, "language_raw": language, "speaker_raw": speaker, "split": split,
            "meta": meta, "listing_error": json_problem or text_problem}


def _list_sidecars(listing: Listing, root: Path, files: FileIndex) -> int:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = set(filenames)
        for name in sorted(filenames):
            if name.startswith(".") or not is_audio_name(name):
                continue
            count += 1
            uri, _ = files.resolve(os.path.join(dirpath, name))
            listing.add(uri, **_sidecar_item(dirpath, name.rsplit(".", 1)[0], names))
    return count


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    manifests = find_manifests(root)
    if manifests:
        for manifest, split in manifests:
            _list_manifest(listing, manifest, split, files)
    elif _list_sidecars(listing, root, files) == 0:
        raise ValueError(f"{LAYOUT}: {root} has no audio files ({', '.join(AUDIO_EXTENSIONS)}) "
                         f"and no manifest (.csv/.tsv/.jsonl with a {'/'.join(PATH_COLUMNS)} column)")
    return listing.table()

