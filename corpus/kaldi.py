"""Kaldi data directories: `wav.scp`, `text`, optional `segments`, `utt2spk`, `utt2lang` / `lang`.

The root is a data dir (it has a wav.scp) or a folder of them, found recursively; a data dir's own
sub-folders (`split4/1/`...) are not searched. Without `segments` there is one item per wav.scp entry,
its transcript the `text` line of the same id; with `segments` one item per segment line, with its
start/end and the recording's file as source_uri (an end of -1, Kaldi's "to the end", is null).

wav.scp values are rxfilenames, read as Kaldi reads them (see `omnicorpus.corpus.commands`):
  - a file: absolute, or relative. Kaldi's scripts run in the recipe folder (`egs/x/s5`, the parent of
    the nearest folder named `data` among the data dir and its ancestors up to three levels up: `s5`
    for `s5/data/train` and for `s5/data/local/train`), so a relative path is looked up there first,
    then in the data dir, then in the data dir's parents up to three levels; the first place where the
    file exists wins, and a path found nowhere is a missing_file naming where Kaldi would open it (the
    first place);
  - a decoder pipe that recipes and Lhotse's export_to_kaldi write (`flac -c -d -s X |`,
    `sox X -t wav -r 16k -b 16 -e signed - |`, `sph2pipe -f wav -p -c 2 X |`,
    `ffmpeg -i X -ar 16000 -map_channel 0.0.1 -f wav pipe:1 |`, and chains of them): no process is
    run; the item's source_uri is its input file X (resolved like a file), and the channel it keeps
    (0-based: sph2pipe `-c 2` and sox `remix 2` are channel 1) is the item's channel, so the two sides
    of a Switchboard conversation are two items;
  - any other command (`... |`): with the source's `allow_commands` false, listed with a
    command_not_allowed listing_error (source_uri the wav.scp line); with it true, an item whose
    source_uri is `pipe:<command without the |>` and whose meta `cwd` is the folder to run it in (the
    recipe folder, else the data dir), which ingest runs with `commands.run_command` (no shell). A
    command that needs a shell (`;`, `>`, `$VAR`, ...) is a listing_error either way;
  - an ark offset (`file.ark:123`) is a listing_error (archives are not read), a missing_file when the
    archive does not exist; `-` (standard input) is a listing_error.
Every command line's item has the rxfilename in meta `rxfilename` (and a decoder pipe's program in
meta `decoder`).

Utterances of `text` that neither `segments` nor wav.scp have are listed with a listing_error (their
source_uri is the text line). The split comes from the data dir's name (train/dev/test, eval -> test;
Common Voice's `valid_train` is train), else train; the language from utt2lang, else the first line
of a `lang` file, else source.language (codes or English names, `English`, `Mandarin Chinese`: see
manifests.languages). In each data dir, a file that is neither read (READ_FILES, the audio of a
wav.scp line) nor a standard Kaldi data-dir file (STANDARD_FILES, `utt2*` / `spk2*` / `reco2*`
tables, the conf/, log/, q/, .backup/, split*/ folders) is counted with `Listing.ignore`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.corpus.commands import ARK, FILE, PIPE, parse_rxfilename
from omnicorpus.corpus.files import FileIndex, require_dir, walk
from omnicorpus.corpus.listing import Listing, error, line_uri, split_from_name
from omnicorpus.corpus.text import decode, printable, read_lines
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "kaldi"
_WS = re.compile(rb"[ \t]+")
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
    __slots__ = ("uri", "problem", "meta", "channel")

    def __init__(self, uri: str, problem: ListingProblem | None, meta: dict[str, object],
                 channel: int | None = None) -> None:
        self.uri, self.problem, self.meta, self.channel = uri, problem, meta, channel


def recipe_folder(data_dir: Path) -> Path | None:
    """The folder Kaldi's scripts run in for this data dir: the parent of the nearest folder named
    `data` among the data dir and its ancestors up to _PARENT_LEVELS up (`egs/x/s5` for
    `egs/x/s5/data/train` and `egs/x/s5/data/local/train`), else None."""
    for folder in (data_dir, *list(data_dir.parents)[:_PARENT_LEVELS]):
        if folder.name == "data" and folder.parent != folder:
            return folder.parent
    return None


def _bases(data_dir: Path) -> list[str]:
    """Where a relative path of the data dir is looked up, in order: the recipe folder, the data dir,
    the data dir's parents up to _PARENT_LEVELS levels."""
    recipe = recipe_folder(data_dir)
    bases = [str(b) for b in ([recipe] if recipe else []) + [data_dir, *list(data_dir.parents)[:_PARENT_LEVELS]]]
    return list(dict.fromkeys(bases))


