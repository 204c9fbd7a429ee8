"""The configured sources' listing (metadata only), with each item's version: on the driver for a caller without
Spark (`list_all`), or as Spark tasks (`list_on_spark`), which is how the jobs list.

On Spark a source's listing is split into its parts (corpus.registry.source_parts: one per manifest file of a
folder, one per Kaldi data dir, else the whole source), found on the driver from names and manifests' first
bytes; each part is listed by the adapter, a plain function, in a task of its own, which also computes its
items' versions; an item that several parts list (the same file in two manifests) is merged on the executors
as one listing of the whole source would (corpus.listing.merge_repeats). The driver receives one small row per
part (what it ignored, or why it could not be listed) and the item count per source, never the items.

An item's version (`item_versions`) is a digest of its listing row and of the ingest parameters that shape its
recording, computed with Arrow kernels over whole columns (only the SHA-256 runs per row): the same strings as
hashing `json.dumps(row, sort_keys=True, ensure_ascii=False)` of each row, which is how they were made before.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnicorpus.corpus.listing import IGNORED_EXAMPLES, PART_COLUMNS, Ignored, ignored_files, merge_repeats
from omnicorpus.manifests.config import IngestParams, PipelineConfig
from omnicorpus.manifests.schema import SOURCE_ITEMS
from omnicorpus.manifests.tables import concat, conform
from omnicorpus.pipelines.spark import one_task_each, persisted, unpersist

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# --- item versions ---------------------------------------------------------------------------------

#: The columns an item's version digests, in the order json.dumps(sort_keys=True) writes them.
VERSION_COLUMNS = sorted(c for c in SOURCE_ITEMS.names if c not in ("item_id", "item_version"))
#: Columns added to SOURCE_ITEMS after items were first versioned: an item's version leaves them out while they
#: are null, so that an item without one keeps the version (and the ingest) it had; none is the first column.
LATER_COLUMNS = ("speaker_source",)
assert VERSION_COLUMNS[0] not in LATER_COLUMNS
#: json.dumps's escapes of the characters below U+0020 (ensure_ascii=False escapes nothing else but `"` and `\`).
_CONTROL_ESCAPES = {chr(c): {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, f"\\u{c:04x}")
                    for c in range(0x20)}
_BATCH_ROWS = 65536


def _shaping(params: IngestParams) -> str:
    return json.dumps({"max_recording_seconds": params.max_recording_seconds, "speaker_salt": params.speaker_salt},
                      sort_keys=True)


def _json_string(values: pa.Array) -> pa.Array:
    """Each string as json.dumps(ensure_ascii=False) writes it (null: `null`)."""
    text = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(text, r"[\x00-\x1f]")).as_py():
        for char, escape in _CONTROL_ESCAPES.items():
            text = pc.replace_substring(text, char, escape)
    return pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")


def _json_float_py(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_float(values: pa.Array) -> pa.Array:
    """Each float as json.dumps writes it (Python's repr: the shortest digits that read back, positional from
    1e-4 up to 1e16). Arrow writes the same shortest digits; it spells some in other notations (`1` for `1.0`,
    exponents from other thresholds): those outside the positional range, or in an exponent, are written by
    Python, the integral ones get their `.0`."""
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    positional = pc.and_(pc.or_(pc.equal(values, 0.0), pc.and_(pc.greater_equal(magnitude, 1e-4),
                                                                 pc.less(magnitude, 1e16))),
                         pc.invert(pc.match_substring(text, "e")))
    text = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".0", ""))
    other = pc.fill_null(pc.and_(pc.is_valid(values), pc.invert(positional)), False)
    if pc.any(other).as_py():
        written = [_json_float_py(v) for v in pc.filter(values, other).to_pylist()]
        text = pc.replace_with_mask(text, other, pa.array(written, pa.string()))
    return pc.fill_null(text, "null")


def _json_value(values: pa.Array) -> pa.Array:
    """Each value of a column as json.dumps writes it."""
    typ = values.type
    if pa.types.is_string(typ):
        return _json_string(values)
    if pa.types.is_floating(typ):
        return _json_float(values)
    if pa.types.is_integer(typ):
        return pc.fill_null(pc.cast(values, pa.string()), "null")
    if pa.types.is_boolean(typ):
        return pc.fill_null(pc.if_else(values, "true", "false"), "null")
    if pa.types.is_struct(typ):
        names = sorted(typ.field(i).name for i in range(typ.num_fields))
        parts: list[Any] = ["{"]
        for n, name in enumerate(names):
            parts += [f'{", " if n else ""}"{name}": ', _json_value(pc.struct_field(values, name))]
        parts.append("}")
        text = pc.binary_join_element_wise(*parts, "")
        return pc.if_else(pc.is_valid(values), text, "null")
    raise TypeError(f"no JSON text for a column of {typ}")


def _row_json(batch: pa.RecordBatch) -> pa.Array:
    """json.dumps(row, sort_keys=True, ensure_ascii=False) of each row, over the VERSION_COLUMNS, without the
    LATER_COLUMNS that are null in it."""
    parts: list[Any] = ["{"]
    for n, name in enumerate(VERSION_COLUMNS):
        entry = [f'{", " if n else ""}"{name}": ', _json_value(batch.column(name))]
        if name in LATER_COLUMNS:
            present = pc.binary_join_element_wise(*entry, "")
            parts.append(pc.if_else(pc.is_valid(batch.column(name)), present, ""))
        else:
            parts += entry
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _sha256_prefixes(text: pa.Array, prefix: str) -> list[str]:
    """The first 16 hex digits of SHA-256(prefix + each string), read from the Arrow buffers."""
    text = text.cast(pa.large_string()) if pa.types.is_string(text.type) else text
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset: text.offset + len(text) + 1]
    data = memoryview(text.buffers()[2] or b"")
    base = hashlib.sha256(prefix.encode())
    out = []
    for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        h = base.copy()
        h.update(data[start:end])
        out.append(h.hexdigest()[:16])
    return out


def item_versions(items: pa.Table, params: IngestParams) -> pa.Array:
    """item_version of each listed item: a digest of its whole listing row (location, transcript, language,
    licence, labelled, speaker, split, listing problem, ...) and of the ingest parameters that shape its
    recording. Any change of a source's settings or of what its manifests say gives a new version."""
    prefix = f"{_shaping(params)}\0"
    versions: list[str] = []
    for batch in items.select(VERSION_COLUMNS).to_batches(max_chunksize=_BATCH_ROWS):
        if batch.num_rows:
            versions += _sha256_prefixes(_row_json(batch), prefix)
    return pa.array(versions, pa.string())


