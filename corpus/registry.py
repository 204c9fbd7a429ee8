"""The corpus adapters by layout name, layout detection, and `list_source`.

`detect_layout` looks only at names and small headers (never at audio), with bounded searches, in this
order: lhotse (Lhotse recordings / supervisions / cuts manifests at the root: the most specific sign,
so it goes first), community (a metadata.csv with a consent column, at the root or up to two levels
down), kaldi (a wav.scp, up to five levels down: egs/<recipe>/s5/data/<dir>/), common_voice (locale
folders with validated.tsv, or clips/ and a split TSV), fleurs (folders with a split TSV and audio/),
librispeech (a *.trans.txt or LibriTTS *.trans.tsv up to four levels down, or an MLS transcripts.txt
beside audio/ up to three), hf_parquet (a *.parquet with an audio column, up
to four levels down), folder (a root manifest: SpeechBrain CSV / JSON, NeMo JSON lines, LJSpeech
metadata.csv, a table with an audio path column, Hugging Face audiofolder metadata one or two folders
down; or a manifest-like file at the root that folder rejects with its own error; or audio files).
Long-form audio cannot be told from metadata: it detects as `folder`; name `longform` explicitly.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.corpus import (
    common_voice,
    community,
    fleurs,
    folder,
    hf_parquet,
    kaldi,
    lhotse,
    librispeech,
    longform,
)
from omnicorpus.corpus.files import subdirs
from omnicorpus.corpus.listing import AUDIO_EXTENSIONS, is_audio_name
from omnicorpus.manifests.config import SourceConfig

ADAPTERS: dict[str, Callable[[SourceConfig], pa.Table]] = {
    "common_voice": common_voice.list_items,
    "fleurs": fleurs.list_items,
    "librispeech": librispeech.list_items,
    "kaldi": kaldi.list_items,
    "lhotse": lhotse.list_items,
    "hf_parquet": hf_parquet.list_items,
    "folder": folder.list_items,
    "longform": longform.list_items,
    "community": community.list_items,
}

#: Most folders a detection search looks into.
_MAX_DIRS = 2000
_SPLIT_TSVS = ("train.tsv", "dev.tsv", "test.tsv")

LOOKED_FOR = (
    "lhotse: recordings/supervisions/cuts[_<part>].jsonl[.gz] Lhotse manifests at the root",
    "community: metadata.csv with a consent column",
    "kaldi: wav.scp",
    "common_voice: <locale>/validated.tsv or <locale>/clips/ with train/dev/test.tsv",
    "fleurs: <code>/train|dev|test.tsv with <code>/audio/",
    "librispeech: <subset>/<speaker>/<chapter>/*.trans.txt, *.trans.tsv (LibriTTS), or transcripts.txt "
    "beside audio/ (MLS)",
    "hf_parquet: *.parquet with an audio column",
    "folder: audio files (" + ", ".join(AUDIO_EXTENSIONS) + ") or a root manifest of them (SpeechBrain "
    ".csv/.json, NeMo .json/.jsonl, LJSpeech metadata.csv, a .csv/.tsv/.jsonl with an audio path column)",
)


def _find(root: Path, match: Callable[[str], bool], max_depth: int) -> str | None:
    """Path of the first file (breadth first, sorted) within `max_depth` levels below root whose
    name matches; hidden folders skipped; stops after _MAX_DIRS folders."""
    queue: deque[tuple[str, int]] = deque([(str(root), 0)])
    seen = 0
    while queue and seen < _MAX_DIRS:
        directory, depth = queue.popleft()
        seen += 1
        subdirs = []
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if depth < max_depth and not entry.name.startswith("."):
                                subdirs.append(entry.name)
                        elif match(entry.name):
                            return entry.path
                    except OSError:
                        continue
        except OSError:
            continue
        queue.extend((os.path.join(directory, d), depth + 1) for d in sorted(subdirs))
    return None


def _header(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            line = f.readline().decode("utf-8", "replace").lstrip("\ufeff")
    except OSError:
        return []
    return [c.strip().lower() for c in next(csv.reader([line]), [])]


def _candidates(root: Path) -> list[Path]:
    """The root and its sub-folders (sorted), for layouts whose root may be one unit or a folder of them."""
    return [root, *subdirs(root)]


def _is_community(root: Path) -> bool:
    paths = [root / community.METADATA]
    for sub in _candidates(root)[1:]:
        paths.append(sub / community.METADATA)
        paths.extend(p / community.METADATA for p in _candidates(sub)[1:])
    return any(p.is_file() and "consent" in _header(str(p)) for p in paths)


def _is_common_voice(root: Path) -> bool:
    for d in _candidates(root):
        if (d / common_voice.VALIDATED).is_file():
            return True
        if (d / "clips").is_dir() and any((d / t).is_file() for t in _SPLIT_TSVS):
            return True
    return False


def _is_fleurs(root: Path) -> bool:
    return any((d / "audio").is_dir() and any((d / t).is_file() for t in _SPLIT_TSVS)
               for d in _candidates(root))


def _is_librispeech(root: Path) -> bool:
    """LibriSpeech *.trans.txt, LibriTTS(-R) *.trans.tsv (not macOS `._` companions), or MLS's
    <split>/transcripts.txt beside an audio/ folder."""
    if _find(root, lambda n: not n.startswith("._") and n.endswith(
            (librispeech.TRANS_SUFFIX, librispeech.TTS_TRANS_SUFFIX)), 4):
        return True
    found = _find(root, lambda n: n == librispeech.MLS_TRANSCRIPTS, 3)
    return found is not None and os.path.isdir(os.path.join(os.path.dirname(found), librispeech.MLS_AUDIO_DIR))


def _is_hf_parquet(root: Path) -> bool:
    found = _find(root, lambda n: n.endswith(".parquet"), 4)
    return found is not None and hf_parquet.has_audio_column(found)


def _is_folder(root: Path) -> bool:
    # a manifest folder reads, or one it rejects with its own error (which names the file)
    return folder.has_manifest(root) or _find(root, is_audio_name, 6) is not None


def detect_layout(path: str) -> str:
    """The layout of the source at `path` (see the module doc); ValueError when none matches."""
    root = Path(path)
    if not root.exists():
        raise ValueError(f"cannot detect a layout: {root} does not exist")
    if root.is_file():
        if root.suffix == ".parquet" and hf_parquet.has_audio_column(root):
            return "hf_parquet"
        raise ValueError(f"cannot detect a layout: {root} is a file (only a Parquet file with audio can be)")
    checks: tuple[tuple[str, Callable[[Path], bool]], ...] = (
        ("lhotse", lhotse.detect),
        ("community", _is_community),
        # a data dir, up to a Kaldi tree's egs/<recipe>/s5/data/<dir>/wav.scp
        ("kaldi", lambda r: _find(r, lambda n: n == "wav.scp", 5) is not None),
        ("common_voice", _is_common_voice),
        ("fleurs", _is_fleurs),
        ("librispeech", _is_librispeech),
        ("hf_parquet", _is_hf_parquet),
        ("folder", _is_folder),
    )
    for layout, check in checks:
        if check(root):
            return layout
    raise ValueError(f"cannot detect a layout for {root}: looked for " + "; ".join(LOOKED_FOR))


def _resolved(source: SourceConfig) -> SourceConfig:
    """The source with its layout resolved (`auto` by detect_layout); ValueError for what no adapter lists."""
    if "://" in source.path:
        raise ValueError(f"{source.name}: adapters list local folders only, not {source.path}")
    layout = source.layout
    if layout == "auto":
        layout = detect_layout(source.path)
    if layout not in ADAPTERS:
        raise ValueError(f"{source.name}: unknown layout {layout!r}; one of {', '.join(ADAPTERS)} or auto")
    return dataclasses.replace(source, layout=layout)


def list_source(source: SourceConfig) -> tuple[pa.Table, str]:
    """(SOURCE_ITEMS table, layout used) of a source; layout `auto` is resolved by detect_layout."""
    resolved = _resolved(source)
    return ADAPTERS[resolved.layout](resolved), resolved.layout


#: Layouts whose listing splits into parts that list on their own, in parallel: (the parts, list one part).
#: folder: one part per manifest file (NeMo, SpeechBrain, table manifests split over many files) and the walk
#: of the tree; kaldi: one part per data dir. Every other layout is one part, the whole source.
PARTED: dict[str, tuple[Callable[[SourceConfig], list[Any]], Callable[[SourceConfig, Any], pa.Table]]] = {
    "folder": (folder.list_parts, folder.list_part),
    "kaldi": (kaldi.list_parts, kaldi.list_part),
}


@dataclasses.dataclass(frozen=True)
class SourcePart:
    """One part of a source's listing (see PARTED): what `list_part` lists, in a task of its own. Where two
    parts of a source list the same item, the one of lower `index` is the first listing of it."""

    source: SourceConfig  # its layout resolved
    index: int
    part: Any  # the adapter's description of the part; None: the whole source


def source_parts(source: SourceConfig) -> list[SourcePart]:
    """The parts of a source's listing, found from names and manifests' first bytes (never audio, never a
    whole manifest); ValueError as list_source, for a source that cannot be listed."""
    resolved = _resolved(source)
    if resolved.layout not in PARTED:
        return [SourcePart(resolved, 0, None)]
    parts, _ = PARTED[resolved.layout]
    return [SourcePart(resolved, i, p) for i, p in enumerate(parts(resolved))]


def list_part(part: SourcePart) -> pa.Table:
    """The rows of one part of a source (`Listing.part_table()`: SOURCE_ITEMS and listing.PART_COLUMNS, the
    ignored files in the schema metadata; for a whole source, its `list_source` table: nothing merges with it);
    merge the items several parts of a source list with `listing.merge_repeats`."""
    if part.part is None:
        return ADAPTERS[part.source.layout](part.source)
    return PARTED[part.source.layout][1](part.source, part.part)
