"""A tokenizer outlives a release: built once (`omnicorpus tokenizer`), trained with on a later or wider
release (`--set tokenizer=FILE`), its token ids unchanged, and what it misses counted and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from omnicorpus.model.vocab import BOS, EOS, PAD, SPECIALS, Vocab, build_vocab, language_token

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([OMNICORPUS, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMNICORPUS_NO_UI": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_tokens_are_specials_languages_then_characters():
    vocab = build_vocab(["héllo wörld", "ab"], languages=["eng_Latn", "deu_Latn"])
    assert vocab.tokens[:3] == SPECIALS and vocab.tokens[3:6] == (PAD, BOS, EOS)
    assert vocab.tokens[6:8] == (language_token("deu_Latn"), language_token("eng_Latn"))
    assert vocab.languages == ["deu_Latn", "eng_Latn"] and vocab.specials == 8
    assert vocab.decode(vocab.encode("ab hé")) == "ab hé"
    assert vocab.unknown_characters(["abc", "xyz é"]) == {"c": 1, "x": 1, "y": 1, "z": 1}
    ids = vocab.encode("abc")
    assert ids[-1] == Vocab.unk  # an unknown character is a token, not a gap
    assert vocab.decode([vocab.token_id(BOS), *vocab.encode("ab"), vocab.token_id(EOS)]) == "ab"
    legacy = Vocab(SPECIALS + ("a", "b"))  # a tokenizer saved before the sequence tokens still loads
    assert legacy.token_id(PAD) is None and legacy.encode("ab") == [3, 4]


def test_a_tokenizer_built_once_is_trained_with_and_reports_what_it_misses(pipeline_run, tmp_path):
    release = pipeline_run[1].release.path
    tokenizer = tmp_path / "tokenizer.json"
    said = _run("tokenizer", str(release), "--out", str(tokenizer), "--languages", "eng_Latn")
    assert "tokens" in said.stdout and tokenizer.exists()
    built = Vocab.load(tokenizer)
    assert built.languages == ["eng_Latn"]

    out = tmp_path / "run"
    _run("train", str(release), "--out", str(out), "--recipe", "ctc-tiny", "--max-steps", "1",
         "--languages", "eng_Latn,hin_Deva", "--set", f"tokenizer={tokenizer}", "--set", "eval_every=1000")
    assert Vocab.load(out / "vocab.json") == built  # trained with it as it is: the same ids
    summary = json.loads((out / "summary.json").read_text())
    seen = summary["tokenizer"]
    assert seen["source"] == str(tokenizer)
    assert seen["unknown_characters"] > 0 and seen["utterances_with_unknown"] > 0  # Devanagari: not in it
    assert any("\u0900" <= ch <= "\u097f" for ch, _ in seen["most_unknown"])
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "tokenizer" and r["unknown_characters"] == seen["unknown_characters"] for r in logged)
