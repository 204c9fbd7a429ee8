"""A wav2vec 2.0 encoder in plain torch, with the configurations of the Omnilingual ASR models.

    waveform [B, T] (16 kHz)
      -> (per-utterance normalisation to zero mean, unit variance over its own samples)
      -> feature encoder: 7 Conv1d (512 channels, kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2 = 320x,
         about 50 frames/s), each followed by a LayerNorm over channels and GELU ("layer_norm" mode of
         the large models; "group_norm" mode: GroupNorm on the first layer only, as in wav2vec 2.0 Base,
         its statistics taken over each utterance's own frames so that padding changes nothing)
      -> LayerNorm(512) -> Linear(512, dim) -> dropout
      -> time masking with a learned mask embedding (training only, mask_prob > 0)
      -> + convolutional relative positional embedding (Conv1d(dim, dim, 128, groups=16), weight norm
         over the kernel axis, GELU)
      -> Transformer, pre-LN (LayerNorm first in each block, as in the large models), final LayerNorm
      -> [B, frames, dim] and the valid frame counts

The parameter count of the SSL model (`Wav2Vec2SSL`) is that of fairseq's `Wav2Vec2Model`: the encoder
above (feature encoder with conv biases and LayerNorms, feature LayerNorm, projection, mask embedding,
positional conv with its weight-norm gain, every Transformer block, final LayerNorm) plus the
pre-training heads: the Gumbel quantizer (codebook of 2 groups x 320 entries of final_dim / 2, and its
Linear(512, 640) logits), `project_q` Linear(final_dim, final_dim) and `final_proj` Linear(dim, final_dim),
with final_dim 768 (300M) or 1024 (1B and up, as XLS-R). That gives

    300m 317,390,592   1b 965,514,752   3b 3,064,124,672   7b 6,488,487,168

against 317.4M, 965.5M, 3.06B and 6.49B in the paper (each within 0.2%). The CTC model keeps the encoder
and drops the pre-training heads. The pre-training heads are here for parameter accounting and to load
SSL checkpoints; the contrastive pre-training objective over them is model.ssl's.

The encoder's parameterisation equals `torchaudio.models.wav2vec2_model(extractor_mode="layer_norm",
extractor_conv_bias=True, encoder_layer_norm_first=True, ...)` plus the mask embedding (a test checks the
counts agree), but it is written here in plain torch so that it builds on the meta device, uses
`scaled_dot_product_attention`, and supports activation checkpointing for the 3B and 7B models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

ConvLayer = tuple[int, int, int]  # (channels, kernel, stride)
W2V2_CONV: tuple[ConvLayer, ...] = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass(frozen=True)
class Wav2Vec2Config:
    dim: int = 1024
    layers: int = 24
    ffn: int = 4096
    heads: int = 16
    conv_layers: tuple[ConvLayer, ...] = W2V2_CONV
    extractor_mode: str = "layer_norm"  # or "group_norm"
    conv_bias: bool = True
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    layer_norm_first: bool = True
    # pre-training heads (counted in the SSL model, dropped by the CTC model)
    final_dim: int = 768
    latent_vars: int = 320
    latent_groups: int = 2
    # regularisation (the recipes set these for fine-tuning)
    dropout: float = 0.0  # after attention and feed-forward blocks and on the projected features
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    layerdrop: float = 0.0
    mask_prob: float = 0.0  # fraction of frames covered by time masks during training
    mask_length: int = 10
    normalize_waveform: bool = True
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.dim % self.heads or self.dim % self.pos_conv_groups:
            raise ValueError("dim must be divisible by heads and pos_conv_groups")
        if self.extractor_mode not in ("layer_norm", "group_norm"):
            raise ValueError(f"extractor_mode is layer_norm or group_norm, got {self.extractor_mode}")

    @property
    def downsampling(self) -> int:
        return math.prod(s for _, _, s in self.conv_layers)


CONFIGS: dict[str, Wav2Vec2Config] = {
    # the paper's models (Omnilingual ASR, Table: 300M / 1B / 3B / 7B)
    "300m": Wav2Vec2Config(dim=1024, layers=24, ffn=4096, heads=16, final_dim=768),
    "1b": Wav2Vec2Config(dim=1280, layers=48, ffn=5120, heads=16, final_dim=1024),
    "3b": Wav2Vec2Config(dim=2048, layers=60, ffn=8192, heads=16, final_dim=1024, activation_checkpointing=True),
    "7b": Wav2Vec2Config(dim=2048, layers=128, ffn=8192, heads=16, final_dim=1024, activation_checkpointing=True),
    # for CPU tests and smoke runs: the same 320x front end and pre-LN Transformer, narrow: 32 to 128
    # channels, GroupNorm front end (wav2vec 2.0 Base style: cheaper than a LayerNorm after every
    # convolution on a CPU), 4 blocks of 128
    "tiny": Wav2Vec2Config(dim=128, layers=4, ffn=512, heads=4, extractor_mode="group_norm", conv_bias=False,
                           conv_layers=tuple((c, k, s) for c, (_, k, s) in zip((32, 32, 64, 64, 128, 128, 128),
                                                                              W2V2_CONV, strict=True)),
                           pos_conv_kernel=32, pos_conv_groups=8, final_dim=64, latent_vars=32),
}

#: SSL parameter counts the paper gives (fairseq Wav2Vec2Model), for the tests.
PAPER_SSL_PARAMETERS = {"300m": 317.4e6, "1b": 965.5e6, "3b": 3.06e9, "7b": 6.49e9}


def get_config(name: str, **overrides: object) -> Wav2Vec2Config:
    if name not in CONFIGS:
        raise KeyError(f"unknown encoder config {name!r}; known: {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], **overrides)  # type: ignore[arg-type]


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, bias: bool, norm: str | None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, bias=bias)
        self.norm_kind = norm
        if norm == "layer_norm":
            self.norm: nn.Module = nn.LayerNorm(c_out)
        elif norm == "group_norm":
            self.norm = nn.GroupNorm(c_out, c_out)
        else:
            self.norm = nn.Identity()
        nn.init.kaiming_normal_(self.conv.weight)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        x = self.conv(x)
        if self.norm_kind == "layer_norm":
            x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        elif self.norm_kind == "group_norm" and lengths is not None:
            x = self._masked_group_norm(x, lengths)
        else:
            x = self.norm(x)
        return F.gelu(x)

    def _masked_group_norm(self, x: Tensor, lengths: Tensor) -> Tensor:
        """GroupNorm with one channel per group (statistics over time) over each utterance's own frames,
        so that padding a batch does not change an utterance's features."""
        norm: nn.GroupNorm = self.norm  # type: ignore[assignment]
        valid = (torch.arange(x.shape[-1], device=x.device)[None] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        n = lengths.clamp(min=1)[:, None, None].to(x.dtype)
        mean = (x * valid).sum(-1, keepdim=True) / n
        var = (((x - mean) * valid) ** 2).sum(-1, keepdim=True) / n
        y = (x - mean) * torch.rsqrt(var + norm.eps)
        return y * norm.weight[None, :, None] + norm.bias[None, :, None]


class FeatureEncoder(nn.Module):
    """The CNN front end: waveform [B, T] -> features [B, frames, channels]."""

    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        blocks, c_in = [], 1
        for i, (c, k, s) in enumerate(cfg.conv_layers):
            norm = "layer_norm" if cfg.extractor_mode == "layer_norm" else ("group_norm" if i == 0 else None)
            blocks.append(ConvBlock(c_in, c, k, s, cfg.conv_bias, norm))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.kernels_strides = [(k, s) for _, k, s in cfg.conv_layers]

    def output_lengths(self, lengths: Tensor) -> Tensor:
        for k, s in self.kernels_strides:
            lengths = torch.div(lengths - k, s, rounding_mode="floor") + 1
        return lengths.clamp(min=0)

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> Tensor:
        x = wave.unsqueeze(1)
        for block, (k, s) in zip(self.blocks, self.kernels_strides, strict=True):
            if lengths is not None:
                lengths = torch.div(lengths - k, s, rounding_mode="floor") + 1
            x = block(x, lengths)
        return x.transpose(1, 2)


class PositionalConv(nn.Module):
    """Convolutional relative positional embedding (weight norm over the kernel axis, as in wav2vec 2.0)."""

    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        k = cfg.pos_conv_kernel
        conv = nn.Conv1d(cfg.dim, cfg.dim, k, padding=k // 2, groups=cfg.pos_conv_groups)
        nn.init.normal_(conv.weight, mean=0.0, std=math.sqrt(4.0 / (k * cfg.dim)))
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.trim = 1 if k % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:  # [B, T, C]
        y = self.conv(x.transpose(1, 2))
        if self.trim:
            y = y[..., : -self.trim]
        return F.gelu(y).transpose(1, 2)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        mask = None if keep is None else keep[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))


class TransformerLayer(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.layer_norm_first = cfg.layer_norm_first
        self.self_attn = SelfAttention(cfg.dim, cfg.heads, cfg.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(cfg.dim)
        self.fc1 = nn.Linear(cfg.dim, cfg.ffn)
        self.fc2 = nn.Linear(cfg.ffn, cfg.dim)
        self.final_layer_norm = nn.LayerNorm(cfg.dim)
        self.dropout, self.activation_dropout = cfg.dropout, cfg.activation_dropout

    def _ffn(self, x: Tensor) -> Tensor:
        x = F.dropout(F.gelu(self.fc1(x)), self.activation_dropout, self.training)
        return F.dropout(self.fc2(x), self.dropout, self.training)

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        if self.layer_norm_first:
            x = x + F.dropout(self.self_attn(self.self_attn_layer_norm(x), keep), self.dropout, self.training)
            return x + self._ffn(self.final_layer_norm(x))
        x = self.self_attn_layer_norm(x + F.dropout(self.self_attn(x, keep), self.dropout, self.training))
        return self.final_layer_norm(x + self._ffn(x))


def time_mask(shape: tuple[int, int], lengths: Tensor, prob: float, span: int, device: torch.device,
              min_spans: int = 0) -> Tensor:
    """Boolean [B, T]: spans of `span` frames starting at random frames, covering about `prob` of each
    utterance's valid frames (spans may overlap), never past its end; at least `min_spans` spans in an
    utterance longer than one span (wav2vec 2.0's pre-training masks at least two)."""
    B, T = shape
    mask = torch.zeros(B, T, dtype=torch.bool, device=device)
    if prob <= 0 or T == 0:
        return mask
    for b in range(B):
        n_valid = int(lengths[b])
        if n_valid <= span:
            continue
        n = max(int(prob * n_valid / span + torch.rand(()).item()), min_spans)
        if n:
            starts = torch.randint(0, n_valid - span + 1, (n,), device=device)
            idx = (starts[:, None] + torch.arange(span, device=device)[None]).reshape(-1)
            mask[b, idx] = True
    return mask


class Wav2Vec2Encoder(nn.Module):
    """waveform [B, T], lengths [B] -> (features [B, frames, dim], frame lengths [B])."""

    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.cfg = cfg
        channels = cfg.conv_layers[-1][0]
        self.feature_extractor = FeatureEncoder(cfg)
        self.layer_norm = nn.LayerNorm(channels)
        self.post_extract_proj = nn.Linear(channels, cfg.dim)
        self.mask_emb = nn.Parameter(torch.empty(cfg.dim).uniform_())
        self.pos_conv = PositionalConv(cfg)
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.layers))
        self.final_layer_norm = nn.LayerNorm(cfg.dim)
        #: where layerdrop draws the layers to skip (None: torch's default generator, per rank); FSDP sets one
        #: seeded alike on every rank (model.parallel.share_layer_skips)
        self.layerdrop_rng: torch.Generator | None = None

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return self.feature_extractor.output_lengths(lengths)

    def extract(self, wave: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """CNN features [B, frames, channels] (before the projection) and frame lengths."""
        if lengths is None:
            lengths = torch.full((wave.shape[0],), wave.shape[1], dtype=torch.long, device=wave.device)
        if self.cfg.normalize_waveform:
            valid = torch.arange(wave.shape[1], device=wave.device)[None] < lengths[:, None]
            n = lengths.clamp(min=1)[:, None].to(wave.dtype)
            mean = (wave * valid).sum(1, keepdim=True) / n
            var = (((wave - mean) * valid) ** 2).sum(1, keepdim=True) / n
            wave = ((wave - mean) / torch.sqrt(var + 1e-5)) * valid
        return self.feature_extractor(wave, lengths), self.output_lengths(lengths)

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features, out_lengths = self.extract(wave, lengths)
        return self.encode(self.layer_norm(features), out_lengths), out_lengths

    def encode(self, normed: Tensor, out_lengths: Tensor, mask: Tensor | None = None) -> Tensor:
        """The Transformer's output [B, frames, dim] over LayerNorm'd CNN features; the frames of `mask`
        take the mask embedding (default, in training: time masks of the config's mask_prob)."""
        x = F.dropout(self.post_extract_proj(normed), self.cfg.dropout, self.training)
        T = x.shape[1]
        keep = torch.arange(T, device=x.device)[None] < out_lengths[:, None]
        if mask is None and self.training:
            mask = time_mask((x.shape[0], T), out_lengths, self.cfg.mask_prob, self.cfg.mask_length, x.device)
        if mask is not None:  # masking keeps mask_emb in the graph even when no frame is masked (DDP)
            x = torch.where(mask[..., None], self.mask_emb.to(x.dtype), x)
        x = x * keep[..., None]
        x = x + self.pos_conv(x)
        if not self.cfg.layer_norm_first:
            x = self.final_layer_norm(x)
        attn_keep = None if bool(keep.all()) else keep
        for layer in self.layers:
            drop = self.training and self.cfg.layerdrop > 0
            if drop and torch.rand((), generator=self.layerdrop_rng).item() < self.cfg.layerdrop:
                continue
            if self.cfg.activation_checkpointing and self.training:
                x = checkpoint(layer, x, attn_keep, use_reentrant=False)
            else:
                x = layer(x, attn_keep)
        if self.cfg.layer_norm_first:
            x = self.final_layer_norm(x)
        return x


class GumbelQuantizer(nn.Module):
    """wav2vec 2.0's product quantizer: `groups` codebooks of `num_vars` entries of out_dim / groups."""

    def __init__(self, in_dim: int, num_vars: int, groups: int, out_dim: int) -> None:
        super().__init__()
        if out_dim % groups:
            raise ValueError("final_dim must be divisible by latent_groups")
        self.groups, self.num_vars = groups, num_vars
        self.vars = nn.Parameter(torch.empty(1, groups * num_vars, out_dim // groups).uniform_())
        self.weight_proj = nn.Linear(in_dim, groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0, std=1)
        nn.init.zeros_(self.weight_proj.bias)

    def forward(self, x: Tensor, tau: float = 2.0) -> Tensor:
        B, T, _ = x.shape
        q, _ = self.quantize(x.reshape(B * T, -1), tau)
        return q.view(B, T, -1)

    def quantize(self, x: Tensor, tau: float = 2.0) -> tuple[Tensor, dict[str, Tensor]]:
        """Frames [N, in_dim] -> quantized [N, out_dim] (in training: Gumbel softmax at temperature `tau`,
        a hard choice with the soft one's gradient; else the argmax), and the perplexities (summed over the
        codebooks) of the mean soft assignment (`prob_perplexity`, differentiable: `prob_perplexity_t`) and
        of the hard choices (`code_perplexity`)."""
        N = x.shape[0]
        logits = self.weight_proj(x).view(N, self.groups, self.num_vars).float()
        hard = F.one_hot(logits.argmax(-1), self.num_vars).float()
        onehot = F.gumbel_softmax(logits, tau=tau, hard=True) if self.training else hard
        q = torch.einsum("ngv,gvd->ngd", onehot.type_as(x), self.vars.view(self.groups, self.num_vars, -1))
        soft = logits.softmax(-1).mean(0) if N else logits.new_full((self.groups, self.num_vars), 1 / self.num_vars)
        prob = torch.exp(-(soft * torch.log(soft + 1e-7)).sum(-1)).sum()
        mean_hard = hard.mean(0) if N else soft
        code = torch.exp(-(mean_hard * torch.log(mean_hard + 1e-7)).sum(-1)).sum()
        stats = {"prob_perplexity_t": prob, "prob_perplexity": prob.detach(), "code_perplexity": code.detach()}
        return q.reshape(N, -1), stats


class Wav2Vec2SSL(nn.Module):
    """The encoder with the pre-training heads of fairseq's Wav2Vec2Model (for parameter accounting and
    loading SSL checkpoints): quantizer, project_q, final_proj."""

    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.encoder = Wav2Vec2Encoder(cfg)
        channels = cfg.conv_layers[-1][0]
        self.quantizer = GumbelQuantizer(channels, cfg.latent_vars, cfg.latent_groups, cfg.final_dim)
        self.project_q = nn.Linear(cfg.final_dim, cfg.final_dim)
        self.final_proj = nn.Linear(cfg.dim, cfg.final_dim)

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Context vectors projected to final_dim, and the quantized targets, of every frame, unmasked (the
        front end runs once); the pre-training objective is model.ssl's."""
        features, out_lengths = self.encoder.extract(wave, lengths)
        normed = self.encoder.layer_norm(features)
        x = self.encoder.encode(normed, out_lengths, torch.zeros(normed.shape[:2], dtype=torch.bool,
                                                                 device=normed.device))
        return {"x": self.final_proj(x), "targets": self.project_q(self.quantizer(normed)), "lengths": out_lengths}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
