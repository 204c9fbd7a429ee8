"""Reading and writing the tables of manifests.schema as Parquet (or Arrow IPC for internal indexes), always
through their schema."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.manifests.schema import SCHEMA_VERSION


class SchemaError(ValueError):
    """A table that does not match its contract."""


def table_name(schema: pa.Schema) -> str:
    return (schema.metadata or {}).get(b"table", b"?").decode()


def conform(data: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """The data as a table of exactly `schema`: columns in order, cast, absent nullable columns as nulls.

    An unknown column or an absent non-nullable one is a SchemaError: a typo must not pass silently.
    """
    if isinstance(data, pa.Table) and data.schema.equals(schema, check_metadata=True) and not any(
            data.column(i).null_count for i, f in enumerate(schema) if not f.nullable):
        return data
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    elif not isinstance(data, pa.Table):
        rows = list(data)
        unknown = {k for r in rows for k in r} - set(schema.names)
        if unknown:
            raise SchemaError(f"{table_name(schema)}: unknown columns {sorted(unknown)}")
        present = {k for r in rows for k in r}
        data = pa.Table.from_pylist(rows, schema=pa.schema([f for f in schema if f.name in present]))
    unknown = set(data.column_names) - set(schema.names)
    if unknown:
        raise SchemaError(f"{table_name(schema)}: unknown columns {sorted(unknown)}")
    missing = [f.name for f in schema if not f.nullable and f.name not in data.column_names]
    if missing and data.num_rows:
        raise SchemaError(f"{table_name(schema)}: missing required column(s) {', '.join(map(repr, missing))}")
    columns = []
    for field in schema:
        if field.name not in data.column_names:
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        col = data.column(field.name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        try:
            if col.type != field.type:
                col = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"{table_name(schema)}.{field.name}: {exc}") from exc
        if not field.nullable and col.null_count:
            raise SchemaError(f"{table_name(schema)}.{field.name}: required column has {col.null_count} nulls")
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def to_parquet_bytes(table: pa.Table, schema: pa.Schema) -> bytes:
    """Deterministic Parquet bytes: same rows, same bytes (no timestamps, fixed row-group size)."""
    table = conform(table, schema)
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression="zstd",
        row_group_size=64 * 1024,
        write_statistics=True,
        store_schema=True,
    )
    return buf.getvalue()


def write_table(table: pa.Table, uri: str | os.PathLike[str], schema: pa.Schema) -> None:
    """Write one Parquet file atomically."""
    storage.write_bytes_atomic(uri, to_parquet_bytes(table, schema))


def to_arrow_bytes(table: pa.Table, schema: pa.Schema) -> bytes:
    """An Arrow IPC file, uncompressed: for small internal indexes, written and read far faster than Parquet."""
    table = conform(table, schema)
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def write_arrow_file(table: pa.Table, uri: str | os.PathLike[str], schema: pa.Schema) -> None:
    """Write one Arrow IPC file atomically."""
    storage.write_bytes_atomic(uri, to_arrow_bytes(table, schema))


def read_arrow_file(uri: str | os.PathLike[str], schema: pa.Schema) -> pa.Table:
    fs, path = storage.resolve(uri)
    with fs.open_input_file(path) as f:
        table = ipc.open_file(f).read_all()
    _check_version(table.schema)
    return conform(table, schema)


def read_table(uri: str | os.PathLike[str], schema: pa.Schema, filter: Any = None) -> pa.Table:
    """Read a Parquet file or a (hive-partitioned) folder of them as a table of `schema`.

    A folder that does not exist reads as an empty table: a stage that rejected nothing writes nothing.
    """
    fs, path = storage.resolve(uri)
    info = fs.get_file_info(path)
    if info.type == storage.pafs.FileType.NotFound:
        return empty(schema)
    if info.type == storage.pafs.FileType.File:
        table = pq.read_table(path, filesystem=fs)
    else:
        import pyarrow.dataset as ds  # here, not at the top: it imports pandas, which reading a release needn't

        dataset = ds.dataset(
            path, filesystem=fs, format="parquet",
            partitioning=ds.HivePartitioning.discover(null_fallback="__HIVE_DEFAULT_PARTITION__"),
            exclude_invalid_files=True, ignore_prefixes=[".", "_"],
        )
        table = dataset.to_table(filter=filter)
    _check_version(table.schema)
    return conform(table, schema)


def _check_version(schema: pa.Schema) -> None:
    version = (schema.metadata or {}).get(b"schema_version")
    if version is not None and version.decode().split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise SchemaError(f"table written with schema {version.decode()}, this reader knows {SCHEMA_VERSION}")


def concat(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    parts = [conform(t, schema) for t in tables]
    return pa.concat_tables(parts) if parts else empty(schema)
