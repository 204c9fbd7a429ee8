"""A tree of audio files and the sidecars beside them: the walk every folder-shaped layout shares (hidden
entries skipped, symlinked folders never followed, what is neither audio nor read counted as ignored) and
the `<stem>.txt` / `<stem>.json` sidecars that give an audio file its transcript, language, speaker and split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnicorpus.corpus.files import FileIndex
from omnicorpus.corpus.listing import Listing, error, is_audio_name, normalize_split, read_text_file
from omnicorpus.corpus.text import first_key, is_clean, printable, text_value
from omnicorpus.manifests.schema import ListingProblem, Reason


def audio_stems(names: list[str]) -> set[str]:
    """The stems of the audio files among `names` (whose `<stem>.txt` / `<stem>.json` are sidecars)."""
    return {n.rsplit(".", 1)[0] for n in names if is_audio_name(n)}


# --- sidecars --------------------------------------------------------------------------------------

def sidecar_json(path: str) -> tuple[dict[str, Any], ListingProblem | None]:
    """The sidecar object (strings decoded leniently) and a problem when it is not a JSON object."""
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8", "surrogateescape").lstrip("\ufeff"))
    except (json.JSONDecodeError, OSError) as exc:
        return {}, error(Reason.LISTING_ERROR, f"{path}: not a JSON object ({exc})")
    if not isinstance(obj, dict):
        return {}, error(Reason.LISTING_ERROR, f"{path}: not a JSON object")
    return obj, None


def sidecar_item(files: FileIndex, dirpath: str, stem: str, names: set[str]) -> dict[str, Any]:
    """listing.add keyword arguments from the `<stem>.txt` / `<stem>.json` sidecars (a sidecar that is no
    regular file, such as a symlink loop or a FIFO, is never opened: a listing_error)."""
    raw_text = language = speaker = None
    split: str | None = "train"
    text_problem: ListingProblem | None = None
    problems: list[str] = []
    meta: dict[str, Any] | None = None
    if stem + ".txt" in names:
        txt = os.path.join(dirpath, stem + ".txt")
        if not files.resolve_in(dirpath, stem + ".txt")[1]:
            text_problem = error(Reason.LISTING_ERROR, f"{txt}: {files.problem(txt)}")
        else:
            try:
                raw_text, text_problem = read_text_file(txt)
            except OSError as exc:
                text_problem = error(Reason.LISTING_ERROR, f"{txt}: {exc}")
    json_problem: ListingProblem | None = None
    if stem + ".json" in names:
        side = os.path.join(dirpath, stem + ".json")
        meta = {"sidecar": stem + ".json"}
        if files.resolve_in(dirpath, stem + ".json")[1]:
            obj, json_problem = sidecar_json(side)
        else:
            obj, json_problem = {}, error(Reason.LISTING_ERROR, f"{side}: {files.problem(side)}")
        key = first_key(obj, ("text", "transcript"))
        if key is not None and obj[key] is not None:
            raw_text, text_problem = text_value(obj[key]), None
            if raw_text is not None and not is_clean(raw_text):
                raw_text = None
                text_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{side}: {key} is not valid UTF-8")
        language, speaker = text_value(obj.get("language")), text_value(obj.get("speaker"))
        problems += [f"{k} is not valid UTF-8" for k, v in (("language", language), ("speaker", speaker))
                     if v is not None and not is_clean(v)]
        language = printable(language) if language else None
        speaker = printable(speaker) if speaker else None
        split_value = text_value(obj.get("split"))
        if split_value is not None:
            split = normalize_split(split_value)
            if split is None:
                problems.append(f"unknown split {printable(split_value)!r}")
        if problems:
            json_problem = json_problem or error(Reason.LISTING_ERROR, f"{side}: {'; '.join(problems)}")
    return {"raw_text": raw_text, "language_raw": language, "speaker_raw": speaker, "split": split,
            "meta": meta, "listing_error": json_problem or text_problem}


def walk_tree(listing: Listing, root: Path, files: FileIndex, read: set[str],
              on_audio: Callable[[str, str, set[str]], None] | None = None, sidecars: bool = True) -> int:
    """Walk the tree under root (in `os.walk` top-down order, names sorted; hidden files and folders
    skipped; symlinked folders not followed, so a symlink loop is never entered): call
    `on_audio(dirpath, name, names)` for each audio file (a symlink, dangling or looping, included: the
    callback tells, see `audio_problem`), and `listing.ignore` each file that is neither audio, nor in `read`
    (absolute paths, as given or resolved), nor (when `sidecars`) a `<stem>.txt` / `<stem>.json` beside an
    audio file. The directory listings are the FileIndex's own (one scandir per folder, shared with the
    existence checks; a stat only for a symlink). Returns the number of audio files."""
    count = 0
    stack = [str(root)]
    while stack:
        dirpath = stack.pop()
        entries = files.entries(dirpath)
        if entries is None:
            continue
        subdirs = []
        filenames = []
        for name, kind in entries.items():
            if FileIndex.is_folder(kind):
                if not name.startswith("."):
                    subdirs.append(name)
            elif FileIndex.is_link(kind) and os.path.isdir(os.path.join(dirpath, name)):
                continue  # a symlinked folder: not followed (as os.walk), so `ln -s . loop` is harmless
            else:
                filenames.append(name)
        stack.extend(os.path.join(dirpath, d) for d in sorted(subdirs, reverse=True))
        names = set(filenames)
        stems = audio_stems(filenames) if sidecars else set()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if is_audio_name(name):
                count += 1
                if on_audio is not None:
                    on_audio(dirpath, name, names)
                continue
            real = os.path.join(files.realdir(dirpath), name)
            if os.path.join(dirpath, name) in read or real in read:
                continue
            stem, _, ext = name.rpartition(".")
            if stem in stems and ext.lower() in ("txt", "json"):
                continue
            listing.ignore(real)
    return count


def audio_problem(files: FileIndex, path: str, exists: bool) -> ListingProblem | None:
    """A missing_file listing_error for an audio file found in a folder listing that is no regular file (a
    symlink loop, a dangling symlink, a FIFO...): None when it is one."""
    if exists:
        return None
    return error(Reason.MISSING_FILE, f"{path}: {files.problem(path)}")
