"""The engine's completion tracking: the one way a step of a job is skipped, resumed or done again.

A step declares its work and writes the files of one increment; it never sees a commit. The engine

1. deletes what increments that never committed left behind (a run killed half-way), and the outcomes of
   the step that were made with other parameters than the step's now;
2. asks the step for its work (`plan`): nothing to do, the step is skipped;
3. names the increment from the step's name and the keys of its work (for a step that adds to its
   tables, also from the increments it committed before, so that work done again after a purge is a new
   increment, never a rewrite of a committed one); a step recomputed whole whose increment is committed
   and intact is skipped: the same inputs were done;
4. lets the step write, then deletes the step's earlier increments when the step is recomputed whole;
5. commits: `OUT/tables/_commits/<increment>.json`, the only mark of finished work.

Rows of items that changed or left the sources are retired by `purge_items`, itself a committed increment:
each file holding one is rewritten without it under a new name, and the commit names the files it
supersedes; those are deleted after the commit (or, after a crash, by the next clean). A reader sees the
old file or the new one, never both.

Inside a step, two things are content-addressed and so never redone: audio (`audio/`, packs named by their
SHA-256) and shard groups (named by a digest of their segments, whole once their index is written). They
save bytes within a step's work; what is done is decided here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.pipelines.table_store import parquet_bytes, table_files

T = TypeVar("T")


@dataclass(frozen=True)
class Work(Generic[T]):
    """What a step would do: `keys` name it (same keys, same work), `rows` are what `write` takes."""

    keys: Sequence[str]
    rows: T


@dataclass(frozen=True)
class Step(Generic[T]):
    """A step of a job, as the engine runs it (see the module doc)."""

    name: str
    #: the work there is (the engine has cleaned up first), or None when there is none
    plan: Callable[[], Work[T] | None]
    #: write the files of the increment (named by the engine) for this work; returns what its commit records
    write: Callable[[T, str], dict[str, Any]]
    #: the step's output is recomputed whole from its inputs (dedup, withdrawals, shards): the increment
    #: is named by the inputs alone, skipped when committed, and replaces the step's earlier increments
    whole: bool = False
    #: a digest of the parameters the step's output depends on: increments made with others are deleted
    params: str | None = None
    #: for a whole step, whether a committed increment's output is still all there (else it is done again)
    intact: Callable[[str, dict[str, Any]], bool] | None = None
    #: steps whose output this one reads: their committed increments name part of its inputs
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    increment: str | None  # None: there was no work
    info: dict[str, Any]  # what the increment's commit records
    ran: bool  # False: skipped (no work, or the same work committed before)


def run_step(root: str, step: Step[Any]) -> Outcome:
    """Run `step` under the output root `root`, as the module doc says."""
    clean_uncommitted(root)
    commits = all_commits(root)  # read once: this step's and those of the steps it comes after
    earlier = {inc: info for inc, info in commits.items() if info.get("stage") == step.name}
    if step.params is not None:
        for increment in [i for i, info in earlier.items() if info.get("params") != step.params]:
            delete_increment(root, increment)
            del earlier[increment]
    work = step.plan()
    if work is None:
        return Outcome(None, {}, False)
    keys = [*work.keys, *(f"{info['stage']}={inc}" for inc, info in commits.items() if info.get("stage") in step.after)]
    if step.whole:
        increment = increment_id(step.name, keys)
        if increment in earlier:
            if step.intact is None or step.intact(increment, earlier[increment]):
                return Outcome(increment, earlier[increment], False)
            delete_increment(root, increment)  # its output is not all there: done again from nothing
            del earlier[increment]
    else:
        increment = increment_id(step.name, [*keys, *(f"earlier={i}" for i in earlier)])
    info: dict[str, Any] = {"stage": step.name, **step.write(work.rows, increment)}
    if step.params is not None:
        info["params"] = step.params
    if step.whole:
        for old in earlier:
            delete_increment(root, old)
    commit_increment(root, increment, info)
    return Outcome(increment, info, True)


def forget_step(root: str, name: str) -> int:
    """Delete every increment of a step, so that its next run does its work again; returns how many."""
    increments = committed_increments(root, name)
    for increment in increments:
        delete_increment(root, increment)
    return len(increments)


PURGE_STAGE = "purge"

#: The stage tables whose rows belong to one source item, and the column that names it (a recording id is
#: its item's id; a reject's key is the item id or, for a segment, the item id and "-NNNN").
ITEM_COLUMNS = {"ingested": "item_id", "recordings": "recording_id", "segments": "recording_id",
                "curated": "recording_id", "accepted": "recording_id", "rejects": "key"}


def increment_id(stage: str, keys: Iterable[str]) -> str:
    """Deterministic name of the part a run adds: a hash of the stage and the keys it processes."""
    h = hashlib.sha256(stage.encode() + b"\0")
    for k in sorted(keys):
        h.update(k.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _commit_uri(root: str, increment: str) -> str:
    return storage.join(root, "tables", "_commits", f"{increment}.json")


def commit_increment(root: str, increment: str, info: dict[str, Any]) -> None:
    """Mark every file of `increment` as finished."""
    storage.write_bytes_atomic(_commit_uri(root, increment), json.dumps(info, sort_keys=True).encode())


def clean_uncommitted(root: str) -> list[str]:
    """Delete the files and temporary folders of increments that never committed; returns what went."""
    fs, tables = storage.resolve(storage.join(root, "tables"))
    if fs.get_file_info(tables).type == pafs.FileType.NotFound:
        return []
    removed = []
    for info in fs.get_file_info(pafs.FileSelector(tables, recursive=False)):
        if info.type == pafs.FileType.Directory and info.base_name.startswith("_tmp-"):
            fs.delete_dir(info.path)
            removed.append(info.path)
    for purge in committed_increments(root, PURGE_STAGE).values():  # a purge that stopped after its commit
        for rel in purge.get("supersedes", []):
            path = f"{tables}/{rel}"
            if fs.get_file_info(path).type == pafs.FileType.File:
                fs.delete_file(path)
                removed.append(path)
    committed: dict[str, bool] = {}
    for info in fs.get_file_info(pafs.FileSelector(tables, recursive=True)):
        name = info.base_name
        if info.type != pafs.FileType.File or not name.startswith("part-") or "/_" in info.path[len(tables):]:
            continue
        # `part-<increment>-<n>`, or `part-<increment>.<purge>-<n>` for a file a purge rewrote: both committed
        for increment in name.split("-")[1].split("."):
            if increment not in committed:
                committed[increment] = storage.exists(_commit_uri(root, increment))
        if not all(committed[inc] for inc in name.split("-")[1].split(".")):
            fs.delete_file(info.path)
            removed.append(info.path)
    return removed


def all_commits(root: str) -> dict[str, dict[str, Any]]:
    """Increment -> commit info, for every committed increment under the output root."""
    fs, commits = storage.resolve(storage.join(root, "tables", "_commits"))
    if fs.get_file_info(commits).type == pafs.FileType.NotFound:
        return {}
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(commits)):
        if info.base_name.endswith(".json"):
            with fs.open_input_stream(info.path) as f:
                found[info.base_name[: -len(".json")]] = json.loads(f.read())
    return found


def committed_increments(root: str, stage: str) -> dict[str, dict[str, Any]]:
    """Increment -> commit info, for the committed increments of one stage."""
    return {inc: info for inc, info in all_commits(root).items() if info.get("stage") == stage}


def delete_increment(root: str, increment: str) -> None:
    """Remove an increment's files and then its commit (replaced, made with other parameters, or forgotten)."""
    fs, tables = storage.resolve(storage.join(root, "tables"))
    for info in fs.get_file_info(pafs.FileSelector(tables, recursive=True)):
        if info.type == pafs.FileType.File and info.base_name.startswith((f"part-{increment}-",
                                                                          f"part-{increment}.")):
            fs.delete_file(info.path)
    fs.delete_file(storage.resolve(_commit_uri(root, increment))[1])


