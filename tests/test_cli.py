"""The command line as a user meets it: help everywhere, one-line errors, tracebacks only with --debug."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

COMMANDS = [[], ["sample-corpus"], ["config"], ["config", "check"], ["config", "show"], ["languages"],
            ["langid"], ["langid", "train"], ["ingest"], ["curate"], ["release"], ["run"], ["validate"],
            ["report"], ["export"], ["summary"], ["community"], ["community", "add"], ["community", "withdraw"],
            ["plan"], ["train"], ["cluster"], ["cluster", "up"], ["cluster", "down"], ["cluster", "status"],
            ["simulate"]]


def omnicorpus(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "omnicorpus.pipelines.cli", *args], capture_output=True,
                         text=True, timeout=300)
    if check:
        assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "omnicorpus")
def test_every_command_has_help(command):
    run = omnicorpus(*command, "--help", check=True)
    assert "Usage" in run.stdout


def test_language_mapping_from_the_command_line():
    run = omnicorpus("languages", "en_us", "zh-TW", "ger", "sv-SE", "zh-Hans-CN", check=True)
    for code in ("eng_Latn", "cmn_Hant", "deu_Latn", "swe_Latn", "cmn_Hans"):
        assert code in run.stdout


def test_an_error_is_one_line_and_a_non_zero_exit():
    run = omnicorpus("languages", "xx-XX")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "error: unknown language code 'xx-XX' (source: command line): 'xx' is not an ISO 639-1, 639-2 or "
        "639-3 code"]
    debug = omnicorpus("--debug", "languages", "xx-XX")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_run_needs_sources():
    run = omnicorpus("run")
    assert run.returncode == 1
    assert "give a config file or at least one --source NAME=LAYOUT:PATH" in run.stderr
    run = omnicorpus("run", "--source", "cv:common_voice", "--out", "x")
    assert run.returncode == 1 and "expected NAME=LAYOUT:PATH" in run.stderr


def test_langid_train_on_the_sample_corpus(sample_corpus, tmp_path):
    model = tmp_path / "lid.bin"
    run = omnicorpus("langid", "train", str(sample_corpus / "omnicorpus.yaml"), "--model", str(model), check=True)
    assert model.exists()
    assert "held-out accuracy" in run.stdout and "eng_Latn" in run.stdout


def test_a_run_without_a_config_file_and_layout_auto(sample_corpus, tmp_path):
    fleurs = tmp_path / "fleurs"
    for code in ("de_de", "hi_in", "el_gr"):
        shutil.copytree(sample_corpus / "fleurs" / code, fleurs / code)
    run = omnicorpus("run", "--source", f"fl=auto:{fleurs}", "--out", str(tmp_path / "out"), check=True)
    assert "source fl: layout auto detected as fleurs" in run.stdout
    assert "quality gate: passed" in run.stdout
    assert str(tmp_path / "out" / "releases" / "v0001") in run.stdout.replace("\n", "")
    summary = omnicorpus("summary", str(tmp_path / "out"), check=True).stdout
    for language in ("deu_Latn", "hin_Deva", "ell_Grek"):
        assert language in summary


def test_plan_prints_the_beta_sampling_of_a_release(pipeline_run):
    _, report = pipeline_run
    run = omnicorpus("plan", str(report.release.path), "--beta-corpus", "0", "--beta-language", "0", check=True)
    assert "beta_corpus 0.0, beta_language 0.0" in run.stdout
    for corpus in ("cv", "fleurs", "librispeech", "kaldi"):
        assert corpus in run.stdout
    bad = omnicorpus("plan", str(report.release.path), "--beta-corpus", "2")
    assert bad.returncode == 1 and "beta_corpus must be between 0 and 1" in bad.stderr
