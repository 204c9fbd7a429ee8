"""Lhotse manifests: a folder holding Lhotse's JSON-lines manifests (gzipped or not) at its root.

Files, as `RecordingSet.to_file` / `SupervisionSet.to_file` / `CutSet.to_file` and Lhotse's recipes name
them: `recordings.jsonl.gz` + `supervisions.jsonl.gz`, `cuts.jsonl.gz`, or
`<corpus>_recordings_<part>.jsonl.gz`, `<corpus>_supervisions_<part>.jsonl.gz`,
`<corpus>_cuts_<part>.jsonl.gz` (also `.jsonl`, `.json[.gz]` JSON arrays, and Shar's
`cuts.<shard>.jsonl.gz`); other `.json[l][.gz]` files at the root are read when their first object is a
Lhotse recording, supervision or cut. The part names the split (train / dev / test via
`listing.split_from_name`; train when there is none).

Items:
  - one per supervision: start = the supervision's start (+ the cut's start, for cuts), end = start +
    duration (both rounded to the microsecond), its text, speaker and language; the audio is the
    recording's source of type `file` (paths relative to the manifest's folder), `sources[0]`, or, for a
    recording whose several sources are one per channel, the source holding the supervision's channel.
    `channel` is the supervision's channel (else the cut's) as a 0-based index into that file, set only
    when the file has several channels and the supervision names one of them; a supervision over some
    but not all channels is a listing_error. A supervision's recording is looked up in the recordings
    manifest of the same name part first, then in every recordings manifest at the root.
  - a recording that no supervision (nor cut) refers to: one unlabelled item of the whole recording (one
    per source file when its channels are in several files); a cut without supervisions: one unlabelled
    item of the cut's span (the whole recording when the cut covers it).
  - sources of type url, command, memory or shar (and recordings with augmentation transforms other
    than Resample: speed / tempo / volume perturbed copies are not the file's audio) are listed with a
    listing_error naming the type; MixedCut (a mix of several tracks) too; PaddingCut is skipped.
Cuts of a name part that also has a supervisions manifest are not read (the same items, from the
recordings and supervisions); a supervision repeated in several cuts (`trim_to_supervisions` keeps the
overlapping ones) is listed once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.corpus import toolkits
from omnicorpus.corpus.files import FileIndex, files_in, require_dir
from omnicorpus.corpus.listing import Listing, error, line_uri, split_from_name
from omnicorpus.corpus.text import is_clean, printable, text_value
from omnicorpus.corpus.tree import walk_tree
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "lhotse"
KINDS = ("recordings", "supervisions", "cuts")
#: Transforms that keep a recording's audio (and timing) what its file holds, up to the sample rate.
_KEEPING_TRANSFORMS = ("Resample",)
_CUT_TYPES = ("MonoCut", "MultiCut", "Cut", "DataCut")


@dataclass(frozen=True)
class ManifestFile:
    path: Path
    kind: str  # recordings / supervisions / cuts
    key: tuple[str, str]  # (corpus prefix, part): recordings and supervisions with one key go together
    split: str | None


def _kind_of(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "sources" in obj and "sampling_rate" in obj:
        return "recordings"
    if "type" in obj:
        return "cuts"
    if "recording_id" in obj:
        return "supervisions"
    return None


def _first_object(path: Path) -> Any:
    try:
        if ".jsonl" in path.name.lower():
            return next((obj for _, obj, _ in toolkits.iter_json_lines(path) if obj is not None), None)
        data = toolkits.read_json(path)
        return data[0] if isinstance(data, list) and data else None
    except (OSError, ValueError, EOFError):
        return None


def find_manifests(root: Path) -> list[ManifestFile]:
    """The Lhotse manifests at the root (see the module doc), sorted by name."""
    found = []
    for name in files_in(root):
        if name.startswith(".") or not toolkits.manifest_suffix(name) or name.lower().endswith((".csv", ".tsv")):
            continue
        m = toolkits.lhotse_name(name)
        if toolkits.identify(root / name).kind != toolkits.LHOTSE:
            continue
        if m:
            prefix, part = (m.group("prefix") or ""), (m.group("part") or "")
            found.append(ManifestFile(root / name, m.group("kind").lower(), (prefix.lower(), part.lower()),
                                      split_from_name(part) if part else None))
            continue
        kind = _kind_of(_first_object(root / name))
        if kind:
            stem = name[: -len(toolkits.manifest_suffix(name) or "")]
            found.append(ManifestFile(root / name, kind, ("\0", stem.lower()), split_from_name(stem)))
    return found


def detect(root: Path) -> bool:
    """True when the root holds a Lhotse recordings, supervisions or cuts manifest."""
    return bool(find_manifests(root))


def _objects(mf: ManifestFile) -> Iterator[tuple[str, str, Any, str | None]]:
    """(where, fallback uri, object or None, problem) of each entry of a manifest."""
    uri = str(mf.path.absolute())
    if ".jsonl" in mf.path.name.lower():
        for lineno, obj, problem in toolkits.iter_json_lines(mf.path):
            yield f"{mf.path} line {lineno}", line_uri(uri, lineno), obj, problem
        return
    try:
        data = toolkits.read_json(mf.path)
    except (ValueError, OSError, EOFError) as exc:
        yield f"{mf.path}", line_uri(uri, 1), None, str(exc)
        return
    if not isinstance(data, list):
        yield f"{mf.path}", line_uri(uri, 1), None, "not a JSON array of manifest entries"
        return
    for i, obj in enumerate(data, 1):
        if isinstance(obj, dict):
            yield f"{mf.path} entry {i}", f"{uri}#item={i}", obj, None
        else:
            yield f"{mf.path} entry {i}", f"{uri}#item={i}", None, f"entry {i} is not a JSON object"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _channels(value: Any) -> list[int] | None:
    """A Lhotse channel value (int or list of ints) as a list; None when absent; ValueError if malformed."""
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in values):
        raise ValueError(f"channel {value!r} is not an int or a list of ints")
    return list(values)


@dataclass
class _Recording:
    obj: dict[str, Any]
    manifest: ManifestFile
    where: str
    uri: str


@dataclass
class _Run:
    listing: Listing
    files: FileIndex
    recordings: dict[str, _Recording] = field(default_factory=dict)
    by_key: dict[tuple[str, str], dict[str, _Recording]] = field(default_factory=dict)
    covered: set[str] = field(default_factory=set)
    seen: set[tuple[Any, ...]] = field(default_factory=set)


def _pick_source(rec: dict[str, Any], wanted: list[int] | None
                 ) -> tuple[dict[str, Any] | None, int | None, str | None]:
    """(source, channel index in its file or None, problem) for the channels an item wants (None: all)."""
    sources = [s for s in rec.get("sources") or [] if isinstance(s, dict)]
    if not sources:
        return None, None, "the recording has no sources"
    try:
        per_source = [_channels(s.get("channels")) or [] for s in sources]
        rec_channels = _channels(rec.get("channel_ids")) or sorted(c for cs in per_source for c in cs)
    except ValueError as exc:
        return sources[0], None, str(exc)
    if wanted is None or not wanted or set(wanted) >= set(rec_channels):
        return sources[0], None, None
    if len(wanted) == 1:
        for src, chans in zip(sources, per_source, strict=True):
            if wanted[0] in chans:
                return src, (None if len(chans) == 1 else chans.index(wanted[0])), None
        return sources[0], None, f"channel {wanted[0]} is in none of the recording's sources"
    for src, chans in zip(sources, per_source, strict=True):
        if set(chans) == set(wanted):
            return src, None, None
    return sources[0], None, (f"the supervision is on channels {wanted} of {rec_channels}: an item is one "
                              f"channel or all of a file")


def _audio(run: _Run, rec: _Recording, src: dict[str, Any] | None, where: str
           ) -> tuple[str, ListingProblem | None]:
    """(source_uri, problem) of a recording's source: the resolved file, or the manifest line."""
    if src is None:
        return rec.uri, error(Reason.LISTING_ERROR, f"{rec.where}: the recording has no sources")
    kind, value = src.get("type"), src.get("source")
    if kind != "file" or not isinstance(value, str) or not value:
        detail = ""
        if kind in ("url", "command") and isinstance(value, str):
            detail = f" ({value[:200]})"
        return rec.uri, error(Reason.LISTING_ERROR, f"{rec.where}: audio source of type {kind!r}{detail} is not a "
                                                    f"local file (only type 'file' is listed)")
    base = str(rec.manifest.path.parent.absolute())
    uri, exists = run.files.resolve(os.path.join(base, value))
    if not exists:
        return uri, error(Reason.MISSING_FILE, f"{uri} (listed in {rec.where}, used by {where})")
    transforms = rec.obj.get("transforms") or []
    changed = [str(t.get("name") if isinstance(t, dict) else t) for t in transforms
               if not (isinstance(t, dict) and t.get("name") in _KEEPING_TRANSFORMS)]
    if changed:
        return rec.uri, error(Reason.LISTING_ERROR, f"{rec.where}: the recording has transforms "
                                                    f"({', '.join(changed)}): its audio is not the file's")
    return uri, None


