"""Kaldi data directories: `wav.scp`, `text`, optional `segments`, `utt2spk`, `utt2lang` / `lang`.

The root is a data dir (it has a wav.scp) or a folder of them, found recursively; a data dir's own
sub-folders (`split4/1/`...) are not searched. Without `segments` there is one item per wav.scp entry,
its transcript the `text` line of the same id; with `segments` one item per segment line, with its
start/end and the recording's file as source_uri (an end of -1, Kaldi's "to the end", is null).

wav.scp paths are absolute or relative to the data dir (when a relative path does not exist there, it
is looked up relative to the data dir's parent folders, up to three levels: Kaldi recipes write them
relative to the recipe folder `s5/` of `s5/data/train`). A piped command (`... |`) or an ark offset
(`file.ark:123`) is listed with a listing_error: adapters run no commands and read no archives.
Utterances of `text` that neither `segments` nor wav.scp have are listed with a listing_error (their
source_uri is the text line). The split comes from the data dir's name (train/dev/test, eval -> test),
else train; the language from utt2lang, else the first line of a `lang` file, else source.language.
"""

from __future__ import annotations

import math
import os
import re
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
    split_from_name,
    walk,
)
from omnicorpus.manifests.schema import Reason
from omnicorpus.pipelines.config import SourceConfig

LAYOUT = "kaldi"
_WS = re.compile(rb"[ \t]+")
_ARK = re.compile(r"^(.*):(\d+)$")
_PARENT_LEVELS = 3


def data_dirs(root: Path) -> list[Path]:
    """Data dirs under root (root itself when it has a wav.scp); ValueError when there is none."""
    if (root / "wav.scp").is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in walk(str(root)):
        if "wav.scp" in filenames:
            found.append(Path(dirpath))
            dirnames.clear()
    if not found:
        raise ValueError(f"{LAYOUT}: no wav.scp in {root} or its sub-folders")
    return found


def _split_line(raw: bytes) -> tuple[bytes, bytes]:
    """(key, rest) of a Kaldi table line: the rest after the whitespace that follows the key."""
    raw = raw.lstrip(b" \t")
    parts = _WS.split(raw, maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else b"")


def _id(raw: bytes) -> str:
    return printable(raw.decode("utf-8", "surrogateescape"))


def _read_table(path: Path) -> dict[bytes, tuple[int, bytes]]:
    """key -> (line number, rest of line) of a Kaldi key-value file; {} when the file is absent."""
    table: dict[bytes, tuple[int, bytes]] = {}
    if not path.is_file():
        return table
    for lineno, raw in read_lines(path):
        if not raw.strip():
            continue
        key, rest = _split_line(raw)
        table.setdefault(key, (lineno, rest))
    return table


class _Recording:
    __slots__ = ("uri", "problem", "meta")

    def __init__(self, uri: str, problem: str | None, meta: dict[str, object]) -> None:
        self.uri, self.problem, self.meta = uri, problem, meta


def _recording(data_dir: Path, lineno: int, reco: bytes, rx: bytes, files: FileIndex) -> _Recording:
    scp = data_dir / "wav.scp"
    where = f"{scp} line {lineno}"
    text = rx.strip().decode("utf-8", "surrogateescape")
    meta: dict[str, object] = {}
    if not text:
        return _Recording(line_uri(scp, lineno), error(Reason.LISTING_ERROR, f"{where}: no path"), meta)
    if text.endswith("|"):
        meta["rxfilename"] = printable(text)
        return _Recording(line_uri(scp, lineno),
                          error(Reason.LISTING_ERROR, f"{where}: piped command is not run: {text}"), meta)
    candidates = [text] if os.path.isabs(text) else [
        os.path.join(str(base), text) for base in [data_dir, *list(data_dir.parents)[:_PARENT_LEVELS]]]
    for candidate in candidates:
        uri, exists = files.resolve(candidate)
        if exists:
            return _Recording(uri, None, meta)
    uri, _ = files.resolve(candidates[0])
    ark = _ARK.match(text)
    if ark and os.path.isfile(ark.group(1) if os.path.isabs(ark.group(1)) else data_dir / ark.group(1)):
        meta["rxfilename"] = printable(text)
        return _Recording(line_uri(scp, lineno),
                          error(Reason.LISTING_ERROR, f"{where}: ark offsets are not read: {text}"), meta)
    return _Recording(uri, error(Reason.MISSING_FILE, f"{uri} (listed in {where})"), meta)


