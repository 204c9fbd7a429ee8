"""Dedup: the same audio must reach a release once, in one split.

The same audio is the same PCM (`pcm_sha256`) or, with `dedup.near_duplicates`, a near-duplicate of it: a
segment of another recording whose acoustic fingerprint is as similar as the threshold asks (re-encoded,
resampled, gain-changed, trimmed or padded; pipelines.near_duplicates), grouped under `dup_group`. A group
in more than one split is a leak: the held-out copy stays (test over dev over train, so that an evaluation set
never loses an item to training) and the others are rejected, `transcript_conflict` when their transcript
differs from the kept one, `split_leak` otherwise. Copies within the kept split are `duplicate`s, or
`near_duplicate`s when their PCM differs from the kept one's; the one whose source sorts first stays. The stage
needs every copy of a group in one batch: Spark groups by `dup_group` before calling it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage
from omnicorpus.pipelines.fingerprint import similarity
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table

SPLIT_PRIORITY = {"test": 0, "dev": 1, "train": 2}


def _transcript(seg: dict[str, Any]) -> str | None:
    return seg["text"] if seg["text"] is not None else seg["raw_text"]


def _group(seg: dict[str, Any]) -> str | None:
    return seg["dup_group"] or seg["pcm_sha256"]


def _similarity(copy: dict[str, Any], kept: dict[str, Any]) -> float | None:
    """The two fingerprints' similarity, when both have one."""
    a, b = copy["audio_fingerprint"], kept["audio_fingerprint"]
    return similarity(a, b) if a is not None and b is not None else None


def _why(copy: dict[str, Any], kept: dict[str, Any]) -> tuple[Reason, str, float | None]:
    near = copy["pcm_sha256"] != kept["pcm_sha256"]  # in the group by fingerprint, not by hash
    score = _similarity(copy, kept) if near else None
    what = f"{'near-duplicate audio of' if near else 'same audio as'} {kept['segment_id']}"
    if score is not None:
        what += f" (similarity {score:.2f})"
    if copy["split"] == kept["split"]:
        return (Reason.NEAR_DUPLICATE if near else Reason.DUPLICATE), f"{what} in {kept['split']}", score
    a, b = _transcript(copy), _transcript(kept)
    if a is not None and b is not None and a != b:
        return (Reason.TRANSCRIPT_CONFLICT,
                f"{what} (kept in {kept['split']}) with another transcript: {a[:80]!r} vs {b[:80]!r}", score)
    return Reason.SPLIT_LEAK, f"{what}, kept in {kept['split']}", score


def dedup_segments(batch: pa.RecordBatch, params: Any = None) -> StageResult:
    """The dedup stage over SEGMENTS holding every copy of each group it sees."""
    rows = batch.to_pylist()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for seg in rows:
        group = _group(seg)
        if group is not None:
            groups[group].append(seg)
    dropped: dict[str, tuple[Reason, str, float | None]] = {}
    for copies in groups.values():
        if len(copies) < 2:
            continue
        ranked = sorted(copies, key=lambda s: (SPLIT_PRIORITY.get(s["split"], 3), s["source_uri"], s["segment_id"]))
        for copy in ranked[1:]:
            dropped[copy["segment_id"]] = _why(copy, ranked[0])
    kept = [s for s in rows if s["segment_id"] not in dropped]
    rejected = [reject_row(s, "segment_id", Stage.DEDUP, *dropped[s["segment_id"]])
                for s in rows if s["segment_id"] in dropped]
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def dedup_spec() -> StageSpec:
    return StageSpec("dedup", dedup_segments, None, SEGMENTS, SEGMENTS, batch_rows=1 << 30)