def _add_supervision(run: _Run, rec: _Recording, sup: dict[str, Any], where: str, split: str | None,
                     offset: float = 0.0, cut: dict[str, Any] | None = None, meta_extra: dict[str, Any] | None = None
                     ) -> None:
    problems: list[str] = []
    text = text_value(sup.get("text"))
    text_problem: ListingProblem | None = None
    if text is not None and not is_clean(text):
        text = None
        text_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: text is not valid UTF-8")
    speaker, language = text_value(sup.get("speaker")), text_value(sup.get("language"))
    for name, value in (("speaker", speaker), ("language", language)):
        if value is not None and not is_clean(value):
            problems.append(f"{name} is not valid UTF-8")
    speaker = printable(speaker) if speaker else None
    language = printable(language) if language else None
    s_start, s_duration = _number(sup.get("start")), _number(sup.get("duration"))
    start = end = None
    offset_problem = None
    if s_start is None or s_duration is None:
        offset_problem = f"start {sup.get('start')!r} / duration {sup.get('duration')!r} are not numbers"
    else:
        start, end = round(offset + s_start, 6), round(offset + s_start + s_duration, 6)
        if start < 0 or s_duration <= 0:
            offset_problem = f"start {start} / duration {s_duration}"
            start = end = None
    try:
        wanted = _channels(sup.get("channel"))
        if wanted is None and cut is not None:
            wanted = _channels(cut.get("channel"))
    except ValueError as exc:
        problems.append(str(exc))
        wanted = None
    src, channel, channel_problem = _pick_source(rec.obj, wanted)
    if channel_problem:
        problems.append(channel_problem)
    uri, problem = _audio(run, rec, src, where)
    key = (uri, start, end, channel, text, sup.get("id"))
    if cut is not None and key in run.seen:
        return
    run.seen.add(key)
    if problem is None and offset_problem:
        problem = error(Reason.BAD_OFFSETS, f"{where}: {offset_problem}")
    if problem is None and problems:
        problem = error(Reason.LISTING_ERROR, f"{where}: {'; '.join(problems)}")
    meta: dict[str, Any] = {**(meta_extra or {}), "recording_id": printable(str(rec.obj.get("id")))}
    if sup.get("id") is not None:
        meta["supervision_id"] = printable(str(sup["id"]))
    if text_value(sup.get("gender")):
        meta["gender"] = printable(str(sup["gender"]))
    run.listing.add(uri, start=start, end=end, channel=channel, raw_text=text, speaker_raw=speaker,
                    split=split or "train", language_raw=language, listing_error=problem or text_problem, meta=meta)


