"""Speech detection with silero-vad, batched over many streams, and the segmentation policy.

Everything here is a pure function of arrays (no Spark, no I/O); the segment stage calls it.

How the batching works (silero-vad 6.x, the JIT model shipped in the wheel)
--------------------------------------------------------------------------
silero's ``get_speech_timestamps`` feeds the model one 512-sample window (32 ms at 16 kHz) at a
time.  The model's ``forward`` wrapper prepends the last 64 samples of the *previous* input of the
same stream (its "context"; zeros for the first window), so each window the network really sees is
576 samples: ``audio[512*i - 64 : 512*i + 512]``.  The zero-padded last window works the same way.
The network then runs

    STFT -> conv encoder -> LSTMCell (state carried between windows) -> ReLU/Conv1d/Sigmoid

and only the LSTM cell is recurrent.  So instead of stepping the whole model window by window
(what silero does, and what ``model(x[streams, 512], 16000)`` does when batched by rows), we

1. cut every stream into its 576-sample context windows up front (exactly the samples silero's
   wrapper would build),
2. run STFT + encoder on thousands of windows of many streams in one call (no recurrence there),
3. step only the LSTM cell through time, one row per stream, rows of finished streams dropping out
   (streams are sorted longest first, so the live ones are always a prefix of the batch); between two
   stream ends the cell's weights go to ``torch.lstm``, which steps the live prefix through the whole
   stretch in C++ (the same equations as ``lstm_cell``), and
4. run the decoder head on all the LSTM outputs at once.

This is the same arithmetic as silero's loop up to float rounding (batched matrix products).
Padding of shorter streams is never fed to the LSTM, so it cannot leak into any result.  The
stepwise path (``_probabilities_stepwise``: the whole model on ``[streams, 512]`` windows, the
model's own context handling) is kept as a fallback for a model without those sub-modules and as a
cross-check in the tests.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import numpy as np

from omnicorpus.manifests.config import SegmentParams

SAMPLE_RATE = 16_000
#: Samples per VAD window at 16 kHz (silero's fixed size).
WINDOW = 512
#: Samples of the previous window that silero's wrapper prepends to each window at 16 kHz.
CONTEXT = 64
#: Windows per STFT/encoder call (about 2.4 MB of input; larger calls were no faster on one core).
_ENCODER_WINDOWS = 1024

_stepwise_lock = threading.Lock()


@functools.cache
def _model():
    """The packaged silero JIT model, loaded once per process (never at import time).

    Importing ``silero_vad`` calls ``torch.set_num_threads(1)`` as a side effect; the thread count
    is the caller's business, so it is put back as it was.
    """
    import torch

    threads = torch.get_num_threads()
    import silero_vad

    torch.set_num_threads(threads)
    model = silero_vad.load_silero_vad()
    model.eval()
    return model


def _parts(model):
    """The sub-modules the decomposed path needs, or None when the model is laid out otherwise."""
    try:
        net = model._model
        parts = (net.stft, net.encoder, net.decoder.rnn, net.decoder.decoder)
        if int(net.context_size_samples) != CONTEXT:
            return None
    except (AttributeError, RuntimeError):
        return None
    return parts


def _num_windows(n: int) -> int:
    return -(-n // WINDOW)


def _context_windows(stream: np.ndarray, first: int, count: int) -> np.ndarray:
    """[count, 576]: row j is ``stream[512 w - 64 : 512 w + 512]`` for window w = first + j, zeros
    outside the stream (before it: the zero context of the first window; after it: silero's padding)."""
    lo, hi = first * WINDOW - CONTEXT, (first + count) * WINDOW
    buf = np.zeros(hi - lo, dtype=np.float32)
    a, b = max(lo, 0), min(hi, len(stream))
    buf[a - lo : b - lo] = stream[a:b]
    return np.lib.stride_tricks.sliding_window_view(buf, CONTEXT + WINDOW)[::WINDOW]


def _as_stream(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D mono stream, got shape {a.shape}")
    return a


def speech_probabilities(streams: Sequence[np.ndarray], *, batch_streams: int = 64) -> list[np.ndarray]:
    """Per 512-sample window (32 ms at 16 kHz) speech probability for each float32 16 kHz mono stream,
    computed by running the model on windows of many streams at once. Streams of unequal length are
    handled (shorter ones padded; padding never leaks into results). Equal to silero's per-stream
    probabilities (what get_speech_timestamps sees) up to float noise.

    A stream of n samples gets ceil(n / 512) probabilities (none for an empty stream); window i covers
    samples [512 i, 512 i + 512), the last one zero-padded as silero does.  ``batch_streams`` streams
    (longest first) share the LSTM batch; a stream's rows leave the batch when it ends, so nothing
    past its end is ever computed into its state.  Thread-safe (the model wrapper's state is unused).
    """
    if batch_streams < 1:
        raise ValueError("batch_streams must be >= 1")
    arrays = [_as_stream(s) for s in streams]
    model = _model()
    parts = _parts(model)
    if parts is None:
        return _probabilities_stepwise(arrays, batch_streams=batch_streams)
    import torch

    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(arrays)
    # Longest first, ties by input position: groups of similar length, live rows always a prefix.
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]), i))
    order = [i for i in order if len(arrays[i])]
    with torch.inference_mode():
        for g in range(0, len(order), batch_streams):
            group = order[g : g + batch_streams]
            for i, probs in zip(group, _group_probabilities([arrays[i] for i in group], parts), strict=True):
                out[i] = probs
    return out


