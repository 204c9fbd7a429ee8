"""Benchmark: the training loader's samples/s against a plain FLAC decode loop and Lhotse, same data.

    python bench/loader.py [--release DIR | --scale N --seed S --work DIR] [--samples N] [--repeat R]
                           [--max-seconds S] [--workers W]

The data: the labelled training utterances of a release (given with --release, or made by running the
whole pipeline on the sample corpus at --scale under DIR: `DIR/out/releases/latest` is reused when there).
Their FLAC members are extracted from the shards into one plain folder beforehand (not timed). Then, in one
process, alternating --repeat times (each figure is the median), each reading --samples utterances:

* ours: `model.data.TrainLoader` with num_workers=0 over the release's shards: sampler draws, shard reads
  through the LRU of open tars, FLAC decode, length bucketing (--max-seconds per batch), padding into a
  float32 batch, text to ids. Samples/s counts utterances in the batches it yields;
* reference: a plain loop, `soundfile.read(path, dtype="float32")` over the extracted files (cycled), no
  batching, no sampling: the cost of the decode alone;
* lhotse (when it imports): a CutSet of the same extracted files (Recording.from_file, one supervision with
  the text), `DynamicBucketingSampler(max_duration=--max-seconds, shuffle=True)` and
  `lhotse.dataset.collation.collate_audio` per batch (what Lhotse's datasets do to load a batch): samples/s.
  Building the CutSet (which reads each file's header) is not timed.

Everything runs with torch.set_num_threads(1), as in a DataLoader worker (Lhotse's collation pads with
torch slice assignments, which the intra-op thread pool makes several times slower on a busy 2-core machine).
With --workers W > 0, ours is also timed with W DataLoader worker processes (reported as ours_workers).
ratio = ours / reference. Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import statistics
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_parser, emit, fresh_dir, log, sample_config, sample_corpus, start_spark, work_dir  # noqa: E402


def make_release(work: Path, scale: int, seed: int) -> Path:
    from omnicorpus.manifests.release import open_release

    out = work / "out"
    if (out / "releases" / "latest").exists():
        release = open_release(out).path
        log(f"reusing release {release}")
        return release
    sample, _, _ = sample_corpus(work, scale, seed)
    cfg = sample_config(sample, out)
    spark, _, _ = start_spark("local[2]")
    try:
        from omnicorpus.pipelines.run import run_pipeline

        t0 = time.perf_counter()
        report = run_pipeline(cfg, spark)
        log(f"pipeline made {report.release.path} in {time.perf_counter() - t0:.0f} s")
        return Path(report.release.path)
    finally:
        spark.stop()


def extract_flacs(release: Path, folder: Path) -> list[tuple[Path, str, float]]:
    """(file, text, seconds) of every labelled training utterance, its FLAC member written to `folder`."""
    from omnicorpus.model.manifest import shard_uri
    from omnicorpus.model.sampler import split_utterances

    fresh_dir(folder)
    utts = split_utterances(release, "train")
    out = []
    for shard, group in utts.group_by("shard", maintain_order=True):
        wanted = {f"{k}.flac": (t, s) for k, t, s in group.select("key", "text", "seconds").iter_rows()}
        with tarfile.open(shard_uri(release, str(shard[0]))) as tar:
            for member in tar:
                if member.name in wanted:
                    path = folder / member.name
                    path.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
                    out.append((path, *wanted[member.name]))
    return out


def bench_ours(release: Path, samples: int, max_seconds: float, workers: int) -> float:
    from omnicorpus.model.data import TrainLoader
    from omnicorpus.model.sampler import LoaderConfig
    from omnicorpus.model.vocab import vocab_for_release

    vocab = vocab_for_release(release)
    cfg = LoaderConfig(max_seconds_per_batch=max_seconds, batches_per_epoch=10**9, buffer_size=256)
    loader = TrainLoader(release, vocab, cfg, num_workers=workers)
    t0, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch["keys"])
        if n >= samples:
            break
    return n / (time.perf_counter() - t0)


def bench_reference(files: list[tuple[Path, str, float]], samples: int) -> float:
    t0 = time.perf_counter()
    for i in range(samples):
        audio, _ = sf.read(files[i % len(files)][0], dtype="float32")
    return samples / (time.perf_counter() - t0)


def lhotse_cuts(files: list[tuple[Path, str, float]]) -> Any:
    from lhotse import CutSet, Recording, SupervisionSegment

    cuts = []
    for path, text, _ in files:
        rec = Recording.from_file(path)
        sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, text=text)
        cuts.append(rec.to_cut().attach_supervision(sup) if hasattr(rec.to_cut(), "attach_supervision")
                    else rec.to_cut())
    return CutSet.from_cuts(cuts)


def bench_lhotse(cuts: Any, samples: int, max_seconds: float) -> float:
    from lhotse.dataset import DynamicBucketingSampler
    from lhotse.dataset.collation import collate_audio

    t0, n, epoch = time.perf_counter(), 0, 0
    while n < samples:
        sampler = DynamicBucketingSampler(cuts, max_duration=max_seconds, shuffle=True, seed=epoch,
                                          num_buckets=4, drop_last=False)
        for batch_cuts in sampler:
            collate_audio(batch_cuts)
            n += len(batch_cuts)
            if n >= samples:
                break
        epoch += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = bench_parser(__doc__.splitlines()[0], scale=2)
    ap.add_argument("--release", type=Path, default=None, help="an existing release folder (skips the pipeline)")
    ap.add_argument("--samples", type=int, default=2000, help="utterances read per measurement (default 2000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="max padded seconds per batch (default 60)")
    ap.add_argument("--workers", type=int, default=0, help="also time ours with W DataLoader workers")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    work = work_dir(args.work)
    release = args.release.resolve() if args.release else make_release(work, args.scale, args.seed)
    files = extract_flacs(release, work / "flac")
    hours = sum(s for _, _, s in files) / 3600
    shards = pl.read_parquet(release / "utterances.parquet").filter(pl.col("split") == "train")["shard"].n_unique()
    log(f"release {release}: {len(files)} labelled training utterances ({hours * 60:.1f} min) in {shards} shards")

    cuts, lhotse_note = None, None
    try:
        import lhotse

        cuts = lhotse_cuts(files)
        lhotse_note = f"lhotse {lhotse.__version__}"
    except Exception as exc:  # not installed, or does not import beside this torch
        lhotse_note = f"lhotse unavailable: {type(exc).__name__}: {exc}"
    log(lhotse_note)

    ours, ref, lho, ours_w = [], [], [], []
    for r in range(args.repeat):
        ours.append(bench_ours(release, args.samples, args.max_seconds, 0))
        ref.append(bench_reference(files, args.samples))
        if cuts is not None:
            lho.append(bench_lhotse(cuts, args.samples, args.max_seconds))
        if args.workers:
            ours_w.append(bench_ours(release, args.samples, args.max_seconds, args.workers))
        log(f"run {r + 1}: ours {ours[-1]:.0f}/s, reference {ref[-1]:.0f}/s"
            + (f", lhotse {lho[-1]:.0f}/s" if lho else "") + (f", ours x{args.workers} {ours_w[-1]:.0f}/s"
                                                                if ours_w else ""))
    record: dict[str, Any] = {"bench": "loader", "ours": round(statistics.median(ours), 1),
                              "reference": round(statistics.median(ref), 1)}
    record["ratio"] = round(record["ours"] / record["reference"], 3)
    record["unit"] = "samples/s"
    record["lhotse"] = round(statistics.median(lho), 1) if lho else None
    if lho:
        record["ratio_lhotse"] = round(record["ours"] / record["lhotse"], 3)
    else:
        record["lhotse_note"] = lhotse_note
    if ours_w:
        record["ours_workers"] = round(statistics.median(ours_w), 1)
        record["workers"] = args.workers
    record.update({"samples": args.samples, "utterances": len(files), "shards": shards,
                   "max_seconds_per_batch": args.max_seconds})
    emit(record)


if __name__ == "__main__":
    main()
