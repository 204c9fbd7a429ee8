"""Unlabelled long recordings: every audio file under the root, recursively (hidden files and folders
skipped). `<root>/<language>/<...>/<file>` gives language_raw from the first folder level under the
root when that name reads as a language code (2-3 letters, optionally with a script and/or region:
`sw`, `swh`, `swh_Latn`, `en-US`; `und` means unknown and stays `und`), else source.language.
raw_text is null and labelled false for every item; split is train. Every other file under the root
(hidden ones excepted; transcripts too, this layout reads none) is counted as ignored
(listing.ignored_files). An audio-named entry that is no regular file (a dangling symlink, a symlink loop,
a FIFO) is listed with a missing_file listing_error, never opened; symlinked folders are not followed
(so `ln -s . loop` is no endless tree).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from omnicorpus.corpus.files import FileIndex, require_dir
from omnicorpus.corpus.listing import AUDIO_EXTENSIONS, Listing, language_dir
from omnicorpus.corpus.tree import audio_problem, walk_tree
from omnicorpus.manifests.config import SourceConfig

LAYOUT = "longform"


def list_items(source: SourceConfig) -> pa.Table:
    root = str(require_dir(source.path, LAYOUT).absolute())
    listing = Listing(source, LAYOUT)
    files = FileIndex()

    def add(dirpath: str, name: str, _names: set[str]) -> None:
        rel = os.path.relpath(dirpath, root)
        language = None if rel == "." else language_dir(rel.split(os.sep)[0])
        path = os.path.join(dirpath, name)
        uri, exists = files.resolve(path)
        listing.add(uri, language_raw=language, labelled=False, split="train",
                    listing_error=audio_problem(files, path, exists))

    walk_tree(listing, Path(root), files, set(), add, sidecars=False)
    if not len(listing):
        raise ValueError(f"{LAYOUT}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}")
    return listing.table()
