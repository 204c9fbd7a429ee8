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

Decoding (`greedy`, `beam_search`) prefills the prefix `audio <lid> language <s>` into a KV cache and then
feeds one token per step; each row writes at its own offset (prefixes differ in length), so the positions
and masks are those of the full forward (a test checks the logits agree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnicorpus.model.vocab import BOS, EOS, PAD, SEQUENCE_TOKENS, SPECIALS, Vocab, language_token
from omnicorpus.model.wav2vec2 import Wav2Vec2Config, Wav2Vec2Encoder, get_config


def llama_ffn_dim(inner_dim: int, scale: float = 2 / 3, multiple_of: int = 256) -> int:
    """SwiGLU hidden size by LLaMA's (and fairseq2's GLUFeedForwardNetwork's) rule: int(inner * 2/3) rounded
    up to a multiple (2/3 keeps the three matrices' parameters those of a two-matrix FFN of `inner_dim`)."""
    dim = int(inner_dim * scale)
    return multiple_of * ((dim + multiple_of - 1) // multiple_of)


@dataclass(frozen=True)
class DecoderConfig:
    dim: int = 4096
    layers: int = 12
    heads: int = 8
    kv_heads: int | None = None  # grouped-query attention when fewer than heads; None = heads
    ffn_dim: int = 2816  # SwiGLU hidden size
    rope_theta: float = 10_000.0
    max_seq_len: int = 8192
    dropout: float = 0.1
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError("dim must split into heads of an even size (RoPE rotates pairs)")
        if self.heads % self.n_kv_heads:
            raise ValueError("heads must be a multiple of kv_heads")

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


DECODER_CONFIGS: dict[str, DecoderConfig] = {
    # omnilingual-asr config.py `_7b_llama` (used by its 300m/1b/3b/7b LLM-ASR models): 12 x 4096, 8 heads,
    # ffn_inner_dim 4096 -> 2816 SwiGLU hidden, max_seq_len 8192, rope_theta 1e4, dropout 0.1
    "llama-12x4096": DecoderConfig(dim=4096, layers=12, heads=8, ffn_dim=llama_ffn_dim(4096), max_seq_len=8192),
    # for CPU tests and smoke runs
    "llm-tiny": DecoderConfig(dim=128, layers=2, heads=4, ffn_dim=384, max_seq_len=2048, dropout=0.0),
}


def get_decoder_config(name: str, **overrides: object) -> DecoderConfig:
    if name not in DECODER_CONFIGS:
        raise KeyError(f"unknown decoder config {name!r}; known: {', '.join(DECODER_CONFIGS)}")
    return replace(DECODER_CONFIGS[name], **overrides)  # type: ignore[arg-type]


def _init_linear(linear: nn.Linear, scale: float = 1.0) -> None:
    # fairseq2's LLaMA factory: truncated normal (3 std) of std in_dim^-0.5, divided by sqrt(2 (layer + 1))
    std = linear.weight.shape[1] ** -0.5 / scale
    nn.init.trunc_normal_(linear.weight, std=std, a=-3 * std, b=3 * std)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # normalise in float32 (bf16 squares lose too much), cast back, then scale, as Meta's LLaMA
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(x.dtype) * self.weight


def apply_rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """Rotary embedding of x [N, S, H, hd] at integer positions [N, S]: each pair (x[2i], x[2i+1]) rotated by
    position * theta^(-2i/hd). The angles are computed here in float32 from the positions (no cached table:
    nothing for .to(bfloat16) to round, and nothing to allocate on the meta device)."""
    hd = x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, hd, 2, device=x.device, dtype=torch.float32) / hd)
    angles = positions.to(torch.float32)[..., None, None] * inv_freq  # [N, S, 1, hd/2]
    cos, sin = angles.cos(), angles.sin()
    pairs = x.float().unflatten(-1, (hd // 2, 2))
    x0, x1 = pairs[..., 0], pairs[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


class KVCache:
    """Keys and values of every layer, [N, capacity, kv_heads, head_dim] each, for incremental decoding.

    `lengths[n]` is how many positions row n holds: the next inputs of row n go to slots (and RoPE
    positions) lengths[n], lengths[n] + 1, ...; slots at or past lengths[n] are never attended to before
    they are written. Rows may hold different lengths (prefixes of different lengths prefilled right-padded,
    then `lengths` set to the true ones)."""

    def __init__(self, cfg: DecoderConfig, batch: int, capacity: int, device: torch.device | str,
                 dtype: torch.dtype) -> None:
        shape = (batch, capacity, cfg.n_kv_heads, cfg.head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.layers)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.layers)]
        self.lengths = torch.zeros(batch, dtype=torch.long, device=device)
        self.capacity = capacity

    def write(self, layer: int, slots: Tensor, k: Tensor, v: Tensor, end: int) -> tuple[Tensor, Tensor]:
        """Store k, v [N, S, kv_heads, hd] at slots [N, S]; the layer's keys and values up to slot `end`."""
        rows = torch.arange(k.shape[0], device=k.device)[:, None]
        self.k[layer][rows, slots] = k
        self.v[layer][rows, slots] = v
        return self.k[layer][:, :end], self.v[layer][:, :end]

    def reorder(self, index: Tensor) -> None:
        """Keep rows `index` (beam search: the parents of the surviving hypotheses; may repeat rows)."""
        self.k = [t.index_select(0, index) for t in self.k]
        self.v = [t.index_select(0, index) for t in self.v]
        self.lengths = self.lengths.index_select(0, index)


class Attention(nn.Module):
    def __init__(self, cfg: DecoderConfig, layer: int) -> None:
        super().__init__()
        self.cfg = cfg
        hd, kvh = cfg.head_dim, cfg.n_kv_heads
        self.q_proj = nn.Linear(cfg.dim, cfg.heads * hd, bias=False)
        self.k_proj = nn.Linear(cfg.dim, kvh * hd, bias=False)
        self.v_proj = nn.Linear(cfg.dim, kvh * hd, bias=False)
        self.output_proj = nn.Linear(cfg.heads * hd, cfg.dim, bias=False)
        for p in (self.q_proj, self.k_proj, self.v_proj, self.output_proj):
            _init_linear(p, math.sqrt(2 * (layer + 1)))

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None = None, layer: int = 0,
                end: int = 0) -> Tensor:
        cfg = self.cfg
        N, S, _ = x.shape
        q = apply_rope(self.q_proj(x).view(N, S, cfg.heads, cfg.head_dim), positions, cfg.rope_theta)
        k = apply_rope(self.k_proj(x).view(N, S, cfg.n_kv_heads, cfg.head_dim), positions, cfg.rope_theta)
        v = self.v_proj(x).view(N, S, cfg.n_kv_heads, cfg.head_dim)
        gqa = cfg.n_kv_heads != cfg.heads
        dropout = cfg.dropout if self.training else 0.0
        if cache is None:
            # training / full forward: every row starts at position 0, so the plain causal mask is exact
            # (right padding comes after every real position and is never attended to)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               is_causal=True, dropout_p=dropout, enable_gqa=gqa)
        else:
            k_all, v_all = cache.write(layer, positions, k, v, end)
            # query at position p sees slots 0..p of its row: the causal mask at per-row offsets
            mask = torch.arange(end, device=x.device)[None, None, :] <= positions[:, :, None]
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k_all.transpose(1, 2), v_all.transpose(1, 2),
                                               attn_mask=mask[:, None], dropout_p=dropout, enable_gqa=gqa)
        return self.output_proj(y.transpose(1, 2).reshape(N, S, cfg.heads * cfg.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, cfg: DecoderConfig, layer: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.inner_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.output_proj = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)
        for p in (self.gate_proj, self.inner_proj, self.output_proj):
            _init_linear(p, math.sqrt(2 * (layer + 1)))
        self.dropout = cfg.dropout

    def forward(self, x: Tensor) -> Tensor:
        h = F.silu(self.gate_proj(x)) * self.inner_proj(x)
        return self.output_proj(F.dropout(h, self.dropout, self.training))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DecoderConfig, layer: int) -> None:
        super().__init__()
        self.self_attn_layer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.ffn_layer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = SwiGLU(cfg, layer)
        self.layer = layer

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None = None, end: int = 0) -> Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), positions, cache, self.layer, end)
        return x + self.ffn(self.ffn_layer_norm(x))


