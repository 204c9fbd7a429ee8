"""wav2vec 2.0 pre-training: the objective's parts, and a run that learns, as a user runs it
(`omnicorpus train RELEASE --recipe ssl-tiny`), whose encoder a CTC run then starts from.

The held-out figure is the contrastive accuracy on the release's dev segments with masks and distractors
drawn from a fixed seed: the untrained model's is the baseline (the chance level, one in 1 + distractors,
is lower still: distractors that share the positive's code are not counted, as in fairseq).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from omnicorpus.model.ssl import SSLObjective, sample_negatives, ssl_forward
from omnicorpus.model.wav2vec2 import Wav2Vec2SSL, get_config, time_mask

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))


def _batch(seconds=(2.0, 1.5, 3.0), seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(s * 16000) for s in seconds])
    wave = torch.randn(len(seconds), int(lengths.max()), generator=g) * 0.1
    for i, n in enumerate(lengths.tolist()):
        wave[i, n:] = 0
    return wave, lengths


def test_masks_cover_about_the_fraction_asked_in_spans_and_never_padding():
    torch.manual_seed(0)
    lengths = torch.tensor([400, 250, 30])
    mask = time_mask((3, 400), lengths, prob=0.65, span=10, device=torch.device("cpu"), min_spans=2)
    for b, n in enumerate(lengths.tolist()):
        assert not mask[b, n:].any()
        assert mask[b, :n].sum() >= 10  # at least one span of 10 (two may overlap)
    assert 0.35 < mask[0].float().mean() < 0.7  # overlapping spans cover less than 65%


def test_distractors_come_from_the_same_utterance_and_are_never_the_frame_itself():
    torch.manual_seed(0)
    counts = torch.tensor([5, 2, 7])
    starts = torch.cumsum(counts, 0) - counts
    utterance = torch.repeat_interleave(torch.arange(3), counts)
    position = torch.arange(int(counts.sum())) - starts[utterance]
    negatives = sample_negatives(utterance, position, counts, starts, k=50)
    flat = torch.arange(int(counts.sum()))
    assert not (negatives == flat[:, None]).any()
    lo, hi = starts[utterance][:, None], (starts + counts)[utterance][:, None]
    assert ((negatives >= lo) & (negatives < hi)).all()
    # uniform over the others: in the 7-frame utterance each of the 6 others is drawn
    assert len(set(negatives[-1].tolist())) == 6


def test_the_objective_uses_its_mask_and_trains_every_part():
    torch.manual_seed(0)
    model = Wav2Vec2SSL(get_config("tiny")).train()
    wave, lengths = _batch()
    objective = SSLObjective(mask_length=5, num_negatives=10)
    out = ssl_forward(model, wave, lengths, objective, tau=2.0)
    frames = model.encoder.output_lengths(lengths)
    assert out.mask.shape == (3, int(frames.max())) and out.masked == int(out.mask.sum()) > 0
    for b, n in enumerate(frames.tolist()):
        assert not out.mask[b, n:].any()
    assert torch.isfinite(out.loss) and 0 <= out.correct <= out.masked
    assert 1 <= out.code_perplexity <= 2 * 32 and 1 <= out.prob_perplexity <= 2 * 32
    out.loss.backward()
    for name in ("encoder.mask_emb", "quantizer.vars", "quantizer.weight_proj.weight", "project_q.weight",
                 "final_proj.weight", "encoder.feature_extractor.blocks.0.conv.weight", "encoder.layers.0.fc1.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_a_given_mask_is_the_one_scored():
    torch.manual_seed(0)
    model = Wav2Vec2SSL(get_config("tiny")).eval()
    wave, lengths = _batch((2.0, 2.0))
    frames = int(model.encoder.output_lengths(lengths)[0])
    mask = torch.zeros(2, frames, dtype=torch.bool)
    mask[0, 10:20] = True
    mask[1, 30:33] = True
    out = ssl_forward(model, wave, lengths, SSLObjective(num_negatives=5), tau=1.0, mask=mask)
    assert out.masked == 13 and torch.equal(out.mask, mask)


def test_the_gumbel_temperature_anneals_to_its_floor():
    objective = SSLObjective()
    assert objective.tau(0) == 2.0 and objective.tau(10**7) == 0.5
    assert objective.tau(1000) < objective.tau(0)


def _train(release: Path, out: Path, *args: str) -> dict:
    done = subprocess.run([OMNICORPUS, "train", str(release), "--out", str(out), *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMNICORPUS_NO_UI": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def pretrained(pipeline_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("ssl") / "run"
    return _train(pipeline_run[1].release.path, out, "--recipe", "ssl-tiny", "--max-steps", "300"), out


def test_pretraining_logs_its_figures_every_step_and_learns(pretrained):
    summary, out = pretrained
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 301))
    for key in ("loss", "contrastive", "diversity", "feature_penalty", "accuracy", "prob_perplexity",
                "code_perplexity", "tau", "masked"):
        assert all(key in r for r in train), key
    assert train[-1]["tau"] < train[0]["tau"]
    # held out: the dev segments, masks and distractors from a fixed seed
    assert summary["dev_split"] == "dev" and summary["eval"]["dev"]["masked"] > 500
    assert summary["dev_accuracy"] > summary["untrained_dev_accuracy"] + 0.15, summary
    assert summary["dev_accuracy"] > 4 * summary["chance_accuracy"], summary
    assert summary["train_loss"] < summary["train_loss_first"]


def test_a_ctc_run_starts_from_the_pretrained_encoder(pretrained, pipeline_run, tmp_path):
    summary, _ = pretrained
    checkpoint = summary["checkpoint"]
    ctc = _train(pipeline_run[1].release.path, tmp_path / "ctc", "--recipe", "ctc-tiny", "--max-steps", "2",
                 "--init-encoder", checkpoint, "--set", "freeze_encoder_steps=1", "--set", "eval_every=1000")
    records = [json.loads(line) for line in (tmp_path / "ctc" / "metrics.jsonl").read_text().splitlines()]
    init = [r for r in records if r["kind"] == "init_encoder"]
    assert init and init[0]["format"] == "omnicorpus-ssl" and init[0]["left_out"] > 0  # the SSL heads
    assert ctc["steps"] == 2
    ssl_state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    ctc_state = torch.load(ctc["checkpoint"], map_location="cpu", weights_only=True)["model"]
    # the first step was frozen, the second was not: the encoder moved from the pre-trained weights, a little
    moved = (ctc_state["encoder.layers.0.fc1.weight"] - ssl_state["encoder.layers.0.fc1.weight"]).abs().max()
    assert 0 < moved < 0.05
