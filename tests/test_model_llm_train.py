"""LLM-ASR through the trainer, as a user runs it: `omnicorpus train RELEASE --recipe llm-asr-tiny` on the
sample corpus's release, on CPU, from random weights.

As for CTC (tests/test_model_train.py), no model trained from scratch for a few hundred CPU steps can
generalise from the sample corpus's one or two utterances per language, so the run trains on its two languages
with the most training utterances and its first eval split is their training utterances (what the model
must come to transcribe), its second their real dev utterances. The language is given on half the training
examples, and every evaluation decodes both with the language and without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from omnicorpus.model.recipes import RECIPES, get_recipe

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))
STEPS = 300
LANGUAGES = ["eng_Latn", "hin_Deva"]


@pytest.fixture(scope="module")
def learned(pipeline_run, tmp_path_factory):
    release = Path(pipeline_run[1].release.path)
    out = tmp_path_factory.mktemp("llm-asr")
    run = subprocess.run(
        [OMNICORPUS, "train", str(release), "--recipe", "llm-asr-tiny", "--out", str(out), "--device", "cpu",
         "--max-steps", str(STEPS), "--languages", ",".join(LANGUAGES), "--set", 'eval_splits=["train", "dev"]',
         "--set", "eval_every=10000", "--set", "checkpoint_every=10000", "--set", "eval_max_seconds_per_batch=80",
         "--set", "max_new_tokens=120"], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text("utf-8").splitlines()]
    return out, summary, records


def test_llm_asr_loss_falls_and_it_transcribes_what_it_trained_on(learned):
    out, summary, records = learned
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert len(losses) == STEPS == summary["steps"]
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.2 * first, (first, last)
    assert summary["dev_split"] == "train" and set(summary["dev_cer_per_language"]) == set(LANGUAGES)
    # untrained, it babbles (CER above 1: more characters than the reference); trained, it transcribes
    assert summary["untrained_dev_cer"] > 0.9, summary["untrained_dev_cer"]
    assert summary["dev_cer"] < 0.75 * summary["untrained_dev_cer"], summary
    assert summary["dev_output"] == "text for every utterance"
    # without the language (given to only half the training examples) it still transcribes
    assert summary["dev_cer_without_language"] < 0.75 * summary["untrained"]["train"]["without_language"]["cer"]
    # on the real dev utterances: better than an empty output (CER 1.0)
    assert summary["eval"]["dev"]["cer"] < 1.0, summary["eval"]["dev"]


def test_the_llm_asr_checkpoint_holds_the_decoder_and_resumes_its_recipe(learned):
    out, summary, _ = learned
    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)
    assert ckpt["step"] == STEPS and ckpt["recipe"]["objective"] == "llm"
    names = set(ckpt["model"])
    assert {"encoder_proj.weight", "lang_embeddings.weight", "decoder.final_proj.weight"} <= names
    assert any(n.startswith("encoder.") for n in names) and any(n.startswith("decoder.layers.1.") for n in names)
    assert ckpt["vocab"] == json.loads((out / "vocab.json").read_text())["tokens"]


def test_llm_recipes_build_their_decoders():
    for name in ("llm-asr-tiny", "llm-asr-300m", "llm-asr-7b"):
        rec = RECIPES[name]
        assert rec.objective == "llm" and rec.decoder_config().dim in (128, 4096)
    big = RECIPES["llm-asr-300m"].decoder_config()
    assert (big.layers, big.dim, big.heads) == (12, 4096, 8)
    rec = get_recipe("llm-asr-tiny", {"decoder.layers": 3, "language_given_p": 1.0})
    assert rec.decoder_config().layers == 3 and rec.language_given_p == 1.0
    with pytest.raises(TypeError):
        get_recipe("llm-asr-tiny", {"decoder.width": 3})
    with pytest.raises(ValueError, match="language_given_p"):
        get_recipe("llm-asr-tiny", {"language_given_p": 1.5})
