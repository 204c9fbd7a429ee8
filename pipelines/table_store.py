"""Where stage tables live under the output root, and how a job writes and reads their files.

`OUT/tables/<table>/<partition>=<value>/.../part-<increment>-<n>.parquet`. A job writes with Spark into
a temporary folder and renames each file into its partition under the name of its increment; which
increments count (are committed), and what a killed run left, is pipelines.engine's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.manifests.layout import table_uri
from omnicorpus.manifests.tables import concat

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
    if dataset is None or not dataset.files:  # never written, or every row of it removed since
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return dataset.to_table(columns=columns, filter=filter)


def known_keys(root: str, table: str, column: str, filter: pc.Expression | None = None) -> pa.Array:
    return read_columns(root, table, [column], filter).column(column).combine_chunks()


def read_increment(root: str, table: str, increment: str, schema: pa.Schema) -> pa.Table:
    """The rows one increment wrote into a (small, unpartitioned) stage table, in the order written."""
    fs, base = storage.resolve(table_uri(root, table))
    parts = []
    for rel in table_files(root, table):
        if rel.startswith(f"part-{increment}-"):
            with fs.open_input_file(f"{base}/{rel}") as f:
                parts.append(pq.read_table(f))
    return concat(parts, schema)


def table_files(root: str, table: str) -> list[str]:
    """The committed-or-not data files of a stage table, relative to it, sorted (no file is read)."""
    fs, base = storage.resolve(table_uri(root, table))
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    return sorted(i.path[len(base) + 1:] for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
                  if i.type == pafs.FileType.File and i.base_name.startswith("part-")
                  and i.base_name.endswith(".parquet"))


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
        storage.write_bytes_atomic(storage.join(root, "tables", rel), parquet_bytes(part))
    return len(keys)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()
