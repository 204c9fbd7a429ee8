"""Loading fairseq2 / Omnilingual ASR wav2vec 2.0 checkpoints into our encoder.

The checkpoints here are built by renaming our own state dicts to fairseq2's names through the table below,
written from fairseq2's module tree (facebookresearch/fairseq2, src/fairseq2/models/wav2vec2/ and
models/transformer/), independently of the converter's map. Each test says what fairseq2 calls each part.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import Tensor, nn

from omnicorpus.model.convert import fairseq2_to_omnicorpus, load_fairseq2_encoder
from omnicorpus.model.wav2vec2 import PositionalConv, Wav2Vec2Config, Wav2Vec2Encoder, Wav2Vec2SSL, get_config

#: our name -> fairseq2's, from the modules fairseq2 builds (`{fe_norm}` and `{final_norm}` depend on the config)
FAIRSEQ2_NAMES: list[tuple[str, str]] = [
    # Wav2Vec2Frontend (frontend.py) is `encoder_frontend`; its Wav2Vec2FeatureExtractor (feature_extractor.py)
    # keeps a Sequential `layers` of Wav2Vec2FeatureExtractionLayer, each with `conv` and, in layer-norm mode,
    # `layer_norm` on every layer, or else `group_norm` on layer 0 only
    (r"feature_extractor\.blocks\.(\d+)\.conv\.(\w+)", r"encoder_frontend.feature_extractor.layers.\1.conv.\2"),
    (r"feature_extractor\.blocks\.(\d+)\.norm\.(\w+)", r"encoder_frontend.feature_extractor.layers.\1.{fe_norm}.\2"),
    # the frontend's LayerNorm over the CNN features, then the Linear to the model dimension
    (r"layer_norm\.(\w+)", r"encoder_frontend.post_extract_layer_norm.\1"),
    (r"post_extract_proj\.(\w+)", r"encoder_frontend.model_dim_proj.\1"),
    # Wav2Vec2PositionEncoder (position_encoder.py): `conv`, weight-normed by torch.nn.utils.weight_norm(dim=2)
    (r"pos_conv\.conv\.parametrizations\.weight\.original0", "encoder_frontend.pos_encoder.conv.weight_g"),
    (r"pos_conv\.conv\.parametrizations\.weight\.original1", "encoder_frontend.pos_encoder.conv.weight_v"),
    (r"pos_conv\.conv\.bias", "encoder_frontend.pos_encoder.conv.bias"),
    # StandardWav2Vec2Masker (masker.py) is `masker`, with the Parameter `temporal_mask_embed`
    (r"mask_emb", "masker.temporal_mask_embed"),
    # StandardTransformerEncoder (transformer/encoder.py) is `encoder`: `layers` of
    # StandardTransformerEncoderLayer (encoder_layer.py): `self_attn` (StandardMultiheadAttention: q_proj,
    # k_proj, v_proj, output_proj), `self_attn_layer_norm`, `ffn` (StandardFeedForwardNetwork: inner_proj,
    # output_proj) and `ffn_layer_norm`
    (r"layers\.(\d+)\.self_attn\.([qkv])_proj\.(\w+)", r"encoder.layers.\1.self_attn.\2_proj.\3"),
    (r"layers\.(\d+)\.self_attn\.out_proj\.(\w+)", r"encoder.layers.\1.self_attn.output_proj.\2"),
    (r"layers\.(\d+)\.self_attn_layer_norm\.(\w+)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
    (r"layers\.(\d+)\.fc1\.(\w+)", r"encoder.layers.\1.ffn.inner_proj.\2"),
    (r"layers\.(\d+)\.fc2\.(\w+)", r"encoder.layers.\1.ffn.output_proj.\2"),
    (r"layers\.(\d+)\.final_layer_norm\.(\w+)", r"encoder.layers.\1.ffn_layer_norm.\2"),
    # pre-LN: the encoder's own `layer_norm` after the last layer; post-LN: the frontend's `layer_norm`
    (r"final_layer_norm\.(\w+)", r"{final_norm}.\1"),
    # Wav2Vec2Model (model.py): GumbelWav2Vec2VectorQuantizer `quantizer` (`entries`, `entry_proj`),
    # `final_target_proj` on the quantized targets and `final_proj` on the context vectors
    (r"quantizer\.vars", "quantizer.entries"),
    (r"quantizer\.weight_proj\.(\w+)", r"quantizer.entry_proj.\1"),
    (r"project_q\.(\w+)", r"final_target_proj.\1"),
    (r"final_proj\.(\w+)", r"final_proj.\1"),
]


def fairseq2_name(ours: str, cfg: Wav2Vec2Config) -> str:
    fe_norm = "layer_norm" if cfg.extractor_mode == "layer_norm" else "group_norm"
    final_norm = "encoder.layer_norm" if cfg.layer_norm_first else "encoder_frontend.layer_norm"
    for pattern, template in FAIRSEQ2_NAMES:
        if m := re.fullmatch(pattern, ours):
            return m.expand(template.format(fe_norm=fe_norm, final_norm=final_norm))
    raise AssertionError(f"the test's table has no fairseq2 name for {ours}")


def fairseq2_checkpoint(module: nn.Module, cfg: Wav2Vec2Config) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Random values for every tensor of `module`, loaded into it, and returned under fairseq2's names (with
    the map fairseq2 name -> our name)."""
    gen = torch.Generator().manual_seed(0)
    ours = {k: torch.randn(v.shape, generator=gen) * 0.1 for k, v in module.state_dict().items()}
    module.load_state_dict(ours)
    names = {fairseq2_name(k.removeprefix("encoder."), cfg): k for k in ours}
    return {fs2: ours[k] for fs2, k in names.items()}, names