def with_versions(items: pa.Table, params: IngestParams) -> pa.Table:
    """The items with their item_version column filled."""
    at = items.schema.get_field_index("item_version")
    return items.set_column(at, SOURCE_ITEMS.field("item_version"), item_versions(items, params))


# --- on the driver ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listed:
    """Every item of every configured source (metadata only), with the version of each, on the driver."""

    items: pa.Table  # SOURCE_ITEMS, in a stable order
    versions: pa.Array  # item_version of each row of `items`
    layouts: dict[str, str]  # the layout each source was read as: `auto` resolves to the one detected
    ignored: dict[str, Ignored]

    @property
    def counts(self) -> dict[str, int]:
        names = self.items.column("corpus").to_pylist()
        return {name: names.count(name) for name in self.layouts}


def list_all(cfg: PipelineConfig) -> Listed:
    """Every source listed in this process, for callers without Spark (the jobs list with `list_on_spark`)."""
    from omnicorpus.corpus.registry import list_source

    listed = {src.name: list_source(src) for src in cfg.sources}
    items = with_versions(concat((t for t, _ in listed.values()), SOURCE_ITEMS), cfg.ingest)
    layouts = {n: layout for n, (_, layout) in listed.items()}
    return Listed(items, items.column("item_version").combine_chunks(), layouts,
                  {n: ignored_files(t) for n, (t, _) in listed.items()})


# --- on Spark --------------------------------------------------------------------------------------

#: An item row of a listing task: SOURCE_ITEMS (versions filled), the part columns, the task's number.
_PART_ROW = pa.schema([*SOURCE_ITEMS, *PART_COLUMNS, pa.field("part_number", pa.int32(), False)])
#: What a listing task tells the driver, one row per part: what it ignored, or why it could not list.
_PART_INFO = pa.schema([pa.field("part_number", pa.int32(), False), pa.field("items", pa.int64()),
                        pa.field("ignored", pa.int64()),
                        pa.field("examples", pa.string()), pa.field("error_type", pa.string()),
                        pa.field("error_base", pa.string()), pa.field("error", pa.string())])
