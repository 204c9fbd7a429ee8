"""Speech detection and segmentation policy (omnicorpus.pipelines.vad).

The real silero model shipped in the wheel and real synthetic speech (espeak-ng), no mocks.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from omnicorpus.manifests.config import SegmentParams
from omnicorpus.pipelines import vad

SR = 16_000

SENTENCES = [
    ("en", "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest."),
    ("en-us", "Please record the following sentence clearly, with a short pause at the end."),
    ("de", "Guten Morgen, heute ist ein schöner Tag, und wir gehen zusammen in den Park."),
    ("es", "La lluvia en Sevilla es una maravilla, dijo el profesor a sus estudiantes."),
    ("fr", "Bonjour à tous, nous allons commencer la réunion dans quelques minutes."),
]


def _say(tmp, i: int, voice: str, text: str, speed: int = 160) -> np.ndarray:
    path = tmp / f"utt{i}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    x, sr = sf.read(path, dtype="float32")
    return soxr.resample(x, sr, SR).astype(np.float32)


def _active_bounds(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the synthetic speech (espeak pads its output with a little silence)."""
    idx = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    return int(idx[0]), int(idx[-1]) + 1


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    tmp = tmp_path_factory.mktemp("espeak")
    return [_say(tmp, i, voice, text) for i, (voice, text) in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def audio_set(utterances):
    """At least 8 files of different lengths: speech with pauses, noise, silence, a tone."""
    rng = np.random.default_rng(7)
    u = utterances
    t = np.arange(3 * SR) / SR
    noisy = np.concatenate([_silence(1.0), u[4], _silence(0.8), u[0] * 0.5, _silence(1.1)])
    files = {
        "one_utterance": u[0],
        "pauses": np.concatenate(
            [_silence(0.7), u[1], _silence(1.3), u[2], _silence(0.4), u[3], _silence(2)]
        ),
        "noisy_pauses": noisy + rng.normal(0, 0.01, len(noisy)),
        "silent": _silence(5.0),
        "tone": (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "white_noise": rng.normal(0, 0.05, int(4.3 * SR)).astype(np.float32),
        "long_mixed": np.concatenate([x for i in range(8) for x in (u[i % 5], _silence(0.3 + 0.25 * i))]),
        "short_fragment": u[2][: int(0.9 * SR) + 123],
        "quiet": np.concatenate([_silence(0.5), 0.05 * u[3], _silence(0.5)]),
        "speech_over_tone": np.concatenate([u[1], _silence(1.0)])
        + 0.05 * np.sin(2 * np.pi * 220 * np.arange(len(u[1]) + SR) / SR),
    }
    return {k: np.asarray(v, dtype=np.float32) for k, v in files.items()}


def _reference_probs(model, x: np.ndarray) -> np.ndarray:
    """What get_speech_timestamps computes: the model's own wrapper, one 512-sample window at a time."""
    model.reset_states()
    audio = torch.from_numpy(x)
    out = []
    with torch.no_grad():
        for i in range(0, len(audio), 512):
            chunk = audio[i : i + 512]
            if len(chunk) < 512:
                chunk = torch.nn.functional.pad(chunk, (0, 512 - len(chunk)))
            out.append(model(chunk, SR).item())
    return np.array(out, dtype=np.float32)


def test_frame_agreement_with_silero(audio_set):
    import silero_vad

    model = vad._model()
    names = list(audio_set)
    streams = [audio_set[n] for n in names]
    params = SegmentParams(threshold=0.5, min_speech_ms=250, min_silence_ms=100, speech_pad_ms=30)
    probs = vad.speech_probabilities(streams, batch_streams=4)  # several groups
    agree = total = 0
    saw_speech = saw_none = 0
    for name, x, p in zip(names, streams, probs, strict=True):
        ref = silero_vad.get_speech_timestamps(
            torch.from_numpy(x),
            model,
            sampling_rate=SR,
            threshold=params.threshold,
            min_speech_duration_ms=params.min_speech_ms,
            min_silence_duration_ms=params.min_silence_ms,
            speech_pad_ms=params.speech_pad_ms,
        )
        ref_regions = [(d["start"], d["end"]) for d in ref]
        ours = vad.speech_regions(p, len(x), params)
        a, b = vad.frame_labels(ours, len(x)), vad.frame_labels(ref_regions, len(x))
        assert len(a) == len(b) == len(p)
        agree += int((a == b).sum())
        total += len(a)
        saw_speech += bool(ref_regions)
        saw_none += not ref_regions
        if name == "silent":
            assert ours == [] and ref_regions == []
    fraction = agree / total
    print(f"\nframe agreement with get_speech_timestamps: {fraction:.4%} of {total} frames")
    assert fraction >= 0.99
    assert saw_speech >= 5 and saw_none >= 1  # the set exercises both outcomes


def test_speech_regions_equal_silero_from_same_probs(audio_set):
    """Given the same probabilities, the hysteresis is silero's exactly (also with other parameters)."""
    from silero_vad import get_speech_timestamps_from_probs

    x = audio_set["long_mixed"]
    (p,) = vad.speech_probabilities([x])
    for params in (
        SegmentParams(),
        SegmentParams(threshold=0.3, min_silence_ms=300, speech_pad_ms=100),
        SegmentParams(threshold=0.7, neg_threshold=0.6, min_speech_ms=500, min_silence_ms=50, speech_pad_ms=0),
    ):
        ref = get_speech_timestamps_from_probs(
            p.tolist(),
            sampling_rate=SR,
            threshold=params.threshold,
            neg_threshold=params.neg_threshold,
            min_speech_duration_ms=params.min_speech_ms,
            min_silence_duration_ms=params.min_silence_ms,
            speech_pad_ms=params.speech_pad_ms,
            audio_length_samples=len(x),
        )
        assert vad.speech_regions(p, len(x), params) == [(d["start"], d["end"]) for d in ref]


def test_batched_probabilities_match_per_stream(audio_set):
    model = vad._model()
    streams = list(audio_set.values()) + [np.zeros(0, np.float32), audio_set["pauses"][:700]]
    batched = vad.speech_probabilities(streams, batch_streams=64)
    stepwise = vad._probabilities_stepwise(streams, batch_streams=5)
    for x, p, q in zip(streams, batched, stepwise, strict=True):
        ref = _reference_probs(model, x) if len(x) else np.zeros(0, np.float32)
        assert p.shape == q.shape == ref.shape == (-(-len(x) // 512),)
        assert p.dtype == np.float32
        if len(x):
            assert np.abs(p - ref).max() < 1e-3
            assert np.abs(q - ref).max() < 1e-3
    # Padding never leaks: a stream alone or beside longer/shorter ones gets the same numbers.
    alone = vad.speech_probabilities([audio_set["quiet"]])[0]
    idx = list(audio_set).index("quiet")
    assert np.abs(alone - batched[idx]).max() < 1e-5
    one_by_one = vad.speech_probabilities(streams[:4], batch_streams=1)
    for a, b in zip(one_by_one, batched[:4], strict=True):
        assert np.abs(a - b).max() < 1e-5


def _seg(*spans: tuple[float, float]) -> list[tuple[int, int]]:
    return [(int(s * SR), int(e * SR)) for s, e in spans]


def test_plan_segments_properties():
    rng = np.random.default_rng(0)
    params = SegmentParams(min_seconds=1.0, max_seconds=30.0, target_seconds=15.0)
    for trial in range(200):
        t, regions = rng.uniform(0, 2), []
        for _ in range(rng.integers(0, 40)):
            length = rng.choice([rng.uniform(0.2, 0.9), rng.uniform(0.5, 8), rng.uniform(5, 25)])
            regions.append((t, t + length))
            t += length + rng.choice([rng.uniform(0, 0.3), rng.uniform(0.3, 2.5), rng.uniform(3, 10)])
        regions = _seg(*regions)
        n = int((t + 1) * SR)
        segs = vad.plan_segments(regions, n, params)
        assert segs == vad.plan_segments(list(reversed(regions)), n, params)  # deterministic, order-free
        starts, ends = {s for s, _ in regions}, {e for _, e in regions}
        for i, (s, e) in enumerate(segs):
            assert SR * 1.0 <= e - s <= SR * 30.0
            assert s in starts and e in ends  # cuts only at region bounds: never inside speech
            assert i == 0 or segs[i - 1][1] <= s
            # a region is either wholly inside a segment or wholly outside it
            for rs, re in regions:
                assert re <= s or rs >= e or (s <= rs and re <= e)
        # all speech of at least min_seconds is kept (only short isolated bits can go)
        for rs, re in regions:
            if re - rs >= SR:
                assert any(s <= rs and re <= e for s, e in segs), trial


def test_plan_segments_prefers_longest_pause_and_target():
    params = SegmentParams(min_seconds=1.0, max_seconds=30.0, target_seconds=15.0)
    regions = _seg((0, 5), (5.3, 10), (12.0, 16), (16.2, 20), (20.4, 24))
    # 24 s > target: one cut, at the 2 s pause (10 -> 12), not at the shorter ones.
    assert vad.plan_segments(regions, 25 * SR, params) == _seg((0, 10), (12, 24))
    # everything within target stays one segment, pauses included
    assert vad.plan_segments(_seg((0.5, 4), (4.5, 9)), 10 * SR, params) == _seg((0.5, 9))
    # a long run is cut repeatedly; every piece <= target when pauses allow
    many = _seg(*[(i * 3.0, i * 3.0 + 2.5) for i in range(20)])
    segs = vad.plan_segments(many, 60 * SR, params)
    assert all(e - s <= 15 * SR for s, e in segs) and len(segs) >= 4
    assert sum(e - s for s, e in segs) >= sum(e - s for s, e in many)


def test_plan_segments_short_speech():
    params = SegmentParams(min_seconds=1.0, max_seconds=30.0, target_seconds=15.0, max_pause_seconds=3.0)
    # isolated short speech (far from anything) is dropped
    assert vad.plan_segments(_seg((0, 0.5), (10, 14)), 20 * SR, params) == _seg((10, 14))
    assert vad.plan_segments(_seg((2, 2.6)), 5 * SR, params) == []
    # short speech near a neighbour joins it (the closer one)
    assert vad.plan_segments(_seg((0, 14.5), (15, 15.5), (16.5, 20)), 21 * SR, params) == _seg(
        (0, 15.5), (16.5, 20)
    )
    assert vad.plan_segments([], 10 * SR, params) == []


def test_plan_segments_splits_overlong_region():
    params = SegmentParams(min_seconds=1.0, max_seconds=30.0, target_seconds=15.0)
    regions = _seg((1, 2.5), (3, 73), (74, 80))  # the middle region is 70 s of speech
    segs = vad.plan_segments(regions, 81 * SR, params)
    inner = [s for s in segs if s[0] >= 3 * SR and s[1] <= 73 * SR]
    assert len(inner) == 3  # ceil(70 / 30) near-equal pieces
    assert inner[0][0] == 3 * SR and inner[-1][1] == 73 * SR
    assert all(a[1] == b[0] for a, b in zip(inner, inner[1:], strict=False))  # contiguous
    lengths = [e - s for s, e in inner]
    assert max(lengths) <= 30 * SR and max(lengths) - min(lengths) <= 2
    assert vad.plan_segments(regions, 81 * SR, params) == segs
    # with probabilities, the cut moves to the quietest window near the even split
    probs = np.full(81 * SR // 512 + 1, 0.95, dtype=np.float32)
    dip = int(27.0 * SR) // 512  # the even split is at 26.33 s
    probs[dip] = 0.2
    cut_segs = vad.plan_segments(regions, 81 * SR, params, probs=probs)
    cuts = [s for s, _ in cut_segs if 3 * SR < s < 73 * SR]
    assert cuts[0] == dip * 512 + 256
    assert all(e - s <= 30 * SR for s, e in cut_segs)


def test_trim_span(audio_set, utterances):
    params = SegmentParams()
    silent = audio_set["silent"]
    (p,) = vad.speech_probabilities([silent])
    assert vad.speech_regions(p, len(silent), params) == []
    assert vad.trim_span([], len(silent)) is None

    speech = utterances[0]
    s0, e0 = _active_bounds(speech)
    lead = int(1.2 * SR)
    x = np.concatenate([_silence(1.2), speech, _silence(1.7)])
    (p,) = vad.speech_probabilities([x])
    span = vad.trim_span(vad.speech_regions(p, len(x), params), len(x))
    assert span is not None
    start, end = span
    true_start, true_end = lead + s0, lead + e0
    print(f"\ntrim: {start / SR:.3f}-{end / SR:.3f} s, speech {true_start / SR:.3f}-{true_end / SR:.3f} s")
    assert abs(start - true_start) <= 0.1 * SR
    assert abs(end - true_end) <= 0.1 * SR
