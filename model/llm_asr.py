"""LLM-ASR: a wav2vec 2.0 encoder feeding a LLaMA-style decoder, in plain torch (the structure of
omnilingual-asr's `wav2vec2_llama` model, its LLM_ASR_LID type).

One decoder sequence per utterance, right-padded in a batch:

    audio frames (encoder output, `stack` frames concatenated, Linear to the decoder dim)
    <lid>            a dedicated marker embedding (token embedding row len(vocab); never predicted)
    language         a row of a separate language table: 1 + the language's index in vocab.languages,
                     or row 0 "no language" when it is not given (dropped, unknown, inference without it)
    <s>  text ...  </s>

The loss is cross-entropy on the text tokens and the final </s> only (the outputs at <s> ... last text
token); audio frames, <lid>, language and padding are inputs only.

When the language is not given, the reference keeps the `<lid>` marker and feeds language row 0
(syntax.py `create_lang_inputs`: dropped examples get lang id 0), so the layout is the same with and
without a language; that is the default here. `omit_missing_language=True` drops both positions instead.

Decoder ("llama-12x4096", as the reference's factory config.py `_7b_llama`): 12 pre-norm blocks of dim
4096, 8 heads (8 key/value heads), RMSNorm (eps 1e-5), rotary position embeddings on q and k (theta 1e4,
Meta's interleaved-pair convention as fairseq2's RotaryEncoder), SwiGLU FFN, no biases, a final RMSNorm and
an output projection that is NOT tied to the token embedding (fairseq2 LLaMAConfig.tied_embeddings=False;
the reference builds `final_proj` separately). Its SwiGLU hidden size is 2816: the reference sets
ffn_inner_dim=4096, which fairseq2's GLU feed-forward scales by 2/3 and rounds up to a multiple of 256
(`llama_ffn_dim`); LLaMA-7B's 11008 is the same rule applied to 4 x 4096. Dropout 0.1 as in the reference:
on attention weights, on the SwiGLU inner activations and after the final norm.

Frame stacking: the reference's LLM-ASR models use encoder_stacking=1 (its zero-shot model 3); `stack`
defaults to 1 for that reason, and any k works (the last group of an utterance is zero-filled).

Padding: right padding plus a causal mask means no real position ever attends to a padded one, and audio
padding never enters the decoder (only an utterance's valid frames are placed in its sequence, the
partial last stack group zero-filled), so a batch computes what each utterance computes alone.

In-context zero-shot (`context_slots` > 0; the reference's ZERO_SHOT model type, `create_zero_shot_syntax`
in its model.py, config `7b_zs` with n_context_examples 10), given a `Context` (model.llm_context) of N chosen
examples per target:

    <context> (<ex> audio <ctx_bos> text <ctx_eos> </ex>) x N </context> audio <s> text </s>

As the reference: six input-only markers (its special tokens vocab_size + 0..5, in its order); no <lid> or
language in the zero-shot layout (its 7b_zs sets lang_embeddings_p 0, so the language inputs are unused with
a context); the context texts are inputs only (loss=False), the loss is on the target's text and </s>; the
context audio goes through the same encoder and projection as the target's; fewer examples than slots are
repeated in order (its inference pipeline's `repeat_to_max_len`; the loader fills the slots for training).
Chosen here: the markers are a separate table `context_markers` (6 x dim) instead of 6 more rows of the token
embedding, so that checkpoints of the plain model load unchanged (without the flag the state dict is exactly
the plain model's); the target starts with <s> as the issue's layout says, where the reference's
`create_zero_shot_syntax` unpacks `eos_idx, bos_idx = self._get_bos_eos()` (which returns bos, eos) and so
feeds the vocabulary's </s> there (a checkpoint converted from its 7b_zs model would want that swap);
the context and target audio share one encoder call when that pads little (`embed_with_context`); the
sequences are built by a vectorised gather, and one longer than max_seq_len raises ValueError before the
decoder runs.

Decoding (`greedy`, `beam_search`) prefills the prefix `audio <lid> language <s>` into a KV cache and then
feeds one token per step; each row writes at its own offset (prefixes differ in length), so the positions
and masks are those of the full forward (a test checks the logits agree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnicorpus.model.llama import DecoderConfig, KVCache, LlamaDecoder, get_decoder_config
from omnicorpus.model.llm_context import MARKERS, Context, block_lengths, context_sequences
from omnicorpus.model.vocab import BOS, EOS, PAD, SEQUENCE_TOKENS, SPECIALS, Vocab, language_token
from omnicorpus.model.wav2vec2 import Wav2Vec2Config, Wav2Vec2Encoder, get_config


def pad_token_ids(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-padded [B, max_len] token ids and their lengths [B]."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    out = torch.full((len(sequences), max(int(lengths.max()) if len(sequences) else 0, 1)), pad_id,
                     dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out, lengths


def drop_languages(language_ids: Tensor, mask_prob: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Language ids with each set to 0 ("not given") with probability `mask_prob`: the trainer's 50% that
    teaches the model to transcribe with and without the language (the reference's lang_embeddings_p)."""
    drop = torch.rand(language_ids.shape, generator=generator, device=generator.device if generator else None)
    return torch.where(drop.to(language_ids.device) < mask_prob, torch.zeros_like(language_ids), language_ids)


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # text token ids, without <s> and </s>
    score: float  # summed log-probability (</s> included), divided by length ** length_penalty
    text: str
    finished: bool  # ended with </s> (not cut by max_new_tokens)