def _add_unlabelled(run: _Run, rec: _Recording, where: str, split: str | None, meta: dict[str, Any],
                    start: float | None = None, end: float | None = None, wanted: list[int] | None = None) -> None:
    """An unlabelled item of a whole recording (one per source file when its channels are in several files),
    or of a span / channel of it (a cut without supervisions)."""
    sources = [s for s in rec.obj.get("sources") or [] if isinstance(s, dict)]
    picks: list[tuple[dict[str, Any] | None, int | None, str | None]]
    if wanted is None and start is None and len(sources) > 1:
        picks = [(s, None, None) for s in sources]
    else:
        picks = [_pick_source(rec.obj, wanted)]
    for src, channel, channel_problem in picks:
        uri, problem = _audio(run, rec, src, where)
        if problem is None and channel_problem:
            problem = error(Reason.LISTING_ERROR, f"{where}: {channel_problem}")
        item_meta = dict(meta)
        if len(picks) > 1 and src is not None:
            item_meta["lhotse_channels"] = src.get("channels")
        run.listing.add(uri, start=start, end=end, channel=channel, split=split or "train", listing_error=problem,
                        meta=item_meta)


def _recording_for(run: _Run, rec_id: Any, key: tuple[str, str]) -> _Recording | None:
    if not isinstance(rec_id, str):
        return None
    return run.by_key.get(key, {}).get(rec_id) or run.recordings.get(rec_id)


def _bad_entry(run: _Run, uri: str, where: str, split: str | None, problem: str) -> None:
    run.listing.add(uri, split=split or "train", listing_error=error(Reason.LISTING_ERROR, f"{where}: {problem}"))


def _read_supervisions(run: _Run, mf: ManifestFile) -> None:
    for where, uri, sup, problem in _objects(mf):
        if sup is None:
            _bad_entry(run, uri, where, mf.split, problem or "not a JSON object")
            continue
        rec = _recording_for(run, sup.get("recording_id"), mf.key)
        if rec is None:
            _bad_entry(run, uri, where, mf.split, f"recording {sup.get('recording_id')!r} is in no recordings "
                                                  f"manifest at the root")
            continue
        run.covered.add(str(rec.obj.get("id")))
        _add_supervision(run, rec, sup, where, mf.split, meta_extra={"manifest": mf.path.name,
                                                                      **_position(where)})


