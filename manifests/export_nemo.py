"""Export a release for NVIDIA NeMo ASR: JSON-lines manifests per split and the audio as FLAC files.

    OUT/train_manifest.json                        one JSON object a line, as NeMo's own data scripts name them
    OUT/dev_manifest.json                          {"audio_filepath", "duration", "text", "lang",
    OUT/test_manifest.json                          "corpus", "speaker", "key", "speaker_source"}
    OUT/audio/<language>/<corpus>/<key>.flac       the shard's FLAC file, byte for byte

Point a NeMo config at it: `model.train_ds.manifest_filepath=OUT/train_manifest.json` (and dev, test).

Decisions, each checked against NeMo's manifest reader (`nemo/collections/common/parts/preprocessing/
manifest.py`; NeMo itself is not a dependency):

* `audio_filepath` is relative to OUT, e.g. `audio/eng_Latn/cv/<key>.flac`: NeMo's `get_full_path` joins a
  relative path shorter than 255 characters to the manifest's folder when the file exists there, so the export
  moves as a whole (an absolute path would pin it to where it was written). A path of 255 characters or more is
  refused here (ValueError), since NeMo would not resolve it. Every path has a folder in it, which also keeps
  NeMo from taking it for a member of a tarred dataset.
* The audio is the shard's FLAC, unchanged (16 kHz mono 16-bit): NeMo reads FLAC through soundfile, so there is
  no re-encoding and no loss. `duration` is its decoded length (samples / 16000) from the FLAC header, exactly
  what NeMo's duration filters and bucketing should see.
* `lang` is our code (`eng_Latn`): NeMo's aggregate tokenizers key on it. `speaker` is NeMo's own key (the
  pseudonym, or null); `corpus` and `key` are extra keys NeMo ignores, kept so that a line leads back to the
  release. The text is the normalized transcript.
* NeMo ASR manifests are for supervised training: utterances without text (null or blank) are skipped and
  counted (`skipped_by_reason["unlabelled"]`); a split with none left gets no manifest.
* The result lists the manifests as its `files` (the audio files are counted in `audio_files` and in `bytes`,
  not listed: a release holds millions).

Same release, same bytes: lines in (shard, key) order within a split, keys in a fixed order, JSON written with
`ensure_ascii=False`. Memory holds one sample and one batch of utterance rows: utterances.parquet is read a batch
at a time (`utterance_rows`, once to check every path, once to export), each shard tar is streamed once and its
SHA-256 checked (`release_audio`), and each line and FLAC file is written as it is read. The export is written under a
temporary folder beside OUT and replaces OUT only when complete (`staged_folder`, shared with export_hf); keys,
languages, corpora and splits must each be one safe path
component (`keys.safe_component`).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from omnicorpus.manifests.export_hf import Progress, hours_by_split, staged_folder
from omnicorpus.manifests.keys import safe_component
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.shard_audio import ExportError, SampleAudio, release_audio, utterance_count, utterance_rows

__all__ = ["ExportError", "export_nemo", "manifest_name"]

#: NeMo resolves a relative audio path against the manifest's folder only below this length (get_full_path).
NEMO_PATH_LIMIT = 255


def manifest_name(split: str) -> str:
    """`train_manifest.json`: the name NeMo's data preparation scripts give a split's manifest."""
    return f"{safe_component(split, 'split')}_manifest.json"


def audio_path(u: dict[str, Any]) -> str:
    """Where an utterance's FLAC goes, relative to the export folder (and so to its manifests)."""
    parts = [safe_component(u["language"], "language"), safe_component(u["corpus"], "corpus"),
             safe_component(u["key"], "key") + ".flac"]
    path = "/".join(["audio", *parts])
    if len(path) >= NEMO_PATH_LIMIT:
        raise ValueError(f"audio path {path!r} has {len(path)} characters: NeMo resolves relative paths only "
                         f"below {NEMO_PATH_LIMIT}")
    return path


