"""Google FLEURS: `<root>/<code>/{train,dev,test}.tsv` and `<root>/<code>/audio/<split>/<file_name>`.

The TSVs have no header; columns: id, file_name, raw_transcription, transcription, chars, num_samples,
gender. raw_text is raw_transcription. The root is a folder of language folders or one of them.
FLEURS has no speaker ids: speaker_raw is null. A row of another width than those 7 fields gets a
listing_error; a file_name that is absolute or climbs out of the source (`../../etc/passwd`) is a
`path_outside_source` listing_error, never looked up nor opened, whose source_uri is the TSV line.

Files of a language folder, of its audio/ and of audio/<split>/ that are neither audio nor what FLEURS
ships there (its TSVs, the `audio/<split>.tar.gz` archives the clips come in), and loose files beside the
language folders (but a README), are counted as ignored (`Listing.ignore`), from the directory listings
the audio lookups make anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from omnicorpus.corpus.files import FileIndex, require_dir, subdirs
from omnicorpus.corpus.listing import Listing, error, is_audio_name, line_uri
from omnicorpus.corpus.text import decode, printable, read_lines
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import Reason

LAYOUT = "fleurs"
SPLIT_TSVS = (("train.tsv", "train"), ("dev.tsv", "dev"), ("test.tsv", "test"))
COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "chars", "num_samples", "gender")
#: What the Hugging Face google/fleurs repository ships beside the language folders and the clips.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
README_NAMES = frozenset({"readme.md", "readme", "readme.txt", "license", "license.txt", "license.md"})


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
            shape = None
            if len(fields) < len(COLUMNS):
                shape = error(Reason.LISTING_ERROR, f"{where}: {len(fields)} of FLEURS' {len(COLUMNS)} fields; "
                                                    f"missing: {', '.join(COLUMNS[len(fields):])}")
            elif len(fields) > len(COLUMNS):
                shape = error(Reason.LISTING_ERROR, f"{where}: {len(fields)} fields, FLEURS has {len(COLUMNS)} "
                                                    f"(a tab inside a field?)")
            if not file_name:
                listing.add(line_uri(tsv.absolute(), lineno), raw_text=raw_text, split=split,
                            language_raw=language, meta=meta,
                            listing_error=shape or error(Reason.LISTING_ERROR, f"{where}: no file_name"))
                continue
            name = file_name.decode("utf-8", "surrogateescape")
            outside = listing.outside(audio_dir, name, where)
            if outside is not None:  # never looked up nor opened: the item stands for the TSV line
                listing.add(line_uri(tsv.absolute(), lineno), raw_text=raw_text, split=split,
                            language_raw=language, meta=meta, listing_error=outside)
                continue
            uri, exists = files.resolve(os.path.join(audio_dir, name))
            if shape:
                problem = shape
            elif not exists:
                problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
            listing.add(uri, raw_text=raw_text, split=split, language_raw=language, listing_error=problem,
                        meta=meta)
    base = os.path.abspath(base)
    audio = os.path.join(base, "audio")
    _ignore_files(listing, files, base, lambda name: name.lower().endswith(".tsv"))
    for split_dir in _ignore_files(listing, files, audio, lambda name: name.lower().endswith(ARCHIVE_SUFFIXES)):
        _ignore_files(listing, files, os.path.join(audio, split_dir), lambda name: False)


def _ignore_files(listing: Listing, files: FileIndex, directory: str, expected: Callable[[str], bool]) -> list[str]:
    """Count the files directly in `directory` that are neither audio nor `expected` as ignored (from the
    FileIndex listing: a folder the audio lookups scanned is not scanned again); its sub-folders, sorted."""
    subdirs = []
    for name in sorted(n for n in files.entries(directory) or () if not is_audio_name(n) and not expected(n)):
        if files.resolve_in(directory, name)[1]:
            listing.ignore(os.path.join(directory, name))
        elif os.path.isdir(os.path.join(directory, name)):
            subdirs.append(name)
    return subdirs


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT)
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    lang_dirs = language_dirs(root)
    for lang_dir in lang_dirs:
        _list_language(listing, lang_dir, files)
    if lang_dirs != [root]:  # loose files beside the language folders
        _ignore_files(listing, files, os.path.abspath(root), lambda name: name.lower() in README_NAMES)
    return listing.table()
