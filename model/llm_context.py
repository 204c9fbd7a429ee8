"""In-context examples for LLM-ASR's zero-shot layout (model.llm_asr with `context_slots` > 0): the `Context`
of a batch (N chosen examples per target, already drawn by the loader), and the vectorised assembly of the
decoder sequences

    <context> (<ex> audio <ctx_bos> text <ctx_eos> </ex>) x N </context> target_audio <s> text </s>

The six markers are rows of a separate input-only table, in the order of the reference's special tokens
(omnilingual-asr config.py `Wav2Vec2LlamaSpecialTokens`: context_start, context_end, context_example_start,
context_example_end, context_bos, context_eos at vocab_size + 0 .. 5), so that row i here is the reference's
text-embedding row vocab_size + i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

MARKERS = ("<context>", "</context>", "<ex>", "</ex>", "<ctx_bos>", "<ctx_eos>")
CONTEXT_START, CONTEXT_END, EXAMPLE_START, EXAMPLE_END, CONTEXT_BOS, CONTEXT_EOS = range(len(MARKERS))
#: decoder positions an example takes besides its audio frames and text tokens: <ex> <ctx_bos> <ctx_eos> </ex>
EXAMPLE_MARKERS = 4


def fill_slots(examples: Sequence[object], slots: int) -> list[object]:
    """`slots` examples: the given ones repeated in order (e0 e1 e2 e0 e1 ...), or the first `slots` of them
    (the reference's inference pipeline `repeat_to_max_len`)."""
    if not examples:
        raise ValueError("a target needs at least one context example")
    return [examples[i % len(examples)] for i in range(slots)]


@dataclass(frozen=True)
class Context:
    """The context examples of B targets, N = `slots` per target: rows b*N .. b*N + N - 1 are target b's, in
    the order they appear in its sequence. Audio right-padded with zeros, tokens right-padded (no <s> / </s>:
    the model puts <ctx_bos> / <ctx_eos> around them)."""

    audio: Tensor  # [B*N, T] float
    audio_lengths: Tensor  # [B*N]
    tokens: Tensor  # [B*N, L] token ids
    token_lengths: Tensor  # [B*N]
    slots: int

    def __post_init__(self) -> None:
        rows = self.audio.shape[0]
        if self.slots < 1:
            raise ValueError("a context has at least one slot")
        if rows % self.slots or rows == 0:
            raise ValueError(f"{rows} context rows do not make whole targets of {self.slots} slots")
        if self.audio.dim() != 2 or self.tokens.dim() != 2:
            raise ValueError("context audio is [B*N, T] and tokens [B*N, L]")
        if not (self.audio_lengths.shape[0] == self.tokens.shape[0] == self.token_lengths.shape[0] == rows):
            raise ValueError("context audio, audio_lengths, tokens and token_lengths need one row per example")

    @property
    def targets(self) -> int:
        return self.audio.shape[0] // self.slots

    def to(self, device: torch.device | str) -> Context:
        return replace(self, audio=self.audio.to(device), audio_lengths=self.audio_lengths.to(device),
                       tokens=self.tokens.to(device), token_lengths=self.token_lengths.to(device))

    @classmethod
    def build(cls, examples: Sequence[Sequence[tuple[Tensor, str]]], slots: int, encode: Callable[[str], list[int]],
              pad_id: int) -> Context:
        """From (waveform [T] or [1, T], text) pairs per target, each target's filled to `slots` (`fill_slots`)."""
        rows: list[tuple[Tensor, str]] = []
        for per_target in examples:
            rows += fill_slots(per_target, slots)  # type: ignore[arg-type]
        if not rows:
            raise ValueError("a context needs at least one target")
        waves = []
        for wave, _ in rows:
            if wave.dim() == 2 and wave.shape[0] == 1:
                wave = wave[0]
            if wave.dim() != 1:
                raise ValueError(f"a context waveform is [T] or [1, T], got {tuple(wave.shape)}")
            waves.append(wave)
        audio_lengths = torch.tensor([w.shape[0] for w in waves], dtype=torch.long)
        audio = torch.zeros(len(waves), int(audio_lengths.max()), dtype=waves[0].dtype)
        ids = [encode(text) for _, text in rows]
        token_lengths = torch.tensor([len(i) for i in ids], dtype=torch.long)
        tokens = torch.full((len(ids), max(int(token_lengths.max()), 1)), pad_id, dtype=torch.long)
        for r, (w, i) in enumerate(zip(waves, ids, strict=True)):
            audio[r, : w.shape[0]] = w
            tokens[r, : len(i)] = torch.as_tensor(i, dtype=torch.long)
        return cls(audio, audio_lengths, tokens, token_lengths, slots)


def block_lengths(frames: Tensor, token_lengths: Tensor, slots: int) -> Tensor:
    """[B] positions of each target's context block, from its examples' audio positions and token counts
    [B*N]: <context> + N * (<ex> frames <ctx_bos> tokens <ctx_eos> </ex>) + </context>."""
    per = (frames + token_lengths).view(-1, slots).sum(1)
    return per + slots * EXAMPLE_MARKERS + 2


def context_sequences(markers: Tensor, ctx_audio: Tensor, ctx_frames: Tensor, ctx_text: Tensor,
                      ctx_token_lengths: Tensor, slots: int, audio: Tensor, frames: Tensor, text: Tensor,
                      text_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The right-padded decoder sequences [B, S, dim], their lengths [B] and the position of the target's <s>
    [B], from embedded pieces: the markers [6, dim]; the context audio [B*N, Tc, dim] with its valid positions
    [B*N]; the embedded context tokens [B*N, L, dim] and their counts [B*N]; the targets' audio [B, Ta, dim]
    and valid positions [B]; the targets' embedded `<s> text </s>` (or `<s>` alone) [B, St, dim] and lengths.

    Every piece is flattened into one pool of rows; each row's sequence is a list of segments (a marker, or a
    run of a piece's rows) with a start in the pool and a length; an output position finds its segment by a
    search over the segments' cumulative ends, and gathers start + its offset in it. Padding (past a row's
    length) gathers a zero row; invalid audio frames and padded tokens are never gathered."""
    BN, Tc, D = ctx_audio.shape
    B, Ta, _ = audio.shape
    N, L, St = slots, ctx_text.shape[1], text.shape[1]
    if BN != B * N:
        raise ValueError(f"{BN} context rows for {B} targets of {N} slots")
    device = audio.device
    pool = torch.cat([markers, ctx_audio.reshape(BN * Tc, D), ctx_text.reshape(BN * L, D), audio.reshape(B * Ta, D),
                      text.reshape(B * St, D), audio.new_zeros(1, D)])
    at_ctx_audio = len(MARKERS)
    at_ctx_text = at_ctx_audio + BN * Tc
    at_audio = at_ctx_text + BN * L
    at_text = at_audio + B * Ta
    zero = pool.shape[0] - 1

    rows = torch.arange(BN, device=device).view(B, N)
    one = torch.ones(B, N, dtype=torch.long, device=device)
    # each example: <ex> audio <ctx_bos> text <ctx_eos> </ex>  -> [B, N, 6] lengths and pool starts
    ex_len = torch.stack([one, ctx_frames.to(device).view(B, N), one, ctx_token_lengths.to(device).view(B, N),
                          one, one], -1)
    ex_start = torch.stack([one * EXAMPLE_START, at_ctx_audio + rows * Tc, one * CONTEXT_BOS, at_ctx_text + rows * L,
                            one * CONTEXT_EOS, one * EXAMPLE_END], -1)
    b = torch.arange(B, device=device)
    head_len, head_start = one[:, :1], one[:, :1] * CONTEXT_START
    tail_len = torch.stack([one[:, 0], frames.to(device), text_lengths.to(device)], -1)
    tail_start = torch.stack([one[:, 0] * CONTEXT_END, at_audio + b * Ta, at_text + b * St], -1)
    seg_len = torch.cat([head_len, ex_len.flatten(1), tail_len], 1)  # [B, K]
    seg_start = torch.cat([head_start, ex_start.flatten(1), tail_start], 1)
    ends = seg_len.cumsum(1)
    lengths = ends[:, -1]
    t = torch.arange(int(lengths.max()), device=device)[None].expand(B, -1).contiguous()
    # the segment of position t: the first whose end is past t (empty segments have end == previous end)
    k = torch.searchsorted(ends, t, right=True).clamp(max=seg_len.shape[1] - 1)
    idx = seg_start.gather(1, k) + t - (ends - seg_len).gather(1, k)
    idx = torch.where(t < lengths[:, None], idx, torch.full_like(idx, zero))
    return pool[idx], lengths, lengths - text_lengths.to(device)
