"""The sentences of the sample corpus: the UDHR table shipped with the package, the transcript forms of the
layouts that normalize text, and the order in which a language's sentences are used."""

from __future__ import annotations

import csv
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# The table is package data of omnicorpus.corpus (its data/ folder, one level up from this package), so this
# package has no data files of its own.
SENTENCES_PATH = Path(__file__).resolve().parent.parent / "data" / "udhr_sentences.tsv"


@dataclass(frozen=True)
class Sentence:
    language: str  # ISO 639-3 + "_" + ISO 15924, e.g. "eng_Latn"
    espeak_voice: str
    text: str


def load_udhr_sentences(path: Path = SENTENCES_PATH) -> list[Sentence]:
    """The UDHR sentences shipped with the package (``language``, ``espeak_voice``, ``sentence``)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Sentence(r["language"], r["espeak_voice"], r["sentence"]) for r in rows]


def script_of(language: str) -> str:
    return language.split("_", 1)[1]


def fleurs_normalize(text: str) -> str:
    chars = [" " if unicodedata.category(c).startswith("P") and c != "'" else c for c in text.lower()]
    return " ".join("".join(chars).split())


def librispeech_normalize(text: str) -> str:
    chars = [c if (c.isalpha() or c == "'") else " " for c in text.upper()]
    return " ".join("".join(chars).split())


class Deck:
    """Cycles through a language's sentences without repeats until all are used.

    The first pass is ordered by length with random jitter, so that small scales use mostly the shorter
    sentences (keeps scale 1 small) while different seeds still pick different ones.
    """

    def __init__(self, rng: random.Random, sentences: list[str]):
        self.rng = rng
        self.sentences = sentences
        self.queue = sorted(sentences, key=lambda s: len(s) * rng.uniform(0.85, 1.15))

    def next(self, avoid: str | None = None) -> str:
        if not self.queue:
            self.queue = list(self.sentences)
            self.rng.shuffle(self.queue)
        for i, s in enumerate(self.queue):
            if s != avoid:
                return self.queue.pop(i)
        return next(s for s in self.sentences if s != avoid)
