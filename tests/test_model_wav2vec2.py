"""The wav2vec 2.0 encoder: the paper's parameter counts (on the meta device, nothing allocated), the same
parameterisation and outputs as torchaudio's implementation, and the tiny config learning a batch on CPU."""

from __future__ import annotations

import re

import pytest
import torch
import torchaudio

from omnicorpus.model.ctc import CTCModel, ctc_loss
from omnicorpus.model.wav2vec2 import (
    CONFIGS,
    PAPER_SSL_PARAMETERS,
    Wav2Vec2Config,
    Wav2Vec2Encoder,
    Wav2Vec2SSL,
    count_parameters,
    get_config,
)


@pytest.mark.parametrize("name", ["300m", "1b", "3b", "7b"])
def test_ssl_parameter_counts_match_the_paper_on_meta(name):
    with torch.device("meta"):
        model = Wav2Vec2SSL(get_config(name))
    assert all(p.is_meta for p in model.parameters()), "nothing may be allocated"
    got, want = count_parameters(model), PAPER_SSL_PARAMETERS[name]
    assert abs(got / want - 1) < 0.02, f"{name}: {got:,} parameters against {want:,.0f}"


def test_architecture_of_the_paper_models():
    for name, (layers, dim, ffn) in {"300m": (24, 1024, 4096), "1b": (48, 1280, 5120), "3b": (60, 2048, 8192),
                                     "7b": (128, 2048, 8192)}.items():
        cfg = CONFIGS[name]
        assert (cfg.layers, cfg.dim, cfg.ffn, cfg.heads) == (layers, dim, ffn, 16)
        assert [c for c, _, _ in cfg.conv_layers] == [512] * 7 and cfg.downsampling == 320
        assert [k for _, k, _ in cfg.conv_layers] == [10, 3, 3, 3, 3, 2, 2]
        assert [s for _, _, s in cfg.conv_layers] == [5, 2, 2, 2, 2, 2, 2]
        assert cfg.layer_norm_first


def _torchaudio_model(cfg: Wav2Vec2Config) -> torch.nn.Module:
    return torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm", extractor_conv_layer_config=list(cfg.conv_layers), extractor_conv_bias=True,
        encoder_embed_dim=cfg.dim, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=cfg.pos_conv_kernel,
        encoder_pos_conv_groups=cfg.pos_conv_groups, encoder_num_layers=cfg.layers, encoder_num_heads=cfg.heads,
        encoder_attention_dropout=0.0, encoder_ff_interm_features=cfg.ffn, encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0, encoder_layer_norm_first=True, encoder_layer_drop=0.0, aux_num_out=None)


def test_encoder_is_torchaudios_parameterisation_plus_the_mask_embedding():
    cfg = CONFIGS["300m"]
    with torch.device("meta"):
        ours, theirs = Wav2Vec2Encoder(cfg), _torchaudio_model(cfg)
    assert count_parameters(ours) == count_parameters(theirs) + cfg.dim


_RENAMES = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.layer_norm", r"feature_extractor.blocks.\1.norm"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv", r"feature_extractor.blocks.\1.conv"),
    (r"^encoder\.feature_projection\.layer_norm", "layer_norm"),
    (r"^encoder\.feature_projection\.projection", "post_extract_proj"),
    (r"^encoder\.transformer\.pos_conv_embed\.conv", "pos_conv.conv"),
    (r"^encoder\.transformer\.layer_norm", "final_layer_norm"),
    (r"^encoder\.transformer\.layers\.(\d+)\.attention", r"layers.\1.self_attn"),
    (r"^encoder\.transformer\.layers\.(\d+)\.layer_norm", r"layers.\1.self_attn_layer_norm"),
    (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense", r"layers.\1.fc1"),
    (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense", r"layers.\1.fc2"),
    (r"^encoder\.transformer\.layers\.(\d+)\.final_layer_norm", r"layers.\1.final_layer_norm"),
]


def test_encoder_computes_what_torchaudio_computes_with_the_same_weights():
    cfg = get_config("tiny", extractor_mode="layer_norm", conv_bias=True, normalize_waveform=False, layers=2)
    torch.manual_seed(0)
    theirs = _torchaudio_model(cfg).eval()
    ours = Wav2Vec2Encoder(cfg).eval()
    state = {}
    for key, value in theirs.state_dict().items():
        for pattern, repl in _RENAMES:
            key = re.sub(pattern, repl, key)
        state[key] = value
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert missing == ["mask_emb"] and not unexpected
    wave = torch.randn(2, 16_000)
    lengths = torch.tensor([16_000, 11_000])
    with torch.no_grad():
        x, n = ours(wave, lengths)
        y, m = theirs(wave, lengths)
    assert torch.equal(n, m)
    for i in range(2):
        assert torch.allclose(x[i, : n[i]], y[i, : n[i]], atol=1e-4), "valid frames agree"
    assert x.shape[1] == 16_000 // 320 - 1  # 49 frames per second of audio (receptive field 400 samples)


def test_tiny_config_runs_forward_and_backward_on_cpu():
    torch.manual_seed(0)
    model = CTCModel(get_config("tiny", mask_prob=0.3, dropout=0.1, layerdrop=0.1), vocab_size=30)
    audio, lengths = torch.randn(3, 32_000), torch.tensor([32_000, 24_000, 16_000])
    targets, target_lengths = torch.randint(1, 30, (3, 12)), torch.tensor([12, 9, 5])
    logits, out_lengths = model(audio, lengths)
    assert logits.shape == (3, 99, 30) and out_lengths.tolist() == [99, 74, 49]
    loss = ctc_loss(logits, out_lengths, targets, target_lengths) / target_lengths.sum()
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.mask_emb.grad is not None, "mask embedding stays in the graph (DDP needs every param)"


@pytest.mark.parametrize("mode", ["group_norm", "layer_norm"])
def test_padding_does_not_change_the_valid_outputs(mode):
    torch.manual_seed(0)
    enc = Wav2Vec2Encoder(get_config("tiny", extractor_mode=mode)).eval()
    wave = torch.randn(1, 20_000)
    padded = torch.cat([wave, torch.zeros(1, 12_000)], 1)
    with torch.no_grad():
        alone, n = enc(wave, torch.tensor([20_000]))
        batch, m = enc(torch.cat([padded, torch.randn(1, 32_000)]), torch.tensor([20_000, 32_000]))
    assert int(n[0]) == int(m[0])
    k = int(n[0])  # valid frames see only valid samples; norms and attention use only valid frames
    assert torch.allclose(alone[0, :k], batch[0, :k], atol=1e-4)


def test_activation_checkpointing_gives_the_same_gradients():
    cfg = get_config("tiny", layers=2)
    torch.manual_seed(0)
    plain = CTCModel(cfg, vocab_size=20)
    ckpt = CTCModel(get_config("tiny", layers=2, activation_checkpointing=True), vocab_size=20)
    ckpt.load_state_dict(plain.state_dict())
    audio, lengths = torch.randn(2, 16_000), torch.tensor([16_000, 12_000])
    targets, target_lengths = torch.randint(1, 20, (2, 8)), torch.tensor([8, 6])
    for model in (plain, ckpt):
        logits, out_lengths = model(audio, lengths)
        ctc_loss(logits, out_lengths, targets, target_lengths).backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
