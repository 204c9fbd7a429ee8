"""Withdrawal of community recordings: a durable register, and the stage that applies it to a release.

A partner withdraws a speaker (by the speaker id it submitted) or a whole submission. The register,
`OUT/community/withdrawals.jsonl`, is append-only: each line one withdrawal, written with fsync, never
edited. A speaker is recorded by its pseudonym (the salted hash the pipeline stores), never by the id
the partner gave. Every release made after a withdrawal drops what it names, with reason `withdrawn`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.manifests.keys import speaker_pseudonym
from omnicorpus.manifests.lock import output_lock
from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table


@dataclass(frozen=True)
class Withdrawal:
    corpus: str  # the community source's name
    partner: str
    kind: str  # "speaker" or "submission"
    target: str  # speaker pseudonym, or submission id
    recorded: str  # UTC time of the request
    note: str = ""

    def matches(self, seg: dict[str, Any], meta: dict[str, Any]) -> bool:
        if seg["corpus"] != self.corpus or meta.get("partner") != self.partner:
            return False
        if self.kind == "speaker":
            return seg["speaker"] == self.target
        return meta.get("submission") == self.target


def register_path(output_root: str | os.PathLike[str]) -> Path:
    return Path(output_root) / "community" / "withdrawals.jsonl"


def record_withdrawal(output_root: str | os.PathLike[str], *, corpus: str, partner: str, salt: str,
                      speaker: str | None = None, submission: str | None = None, note: str = "") -> Withdrawal:
    """Append a withdrawal to the register (durably: flushed and fsynced before returning)."""
    if (speaker is None) == (submission is None):
        raise ValueError("withdraw either a --speaker or a --submission, not both")
    target = speaker_pseudonym(corpus, speaker, salt) if speaker is not None else submission
    assert target is not None
    entry = Withdrawal(corpus=corpus, partner=partner, kind="speaker" if speaker is not None else "submission",
                       target=target, recorded=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), note=note)
    path = register_path(output_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(output_root), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return entry


def load_withdrawals(output_root: str | os.PathLike[str]) -> tuple[Withdrawal, ...]:
    path = register_path(output_root)
    if not path.exists():
        return ()
    lines = path.read_text("utf-8").splitlines()
    return tuple(Withdrawal(**json.loads(line)) for line in lines if line.strip())


def withdraw_segments(batch: pa.RecordBatch, withdrawals: tuple[Withdrawal, ...]) -> StageResult:
    """Drop the segments a withdrawal names (stage `community`, reason `withdrawn`)."""
    kept, rejected = [], []
    for seg in batch.to_pylist():
        meta = json.loads(seg["meta"]) if seg["meta"] else {}
        hit = next((w for w in withdrawals if w.matches(seg, meta)), None)
        if hit is None:
            kept.append(seg)
        else:
            rejected.append(reject_row(seg, "segment_id", Stage.COMMUNITY, Reason.WITHDRAWN,
                                       f"{hit.kind} {hit.target} withdrawn by {hit.partner} on {hit.recorded}"))
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def withdraw_spec(withdrawals: tuple[Withdrawal, ...]) -> StageSpec:
    return StageSpec("withdraw", withdraw_segments, withdrawals, SEGMENTS, SEGMENTS)
