"""Withdrawal of community recordings: a durable register, and what a withdrawal names (the stage that applies
it to a release is pipelines.withdraw).

A partner withdraws a speaker (by the speaker id it submitted) or a whole submission. `match_withdrawal`
first finds what it names (the partner's spelling matched case-insensitively, the submission id too), and a
withdrawal that names nothing is refused. The register, `OUT/community/withdrawals.jsonl`, is append-only:
each line one withdrawal with the SHA-256 of its fields, appended in one write and fsynced, never edited.
A line torn by a crash or a full disk (no newline, or not its checksum) at the end of the register is
skipped with a warning and moved aside before the next append, never written onto; a bad line anywhere
else is an error naming the file and the line. A speaker is recorded by its pseudonym (the salted hash
the pipeline stores), never by the id the partner gave. Every release made after a withdrawal drops what
it names, with reason `withdrawn`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from omnicorpus.manifests import storage
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import speaker_pseudonym
from omnicorpus.manifests.lock import output_lock
from omnicorpus.manifests.schema import SEGMENTS, item_meta
from omnicorpus.manifests.tables import read_table


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


log = logging.getLogger(__name__)


class WithdrawalError(ValueError):
    """A withdrawal that names nothing, or a register that cannot be read; one line."""


@dataclass(frozen=True)
class WithdrawalMatch:
    """What a withdrawal names, found before it is recorded."""

    partner: str  # as the corpus spells it
    target: str  # the speaker id or the submission id, as the corpus spells it
    items: int  # the community source's listed items it names (ingested or not yet)
    segments: int  # accepted segments the next release leaves out
    in_latest: int  # utterances of the latest release it names
    note: str = ""  # how a name was matched, when not exactly


def _one(wanted: str, known: set[str], what: str, where: str) -> tuple[str, str]:
    """The spelling of `wanted` among `known` (exact, else case-insensitive), and a note when not exact."""
    if wanted in known:
        return wanted, ""
    folded = [k for k in known if k.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0], f"{what} {wanted!r} matched as {folded[0]!r}"
    shown = ", ".join(sorted(known)[:10]) or "none"
    raise WithdrawalError(f"no {what} {wanted!r} {where} (known: {shown}); nothing was recorded")


def match_withdrawal(source: SourceConfig, output_root: str | os.PathLike[str], *, partner: str, salt: str,
                     speaker: str | None = None, submission: str | None = None) -> WithdrawalMatch:
    """Find what a withdrawal names in a community source (its listing: metadata only) and in the output
    root's accepted segments and latest release; WithdrawalError when it names nothing."""
    from omnicorpus.corpus.community import list_items
    from omnicorpus.manifests.release import latest_release

    if (speaker is None) == (submission is None):
        raise WithdrawalError("withdraw either a --speaker or a --submission, not both")
    items = list_items(source).select(["speaker_raw", "meta"]).to_pylist()
    metas = [(row["speaker_raw"], item_meta(row["meta"])) for row in items]
    stored, note = _one(partner, {str(m["partner"]) for _, m in metas if m.get("partner")}, "partner",
                        f"in community source {source.name}")
    mine = [(spk, m) for spk, m in metas if m.get("partner") == stored]
    if speaker is not None:
        target, more = _one(speaker, {str(spk) for spk, _ in mine if spk}, "speaker", f"of partner {stored}")
        named = [1 for spk, _ in mine if spk == target]
    else:
        assert submission is not None
        target, more = _one(submission, {str(m["submission"]) for _, m in mine if m.get("submission")},
                            "submission", f"of partner {stored}")
        named = [1 for _, m in mine if m.get("submission") == target]
    # segments carry the speaker's pseudonym, never the partner's own id
    probed = target if speaker is None else speaker_pseudonym(source.name, target, salt) or target
    probe = Withdrawal(corpus=source.name, partner=stored, kind="speaker" if speaker is not None else "submission",
                       target=probed, recorded="")
    accepted = read_table(Path(output_root) / "tables" / "accepted", SEGMENTS)
    accepted = accepted.filter(pc.equal(accepted.column("corpus"), source.name))
    keys = [seg["segment_id"] for seg in accepted.select(["segment_id", "corpus", "speaker", "meta"]).to_pylist()
            if probe.matches(seg, item_meta(seg["meta"]))]
    latest = latest_release(output_root)
    in_latest = 0
    if latest is not None and keys:
        in_latest = pc.sum(pc.is_in(latest.table("utterances").column("key"), value_set=pa.array(keys))).as_py() or 0
    notes = "; ".join(n for n in (note, more) if n)
    return WithdrawalMatch(stored, target, len(named), len(keys), int(in_latest), notes)


def _checksum(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def record_withdrawal(output_root: str | os.PathLike[str], *, corpus: str, partner: str, salt: str,
                      speaker: str | None = None, submission: str | None = None, note: str = "") -> Withdrawal:
    """Append a withdrawal to the register durably: one write of the whole line with its checksum, fsynced
    before returning. A torn last line is moved aside first (see the module doc)."""
    if (speaker is None) == (submission is None):
        raise WithdrawalError("withdraw either a --speaker or a --submission, not both")
    target = speaker_pseudonym(corpus, speaker, salt) if speaker is not None else submission
    assert target is not None
    entry = Withdrawal(corpus=corpus, partner=partner, kind="speaker" if speaker is not None else "submission",
                       target=target, recorded=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), note=note)
    record = asdict(entry)
    record["sha256"] = _checksum(record)
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    path = register_path(output_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(output_root):
        _set_torn_tail_aside(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        storage.fsync_dir(path.parent)
    return entry


def _set_torn_tail_aside(path: Path) -> None:
    """Cut a torn last line off the register (a crash mid-append), keeping its bytes in a file beside it."""
    if not path.exists():
        return
    data = path.read_bytes()
    _, torn = _parse(data, path)
    if not torn:
        return
    aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    storage.write_bytes_atomic(aside, data[len(data) - len(torn):])
    with open(path, "r+b") as f:
        f.truncate(len(data) - len(torn))
        f.flush()
        os.fsync(f.fileno())


def _parse(data: bytes, path: Path) -> tuple[list[Withdrawal], bytes]:
    """The register's withdrawals and its torn tail (b"" when whole)."""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the register ends with a newline
    entries: list[Withdrawal] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        record = _record(raw)
        if record is None:
            if n == len(lines) and not tail:  # the last line, whole but wrong: torn by a crash mid-write
                return entries, raw + b"\n"
            raise WithdrawalError(f"{path} line {n} is not a withdrawal record (damaged register): {raw[:80]!r}")
        entries.append(record)
    if tail.strip():
        record = _record(tail)
        if record is None:
            return entries, tail
        entries.append(record)
    return entries, b""


def _record(raw: bytes) -> Withdrawal | None:
    try:
        record = json.loads(raw)
        if "sha256" in record and record["sha256"] != _checksum(record):
            return None
        record.pop("sha256", None)  # registers written before checksums have none
        return Withdrawal(**record)
    except (ValueError, TypeError):
        return None


def load_withdrawals(output_root: str | os.PathLike[str]) -> tuple[Withdrawal, ...]:
    path = register_path(output_root)
    if not path.exists():
        return ()
    entries, torn = _parse(path.read_bytes(), path)
    if torn:
        log.warning("%s: a torn last record (%d bytes, a crash mid-append) is skipped", path, len(torn))
    return tuple(entries)
