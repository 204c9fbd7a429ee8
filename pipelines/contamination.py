"""Benchmark contamination: train segments whose normalized transcript, or acoustic fingerprint, matches an item of
an evaluation set, so that a model is not scored on what it trained on.

An evaluation set is a folder that one of the layouts reads (a FLEURS or Common Voice download, a Kaldi data
dir, a NeMo manifest, ...: its dev and test items, by default) or a release (its utterances of those splits).
`build_index` reads it once: each item's transcript normalized as the release's are (pipelines.normalize, in
its language) and its audio's fingerprint (pipelines.fingerprint) with its signature bands. A train segment
matches an item when, in the same language, their normalized transcripts are equal and at least `min_chars`
long (a short "yes" is no leak), or when they share a band and their fingerprints agree in at least
`min_similarity` of their values (the near-duplicate rule). `contamination_segments`, a plain function over
SEGMENTS, rejects them (stage and reason `contamination`) for a release made with `contamination.eval`;
`omnicorpus contamination RELEASE --eval ...` reports them per language without changing anything.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.manifests.config import ContaminationParams, SourceConfig
from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage
from omnicorpus.pipelines.fingerprint import bands, signature, similarity
from omnicorpus.pipelines.normalize import normalize_text
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table


@dataclass(frozen=True)
class EvalItem:
    where: str  # the eval set and the item's source, as a reject's detail names it
    language: str | None
    text: str | None  # normalized
    fingerprint: bytes | None


@dataclass
class EvalIndex:
    """What train segments are matched against (see the module doc)."""

    items: list[EvalItem]
    min_chars: int
    min_similarity: float
    texts: dict[tuple[str, str], int] = field(default_factory=dict)  # (language, text) -> item
    buckets: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # band -> items
    problems: list[str] = field(default_factory=list)  # eval items that could not be read, and why

    def __post_init__(self) -> None:
        for n, item in enumerate(self.items):
            if item.language and item.text and len(item.text) >= self.min_chars:
                self.texts.setdefault((item.language, item.text), n)
            if item.fingerprint is not None:
                for key in bands(item.fingerprint):
                    self.buckets[key].append(n)

    @cached_property
    def digest(self) -> str:
        """Names the index's content: a release made against another index is made again."""
        h = hashlib.sha256(json.dumps([self.min_chars, self.min_similarity]).encode())
        for item in self.items:
            h.update(json.dumps([item.where, item.language, item.text]).encode())
            h.update(item.fingerprint or b"")
        return h.hexdigest()[:16]

    def match(self, seg: dict[str, Any]) -> tuple[str, EvalItem, float | None] | None:
        """("text" or "audio", the eval item, the similarity) of the first item a segment matches, or None."""
        text = seg.get("text")
        if text and seg.get("language"):
            hit = self.texts.get((seg["language"], text))
            if hit is not None:
                return "text", self.items[hit], None
        fp = seg.get("audio_fingerprint")
        if fp is None:
            return None
        best: tuple[float, int] | None = None
        for n in {n for key in bands(fp) for n in self.buckets.get(key, ())}:
            other = self.items[n].fingerprint
            assert other is not None
            score = similarity(fp, other)
            if score >= self.min_similarity and (best is None or (score, -n) > (best[0], -best[1])):
                best = (score, n)
        return None if best is None else ("audio", self.items[best[1]], best[0])


def _folder_items(path: str, splits: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], Any]]:
    """(item row, its 16 kHz samples or the error that kept them) of a corpus folder's items in `splits`."""
    from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
    from omnicorpus.corpus.registry import list_source
    from omnicorpus.pipelines.ingest import ItemRejected, read_source_audio

    table, _ = list_source(SourceConfig(name="eval", layout="auto", path=path, labelled=True))
    for item in table.to_pylist():
        if item["split"] not in splits:
            continue
        try:
            data = read_source_audio(item["source_uri"])
            audio = decode_audio(data, start=item["start"], end=item["end"], channel=item["channel"],
                                 name=item["source_uri"])
        except (ItemRejected, AudioDecodeError, OSError) as exc:
            yield item, exc
            continue
        yield item, audio.samples


