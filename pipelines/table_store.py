"""Where stage tables live under the output root, and how a Spark job puts its part into place.

`OUT/tables/<table>/<partition>=<value>/.../part-<increment>-<n>.parquet`. A job writes with Spark into
a temporary folder, renames each file into its partition, and then commits its increment by writing
`OUT/tables/_commits/<increment>.json`. Every job starts by deleting the files of increments that never
committed (a run killed half-way), then reads the keys already present and processes only the rest: a
run killed at any point and run again ends with every item exactly once.

Rows whose item changed (or left the sources) are removed by `purge_items`: each file holding one is
rewritten without it under a new increment whose commit names the files it supersedes; those are deleted
after the commit (and, after a crash, by the next `clean_uncommitted`). So a reader sees the old file or
the new one, never both, and the tables hold no row of an outcome that no longer stands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.manifests.layout import table_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def read_df(spark: SparkSession, root: str, table: str, schema: pa.Schema | None = None) -> DataFrame | None:
    """A stage table as a DataFrame (partition columns included), or None before its first write.

    With its contract `schema`, files written before a column was added read that column as nulls (Spark
    would otherwise take the columns of whichever file it looks at first).
    """
    uri = table_uri(root, table)
    if not table_files(root, table):  # never written, or every row of it removed since
        return None
    reader = spark.read.option("basePath", uri)
    if schema is not None:
        from pyspark.sql.pandas.types import from_arrow_schema

        reader = reader.schema(from_arrow_schema(schema))
    return reader.parquet(uri if "://" in uri else "file://" + uri)


def _dataset(uri: str) -> ds.Dataset | None:
    fs, path = storage.resolve(uri)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    return ds.dataset(
        path, filesystem=fs, format="parquet",
        partitioning=ds.HivePartitioning.discover(null_fallback=HIVE_NULL),
        exclude_invalid_files=False, ignore_prefixes=[".", "_"],
    )


def read_columns(root: str, table: str, columns: list[str], filter: pc.Expression | None = None) -> pa.Table:
    """Some columns of a stage table (empty table when the stage has written nothing yet)."""
    dataset = _dataset(table_uri(root, table))
    if dataset is None:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return dataset.to_table(columns=columns, filter=filter)


def known_keys(root: str, table: str, column: str, filter: pc.Expression | None = None) -> pa.Array:
    return read_columns(root, table, [column], filter).column(column).combine_chunks()


def table_files(root: str, table: str) -> list[str]:
    """The committed-or-not data files of a stage table, relative to it, sorted (no file is read)."""
    fs, base = storage.resolve(table_uri(root, table))
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    return sorted(i.path[len(base) + 1:] for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
                  if i.type == pafs.FileType.File and i.base_name.startswith("part-")
                  and i.base_name.endswith(".parquet"))


def increment_id(stage: str, keys: Iterable[str]) -> str:
    """Deterministic name of the part a run adds: a hash of the stage and the keys it processes."""
    h = hashlib.sha256(stage.encode() + b"\0")
    for k in sorted(keys):
        h.update(k.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def write_increment(df: DataFrame, root: str, table: str, partition_by: list[str], increment: str) -> int:
    """Write `df` into the table's partitions as files named after `increment`; returns files written."""
    final = table_uri(root, table)
    tmp = storage.join(root, "tables", f"_tmp-{table}-{increment}")
    fs, tmp_path = storage.resolve(tmp)
    fs.delete_dir_contents(tmp_path, missing_dir_ok=True)
    writer = df.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(tmp if "://" in tmp else "file://" + tmp_path)
    files = sorted(
        info.path for info in fs.get_file_info(pafs.FileSelector(tmp_path, recursive=True))
        if info.type == pafs.FileType.File and info.base_name.startswith("part-")
        and info.base_name.endswith(".parquet")
    )
    _, final_path = storage.resolve(final)
    for n, path in enumerate(files):
        partition = path[len(tmp_path):].rsplit("/", 1)[0].strip("/")
        target_dir = f"{final_path}/{partition}" if partition else final_path
        fs.create_dir(target_dir, recursive=True)
        target = f"{target_dir}/part-{increment}-{n:05d}.parquet"
        if storage.is_local(fs):  # Spark closed the file without fsync: make it durable before it counts
            storage.replace_durably(path, target)
        else:
            fs.move(path, target)
    fs.delete_dir(tmp_path)
    return len(files)


