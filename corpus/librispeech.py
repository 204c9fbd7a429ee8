"""The LibriSpeech family of read-audiobook corpora, as OpenSLR distributes them.

- LibriSpeech: `<subset>/<speaker>/<chapter>/<spk>-<ch>-<NNNN>.flac` with one `<spk>-<ch>.trans.txt` per
  chapter, lines `<utt-id> TRANSCRIPT` (one space after the id).
- LibriTTS and LibriTTS-R: `<subset>/<speaker>/<chapter>/<spk>_<ch>_<par>_<sent>.wav` with one
  `<spk>_<ch>.trans.tsv` per chapter, lines `<utt-id>\\t<original text>\\t<normalized text>`, and per
  utterance `<utt-id>.original.txt` / `<utt-id>.normalized.txt`. raw_text is the original text (we
  normalize later ourselves); the normalized one goes to meta `normalized_text`. The per-utterance files
  are read only for audio that the chapter's trans.tsv does not name.
- Multilingual LibriSpeech (MLS): `mls_<language>[_opus]/<split>/transcripts.txt`, lines
  `<spk>_<book>_<utt>\\t<text>`, audio at `<split>/audio/<spk>/<book>/<spk>_<book>_<utt>.flac` (`.opus` in
  the opus variant), and `<split>/segments.txt` (`<utt-id>\\t<LibriVox mp3 URL>\\t<start>\\t<end>`), whose
  fields go to meta `librivox_url` / `librivox_start` / `librivox_end` (where in the LibriVox recording the
  utterance was cut from: provenance, not offsets into our files).

The root may be a whole corpus (`LibriSpeech/`, `mls_german/`, a folder holding several `mls_*`), one
subset / split, or one chapter. The split comes from the nearest folder, from the item's folder up to the
root itself, whose name says one (`train-*` / `train` -> train, `dev-*` -> dev, `test-*` -> test), else
train. Language: MLS items get the code of their `mls_<language>` folder (the root, one of its ancestors
or a folder between the root and the item; the folder names the language, as a Common Voice locale
folder does); LibriSpeech and LibriTTS are English: their items get source.language, else `en`.
An utterance whose audio is not `<utt-id>.<usual extension>` is looked for with the other audio
extensions. Audio files that no transcript line names are listed too, unlabelled, with a listing_error,
so that nothing in the tree is skipped silently; other files are counted as ignored (`Listing.ignore`)
unless the adapter reads them or the corpora ship them (READMEs, speaker / chapter / book tables,
licenses, LibriTTS `.book.tsv`, MLS `metainfo.txt` and limited-supervision `handles.txt`...).

The tree is walked once, one `os.scandir` per folder (shared with the existence checks).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from omnicorpus.corpus.files import FileIndex, require_dir
from omnicorpus.corpus.listing import (
    AUDIO_EXTENSIONS,
    Listing,
    error,
    is_audio_name,
    line_uri,
    read_text_file,
    split_from_name,
)
from omnicorpus.corpus.text import decode, lenient, printable, strip_eol
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "librispeech"
#: LibriSpeech chapter transcript: `<spk>-<ch>.trans.txt`.
TRANS_SUFFIX = ".trans.txt"
#: LibriTTS / LibriTTS-R chapter transcript: `<spk>_<ch>.trans.tsv`.
TTS_TRANS_SUFFIX = ".trans.tsv"
#: LibriTTS per-utterance texts.
ORIGINAL_SUFFIX = ".original.txt"
NORMALIZED_SUFFIX = ".normalized.txt"
#: MLS split folder files, beside its `audio/` folder.
MLS_TRANSCRIPTS = "transcripts.txt"
MLS_SEGMENTS = "segments.txt"
MLS_AUDIO_DIR = "audio"

#: The language LibriSpeech and LibriTTS are in.
ENGLISH = "en"
#: MLS folder language names -> language codes.
MLS_LANGUAGES = {
    "english": "en", "german": "de", "dutch": "nl", "french": "fr", "spanish": "es", "italian": "it",
    "portuguese": "pt", "polish": "pl",
}
_MLS_DIR = re.compile(r"mls_([a-z]+?)(_opus|_flac)?", re.IGNORECASE)

#: Files these corpora ship that are no item and that this adapter does not read (lowercase names):
#: LibriSpeech's root tables, LibriTTS(-R)'s root tables and notes, MLS's speaker table, license and
#: limited-supervision id lists.
KNOWN_FILES = frozenset({
    "readme.txt", "speakers.txt", "chapters.txt", "books.txt", "license.txt",
    "readme_librispeech.txt", "readme_libritts.txt", "readme_libritts_r.txt", "note.txt", "note",
    "reader_book.tsv", "eval_sentences10.tsv", "speakers.tsv",
    "metainfo.txt", "license", "readme", "handles.txt",
})
#: Per-chapter LibriTTS files that are no item: `.book.tsv` (the book's sentences), `.bad.tsv`.
KNOWN_SUFFIXES = (".book.tsv", ".bad.tsv")
_READ_SUFFIXES = (TRANS_SUFFIX, TTS_TRANS_SUFFIX, ORIGINAL_SUFFIX, NORMALIZED_SUFFIX)
_READ_NAMES = (MLS_TRANSCRIPTS, MLS_SEGMENTS)
_BOM = b"\xef\xbb\xbf"


def mls_language(name: str) -> tuple[str, bool] | None:
    """(language code, is the opus variant) of an MLS folder name (`mls_german`, `mls_polish_opus`)."""
    m = _MLS_DIR.fullmatch(name)
    if m is None or m.group(1).lower() not in MLS_LANGUAGES:
        return None
    return MLS_LANGUAGES[m.group(1).lower()], (m.group(2) or "").lower() == "_opus"


def is_transcript_name(name: str) -> bool:
    """A file name this layout reads transcripts from (`*.trans.txt`, `*.trans.tsv`, `transcripts.txt`)."""
    if name.startswith("._"):  # macOS AppleDouble companions, not text
        return False
    return name.endswith((TRANS_SUFFIX, TTS_TRANS_SUFFIX)) or name == MLS_TRANSCRIPTS


def _is_audio(name: str) -> bool:
    return is_audio_name(name) and not name.startswith("._")


def _is_expected(name: str) -> bool:
    """A file of these corpora that is no item: read by this adapter or shipped beside the audio."""
    if name.startswith("._"):
        return False
    lower = name.lower()
    return (lower in KNOWN_FILES or lower.endswith(KNOWN_SUFFIXES) or name.endswith(_READ_SUFFIXES)
            or name in _READ_NAMES)


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without line ending) of each line, streamed (MLS English's train
    transcripts.txt has 10.8 million lines); a UTF-8 BOM at the start is dropped."""
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and line.startswith(_BOM):
                line = line[3:]
            yield lineno, strip_eol(line)