def manifest_line(u: dict[str, Any], path: str, audio: SampleAudio) -> str:
    """One manifest line: NeMo's keys first, then ours, in a fixed order."""
    entry = {"audio_filepath": path, "duration": audio.seconds, "text": u["text"], "lang": u["language"],
             "corpus": u["corpus"], "speaker": u["speaker"], "key": u["key"]}
    if u["speaker_source"] is not None:  # the corpus's own id, where its licence allows (manifests.licences)
        entry["speaker_source"] = u["speaker_source"]
    return json.dumps(entry, ensure_ascii=False) + "\n"


def write_flac(folder: Path, path: str, flac: bytes, made: set[Path]) -> None:
    """Write one FLAC file under `folder`; `made`: the folders made so far (each made once)."""
    target = folder / path
    if target.parent not in made:
        target.parent.mkdir(parents=True, exist_ok=True)
        made.add(target.parent)
    try:
        with open(target, "xb") as f:  # "x": two utterances never share a file
            f.write(flac)
    except FileExistsError:
        raise ValueError(f"two utterances would share the audio file {path} (a key repeats)") from None


def _labelled(release: Release, columns: list[str], skipped: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The utterances with text, in (shard, key) order, each with its `audio_path`; the others counted in
    `skipped["unlabelled"]`."""
    for u in utterance_rows(release, columns):
        if u["text"] is not None and u["text"].strip():
            yield {**u, "audio_path": audio_path(u)}
        else:
            skipped["unlabelled"] += 1


def _check_names(release: Release) -> int:
    """Every path an exported utterance names checked in a pass over the manifest before anything is written,
    so that a bad identifier fails the export at once; the utterances to export."""
    count = 0
    for u in _labelled(release, ["language", "corpus", "split", "text"], {"unlabelled": 0}):
        manifest_name(u["split"])
        count += 1
    return count


def export_nemo(release: Release, out: str | os.PathLike[str], *,
                progress: Progress | None = None) -> dict[str, Any]:
    """Write `release` as NeMo ASR manifests and FLAC files at `out`, replacing an earlier export there only
    once this one is complete.

    Returns `format` ("nemo"), `release`, `path`, `utterances` (manifest lines), `skipped` and
    `skipped_by_reason`, `files` (the manifests, relative to `out`, sorted), `audio_files`, `bytes` (manifests
    and audio) and `hours` per split then language. Raises ExportError when a shard does not hold what the
    release says, ValueError for a key, language, corpus or split that cannot be a file name.
    """
    labelled = _check_names(release)
    total = utterance_count(release)
    samples: dict[tuple[str, str | None], int] = defaultdict(int)
    size = lines = 0
    made: set[Path] = set()
    with staged_folder(out) as tmp, ExitStack() as files:
        manifests: dict[str, IO[str]] = {}
        skipped = {"unlabelled": 0}
        rows = _labelled(release, ["language", "corpus", "split", "text", "speaker", "speaker_source"], skipped)
        for u, audio in release_audio(release, rows):  # rows are in (shard, key) order
            path = u["audio_path"]
            write_flac(tmp, path, audio.flac, made)
            split = u["split"]
            if split not in manifests:
                manifests[split] = files.enter_context(
                    open(tmp / manifest_name(split), "w", encoding="utf-8", newline="\n"))
            manifests[split].write(manifest_line(u, path, audio))
            samples[(split, u["language"])] += audio.samples
            size += len(audio.flac)
            lines += 1
            if progress is not None:
                progress(lines, labelled)
        if lines + skipped["unlabelled"] != total:  # release_audio checks every shard; this guards the counts
            raise ExportError(f"{lines + skipped['unlabelled']} of {total} utterances were read")
        files.close()  # the manifests complete before the folder moves into place
        written = sorted(manifest_name(s) for s in manifests)
        size += sum((tmp / f).stat().st_size for f in written)
    return {
        "format": "nemo",
        "release": release.id,
        "path": os.path.abspath(out),
        "utterances": lines,
        "skipped": sum(skipped.values()),
        "skipped_by_reason": skipped,
        "files": written,
        "audio_files": lines,
        "bytes": size,
        "hours": hours_by_split(samples),
    }