class LlamaDecoder(nn.Module):
    """Token embedding (`embed_rows` rows: the vocabulary and any input-only markers), pre-norm blocks, final
    RMSNorm, untied output projection over `vocab_size`. `forward` takes embedded inputs (audio frames and
    tokens are mixed) and returns the final hidden states; `project` gives the logits."""

    def __init__(self, cfg: DecoderConfig, vocab_size: int, embed_rows: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        # N(0, 1) rows, torch's default (the reference's StandardEmbedding): the scale of projected frames
        self.embed = nn.Embedding(embed_rows or vocab_size, cfg.dim)
        self.layers = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.layers))
        self.layer_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.final_proj = nn.Linear(cfg.dim, vocab_size, bias=False)
        nn.init.xavier_uniform_(self.final_proj.weight)  # the reference's _init_final_projection

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        """x [N, S, dim] -> hidden [N, S, dim]. Without a cache: positions 0..S-1, causal. With one: row n's
        inputs take positions cache.lengths[n] + 0..S-1 (and are stored there); cache.lengths grows by S."""
        N, S, _ = x.shape
        offsets = torch.arange(S, device=x.device)[None]
        if cache is None:
            positions = offsets.expand(N, S)
            end = S
        else:
            positions = cache.lengths[:, None] + offsets
            end = int(positions.max()) + 1
            if end > cache.capacity:
                raise ValueError(f"KV cache of {cache.capacity} positions is full")
        if end > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {end} positions is longer than max_seq_len {self.cfg.max_seq_len}")
        for layer in self.layers:
            x = layer(x, positions, cache, end)
        if cache is not None:
            cache.lengths = cache.lengths + S
        return F.dropout(self.layer_norm(x), self.cfg.dropout, self.training)

    def project(self, hidden: Tensor) -> Tensor:
        return self.final_proj(hidden)


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
    meaning "not given", row i the vocabulary's i-th language (sorted, as Vocab keeps them)."""

    def __init__(self, encoder: Wav2Vec2Config, decoder: DecoderConfig, vocab: Vocab, stack: int = 1,
                 omit_missing_language: bool = False) -> None:
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
                       language_given: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The right-padded decoder sequences [B, L, dim], their lengths [B] and the position of <s> [B]:
        `audio, <lid>, language, <s>, text, </s>` with tokens, `audio, <lid>, language, <s>` without (the
        decoding prefix). `language_given` [B] bool zeroes the language of the False rows."""
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
               language_ids: Tensor | None = None, language_given: Tensor | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits at every decoder position [B, L, vocab], the sequence lengths and the <s> positions."""
        emb, lengths = self.embed_audio(audio, audio_lengths)
        x, seq_lengths, bos = self.decoder_inputs(emb, lengths, language_ids, tokens, token_lengths, language_given)
        return self.decoder.project(self.decoder(x)), seq_lengths, bos

    def forward(self, audio: Tensor, audio_lengths: Tensor | None, tokens: Tensor, token_lengths: Tensor,
                language_ids: Tensor | None = None, language_given: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(summed cross-entropy of the text tokens and each </s>, number of those targets). Teacher forced;
        divide for a per-token loss. Only the target positions go through the output projection."""
        emb, lengths = self.embed_audio(audio, audio_lengths)
        x, _, bos = self.decoder_inputs(emb, lengths, language_ids, tokens, token_lengths, language_given)
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
                 max_new_tokens: int, rows: int) -> tuple[KVCache, Tensor]:
        """The KV cache holding each utterance's prefix `audio <lid> language <s>`, each row repeated `rows`
        times, and the log-probabilities of the first token [B * rows, vocab]."""
        emb, lengths = self.embed_audio(audio, audio_lengths)
        x, seq_lengths, _ = self.decoder_inputs(emb, lengths, language_ids)
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

    def _room(self, audio: Tensor, audio_lengths: Tensor | None, max_new_tokens: int) -> int:
        frames = self.encoder.output_lengths(audio_lengths if audio_lengths is not None else
                                             torch.tensor([audio.shape[1]], device=audio.device))
        prefix = int(torch.div(frames.max() + self.stack - 1, self.stack, rounding_mode="floor")) + 3
        return max(0, min(max_new_tokens, self.cfg.max_seq_len - prefix))

    @torch.no_grad()
    def greedy(self, audio: Tensor, audio_lengths: Tensor | None = None, language_ids: Tensor | None = None,
               max_new_tokens: int = 256) -> list[list[int]]:
        """Best token at each step, until </s> or max_new_tokens; the text token ids of each utterance."""
        max_new_tokens = self._room(audio, audio_lengths, max_new_tokens)
        cache, logp = self._prefill(audio, audio_lengths, language_ids, max_new_tokens, 1)
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
                    beam: int = 4, nbest: int = 1, length_penalty: float = 0.0, max_new_tokens: int = 256
                    ) -> list[list[Hypothesis]]:
        """Beam search (the reference's scheme): `beam` hypotheses per utterance ranked by summed
        log-probability; one that emits </s> stays in the beam with its score frozen; the search ends when
        every hypothesis has ended or after max_new_tokens. Returns the `nbest` best per utterance, best first,
        scored by log-probability / length ** length_penalty (length: text tokens + </s>)."""
        if not 1 <= nbest <= beam:
            raise ValueError("1 <= nbest <= beam")
        max_new_tokens = self._room(audio, audio_lengths, max_new_tokens)
        cache, logp = self._prefill(audio, audio_lengths, language_ids, max_new_tokens, beam)
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
                   languages: Sequence[str | None] | None = None, beam: int = 1, max_new_tokens: int = 256
                   ) -> list[str]:
        """Texts of a batch: greedy when beam is 1, else the best of a beam search."""
        lang = None if languages is None else self.language_ids(languages)
        if beam == 1:
            return [self.vocab.decode(ids) for ids in self.greedy(audio, audio_lengths, lang, max_new_tokens)]
        return [h[0].text for h in self.beam_search(audio, audio_lengths, lang, beam, 1,
                                                    max_new_tokens=max_new_tokens)]


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