def _speaker(utt: str, fallback: str) -> str:
    for sep in ("-", "_"):
        if sep in utt:
            return utt.split(sep, 1)[0]
    return fallback


@dataclasses.dataclass(frozen=True)
class _Where:
    """What a folder inherits from the folders above it."""

    split: str = "train"
    subset: str | None = None  # the name of the folder the split came from
    mls_language: str | None = None
    opus: bool = False
    mls_split: str | None = None  # transcripts.txt of the MLS split this folder is in

    def enter(self, name: str) -> _Where:
        split = split_from_name(name)
        mls = mls_language(name)
        return dataclasses.replace(
            self, split=split or self.split, subset=name if split else self.subset,
            mls_language=mls[0] if mls else self.mls_language, opus=mls[1] if mls else self.opus)


class _Segments:
    """segments.txt read alongside transcripts.txt: in step while the ids come in the same order (as
    MLS writes them), buffering the others."""

    def __init__(self, path: str | None) -> None:
        self._lines = _lines(path) if path else None
        self._pending: dict[str, list[bytes]] = {}

    def get(self, utt: str) -> dict[str, Any]:
        fields = self._pending.pop(utt, None)
        while fields is None and self._lines is not None:
            nxt = next(self._lines, None)
            if nxt is None:
                self._lines = None
                break
            parts = nxt[1].split(b"\t")
            sid = lenient(parts[0].strip())
            if sid == utt:
                fields = parts[1:]
            elif sid:
                self._pending[sid] = parts[1:]
        meta: dict[str, Any] = {}
        for key, value in zip(("librivox_url", "librivox_start", "librivox_end"), fields or (), strict=False):
            text = printable(lenient(value.strip()))
            if not text:
                continue
            if key != "librivox_url":
                try:
                    meta[key] = float(text)
                    continue
                except ValueError:
                    pass
            meta[key] = text
        return meta


