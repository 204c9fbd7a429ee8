"""Quality signals of a segment, from its 16 kHz samples and the VAD's speech regions; no model, no hub.

* `snr_db`: speech power over noise power, both about the mean (a DC offset is measured on its own). The
  noise is the median power of the recording's 20 ms frames where the VAD found no speech (so a cough or a
  door does not count as the floor), the speech that of the segment's speech regions less that noise. A
  recording with under half a second of non-speech (a clip trimmed at its first word) has no floor to
  measure: its segments get WADA's estimate (Kim and Stern, 2008: the shape of the amplitude distribution
  of speech in Gaussian noise).
* `bandwidth_hz`: the highest frequency where the segment's long-term spectrum is within
  `BANDWIDTH_RANGE_DB` of its strongest band. Audio recorded at 8 kHz and upsampled reads about 4 kHz, a
  low-bitrate MP3 its encoder's low-pass; wide-band speech 7 kHz and more.
* `dc_offset`: the mean sample value of the segment (full scale 1.0).
* `max_silence_seconds`: the longest stretch inside the segment that the VAD did not mark as speech.
* `speech_ratio`: the share of the segment that the VAD marked as speech.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from omnicorpus.manifests.schema import SAMPLE_RATE, SNR_RANGE_DB

FRAME = SAMPLE_RATE // 50  # 20 ms frames for the noise floor
MIN_NOISE_SECONDS = 0.5  # less non-speech than this gives no noise floor: WADA instead
SPECTRUM_FFT = 512  # 31.25 Hz bands
BANDWIDTH_RANGE_DB = 50.0


def regions_mask(n: int, regions: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for a, b in regions:
        mask[a:b] = True
    return mask


def noise_power(samples: np.ndarray, speech: np.ndarray) -> float | None:
    """Median power of the 20 ms frames with no speech in them; None with too few of them."""
    frames = len(samples) // FRAME
    if frames == 0:
        return None
    quiet = ~speech[: frames * FRAME].reshape(frames, FRAME).any(axis=1)
    if quiet.sum() * FRAME < MIN_NOISE_SECONDS * SAMPLE_RATE:
        return None
    x = samples[: frames * FRAME].reshape(frames, FRAME)[quiet].astype(np.float64)
    return float(np.median(np.var(x, axis=1)))  # about the mean: a DC offset is no noise


@cache
def _wada_table() -> tuple[np.ndarray, np.ndarray]:
    """G(SNR) = log E|x| - E log|x| of gamma-distributed speech (shape 0.4) in Gaussian noise, per dB of SNR.

    Drawn once with a fixed seed (the table of Kim and Stern's paper was made the same way)."""
    rng = np.random.default_rng(0)
    speech = rng.gamma(0.4, 1.0, 400_000) * rng.choice([-1.0, 1.0], 400_000)
    speech /= np.sqrt(np.mean(np.square(speech)))
    noise = rng.standard_normal(400_000)
    db = np.arange(SNR_RANGE_DB[0], SNR_RANGE_DB[1] + 1.0)
    g = []
    for snr in db:
        x = np.abs(speech * 10 ** (snr / 20) + noise) + 1e-10
        g.append(np.log(np.mean(x)) - np.mean(np.log(x)))
    return db, np.maximum.accumulate(np.array(g))


def wada_snr_db(samples: np.ndarray) -> float | None:
    if len(samples) < FRAME or not np.any(samples):
        return None
    x = samples.astype(np.float64)
    x = np.abs(x - x.mean()) + 1e-10
    g = float(np.log(np.mean(x)) - np.mean(np.log(x)))
    db, table = _wada_table()
    return float(np.interp(g, table, db))


def snr_db(samples: np.ndarray, speech: np.ndarray, floor: float | None, a: int, b: int) -> float | None:
    """SNR of the segment [a, b) of a recording; `floor` is the recording's noise_power."""
    if floor is None:
        return wada_snr_db(samples[a:b])
    part = samples[a:b][speech[a:b]].astype(np.float64)
    if len(part) == 0:
        return None
    signal = float(np.var(part)) - floor
    if floor <= 0.0:
        return SNR_RANGE_DB[1]
    if signal <= 0.0:
        return SNR_RANGE_DB[0]
    return float(np.clip(10.0 * np.log10(signal / floor), *SNR_RANGE_DB))


def bandwidth_hz(samples: np.ndarray) -> float | None:
    frames = (len(samples) - SPECTRUM_FFT) // (SPECTRUM_FFT // 2) + 1
    if frames < 1:
        return None
    index = np.arange(SPECTRUM_FFT)[None, :] + (SPECTRUM_FFT // 2) * np.arange(frames)[:, None]
    centred = samples.astype(np.float64) - np.mean(samples, dtype=np.float64)  # DC is no band of speech
    windowed = centred[index] * np.hanning(SPECTRUM_FFT)
    power = np.mean(np.square(np.abs(np.fft.rfft(windowed, axis=1))), axis=0)
    if not np.any(power > 0):
        return None
    level = 10.0 * np.log10(np.convolve(power, np.ones(3) / 3, mode="same") + 1e-20)
    above = np.flatnonzero(level >= level.max() - BANDWIDTH_RANGE_DB)
    return float(above[-1] * SAMPLE_RATE / SPECTRUM_FFT)


def longest_gap(speech: np.ndarray) -> int:
    """Samples of the longest run of False in a mask."""
    padded = np.concatenate(([True], speech, [True]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return int(np.max(edges[1::2] - edges[::2])) if len(edges) else 0


def segment_signals(samples: np.ndarray, speech: np.ndarray, floor: float | None, a: int, b: int) -> dict:
    """The segment columns of the quality signals of samples[a:b]."""
    part = samples[a:b]
    n = max(b - a, 1)
    return {
        "snr_db": snr_db(samples, speech, floor, a, b),
        "bandwidth_hz": bandwidth_hz(part),
        "dc_offset": float(np.mean(part, dtype=np.float64)) if len(part) else None,
        "max_silence_seconds": longest_gap(speech[a:b]) / SAMPLE_RATE,
        "speech_ratio": float(np.count_nonzero(speech[a:b])) / n,
    }
