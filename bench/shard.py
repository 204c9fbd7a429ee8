"""Benchmark: shard writing throughput against system `tar` on the same files, and release time.

    python bench/shard.py [--scale N] [--seed S] [--work DIR] [--cores N] [--repeat R] [--flac-only]

Builds (or reuses) the sample corpus at --scale under DIR/sample, runs ingest and curate on Spark
(`local[N]`) into a fresh output root, then:

* release: times `make_release(cfg, spark)` on that root (shards on Spark, then the release manifests;
  both parts are timed inside it), and a second `make_release` when nothing changed (groups reused);
* ours: `write_group_shards` over each (language, corpus, split) group of the accepted segments, one
  after the other in this process, into an empty output root each time (the audio store, with the
  segment FLAC packs, linked in; nothing reused): MB of tar written per second of wall clock, the shard
  folders, the shards' SHA-256 and the group indexes included;
* reference: the members of those shards (`<key>.flac` and `<key>.json`; only the FLAC with --flac-only)
  extracted into one plain folder per group, then `tar -cf OUT.tar -C FOLDER .` (system tar) per group
  into an empty folder: MB of tar written per second of wall clock, process start included.

Emptying the output folders of the previous run is done before either clock starts.

Ours computes each shard's SHA-256 as it writes (shards.parquet holds it); tar does not, so the JSON also
gives `ratio_with_sha256`: ours against tar followed by `sha256sum` over its tars.

Ours and the reference alternate --repeat times; each figure is the median. ratio = ours / tar MB/s (the
goal is at least 0.8). Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    bench_parser,
    emit,
    fresh_dir,
    log,
    mb,
    sample_config,
    sample_corpus,
    start_spark,
    timed,
    work_dir,
)

if TYPE_CHECKING:
    from omnicorpus.pipelines.shard import ShardTask


def groups_of(accepted: pa.Table) -> list[pa.Table]:
    """The accepted segments split by (language, corpus, split), as run_shards groups them."""
    keys = list(zip(*(accepted.column(k).to_pylist() for k in ("language", "corpus", "split")), strict=True))
    index: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    return [accepted.take(pa.array(rows)) for _, rows in sorted(index.items(), key=lambda kv: str(kv[0]))]


def empty_output_root(root: Path, audio: Path) -> None:
    """`root` emptied, the audio store linked in (done before the clock starts, as for tar's folder)."""
    fresh_dir(root)
    (root / "audio").symlink_to(audio, target_is_directory=True)


def write_all_groups(groups: list[pa.Table], root: Path, task: ShardTask) -> pa.Table:
    """Our shard writer over every group, into `root`."""
    from omnicorpus.manifests.schema import SHARDS
    from omnicorpus.manifests.tables import concat
    from omnicorpus.pipelines.shard import write_group_shards

    task = dataclasses.replace(task, output_root=str(root))
    return concat([write_group_shards(g, task) for g in groups], SHARDS)


def extract_members(shards: pa.Table, root: Path, folders: Path, flac_only: bool) -> tuple[list[Path], int, int]:
    """Every member of every shard, as plain files, one folder per group; (folders, files, bytes)."""
    fresh_dir(folders)
    by_group: dict[tuple[Any, ...], list[str]] = {}
    for row in shards.select(["language", "corpus", "split", "path"]).to_pylist():
        by_group.setdefault((row["language"], row["corpus"], row["split"]), []).append(row["path"])
    out, files, size = [], 0, 0
    for i, (_, paths) in enumerate(sorted(by_group.items(), key=lambda kv: str(kv[0]))):
        folder = folders / f"g{i:05d}"
        folder.mkdir()
        for path in paths:
            with tarfile.open(root / path) as tar:
                members = [m for m in tar.getmembers() if not flac_only or m.name.endswith(".flac")]
                tar.extractall(folder, members=members, filter="data")
                files += len(members)
                size += sum(m.size for m in members)
        out.append(folder)
    return out, files, size


def tar_all(folders: list[Path], out: Path) -> int:
    """System tar over each folder into `out`; bytes written."""
    total = 0
    for folder in folders:
        target = out / f"{folder.name}.tar"
        subprocess.run(["tar", "-cf", str(target), "-C", str(folder), "."], check=True)
        total += target.stat().st_size
    return total


def sha256_all(out: Path) -> None:
    """`sha256sum` over the tars tar wrote: the checksum shards.parquet holds, which tar does not compute."""
    subprocess.run(["sha256sum", *sorted(map(str, out.glob("*.tar")))], check=True, stdout=subprocess.DEVNULL)


def with_timer(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result, wall, _ = timed(lambda: fn(*args, **kwargs))
        into.append(wall)
        return result

    return wrapper


def main() -> None:
    ap = bench_parser(__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2, help="Spark local[N] (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs of ours and tar (default 3)")
    ap.add_argument("--flac-only", action="store_true", help="reference tars only the FLAC members")
    args = ap.parse_args()

    from omnicorpus.manifests.layout import table_uri
    from omnicorpus.manifests.schema import SEGMENTS
    from omnicorpus.manifests.tables import read_table
    from omnicorpus.pipelines import run as run_module
    from omnicorpus.pipelines.curate import curate
    from omnicorpus.pipelines.ingest import run_ingest
    from omnicorpus.pipelines.shard import shard_spec_task

    work = work_dir(args.work)
    sample, _, build_s = sample_corpus(work, args.scale, args.seed)
    cfg = sample_config(sample, work / "shard-pipeline")
    root = Path(cfg.output)

    # the pipeline up to an accepted table, then two releases, timed with their parts
    shard_s: list[float] = []
    manifests_s: list[float] = []
    run_module.release_shards = with_timer(run_module.release_shards, shard_s)
    run_module.build_release = with_timer(run_module.build_release, manifests_s)
    spark, spark_start_s, _ = start_spark(f"local[{args.cores}]")
    try:
        ingest, ingest_s, _ = timed(lambda: run_ingest(cfg, spark))
        log(f"ingest: {ingest.recordings} recordings, {ingest.rejects} rejects in {ingest_s:.1f} s")
        cur, curate_s, _ = timed(lambda: curate(cfg, spark))
        log(f"curate: {cur.accepted} segments accepted in {curate_s:.1f} s")
        (release, new, _verdict), release_s, _ = timed(lambda: run_module.make_release(cfg, spark))
        log(f"release {release.id} (new: {new}) in {release_s:.1f} s: shards {shard_s[0]:.1f} s, "
            f"manifests {manifests_s[0]:.2f} s")
        (again, new_again, _verdict), again_s, _ = timed(lambda: run_module.make_release(cfg, spark))
        log(f"release again ({again.id}, new: {new_again}) in {again_s:.1f} s: shards {shard_s[1]:.1f} s, "
            f"manifests {manifests_s[1]:.2f} s")
    finally:
        spark.stop()
    if new_again or again.id != release.id:
        log("WARNING: a second make_release with nothing changed made a new release")

    accepted = read_table(table_uri(cfg.output, "accepted"), SEGMENTS)
    groups = groups_of(accepted)
    hours = pc.sum(accepted.column("seconds")).as_py() / 3600
    pipeline_shards = release.table("shards")
    release_mb = mb(pc.sum(pipeline_shards.column("bytes")).as_py())
    log(f"{accepted.num_rows} accepted segments ({hours:.3f} h) in {len(groups)} groups; "
        f"release holds {pipeline_shards.num_rows} shards, {release_mb:.1f} MB")

    bench = work / "shard-bench"
    ours_dir, tar_dir = bench / "ours", bench / "tar"
    ours_mbs: list[float] = []
    tar_mbs: list[float] = []
    ours_walls: list[float] = []
    tar_walls: list[float] = []
    tar_sha_mbs: list[float] = []
    folders: list[Path] = []
    ours_bytes = tar_bytes = n_files = files_bytes = 0
    # The pipeline above left this process a large heap (Spark's gateway, GX, torch) that Python's cyclic GC
    # would scan again and again while the writer allocates; a Spark worker writing shards holds none of it.
    gc.collect()
    gc.freeze()
    for rep in range(args.repeat):
        empty_output_root(ours_dir, root / "audio")
        shards, wall, _ = timed(lambda: write_all_groups(groups, ours_dir, shard_spec_task(cfg)))
        ours_bytes = pc.sum(shards.column("bytes")).as_py()
        ours_walls.append(wall)
        ours_mbs.append(mb(ours_bytes) / wall)
        if rep == 0:
            same = sorted(shards.column("sha256").to_pylist()) == sorted(pipeline_shards.column("sha256").to_pylist())
            if not same:
                log("WARNING: shards written here differ from the release's (determinism)")
            folders, n_files, files_bytes = extract_members(shards, ours_dir, bench / "files", args.flac_only)
        fresh_dir(tar_dir)
        tar_bytes, wall, _ = timed(lambda folders=folders: tar_all(folders, tar_dir))
        tar_walls.append(wall)
        tar_mbs.append(mb(tar_bytes) / wall)
        _, sha_wall, _ = timed(lambda: sha256_all(tar_dir))
        tar_sha_mbs.append(mb(tar_bytes) / (wall + sha_wall))
        log(f"run {rep + 1}: ours {mb(ours_bytes):.1f} MB in {ours_walls[-1]:.2f} s = {ours_mbs[-1]:.1f} MB/s; "
            f"tar {mb(tar_bytes):.1f} MB in {tar_walls[-1]:.2f} s = {tar_mbs[-1]:.1f} MB/s")

    ours = statistics.median(ours_mbs)
    reference = statistics.median(tar_mbs)
    reference_sha = statistics.median(tar_sha_mbs)
    log(f"\nshard writing, MB/s (median of {args.repeat}): ours {ours:.1f}, tar {reference:.1f} over {n_files} "
        f"files ({mb(files_bytes):.1f} MB) -> ratio {ours / reference:.3f} (goal 0.8); "
        f"against tar + sha256sum {reference_sha:.1f} MB/s -> {ours / reference_sha:.3f}\n"
        f"release of the sample corpus (scale {args.scale}, {hours:.2f} h accepted): {release_s:.1f} s "
        f"(shards {shard_s[0]:.1f} s, manifests {manifests_s[0]:.2f} s); again, nothing changed: {again_s:.1f} s")
    emit({
        "bench": "shard",
        "ours": round(ours, 2),
        "reference": round(reference, 2),
        "ratio": round(ours / reference, 4),
        "unit": "MB/s of tar written",
        "scale": args.scale,
        "cores": args.cores,
        "accepted_segments": accepted.num_rows,
        "accepted_hours": round(hours, 4),
        "groups": len(groups),
        "shards": pipeline_shards.num_rows,
        "ours_mb": round(mb(ours_bytes), 2),
        "tar_mb": round(mb(tar_bytes), 2),
        "tar_files": n_files,
        "ours_wall_s": [round(w, 3) for w in ours_walls],
        "tar_wall_s": [round(w, 3) for w in tar_walls],
        "reference_with_sha256": round(reference_sha, 2),
        "ratio_with_sha256": round(ours / reference_sha, 4),
        "release_s": round(release_s, 2),
        "release_shards_s": round(shard_s[0], 2),
        "release_manifests_s": round(manifests_s[0], 3),
        "release_again_s": round(again_s, 2),
        "release_again_shards_s": round(shard_s[1], 2),
        "release_again_new": new_again,
        "ingest_s": round(ingest_s, 2),
        "curate_s": round(curate_s, 2),
        "spark_startup_s": round(spark_start_s, 2),
        "sample_build_s": round(build_s, 1),
    })


if __name__ == "__main__":
    main()
