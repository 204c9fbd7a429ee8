"""Benchmark: ingest throughput (audio hours per CPU core-hour) against a plain soundfile decode.

    python bench/ingest.py [--scale N] [--seed S] [--work DIR] [--cores N] [--warm-up]

Builds (or reuses) the sample corpus at --scale under DIR/sample, lists its items with `list_sources`, and
times in the same run, on the same items:

* ours (Spark): the real ingest job, `run_ingest(cfg, spark)` on `spark_session("local[N]")` over a fresh
  output root: listing, decode, resample, metrics, FLAC encode, audio store, the recordings and rejects
  tables. Core-hours = wall seconds x N; Spark session startup is excluded (reported apart), and so is
  a trivial warm-up job with --warm-up (the Python workers' and the JVM's first-job start);
* ours (in-process): `run_local(ingest_spec(root, params), items)` in this process on one core: the
  stage itself without Spark;
* reference: a plain single-process loop reading the audio of every item ingest accepted (the same spans,
  Parquet rows decoded from their bytes) with `soundfile.read` (PyAV when libsndfile cannot), nothing
  else. Run once before the Spark job and twice after it; its time is the median of the three.

Audio hours are the `seconds` of the recordings table the Spark job wrote, for all three. Figures are in
audio hours per core-hour (wall clock); CPU-time figures are given beside the in-process ones. Details go
to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import io
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    bench_parser,
    emit,
    fresh_dir,
    log,
    sample_config,
    sample_corpus,
    start_spark,
    timed,
    work_dir,
)


def _pyav_decode(src: str | io.BytesIO) -> tuple[np.ndarray, int]:
    import av

    with av.open(src) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        rate = stream.rate
    if not frames:
        return np.zeros((0,), np.float32), rate
    x = np.concatenate(frames, axis=-1)  # (channels, n) for planar formats, (1, n*channels) for packed
    return x.T, rate


def _read_span(src: str | io.BytesIO, start: float | None, end: float | None) -> float:
    """Decode [start, end) seconds of one file with soundfile (PyAV as fallback); returns seconds read."""
    try:
        with sf.SoundFile(src) as f:
            rate = f.samplerate
            a = round(start * rate) if start else 0
            b = round(end * rate) if end is not None else -1
            if a:
                f.seek(a)
            x = f.read(b - a if b >= 0 else -1, dtype="float32")
        if len(x):
            return len(x) / rate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    if isinstance(src, io.BytesIO):
        src.seek(0)
    x, rate = _pyav_decode(src)
    a = round(start * rate) if start else 0
    b = round(end * rate) if end is not None else len(x)
    return len(x[a:b]) / rate


def reference_decode(recordings: pa.Table) -> tuple[int, float]:
    """Plain decode of the audio of every accepted item; (items decoded, seconds of audio decoded)."""
    from omnicorpus.manifests.keys import split_row_uri

    rows = recordings.select(["source_uri", "start", "end"]).to_pylist()
    by_parquet: dict[str, list[tuple[int, Any, Any]]] = defaultdict(list)
    n, seconds = 0, 0.0
    for r in rows:
        path, row = split_row_uri(r["source_uri"])
        if row is None:
            seconds += _read_span(path, r["start"], r["end"])
            n += 1
        else:
            by_parquet[path].append((row, r["start"], r["end"]))
    for path, items in by_parquet.items():
        audio = pq.read_table(path, columns=["audio"]).column("audio")
        for row, start, end in items:
            cell = audio[row].as_py()
            if cell.get("bytes"):
                src: str | io.BytesIO = io.BytesIO(cell["bytes"])
            else:
                src = str(Path(path).parent / cell["path"])
            seconds += _read_span(src, start, end)
            n += 1
    return n, seconds


def _warm_page_cache(items: pa.Table) -> int:
    """Read every listed file once so that no timed run pays for the first read from disk."""
    from omnicorpus.manifests.keys import split_row_uri

    total = 0
    for uri in set(items.column("source_uri").to_pylist()):
        path, _ = split_row_uri(uri)
        if Path(path).is_file():  # not the documented missing files
            total += len(Path(path).read_bytes())
    return total


def main() -> None:
    ap = bench_parser(__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2, help="Spark local[N] (default 2)")
    ap.add_argument("--warm-up", action="store_true",
                    help="run a trivial Spark job before timing (starts the Python workers; reported apart)")
    args = ap.parse_args()

    from omnicorpus.manifests.layout import table_uri
    from omnicorpus.manifests.schema import RECORDINGS
    from omnicorpus.manifests.tables import read_table
    from omnicorpus.pipelines.ingest import ingest_spec, list_sources, run_ingest
    from omnicorpus.pipelines.stage import run_local

    work = work_dir(args.work)
    sample, _, build_s = sample_corpus(work, args.scale, args.seed)
    cfg = sample_config(sample, work / "ingest-spark")
    items, list_s, _ = timed(lambda: list_sources(cfg))
    cached = _warm_page_cache(items)
    log(f"{items.num_rows} items listed in {list_s:.2f} s; {cached / 1e6:.0f} MB of source files read once")

    # ours, in process: the stage alone (one core)
    local_root = str(fresh_dir(work / "ingest-local"))
    local, local_wall, local_cpu = timed(lambda: run_local(ingest_spec(local_root, cfg.ingest), items))
    local_h = pc.sum(local.kept.column("seconds")).as_py() / 3600
    log(f"ours in-process: {local.kept.num_rows} recordings ({local_h:.3f} h), {local.rejects.num_rows} rejects "
        f"in {local_wall:.1f} s wall, {local_cpu:.1f} s CPU")

    ref_walls: list[float] = []
    ref_cpus: list[float] = []

    def run_reference() -> tuple[int, float]:
        out, wall, cpu = timed(lambda: reference_decode(local.kept))
        ref_walls.append(wall)
        ref_cpus.append(cpu)
        log(f"reference ({len(ref_walls)}): {out[0]} items decoded in {wall:.2f} s wall, {cpu:.2f} s CPU")
        return out

    ref_n, ref_seconds = run_reference()

    # ours, on Spark
    spark, spark_start_s, spark_warm_s = start_spark(f"local[{args.cores}]", args.warm_up)
    try:
        report, spark_wall, _ = timed(lambda: run_ingest(cfg, spark))
    finally:
        spark.stop()
    recordings = read_table(table_uri(cfg.output, "recordings"), RECORDINGS)
    audio_s = pc.sum(recordings.column("seconds")).as_py()
    audio_h = audio_s / 3600
    log(f"ours on Spark local[{args.cores}]: {report.recordings} recordings ({audio_h:.3f} h), "
        f"{report.rejects} rejects of {report.new} items in {spark_wall:.1f} s wall")
    if recordings.num_rows != local.kept.num_rows or abs(audio_h - local_h) > 1e-6:
        log(f"WARNING: Spark and in-process ingest disagree: {recordings.num_rows} vs {local.kept.num_rows} "
            f"recordings, {audio_h:.4f} vs {local_h:.4f} h")

    # the reference again, after the Spark job (the machine is noisy): the median of the three runs counts
    run_reference()
    run_reference()
    ref_wall, ref_cpu = statistics.median(ref_walls), statistics.median(ref_cpus)

    def per_core_hour(seconds: float, cores: int = 1) -> float:
        return audio_h / (seconds * cores / 3600)

    ours = per_core_hour(spark_wall, args.cores)
    ours_local, ours_local_cpu = per_core_hour(local_wall), per_core_hour(local_cpu)
    reference, reference_cpu = per_core_hour(ref_wall), per_core_hour(ref_cpu)
    log(f"\naudio hours per core-hour (wall clock; CPU time in brackets):\n"
        f"  ours on Spark local[{args.cores}]:  {ours:9.0f}   "
        f"(not counted: session start {spark_start_s:.1f} s, warm-up {spark_warm_s:.1f} s)\n"
        f"  ours in-process:        {ours_local:9.0f}   ({ours_local_cpu:.0f})\n"
        f"  reference soundfile:    {reference:9.0f}   ({reference_cpu:.0f})\n"
        f"  ratio Spark/reference {ours / reference:.3f}, in-process/reference {ours_local / reference:.3f}, "
        f"Spark/in-process {ours / ours_local:.3f}")
    emit({
        "bench": "ingest",
        "ours": round(ours, 1),
        "reference": round(reference, 1),
        "ratio": round(ours / reference, 4),
        "unit": "audio hours per core-hour",
        "scale": args.scale,
        "cores": args.cores,
        "audio_hours": round(audio_h, 4),
        "items": items.num_rows,
        "recordings": report.recordings,
        "rejects": report.rejects,
        "spark_wall_s": round(spark_wall, 2),
        "spark_startup_s": round(spark_start_s, 2),
        "spark_warm_up_s": round(spark_warm_s, 2) if args.warm_up else None,
        "listing_s": round(list_s, 2),
        "ours_in_process": round(ours_local, 1),
        "ours_in_process_cpu": round(ours_local_cpu, 1),
        "in_process_wall_s": round(local_wall, 2),
        "ratio_in_process": round(ours_local / reference, 4),
        "reference_cpu": round(reference_cpu, 1),
        "reference_wall_s": [round(w, 2) for w in ref_walls],
        "reference_audio_hours": round(ref_seconds / 3600, 4),
        "sample_build_s": round(build_s, 1),
    })


if __name__ == "__main__":
    main()
