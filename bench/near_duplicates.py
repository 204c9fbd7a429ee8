"""Benchmark: acoustic fingerprints for near-duplicate audio (omnicorpus.pipelines.fingerprint), their cost
against the segment stage's VAD on the same audio, and how well they tell copies from other recordings.

    python bench/near_duplicates.py [--scale N] [--seed S] [--work DIR] [--clips K]

On the sample corpus's labelled clips (decoded to 16 kHz mono as ingest does), in the same run:

* reference: batched silero-vad (`pipelines.vad.speech_probabilities`, one torch thread) over every clip;
* ours: `fingerprint.signature` of every clip; the ratio of the two CPU times is `cost_ratio_to_vad`.

Then K clips (default 40) are copied with sox, lame and opusenc as a crawl re-publishes a recording (MP3 at
32 kbit/s, Opus at 16 kbit/s, through 8 kHz and 44.1 kHz, -9 dB, trimmed by 0.37 s, by 0.2 s and 0.8 s, padded
by 0.7 and 0.5 s), and every clip is compared with every other (exact copies, which the sample corpus holds on
purpose and dedup finds by hash, left out): the similarity of each copy to its original
(per kind), of different recordings of the same sentence (other voices), and of all other pairs of different
recordings. `recall` is the share of copies at or over the threshold (`dedup.min_similarity`), `band_recall`
the share that the band index also makes candidates; `false_pairs` counts other pairs over it. Details go to
stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_parser, emit, log, sample_corpus, work_dir  # noqa: E402

COPIES = {
    "mp3_32k": (".mp3", lambda s, d: ["lame", "--quiet", "-b", "32", s, d]),
    "opus_16k": (".opus", lambda s, d: ["opusenc", "--quiet", "--bitrate", "16", s, d]),
    "via_8khz": (".wav", lambda s, d: ["sox", "-q", s, "-r", "8000", d]),
    "via_44khz": (".wav", lambda s, d: ["sox", "-q", s, "-r", "44100", d]),
    "gain_-9db": (".wav", lambda s, d: ["sox", "-q", s, d, "gain", "-9"]),
    "trim_start": (".wav", lambda s, d: ["sox", "-q", s, d, "trim", "0.37"]),
    "trim_both": (".wav", lambda s, d: ["sox", "-q", s, d, "trim", "0.2", "-0.8"]),
    "padded": (".wav", lambda s, d: ["sox", "-q", s, d, "pad", "0.7", "0.5"]),
}


def decode(path: Path) -> np.ndarray:
    from omnicorpus.corpus.audio import decode_audio

    return decode_audio(path.read_bytes(), name=str(path)).samples


def main() -> None:
    ap = bench_parser(__doc__.splitlines()[0], scale=1)
    ap.add_argument("--clips", type=int, default=40)
    args = ap.parse_args()
    import torch

    from omnicorpus.corpus.registry import list_source
    from omnicorpus.manifests.config import DedupParams, load_config
    from omnicorpus.pipelines import fingerprint as fp
    from omnicorpus.pipelines.vad import speech_probabilities

    torch.set_num_threads(1)
    work = work_dir(args.work)
    sample, _, _ = sample_corpus(work, args.scale, args.seed)
    cfg = load_config(sample / "omnicorpus.yaml")
    clips: list[tuple[str, str | None, Path]] = []  # (source, text, file)
    for source in cfg.sources:
        if source.labelled and source.layout in ("fleurs", "common_voice", "librispeech"):
            table, _ = list_source(source)
            clips += [(source.name, r["raw_text"], Path(r["source_uri"])) for r in table.to_pylist()
                      if Path(r["source_uri"]).is_file() and r["start"] is None]
    audio = []
    for _, _, path in clips:
        try:
            audio.append(decode(path))
        except Exception:  # the sample corpus holds broken files on purpose
            audio.append(np.zeros(0, np.float32))
    keep = [i for i, x in enumerate(audio) if len(x) >= 16000 and np.abs(x).max() > 0.01]  # no silent clip
    clips, audio = [clips[i] for i in keep], [audio[i] for i in keep]
    seconds = sum(len(x) for x in audio) / 16000
    speech_probabilities(audio[:2], batch_streams=64)  # model load and JIT warm-up, as the bench of VAD
    t0 = time.process_time()
    speech_probabilities(audio, batch_streams=64)
    vad_cpu = time.process_time() - t0
    t0 = time.process_time()
    signatures = [fp.signature(x) for x in audio]
    fp_cpu = time.process_time() - t0
    log(f"{len(audio)} clips, {seconds / 3600:.3f} h: VAD {vad_cpu / seconds * 3600:.2f} CPU-s per audio hour, "
        f"fingerprints {fp_cpu / seconds * 3600:.2f}")
    threshold = DedupParams().min_similarity
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(clips), size=min(args.clips, len(clips)), replace=False).tolist())
    by_kind: dict[str, list[float]] = {k: [] for k in COPIES}
    banded = found = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in picked:
            wav = Path(tmp) / f"{n}.wav"
            subprocess.run(["sox", "-q", str(clips[n][2]), "-b", "16", str(wav)], check=True)
            for kind, (suffix, command) in COPIES.items():
                copy = Path(tmp) / f"{n}-{kind}{suffix}"
                subprocess.run(command(str(wav), str(copy)), check=True)
                sig = fp.signature(decode(copy))
                original = signatures[n]
                score = 0.0 if sig is None or original is None else fp.similarity(original, sig)
                by_kind[kind].append(score)
                found += score >= threshold
                banded += score >= threshold and bool(set(fp.bands(sig)) & set(fp.bands(original))) \
                    if sig is not None and original is not None else False
    same_text, other = [], []
    pcm = [hashlib.sha256(np.round(x * 32767).astype(np.int16).tobytes()).digest() for x in audio]
    for a, b in itertools.combinations(range(len(clips)), 2):
        if signatures[a] is None or signatures[b] is None or pcm[a] == pcm[b]:
            continue  # the sample corpus's exact copies (its split leaks) are dedup's by hash
        score = fp.similarity(signatures[a], signatures[b])
        (same_text if clips[a][1] and clips[a][1] == clips[b][1] else other).append(score)
    copies = [s for scores in by_kind.values() for s in scores]
    for kind, scores in by_kind.items():
        log(f"{kind:11s} min {min(scores):.3f} median {np.median(scores):.3f}")
    log(f"same sentence, other voice: max {max(same_text, default=0):.3f} of {len(same_text)} pairs; other pairs: "
        f"max {max(other):.3f}, 99.9th percentile {np.quantile(other, 0.999):.3f} of {len(other)}")
    emit({"bench": "near_duplicates", "clips": len(clips), "audio_hours": round(seconds / 3600, 4),
          "vad_cpu_s_per_hour": round(vad_cpu / seconds * 3600, 3),
          "fingerprint_cpu_s_per_hour": round(fp_cpu / seconds * 3600, 3),
          "cost_ratio_to_vad": round(fp_cpu / vad_cpu, 3), "threshold": threshold, "copies": len(copies),
          "copy_similarity_min": round(min(copies), 3), "copy_similarity_median": round(float(np.median(copies)), 3),
          "copy_min_by_kind": {k: round(min(v), 3) for k, v in by_kind.items()},
          "recall": round(found / len(copies), 4), "band_recall": round(banded / len(copies), 4),
          "same_sentence_other_voice_max": round(max(same_text, default=0.0), 3), "other_pairs": len(other),
          "other_pairs_max": round(max(other), 3), "false_pairs": sum(s >= threshold for s in other)})


if __name__ == "__main__":
    main()
