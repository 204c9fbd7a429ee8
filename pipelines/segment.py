"""Segment: recordings -> segments with silero-vad, the model run on many recordings at once.

Long unlabelled recordings are cut into segments between min and max seconds, cut in pauses; labelled
clips are trimmed of leading and trailing silence. A recording with no speech is rejected (`no_speech`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from omnicorpus.corpus.pcm import encode_pcm16, pcm_int16, read_flac
from omnicorpus.manifests import storage
from omnicorpus.manifests.config import SegmentParams
from omnicorpus.manifests.keys import segment_id
from omnicorpus.manifests.layout import segment_pack_path
from omnicorpus.manifests.schema import RECORDINGS, SAMPLE_RATE, SEGMENTS, Reason, Stage
from omnicorpus.pipelines.audio_quality import noise_power, regions_mask, segment_signals
from omnicorpus.pipelines.fingerprint import signature
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table
from omnicorpus.pipelines.vad import (
    plan_segments,
    speech_probabilities,
    speech_regions,
    trim_span,
)


@dataclass(frozen=True)
class SegmentTask:
    output_root: str
    params: SegmentParams
    fingerprints: bool = True  # each segment's acoustic fingerprint, for near-duplicate dedup


@cache
def _one_thread_per_worker() -> None:
    # Spark runs one Python worker per core: torch's own threads would oversubscribe them.
    import torch

    torch.set_num_threads(1)


def segment_recordings(batch: pa.RecordBatch, task: SegmentTask) -> StageResult:
    """The segment stage over a batch of RECORDINGS."""
    _one_thread_per_worker()
    cfg = task.params
    recordings = batch.to_pylist()
    audio = [read_flac(storage.read_bytes(storage.join(task.output_root, r["audio_path"]))) for r in recordings]
    probabilities = speech_probabilities(audio, batch_streams=cfg.batch_streams)
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    flacs: list[bytes] = []
    pack_size = 0
    for rec, samples, probs in zip(recordings, audio, probabilities, strict=True):
        n = len(samples)
        regions = speech_regions(probs, n, cfg)
        if rec["labelled"]:
            span = trim_span(regions, n)
            spans = [] if span is None else [span]
        else:
            spans = plan_segments(regions, n, cfg, probs=probs)
        if not spans:
            rejected.append(reject_row(
                rec, "recording_id", Stage.SEGMENT, Reason.NO_SPEECH,
                f"no speech found by silero-vad at threshold {cfg.threshold} "
                f"in {rec['seconds']:.2f} s (peak {rec['peak']:.3f})"))
            continue
        speech = regions_mask(n, regions)
        floor = noise_power(samples, speech)
        for index, (a, b) in enumerate(spans):
            pcm = pcm_int16(samples[a:b])
            flac = encode_pcm16(pcm)
            flacs.append(flac)
            pcm_hash = rec["pcm_sha256"] if rec["labelled"] else hashlib.sha256(pcm.tobytes()).hexdigest()
            kept.append({
                "segment_id": segment_id(rec["recording_id"], index),
                "recording_id": rec["recording_id"], "corpus": rec["corpus"], "split": rec["split"],
                "language": rec["language"], "source_uri": rec["source_uri"], "license": rec["license"],
                "labelled": rec["labelled"], "speaker": rec["speaker"],
                "speaker_source": rec["speaker_source"], "audio_path": rec["audio_path"],
                "flac_offset": pack_size, "flac_bytes": len(flac), "flac_sha256": hashlib.sha256(flac).hexdigest(),
                "start": a / SAMPLE_RATE, "end": b / SAMPLE_RATE, "seconds": (b - a) / SAMPLE_RATE,
                "speech_seconds": int(np.count_nonzero(speech[a:b])) / SAMPLE_RATE, "raw_text": rec["raw_text"],
                "clip_fraction": rec["clip_fraction"], **segment_signals(samples, speech, floor, a, b),
                "pcm_sha256": pcm_hash, "meta": rec["meta"],
                "audio_fingerprint": signature(samples[a:b]) if task.fingerprints else None,
            })
            pack_size += len(flac)
    if kept:
        pack = b"".join(flacs)
        pack_path = segment_pack_path(hashlib.sha256(pack).hexdigest())
        pack_uri = storage.join(task.output_root, pack_path)
        if not storage.exists(pack_uri):  # named by its content: a re-run finds it whole
            storage.write_bytes_atomic(pack_uri, pack)
        for row in kept:
            row["flac_pack"] = pack_path
    return StageResult(pa.Table.from_pylist(kept, schema=SEGMENTS), rejects_table(rejected))


def segment_spec(output_root: str, params: SegmentParams, fingerprints: bool = True) -> StageSpec:
    # One batch of recordings is one batch of VAD streams: large enough to batch the model well.
    return StageSpec("segment", segment_recordings, SegmentTask(output_root, params, fingerprints), RECORDINGS,
                     SEGMENTS, batch_rows=params.batch_streams)