class LLMASRModel(nn.Module):
    """wav2vec 2.0 encoder -> stack `stack` frames -> Linear -> LLaMA decoder over the sequence in the module
    docstring.

    The `<lid>` marker is a dedicated input-only embedding row (id len(vocab)), as the reference allocates
    one special token past the vocabulary (n_special_tokens=1, lid_marker = vocab_size). The vocabulary's own
    `<lang:xxx_Yyyy>` tokens are not used as the marker: one of them would carry the language into the very
    examples it is dropped from, and the marker is never a prediction target (the output projection covers
    the vocabulary only). The language itself is a separate table of 1 + len(vocab.languages) rows, row 0
    meaning "not given", row i the vocabulary's i-th language (sorted, as Vocab keeps them).

    `context_slots` > 0 adds the in-context markers (a `context_markers` table of 6 rows) and is the default
    slot count of `make_context`; the methods then take `context=`. A context of another slot count works."""

    def __init__(self, encoder: Wav2Vec2Config, decoder: DecoderConfig, vocab: Vocab, stack: int = 1,
                 omit_missing_language: bool = False, context_slots: int = 0) -> None:
        super().__init__()
        ids = {t: vocab.token_id(t) for t in (PAD, BOS, EOS)}
        if any(i is None for i in ids.values()):
            raise ValueError("LLM-ASR needs a vocabulary with <pad>, <s> and </s> (rebuild the tokenizer)")
        if stack < 1:
            raise ValueError("stack is at least 1")
        self.vocab, self.cfg, self.stack = vocab, decoder, stack
        self.omit_missing_language = omit_missing_language
        self.pad_id, self.bos_id, self.eos_id = (int(ids[t]) for t in (PAD, BOS, EOS))  # type: ignore[arg-type]
        self.lid_id = len(vocab)
        self.language_index = {lang: i + 1 for i, lang in enumerate(vocab.languages)}
        self.encoder = Wav2Vec2Encoder(encoder)
        self.encoder_proj = nn.Linear(encoder.dim * stack, decoder.dim)  # with bias, as the reference
        self.lang_embeddings = nn.Embedding(len(self.language_index) + 1, decoder.dim)
        self.decoder = LlamaDecoder(decoder, len(vocab), embed_rows=len(vocab) + 1)
        # in-context zero-shot: a table of its own for the 6 markers (created last: the other parameters draw
        # the same random numbers with and without it; without it the state dict is the plain model's)
        self.context_slots = context_slots
        self.context_markers: nn.Embedding | None = None
        if context_slots < 0:
            raise ValueError("context_slots is 0 (no in-context examples) or the number of slots")
        if context_slots:
            self.context_markers = nn.Embedding(len(MARKERS), decoder.dim)

    # -- inputs --------------------------------------------------------------------------------------------

    def language_ids(self, languages: Sequence[str | None]) -> Tensor:
        """[B] rows of the language table; 0 for None and for languages the vocabulary lacks."""
        return torch.tensor([self.language_index.get(lang, 0) if lang else 0 for lang in languages],
                            dtype=torch.long, device=self.encoder_proj.weight.device)

    def encode_texts(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Right-padded token ids [B, T] and lengths [B] of transcripts (no <s> / </s>: the model adds them)."""
        tokens, lengths = pad_token_ids([self.vocab.encode(t) for t in texts], self.pad_id)
        device = self.encoder_proj.weight.device
        return tokens.to(device), lengths.to(device)

    def make_context(self, examples: Sequence[Sequence[tuple[Tensor, str]]], slots: int | None = None) -> Context:
        """The Context of a batch from (waveform, text) pairs per target, each filled to `slots` (default the
        model's context_slots) by repeating its examples in order, on the model's device."""
        n = slots or self.context_slots
        if n < 1:
            raise ValueError("make_context needs slots (the model has no context_slots)")
        return Context.build(examples, n, self.vocab.encode, self.pad_id).to(self.encoder_proj.weight.device)

    def _stacked(self, samples: Tensor) -> Tensor:
        """Decoder positions of audio of `samples` samples (encoder frames, `stack` at a time)."""
        return torch.div(self.encoder.output_lengths(samples) + self.stack - 1, self.stack, rounding_mode="floor")

    def embed_with_context(self, audio: Tensor, audio_lengths: Tensor | None, context: Context
                           ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """`embed_audio` of the targets and of all B*N context rows: (audio, lengths, context audio, lengths).
        One encoder call over both when padding them to one length costs at most 25% more samples than two
        calls, else one call for the targets and one for all the context rows."""
        B, T = audio.shape
        lengths = (torch.full((B,), T, dtype=torch.long, device=audio.device) if audio_lengths is None
                   else audio_lengths.to(audio.device))
        ctx, ctx_lengths = context.audio.to(audio), context.audio_lengths.to(audio.device)
        BN, Tc = ctx.shape
        T1 = max(T, Tc)
        padded, separate = (B + BN) * T1, B * T + BN * Tc
        if padded <= 1.25 * separate:
            wave = torch.cat([F.pad(audio, (0, T1 - T)), F.pad(ctx, (0, T1 - Tc))])
            emb, n = self.embed_audio(wave, torch.cat([lengths, ctx_lengths]))
            return emb[:B], n[:B], emb[B:], n[B:]
        return *self.embed_audio(audio, lengths), *self.embed_audio(ctx, ctx_lengths)

    def embed_audio(self, audio: Tensor, audio_lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Encoder frames, `stack` at a time, projected: ([B, ceil(frames / stack), dim], lengths [B])."""
        x, lengths = self.encoder(audio, audio_lengths)
        B, T, C = x.shape
        # zero the padded frames so that the partial last group of an utterance holds only its own frames
        x = x * (torch.arange(T, device=x.device)[None] < lengths[:, None])[..., None].to(x.dtype)
        k = self.stack
        if T % k:
            x = F.pad(x, (0, 0, 0, k - T % k))
        x = x.reshape(B, x.shape[1] // k, C * k)
        return self.encoder_proj(x), torch.div(lengths + k - 1, k, rounding_mode="floor")

    def decoder_inputs(self, audio_emb: Tensor, audio_lengths: Tensor, language_ids: Tensor | None,
                       tokens: Tensor | None = None, token_lengths: Tensor | None = None,
                       language_given: Tensor | None = None, *, context: Context | None = None,
                       context_emb: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The right-padded decoder sequences [B, L, dim], their lengths [B] and the position of <s> [B]:
        `audio, <lid>, language, <s>, text, </s>` with tokens, `audio, <lid>, language, <s>` without (the
        decoding prefix). `language_given` [B] bool zeroes the language of the False rows. With a `context`:
        its block, then `audio, <s>, text, </s>` (or `audio, <s>`), the language unused; `context_emb` is its
        embedded audio and lengths (`embed_with_context`; embedded here when None)."""
        if context is not None:
            return self._context_inputs(audio_emb, audio_lengths, tokens, token_lengths, context, context_emb)
        B, Ta, D = audio_emb.shape
        device = audio_emb.device
        lang = torch.zeros(B, dtype=torch.long, device=device) if language_ids is None else language_ids.to(device)
        if language_given is not None:
            lang = torch.where(language_given.to(device), lang, torch.zeros_like(lang))
        lid = self.decoder.embed(torch.full((B, 1), self.lid_id, device=device))
        lang_part = torch.cat([lid, self.lang_embeddings(lang)[:, None]], 1).to(audio_emb.dtype)
        m = torch.full((B,), 2, dtype=torch.long, device=device)
        if self.omit_missing_language:
            m = torch.where(lang > 0, m, torch.zeros_like(m))
        if tokens is None:
            ids = torch.full((B, 1), self.bos_id, dtype=torch.long, device=device)
            n = torch.ones(B, dtype=torch.long, device=device)
        else:
            assert token_lengths is not None, "token_lengths go with tokens"
            tokens, token_lengths = tokens.to(device), token_lengths.to(device)
            ids = self._text_ids(tokens, token_lengths)
            n = token_lengths + 2
        text_part = self.decoder.embed(ids).to(audio_emb.dtype)
        zero = audio_emb.new_zeros(B, 1, D)
        src = torch.cat([audio_emb, lang_part, text_part, zero], 1)
        a = audio_lengths.to(device)[:, None]
        m2, n2 = m[:, None], n[:, None]
        lengths = a + m2 + n2
        t = torch.arange(int(lengths.max()), device=device)[None]
        # each output position's row of src: audio frame t, marker / language, text token, or the zero row
        idx = torch.where(t < a, t, torch.where(t < a + m2, Ta + t - a, torch.where(
            t < lengths, Ta + 2 + t - a - m2, src.shape[1] - 1)))
        x = torch.gather(src, 1, idx[..., None].expand(-1, -1, D))
        return x, lengths[:, 0], (a + m2)[:, 0]

    def _context_inputs(self, audio_emb: Tensor, audio_lengths: Tensor, tokens: Tensor | None,
                        token_lengths: Tensor | None, context: Context, context_emb: tuple[Tensor, Tensor] | None
                        ) -> tuple[Tensor, Tensor, Tensor]:
        if self.context_markers is None:
            raise ValueError("this model was built without context_slots: it has no context markers")
        B, device, dtype = audio_emb.shape[0], audio_emb.device, audio_emb.dtype
        if context.targets != B:
            raise ValueError(f"a context for {context.targets} targets with a batch of {B}")
        if context_emb is None:
            context_emb = self.embed_audio(context.audio.to(device), context.audio_lengths.to(device))
        ctx_emb, ctx_frames = context_emb
        if tokens is None:
            ids = torch.full((B, 1), self.bos_id, dtype=torch.long, device=device)
            n = torch.ones(B, dtype=torch.long, device=device)
        else:
            assert token_lengths is not None, "token_lengths go with tokens"
            token_lengths = token_lengths.to(device)
            ids, n = self._text_ids(tokens.to(device), token_lengths), token_lengths + 2
        x, lengths, bos = context_sequences(
            self.context_markers.weight.to(dtype), ctx_emb, ctx_frames, self.decoder.embed(context.tokens.to(device))
            .to(dtype), context.token_lengths, context.slots, audio_emb, audio_lengths, self.decoder.embed(ids)
            .to(dtype), n)
        longest = int(lengths.max())
        if longest > self.cfg.max_seq_len:
            block = int((bos - audio_lengths.to(device)).max())
            raise ValueError(f"an in-context sequence of {longest} positions (a context block of up to {block}) is "
                             f"longer than max_seq_len {self.cfg.max_seq_len}: use fewer or shorter context examples")
        return x, lengths, bos

    def _inputs(self, audio: Tensor, audio_lengths: Tensor | None, language_ids: Tensor | None,
                tokens: Tensor | None, token_lengths: Tensor | None, language_given: Tensor | None,
                context: Context | None) -> tuple[Tensor, Tensor, Tensor]:
        if context is None:
            emb, lengths = self.embed_audio(audio, audio_lengths)
            return self.decoder_inputs(emb, lengths, language_ids, tokens, token_lengths, language_given)
        emb, lengths, ctx_emb, ctx_lengths = self.embed_with_context(audio, audio_lengths, context)
        return self.decoder_inputs(emb, lengths, None, tokens, token_lengths, context=context,
                                   context_emb=(ctx_emb, ctx_lengths))

    def _text_ids(self, tokens: Tensor, token_lengths: Tensor) -> Tensor:
        """[B, T + 2]: <s>, the tokens, </s> after each row's last token, <pad> after it."""
        B, T = tokens.shape
        pos = torch.arange(T + 1, device=tokens.device)[None]
        body = torch.cat([tokens, tokens.new_full((B, 1), self.pad_id)], 1)
        body = torch.where(pos < token_lengths[:, None], body, torch.full_like(body, self.pad_id))
        body = torch.where(pos == token_lengths[:, None], torch.full_like(body, self.eos_id), body)
        return torch.cat([tokens.new_full((B, 1), self.bos_id), body], 1)

    # -- training ------------------------------------------------------------------------------------------

    def logits(self, audio: Tensor, audio_lengths: Tensor | None, tokens: Tensor, token_lengths: Tensor,
               language_ids: Tensor | None = None, language_given: Tensor | None = None, *,
               context: Context | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Logits at every decoder position [B, L, vocab], the sequence lengths and the <s> positions."""
        x, seq_lengths, bos = self._inputs(audio, audio_lengths, language_ids, tokens, token_lengths, language_given,
                                           context)
        return self.decoder.project(self.decoder(x)), seq_lengths, bos

    def forward(self, audio: Tensor, audio_lengths: Tensor | None, tokens: Tensor, token_lengths: Tensor,
                language_ids: Tensor | None = None, language_given: Tensor | None = None, *,
                context: Context | None = None) -> tuple[Tensor, Tensor]:
        """(summed cross-entropy of the text tokens and each </s>, number of those targets). Teacher forced;
        divide for a per-token loss. Only the target positions go through the output projection (with a
        context: the target's, never the context examples' texts)."""
        x, _, bos = self._inputs(audio, audio_lengths, language_ids, tokens, token_lengths, language_given, context)
        hidden = self.decoder(x)
        token_lengths = token_lengths.to(x.device)
        T1 = tokens.shape[1] + 1
        steps = torch.arange(T1, device=x.device)[None]
        valid = steps <= token_lengths[:, None]  # the text tokens and the </s>
        # the output at <s> + i predicts target i (text[i], then </s>)
        where = torch.where(valid, bos[:, None] + steps, torch.zeros_like(steps))
        h = torch.gather(hidden, 1, where[..., None].expand(-1, -1, hidden.shape[-1]))
        targets = self._text_ids(tokens.to(x.device), token_lengths)[:, 1:]
        targets = torch.where(valid, targets, torch.full_like(targets, -100))
        loss = F.cross_entropy(self.decoder.project(h).float().flatten(0, 1), targets.flatten(), ignore_index=-100,
                               reduction="sum")
        return loss, valid.sum()

    # -- decoding ------------------------------------------------------------------------------------------

    def _prefill(self, audio: Tensor, audio_lengths: Tensor | None, language_ids: Tensor | None,
                 max_new_tokens: int, rows: int, context: Context | None = None) -> tuple[KVCache, Tensor]:
        """The KV cache holding each utterance's prefix `audio <lid> language <s>` (with a context: its block,
        `audio <s>`), each row repeated `rows` times, and the log-probabilities of the first token
        [B * rows, vocab]."""
        x, seq_lengths, _ = self._inputs(audio, audio_lengths, language_ids, None, None, None, context)
        B, P, _ = x.shape
        capacity = min(P + max_new_tokens, self.cfg.max_seq_len)
        cache = KVCache(self.cfg, B, capacity, x.device, x.dtype)
        hidden = self.decoder(x, cache)
        cache.lengths = seq_lengths.clone()  # the padded tail of the shorter prefixes gets overwritten
        last = hidden[torch.arange(B, device=x.device), seq_lengths - 1]
        logp = self.decoder.project(last).float().log_softmax(-1)
        if rows > 1:
            index = torch.arange(B, device=x.device).repeat_interleave(rows)
            cache.reorder(index)
            logp = logp.index_select(0, index)
        return cache, logp

    def _step(self, cache: KVCache, tokens: Tensor) -> Tensor:
        hidden = self.decoder(self.decoder.embed(tokens[:, None]), cache)
        return self.decoder.project(hidden[:, 0]).float().log_softmax(-1)

    def _room(self, audio: Tensor, audio_lengths: Tensor | None, max_new_tokens: int,
              context: Context | None = None) -> int:
        frames = self.encoder.output_lengths(audio_lengths if audio_lengths is not None else
                                             torch.tensor([audio.shape[1]], device=audio.device))
        prefix = int(torch.div(frames.max() + self.stack - 1, self.stack, rounding_mode="floor")) + 3
        if context is not None:  # each row's context block, its audio, <s>
            block = block_lengths(self._stacked(context.audio_lengths), context.token_lengths, context.slots)
            stacked = torch.div(frames + self.stack - 1, self.stack, rounding_mode="floor")
            prefix = int((block.to(frames.device) + stacked + 1).max())
        return max(0, min(max_new_tokens, self.cfg.max_seq_len - prefix))

    @torch.no_grad()
    def greedy(self, audio: Tensor, audio_lengths: Tensor | None = None, language_ids: Tensor | None = None,
               max_new_tokens: int = 256, *, context: Context | None = None) -> list[list[int]]:
        """Best token at each step, until </s> or max_new_tokens; the text token ids of each utterance."""
        max_new_tokens = self._room(audio, audio_lengths, max_new_tokens, context)
        cache, logp = self._prefill(audio, audio_lengths, language_ids, max_new_tokens, 1, context)
        B = logp.shape[0]
        out: list[list[int]] = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool, device=logp.device)
        for step in range(max_new_tokens):
            token = logp.argmax(-1)
            done = done | (token == self.eos_id)
            for b in (~done).nonzero()[:, 0].tolist():
                out[b].append(int(token[b]))
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            logp = self._step(cache, token)
        return out

    @torch.no_grad()
    def beam_search(self, audio: Tensor, audio_lengths: Tensor | None = None, language_ids: Tensor | None = None,
                    beam: int = 4, nbest: int = 1, length_penalty: float = 0.0, max_new_tokens: int = 256, *,
                    context: Context | None = None) -> list[list[Hypothesis]]:
        """Beam search (the reference's scheme): `beam` hypotheses per utterance ranked by summed
        log-probability; one that emits </s> stays in the beam with its score frozen; the search ends when
        every hypothesis has ended or after max_new_tokens. Returns the `nbest` best per utterance, best first,
        scored by log-probability / length ** length_penalty (length: text tokens + </s>)."""
        if not 1 <= nbest <= beam:
            raise ValueError("1 <= nbest <= beam")
        max_new_tokens = self._room(audio, audio_lengths, max_new_tokens, context)
        cache, logp = self._prefill(audio, audio_lengths, language_ids, max_new_tokens, beam, context)
        N, V = logp.shape
        B = N // beam
        device = logp.device
        scores = torch.full((B, beam), -math.inf, device=device)
        scores[:, 0] = 0.0  # the copies of a prefix start out of the race, or the beam would hold duplicates
        history = torch.zeros(N, 0, dtype=torch.long, device=device)
        ended = torch.zeros(N, dtype=torch.bool, device=device)
        base = (torch.arange(B, device=device) * beam)[:, None]
        for step in range(max_new_tokens):
            cand = scores.reshape(N, 1) + logp
            # an ended hypothesis continues only as itself (</s> again, score unchanged)
            frozen = torch.full_like(cand, -math.inf)
            frozen[:, self.eos_id] = scores.reshape(N)
            cand = torch.where(ended[:, None], frozen, cand)
            top, flat = cand.view(B, beam * V).topk(beam, dim=-1)
            parent = (base + torch.div(flat, V, rounding_mode="floor")).view(N)
            token = (flat % V).view(N)
            scores = top
            ended = ended.index_select(0, parent) | (token == self.eos_id)
            history = torch.cat([history.index_select(0, parent), token[:, None]], 1)
            if bool(ended.all()) or step == max_new_tokens - 1:
                break
            cache.reorder(parent)
            logp = self._step(cache, token)
        return [self._nbest(history[b * beam:(b + 1) * beam], scores[b], ended[b * beam:(b + 1) * beam], nbest,
                            length_penalty) for b in range(B)]

    def _nbest(self, history: Tensor, scores: Tensor, ended: Tensor, nbest: int, length_penalty: float
               ) -> list[Hypothesis]:
        hyps = []
        for row, score, fin in zip(history.tolist(), scores.tolist(), ended.tolist(), strict=True):
            if score == -math.inf:
                continue
            tokens = row[: row.index(self.eos_id)] if self.eos_id in row else row
            length = len(tokens) + (1 if fin else 0)
            hyps.append(Hypothesis(tokens, score / max(length, 1) ** length_penalty, self.vocab.decode(tokens),
                                   bool(fin)))
        hyps.sort(key=lambda h: h.score, reverse=True)
        return hyps[:nbest]

    def transcribe(self, audio: Tensor, audio_lengths: Tensor | None = None,
                   languages: Sequence[str | None] | None = None, beam: int = 1, max_new_tokens: int = 256, *,
                   context: Context | None = None) -> list[str]:
        """Texts of a batch: greedy when beam is 1, else the best of a beam search."""
        lang = None if languages is None else self.language_ids(languages)
        if beam == 1:
            return [self.vocab.decode(ids) for ids in self.greedy(audio, audio_lengths, lang, max_new_tokens,
                                                                  context=context)]
        return [h[0].text for h in self.beam_search(audio, audio_lengths, lang, beam, 1,
                                                    max_new_tokens=max_new_tokens, context=context)]


# -- parameter accounting --------------------------------------------------------------------------------------

#: the reference's 7B LLM-ASR vocabulary (omniASR v1 tokenizer, config.py `_7b_llama`) and its language table
#: (languges_lookup_table.parquet: 1693 languages)
REFERENCE_VOCAB_SIZE = 9812
REFERENCE_LANGUAGES = 1693


def placeholder_vocab(size: int, languages: int = 0) -> Vocab:
    """A vocabulary of `size` tokens with `languages` language tokens (for parameter accounting)."""
    langs = tuple(language_token(f"l{i:04d}_Xxxx") for i in range(languages))
    head = SPECIALS + SEQUENCE_TOKENS + langs
    if size < len(head):
        raise ValueError(f"a vocabulary with {languages} languages has at least {len(head)} tokens")
    return Vocab(head + tuple(f"c{i}" for i in range(size - len(head))))


def count_parameters_on_meta(decoder: str | DecoderConfig = "llama-12x4096",
                             encoder: str | Wav2Vec2Config | None = None,
                             vocab_size: int = REFERENCE_VOCAB_SIZE, languages: int = REFERENCE_LANGUAGES,
                             stack: int = 1) -> int:
    """Parameters of the decoder alone (encoder None: the LlamaDecoder with its vocab_size + 1 embedding rows
    and vocab_size outputs) or of the whole LLM-ASR model with a named encoder config ("300m", ...), built on
    the meta device (no memory, no initialisation cost)."""
    dec = get_decoder_config(decoder) if isinstance(decoder, str) else decoder
    with torch.device("meta"):
        if encoder is None:
            module: nn.Module = LlamaDecoder(dec, vocab_size, embed_rows=vocab_size + 1)
        else:
            enc = get_config(encoder) if isinstance(encoder, str) else encoder
            module = LLMASRModel(enc, dec, placeholder_vocab(vocab_size, languages), stack=stack)
    return sum(p.numel() for p in module.parameters())
