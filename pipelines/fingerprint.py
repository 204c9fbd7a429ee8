"""Acoustic fingerprints of segments, for near-duplicate audio: the same recording re-encoded, resampled,
gain-changed, trimmed or padded, which exact PCM hashes miss.

A fingerprint is a set of landmarks (Wang, 2003, as Shazam and Dan Ellis's audfprint make them): the peaks of
the log spectrogram between 150 Hz and 3.4 kHz (where speech is and low-bitrate codecs keep it), each paired
with a few later peaks near it, a pair hashed from its two frequencies and the frames between them. Levels do
not enter a hash (gain changes nothing), nor do absolute times (a trim or padding shifts every landmark alike).
A segment keeps its landmarks' MinHash signature (`SIGNATURE_SIZE` values): two segments' signatures agree in
about the share of landmarks the two have in common (their Jaccard similarity), which is what a pair is scored
by. Candidates come from an index of signature bands (`BANDS` of `ROWS` values each): two segments are compared
only when a band of theirs is equal, so finding the pairs of a corpus costs about its size, not its square.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from omnicorpus.manifests.schema import FINGERPRINT_BYTES

#: Names what a fingerprint is made of: a change of the constants below must change it (the stored ones no longer
#: compare with new ones, so segments are fingerprinted again).
VERSION = "landmarks-minhash-1"
N_FFT = 512  # 32 ms at 16 kHz, 31.25 Hz per bin
HOP = 128  # 8 ms: frames overlap by three quarters, so a trim by any number of samples moves a peak little
LOW_BIN, HIGH_BIN = 5, 109  # 156 Hz .. 3.4 kHz
PEAK_FRAMES, PEAK_BINS = 31, 11  # a peak is the largest of its neighbourhood: 250 ms and 340 Hz around it
PEAK_DB = 10.0  # ... and this much above its frame's median level
PAIR_FRAMES = 64  # a peak pairs with every later one up to 512 ms later ...
PAIR_BINS = 24  # ... and 750 Hz apart
DT_STEP = 4  # a hash quantizes the time between its peaks to 32 ms, so that small moves keep it
SIGNATURE_SIZE = FINGERPRINT_BYTES // 4  # uint32 values
ROWS = 2
BANDS = SIGNATURE_SIZE // ROWS
_PRIME = (1 << 61) - 1


def spectrogram_db(samples: np.ndarray) -> np.ndarray:
    """Log power (dB) of frames x bins LOW_BIN..HIGH_BIN."""
    if len(samples) < N_FFT:
        return np.zeros((0, HIGH_BIN - LOW_BIN), np.float32)
    frames = (len(samples) - N_FFT) // HOP + 1
    windows = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32), N_FFT)[::HOP][:frames]
    power = np.square(np.abs(np.fft.rfft(windows * np.hanning(N_FFT).astype(np.float32), axis=1)
                             [:, LOW_BIN:HIGH_BIN]))
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def _max_filter(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The largest value of each centred window of `size` (odd) along an axis: maxima of runs of 1, 2, 4, ...
    values, then of two runs that cover the window, so log2(size) passes over the array, not `size`."""
    half = size // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (half, half)
    run = np.pad(x, pad, constant_values=-np.inf)
    n = x.shape[axis]
    length = 1
    while 2 * length <= size:
        head = run.take(np.arange(run.shape[axis] - length), axis=axis)
        tail = run.take(np.arange(length, run.shape[axis]), axis=axis)
        run = np.maximum(head, tail)  # run[i] is now the maximum of 2 * length values from i
        length *= 2
    return np.maximum(run.take(np.arange(n), axis=axis), run.take(np.arange(size - length, size - length + n),
                                                                   axis=axis))


def peaks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) of the spectral peaks, in time order: each the largest of its neighbourhood and PEAK_DB
    above its frame's median level. Only levels relative to others decide, so a gain change moves none."""
    spec = spectrogram_db(samples)
    if spec.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    local = _max_filter(_max_filter(spec, PEAK_FRAMES, 0), PEAK_BINS, 1)
    # above its frame's median level and its band's mean (a hum or a steady tone holds its band: never a peak)
    strong = (spec > np.median(spec, axis=1, keepdims=True) + PEAK_DB) & \
        (spec > spec.mean(axis=0, keepdims=True) + PEAK_DB)
    t, f = np.nonzero((spec >= local) & strong)
    return t.astype(np.int64), f.astype(np.int64)  # np.nonzero gives them in time order


def landmarks(samples: np.ndarray) -> np.ndarray:
    """The landmark hashes of a segment (unique, sorted): each peak with every later one within PAIR_FRAMES
    and PAIR_BINS (a peak more or less changes only its own pairs), hashed from the first's bin, the bin
    difference and the frames between (quantized: DT_STEP)."""
    t, f = peaks(samples)
    parts = []
    for k in range(1, len(t)):
        dt, df = t[k:] - t[:-k], f[k:] - f[:-k]
        near = dt <= PAIR_FRAMES
        if not near.any():
            break
        ok = near & (dt > 0) & (np.abs(df) <= PAIR_BINS)
        parts.append((f[:-k][ok] << 13) | ((df[ok] + PAIR_BINS) << 7) | (dt[ok] // DT_STEP))
    return np.unique(np.concatenate(parts).astype(np.uint64)) if parts else np.zeros(0, np.uint64)


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20_251_111)
    a = rng.integers(1, _PRIME, SIGNATURE_SIZE, dtype=np.uint64)
    b = rng.integers(0, _PRIME, SIGNATURE_SIZE, dtype=np.uint64)
    return a, b


def minhash(hashes: np.ndarray) -> np.ndarray | None:
    """SIGNATURE_SIZE minima of universal hashes of the landmark set (uint32); None for an empty set."""
    if len(hashes) == 0:
        return None
    a, b = _permutations()
    x = hashes.astype(np.uint64)[:, None]
    # (a x + b) mod p with x < 2^19 and a, b < 2^61: the product is taken mod 2^64 first, which keeps it a
    # fixed function of x (all that MinHash needs of it), then folded to 32 bits
    values = (a[None, :] * x + b[None, :]) % np.uint64(_PRIME)
    return (values.min(axis=0) >> np.uint64(29)).astype(np.uint32)


def signature(samples: np.ndarray) -> bytes | None:
    """A segment's fingerprint as stored: its MinHash signature, little-endian uint32."""
    sig = minhash(landmarks(samples))
    return None if sig is None else sig.astype("<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """The share of signature values two fingerprints agree in: an estimate of their landmarks' Jaccard."""
    x, y = np.frombuffer(a, "<u4"), np.frombuffer(b, "<u4")
    return float(np.mean(x == y))


def bands(sig: bytes) -> list[int]:
    """The index keys of a fingerprint: one 64-bit key per band of ROWS values, the band's number in its top
    bits so that equal values in different bands never meet."""
    values = np.frombuffer(sig, "<u4").reshape(BANDS, ROWS).tolist()
    keys = []
    for band, row in enumerate(values):
        h = band
        for v in row:
            h = (h * 0x9E3779B97F4A7C15 + v) & 0xFFFFFFFFFFFFFFFF
        keys.append(h >> 1)  # fits a signed 64-bit column
    return keys
