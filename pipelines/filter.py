"""Filter: the paper's filters over segments, each rejection with its reason and the failing value.

Checks run in a fixed order and the first that fails names the reason, so every segment is either kept
or rejected exactly once. The speaking-rate check counts characters of the normalized transcript (what
the model is trained to emit), falling back to the raw one.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from omnicorpus.manifests.config import FilterParams
from omnicorpus.manifests.schema import SAMPLE_RATE, SEGMENTS, Reason, Stage
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table


def filter_reason(seg: dict[str, Any], p: FilterParams) -> tuple[Reason, float | None, str] | None:
    """(reason, value, detail) of the first filter a segment fails, or None when it passes them all."""
    seconds = seg["seconds"]
    if seconds < p.min_seconds:
        return Reason.TOO_SHORT, seconds, f"{seconds:.3f} s < min {p.min_seconds:g} s"
    if seconds > p.max_seconds:
        return Reason.TOO_LONG, seconds, f"{seconds:.2f} s > max {p.max_seconds:g} s"
    if seg["labelled"]:
        raw = seg["raw_text"] or ""
        text = seg["text"] if seg["text"] is not None else raw
        if not raw.strip():
            return Reason.EMPTY_TRANSCRIPT, None, "transcript is empty"
        if not text.strip():
            return Reason.EMPTY_AFTER_NORMALIZATION, None, f"nothing left of {raw[:60]!r} after normalization"
        chars = len(text)
        per_char = seconds * SAMPLE_RATE / chars
        if per_char < p.min_samples_per_char:
            return (Reason.SPEAKING_RATE, per_char,
                    f"{per_char:.0f} samples per character < {p.min_samples_per_char:g} "
                    f"({chars} characters in {seconds:.2f} s)")
    clip = seg["clip_fraction"]
    if clip is not None and clip > p.max_clip_fraction:
        return Reason.CLIPPING, clip, f"{clip:.2%} of samples clipped > {p.max_clip_fraction:.2%}"
    return quality_reason(seg, p)


def quality_reason(seg: dict[str, Any], p: FilterParams) -> tuple[Reason, float | None, str] | None:
    """The first quality floor a segment fails; a signal that could not be measured (null) fails none."""
    snr, band, dc = seg["snr_db"], seg["bandwidth_hz"], seg["dc_offset"]
    silence, ratio = seg["max_silence_seconds"], seg["speech_ratio"]
    if p.min_snr_db is not None and snr is not None and snr < p.min_snr_db:
        return Reason.LOW_SNR, snr, f"SNR {snr:.1f} dB < {p.min_snr_db:g} dB"
    if p.min_bandwidth_hz is not None and band is not None and band < p.min_bandwidth_hz:
        return Reason.LOW_BANDWIDTH, band, f"bandwidth {band:.0f} Hz < {p.min_bandwidth_hz:g} Hz"
    if p.max_dc_offset is not None and dc is not None and abs(dc) > p.max_dc_offset:
        return Reason.DC_OFFSET, dc, f"DC offset {dc:+.4f} beyond ±{p.max_dc_offset:g} of full scale"
    if p.max_silence_seconds is not None and silence is not None and silence > p.max_silence_seconds:
        return Reason.LONG_SILENCE, silence, f"{silence:.2f} s of silence inside > {p.max_silence_seconds:g} s"
    if p.min_speech_ratio is not None and ratio is not None and ratio < p.min_speech_ratio:
        return Reason.LOW_SPEECH_RATIO, ratio, f"speech is {ratio:.0%} of the segment < {p.min_speech_ratio:.0%}"
    return None


def filter_segments(batch: pa.RecordBatch, params: FilterParams) -> StageResult:
    """The filter stage over a batch of SEGMENTS."""
    kept, rejected = [], []
    for seg in batch.to_pylist():
        failed = filter_reason(seg, params)
        if failed is None:
            kept.append(seg)
            continue
        reason, value, detail = failed
        rejected.append(reject_row(seg, "segment_id", Stage.FILTER, reason, detail, value))
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def filter_spec(params: FilterParams) -> StageSpec:
    return StageSpec("filter", filter_segments, params, SEGMENTS, SEGMENTS)