class _Lister:
    def __init__(self, source: SourceConfig, root: str) -> None:
        self.source = source
        self.root = root
        self.listing = Listing(source, LAYOUT)
        self.files = FileIndex()
        #: folder -> names of its files that a transcript line stands for (listed already)
        self.claimed: dict[str, set[str]] = {}
        self.found = False

    def language(self, where: _Where) -> str | None:
        if where.mls_language:
            return where.mls_language
        if where.mls_split:  # MLS in a folder whose name does not say the language
            return self.source.language
        return self.source.language or ENGLISH

    def run(self) -> pa.Table:
        start = _Where().enter(os.path.basename(self.root))
        if start.mls_language is None:  # the root inside an `mls_<language>` folder
            parent = os.path.dirname(self.root)
            while parent and start.mls_language is None:
                mls = mls_language(os.path.basename(parent))
                if mls:
                    start = dataclasses.replace(start, mls_language=mls[0], opus=mls[1])
                up = os.path.dirname(parent)
                parent = "" if up == parent else up
        stack = [(self.root, start)]
        while stack:
            dirpath, where = stack.pop()
            subdirs, where = self.visit(dirpath, where)
            stack.extend((os.path.join(dirpath, name), where.enter(name)) for name in reversed(subdirs))
        if not self.found:
            raise ValueError(f"{LAYOUT}: no *{TRANS_SUFFIX}, *{TTS_TRANS_SUFFIX} or {MLS_TRANSCRIPTS} file "
                             f"under {self.root}")
        return self.listing.table()

    def visit(self, dirpath: str, where: _Where) -> tuple[list[str], _Where]:
        """List one folder: its transcripts first, then its other files. Returns its sub-folders (sorted)
        and what they inherit."""
        entries = self.files.entries(dirpath)
        if entries is None:
            return [], where
        names = sorted(entries)
        trans = [n for n in names if is_transcript_name(n) and self.files.resolve_in(dirpath, n)[1]]
        if MLS_TRANSCRIPTS in trans:
            where = dataclasses.replace(where, mls_split=os.path.join(dirpath, MLS_TRANSCRIPTS))
        chapter = [n for n in trans if n != MLS_TRANSCRIPTS]
        for name in trans:
            self.found = True
            path = os.path.join(dirpath, name)
            if name == MLS_TRANSCRIPTS:
                segments = (os.path.join(dirpath, MLS_SEGMENTS) if MLS_SEGMENTS in entries
                            and self.files.resolve_in(dirpath, MLS_SEGMENTS)[1] else None)  # a file, not a loop
                self.mls_split(dirpath, path, segments, where)
            else:
                self.chapter(dirpath, path, name.endswith(TTS_TRANS_SUFFIX), where)
        claimed = self.claimed.pop(dirpath, set())
        subdirs = []
        for name in names:
            if name in claimed:
                continue
            uri, is_file = self.files.resolve_in(dirpath, name)
            path = os.path.join(dirpath, name)
            if not is_file and os.path.isdir(path):
                if not os.path.islink(path):  # symlinked folders are not followed (as os.walk)
                    subdirs.append(name)
                continue
            if _is_audio(name):
                self.unnamed(dirpath, name, uri, entries, chapter, where)
            elif not _is_expected(name):
                self.listing.ignore(path)
        return subdirs, where

    def add_named(self, utt: str, target: str, default_ext: str, where_line: str, **row: Any) -> None:
        """Add the item of a transcript line: the audio `<utt><ext>` in folder `target`."""
        entries = self.files.entries(target) or {}
        name = next((utt + ext for ext in (default_ext, *AUDIO_EXTENSIONS) if utt + ext in entries),
                    utt + default_ext)
        self.claimed.setdefault(target, set()).add(name)
        uri, exists = self.files.resolve_in(target, name)
        if not exists:
            row["listing_error"] = error(Reason.MISSING_FILE, f"{printable(uri)} (listed in {where_line})")
        self.listing.add(uri, **row)

    def chapter(self, dirpath: str, trans: str, tts: bool, where: _Where) -> None:
        """A LibriSpeech `.trans.txt` (`<id> <text>`) or LibriTTS `.trans.tsv` (`<id>\\t<orig>\\t<norm>`)."""
        chapter = os.path.basename(dirpath)
        speaker_dir = os.path.basename(os.path.dirname(dirpath))
        language = self.language(where)
        for lineno, raw in _lines(trans):
            if not raw.strip():
                continue
            fields = raw.split(b"\t") if tts else list(raw.partition(b" ")[::2])
            utt_name = lenient(fields[0].strip())
            utt = printable(utt_name)
            where_line = f"{trans} line {lineno}"
            meta: dict[str, Any] = {"utterance": utt, "chapter": chapter, "subset": where.subset}
            problem = None
            raw_text = None
            if len(fields) > 1:
                raw_text = decode(fields[1])
                if raw_text is None:
                    problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where_line}: transcript is not valid UTF-8")
            elif tts:
                problem = error(Reason.LISTING_ERROR, f"{where_line}: no original text")
            if tts and len(fields) > 2:
                meta["normalized_text"] = printable(lenient(fields[2]))
            row: dict[str, Any] = {"raw_text": raw_text, "speaker_raw": _speaker(utt, speaker_dir),
                                   "split": where.split, "language_raw": language, "meta": meta}
            if not utt:
                self.listing.add(line_uri(trans, lineno), **row,
                                 listing_error=error(Reason.LISTING_ERROR, f"{where_line}: no utterance id"))
                continue
            self.add_named(utt_name, dirpath, ".wav" if tts else ".flac", where_line, listing_error=problem, **row)

    def mls_split(self, dirpath: str, trans: str, segments: str | None, where: _Where) -> None:
        """An MLS split: transcripts.txt (`<spk>_<book>_<utt>\\t<text>`) naming `audio/<spk>/<book>/<id>.flac`."""
        audio = os.path.join(dirpath, MLS_AUDIO_DIR)
        default_ext = ".opus" if where.opus else ".flac"
        language = self.language(where)
        provenance = _Segments(segments)
        for lineno, raw in _lines(trans):
            if not raw.strip():
                continue
            utt_raw, _, text_raw = raw.partition(b"\t" if b"\t" in raw else b" ")
            utt_name = lenient(utt_raw.strip())
            utt = printable(utt_name)
            where_line = f"{trans} line {lineno}"
            parts = utt_name.split("_")
            raw_text = decode(text_raw)
            problem = None
            if raw_text is None:
                problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where_line}: transcript is not valid UTF-8")
            meta: dict[str, Any] = {"utterance": utt, "subset": where.subset}
            if len(parts) >= 3:
                meta["book"] = printable(parts[1])
            row: dict[str, Any] = {"raw_text": raw_text, "speaker_raw": printable(parts[0]) if utt else None,
                                   "split": where.split, "language_raw": language, "meta": meta}
            if not utt:
                self.listing.add(line_uri(trans, lineno), **row,
                                 listing_error=error(Reason.LISTING_ERROR, f"{where_line}: no utterance id"))
                continue
            meta.update(provenance.get(utt_name))
            target = os.path.normpath(os.path.join(audio, parts[0], parts[1])) if len(parts) >= 3 else audio
            self.add_named(utt_name, target, default_ext, where_line, listing_error=problem, **row)

    def read_text(self, dirpath: str, name: str) -> tuple[str | None, ListingProblem | None]:
        """`read_text_file` of a per-utterance text, which is never opened when it is no regular file (a
        symlink loop, a dangling symlink, a FIFO): a listing_error then."""
        path = os.path.join(dirpath, name)
        if not self.files.resolve_in(dirpath, name)[1]:
            return None, error(Reason.LISTING_ERROR, f"{printable(path)}: {self.files.problem(path)}")
        try:
            return read_text_file(path)
        except OSError as exc:
            return None, error(Reason.LISTING_ERROR, f"{printable(path)}: {exc.strerror or exc}")

    def unnamed(self, dirpath: str, name: str, uri: str, entries: dict[str, int], chapter_trans: list[str],
                where: _Where) -> None:
        """An audio file that no transcript line names: its LibriTTS `.original.txt` when there is one,
        else listed unlabelled with a listing_error."""
        stem = name.rsplit(".", 1)[0]
        parent = os.path.basename(dirpath)
        meta: dict[str, Any] = {"utterance": printable(stem), "subset": where.subset}
        if where.mls_split:
            meta["book"] = printable(parent)
        else:
            meta["chapter"] = printable(parent)
        row: dict[str, Any] = {"speaker_raw": printable(_speaker(stem, os.path.basename(os.path.dirname(dirpath)))),
                               "split": where.split, "language_raw": self.language(where), "meta": meta}
        if stem + ORIGINAL_SUFFIX in entries:
            text, problem = self.read_text(dirpath, stem + ORIGINAL_SUFFIX)
            if stem + NORMALIZED_SUFFIX in entries:
                normalized, _ = self.read_text(dirpath, stem + NORMALIZED_SUFFIX)
                if normalized is not None:
                    meta["normalized_text"] = normalized
            path = os.path.join(dirpath, name)
            if problem is None and not self.files.resolve_in(dirpath, name)[1]:  # a symlink loop, a FIFO...
                problem = error(Reason.MISSING_FILE, f"{printable(path)}: {self.files.problem(path)}")
            self.listing.add(uri, raw_text=text, listing_error=problem, **row)
            return
        if chapter_trans:
            detail = f"no transcript line in {', '.join(chapter_trans)}"
        elif where.mls_split:
            detail = f"no line of {where.mls_split}"
        else:
            detail = f"no *{TRANS_SUFFIX}, *{TTS_TRANS_SUFFIX} or {MLS_TRANSCRIPTS} line names it"
        self.listing.add(uri, listing_error=error(Reason.LISTING_ERROR, f"{printable(uri)}: {detail}"), **row)


def list_items(source: SourceConfig) -> pa.Table:
    root = os.path.abspath(require_dir(source.path, LAYOUT))
    return _Lister(source, root).run()
