"""Runs stage functions on Spark: local mode by default, a cluster with the same code.

The only module that knows Spark's API besides the job entry points. A stage's kept rows and rejects
leave one `mapInArrow` pass as two nullable struct columns, so a task retry can never write a reject
twice and nothing is collected to the driver.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from omnicorpus.manifests.schema import REJECTS
from omnicorpus.pipelines.stage import ENVIRONMENT_MARK, EnvironmentFault, StageSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_KEPT, _REJECT = "kept", "reject"
_F = TypeVar("_F", bound=Callable[..., Any])
#: The last line of a Python traceback that an OS error ended: `OSError: [Errno 28] No space left on device`
_OS_ERROR_LINE = re.compile(r"^\s*(\w*Error): \[Errno (\d+)\] (.+)$", re.MULTILINE)


def _environment_detail(text: str) -> str | None:
    """What an error of the environment says, found in a (Spark, Py4J) exception's text; None if it is not one."""
    at = text.find(ENVIRONMENT_MARK)
    if at >= 0:
        return text[at + len(ENVIRONMENT_MARK):].splitlines()[0].strip()
    found = _OS_ERROR_LINE.findall(text)
    if found:
        name, errno, message = found[-1]
        return f"{name}: [Errno {errno}] {message.strip()}"
    return None


def environment_errors(job: str) -> Callable[[_F], _F]:
    """A job's errors of the environment (a disk full, a permission, an I/O error, in a Spark task or here)
    become one EnvironmentFault saying so, instead of a Java stack trace: the run fails, commits nothing of
    what it was doing, and takes the same items again next time."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except EnvironmentFault as exc:
                raise EnvironmentFault(f"{job} stopped by an error of the environment, not of an item: "
                                       f"{exc.detail}; nothing of it was committed: run again once that is fixed"
                                       ) from None
            except Exception as exc:
                detail = _environment_detail(str(exc))
                if detail is None:
                    raise
                raise EnvironmentFault(f"{job} stopped by an error of the environment, not of an item: {detail}; "
                                       "nothing of it was committed: run again once that is fixed") from None

        return run  # type: ignore[return-value]

    return wrap


def content_digest(df: DataFrame, columns: list[str]) -> tuple[int, str]:
    """(rows, digest) of a DataFrame's rows over `columns`, whatever their order, computed on the executors: one
    row comes back to the driver, not one per row. The digest is the count and two sums of 64-bit row hashes
    (exact decimal sums, so no overflow), i.e. a multiset hash: equal rows give equal digests."""
    from pyspark.sql import functions as F

    row = F.concat_ws("\x1f", *(F.coalesce(F.col(c).cast("string"), F.lit("\x00")) for c in columns))
    total = df.agg(F.count(F.lit(1)).alias("n"),
                   F.sum(F.xxhash64(F.lit("a"), row).cast("decimal(38,0)")).alias("a"),
                   F.sum(F.xxhash64(F.lit("b"), row).cast("decimal(38,0)")).alias("b")).first()
    if total is None or not total["n"]:
        return 0, ""
    return int(total["n"]), hashlib.sha256(f"{total['a']}:{total['b']}".encode()).hexdigest()[:32]


#: The local-mode driver JVM's flags (a user's `spark.driver.extraJavaOptions` in the config replaces them).
_LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


def _local_shuffle_partitions(master: str) -> int:
    """Two shuffle partitions per core of a `local`, `local[N]`, `local[*]` or `local[N, retries]` master."""
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    cores = 1 if found is None or found.group(1) is None else (
        os.cpu_count() or 1 if found.group(1) == "*" else int(found.group(1)))
    return max(2, 2 * cores)


def spark_session(master: str = "local[*]", conf: dict[str, str] | None = None,
                  app_name: str = "omnicorpus") -> SparkSession:
    """The process's SparkSession. Python workers run this interpreter (the venv), not the system one.
    An empty `master` leaves it to spark-submit."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Spark runs one Python worker per core: a BLAS or OpenMP pool in each would only fight for them
    # (measured: an idle OpenBLAS thread doubled ingest's CPU time for no gain).
    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for key, value in threads.items():
        os.environ.setdefault(key, value)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", os.environ.get("OMNICORPUS_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.python.worker.reuse", "true")  # models load once per worker, not per task
    )
    if master:
        builder = builder.master(master)
    if master.startswith("local"):
        # In local mode the driver's JVM is the whole cluster, and most of a short run's CPU went to its
        # C2 JIT compiler threads (measured: 40 of 86 JVM CPU-seconds of a 0.05 h run). The C1 compiler alone
        # is what the few minutes of a daily run need; a cluster's long-lived executors keep the default.
        builder = builder.config("spark.driver.extraJavaOptions", _LOCAL_JVM_OPTIONS)
        # Shuffles here carry metadata rows (dedup's hash groups, anti-joins), not audio: Spark's default of
        # 200 partitions made a small run's writes 200 tasks each, most of its scheduling time.
        builder = builder.config("spark.sql.shuffle.partitions", str(_local_shuffle_partitions(master)))
    if master.startswith(("spark://127.0.0.1:", "spark://localhost:")):
        # a cluster on loopback (pipelines.cluster) reaches the driver there, not on the host's address
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    # Spark's web UI listens on every interface without authentication: off unless the config turns it on
    # (`spark: {conf: {spark.ui.enabled: "true"}}`, best with spark.driver.bindAddress set to 127.0.0.1).
    builder = builder.config("spark.ui.enabled", "false")
    for key, value in threads.items():  # the same on a cluster's executors
        builder = builder.config(f"spark.executorEnv.{key}", value)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _combined_schema(out_schema: pa.Schema) -> pa.Schema:
    return pa.schema([
        pa.field(_KEPT, pa.struct(list(out_schema))),
        pa.field(_REJECT, pa.struct(list(REJECTS))),
    ])


