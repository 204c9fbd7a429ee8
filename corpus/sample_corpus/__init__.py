"""Deterministic multilingual sample corpus, synthesized with espeak-ng.

``build_sample_corpus(out, scale, seed)`` writes a small but realistic speech corpus under ``out`` in the
on-disk layouts of real public corpora, so that every adapter and stage of the platform can be tested and
demonstrated without downloading anything:

========================  =========================================================================
folder                    layout
========================  =========================================================================
``common_voice/<loc>/``   Common Voice: ``clips/*.mp3`` + ``validated/train/dev/test.tsv``
``fleurs/<code>/``        FLEURS: header-less ``train/dev/test.tsv`` + ``audio/<split>/*.wav`` (16 kHz)
``librispeech/<subset>/`` LibriSpeech: ``<spk>/<ch>/<spk>-<ch>-<NNNN>.flac`` + ``<spk>-<ch>.trans.txt``
``kaldi/egs/.../s5/``      Kaldi recipe folder (Hindi), data dir ``data/hi_train/``: ``wav.scp`` ``segments``
                          ``text`` ``utt2spk`` ``spk2utt`` ``spk2gender``; ``wav.scp`` lines are sox pipes
                          (``sox data/local/wav/<reco>.wav -t wav -r 16k -b 16 -e signed - |``) with paths
                          relative to ``s5/``, as Kaldi recipes run them (44.1 kHz stereo WAV, several
                          utterances per recording)
``longform/<lang>/``      long unlabelled recordings (FLAC 22.05 kHz, Ogg/Opus, WAV stereo, MP3);
                          the folder is the language as a source writes it, ``und`` = unknown
``community/<p>/<sub>/``  partner submissions: audio files + ``metadata.csv``
``omnilingual/data/``     Hugging Face Parquet: ``<lang_Script>/{train,dev,test}-00000-of-00001.parquet``
``speechbrain/``          SpeechBrain CSVs ``train/dev/test.csv`` (``ID,duration,wav,spk_id,wrd``, paths
                          ``$data_root/audio/...``) over WAV clips and one AIFF clip (French)
========================  =========================================================================

The text is real Universal Declaration of Human Rights sentences (``data/udhr_sentences.tsv``).  Every
random choice (voice variant, speed, pitch, padding, noise, split, names) comes from ``random.Random`` /
``numpy`` generators seeded from ``seed``, and all encoders are run with settings that make their output
reproducible (fixed Ogg serial numbers, no time stamps), so the same ``(scale, seed)`` yields a
byte-identical tree.  ``out/MANIFEST.json`` describes the sources, the languages, the item counts and the
documented bad items with the pipeline outcome each one must produce; ``out/omnicorpus.yaml`` is a
pipeline config listing the sources.

``scale`` multiplies the number of utterances and long-form recordings: scale 1 is about 17 minutes of
audio in 38 languages (one train, dev and test utterance per language and source; built in seconds),
scale 2 about half an hour, scale 20 about 4-5 hours (for benchmarks; about two minutes to build on two
cores).  The documented bad items exist exactly once at any scale.

Sizes and counts are in ``MANIFEST.json``: ``items`` counts what an adapter lists (one row of a TSV,
``trans.txt``, Kaldi ``text``, ``metadata.csv`` or Parquet file, or one long-form file; for Common Voice
the rows of train/dev/test.tsv, since validated.tsv is their union), ``seconds`` is the duration of the
audio files each source holds (copies included, the truncated FLAC at its full length).  Besides the
documented keys the manifest has ``total_seconds``, ``longform_languages`` (true language of every
long-form file, ``und`` ones included) and ``language_codes`` (each source's own codes -> ours; ``null``
for ``xx-XX`` and ``und``).  Every bad item also names the file that lists it (``listed_in``) and, where
useful, ``duplicate_of``, ``encoding``, ``actual_language``, ``full_bytes`` or ``note``.

This package is the generator of that demo and test corpus (``omnicorpus sample-corpus``, ``make demo`` and
the tests' fixtures): it is not part of the curation path, and nothing the pipeline runs imports it.  Its
modules: ``text`` (the sentences), ``speech`` (espeak-ng speakers and signal helpers), ``jobs`` (synthesis
jobs and file writing), ``builder`` (the plan and the pool that runs it), ``public_layouts``,
``toolkit_layouts`` and ``field_layouts`` (each source's writer, with its documented bad items) and
``manifest`` (MANIFEST.json and omnicorpus.yaml).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from omnicorpus.corpus.sample_corpus.builder import SPLITS, WORKERS, Builder
from omnicorpus.corpus.sample_corpus.field_layouts import (
    COMMUNITY_HEADER,
    COMMUNITY_LANGS,
    LONGFORM_FOLDERS,
    plan_community,
    plan_longform,
)
from omnicorpus.corpus.sample_corpus.jobs import write_text
from omnicorpus.corpus.sample_corpus.manifest import GENERATOR, SOURCES, config_yaml, manifest_of
from omnicorpus.corpus.sample_corpus.public_layouts import (
    CV_HEADER,
    CV_LOCALES,
    FLEURS_CODES,
    plan_cv,
    plan_fleurs,
    plan_librispeech,
)
from omnicorpus.corpus.sample_corpus.speech import BASE_SR
from omnicorpus.corpus.sample_corpus.text import SENTENCES_PATH, Sentence, load_udhr_sentences, script_of
from omnicorpus.corpus.sample_corpus.toolkit_layouts import (
    KALDI_RECIPE,
    OMNILINGUAL_LANGS,
    SPEECHBRAIN_HEADER,
    plan_kaldi,
    plan_omnilingual,
    plan_speechbrain,
)

__all__ = [
    "BASE_SR", "COMMUNITY_HEADER", "COMMUNITY_LANGS", "CV_HEADER", "CV_LOCALES", "FLEURS_CODES", "GENERATOR",
    "KALDI_RECIPE", "LONGFORM_FOLDERS", "OMNILINGUAL_LANGS", "SENTENCES_PATH", "SOURCES", "SPEECHBRAIN_HEADER",
    "SPLITS", "WORKERS", "Sentence", "build_sample_corpus", "check_tools", "load_udhr_sentences", "script_of",
]

# Folders (and per-source files) this package owns under `out`; removed before a fresh build.
_OWNED = ("common_voice", "fleurs", "librispeech", "kaldi", "longform", "community", "omnilingual",
          "speechbrain", "MANIFEST.json", "omnicorpus.yaml")


def check_tools() -> None:
    """Raises RuntimeError naming the first missing external program."""
    hints = {"espeak-ng": "espeak-ng", "lame": "lame", "opusenc": "opus-tools"}
    for prog, pkg in hints.items():
        if shutil.which(prog) is None:
            raise RuntimeError(f"{prog} not found on PATH: the sample corpus needs it "
                               f"(Debian/Ubuntu: apt-get install {pkg})")


def build_sample_corpus(out: Path, scale: int = 1, seed: int = 0,
                        progress: Callable[[int, int], None] | None = None) -> dict:
    """Writes the corpus under `out` and returns the manifest dict (also written to out/MANIFEST.json).

    Idempotent: if `out/MANIFEST.json` already describes a finished build with the same scale and seed,
    it is returned as is.  Otherwise the folders this function owns under `out` are removed and rebuilt
    (anything else in `out` is left alone).  `progress(done, total)` is called from the calling thread
    as synthesis jobs finish.
    """
    out = Path(out)
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    scale, seed = int(scale), int(seed)
    manifest_path = out / "MANIFEST.json"
    if manifest_path.is_file():
        try:
            existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = None
        if (isinstance(existing, dict) and existing.get("generator") == GENERATOR
                and existing.get("scale") == scale and existing.get("seed") == seed):
            return existing
    check_tools()
    sentences = load_udhr_sentences()
    out.mkdir(parents=True, exist_ok=True)
    for name in _OWNED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    b = Builder(out, scale, seed, sentences)
    # The order of the plans is part of the output: each job's seed counts the jobs planned before it.
    for plan in (plan_longform, plan_kaldi, plan_cv, plan_fleurs, plan_librispeech, plan_community,
                 plan_omnilingual, plan_speechbrain):
        plan(b)
    b.run(progress)
    manifest = manifest_of(b)
    write_text(out / "omnicorpus.yaml", config_yaml(seed, scale))
    write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest
