"""In-context (zero-shot) LLM-ASR as a user runs it: `omnicorpus train RELEASE --recipe llm-asr-zs-tiny` with a
language held out of training, then `omnicorpus transcribe FILES --model CKPT --context-from RELEASE ...`,
on the sample corpus's release, on CPU.

What this shows is the plumbing, measured: the loader gives every target examples of its language, the
trainer reports each split (and the held-out language's) with and without them, the checkpoint keeps its
context markers, and the command picks examples by each rule. That the model uses its examples is shown
where it can be on CPU, in tests/test_model_llm_context.py: a task whose answer only the examples hold.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import torch

from omnicorpus.model.transcribe import ContextPool, choose_examples

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))
LANGUAGES = ["eng_Latn", "hin_Deva"]
HELDOUT = "swh_Latn"


@pytest.fixture(scope="module")
def release(pipeline_run) -> Path:
    return Path(pipeline_run[1].release.path)


@pytest.fixture(scope="module")
def zero_shot_run(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("zs")
    run = subprocess.run(
        [OMNICORPUS, "train", str(release), "--recipe", "llm-asr-zs-tiny", "--out", str(out), "--device", "cpu",
         "--max-steps", "12", "--languages", ",".join(LANGUAGES), "--set", f'heldout_languages=["{HELDOUT}"]',
         "--set", 'eval_splits=["train"]', "--set", "eval_every=10000", "--set", "checkpoint_every=10000",
         "--set", "eval_max_utterances=3", "--set", "max_new_tokens=24"],
        capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text("utf-8"))


def test_a_zero_shot_run_reports_the_heldout_language_with_and_without_examples(zero_shot_run):
    out, summary = zero_shot_run
    assert summary["heldout_split"] == "train" and set(summary["heldout_cer_per_language"]) == {HELDOUT}
    for key in ("dev_cer", "dev_cer_without_context", "heldout_cer", "heldout_cer_without_context",
                "untrained_heldout_cer"):
        assert isinstance(summary[key], float), key
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text("utf-8").splitlines()
             if json.loads(line)["kind"] == "eval"]
    assert {e["split"] for e in evals} == {"train", "heldout_train"}
    assert all("without_context" in e and "without_language" in e for e in evals)
    tokens = json.loads((out / "vocab.json").read_text("utf-8"))
    assert f"<lang:{HELDOUT}>" in tokens["tokens"], "the held-out language's tokens are in the tokenizer"

    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["recipe"]["context_examples"] == 3 and ckpt["model"]["context_markers.weight"].shape[0] == 6
    assert ckpt["loader"][0]["config"]["context_examples"] == 3


def _write_dev_audio(release: Path, language: str, folder: Path, n: int) -> tuple[list[Path], list[str]]:
    """Dev utterances of `language` written as WAV files (as a user's recordings), and their keys."""

    utts = pl.read_parquet(release / "utterances.parquet").filter(
        (pl.col("language") == language) & (pl.col("split") != "train")).sort("key").head(n)
    paths = []
    for key, shard in utts.select("key", "shard").iter_rows():
        with tarfile.open(release / shard) as tar:
            data = tar.extractfile(f"{key}.flac").read()  # type: ignore[union-attr]
        audio, rate = sf.read(io.BytesIO(data))
        paths.append(folder / f"{key}.wav")
        sf.write(paths[-1], audio, rate)
    return paths, utts["key"].to_list()


def test_transcribe_takes_examples_of_the_language_from_a_release(zero_shot_run, release, tmp_path):
    _, summary = zero_shot_run
    files, _ = _write_dev_audio(release, HELDOUT, tmp_path, 2)
    train_keys = set(pl.read_parquet(release / "utterances.parquet").filter(
        (pl.col("language") == HELDOUT) & (pl.col("split") == "train"))["key"].to_list())
    for rule in ("random", "duration", "audio", "text"):
        run = subprocess.run([OMNICORPUS, "transcribe", *map(str, files), "--model", summary["checkpoint"],
                              "--context-from", str(release), "--context-language", HELDOUT, "--context", "2",
                              "--select", rule, "--json"], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        assert [line["audio"] for line in lines] == list(map(str, files))
        for line in lines:
            assert isinstance(line["text"], str)
            assert len(line["context"]) == min(2, len(train_keys)) and set(line["context"]) <= train_keys

    plain = subprocess.run([OMNICORPUS, "transcribe", str(files[0]), "--model", summary["checkpoint"]],
                           capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0 and plain.stdout.startswith(f"{files[0]}\t")
    bad = subprocess.run([OMNICORPUS, "transcribe", str(files[0]), "--model", summary["checkpoint"],
                          "--context-from", str(release), "--select", "oracle"], capture_output=True, text=True,
                         timeout=600)
    assert bad.returncode == 2 and "--select is one of" in bad.stderr
    missing = subprocess.run([OMNICORPUS, "transcribe", str(files[0]), "--model", summary["checkpoint"],
                              "--context-from", str(release), "--context-language", "zul_Latn"],
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 1 and "no labelled train utterances of zul_Latn" in missing.stderr


def test_the_selection_rules_pick_what_they_say():
    rng = np.random.default_rng(0)
    pool = ContextPool("xxx_Latn", ["a", "b", "c", "d"], ["the cat sat", "a dog ran", "the cat ran", "birds"],
                       [rng.standard_normal(n).astype(np.float32) for n in (16000, 8000, 24000, 4000)])
    targets = [np.zeros(7000, np.float32), np.zeros(23000, np.float32)]
    assert choose_examples(pool, "duration", 2, targets) == [[1, 3], [2, 0]]
    assert choose_examples(pool, "text", 2, targets, first_pass=["the cat", "dog ran"]) == [[0, 2], [1, 2]]
    random = choose_examples(pool, "random", 3, targets, seed=5)
    assert random == choose_examples(pool, "random", 3, targets, seed=5)
    assert all(len(set(r)) == 3 for r in random)
    assert all(sorted(r) == [0, 1, 2, 3] for r in choose_examples(pool, "random", 9, targets)), "at most the pool"
    with pytest.raises(ValueError, match="context selection is one of"):
        choose_examples(pool, "oracle", 2, targets)