def _folder_index_items(path: str, splits: tuple[str, ...], problems: list[str]) -> Iterator[EvalItem]:
    from omnicorpus.manifests.languages import UnknownLanguageError, to_language

    for item, samples in _folder_items(path, splits):
        try:
            language = to_language(item["language_raw"], source="eval", text=item["raw_text"]) \
                if item["language_raw"] else None
        except UnknownLanguageError:
            language = None
        text = normalize_text(item["raw_text"], language) if item["raw_text"] and language else None
        if isinstance(samples, Exception):
            problems.append(f"{item['source_uri']}: {samples}")
            yield EvalItem(f"{path}: {item['source_uri']}", language, text, None)
            continue
        yield EvalItem(f"{path}: {item['source_uri']}", language, text, signature(samples))


def _release_index_items(path: str, splits: tuple[str, ...]) -> Iterator[EvalItem]:
    from omnicorpus.corpus.pcm import read_flac
    from omnicorpus.manifests.release import open_release
    from omnicorpus.manifests.shard_audio import release_audio, utterance_rows

    release = open_release(path)
    rows = (r for r in utterance_rows(release, ["split", "language", "text"]) if r["split"] in splits)
    for row, audio in release_audio(release, rows):
        yield EvalItem(f"{release.id}: {row['key']}", row["language"], row["text"] or None,
                       signature(read_flac(audio.flac)))


def build_index(params: ContaminationParams) -> EvalIndex:
    """The index of every eval set `params.eval` names (corpus folders or releases)."""
    items: list[EvalItem] = []
    problems: list[str] = []
    for path in params.eval:
        if (Path(path) / "release.json").is_file():
            items.extend(_release_index_items(path, params.splits))
        else:
            items.extend(_folder_index_items(path, params.splits, problems))
    return EvalIndex(items, params.min_chars, params.min_similarity, problems=problems)


def contamination_segments(batch: pa.RecordBatch, index: EvalIndex) -> StageResult:
    """Train segments that match an eval item become rejects (stage and reason `contamination`)."""
    kept, rejected = [], []
    for seg in batch.to_pylist():
        hit = index.match(seg) if seg["split"] == "train" else None
        if hit is None:
            kept.append(seg)
            continue
        kind, item, score = hit
        what = "transcript" if kind == "text" else f"audio (similarity {score:.2f})"
        rejected.append(reject_row(seg, "segment_id", Stage.CONTAMINATION, Reason.CONTAMINATION,
                                   f"{what} of eval item {item.where}", score))
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def contamination_spec(index: EvalIndex) -> StageSpec:
    return StageSpec("contamination", contamination_segments, index, SEGMENTS, SEGMENTS)


def contamination_report(index: EvalIndex, segments: Iterable[pa.RecordBatch]) -> dict[str, Any]:
    """Per language: train segments, and those matching an eval item by transcript, by audio, by either."""
    by_language: dict[str, dict[str, int]] = defaultdict(lambda: {"train": 0, "text": 0, "audio": 0, "either": 0})
    examples: list[dict[str, Any]] = []
    for batch in segments:
        for seg in batch.to_pylist():
            if seg["split"] != "train":
                continue
            counts = by_language[seg["language"] or "und"]
            counts["train"] += 1
            hit = index.match(seg)
            if hit is None:
                continue
            counts[hit[0]] += 1
            counts["either"] += 1
            if len(examples) < 50:
                examples.append({"key": seg["segment_id"], "language": seg["language"], "match": hit[0],
                                 "eval_item": hit[1].where, "similarity": hit[2]})
    total = {k: sum(c[k] for c in by_language.values()) for k in ("train", "text", "audio", "either")}
    return {"eval_items": len(index.items), "unreadable_eval_items": len(index.problems), **total,
            "by_language": dict(sorted(by_language.items())), "examples": examples}
