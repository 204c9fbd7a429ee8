"""The character vocabulary of a CTC model, built from a release's normalized training text.

    0        <blank>   the CTC blank
    1        <unk>     any character the training text never had
    2        |         the word separator: every run of whitespace becomes one `|`
    3 ...    the characters of the training text, sorted by code point

The vocabulary is saved as JSON beside every checkpoint (and inside it), so that a model always decodes
with the table it was trained with.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

BLANK, UNK, SEP = "<blank>", "<unk>", "|"
SPECIALS = (BLANK, UNK, SEP)


@dataclass(frozen=True)
class Vocab:
    tokens: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}, got {self.tokens[:3]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("duplicate tokens in the vocabulary")
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tokens)})

    blank: ClassVar[int] = 0
    unk: ClassVar[int] = 1
    sep: ClassVar[int] = 2

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of a normalized transcript (whitespace runs -> one separator, no leading/trailing)."""
        words = text.split()
        ids: list[int] = []
        for i, word in enumerate(words):
            if i:
                ids.append(self.sep)
            ids.extend(self.index.get(ch, self.unk) for ch in word)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (blanks dropped, separators -> single spaces); no CTC collapsing here."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.blank:
                continue
            out.append(" " if i == self.sep else self.tokens[i] if i != self.unk else "\ufffd")
        return " ".join("".join(out).split())

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens), "blank": 0, "unk": 1, "separator": 2},
                          ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        return cls(tuple(json.loads(text)["tokens"]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomically (a temporary name, then a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), "utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        return cls.from_json(Path(path).read_text("utf-8"))


def build_vocab(texts: Iterable[str | None], min_count: int = 1) -> Vocab:
    """Characters seen at least `min_count` times (whitespace excluded), sorted by code point."""
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(ch for ch in text if not ch.isspace())
    chars = sorted(ch for ch, n in counts.items() if n >= min_count and ch not in SPECIALS)
    return Vocab(SPECIALS + tuple(chars))


def vocab_for_release(release_dir: str | os.PathLike[str], splits: Sequence[str] = ("train",),
                      min_count: int = 1, languages: Sequence[str] | None = None) -> Vocab:
    """The vocabulary of a release's normalized text of `splits` (of `languages` when given; the
    utterances manifest only)."""
    import polars as pl

    from omnicorpus.model.manifest import read_manifest

    utts = read_manifest(release_dir, "utterances", ["split", "language", "text"])
    utts = utts.filter(pl.col("split").is_in(list(splits)))
    if languages is not None:
        utts = utts.filter(pl.col("language").fill_null("und").is_in(list(languages)))
    return build_vocab(utts["text"].to_list(), min_count)