def _group_probabilities(arrays: list[np.ndarray], parts) -> list[np.ndarray]:
    """Decomposed forward for streams sorted longest first (all non-empty)."""
    import torch

    stft, encoder, rnn, head = parts
    counts = np.array([_num_windows(len(a)) for a in arrays])
    k = len(arrays)
    block = max(16, _ENCODER_WINDOWS // k)  # time steps per encoder call
    probs = [np.empty(c, dtype=np.float32) for c in counts]
    # LSTMCell's weights in the order torch.lstm takes one layer's: (w_ih, w_hh, b_ih, b_hh)
    weights = [rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh]
    width = rnn.weight_hh.shape[1]  # LSTM hidden size (128)
    h = torch.zeros(k, width)  # silero's initial state: zeros
    c = torch.zeros(k, width)
    for t0 in range(0, int(counts[0]), block):
        live = int((counts > t0).sum())  # a prefix, because counts are sorted descending
        steps = min(block, int(counts[0]) - t0)
        lens = np.clip(counts[:live] - t0, 0, steps)  # windows of each live stream in this block
        batch = np.concatenate([_context_windows(arrays[s], t0, int(lens[s])) for s in range(live)])
        feats = encoder(stft(torch.from_numpy(batch))).squeeze(-1)  # [sum(lens), 128]
        # Scatter into [live, steps, 128]; then row s, step t is stream s at window t0 + t.
        grid = torch.zeros(live, steps, feats.shape[-1])
        valid = torch.from_numpy(np.arange(steps)[None, :] < lens[:, None])
        grid[valid] = feats
        hidden = torch.zeros(live, steps, width)
        # Between two stream ends the live rows are a fixed prefix: one call of the fused LSTM steps them
        # through that whole stretch in C++ (a Python step per window cost ~100 us, most of a long
        # recording's VAD time when few streams share the batch).
        t = 0
        for end in sorted({int(n) for n in lens if n > 0}):
            n = int((lens >= end).sum())  # rows still live up to `end`
            out, h_n, c_n = torch.lstm(grid[:n, t:end], (h[None, :n], c[None, :n]), weights,
                                       True, 1, 0.0, False, False, True)
            h[:n], c[:n] = h_n[0], c_n[0]
            hidden[:n, t:end] = out
            t = end
        p = head(hidden[valid].unsqueeze(-1)).reshape(-1).numpy()  # in (stream, step) order
        at = 0
        for s in range(live):
            probs[s][t0 : t0 + lens[s]] = p[at : at + lens[s]]
            at += int(lens[s])
    return probs


def _probabilities_stepwise(arrays: list[np.ndarray], *, batch_streams: int = 64) -> list[np.ndarray]:
    """The whole model on ``[streams, 512]`` windows, time step by time step, streams kept in the same
    rows; the model's own wrapper keeps each row's state and 64-sample context.  Shorter streams are
    padded with zeros after their end; what the model outputs there is discarded, and since rows never
    mix, nothing of it reaches another stream.  (Fallback and cross-check of the decomposed path.)"""
    import torch

    model = _model()
    arrays = [_as_stream(a) for a in arrays]
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(arrays)
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]), i))
    order = [i for i in order if len(arrays[i])]
    with _stepwise_lock, torch.inference_mode():
        for g in range(0, len(order), batch_streams):
            group = order[g : g + batch_streams]
            steps = _num_windows(len(arrays[group[0]]))
            grid = np.zeros((len(group), steps * WINDOW), dtype=np.float32)
            for row, i in enumerate(group):
                grid[row, : len(arrays[i])] = arrays[i]
            x = torch.from_numpy(grid)
            model.reset_states()  # the state is then sized by the first call's batch
            res = np.empty((len(group), steps), dtype=np.float32)
            for t in range(steps):
                res[:, t] = model(x[:, t * WINDOW : (t + 1) * WINDOW], SAMPLE_RATE).reshape(-1).numpy()
            for row, i in enumerate(group):
                out[i] = res[row, : _num_windows(len(arrays[i]))].copy()
            model.reset_states()
    return out