def _find(path: str, bases: list[str], files: FileIndex) -> tuple[str, bool]:
    """(resolved path, exists) of a path as written in the data dir: the first base where it exists,
    else where Kaldi would open it (the first base)."""
    if os.path.isabs(path):
        return files.resolve(path)
    for base in bases:
        uri, exists = files.resolve(os.path.join(base, path))
        if exists:
            return uri, True
    return files.resolve(os.path.join(bases[0], path))


def _recording(data_dir: Path, lineno: int, rx_bytes: bytes, files: FileIndex,
               source: SourceConfig) -> _Recording:
    scp = data_dir / "wav.scp"
    where = f"{scp} line {lineno}"
    text = rx_bytes.strip().decode("utf-8", "surrogateescape")
    meta: dict[str, object] = {}
    if not text:
        return _Recording(line_uri(scp, lineno), error(Reason.LISTING_ERROR, f"{where}: no path"), meta)
    if text == "-":
        return _Recording(line_uri(scp, lineno),
                          error(Reason.LISTING_ERROR, f"{where}: '-' reads standard input"), meta)
    rx = parse_rxfilename(text)
    bases = _bases(data_dir)
    if rx.kind != FILE:
        meta["rxfilename"] = printable(text)
    if rx.kind == FILE:
        uri, exists = _find(text, bases, files)
        if exists:
            return _Recording(uri, None, meta)
        return _Recording(uri, error(Reason.MISSING_FILE, f"{uri} (listed in {where})"), meta)
    if rx.kind == ARK:
        assert rx.path is not None
        uri, exists = _find(rx.path, bases, files)
        if exists:
            return _Recording(line_uri(scp, lineno),
                              error(Reason.LISTING_ERROR, f"{where}: ark offsets are not read: {text}"), meta)
        return _Recording(uri, error(Reason.MISSING_FILE, f"{uri} (archive of {text}, listed in {where})"), meta)
    if rx.kind == PIPE:
        assert rx.path is not None and rx.decoder is not None
        meta["decoder"] = rx.decoder
        uri, exists = _find(rx.path, bases, files)
        if exists:
            return _Recording(uri, None, meta, rx.channel)
        return _Recording(uri, error(Reason.MISSING_FILE, f"{uri} (read by the command {text}, listed in {where})"),
                          meta, rx.channel)
    # another command
    if rx.problem:
        return _Recording(line_uri(scp, lineno), error(
            Reason.LISTING_ERROR, f"{where}: command not run: it needs a shell ({rx.problem}), commands are run "
            f"without one: {text}"), meta)
    if not source.allow_commands:
        return _Recording(line_uri(scp, lineno), error(
            Reason.COMMAND_NOT_ALLOWED,
            f"{where}: command not run (set allow_commands: true on the source to run it): {text}"), meta)
    meta["cwd"] = bases[0]
    return _Recording(rx.uri, None, meta)


def data_dir_split(name: str) -> str:
    """The split a data dir's name says, else train. Kaldi's Common Voice recipe names its dirs
    `valid_train` / `valid_dev` / `valid_test` ("valid" for validated clips): the word after wins."""
    m = re.match(r"(?i)valid[_\-.](.+)$", name)
    return (split_from_name(m.group(1)) if m else None) or split_from_name(name) or "train"