def _combine(kept: pa.Table, rejects: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """One batch holding kept rows then reject rows, the other struct null on each row."""
    n_kept, n_rej = kept.num_rows, rejects.num_rows

    def struct(table: pa.Table, typ: pa.StructType, before: int, after: int) -> pa.Array:
        cols = [
            pa.concat_arrays([pa.nulls(before, f.type), *table.column(f.name).chunks, pa.nulls(after, f.type)])
            for f in typ
        ]
        mask = pa.array([True] * before + [False] * table.num_rows + [True] * after)
        return pa.StructArray.from_arrays(cols, fields=list(typ), mask=mask)

    kept_t, rej_t = schema.field(_KEPT).type, schema.field(_REJECT).type
    return pa.RecordBatch.from_arrays(
        [struct(kept, kept_t, 0, n_rej), struct(rejects, rej_t, n_kept, 0)], schema=schema
    )


@dataclass
class SparkStageOutput:
    """Kept rows and rejects of one stage run; both come from one persisted pass over the input."""

    kept: DataFrame
    rejects: DataFrame
    combined: DataFrame

    @classmethod
    def split(cls, combined: DataFrame) -> SparkStageOutput:
        kept = combined.where(f"{_KEPT} is not null").select(f"{_KEPT}.*")
        rejects = combined.where(f"{_REJECT} is not null").select(f"{_REJECT}.*")
        return cls(kept, rejects, combined)

    def unpersist(self) -> None:
        self.combined.unpersist()


def run_on_spark(spec: StageSpec, df: DataFrame) -> SparkStageOutput:
    """Run `spec` over `df` with mapInArrow."""
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = _combined_schema(spec.output_schema)

    def apply(batches):  # runs on the executors
        for batch in batches:
            for chunk in pa.Table.from_batches([batch]).to_batches(max_chunksize=spec.batch_rows):
                result = spec(chunk)
                if result.kept.num_rows or result.rejects.num_rows:
                    yield _combine(result.kept, result.rejects, schema)

    combined = df.mapInArrow(apply, from_arrow_schema(schema)).persist(StorageLevel.DISK_ONLY)
    return SparkStageOutput.split(combined)


def run_grouped_on_spark(spec: StageSpec, df: DataFrame, key: str) -> SparkStageOutput:
    """Run `spec` once per group of rows sharing `key` (for stages that must see every copy at once)."""
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = _combined_schema(spec.output_schema)

    def apply(table: pa.Table) -> pa.Table:  # runs on the executors, one group at a time
        result = spec(table.combine_chunks().to_batches()[0]) if table.num_rows else None
        if result is None:
            return schema.empty_table()
        return pa.Table.from_batches([_combine(result.kept, result.rejects, schema)])

    combined = df.groupBy(key).applyInArrow(apply, from_arrow_schema(schema)).persist(StorageLevel.DISK_ONLY)
    return SparkStageOutput.split(combined)


def one_task_each(spark: SparkSession, tasks: int, fn: Callable[[int], Iterator[pa.RecordBatch]],
                  schema: pa.Schema) -> DataFrame:
    """A DataFrame of what `fn(n)` yields for n = 0 .. tasks - 1, each n in a Spark task of its own (a plain
    function run on the executors; only the numbers leave the driver)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # runs on the executors
        for batch in batches:
            for n in batch.column(0).to_pylist():
                yield from fn(n)

    numbers = spark.range(0, max(tasks, 0), numPartitions=max(tasks, 1)).select("id")
    return numbers.mapInArrow(apply, from_arrow_schema(schema))


def persisted(df: DataFrame) -> DataFrame:
    """`df` kept on the executors' disks once computed, so that each action over it does not compute it again."""
    from pyspark import StorageLevel

    return df.persist(StorageLevel.DISK_ONLY)


def unpersist(frames: Iterable[DataFrame]) -> None:
    for df in frames:
        df.unpersist()


def arrow_to_spark(spark: SparkSession, table: pa.Table, partitions: int) -> DataFrame:
    """A DataFrame over a driver-side Arrow table (listings are metadata only, never audio)."""
    df = spark.createDataFrame(table)
    return df.repartition(max(1, partitions)) if partitions > 1 else df.coalesce(1)
