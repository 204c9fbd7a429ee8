"""Shared helpers for the bench scripts that run on the sample corpus (bench/ingest.py, bench/shard.py).

Every such script takes ``--scale N``, ``--seed S`` and ``--work DIR`` (default: a temporary folder removed
at exit); the sample corpus is built under ``DIR/sample`` and reused when it is already there with the same
scale and seed (``build_sample_corpus`` is idempotent). Details go to stderr; `emit` prints the one JSON
line on stdout that ends every bench.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from omnicorpus.manifests.config import PipelineConfig

T = TypeVar("T")


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    """The one line of JSON a bench ends with (stdout, nothing else is printed there)."""
    sys.stderr.flush()
    print(json.dumps(record), flush=True)


def bench_parser(description: str, scale: int = 4) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--scale", type=int, default=scale, help=f"sample corpus scale (default {scale})")
    ap.add_argument("--seed", type=int, default=0, help="sample corpus seed (default 0)")
    ap.add_argument("--work", type=Path, default=None,
                    help="work folder; a sample corpus built there before with the same scale and seed is "
                         "reused (default: a temporary folder, removed at exit)")
    return ap


def work_dir(arg: Path | None) -> Path:
    if arg is not None:
        arg.mkdir(parents=True, exist_ok=True)
        return arg.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="omnicorpus-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return tmp


def sample_corpus(work: Path, scale: int, seed: int) -> tuple[Path, dict[str, Any], float]:
    """(folder, manifest, seconds spent building: ~0 when reused) of the sample corpus under work/sample."""
    from omnicorpus.corpus.sample_corpus import build_sample_corpus

    out = work / "sample"
    t0 = time.perf_counter()
    manifest = build_sample_corpus(out, scale=scale, seed=seed)
    took = time.perf_counter() - t0
    how = f"built in {took:.1f} s" if took > 1 else "reused"
    log(f"sample corpus {out} (scale {scale}, seed {seed}): {manifest['total_seconds'] / 3600:.2f} h of "
        f"source audio, {how}")
    return out, manifest, took


def fresh_dir(path: Path) -> Path:
    """`path`, emptied (so nothing a previous run wrote is reused)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def sample_config(sample: Path, output: Path) -> PipelineConfig:
    """The sample corpus's config with its output replaced by `output` (emptied first)."""
    from omnicorpus.manifests.config import load_config

    cfg = load_config(sample / "omnicorpus.yaml")
    return dataclasses.replace(cfg, output=str(fresh_dir(output)))


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def start_spark(master: str, warm_up: bool = False) -> tuple[SparkSession, float, float]:
    """(session, seconds it took to start, seconds of the warm-up job or 0). No UI: a bench must not fight
    over ports. The warm-up is a trivial mapInArrow job: it starts the Python workers and the JVM's first
    job, fixed costs that a short benchmark would otherwise count as throughput."""
    from omnicorpus.pipelines.spark import spark_session

    os.environ.setdefault("OMNICORPUS_NO_UI", "1")
    spark, wall, _ = timed(lambda: spark_session(master))
    warm = 0.0
    if warm_up:
        import pyarrow as pa

        parallelism = spark.sparkContext.defaultParallelism
        df = spark.createDataFrame(pa.table({"x": list(range(1000))})).repartition(parallelism)
        _, warm, _ = timed(lambda: df.mapInArrow(lambda batches: batches, "x long").count())
    log(f"spark {master}: session started in {wall:.1f} s" + (f", warm-up job {warm:.1f} s" if warm_up else ""))
    return spark, wall, warm


def mb(n_bytes: float) -> float:
    return n_bytes / 1e6