def _list_data_dir(listing: Listing, data_dir: Path, files: FileIndex) -> None:
    split = split_from_name(data_dir.name) or "train"
    text_path = data_dir / "text"
    texts = _read_table(text_path)
    spk = _read_table(data_dir / "utt2spk")
    langs = _read_table(data_dir / "utt2lang")
    dir_lang = None
    lang_file = data_dir / "lang"
    if lang_file.is_file():
        lines = [_id(raw).strip() for _, raw in read_lines(lang_file)]
        dir_lang = next((line for line in lines if line), None)
    wavs = _read_table(data_dir / "wav.scp")
    recordings: dict[bytes, _Recording] = {}

    def recording(reco: bytes) -> _Recording | None:
        if reco not in recordings and reco in wavs:
            lineno, rx = wavs[reco]
            recordings[reco] = _recording(data_dir, lineno, reco, rx, files)
        return recordings.get(reco)

    def transcript(utt: bytes) -> tuple[str | None, str | None]:
        if utt not in texts:
            return None, None
        lineno, raw = texts[utt]
        text = decode(raw)
        if text is None:
            return None, error(Reason.TRANSCRIPT_NOT_UTF8, f"{text_path} line {lineno}: not valid UTF-8")
        return text, None

    def fields(utt: bytes) -> dict[str, object]:
        speaker = _id(spk[utt][1].strip()) if utt in spk else None
        lang = _id(langs[utt][1].strip()) if utt in langs else dir_lang
        return {"speaker_raw": speaker, "language_raw": lang, "split": split}

    seg_path = data_dir / "segments"
    listed: set[bytes] = set()
    if seg_path.is_file():
        for lineno, raw in read_lines(seg_path):
            if not raw.strip():
                continue
            utt, rest = _split_line(raw)
            listed.add(utt)
            parts = rest.split()
            where = f"{seg_path} line {lineno}"
            raw_text, problem = transcript(utt)
            meta: dict[str, object] = {"data_dir": data_dir.name, "utterance": _id(utt)}
            if len(parts) < 3:
                listing.add(line_uri(seg_path, lineno), raw_text=raw_text, meta=meta, **fields(utt),
                            listing_error=error(Reason.LISTING_ERROR,
                                                f"{where}: expected <utt> <reco> <start> <end>"))
                continue
            reco_id = parts[0]
            meta["recording"] = _id(reco_id)
            try:
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                listing.add(line_uri(seg_path, lineno), raw_text=raw_text, meta=meta, **fields(utt),
                            listing_error=error(Reason.BAD_OFFSETS, f"{where}: offsets are not numbers"))
                continue
            end_value: float | None = None if end == -1 else end
            if not (math.isfinite(start) and start >= 0 and (end_value is None or
                                                             (math.isfinite(end) and end > start))):
                problem = error(Reason.BAD_OFFSETS, f"{where}: start {start} end {end}")
            reco = recording(reco_id)
            if reco is None:
                listing.add(line_uri(seg_path, lineno), raw_text=raw_text, meta=meta, **fields(utt),
                            listing_error=error(Reason.LISTING_ERROR,
                                                f"{where}: recording {_id(reco_id)} is not in wav.scp"))
                continue
            listing.add(reco.uri, start=start, end=end_value, raw_text=raw_text, meta={**reco.meta, **meta},
                        listing_error=reco.problem or problem, **fields(utt))
    else:
        for reco_id in wavs:
            listed.add(reco_id)
            reco = recording(reco_id)
            assert reco is not None
            raw_text, problem = transcript(reco_id)
            meta = {**reco.meta, "data_dir": data_dir.name, "recording": _id(reco_id),
                    "utterance": _id(reco_id)}
            listing.add(reco.uri, raw_text=raw_text, meta=meta, listing_error=reco.problem or problem,
                        **fields(reco_id))
    for utt, (lineno, _) in texts.items():
        if utt in listed:
            continue
        raw_text, problem = transcript(utt)
        listing.add(line_uri(text_path, lineno), raw_text=raw_text,
                    meta={"data_dir": data_dir.name, "utterance": _id(utt)}, **fields(utt),
                    listing_error=error(Reason.LISTING_ERROR,
                                        f"{text_path} line {lineno}: utterance {_id(utt)} has no audio "
                                        f"({'segments' if seg_path.is_file() else 'wav.scp'} lacks it)"))


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    for data_dir in data_dirs(root):
        _list_data_dir(listing, data_dir, files)
    return listing.table()
