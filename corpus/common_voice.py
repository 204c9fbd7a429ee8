"""Mozilla Common Voice: `<root>/<locale>/{clips/, validated.tsv, train.tsv, dev.tsv, test.tsv}`.

The root is either a folder of locale folders or one locale folder. TSVs are read by header name
(older releases lack sentence_id, sentence_domain and variant) as Mozilla writes them (CorporaCreator:
Polars `write_csv(separator="\\t", quote_style="never")`): no quoting (a `"` is text), fields split at tabs,
records ended by `\\n` (or `\\r\\n`) only, so a bare `\\r` inside a sentence stays in it. A row with fewer
fields than the header (a cut-off line) or more (a tab inside a field) gets a listing_error naming the
file, the line and the missing columns. A `path` that is absolute or climbs out of the source
(`../../etc/passwd`) is a `path_outside_source` listing_error: never looked up nor opened, the item's
source_uri is the TSV line (`line_uri`).
Items are the rows of test/dev/train.tsv, plus the rows of validated.tsv (the union of validated clips)
that appear in none of them, as `train`. other.tsv / invalidated.tsv (unvalidated or rejected clips)
are not listed.

Files of a locale folder and of its clips/ that are neither audio nor a file Mozilla ships (the TSVs read,
reported.tsv, invalidated.tsv, other.tsv, clip_durations.tsv, validated_sentences.tsv,
unvalidated_sentences.tsv, times.txt), and loose files beside the locale folders, are counted as ignored
(`Listing.ignore`), from the directory listings the clip lookups make anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from omnicorpus.corpus.files import FileIndex, require_dir, subdirs
from omnicorpus.corpus.listing import Listing, error, is_audio_name, line_uri
from omnicorpus.corpus.text import printable, read_lines, split_fields
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import Reason

LAYOUT = "common_voice"
#: TSVs in reading order: a clip listed in two splits stays in the first (held-out splits first).
SPLIT_TSVS = (("test.tsv", "test"), ("dev.tsv", "dev"), ("train.tsv", "train"))
VALIDATED = "validated.tsv"
_TSVS = ("validated.tsv", "train.tsv", "dev.tsv", "test.tsv")
_INT_META = ("up_votes", "down_votes")
_STR_META = ("sentence_id", "age", "gender", "accents", "variant", "locale", "segment", "sentence_domain")
#: Files of a Common Voice locale folder that are no item and not read here (expected, not ignored).
KNOWN_FILES = frozenset({"reported.tsv", "invalidated.tsv", "other.tsv", "clip_durations.tsv",
                         "validated_sentences.tsv", "unvalidated_sentences.tsv", "times.txt"})


def is_locale_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in _TSVS)


def locale_dirs(root: Path) -> list[Path]:
    """The locale folders under `root` (or [root] when root is one); ValueError when there is none."""
    if is_locale_dir(root):
        return [root]
    found = [p for p in subdirs(root) if is_locale_dir(p)]
    if not found:
        raise ValueError(f"{LAYOUT}: {root} has no locale folder with {'/'.join(_TSVS)}")
    return found


def _read_tsv(path: Path) -> tuple[list[str], list[tuple[int, bytes]]]:
    lines = read_lines(path)
    header: list[str] = []
    for _, raw in lines:
        header = [h.strip() for h in raw.decode("utf-8", "replace").split("\t")]
        break
    if "path" not in header:
        raise ValueError(f"{LAYOUT}: {path} has no 'path' column in its header")
    return header, [(n, raw) for n, raw in lines if raw.strip()]


def _list_locale(listing: Listing, locale: Path, files: FileIndex) -> None:
    language = locale.name
    clips = os.path.join(os.path.abspath(locale), "clips")
    tsvs: list[tuple[Path, str, bool]] = [(locale / n, split, False) for n, split in SPLIT_TSVS]
    tsvs.append((locale / VALIDATED, "train", True))
    in_splits: set[str] = set()
    for tsv, split, is_validated in tsvs:
        if not tsv.is_file():
            continue
        header, lines = _read_tsv(tsv)
        col = {name: i for i, name in enumerate(header)}
        i_path, i_sentence, i_client = col["path"], col.get("sentence"), col.get("client_id")
        meta_cols = [(name, col[name], name in _INT_META) for name in (*_INT_META, *_STR_META) if name in col]
        width = len(header)
        for lineno, raw in lines:
            fields, bad = split_fields(raw)
            n = len(fields)
            path = fields[i_path].strip() if i_path < n else ""
            if is_validated:
                if path in in_splits:
                    continue
            else:
                in_splits.add(path)
            where = f"{tsv} line {lineno}"
            raw_text = fields[i_sentence] if i_sentence is not None and i_sentence < n else None
            problem = None
            # a row of another width than the header is damaged (cut short, or a tab inside a field):
            # its columns cannot be trusted, whatever it still holds
            shape = None
            if n < width:
                shape = error(Reason.LISTING_ERROR, f"{where}: {n} of the header's {width} fields; missing "
                                                    f"column{'s' if width - n > 1 else ''}: {', '.join(header[n:])}")
            elif n > width:
                shape = error(Reason.LISTING_ERROR, f"{where}: {n} fields, the header has {width} (a tab inside "
                                                    f"a field?)")
            if bad:
                if i_sentence in bad:
                    raw_text = None
                    problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: sentence is not valid UTF-8")
                others = [header[i] if i < len(header) else f"column {i + 1}" for i in bad if i != i_sentence]
                if others:
                    problem = problem or error(Reason.LISTING_ERROR,
                                               f"{where}: {', '.join(others)} not valid UTF-8")
                    for i in bad:
                        if i != i_sentence:
                            fields[i] = printable(fields[i])
            speaker = fields[i_client] if i_client is not None and i_client < n else None
            meta: dict[str, object] = {"tsv": tsv.name}
            for name, i, is_int in meta_cols:
                if i < n and fields[i]:
                    v = fields[i]
                    meta[name] = int(v) if is_int and v.isdigit() else v
            if not path:
                listing.add(line_uri(os.path.abspath(tsv), lineno), raw_text=raw_text, split=split,
                            speaker_raw=speaker, language_raw=language, meta=meta,
                            listing_error=shape or error(Reason.LISTING_ERROR, f"{where}: no path"))
                continue
            outside = listing.outside(clips, path, where)
            if outside is not None:  # never resolved nor opened: the item stands for the TSV line
                listing.add(line_uri(os.path.abspath(tsv), lineno), raw_text=raw_text, split=split,
                            speaker_raw=speaker, language_raw=language, meta=meta, listing_error=outside)
                continue
            uri, exists = files.resolve_in(clips, path)
            if shape:
                problem = shape
            elif not exists:
                problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
            listing.add(uri, raw_text=raw_text, speaker_raw=speaker, split=split, language_raw=language,
                        listing_error=problem, meta=meta)
    expected = KNOWN_FILES.union(_TSVS)
    _ignore_files(listing, files, os.path.abspath(locale), lambda name: name in expected)
    _ignore_files(listing, files, clips, lambda name: False)


def _ignore_files(listing: Listing, files: FileIndex, directory: str, expected: Callable[[str], bool]) -> None:
    """Count the files directly in `directory` that are neither audio nor `expected` as ignored (from the
    FileIndex listing: a folder the clip lookups scanned is not scanned again)."""
    others = sorted(n for n in files.entries(directory) or () if not is_audio_name(n) and not expected(n))
    for name in others:
        if files.resolve_in(directory, name)[1]:  # a file, not a folder
            listing.ignore(os.path.join(directory, name))


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT)
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    locales = locale_dirs(root)
    for locale in locales:
        _list_locale(listing, locale, files)
    if locales != [root]:  # loose files beside the locale folders
        _ignore_files(listing, files, os.path.abspath(root), lambda name: False)
    return listing.table()
