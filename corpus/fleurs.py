"""Google FLEURS: `<root>/<code>/{train,dev,test}.tsv` and `<root>/<code>/audio/<split>/<file_name>`.

The TSVs have no header; columns: id, file_name, raw_transcription, transcription, chars, num_samples,
gender. raw_text is raw_transcription. The root is a folder of language folders or one of them.
FLEURS has no speaker ids: speaker_raw is null.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from omnicorpus.corpus.listing import (
    FileIndex,
    Listing,
    decode,
    error,
    line_uri,
    printable,
    read_lines,
    require_dir,
    subdirs,
)
from omnicorpus.manifests.schema import Reason
from omnicorpus.pipelines.config import SourceConfig

LAYOUT = "fleurs"
SPLIT_TSVS = (("train.tsv", "train"), ("dev.tsv", "dev"), ("test.tsv", "test"))
COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "chars", "num_samples", "gender")


def is_language_dir(path: Path) -> bool:
    return any((path / name).is_file() for name, _ in SPLIT_TSVS)


def language_dirs(root: Path) -> list[Path]:
    if is_language_dir(root):
        return [root]
    found = [p for p in subdirs(root) if is_language_dir(p)]
    if not found:
        raise ValueError(f"{LAYOUT}: {root} has no language folder with train.tsv/dev.tsv/test.tsv")
    return found


def _int_or_str(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value


def _list_language(listing: Listing, lang_dir: Path, files: FileIndex) -> None:
    language = lang_dir.name
    base = str(lang_dir.absolute())
    for name, split in SPLIT_TSVS:
        tsv = lang_dir / name
        if not tsv.is_file():
            continue
        audio_dir = os.path.join(base, "audio", split)
        for lineno, raw in read_lines(tsv):
            if not raw.strip():
                continue
            fields = raw.split(b"\t")
            where = f"{tsv} line {lineno}"
            file_name = fields[1].strip() if len(fields) > 1 else b""
            raw_text = None
            problem = None
            if len(fields) > 2:
                raw_text = decode(fields[2])
                if raw_text is None:
                    problem = error(Reason.TRANSCRIPT_NOT_UTF8,
                                    f"{where}: raw_transcription is not valid UTF-8")
            meta: dict[str, object] = {}
            for i, key in ((0, "id"), (5, "num_samples"), (6, "gender")):
                if len(fields) > i and fields[i].strip():
                    value = printable(fields[i].strip().decode("utf-8", "surrogateescape"))
                    meta[key] = value if key == "gender" else _int_or_str(value)
            if not file_name:
                listing.add(line_uri(tsv.absolute(), lineno), raw_text=raw_text, split=split,
                            language_raw=language, meta=meta,
                            listing_error=error(Reason.LISTING_ERROR, f"{where}: no file_name"))
                continue
            uri, exists = files.resolve(os.path.join(audio_dir, file_name.decode("utf-8", "surrogateescape")))
            if not exists:
                problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
            listing.add(uri, raw_text=raw_text, split=split, language_raw=language, listing_error=problem,
                        meta=meta)


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT)
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    for lang_dir in language_dirs(root):
        _list_language(listing, lang_dir, files)
    return listing.table()