def _position(where: str) -> dict[str, Any]:
    tail = where.rsplit(" ", 2)
    if len(tail) == 3 and tail[1] in ("line", "entry") and tail[2].isdigit():
        return {tail[1]: int(tail[2])}
    return {}


def _read_cuts(run: _Run, mf: ManifestFile) -> None:
    run.seen.clear()  # repeats within one cuts manifest only: across manifests, Listing reports conflicts
    for where, uri, cut, problem in _objects(mf):
        if cut is None:
            _bad_entry(run, uri, where, mf.split, problem or "not a JSON object")
            continue
        ctype = cut.get("type")
        if ctype == "PaddingCut":
            continue
        if ctype == "MixedCut":
            tracks = cut.get("tracks")
            count = len(tracks) if isinstance(tracks, list) else "?"
            _bad_entry(run, uri, where, mf.split, f"a MixedCut (a mix of {count} tracks) is not one audio file")
            continue
        if ctype not in _CUT_TYPES:
            _bad_entry(run, uri, where, mf.split, f"unknown cut type {ctype!r}")
            continue
        rec_obj = cut.get("recording")
        if isinstance(rec_obj, dict):
            rec = _Recording(rec_obj, mf, where, uri)
        else:
            found = _recording_for(run, cut.get("recording_id"), mf.key)
            if found is None:
                _bad_entry(run, uri, where, mf.split, "the cut has no recording (features-only cuts are not listed)")
                continue
            rec = found
        run.covered.add(str(rec.obj.get("id")))
        cut_start = _number(cut.get("start"))
        cut_duration = _number(cut.get("duration"))
        if cut_start is None:
            cut_start = 0.0
        meta = {"manifest": mf.path.name, **_position(where), "cut_id": printable(str(cut.get("id")))}
        sups = [s for s in cut.get("supervisions") or [] if isinstance(s, dict)]
        if sups:
            for sup in sups:
                _add_supervision(run, rec, sup, where, mf.split, offset=cut_start, cut=cut, meta_extra=meta)
            continue
        try:
            wanted = _channels(cut.get("channel"))
        except ValueError:
            wanted = None
        rec_duration = _number(rec.obj.get("duration"))
        whole = cut_start == 0 and (cut_duration is None or rec_duration is None
                                    or abs(cut_duration - rec_duration) < 1e-3)
        start = None if whole else round(cut_start, 6)
        end = None if whole or cut_duration is None else round(cut_start + cut_duration, 6)
        _add_unlabelled(run, rec, where, mf.split, {**meta, "recording_id": printable(str(rec.obj.get("id")))},
                        start=start, end=end, wanted=wanted)


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    manifests = find_manifests(root)
    if not manifests:
        raise ValueError(f"{LAYOUT}: no Lhotse manifests at the root of {root} (recordings / supervisions / cuts "
                         f".jsonl[.gz], e.g. <corpus>_supervisions_<part>.jsonl.gz)")
    listing = Listing(source, LAYOUT)
    run = _Run(listing, FileIndex())
    read: set[str] = set()
    by_kind = {kind: [m for m in manifests if m.kind == kind] for kind in KINDS}
    for mf in by_kind["recordings"]:
        read.add(str(mf.path.absolute()))
        for where, uri, obj, problem in _objects(mf):
            if obj is None or not isinstance(obj.get("id"), str):
                _bad_entry(run, uri, where, mf.split, problem or "a recording without an id")
                continue
            rec = _Recording(obj, mf, where, uri)
            run.recordings.setdefault(obj["id"], rec)
            run.by_key.setdefault(mf.key, {}).setdefault(obj["id"], rec)
    supervised_keys = {m.key for m in by_kind["supervisions"]}
    for mf in by_kind["supervisions"]:
        read.add(str(mf.path.absolute()))
        _read_supervisions(run, mf)
    for mf in by_kind["cuts"]:
        if mf.key in supervised_keys:
            continue  # the same items, from the recordings and supervisions
        read.add(str(mf.path.absolute()))
        _read_cuts(run, mf)
    for rec_id, rec in run.recordings.items():
        if rec_id not in run.covered:
            meta = {"manifest": rec.manifest.path.name, **_position(rec.where), "recording_id": printable(rec_id)}
            _add_unlabelled(run, rec, rec.where, rec.manifest.split, meta)
    walk_tree(listing, root, run.files, read, sidecars=False)
    return listing.table()

