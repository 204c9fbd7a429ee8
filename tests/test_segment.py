"""Segmentation on the sample corpus: our batched VAD agrees with silero's own loop, long-form audio is cut
in pauses into 1-30 s segments, labelled clips are trimmed, silence is rejected."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import torch

from omnicorpus.corpus.audio import decode_audio
from omnicorpus.corpus.pcm import audio_metrics, encode_flac, read_flac
from omnicorpus.manifests.config import SegmentParams
from omnicorpus.manifests.layout import audio_store_path
from omnicorpus.manifests.schema import RECORDINGS, SAMPLE_RATE
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines import vad
from omnicorpus.pipelines.segment import segment_spec
from omnicorpus.pipelines.stage import run_local


def _sample_audio(sample_corpus, limit_clips: int = 24) -> dict[str, np.ndarray]:
    """The long-form recordings and a spread of labelled clips of the sample corpus, decoded to 16 kHz."""
    manifest = json.loads((sample_corpus / "MANIFEST.json").read_text())
    paths = sorted(manifest["longform_speech"])
    clips = sorted(p.relative_to(sample_corpus).as_posix() for p in (sample_corpus / "fleurs").rglob("*.wav"))
    bad = {b["path"] for b in manifest["bad_items"]}
    paths += [c for c in clips if c not in bad][:limit_clips]
    return {p: decode_audio((sample_corpus / p).read_bytes()).samples for p in paths}


def test_batched_vad_agrees_with_silero_on_the_sample_corpus(sample_corpus):
    import silero_vad

    audio = _sample_audio(sample_corpus)
    params = SegmentParams()
    names = list(audio)
    probs = vad.speech_probabilities([audio[n] for n in names])
    model = vad._model()
    agree = total = 0
    for name, p in zip(names, probs, strict=True):
        x = audio[name]
        ref = silero_vad.get_speech_timestamps(torch.from_numpy(x), model, sampling_rate=SAMPLE_RATE,
                                               threshold=params.threshold,
                                               min_speech_duration_ms=params.min_speech_ms,
                                               min_silence_duration_ms=params.min_silence_ms,
                                               speech_pad_ms=params.speech_pad_ms)
        a = vad.frame_labels(vad.speech_regions(p, len(x), params), len(x))
        b = vad.frame_labels([(r["start"], r["end"]) for r in ref], len(x))
        agree += int((a == b).sum())
        total += len(a)
    print(f"\nframe agreement on the sample corpus: {agree / total:.4%} of {total} frames of 32 ms")
    assert total > 10_000  # minutes of audio, not a token check
    assert agree / total >= 0.99


def _recordings(tmp_path, audio: dict[str, np.ndarray], labelled: bool) -> pa.Table:
    rows = []
    for i, (name, x) in enumerate(sorted(audio.items())):
        m = audio_metrics(x)
        rel = audio_store_path(m.pcm_sha256)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(encode_flac(x))
        rows.append({"recording_id": f"rec-{i:04d}", "corpus": "sample", "split": "train",
                     "language": "swh_Latn", "source_uri": name, "labelled": labelled,
                     "raw_text": "maneno" if labelled else None, "audio_path": rel, "num_samples": m.num_samples,
                     "seconds": m.seconds, "peak": m.peak, "clip_fraction": m.clip_fraction,
                     "pcm_sha256": m.pcm_sha256})
    return conform(rows, RECORDINGS)


def _assert_pack_holds_each_span(root, segments: list[dict], audio: dict[str, np.ndarray]) -> None:
    """Each segment's FLAC, read from its pack at its offset, is the segment's span of the recording."""
    for seg in segments:
        data = (root / seg["flac_pack"]).read_bytes()[seg["flac_offset"]:seg["flac_offset"] + seg["flac_bytes"]]
        a, b = round(seg["start"] * SAMPLE_RATE), round(seg["end"] * SAMPLE_RATE)
        expected = read_flac(encode_flac(audio[seg["source_uri"]]))[a:b]  # the stored recording, quantized
        assert np.array_equal(read_flac(data), expected), seg["segment_id"]


def test_long_form_recordings_are_cut_in_pauses(sample_corpus, tmp_path):
    manifest = json.loads((sample_corpus / "MANIFEST.json").read_text())
    audio = {p: a for p, a in _sample_audio(sample_corpus, 0).items() if p in manifest["longform_speech"]}
    params = SegmentParams()
    result = run_local(segment_spec(str(tmp_path), params), _recordings(tmp_path, audio, labelled=False))
    segments = result.kept.to_pylist()
    assert result.rejects.num_rows == 0
    by_recording: dict[str, list[dict]] = {}
    for seg in segments:
        by_recording.setdefault(seg["source_uri"], []).append(seg)
    assert set(by_recording) == set(audio), "every long recording gives segments"
    for name, segs in by_recording.items():
        truth = manifest["longform_speech"][name]
        speech = sum(e - s for s, e in truth)
        covered = sum(seg["speech_seconds"] for seg in segs)
        assert covered >= 0.9 * speech, f"{name}: segments hold {covered:.1f} of {speech:.1f} s of speech"
        for seg in segs:
            assert params.min_seconds <= seg["seconds"] <= params.max_seconds
            assert seg["end"] > seg["start"] and seg["speech_seconds"] <= seg["seconds"] + 1e-9
            # a cut never falls inside a spoken stretch of the ground truth (they are all < 30 s)
            for edge in (seg["start"], seg["end"]):
                inside = [(s, e) for s, e in truth if s + 0.25 < edge < e - 0.25]
                assert not inside, f"{name}: cut at {edge:.2f} s inside speech {inside}"
        starts = [seg["start"] for seg in sorted(segs, key=lambda s: s["segment_id"])]
        assert starts == sorted(starts)
    assert len({seg["flac_pack"] for seg in segments}) == 1, "one pack per batch of recordings"
    _assert_pack_holds_each_span(tmp_path, segments, audio)


def test_labelled_clips_are_trimmed_and_silence_rejected(sample_corpus, tmp_path):
    audio = dict(list(_sample_audio(sample_corpus, 6).items())[-6:])
    pad = np.zeros(SAMPLE_RATE, dtype=np.float32)
    padded = {k: np.concatenate([pad, x, pad]) for k, x in audio.items()}
    padded["silence.wav"] = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    result = run_local(segment_spec(str(tmp_path), SegmentParams()), _recordings(tmp_path, padded, labelled=True))
    kept = {s["source_uri"]: s for s in result.kept.to_pylist()}
    assert [r["reason"] for r in result.rejects.to_pylist()] == ["no_speech"]
    assert result.rejects.column("source_uri").to_pylist() == ["silence.wav"]
    for name, seg in kept.items():
        assert seg["start"] >= 0.9, f"{name}: a second of leading silence is trimmed"
        assert seg["end"] <= len(padded[name]) / SAMPLE_RATE - 0.85  # 30 ms pad + a 32 ms window
        assert seg["raw_text"] == "maneno" and seg["segment_id"].endswith("-0000")
    _assert_pack_holds_each_span(tmp_path, list(kept.values()), padded)
