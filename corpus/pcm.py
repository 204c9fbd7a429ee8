"""What the platform stores of a recording: 16 kHz mono PCM quantized to int16, its SHA-256 (`pcm_sha256`,
the audio store's name for it) and levels (the RECORDINGS metrics), and the FLAC that holds exactly those
integers.

`pcm_sha256` is the SHA-256 of the samples quantized to little-endian int16 as
`clip(round(x * 32768), -32768, 32767)`: exactly the integers `encode_flac` stores, and reading
them back gives `q / 32768`, which quantizes to the same integers; so hashing a stored FLAC's PCM
reproduces its name in the store.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from os import PathLike
from typing import IO

import numpy as np
import soundfile as sf

from omnicorpus.corpus.audio import DECODER_ERRORS, SF_UNKNOWN_FRAMES, AudioDecodeError
from omnicorpus.manifests.schema import SAMPLE_RATE, Reason

#: Level reported for digital silence.
SILENCE_DBFS = -120.0
#: |x| at or above this counts as clipped.
CLIP_LEVEL = 0.999
_METRICS_CHUNK = 1 << 20


@dataclass(frozen=True)
class AudioMetrics:
    num_samples: int
    seconds: float
    peak: float
    rms_dbfs: float
    clip_fraction: float
    dc_offset: float
    pcm_sha256: str


def pcm_int16(samples: np.ndarray) -> np.ndarray:
    """The int16 PCM that encode_flac stores and pcm_sha256 hashes: clip(round(x * 32768)), little-endian."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    # float32 samples scale by 2**15 exactly in float32, so rounding there gives float64's integers, at
    # half the memory traffic; anything else is widened first.
    with np.errstate(over="ignore"):  # a float32 beyond +-2**113 becomes +-inf, then clips like it
        scaled = x * np.float32(32768.0) if x.dtype == np.float32 else x.astype(np.float64) * 32768.0
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)  # +-inf clip to the ends
    nan = np.isnan(scaled)
    if nan.any():
        scaled[nan] = 0.0
    return scaled.astype("<i2")


def audio_metrics(samples: np.ndarray, pcm: np.ndarray | None = None) -> AudioMetrics:
    """Level and integrity metrics of 16 kHz mono float samples (the RECORDINGS columns); `pcm`, when the
    caller has it already, is `pcm_int16(samples)`."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    n = int(x.shape[0])
    digest = hashlib.sha256((pcm_int16(x) if pcm is None else pcm).tobytes()).hexdigest()
    if n == 0:
        return AudioMetrics(0, 0.0, 0.0, SILENCE_DBFS, 0.0, 0.0, digest)
    peak = total = sumsq = 0.0
    clipped = 0
    for i in range(0, n, _METRICS_CHUNK):  # float64 accumulation without a float64 copy of it all
        c = x[i : i + _METRICS_CHUNK].astype(np.float64)
        total += float(c.sum())
        sumsq += float(np.dot(c, c))
        np.abs(c, out=c)
        peak = max(peak, float(c.max()))
        clipped += int(np.count_nonzero(c >= CLIP_LEVEL))
    rms = math.sqrt(sumsq / n)
    rms_dbfs = max(20.0 * math.log10(rms), SILENCE_DBFS) if rms > 0 else SILENCE_DBFS
    return AudioMetrics(
        num_samples=n,
        seconds=n / SAMPLE_RATE,
        peak=peak,
        rms_dbfs=rms_dbfs,
        clip_fraction=clipped / n,
        dc_offset=total / n,
        pcm_sha256=digest,
    )


def encode_flac(samples: np.ndarray) -> bytes:
    """16 kHz mono 16-bit FLAC bytes of the samples, deterministic (same samples -> same bytes)."""
    return encode_pcm16(pcm_int16(samples))


def encode_pcm16(pcm: np.ndarray) -> bytes:
    """encode_flac of samples already quantized by pcm_int16 (for a caller that also hashes the PCM)."""
    buf = io.BytesIO()
    with sf.SoundFile(
        buf, mode="w", samplerate=SAMPLE_RATE, channels=1, format="FLAC", subtype="PCM_16"
    ) as f:
        if pcm.shape[0]:
            f.write(pcm)
    return buf.getvalue()


def read_flac(data_or_path: bytes | str | PathLike | IO[bytes]) -> np.ndarray:
    """Inverse of encode_flac: float32 mono samples (q / 32768). Raises AudioDecodeError(decode_error)
    for anything but complete 16 kHz mono audio."""
    src: str | PathLike | IO[bytes] = (
        io.BytesIO(bytes(data_or_path)) if isinstance(data_or_path, bytes | bytearray | memoryview) else data_or_path)
    where = f"{data_or_path}: " if isinstance(data_or_path, str | PathLike) else ""
    try:
        with sf.SoundFile(src) as f:
            if f.samplerate != SAMPLE_RATE or f.channels != 1:
                raise AudioDecodeError(
                    Reason.DECODE_ERROR,
                    f"{where}expected {SAMPLE_RATE} Hz mono, found {f.samplerate} Hz x {f.channels}",
                )
            total = f.frames
            if total == SF_UNKNOWN_FRAMES:
                raise AudioDecodeError(Reason.DECODE_ERROR, f"{where}FLAC header has no length")
            pcm = f.read(total, dtype="int16")
    except AudioDecodeError:
        raise
    except DECODER_ERRORS as exc:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{where}cannot read FLAC: {exc}") from None
    if pcm.shape[0] != total:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{where}truncated: {pcm.shape[0]} of {total} frames")
    return pcm.astype(np.float32) * np.float32(1.0 / 32768)


