"""Dedup: the same audio (by PCM hash) must reach a release once, in one split.

A clip in more than one split is a leak: the held-out copy stays (test over dev over train, so that an
evaluation set never loses an item to training) and the others are rejected, `transcript_conflict` when
their transcript differs from the kept one, `split_leak` otherwise. Copies within the kept split are
`duplicate`s; the one whose source sorts first stays. The stage needs every copy of a hash in one batch: Spark groups by
`pcm_sha256` before calling it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table

SPLIT_PRIORITY = {"test": 0, "dev": 1, "train": 2}


def _transcript(seg: dict[str, Any]) -> str | None:
    return seg["text"] if seg["text"] is not None else seg["raw_text"]


def _why(copy: dict[str, Any], kept: dict[str, Any]) -> tuple[Reason, str]:
    if copy["split"] == kept["split"]:
        return Reason.DUPLICATE, f"same audio as {kept['segment_id']} in {kept['split']}"
    a, b = _transcript(copy), _transcript(kept)
    if a is not None and b is not None and a != b:
        return (Reason.TRANSCRIPT_CONFLICT,
                f"same audio as {kept['segment_id']} (kept in {kept['split']}) with another transcript: "
                f"{a[:80]!r} vs {b[:80]!r}")
    return Reason.SPLIT_LEAK, f"same audio as {kept['segment_id']}, kept in {kept['split']}"


def dedup_segments(batch: pa.RecordBatch, params: Any = None) -> StageResult:
    """The dedup stage over SEGMENTS holding every copy of each hash it sees."""
    rows = batch.to_pylist()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for seg in rows:
        if seg["pcm_sha256"] is not None:
            groups[seg["pcm_sha256"]].append(seg)
    dropped: dict[str, tuple[Reason, str]] = {}
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
