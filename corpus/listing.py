"""Shared helpers of the corpus adapters: collecting SOURCE_ITEMS rows, strict UTF-8 text, split names,
audio extensions and a cheap directory index.

An adapter reads metadata only (TSVs, transcripts, directory listings), never audio. Listing is meant
to run over millions of files, so file existence is answered from one `os.scandir` per directory
rather than a `stat` per file, and each directory is `realpath`-ed once rather than each file.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from omnicorpus.corpus.files import realpath
from omnicorpus.corpus.text import (
    is_clean,
    is_clean_fast,
    printable,
    strip_eol,
)
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import item_id
from omnicorpus.manifests.licences import keeps_speaker_ids
from omnicorpus.manifests.schema import SOURCE_ITEMS, SPLITS, ListingProblem, Reason
from omnicorpus.manifests.tables import conform

#: Extensions (lowercase, with the dot) of the audio files adapters list.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm",
    # what else libsndfile or FFmpeg decode: AIFF, Sun/NeXT, CAF, Wave64, NIST SPHERE, Monkey's, WavPack,
    # TTA, AMR, AC-3, WMA, Speex, and the audio of MP4 / Matroska / 3GP containers
    ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".sph", ".nist", ".ape", ".wv", ".tta", ".amr",
    ".ac3", ".wma", ".spx", ".oga", ".mka", ".mp4", ".mkv", ".3gp", ".mp2",
)

_SPLIT_TOKENS = {
    "train": "train", "training": "train",
    "dev": "dev", "devel": "dev", "development": "dev", "valid": "dev", "validation": "dev", "val": "dev",
    "test": "test", "testing": "test", "eval": "test", "evaluation": "test",
}
_SPLIT_PREFIXES = (("train", "train"), ("dev", "dev"), ("test", "test"), ("eval", "test"))
_LETTERS = re.compile(r"[a-z]+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: A folder name that reads as a language code: `sv`, `swh`, `swh_Latn`, `en-US`, `cmn_hans_cn`, `und`.
_LANG_DIR = re.compile(r"^[a-z]{2,3}(?:[_-][a-z]{4})?(?:[_-](?:[a-z]{2}|\d{3}))?$", re.IGNORECASE)
#: Short folder names that are common words, not languages.
_NOT_LANGUAGES = frozenset({
    "all", "aud", "bin", "dat", "dev", "doc", "etc", "lib", "log", "mp3", "new", "old", "out", "raw", "src",
    "tmp", "val", "wav", "misc", "test", "data", "audio", "clips",
})


def is_audio_name(name: str) -> bool:
    """True for a file name with one of AUDIO_EXTENSIONS (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def split_from_name(name: str) -> str | None:
    """train / dev / test for a split-ish name (`train-clean-100`, `dev_other`, `validation-0000`,
    `eval2000`, `test.tsv`), None when the name says none. Words are runs of letters; a word matches
    exactly (`val`, `validation`, ...) or by prefix for train/dev/test/eval. `validated` is not `dev`."""
    words = _LETTERS.findall(name.lower())
    for word in words:
        if word in _SPLIT_TOKENS:
            return _SPLIT_TOKENS[word]
    for word in words:
        if word == "validated":
            continue
        for prefix, split in _SPLIT_PREFIXES:
            if word.startswith(prefix):
                return split
    return None


def normalize_split(value: str | None) -> str | None:
    """A split value as a manifest wrote it (`train`, `validation`, `Test`) -> train/dev/test or None."""
    if value is None:
        return None
    value = value.strip().lower()
    if value in SPLITS:
        return value
    return _SPLIT_TOKENS.get(value)


def language_dir(name: str) -> str | None:
    """The folder name when it is a plausible language code (2-3 letters, optional script / region,
    `und`), else None."""
    if name.lower() in _NOT_LANGUAGES or not _LANG_DIR.match(name):
        return None
    return name


def is_iso_date(value: str) -> bool:
    """`YYYY-MM-DD` naming a real calendar date."""
    if not _DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def error(reason: Reason | str, detail: str) -> ListingProblem:
    """A listing_error value: the reason and its detail on one printable line."""
    return {"reason": Reason(reason).value, "detail": printable(" ".join(str(detail).split()))}


def line_uri(path: str | os.PathLike[str], lineno: int) -> str:
    """Source URI of a manifest line that names no usable audio (so that the line is still listed)."""
    return f"{path}#line={lineno}"


def read_text_file(path: str | os.PathLike[str]) -> tuple[str | None, ListingProblem | None]:
    """(text, problem) of a whole transcript file: the text without its final line ending, or None and
    a `transcript_not_utf8` listing_error naming the file and the line of the first bad byte."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return strip_eol(data).decode("utf-8"), None
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        return None, error(Reason.TRANSCRIPT_NOT_UTF8, f"{path} line {lineno}: invalid UTF-8 ({exc.reason})")


def checked_uri(path: str) -> tuple[str, ListingProblem | None]:
    """A path that is safe to put in Arrow (valid UTF-8) and a listing_error when it is not."""
    if is_clean(path):
        return path, None
    return printable(path), error(Reason.LISTING_ERROR, f"file name is not valid UTF-8: {printable(path)}")


# --- rows ------------------------------------------------------------------------------------------

_COLUMNS = SOURCE_ITEMS.names
#: Schema metadata key of a listing table: the files of the source tree that no item stands for.
IGNORED_KEY = b"omnicorpus.ignored"
#: How many ignored file names a listing keeps as examples.
IGNORED_EXAMPLES = 5


@dataclass(frozen=True)
class Ignored:
    """Files in a source tree that are neither audio nor a manifest or sidecar the adapter reads."""

    count: int = 0
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        """`ignored: 3 files, e.g. notes.pdf, cover.jpg` (empty when nothing was ignored)."""
        if not self.count:
            return ""
        return f"ignored: {self.count} file{'s' if self.count != 1 else ''}, e.g. {', '.join(self.examples)}"


def ignored_files(table: pa.Table) -> Ignored:
    """What the adapter that made a listing table ignored (nothing, for a table of another origin)."""
    raw = (table.schema.metadata or {}).get(IGNORED_KEY)
    if not raw:
        return Ignored()
    data = json.loads(raw)
    return Ignored(int(data["count"]), tuple(data["examples"]))


class Listing:
    """Collects the rows of one adapter run and makes the SOURCE_ITEMS table.

    `add` fills the derived columns: item_id, corpus, layout, license, labelled (source.labelled and a
    transcript exists), language_raw (source.language when the item has none), speaker_source (speaker_raw where
    the source's licence and `speaker_ids` keep it: manifests.licences). `table()` drops repeated
    item ids (the first listing wins; its meta counts the repeats and a repeat that disagrees on the
    transcript or split sets a listing_error) and sorts by source_uri, start, end, channel.
    `ignore(path)` counts a file of the source tree that is no item (see `ignored_files`). A layout whose
    listing splits into parts (one per manifest file or data dir) lists each part with a Listing of its own and
    `part_table()`; `merge_repeats` then makes one row of an item that several parts list, as here.
    """

    def __init__(self, source: SourceConfig, layout: str) -> None:
        self.source = source
        self.layout = layout
        # ids hash the location within the source, so a corpus moved to another folder keeps its ids
        self._root = realpath(os.path.abspath(source.path)).rstrip("/") + "/"
        self._rows: dict[str, dict[str, Any]] = {}
        self._dups: dict[str, list[tuple[str | None, str | None]]] = {}
        self._ignored = 0
        self._ignored_examples: list[str] = []
        # what `outside` keeps audio paths within: the source folder as given (not resolved: manifests join
        # their paths to it as given), or the folder of a source that is one file (a Parquet file)
        inside = os.path.normpath(os.path.abspath(source.path))
        self._inside = os.path.dirname(inside) if os.path.isfile(inside) else inside

    def __len__(self) -> int:
        return len(self._rows)

    def ignore(self, path: str | os.PathLike[str]) -> None:
        """Count a file that is neither audio nor a manifest/sidecar this layout reads."""
        self._ignored += 1
        if len(self._ignored_examples) < IGNORED_EXAMPLES:
            text = printable(os.fsdecode(path))
            self._ignored_examples.append(text[len(self._root):] if text.startswith(self._root) else text)

    def outside(self, base: str | os.PathLike[str], declared: str, where: str) -> ListingProblem | None:
        """A `path_outside_source` listing_error when an audio path as a manifest writes it is absolute or,
        joined to `base`, leads out of the source folder (`..`); None when it stays inside. Judged on the
        path as written (symlinks inside the source are the source's own), so it is checked before any
        file is opened (the source folder is the folder of a source that is one file). For layouts whose
        manifests come from the corpus or a partner, not the user's own toolkit (Kaldi, Lhotse, SpeechBrain,
        NeMo manifests name files anywhere, as their tools write them)."""
        text = declared.replace("\\", "/")
        if os.path.isabs(text) or (len(text) > 1 and text[1] == ":"):
            return error(Reason.PATH_OUTSIDE_SOURCE, f"{where}: audio path {declared!r} is absolute")
        joined = os.path.normpath(os.path.join(os.path.abspath(base), text))
        root = self._inside
        if joined != root and not joined.startswith(root.rstrip("/") + "/"):
            return error(Reason.PATH_OUTSIDE_SOURCE, f"{where}: audio path {declared!r} leads out of {root}")
        return None

    def add(self, source_uri: str, *, start: float | None = None, end: float | None = None,
            channel: int | None = None, raw_text: str | None = None, speaker_raw: str | None = None,
            split: str | None = "train", language_raw: str | None = None, listing_error: ListingProblem | None = None,
            meta: Mapping[str, Any] | None = None, labelled: bool | None = None,
            license: str | None = None) -> None:
        src = self.source
        source_uri, uri_problem = checked_uri(source_uri)
        if listing_error is None:
            listing_error = uri_problem
        location = source_uri[len(self._root):] if source_uri.startswith(self._root) else source_uri
        iid = item_id(src.name, location, start, end, channel)
        if iid in self._rows:
            self._dups.setdefault(iid, []).append((raw_text, split))
            return
        if raw_text is not None and not is_clean_fast(raw_text):  # a safety net: adapters check first
            raw_text = None
            listing_error = listing_error or error(Reason.TRANSCRIPT_NOT_UTF8,
                                                   f"{source_uri}: transcript is not valid UTF-8")
        speaker_raw, language_raw, license = (v if v is None or is_clean_fast(v) else printable(v)
                                              for v in (speaker_raw, language_raw, license))
        if labelled is None:
            labelled = src.labelled and raw_text is not None
        self._rows[iid] = {
            "item_id": iid, "item_version": None, "corpus": src.name, "layout": self.layout, "source_uri": source_uri,
            "start": start, "end": end, "channel": channel, "raw_text": raw_text,
            "speaker_raw": speaker_raw or None,
            "speaker_source": (speaker_raw or None) if keeps_speaker_ids(src.speaker_ids, self.layout,
                                                                         license or src.license) else None,
            "split": split, "language_raw": language_raw or src.language,
            "license": license or src.license, "labelled": bool(labelled), "listing_error": listing_error,
            "meta": dict(meta) if meta else None,
        }

    def table(self) -> pa.Table:
        """The SOURCE_ITEMS table of what was added (see the class doc)."""
        return self._table(parts=False)

    def part_table(self) -> pa.Table:
        """`table()` of one part of a source's listing (see `merge_repeats`), with the PART_COLUMNS that say how
        its rows merge with the rows other parts give for the same item."""
        return self._table(parts=True)

    def _table(self, *, parts: bool) -> pa.Table:
        rows = self._rows
        merge: dict[str, tuple[int, bool, bool]] = {}
        for iid, dups in self._dups.items():
            row = rows[iid]
            agree = not any(text != row["raw_text"] or split != row["split"] for text, split in dups)
            merge[iid] = (len(dups) + 1, agree, row["listing_error"] is None)
            row["meta"] = {**(row["meta"] or {}), "listed_times": len(dups) + 1}
            if row["listing_error"] is None and not agree:
                row["listing_error"] = _repeated(row["source_uri"], len(dups) + 1)
        ordered = sorted(rows.values(), key=_sort_key)
        columns: dict[str, list[Any]] = {name: [row[name] for row in ordered] for name in _COLUMNS}
        metas = columns["meta"]
        texts = [None if m is None else _meta_json(m) for m in metas]
        columns["meta"] = [None if t is None else printable(t) for t in texts]
        arrays = [pa.array(columns[f.name], type=f.type) for f in SOURCE_ITEMS]
        table = conform(pa.Table.from_arrays(arrays, schema=SOURCE_ITEMS), SOURCE_ITEMS)
        if parts:
            found = [merge.get(row["item_id"], (1, True, row["listing_error"] is None)) for row in ordered]
            extra = {
                "part_times": [f[0] for f in found],
                "part_agree": [f[1] for f in found],
                "part_clean": [f[2] for f in found],
                # the meta object, where the column's text (printable) is not JSON that reads back as it
                "part_meta": [None if text is None or text == shown else
                              json.dumps(m, sort_keys=True, ensure_ascii=True, default=str)
                              for m, text, shown in zip(metas, texts, columns["meta"], strict=True)],
            }
            for f in PART_COLUMNS:
                table = table.append_column(f, pa.array(extra[f.name], f.type))
        ignored = json.dumps({"count": self._ignored, "examples": self._ignored_examples}).encode()
        return table.replace_schema_metadata({**(table.schema.metadata or {}), IGNORED_KEY: ignored})


#: What `Listing.part_table` adds to SOURCE_ITEMS for `merge_repeats`: how many times the part listed the item,
#: whether those listings agree on transcript and split, whether the first of them had no listing_error, and
#: the meta object as JSON that reads back exactly (null where the meta column's text does).
PART_COLUMNS = pa.schema([pa.field("part_times", pa.int32(), False), pa.field("part_agree", pa.bool_(), False),
                          pa.field("part_clean", pa.bool_(), False), pa.field("part_meta", pa.string())])


def _meta_json(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)


def _repeated(source_uri: str, times: int) -> ListingProblem:
    return error(Reason.LISTING_ERROR, f"{source_uri} is listed {times} times with different transcripts or splits")


def merge_repeats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The SOURCE_ITEMS row of an item that several parts of a source's listing gave (rows of `part_table`, in
    the order the parts list: a manifest file or data dir before the next), as one Listing of every part gives
    it: the first listing wins, its meta counts all of them, and listings that disagree on the transcript or
    the split make a listing_error (unless the first had one of its own)."""
    first = rows[0]
    times = sum(r["part_times"] for r in rows)
    agree = all(r["part_agree"] for r in rows) and all(
        r["raw_text"] == first["raw_text"] and r["split"] == first["split"] for r in rows[1:])
    meta = json.loads(first["part_meta"] or first["meta"] or "{}")
    row = {name: first[name] for name in _COLUMNS}
    row["meta"] = printable(_meta_json({**meta, "listed_times": times}))
    if first["part_clean"]:
        row["listing_error"] = None if agree else _repeated(first["source_uri"], times)
    return row


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    start, end, channel = row["start"], row["end"], row["channel"]
    return (row["source_uri"], start is not None, start or 0.0, end is not None, end or 0.0,
            channel is not None, channel or 0)
