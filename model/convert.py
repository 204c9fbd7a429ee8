"""Load fairseq2 / Omnilingual ASR wav2vec 2.0 checkpoints into `Wav2Vec2Encoder` (and `Wav2Vec2SSL`).

Our module names are fairseq1's (as torchaudio's); fairseq2 names the same parameters after its own module
tree (facebookresearch/fairseq2, src/fairseq2/models/wav2vec2/: factory.py, frontend.py, feature_extractor.py,
position_encoder.py, masker.py, vector_quantizer.py, model.py; the Transformer in models/transformer/), and
its fairseq1 importer (models/wav2vec2/interop.py, asr/interop.py) states the same correspondence:

    fairseq2                                                  ours
    encoder_frontend.feature_extractor.layers.N.conv          feature_extractor.blocks.N.conv
    encoder_frontend.feature_extractor.layers.N.layer_norm    feature_extractor.blocks.N.norm (layer_norm mode)
    encoder_frontend.feature_extractor.layers.0.group_norm    feature_extractor.blocks.0.norm (group_norm mode)
    encoder_frontend.post_extract_layer_norm                  layer_norm
    encoder_frontend.model_dim_proj                           post_extract_proj (absent when feature_dim == dim)
    encoder_frontend.pos_encoder.conv.{weight_g,weight_v}     pos_conv.conv.parametrizations.weight.original{0,1}
    encoder_frontend.layer_norm (post-LN models only)         final_layer_norm (applied before the first layer)
    masker.temporal_mask_embed (only when use_masking)        mask_emb
    encoder.layers.N.self_attn.{q,k,v}_proj                   layers.N.self_attn.{q,k,v}_proj
    encoder.layers.N.self_attn.output_proj                    layers.N.self_attn.out_proj
    encoder.layers.N.self_attn_layer_norm                     layers.N.self_attn_layer_norm
    encoder.layers.N.ffn.inner_proj / ffn.output_proj         layers.N.fc1 / fc2
    encoder.layers.N.ffn_layer_norm                           layers.N.final_layer_norm
    encoder.layer_norm (pre-LN models only)                   final_layer_norm (applied after the last layer)
    quantizer.entries / quantizer.entry_proj                  quantizer.vars / quantizer.weight_proj  (SSL)
    final_target_proj / final_proj                            project_q / final_proj                   (SSL)

fairseq2 registers the positional-conv weight norm with the old `torch.nn.utils.weight_norm(conv, dim=2)`,
so a checkpoint holds `weight_g` [1, 1, K] and `weight_v` [dim, dim / groups, K], the shapes of our
parametrization's original0 and original1; a model saved after fairseq2's `remove_parametrizations` holds a
plain `weight`, which we split into the same pair. The Omnilingual checkpoints (omniASR-W2V-*, -CTC-*, -LLM-*)
use these names at the top level; fairseq2's loader takes the state from a "model" entry when there is one and
drops a DDP "module." prefix, and so do we. Everything outside the encoder (the CTC head `final_proj` of
wav2vec2_asr, the LLM's encoder_proj, text_frontend, llama_decoder, final_proj and lang_embeddings) is
ignored and listed in the report; `final_proj` is read as the SSL head only in SSL checkpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from omnicorpus.model.wav2vec2 import Wav2Vec2Encoder, Wav2Vec2SSL

_WB = r"(weight|bias)"
_POS = r"encoder_frontend\.pos_encoder\.conv\."
POS_G, POS_V = "pos_conv.conv.parametrizations.weight.original0", "pos_conv.conv.parametrizations.weight.original1"
POS_PLAIN = "encoder_frontend.pos_encoder.conv.weight"  # after fairseq2's remove_parametrizations

#: (fairseq2 name, ours) as full-match regexes, for the encoder
ENCODER_KEY_MAP: tuple[tuple[str, str], ...] = (
    (rf"encoder_frontend\.feature_extractor\.layers\.(\d+)\.conv\.{_WB}", r"feature_extractor.blocks.\1.conv.\2"),
    (rf"encoder_frontend\.feature_extractor\.layers\.(\d+)\.(?:layer_norm|group_norm)\.{_WB}",
     r"feature_extractor.blocks.\1.norm.\2"),
    (rf"encoder_frontend\.post_extract_layer_norm\.{_WB}", r"layer_norm.\1"),
    (rf"encoder_frontend\.model_dim_proj\.{_WB}", r"post_extract_proj.\1"),
    (_POS + r"(?:weight_g|parametrizations\.weight\.original0)", POS_G),
    (_POS + r"(?:weight_v|parametrizations\.weight\.original1)", POS_V),
    (_POS + r"bias", "pos_conv.conv.bias"),
    (rf"encoder_frontend\.layer_norm\.{_WB}", r"final_layer_norm.\1"),
    (r"masker\.temporal_mask_embed", "mask_emb"),
    (rf"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.{_WB}", r"layers.\1.self_attn.\2_proj.\3"),
    (rf"encoder\.layers\.(\d+)\.self_attn\.output_proj\.{_WB}", r"layers.\1.self_attn.out_proj.\2"),
    (rf"encoder\.layers\.(\d+)\.self_attn_layer_norm\.{_WB}", r"layers.\1.self_attn_layer_norm.\2"),
    (rf"encoder\.layers\.(\d+)\.ffn\.inner_proj\.{_WB}", r"layers.\1.fc1.\2"),
    (rf"encoder\.layers\.(\d+)\.ffn\.output_proj\.{_WB}", r"layers.\1.fc2.\2"),
    (rf"encoder\.layers\.(\d+)\.ffn_layer_norm\.{_WB}", r"layers.\1.final_layer_norm.\2"),
    (rf"encoder\.layer_norm\.{_WB}", r"final_layer_norm.\1"),
)
#: the pre-training heads of fairseq2's Wav2Vec2Model (mapped only when the checkpoint has a quantizer)
SSL_HEAD_KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"quantizer\.entries", "quantizer.vars"),
    (rf"quantizer\.entry_proj\.{_WB}", r"quantizer.weight_proj.\1"),
    (rf"final_target_proj\.{_WB}", r"project_q.\1"),
    (rf"final_proj\.{_WB}", r"final_proj.\1"),
)
ENCODER_MODULES = ("encoder_frontend", "encoder", "masker")  # an unmapped key under these is an error
SSL_MODULES = ("quantizer", "final_target_proj")
SSL_HEADS = ("quantizer", "project_q", "final_proj")  # our names
IGNORED_KEYS = frozenset({"quantizer.num_updates"})  # the Gumbel temperature's step counter (a buffer)
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")  # DDP, a "model." wrapper, torch.compile


@dataclass
class ConversionReport:
    mapped: dict[str, str] = field(default_factory=dict)  # fairseq2 name -> ours (Wav2Vec2Encoder's names)
    ignored: list[str] = field(default_factory=list)  # fairseq2 names outside what was loaded
    prefix: str = ""  # wrapper prefix stripped from every key
    ssl_heads: bool = False  # the checkpoint has the pre-training heads
    kept: list[str] = field(default_factory=list)  # ours absent from the checkpoint, left as they were
    filled: list[str] = field(default_factory=list)  # ours absent from the checkpoint, set to the identity


def _strip_wrappers(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    prefix = ""
    while state and (p := next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)):
        state, prefix = {k[len(p):]: v for k, v in state.items()}, prefix + p
    return state, prefix


def _rename(key: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, repl in rules:
        if m := pattern.fullmatch(key):
            return m.expand(repl)
    return None


_ENCODER_RULES = tuple((re.compile(p), r) for p, r in ENCODER_KEY_MAP)
_SSL_RULES = tuple((re.compile(p), r) for p, r in SSL_HEAD_KEY_MAP)


def fairseq2_to_omnicorpus(state_dict: dict[str, Tensor]) -> tuple[dict[str, Tensor], ConversionReport]:
    """fairseq2-named state -> (our `Wav2Vec2Encoder` names, plus quantizer/project_q/final_proj when the
    checkpoint is an SSL one; the report). Raises ValueError for encoder keys with no counterpart."""
    state, prefix = _strip_wrappers(dict(state_dict))
    ssl = any(k.split(".", 1)[0] in SSL_MODULES for k in state)
    rules = _ENCODER_RULES + (_SSL_RULES if ssl else ())
    owned = ENCODER_MODULES + (SSL_MODULES if ssl else ())
    out: dict[str, Tensor] = {}
    report, unmapped = ConversionReport(prefix=prefix, ssl_heads=ssl), list[str]()
    for key, value in state.items():
        if key == POS_PLAIN:  # weight norm removed: split into gain and direction
            gain = torch.linalg.vector_norm(value.float(), dim=(0, 1), keepdim=True).to(value.dtype)
            pairs = [(POS_G, gain), (POS_V, value)]
        elif (new := _rename(key, rules)) is not None:
            pairs = [(new, value)]
        else:
            owned_key = key.split(".", 1)[0] in owned and key not in IGNORED_KEYS
            (unmapped if owned_key else report.ignored).append(key)
            continue
        for new, v in pairs:
            if new in out:
                raise ValueError(f"{key} and another checkpoint key both map to {new}: our encoder has one "
                                 "(a model with both a pre-LN final norm and a post-LN feature norm?)")
            out[new] = v
        report.mapped[key] = ", ".join(n for n, _ in pairs)
    if unmapped:
        raise ValueError("fairseq2 encoder keys with no counterpart in Wav2Vec2Encoder (a different "
                         f"architecture: stacked/rotary positions, Conformer, QK norm?): {', '.join(unmapped)}")
    return out, report


def load_fairseq2_encoder(module: Wav2Vec2Encoder | Wav2Vec2SSL,
                          path_or_state: str | Path | dict[str, Tensor]) -> ConversionReport:
    """Load a fairseq2 / Omnilingual wav2vec 2.0 checkpoint (a path or a state dict, possibly under "model")
    into our encoder, or into `Wav2Vec2SSL` with its heads. Every parameter must be present with its exact
    shape, except `mask_emb` (Omnilingual CTC/LLM models are trained without a masker: kept as it is) and
    `post_extract_proj` where fairseq2 has no projection (feature_dim == dim: set to the identity)."""
    state: dict[str, Any] = (torch.load(path_or_state, map_location="cpu", weights_only=True)
                             if isinstance(path_or_state, str | Path) else path_or_state)
    if isinstance(state.get("model"), dict):  # a trainer checkpoint: the model's state under "model"
        state = state["model"]
    converted, report = fairseq2_to_omnicorpus(state)
    ssl = isinstance(module, Wav2Vec2SSL)
    encoder, pre = (module.encoder, "encoder.") if isinstance(module, Wav2Vec2SSL) else (module, "")
    proj_keys = [pre + "post_extract_proj.weight", pre + "post_extract_proj.bias"]
    if ssl and not report.ssl_heads:
        raise ValueError("Wav2Vec2SSL needs an SSL checkpoint (quantizer, final_target_proj): this has neither")
    given: dict[str, Tensor] = {}
    for name, value in converted.items():
        if name.split(".", 1)[0] not in SSL_HEADS:
            given[pre + name] = value
        elif ssl:
            given[name] = value
    if not ssl:  # an encoder only: the SSL heads are not loaded
        for k in [k for k, n in report.mapped.items() if n.split(".", 1)[0] in SSL_HEADS]:
            report.ignored.append(k)
            del report.mapped[k]
    expected = module.state_dict()
    proj: nn.Linear = encoder.post_extract_proj
    if not any(k in given for k in proj_keys) and proj.in_features == proj.out_features:
        given.update(zip(proj_keys, (torch.eye(proj.in_features), torch.zeros(proj.out_features)), strict=True))
        report.filled += proj_keys
    if pre + "mask_emb" not in given:
        report.kept.append(pre + "mask_emb")
    missing = [k for k in expected if k not in given and k not in report.kept]
    errors = [f"missing from the checkpoint: {', '.join(missing)}"] if missing else []
    if unexpected := [k for k in given if k not in expected]:
        errors.append(f"not in the model: {', '.join(unexpected)}")
    errors += [f"{k}: {tuple(v.shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
               for k, v in given.items() if k in expected and v.shape != expected[k].shape]
    if errors:
        raise ValueError("checkpoint does not fit the encoder: " + "; ".join(errors))
    with torch.no_grad():
        for k, v in given.items():
            expected[k].copy_(v)
    return report
