"""Benchmark: batched silero-vad (omnicorpus.pipelines.vad) against silero's get_speech_timestamps.

    python bench/vad.py [--seconds N] [--streams K] [--batch-streams B]

Builds synthetic long-form speech with espeak-ng (utterances in several voices with pauses, some with
noise, some quiet), runs torch on one thread, and times on the same audio in the same run:

* reference: ``silero_vad.get_speech_timestamps`` per file, one file at a time;
* ours: ``speech_probabilities`` over all streams, then ``speech_regions`` per stream.

Real-time factor per core = seconds of audio / CPU seconds of this process (one torch thread, so the
same as wall seconds on an idle machine).  Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

SR = 16_000

TEXTS = [
    "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest.",
    "Please record the following sentence clearly, with a short pause at the end.",
    "Speech recognition systems need large amounts of carefully curated training data.",
    "On Monday morning the market opened early and the prices of fresh fruit went up again.",
    "She said that the train would arrive at half past seven, but it was late as usual.",
    "Numbers like three hundred and forty two are read aloud in many different ways.",
]
VOICES = ["en", "en-us", "en-gb-x-rp", "de", "es", "fr", "it", "pt"]


def _utterances(tmp: Path) -> list[np.ndarray]:
    out = []
    for i, text in enumerate(TEXTS):
        for j, voice in enumerate(VOICES[i % 3 :: 2]):
            path = tmp / f"u{i}_{j}.wav"
            speed = 140 + 15 * ((i + j) % 4)
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
            x, sr = sf.read(path, dtype="float32")
            out.append(soxr.resample(x, sr, SR).astype(np.float32))
    return out


def build_streams(total_seconds: float, n_streams: int, seed: int = 0) -> list[np.ndarray]:
    """n_streams files of unequal length (about total_seconds together): speech with pauses."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        utts = _utterances(Path(tmp))
    weights = rng.uniform(0.3, 1.7, n_streams)
    lengths = (weights / weights.sum() * total_seconds * SR).astype(int)
    streams = []
    for k, length in enumerate(lengths):
        parts, have = [], 0
        while have < length:
            pause = np.zeros(int(rng.choice([rng.uniform(0.1, 0.6), rng.uniform(0.6, 3.0)]) * SR), np.float32)
            speech = utts[rng.integers(len(utts))] * rng.uniform(0.2, 1.0)
            parts += [pause, speech]
            have += len(pause) + len(speech)
        x = np.concatenate(parts)[:length]
        if k % 3 == 1:  # some noisy files
            x = x + rng.normal(0, rng.uniform(0.003, 0.03), len(x))
        elif k % 7 == 3:  # some hum
            x = x + 0.05 * np.sin(2 * np.pi * 100 * np.arange(len(x)) / SR)
        streams.append(x.astype(np.float32))
    return streams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="total audio (default 600)")
    ap.add_argument("--streams", type=int, default=48, help="number of files (default 48)")
    ap.add_argument("--batch-streams", type=int, default=64)
    args = ap.parse_args()

    import silero_vad  # sets torch threads to 1 on import; set it explicitly anyway

    from omnicorpus.corpus.pcm import encode_flac
    from omnicorpus.manifests.config import SegmentParams
    from omnicorpus.pipelines import vad

    torch.set_num_threads(1)
    model = vad._model()
    params = SegmentParams()

    streams = build_streams(args.seconds, args.streams)
    audio_s = sum(len(x) for x in streams) / SR
    log = sys.stderr

    def reference(x: np.ndarray) -> list[tuple[int, int]]:
        ts = silero_vad.get_speech_timestamps(
            torch.from_numpy(x),
            model,
            sampling_rate=SR,
            threshold=params.threshold,
            min_speech_duration_ms=params.min_speech_ms,
            min_silence_duration_ms=params.min_silence_ms,
            speech_pad_ms=params.speech_pad_ms,
        )
        return [(d["start"], d["end"]) for d in ts]

    def ours(xs: list[np.ndarray]) -> list[list[tuple[int, int]]]:
        probs = vad.speech_probabilities(xs, batch_streams=args.batch_streams)
        return [vad.speech_regions(p, len(x), params) for p, x in zip(probs, xs, strict=True)]

    warm = [x[: 3 * SR] for x in streams[:4]]  # JIT warm-up for both, outside the timings
    for x in warm:
        reference(x)
    ours(warm)

    def timed(fn):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        return result, time.process_time() - c0, time.perf_counter() - w0

    ref_regions, ref_cpu, ref_wall = timed(lambda: [reference(x) for x in streams])
    our_regions, our_cpu, our_wall = timed(lambda: ours(streams))
    # what the segment stage adds to the VAD: each speech region's FLAC, stored for sharding to copy
    _, flac_cpu, _ = timed(lambda: [encode_flac(x[a:b]) for x, rs in zip(streams, our_regions, strict=True)
                                    for a, b in rs])

    agree = total = 0
    for x, a, b in zip(streams, our_regions, ref_regions, strict=True):
        la, lb = vad.frame_labels(a, len(x)), vad.frame_labels(b, len(x))
        agree += int((la == lb).sum())
        total += len(la)
    speech = sum(int(vad.frame_labels(b, len(x)).sum()) for x, b in zip(streams, ref_regions, strict=True))

    ref_x, our_x = audio_s / ref_cpu, audio_s / our_cpu
    print(
        f"audio {audio_s:.1f} s in {len(streams)} files ({speech / max(total, 1):.0%} speech frames), "
        f"torch threads {torch.get_num_threads()}\n"
        f"reference get_speech_timestamps: cpu {ref_cpu:.2f} s, wall {ref_wall:.2f} s -> {ref_x:.0f}x\n"
        f"ours (batch_streams={args.batch_streams}): "
        f"cpu {our_cpu:.2f} s, wall {our_wall:.2f} s -> {our_x:.0f}x\n"
        f"segment FLACs of the regions: cpu {flac_cpu:.2f} s ({flac_cpu / our_cpu:.0%} of ours)\n"
        f"frame agreement {agree / total:.4%} of {total} frames; "
        f"identical regions in {sum(a == b for a, b in zip(our_regions, ref_regions, strict=True))}"
        f"/{len(streams)} files",
        file=log,
    )
    print(
        json.dumps(
            {
                "bench": "vad",
                "ours": round(our_x, 1),
                "reference": round(ref_x, 1),
                "ratio": round(our_x / ref_x, 2),
                "agreement": round(agree / total, 6),
                "unit": "x real time per core",
                "ours_with_segment_flac": round(audio_s / (our_cpu + flac_cpu), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
