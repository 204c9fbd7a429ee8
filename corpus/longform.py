"""Unlabelled long recordings: every audio file under the root, recursively (hidden files and folders
skipped). `<root>/<language>/<...>/<file>` gives language_raw from the first folder level under the
root when that name reads as a language code (2-3 letters, optionally with a script and/or region:
`sw`, `swh`, `swh_Latn`, `en-US`; `und` means unknown and stays `und`), else source.language.
raw_text is null and labelled false for every item; split is train.
"""

from __future__ import annotations

import os

import pyarrow as pa

from omnicorpus.corpus.listing import (
    AUDIO_EXTENSIONS,
    FileIndex,
    Listing,
    is_audio_name,
    language_dir,
    require_dir,
)
from omnicorpus.pipelines.config import SourceConfig

LAYOUT = "longform"


def list_items(source: SourceConfig) -> pa.Table:
    root = str(require_dir(source.path, LAYOUT).absolute())
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        language = None if rel == "." else language_dir(rel.split(os.sep)[0])
        for name in sorted(filenames):
            if name.startswith(".") or not is_audio_name(name):
                continue
            uri, _ = files.resolve(os.path.join(dirpath, name))
            listing.add(uri, language_raw=language, labelled=False, split="train")
    if not len(listing):
        raise ValueError(f"{LAYOUT}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}")
    return listing.table()