def _item_mask(keys: pa.ChunkedArray, items: pa.Array, column: str) -> pa.ChunkedArray:
    if column != "key":
        return pc.is_in(keys, value_set=items)
    # a segment key is `<item id>-NNNN`; item ids never end in a dash and four digits of their own
    owner = pc.replace_substring_regex(keys, pattern=r"-\d{4,}$", replacement="")
    return pc.or_(pc.is_in(keys, value_set=items), pc.is_in(owner, value_set=items))


def purge_items(root: str, items: Iterable[str]) -> int:
    """Remove every row of these source items from the stage tables (see the module doc); returns the
    rows removed. The caller has cleaned uncommitted increments first."""
    wanted = pa.array(sorted(set(items)), pa.string())
    if not len(wanted):
        return 0
    def of_items(column: str) -> RowSelection:
        return RowSelection((column,), lambda t: _item_mask(t.column(column), wanted, column))

    selections = {table: of_items(column) for table, column in ITEM_COLUMNS.items()}
    return purge_rows(root, selections, wanted.to_pylist(), {"items": len(wanted)})


@dataclass(frozen=True)
class RowSelection:
    """Rows of a stage table to remove: the columns `mask` needs, and the mask over a file's such columns; only
    files under the partition folder `under` (a partition column is in the path, not in the file)."""

    columns: tuple[str, ...]
    mask: Callable[[pa.Table], pa.ChunkedArray | pa.Array]
    under: str = ""


def purge_rows(root: str, selections: dict[str, RowSelection], keys: Iterable[str], info: dict[str, Any]) -> int:
    """Remove the selected rows of these stage tables as one committed purge increment (named by `keys` and
    the purges before it; `info` goes into its commit); returns the rows removed."""
    fs, tables = storage.resolve(storage.join(root, "tables"))
    increment = increment_id(PURGE_STAGE, [*keys, *committed_increments(root, PURGE_STAGE)])
    superseded: list[str] = []
    removed = written = 0
    for table, selection in selections.items():
        base = f"{tables}/{table}"
        for path in (f"{base}/{rel}" for rel in table_files(root, table) if rel.startswith(selection.under)):
            with fs.open_input_file(path) as f:
                mask = selection.mask(pq.read_table(f, columns=list(selection.columns)))
            hits = pc.sum(mask).as_py() or 0
            if not hits:
                continue
            with fs.open_input_file(path) as f:
                data = pq.read_table(f)
            kept = data.filter(pc.invert(mask))
            if kept.num_rows:
                # the rewritten file keeps the increment it came from, so that deleting that increment (a
                # stage recomputed whole) deletes it too
                origin = path.rsplit("/", 1)[1].split("-")[1].split(".")[0]
                target = f"{path.rsplit('/', 1)[0]}/part-{origin}.{increment}-{written:05d}.parquet"
                storage.write_bytes_atomic(storage.join(root, "tables", target[len(tables) + 1:]),
                                           parquet_bytes(kept))
                written += 1
            superseded.append(path[len(tables) + 1:])
            removed += hits
    if not superseded:
        return 0
    commit_increment(root, increment, {"stage": PURGE_STAGE, **info, "rows": removed, "supersedes": superseded})
    for rel in superseded:
        fs.delete_file(f"{tables}/{rel}")
    return removed
