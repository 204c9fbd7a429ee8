"""The LLaMA-style decoder of LLM-ASR (model.llm_asr): pre-norm blocks of RMSNorm, causal self-attention with
rotary position embeddings (grouped-query by option) and a SwiGLU feed-forward, a final RMSNorm and an output
projection not tied to the token embedding, with a KV cache for incremental decoding. The configurations and
how they follow the reference (omnilingual-asr's `wav2vec2_llama`, fairseq2's LLaMA) are in model.llm_asr's
docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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
