"""The one contract every stage follows, and its in-process runner.

A stage is a plain function from an Arrow record batch (plus its parameters) to the rows it keeps and
the rows it rejects. It knows nothing of Spark: pipelines.spark runs the same function with
`mapInArrow`; `run_local` runs it here for tests and small inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from omnicorpus.manifests.schema import REJECTS
from omnicorpus.manifests.tables import concat, conform, table_name

#: Failures of the environment, not of an item: a full disk, a permission, an I/O error, no memory.
ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (OSError, MemoryError)
#: What an EnvironmentFault's message starts with, so that the driver finds it in a Spark task's traceback.
ENVIRONMENT_MARK = "omnicorpus environment error: "


class EnvironmentFault(RuntimeError):
    """An error of the environment met while working on an item (disk full, permission, I/O): never a verdict
    on the item. The run fails, nothing of it is committed, and the next run takes the item again."""

    def __init__(self, detail: str) -> None:
        self.detail = " ".join(str(detail).split())
        super().__init__(ENVIRONMENT_MARK + self.detail)

    def __reduce__(self):  # picklable across Spark workers
        return (type(self), (self.detail,))


@dataclass(frozen=True)
class StageResult:
    kept: pa.Table
    rejects: pa.Table


StageFn = Callable[[pa.RecordBatch, Any], StageResult]


@dataclass(frozen=True)
class StageSpec:
    """A stage function with its parameters and the schemas it reads and writes."""

    name: str
    fn: StageFn
    params: Any
    input_schema: pa.Schema
    output_schema: pa.Schema
    #: rows per Arrow batch handed to `fn` (small for stages that hold audio in memory)
    batch_rows: int = 1024

    def __call__(self, batch: pa.RecordBatch) -> StageResult:
        result = self.fn(conform(batch, self.input_schema).combine_chunks().to_batches()[0]
                         if batch.num_rows else batch, self.params)
        return StageResult(conform(result.kept, self.output_schema), conform(result.rejects, REJECTS))


def reject_row(row: Mapping[str, Any], key: str, stage: str, reason: str, detail: str,
               value: float | None = None, **override: Any) -> dict[str, Any]:
    """A REJECTS row for `row` (a source item, recording or segment, whose id column is `key`)."""
    out = {
        "key": row[key], "corpus": row["corpus"], "source_uri": row["source_uri"], "split": row.get("split"),
        "language": row.get("language"), "stage": str(stage), "reason": str(reason), "detail": detail,
        "value": value, "seconds": row.get("seconds"), "meta": row.get("meta"),
    }
    out.update(override)
    return out


def rejects_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Reject rows (see manifests.schema.REJECTS) as a table."""
    return conform(list(rows), REJECTS)


def run_local(spec: StageSpec, data: pa.Table) -> StageResult:
    """Run a stage in this process over `data`, in batches of spec.batch_rows."""
    data = conform(data, spec.input_schema)
    kept, rejects = [], []
    for batch in data.to_batches(max_chunksize=spec.batch_rows):
        result = spec(batch)
        kept.append(result.kept)
        rejects.append(result.rejects)
    return StageResult(concat(kept, spec.output_schema), concat(rejects, REJECTS))


def _run_chain(batch: pa.RecordBatch, specs: tuple[StageSpec, ...]) -> StageResult:
    current = pa.Table.from_batches([batch])
    rejects = []
    for spec in specs:
        if current.num_rows == 0:
            break
        result = spec(current.combine_chunks().to_batches()[0])
        rejects.append(result.rejects)
        current = result.kept
    return StageResult(current, concat(rejects, REJECTS))


def chain(name: str, *specs: StageSpec) -> StageSpec:
    """Stages run one after the other on each batch, as one stage (one pass over the data on Spark).

    Each keeps its own name in the rejects it writes; the batch size is the first stage's.
    """
    for a, b in zip(specs, specs[1:], strict=False):
        if not a.output_schema.equals(b.input_schema, check_metadata=False):
            raise ValueError(f"{a.name} writes {table_name(a.output_schema)} but {b.name} reads another table")
    return StageSpec(name, _run_chain, specs, specs[0].input_schema, specs[-1].output_schema,
                     batch_rows=specs[0].batch_rows)