def write_local_increment(table: pa.Table, root: str, name: str, partition_by: list[str], increment: str) -> int:
    """`write_increment` for a small table made in this process (metadata, never audio): one file per
    partition, renamed into place; committed by the caller with the rest of its increment."""
    if not table.num_rows:
        return 0
    keys = table.select(partition_by).group_by(partition_by).aggregate([]).sort_by(
        [(k, "ascending") for k in partition_by]).to_pylist() if partition_by else [{}]
    for n, values in enumerate(keys):
        part = table
        for k, v in values.items():
            column = part.column(k)
            part = part.filter(pc.is_null(column) if v is None else pc.equal(column, v))
        part = part.drop_columns(partition_by)
        folder = "/".join(f"{k}={HIVE_NULL if v is None else v}" for k, v in values.items())
        rel = "/".join(p for p in (name, folder, f"part-{increment}-{n:05d}.parquet") if p)
        storage.write_bytes_atomic(storage.join(root, "tables", rel), _parquet_bytes(part))
    return len(keys)


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


def committed_increments(root: str, stage: str) -> dict[str, dict[str, Any]]:
    """Increment -> commit info, for the committed increments of one stage."""
    fs, commits = storage.resolve(storage.join(root, "tables", "_commits"))
    if fs.get_file_info(commits).type == pafs.FileType.NotFound:
        return {}
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(commits)):
        if info.base_name.endswith(".json"):
            with fs.open_input_stream(info.path) as f:
                data = json.loads(f.read())
            if data.get("stage") == stage:
                found[info.base_name[: -len(".json")]] = data
    return found


def delete_increment(root: str, increment: str) -> None:
    """Remove an increment's files and then its commit (for stages whose output is recomputed whole)."""
    fs, tables = storage.resolve(storage.join(root, "tables"))
    for info in fs.get_file_info(pafs.FileSelector(tables, recursive=True)):
        if info.type == pafs.FileType.File and info.base_name.startswith((f"part-{increment}-",
                                                                          f"part-{increment}.")):
            fs.delete_file(info.path)
    fs.delete_file(storage.resolve(_commit_uri(root, increment))[1])


def replace_output(root: str, stage: str, increment: str, write: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """For a stage recomputed whole on every run: unless `increment` is already committed, `write()` its
    files (returning the commit info), delete the stage's earlier increments, then commit. A crash before
    the commit leaves the stage with nothing committed, and the next run computes it again."""
    previous = committed_increments(root, stage)
    if increment in previous:
        return previous[increment]
    info = {"stage": stage, **write()}
    for old in previous:
        delete_increment(root, old)
    commit_increment(root, increment, info)
    return info


PURGE_STAGE = "purge"

#: The stage tables whose rows belong to one source item, and the column that names it (a recording id is
#: its item's id; a reject's key is the item id or, for a segment, the item id and "-NNNN").
ITEM_COLUMNS = {"ingested": "item_id", "recordings": "recording_id", "segments": "recording_id",
                "curated": "recording_id", "accepted": "recording_id", "rejects": "key"}


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
    fs, tables = storage.resolve(storage.join(root, "tables"))
    increment = increment_id(PURGE_STAGE, [*wanted.to_pylist(), *committed_increments(root, PURGE_STAGE)])
    superseded: list[str] = []
    removed = written = 0
    for table, column in ITEM_COLUMNS.items():
        base = f"{tables}/{table}"
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        files = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
                       if i.type == pafs.FileType.File and i.base_name.startswith("part-")
                       and i.base_name.endswith(".parquet"))
        for path in files:
            with fs.open_input_file(path) as f:
                keys = pq.read_table(f, columns=[column]).column(column)
            mask = _item_mask(keys, wanted, column)
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
                                           _parquet_bytes(kept))
                written += 1
            superseded.append(path[len(tables) + 1:])
            removed += hits
    if not superseded:
        return 0
    commit_increment(root, increment, {"stage": PURGE_STAGE, "items": len(wanted), "rows": removed,
                                       "supersedes": superseded})
    for rel in superseded:
        fs.delete_file(f"{tables}/{rel}")
    return removed


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()