def _wave() -> tuple[Tensor, Tensor]:
    return torch.randn(2, 16000, generator=torch.Generator().manual_seed(1)), torch.tensor([16000, 12000])


@pytest.mark.parametrize("layer_norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_fairseq2_encoder_loads_every_tensor_in_place_and_gives_the_same_output(layer_norm_first):
    """A wav2vec2_asr (CTC) checkpoint trained with masking: the frontend, masker and Transformer load into
    our encoder tensor by tensor, and the CTC head `final_proj` (vocabulary x dim) is ignored."""
    cfg = get_config("tiny", layer_norm_first=layer_norm_first)
    source = Wav2Vec2Encoder(cfg).eval()
    fs2, ours_of = fairseq2_checkpoint(source, cfg)
    ctc_head = {"final_proj.weight": torch.randn(40, cfg.dim), "final_proj.bias": torch.randn(40)}
    target = Wav2Vec2Encoder(cfg).eval()
    report = load_fairseq2_encoder(target, fs2 | ctc_head)
    loaded = target.state_dict()
    for name, value in fs2.items():
        assert torch.equal(loaded[ours_of[name]], value), f"{name} did not arrive at {ours_of[name]}"
    assert report.ignored == list(ctc_head) and not report.kept and not report.filled
    wave, lengths = _wave()
    with torch.no_grad():
        (want, want_lengths), (got, got_lengths) = source(wave, lengths), target(wave, lengths)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert torch.equal(got_lengths, want_lengths)


def test_ssl_checkpoint_file_loads_the_pretraining_heads(tmp_path):
    """An SSL checkpoint (Wav2Vec2Model) saved as fairseq2 does, under "model" with a DDP "module." prefix:
    the quantizer's `entries` and `entry_proj`, `final_target_proj` and `final_proj` load into Wav2Vec2SSL's
    quantizer.vars, quantizer.weight_proj, project_q and final_proj; the step counter `quantizer.num_updates`
    is ignored. Into a plain encoder, the heads are ignored."""
    cfg = get_config("tiny")
    source = Wav2Vec2SSL(cfg).eval()
    fs2, ours_of = fairseq2_checkpoint(source, cfg)
    fs2["quantizer.num_updates"] = torch.tensor(1000)
    path = tmp_path / "w2v.pt"
    torch.save({"model": {"module." + k: v for k, v in fs2.items()}}, path)
    target = Wav2Vec2SSL(cfg).eval()
    report = load_fairseq2_encoder(target, path)
    assert report.prefix == "module." and report.ssl_heads and report.ignored == ["quantizer.num_updates"]
    loaded = target.state_dict()
    assert all(torch.equal(loaded[ours_of[k]], v) for k, v in fs2.items() if k in ours_of)
    wave, lengths = _wave()
    with torch.no_grad():
        want, got = source(wave, lengths), target(wave, lengths)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    report = load_fairseq2_encoder(Wav2Vec2Encoder(cfg), path)
    heads = ("quantizer.", "final_target_proj.", "final_proj.")
    assert sorted(report.ignored) == sorted(k for k in fs2 if k.startswith(heads))


def test_omnilingual_llm_checkpoint_keeps_the_encoder_and_its_own_mask_embedding():
    """Omnilingual's wav2vec2_llama (and wav2vec2_asr) models are trained with use_masking=False, so their
    checkpoints have no `masker.temporal_mask_embed`: our mask_emb stays as it was. The LLM parts
    (encoder_proj, text_frontend, llama_decoder, final_proj, lang_embeddings) are ignored."""
    cfg = get_config("tiny")
    fs2, _ = fairseq2_checkpoint(Wav2Vec2Encoder(cfg), cfg)
    del fs2["masker.temporal_mask_embed"]
    llm = {"encoder_proj.weight": torch.randn(64, cfg.dim), "encoder_proj.bias": torch.randn(64),
           "text_frontend.weight": torch.randn(50, 64), "final_proj.weight": torch.randn(50, 64),
           "llama_decoder.layers.0.self_attn.q_proj.weight": torch.randn(64, 64),
           "llama_decoder.layer_norm.weight": torch.randn(64), "lang_embeddings.weight": torch.randn(5, 64)}
    target = Wav2Vec2Encoder(cfg)
    mask_emb = target.mask_emb.detach().clone()
    report = load_fairseq2_encoder(target, fs2 | llm)
    assert report.kept == ["mask_emb"] and sorted(report.ignored) == sorted(llm)
    assert torch.equal(target.mask_emb, mask_emb)


def test_missing_model_dim_proj_is_the_identity():
    """fairseq2's frontend has no `model_dim_proj` when feature_dim == model_dim (the tiny config: 128 and 128)."""
    cfg = get_config("tiny")
    source = Wav2Vec2Encoder(cfg).eval()
    fs2, _ = fairseq2_checkpoint(source, cfg)
    del fs2["encoder_frontend.model_dim_proj.weight"], fs2["encoder_frontend.model_dim_proj.bias"]
    with torch.no_grad():
        source.post_extract_proj.weight.copy_(torch.eye(cfg.dim))
        source.post_extract_proj.bias.zero_()
    target = Wav2Vec2Encoder(cfg).eval()
    report = load_fairseq2_encoder(target, fs2)
    assert report.filled == ["post_extract_proj.weight", "post_extract_proj.bias"]
    wave, lengths = _wave()
    with torch.no_grad():
        torch.testing.assert_close(target(wave, lengths)[0], source(wave, lengths)[0], rtol=0, atol=0)


def test_fairseq2_weight_norm_of_the_positional_conv():
    """fairseq2's Wav2Vec2PositionalConv1d applies the old torch.nn.utils.weight_norm(dim=2): its state is
    weight_g [1, 1, K] and weight_v [dim, dim / groups, K] (or a plain `weight` once fairseq2's
    remove_parametrizations has run); both give our parametrized conv the same weight."""
    cfg = get_config("tiny")
    theirs = nn.Conv1d(cfg.dim, cfg.dim, cfg.pos_conv_kernel, padding=cfg.pos_conv_kernel // 2,
                       groups=cfg.pos_conv_groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        nn.utils.weight_norm(theirs, dim=2)
    nn.init.normal_(theirs.weight_g)
    assert theirs.weight_g.shape == (1, 1, cfg.pos_conv_kernel)
    prefix = "encoder_frontend.pos_encoder.conv."
    with torch.no_grad():
        weight = theirs.weight_g * theirs.weight_v / theirs.weight_v.norm(dim=(0, 1), keepdim=True)
    for state in ({prefix + k: v for k, v in theirs.state_dict().items()},
                  {prefix + "weight": weight, prefix + "bias": theirs.bias.detach()}):
        converted, _ = fairseq2_to_omnicorpus(state)
        ours = PositionalConv(cfg)
        ours.load_state_dict({k.removeprefix("pos_conv."): v for k, v in converted.items()})
        torch.testing.assert_close(ours.conv.weight, weight)


@pytest.mark.parametrize("key", ["encoder.layers.0.self_attn.q_norm.weight",
                                 "encoder_frontend.pos_encoder.layers.0.conv.weight", "masker.spatial_embed"])
def test_an_unknown_encoder_key_raises(key):
    """Keys under encoder_frontend, encoder or masker that our encoder has no place for (fairseq2's QK norm,
    its stacked positional encoder, ...) mean another architecture: the converter names them."""
    cfg = get_config("tiny")
    fs2, _ = fairseq2_checkpoint(Wav2Vec2Encoder(cfg), cfg)
    with pytest.raises(ValueError, match=re.escape(key)):
        fairseq2_to_omnicorpus(fs2 | {key: torch.zeros(cfg.dim)})


def test_wrong_shapes_missing_and_extra_layers_raise():
    cfg = get_config("tiny")
    fs2, _ = fairseq2_checkpoint(Wav2Vec2Encoder(cfg), cfg)
    fc1 = "encoder.layers.0.ffn.inner_proj.weight"
    with pytest.raises(ValueError, match=r"layers\.0\.fc1\.weight: \(128, 512\) in the checkpoint"):
        load_fairseq2_encoder(Wav2Vec2Encoder(cfg), fs2 | {fc1: fs2[fc1].T})
    with pytest.raises(ValueError, match=r"missing from the checkpoint: layers\.3\.fc2\.bias"):
        load_fairseq2_encoder(Wav2Vec2Encoder(cfg), {k: v for k, v in fs2.items() if k != "encoder.layers.3.ffn."
                                                     "output_proj.bias"})
    deeper = fs2 | {k.replace("layers.3.", "layers.4."): v for k, v in fs2.items() if "layers.3." in k}
    with pytest.raises(ValueError, match=r"not in the model: layers\.4\."):
        load_fairseq2_encoder(Wav2Vec2Encoder(cfg), deeper)


def test_300m_fairseq2_names_and_shapes_convert_without_leftovers_on_meta():
    """omniASR-W2V-300M (fairseq2 arch large_lv60k: LayerNorm after every conv, conv biases, pre-LN): every
    fairseq2 name and shape converts to exactly our Wav2Vec2SSL's, and loads, on the meta device."""
    cfg = get_config("300m")
    with torch.device("meta"):
        model = Wav2Vec2SSL(cfg)
    ours = model.state_dict()
    fs2 = {fairseq2_name(k.removeprefix("encoder."), cfg): v for k, v in ours.items()}
    assert "encoder_frontend.feature_extractor.layers.6.layer_norm.weight" in fs2
    assert fs2["encoder_frontend.pos_encoder.conv.weight_g"].shape == (1, 1, 128)
    converted, report = fairseq2_to_omnicorpus(fs2 | {"quantizer.num_updates": torch.empty((), device="meta")})
    assert report.ignored == ["quantizer.num_updates"]
    assert {k: v.shape for k, v in converted.items()} == {k.removeprefix("encoder."): v.shape for k, v in ours.items()}
    report = load_fairseq2_encoder(model, fs2)
    assert len(report.mapped) == len(ours) and not (report.ignored or report.kept or report.filled)