_ITEM, _INFO = "item", "info"
_TASK_SCHEMA = pa.schema([pa.field(_ITEM, pa.struct(list(_PART_ROW))), pa.field(_INFO, pa.struct(list(_PART_INFO)))])
#: What a listing task may raise that is the source's fault (said on the driver as the adapter said it).
_LISTING_ERRORS = (ValueError, OSError)


@dataclass
class ListedFrame:
    """Every item of every configured source, as a Spark DataFrame listed by the executors (see the module doc),
    kept on the executors' disks until `unpersist`; per-source counts, layouts and ignored files on the driver."""

    items: DataFrame  # SOURCE_ITEMS with item_version filled, one row per item
    counts: dict[str, int]
    layouts: dict[str, str]
    ignored: dict[str, Ignored]
    kept: list[DataFrame] = field(default_factory=list)  # what is persisted for it

    def unpersist(self) -> None:
        unpersist(self.kept)
        self.kept.clear()

    @classmethod
    def of(cls, spark: SparkSession, listed: Listed) -> ListedFrame:
        """A driver-side listing as a DataFrame (for a caller that listed already)."""
        df = persisted(spark.createDataFrame(listed.items))
        return cls(df, listed.counts, listed.layouts, listed.ignored, [df])


def _struct_batch(rows: pa.Table | None, info: dict[str, Any] | None) -> pa.RecordBatch:
    """A batch of the listing task's output: item rows, or one info row."""
    item_t, info_t = _TASK_SCHEMA.field(_ITEM).type, _TASK_SCHEMA.field(_INFO).type
    if rows is not None:
        n = rows.num_rows
        items = pa.StructArray.from_arrays([rows.column(f.name).combine_chunks() for f in item_t], fields=list(item_t))
        return pa.RecordBatch.from_arrays([items, pa.nulls(n, info_t)], schema=_TASK_SCHEMA)
    infos = pa.array([info], info_t)
    return pa.RecordBatch.from_arrays([pa.nulls(1, item_t), infos], schema=_TASK_SCHEMA)


def _part_rows(table: pa.Table, number: int, params: IngestParams) -> pa.Table:
    """A part's listing as _PART_ROW rows: versions filled, the part columns (a whole source's listing has none:
    nothing merges with it), the part's number."""
    items = with_versions(conform(table.select([c for c in table.column_names if c in SOURCE_ITEMS.names]),
                                  SOURCE_ITEMS), params)
    n = items.num_rows
    defaults = {"part_times": pa.array(np.ones(n, np.int32)), "part_agree": pa.array(np.ones(n, bool)),
                "part_clean": pc.is_null(items.column("listing_error")), "part_meta": pa.nulls(n, pa.string())}
    for f in PART_COLUMNS:
        items = items.append_column(f, table.column(f.name) if f.name in table.column_names else defaults[f.name])
    return items.append_column(_PART_ROW.field("part_number"), pa.array(np.full(n, number, np.int32)))


def _error_info(exc: BaseException) -> dict[str, str]:
    base = next(kind for kind in _LISTING_ERRORS if isinstance(exc, kind))
    if isinstance(exc, OSError) and exc.errno is not None:
        args: list[Any] = [exc.errno, exc.strerror, exc.filename]
    else:
        args = [str(exc)]
    return {"error_type": type(exc).__name__, "error_base": base.__name__, "error": json.dumps(args)}


def _raise(info: dict[str, Any]) -> None:
    """The exception a listing task caught, raised here as the adapter raised it: the same built-in type with the
    same arguments (an OSError's errno, strerror and filename), else its base type with its message."""
    args = json.loads(info["error"])
    kind = getattr(builtins, info["error_type"], None)
    if isinstance(kind, type) and issubclass(kind, _LISTING_ERRORS):
        try:
            exc = kind(*args)
        except TypeError:  # a type whose arguments are not these (UnicodeDecodeError): its base, with the message
            exc = None
        if exc is not None:
            raise exc
    raise getattr(builtins, info["error_base"])(*args)