def speech_regions(probs: np.ndarray, num_samples: int, params: SegmentParams) -> list[tuple[int, int]]:
    """Speech regions in samples from window probabilities, with silero's hysteresis rules
    (same results as get_speech_timestamps given the same probabilities and parameters).

    This is silero's ``get_speech_timestamps_from_probs`` with ``max_speech_duration_s=inf`` (cutting
    long speech is plan_segments' job): speech starts at a window with p >= threshold, ends at the first
    window with p < neg_threshold that is followed by min_silence_ms of windows that do not return to
    p >= threshold; regions of min_speech_ms or less are dropped; then each region is padded by
    speech_pad_ms, a gap narrower than two pads being split in the middle.
    """
    thr = params.threshold
    neg = params.neg_threshold if params.neg_threshold is not None else max(thr - 0.15, 0.01)
    min_speech = SAMPLE_RATE * params.min_speech_ms / 1000
    min_silence = SAMPLE_RATE * params.min_silence_ms / 1000
    pad = SAMPLE_RATE * params.speech_pad_ms / 1000

    speeches: list[list[int]] = []
    triggered = False
    start = temp_end = 0
    for i, p in enumerate(np.asarray(probs, dtype=np.float64).tolist()):
        cur = WINDOW * i
        if p >= thr and temp_end:
            temp_end = 0
        if p >= thr and not triggered:
            triggered, start = True, cur
            continue
        if triggered and p < neg:
            if not temp_end:
                temp_end = cur
            if cur - temp_end < min_silence:
                continue
            if temp_end - start > min_speech:
                speeches.append([start, temp_end])
            triggered = False
            temp_end = 0
    if triggered and num_samples - start > min_speech:
        speeches.append([start, num_samples])

    for i, sp in enumerate(speeches):  # silero's padding, verbatim (float pad, int() truncation)
        if i == 0:
            sp[0] = int(max(0, sp[0] - pad))
        if i != len(speeches) - 1:
            gap = speeches[i + 1][0] - sp[1]
            if gap < 2 * pad:
                sp[1] += int(gap // 2)
                speeches[i + 1][0] = int(max(0, speeches[i + 1][0] - gap // 2))
            else:
                sp[1] = int(min(num_samples, sp[1] + pad))
                speeches[i + 1][0] = int(max(0, speeches[i + 1][0] - pad))
        else:
            sp[1] = int(min(num_samples, sp[1] + pad))
    return [(int(s), int(e)) for s, e in speeches]


def frame_labels(regions, num_samples) -> np.ndarray:
    """Speech/non-speech per 32 ms frame (ceil(num_samples / 512) frames): a frame is speech when its
    centre sample lies inside a region.  Used to compare two region lists frame by frame."""
    n = _num_windows(int(num_samples))
    diff = np.zeros(n + 1, dtype=np.int64)
    half = WINDOW // 2
    for s, e in regions:
        # frames i with s <= 512 i + 256 < e
        lo = max(0, -(-(int(s) - half) // WINDOW))
        hi = min(n, -(-(int(e) - half) // WINDOW))
        if hi > lo:
            diff[lo] += 1
            diff[hi] -= 1
    return np.cumsum(diff[:n]) > 0


def _split_long(start: int, end: int, max_len: int, probs: np.ndarray | None) -> list[int]:
    """Cut points splitting [start, end) into ceil(len / max_len) near-equal pieces, each <= max_len.

    With window probabilities, each cut moves to the lowest-probability window within a slack around
    its equal-split position (the slack is small enough that every piece stays <= max_len)."""
    length = end - start
    n = -(-length // max_len)
    cuts = [start + length * k // n for k in range(1, n)]
    if probs is None or not len(probs):
        return cuts
    slack = min(2 * SAMPLE_RATE, (max_len - length // n - 1) // 2)
    if slack < WINDOW:
        return cuts
    moved = []
    for cut in cuts:
        lo = max(0, (cut - slack + WINDOW - 1) // WINDOW)  # whole windows inside [cut - slack, cut + slack]
        hi = min(len(probs), (cut + slack) // WINDOW)
        if hi - lo < 1:
            moved.append(cut)
            continue
        seg = np.asarray(probs[lo:hi], dtype=np.float64)
        best = np.flatnonzero(seg == seg.min())
        centres = (lo + best) * WINDOW + WINDOW // 2
        pick = int(centres[np.argmin(np.abs(centres - cut))])  # ties: nearest to the even split
        moved.append(min(max(pick, cut - slack), cut + slack))
    return moved


def plan_segments(
    regions: list[tuple[int, int]],
    num_samples: int,
    params: SegmentParams,
    *,
    probs: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Long-form policy: merge neighbouring speech regions towards target_seconds, cutting in pauses
    (prefer the longest pause), never inside speech unless a single region is longer than max_seconds
    (then cut it into near-equal pieces <= max_seconds, preferably at the lowest-probability point);
    every segment within [min_seconds, max_seconds] except that short isolated speech (< min_seconds)
    is dropped (the caller counts dropped speech; only kept segments are returned). Deterministic.

    The rules, in order:

    1. Regions are clipped to [0, num_samples], sorted, and overlapping ones joined.
    2. A region longer than max_seconds is cut into ceil(len / max) near-equal pieces; with ``probs``
       (the window probabilities the regions came from) each cut moves to the lowest-probability window
       near its even position, keeping every piece <= max_seconds.
    3. Pauses longer than max_pause_seconds always cut.
    4. Within what is left, a run of regions spanning more than target_seconds is cut at its longest
       pause (ties: the most even split, then the earliest), recursively, until every run spans at most
       target_seconds or is a single region.  Cuts made in step 2 are chosen last (never, in practice).
    5. A segment shorter than min_seconds joins the neighbour across the shorter pause (not across a
       pause of step 3) when the result stays <= max_seconds; otherwise it is dropped.
    """
    sr = SAMPLE_RATE
    max_len = int(round(params.max_seconds * sr))
    min_len = int(round(params.min_seconds * sr))
    target = min(int(round(params.target_seconds * sr)), max_len)
    max_pause = int(round(params.max_pause_seconds * sr))
    if max_len <= 0 or min_len > max_len:
        raise ValueError("need 0 < max_seconds and min_seconds <= max_seconds")

    # 1. clean
    spans = sorted((max(0, int(s)), min(int(num_samples), int(e))) for s, e in regions)
    joined: list[list[int]] = []
    for s, e in spans:
        if e <= s:
            continue
        if joined and s <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], e)
        else:
            joined.append([s, e])

    # 2. pieces <= max_len; forced[i] marks the boundary between piece i and i+1 as a cut in speech
    pieces: list[tuple[int, int]] = []
    forced: list[bool] = []  # forced[i]: pieces i and i + 1 come from cutting one region (in speech)
    for s, e in joined:
        bounds = [s, *(_split_long(s, e, max_len, probs) if e - s > max_len else []), e]
        for k in range(len(bounds) - 1):
            if pieces:
                forced.append(k > 0)
            pieces.append((bounds[k], bounds[k + 1]))

    # 3 + 4. runs of pieces -> segments, as inclusive index ranges [first piece, last piece]
    def gap(i: int) -> int:  # the pause after piece i
        return pieces[i + 1][0] - pieces[i][1]

    def cut_score(i: int, twice_mid: int) -> tuple:
        # a pause before a cut in speech; longer first; then the most even split; then the earliest
        return (not forced[i], gap(i), -abs(pieces[i][1] + pieces[i + 1][0] - twice_mid), -i)

    segments: list[list[int]] = []
    group_of: list[int] = []  # hard group (step 3) of each segment, to keep step 5 inside it
    first = 0
    for last in range(len(pieces)):
        if last + 1 < len(pieces) and gap(last) <= max_pause:
            continue
        stack = [(first, last)]  # left halves popped first, so segments come out in order
        while stack:
            a, b = stack.pop()
            if a == b or pieces[b][1] - pieces[a][0] <= target:
                segments.append([a, b])
                group_of.append(first)
                continue
            twice_mid = pieces[a][0] + pieces[b][1]
            scores = [cut_score(i, twice_mid) for i in range(a, b)]
            cut = a + scores.index(max(scores))
            stack += [(cut + 1, b), (a, cut)]
        first = last + 1

    # 5. short segments join a neighbour (same hard group) or are dropped
    def span(seg: list[int]) -> int:
        return pieces[seg[1]][1] - pieces[seg[0]][0]

    j = 0
    while j < len(segments):
        seg = segments[j]
        if span(seg) < min_len:
            options = []  # (pause, side, neighbour): the shorter pause first, then the left one
            if j > 0 and group_of[j - 1] == group_of[j]:
                options.append((gap(segments[j - 1][1]), 0, j - 1))
            if j + 1 < len(segments) and group_of[j + 1] == group_of[j]:
                options.append((gap(seg[1]), 1, j + 1))
            for _, _, other in sorted(options):
                lo, hi = min(j, other), max(j, other)
                merged = [segments[lo][0], segments[hi][1]]
                if span(merged) <= max_len:
                    segments[lo : hi + 1] = [merged]
                    del group_of[hi]
                    j = lo - 1  # look at the merged segment again
                    break
        j += 1

    out = []
    for seg in segments:
        s, e = pieces[seg[0]][0], pieces[seg[1]][1]
        if min_len <= e - s <= max_len:
            out.append((s, e))
    return out


def trim_span(regions: list[tuple[int, int]], num_samples: int) -> tuple[int, int] | None:
    """Labelled-clip policy: the span from the first speech start to the last speech end (padding already
    applied by speech_regions), or None when there is no speech."""
    spans = [(max(0, int(s)), min(int(num_samples), int(e))) for s, e in regions]
    spans = [(s, e) for s, e in spans if e > s]
    if not spans:
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)
