"""The withdraw stage: the accepted segments less those the community withdrawal register names, which become
rejects (stage `community`, reason `withdrawn`). The register itself is corpus.withdrawals."""

from __future__ import annotations

import pyarrow as pa

from omnicorpus.corpus.withdrawals import Withdrawal
from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage, item_meta
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table


def withdraw_segments(batch: pa.RecordBatch, withdrawals: tuple[Withdrawal, ...]) -> StageResult:
    """Drop the segments a withdrawal names (stage `community`, reason `withdrawn`)."""
    kept, rejected = [], []
    for seg in batch.to_pylist():
        meta = item_meta(seg["meta"])
        hit = next((w for w in withdrawals if w.matches(seg, meta)), None)
        if hit is None:
            kept.append(seg)
        else:
            rejected.append(reject_row(seg, "segment_id", Stage.COMMUNITY, Reason.WITHDRAWN,
                                       f"{hit.kind} {hit.target} withdrawn by {hit.partner} on {hit.recorded}"))
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def withdraw_spec(withdrawals: tuple[Withdrawal, ...]) -> StageSpec:
    return StageSpec("withdraw", withdraw_segments, withdrawals, SEGMENTS, SEGMENTS)