def list_on_spark(cfg: PipelineConfig, spark: SparkSession) -> ListedFrame:
    """Every source listed by Spark tasks, one per part of a source (see the module doc); the same items, versions,
    counts, layouts and ignored files as `list_all`, and the same errors for a source that cannot be listed."""
    from omnicorpus.corpus.registry import SourcePart, list_part, source_parts

    parts: list[SourcePart] = []
    layouts: dict[str, str] = {}
    for src in cfg.sources:
        found = source_parts(src)
        layouts[src.name] = found[0].source.layout
        parts += found
    params = cfg.ingest

    def run(number: int) -> Iterator[pa.RecordBatch]:  # on the executors: one part
        try:
            table = list_part(parts[number])
        except _LISTING_ERRORS as exc:
            yield _struct_batch(None, {"part_number": number, **_error_info(exc)})
            return
        ignored = ignored_files(table)
        rows = _part_rows(table, number, params)
        for chunk in rows.to_batches(max_chunksize=_BATCH_ROWS):
            yield _struct_batch(pa.Table.from_batches([chunk], schema=rows.schema), None)
        yield _struct_batch(None, {"part_number": number, "items": rows.num_rows, "ignored": ignored.count,
                                   "examples": json.dumps(list(ignored.examples))})

    combined = persisted(one_task_each(spark, len(parts), run, _TASK_SCHEMA))
    kept = [combined]
    try:
        infos = sorted((r.asDict() for r in combined.where(f"{_INFO} is not null").select(f"{_INFO}.*").collect()),
                       key=lambda r: r["part_number"])
        for info in infos:
            if info["error_type"] is not None:
                _raise(info)
        ignored: dict[str, Ignored] = {}
        counts = dict.fromkeys(layouts, 0)
        listing_parts: dict[str, int] = {}  # per source, its parts that listed items
        for info in infos:
            part = parts[info["part_number"]]
            name = part.source.name
            was = ignored.get(name, Ignored())
            ignored[name] = Ignored(was.count + info["ignored"],
                                    (*was.examples, *json.loads(info["examples"]))[:IGNORED_EXAMPLES])
            counts[name] += info["items"]
            listing_parts[name] = listing_parts.get(name, 0) + bool(info["items"])
        rows = combined.where(f"{_ITEM} is not null").select(f"{_ITEM}.*")
        # only several parts of a source can list the same item twice (one part merges its own repeats)
        several = sorted(name for name, n in listing_parts.items() if n > 1)
        items = _merge_repeats(rows, several, params, counts, kept) if several else rows.select(*SOURCE_ITEMS.names)
        return ListedFrame(items, counts, layouts, {n: ignored.get(n, Ignored()) for n in layouts}, kept)
    except BaseException:
        unpersist(kept)
        raise


def _merge_repeats(rows: DataFrame, sources: list[str], params: IngestParams, counts: dict[str, int],
                   kept: list[DataFrame]) -> DataFrame:
    """The items, one row each: those that several parts of these sources list are merged on the executors
    (corpus.listing.merge_repeats); `counts` (per source, the rows of its parts) become the items'."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    items = rows.select(*SOURCE_ITEMS.names)
    repeated = persisted(rows.where(F.col("corpus").isin(sources)).groupBy("corpus", "item_id").count()
                         .where("count > 1"))
    kept.append(repeated)
    extra = repeated.groupBy("corpus").agg(F.sum(F.col("count") - 1).alias("extra")).collect()
    if not extra:
        return items
    for row in extra:
        counts[row["corpus"]] -= int(row["extra"])

    def merge(group: pa.Table) -> pa.Table:  # on the executors: the rows of one item, from several parts
        ordered = group.sort_by("part_number").to_pylist()
        return with_versions(conform([merge_repeats(ordered)], SOURCE_ITEMS), params)

    ids = repeated.select("item_id")
    merged = rows.join(ids, "item_id", "left_semi").groupBy("item_id").applyInArrow(merge,
                                                                                    from_arrow_schema(SOURCE_ITEMS))
    items = persisted(items.join(ids, "item_id", "left_anti").unionByName(merged))
    kept.append(items)
    return items
