"""Benchmark: an export's memory does not grow with the release it exports.

    python bench/export.py [--small 5000] [--large 100000] [--per-shard 1000] [--work DIR] [--formats a,b]

Two synthetic releases are built (no pipeline run: shards of real 16 kHz mono FLAC samples, 0.1 s each, their
manifests made by `build_release` as a pipeline run makes them), one of --small and one of --large
utterances over several languages, corpora and splits. Each format is then exported from each, as a user runs
it (`omnicorpus export REL OUT --format F`, the installed console script in a fresh process), and the peak
resident memory of that process is read from the kernel (`os.wait4`'s `ru_maxrss`). The reference, in the
same command, is the same console script doing nothing (`omnicorpus export --help`): the cost of the
interpreter and its imports. A streaming export's `rss_growth_mb` (large minus small) stays near zero while the
release grows --large/--small times; an export that held the release's rows would grow by about a kilobyte a
row. Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, work_dir  # noqa: E402

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))
FORMATS = ("omnilingual-parquet", "lhotse", "lhotse-shar", "hf", "nemo")
LANGUAGES = ("eng_Latn", "hin_Deva", "swh_Latn", "yor_Latn")
CORPORA = ("synth-a", "synth-b")
SPLITS = ("train", "dev", "test")


def flac_sample(seed: int) -> bytes:
    import numpy as np
    import soundfile as sf

    noise = (np.random.default_rng(seed).standard_normal(1600) * 300).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, noise, 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def build(root: Path, utterances: int, per_shard: int) -> Path:
    """A release of `utterances` 0.1 s utterances in shards of `per_shard`, groups taking turns."""
    import pyarrow as pa

    from omnicorpus.manifests.release import build_release
    from omnicorpus.manifests.schema import REJECTS

    flac = flac_sample(0)
    groups = [(lang, corpus, split) for lang in LANGUAGES for corpus in CORPORA for split in SPLITS]
    shards, rows = [], []
    for index, start in enumerate(range(0, utterances, per_shard)):
        lang, corpus, split = groups[index % len(groups)]
        path = f"shards/{lang}/{corpus}/{split}/synth-{index:06d}.tar"
        keys = [f"{corpus}-{i:09d}-0000" for i in range(start, min(start + per_shard, utterances))]
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        with open(root / path, "wb") as f, tarfile.open(fileobj=f, mode="w|") as tar:
            for key in keys:
                _tar_member(tar, f"{key}.flac", flac)
                _tar_member(tar, f"{key}.json", b"{}")
        data = (root / path).read_bytes()
        shards.append({"path": path, "language": lang, "corpus": corpus, "split": split, "num_samples": len(keys),
                       "seconds": 0.1 * len(keys), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        rows += [{"key": key, "shard": path, "language": lang, "corpus": corpus, "split": split, "seconds": 0.1,
                  "text": f"utterance number {key[-14:-5]} of the synthetic release", "speaker": f"spk-{i % 97:04d}",
                  "source": f"synthetic://{key}", "start": 0.0, "end": 0.1} for i, key in enumerate(keys)]
    sources = [{"name": c, "layout": "synthetic", "license": "CC-BY-4.0"} for c in CORPORA]
    release, _ = build_release(str(root), pa.Table.from_pylist(shards), pa.Table.from_pylist(rows),
                               REJECTS.empty_table(), config_hash="bench-export", extra={"sources": sources})
    return release.path


# A child's ru_maxrss starts from its parent's at fork (Linux keeps the high-water mark across exec), so the
# command is started by a bare interpreter (`python -I -S`, about 10 MB) that reports its child's rusage.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - start, file=sys.stderr)
"""


def peak_rss(*args: str) -> tuple[float, float]:
    """(peak resident MB, wall seconds) of `omnicorpus ARGS` in a fresh process."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    run = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, OMNICORPUS, *args], capture_output=True,
                         text=True, env=env)
    code, kilobytes, wall = run.stderr.strip().splitlines()[-1].split()
    if int(code) != 0:
        log(run.stdout[-2000:], run.stderr[-2000:])
        raise SystemExit(f"omnicorpus {' '.join(args)} failed")
    return int(kilobytes) / 1024, float(wall)  # Linux gives kilobytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--large", type=int, default=100000)
    ap.add_argument("--per-shard", type=int, default=1000)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = work_dir(args.work)
    releases = {}
    for name, count in (("small", args.small), ("large", args.large)):
        start = time.perf_counter()
        releases[name] = build(work / name, count, args.per_shard)
        log(f"{name}: {count} utterances built in {time.perf_counter() - start:.1f} s")
    reference_mb, _ = peak_rss("export", "--help")
    log(f"reference (omnicorpus export --help): {reference_mb:.0f} MB")
    record: dict[str, Any] = {"bench": "export", "small_utterances": args.small, "large_utterances": args.large,
                              "reference_rss_mb": round(reference_mb, 1)}
    for fmt in args.formats.split(","):
        figures = {}
        for name, release in releases.items():
            out = work / f"out-{name}-{fmt}"
            mb, wall = peak_rss("export", str(release), str(out), "--format", fmt)
            figures[name] = (mb, wall)
            log(f"{fmt} {name}: peak {mb:.0f} MB, {wall:.1f} s")
        (small_mb, _), (large_mb, large_s) = figures["small"], figures["large"]
        record[fmt] = {"rss_small_mb": round(small_mb, 1), "rss_large_mb": round(large_mb, 1),
                       "rss_growth_mb": round(large_mb - small_mb, 1),
                       "rss_large_over_reference": round(large_mb / reference_mb, 3),
                       "large_utterances_per_s": round(args.large / large_s, 1)}
    emit(record)


if __name__ == "__main__":
    main()
