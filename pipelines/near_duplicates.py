"""Near-duplicate audio: segments of different recordings whose acoustic fingerprints (pipelines.fingerprint)
agree, found through an index of signature bands, scored pair by pair and grouped, so that dedup decides a
group of near-duplicates by the same rules as a group of exact copies.

Plain functions over Arrow batches (the Spark step in pipelines.curate wraps them):

* `band_rows`: a segment's index keys (one per band of its signature);
* (the Spark step) candidates: the pairs of segments that share a bucket of a band, other than those of one
  recording or of one PCM hash (exact copies are dedup's already); a bucket of more than `max_bucket` segments
  is a common one (silence, a jingle) and pairs nothing;
* `scored_pairs`: each candidate's similarity, and the pairs at or over the threshold;
* `group_labels`: the connected components of those pairs over PCM hashes, each labelled by its smallest
  hash: dedup groups a segment by its hash's label (`dup_group`) instead of its hash.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa

from omnicorpus.manifests.schema import NEAR_DUPLICATES
from omnicorpus.pipelines.fingerprint import bands, similarity

BAND_ROWS = pa.schema([pa.field("band", pa.int64()), pa.field("segment_id", pa.string()),
                       pa.field("recording_id", pa.string()), pa.field("pcm_sha256", pa.string())])
#: A scored pair before its group is known.
SCORED = pa.schema([f for f in NEAR_DUPLICATES if f.name != "dup_group"])


def band_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """(band, segment_id, recording_id, pcm_sha256) for each band of each fingerprinted segment."""
    out: dict[str, list] = {name: [] for name in BAND_ROWS.names}
    for seg in batch.select(["segment_id", "recording_id", "pcm_sha256", "audio_fingerprint"]).to_pylist():
        if seg["audio_fingerprint"] is None or seg["pcm_sha256"] is None:
            continue
        for key in bands(seg["audio_fingerprint"]):
            out["band"].append(key)
            out["segment_id"].append(seg["segment_id"])
            out["recording_id"].append(seg["recording_id"])
            out["pcm_sha256"].append(seg["pcm_sha256"])
    return pa.RecordBatch.from_pydict(out, schema=BAND_ROWS)


def scored_pairs(batch: pa.RecordBatch, threshold: float) -> pa.RecordBatch:
    """The candidate pairs (both segments' columns joined on, the other's as `other_<column>`) whose
    similarity is at least `threshold`, as SCORED rows."""
    kept = []
    for row in batch.to_pylist():
        score = similarity(row["audio_fingerprint"], row["other_audio_fingerprint"])
        if score >= threshold:
            kept.append({**row, "similarity": score})
    return pa.RecordBatch.from_pylist(kept, schema=SCORED)


def group_labels(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Hash -> the smallest hash of its connected component, for every hash of an edge (union-find; the Spark
    step runs it in one task over every pair)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = defaultdict(list)
    for x in list(parent):
        members[find(x)].append(x)
    return {x: root for root, xs in members.items() for x in xs}
