"""LibriSpeech (and LibriTTS-style trees): `<subset>/<speaker>/<chapter>/<spk>-<ch>-<NNNN>.flac` with one
`<spk>-<ch>.trans.txt` per chapter, lines `<utt-id> TRANSCRIPT`.

The root may hold subsets (`train-clean-100/`, `dev-other/`...) or be one subset; every *.trans.txt
under it is read. The split comes from the nearest folder, from the chapter up to the root itself,
whose name says one (`train-*` -> train, `dev-*` -> dev, `test-*` -> test), else train.
An utterance whose audio is not `<utt-id>.flac` is looked for with the other audio extensions.
Audio files of a chapter that no transcript line names are listed too, unlabelled, with a
listing_error, so that nothing in the tree is skipped silently.
"""

from __future__ import annotations

import os

import pyarrow as pa

from omnicorpus.corpus.listing import (
    AUDIO_EXTENSIONS,
    FileIndex,
    Listing,
    decode,
    error,
    is_audio_name,
    line_uri,
    printable,
    read_lines,
    require_dir,
    split_from_name,
    walk,
)
from omnicorpus.manifests.schema import Reason
from omnicorpus.pipelines.config import SourceConfig

LAYOUT = "librispeech"
TRANS_SUFFIX = ".trans.txt"


def _split_and_subset(root: str, directory: str) -> tuple[str, str | None]:
    rel = os.path.relpath(directory, root)
    names = [] if rel == "." else rel.split(os.sep)
    names.insert(0, os.path.basename(os.path.abspath(root)))
    for name in reversed(names):
        split = split_from_name(name)
        if split is not None:
            return split, name
    return "train", None


def _list_chapter(listing: Listing, root: str, dirpath: str, trans_files: list[str],
                  files: FileIndex) -> None:
    split, subset = _split_and_subset(root, dirpath)
    entries = files.entries(dirpath) or {}
    named: set[str] = set()
    chapter = os.path.basename(dirpath)
    speaker_dir = os.path.basename(os.path.dirname(dirpath))
    for trans_name in trans_files:
        trans = os.path.join(dirpath, trans_name)
        for lineno, raw in read_lines(trans):
            if not raw.strip():
                continue
            utt_raw, _, text_raw = raw.partition(b" ")
            utt = printable(utt_raw.strip().decode("utf-8", "surrogateescape"))
            where = f"{trans} line {lineno}"
            raw_text = decode(text_raw)
            problem = None
            if raw_text is None:
                problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: transcript is not valid UTF-8")
            speaker = utt.split("-")[0] if "-" in utt else speaker_dir
            meta = {"utterance": utt, "chapter": chapter, "subset": subset}
            if not utt:
                listing.add(line_uri(trans, lineno), raw_text=raw_text, speaker_raw=speaker, split=split,
                            meta=meta, listing_error=error(Reason.LISTING_ERROR, f"{where}: no utterance id"))
                continue
            name = next((utt + ext for ext in AUDIO_EXTENSIONS if utt + ext in entries), utt + ".flac")
            named.add(name)
            uri, exists = files.resolve(os.path.join(dirpath, name))
            if not exists:
                problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
            listing.add(uri, raw_text=raw_text, speaker_raw=speaker, split=split, listing_error=problem,
                        meta=meta)
    for name in sorted(entries):
        if name in named or not is_audio_name(name):
            continue
        uri, _ = files.resolve(os.path.join(dirpath, name))
        stem = name.rsplit(".", 1)[0]
        listing.add(uri, speaker_raw=stem.split("-")[0] if "-" in stem else speaker_dir, split=split,
                    meta={"utterance": stem, "chapter": chapter, "subset": subset},
                    listing_error=error(Reason.LISTING_ERROR,
                                        f"{uri}: no transcript line in {', '.join(trans_files)}"))


def list_items(source: SourceConfig) -> pa.Table:
    root = str(require_dir(source.path, LAYOUT).absolute())
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    found = False
    for dirpath, _dirnames, filenames in walk(root):
        trans = [f for f in filenames if f.endswith(TRANS_SUFFIX)]
        if trans:
            found = True
            _list_chapter(listing, root, dirpath, trans, files)
    if not found:
        raise ValueError(f"{LAYOUT}: no *{TRANS_SUFFIX} file under {root}")
    return listing.table()