def _list_data_dir(listing: Listing, data_dir: Path, files: FileIndex) -> None:
    split = data_dir_split(data_dir.name)
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
            recordings[reco] = _recording(data_dir, lineno, rx, files, listing.source)
        return recordings.get(reco)

    def transcript(utt: bytes) -> tuple[str | None, ListingProblem | None]:
        if utt not in texts:
            return None, None
        lineno, raw = texts[utt]
        text = decode(raw)
        if text is None:
            return None, error(Reason.TRANSCRIPT_NOT_UTF8, f"{text_path} line {lineno}: not valid UTF-8")
        return text, None

    def fields(utt: bytes) -> dict[str, Any]:
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
            listing.add(reco.uri, start=start, end=end_value, channel=reco.channel, raw_text=raw_text,
                        meta={**reco.meta, **meta}, listing_error=reco.problem or problem, **fields(utt))
    else:
        for reco_id in wavs:
            listed.add(reco_id)
            reco = recording(reco_id)
            assert reco is not None
            raw_text, problem = transcript(reco_id)
            meta = {**reco.meta, "data_dir": data_dir.name, "recording": _id(reco_id),
                    "utterance": _id(reco_id)}
            listing.add(reco.uri, channel=reco.channel, raw_text=raw_text, meta=meta,
                        listing_error=reco.problem or problem, **fields(reco_id))
    for utt, (lineno, _) in texts.items():
        if utt in listed:
            continue
        raw_text, problem = transcript(utt)
        listing.add(line_uri(text_path, lineno), raw_text=raw_text,
                    meta={"data_dir": data_dir.name, "utterance": _id(utt)}, **fields(utt),
                    listing_error=error(Reason.LISTING_ERROR,
                                        f"{text_path} line {lineno}: utterance {_id(utt)} has no audio "
                                        f"({'segments' if seg_path.is_file() else 'wav.scp'} lacks it)"))
    used = {reco.uri for reco_id in wavs if (reco := recording(reco_id)) is not None}
    _ignore_unread(listing, data_dir, used, files)


#: Files of a data dir the adapter reads.
READ_FILES = frozenset({"wav.scp", "text", "segments", "utt2spk", "utt2lang", "lang"})
#: Other files Kaldi's scripts (utils/validate_data_dir.sh, fix_data_dir.sh, copy_data_dir.sh,
#: subset_data_dir.sh, the recipes' data prep) and Lhotse's exporter write in a data dir.
STANDARD_FILES = frozenset({"spk2utt", "feats.scp", "cmvn.scp", "vad.scp", "images.scp", "frame_shift",
                            "glm", "stm"})
#: Per-utterance, per-speaker and per-recording tables: utt2dur, utt2num_frames, utt2uniq, utt2warp,
#: utt2gender, spk2gender, spk2warp, reco2dur, reco2file_and_channel, reco2vol, ...
_TABLE = re.compile(r"^(?:utt|spk|reco)2[a-z0-9_]+$")
#: Folders of a data dir that hold Kaldi's own work: conf/, log/, q/, .backup/, split<N>*/.
_KNOWN_DIR = re.compile(r"^(?:conf|log|q|\.backup|split\d+.*)$")


def _ignore_unread(listing: Listing, data_dir: Path, used: set[str], files: FileIndex) -> None:
    """`listing.ignore` each file in the data dir (sub-folders included, Kaldi's own folders left out)
    that is neither read, nor a standard data-dir file, nor the audio of a wav.scp line."""
    top = str(data_dir)
    for dirpath, dirnames, filenames in walk(top):
        at_top = dirpath == top
        if at_top:
            dirnames[:] = [d for d in dirnames if not _KNOWN_DIR.match(d)]
        for name in filenames:
            if at_top and (name in READ_FILES or name in STANDARD_FILES or _TABLE.match(name)):
                continue
            path = os.path.join(dirpath, name)
            if files.resolve(path)[0] not in used:
                listing.ignore(path)


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    for data_dir in data_dirs(root):
        _list_data_dir(listing, data_dir, files)
    return listing.table()


def list_parts(source: SourceConfig) -> list[Path]:
    """The parts of the source's listing, each listing on its own: its data dirs, in `list_items` order."""
    return data_dirs(require_dir(source.path, LAYOUT).absolute())


def list_part(source: SourceConfig, data_dir: Path) -> pa.Table:
    """`Listing.part_table()` of one data dir: the rows `list_items` gives for it."""
    listing = Listing(source, LAYOUT)
    _list_data_dir(listing, data_dir, FileIndex())
    return listing.part_table()
