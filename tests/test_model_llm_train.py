"""LLM-ASR through the trainer, as a user runs it: `omnicorpus train RELEASE --recipe llm-asr-tiny` on the
sample corpus's release, on CPU, its encoder started from a CTC run's (`--init-encoder`), as the paper's
LLM-ASR models start from a trained encoder.

As for CTC (tests/test_model_train.py), no model trained from scratch for a few hundred CPU steps can
generalise from the sample corpus's one or two utterances per language, so both runs train on its two
languages with the most training utterances and the first eval split is their training utterances (what the
model must come to transcribe), the second their real dev utterances. The language is given on half the
training examples, and every evaluation decodes both with the language and without it. (From random weights,
300 steps of llm-asr-tiny reached a training-split CER of 0.67: the decoder first learns to continue the
language's most frequent sentence whatever the audio; from the CTC encoder, 0.08 in 400 steps, 0.11 without
the language.)
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
STEPS = 400
LANGUAGES = ["eng_Latn", "hin_Deva"]


def _train(release: Path, recipe: str, out: Path, steps: int, *extra: str) -> None:
    run = subprocess.run(
        [OMNICORPUS, "train", str(release), "--recipe", recipe, "--out", str(out), "--device", "cpu",
         "--max-steps", str(steps), "--languages", ",".join(LANGUAGES), "--set", "eval_every=10000",
         "--set", "checkpoint_every=10000", *extra], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def learned(pipeline_run, ctc_learned, tmp_path_factory):
    """LLM-ASR from the encoder of ctc-tiny trained 450 steps on the same two languages (conftest)."""
    release = Path(pipeline_run[1].release.path)
    ctc, ctc_summary = ctc_learned
    assert ctc_summary["steps"] == 450 and set(ctc_summary["dev_cer_per_language"]) == set(LANGUAGES)
    out = tmp_path_factory.mktemp("llm-asr")
    _train(release, "llm-asr-tiny", out, STEPS, "--init-encoder", str(ctc / "checkpoints" / "step-00000450.pt"),
           "--set", 'eval_splits=["train", "dev"]', "--set", "eval_max_seconds_per_batch=80",
           "--set", "max_new_tokens=120")
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
    assert summary["dev_cer"] < 0.25 * summary["untrained_dev_cer"] and summary["dev_cer"] < 0.3, summary
    assert summary["dev_output"] == "text for every utterance"
    # without the language (given to only half the training examples) it still transcribes
    without = summary["dev_cer_without_language"]
    assert without < 0.3 and without < 0.25 * summary["untrained"]["train"]["without_language"]["cer"], summary
    init = [r for r in records if r["kind"] == "init_encoder"]
    assert len(init) == 1 and init[0]["format"] == "omnicorpus-ctc", init
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
