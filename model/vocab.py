"""The character tokenizer of a model, built once from a release's normalized training text (or a list of
texts), saved beside every checkpoint (and inside it), and reused as it is when training goes on over a later
release, so that a token id means the same character for the life of a model.

    0        <blank>   the CTC blank
    1        <unk>     any character the tokenizer was not built with
    2        |         the word separator: every run of whitespace becomes one `|`
    3, 4, 5  <pad> <s> </s>          padding, begin and end of a sequence (a decoder's)
    6 ...    <lang:xxx_Yyyy>         one per language it was built for, sorted
    ...      the characters of the training text, sorted by code point

A text with characters the tokenizer does not have is not cut short: each becomes `<unk>`, and
`unknown_characters` counts them, so that a run over a later release reports what its tokenizer misses
instead of dropping it. (Tokenizers saved before the sequence and language tokens existed hold the first
three specials only; they still load.)
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
SPECIALS = (BLANK, UNK, SEP)  # fixed ids 0, 1, 2
PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SEQUENCE_TOKENS = (PAD, BOS, EOS)


def language_token(language: str) -> str:
    return f"<lang:{language}>"


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

    def token_id(self, token: str) -> int | None:
        """The id of a special or language token (None in a tokenizer without it)."""
        return self.index.get(token)

    @property
    def languages(self) -> list[str]:
        return [t[len("<lang:"):-1] for t in self.tokens if t.startswith("<lang:") and t.endswith(">")]

    @property
    def specials(self) -> int:
        """How many tokens are not characters (the specials and the language tokens)."""
        return sum(1 for t in self.tokens if t in SPECIALS or t in SEQUENCE_TOKENS or t.startswith("<lang:"))

    def unknown_characters(self, texts: Iterable[str | None]) -> Counter[str]:
        """Characters of `texts` (whitespace aside) this tokenizer has no token for, with their counts."""
        missing: Counter[str] = Counter()
        for text in texts:
            if text:
                missing.update(ch for ch in text if not ch.isspace() and ch not in self.index)
        return missing

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (blanks dropped, separators -> single spaces); no CTC collapsing here."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.blank:
                continue
            token = self.tokens[i]
            if token in SEQUENCE_TOKENS or token.startswith("<lang:"):
                continue
            out.append(" " if i == self.sep else token if i != self.unk else "\ufffd")
        return " ".join("".join(out).split())

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens), "blank": 0, "unk": 1, "separator": 2,
                           **{name: self.token_id(t) for name, t in (("pad", PAD), ("bos", BOS), ("eos", EOS))}},
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


def build_vocab(texts: Iterable[str | None], min_count: int = 1, languages: Iterable[str] = ()) -> Vocab:
    """The specials, a token per language, and the characters seen at least `min_count` times (whitespace
    excluded), sorted by code point."""
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(ch for ch in text if not ch.isspace())
    chars = sorted(ch for ch, n in counts.items() if n >= min_count and ch not in SPECIALS)
    langs = tuple(language_token(lang) for lang in sorted(set(languages)))
    return Vocab(SPECIALS + SEQUENCE_TOKENS + langs + tuple(chars))


def vocab_for_release(release_dir: str | os.PathLike[str], splits: Sequence[str] = ("train",),
                      min_count: int = 1, languages: Sequence[str] | None = None) -> Vocab:
    """The vocabulary of a release's normalized text of `splits` (of `languages` when given; the
    utterances manifest only)."""
    import polars as pl

    from omnicorpus.model.manifest import read_manifest

    utts = read_manifest(release_dir, "utterances", ["split", "language", "text"])
    utts = utts.filter(pl.col("split").is_in(list(splits))).with_columns(pl.col("language").fill_null("und"))
    if languages is not None:
        utts = utts.filter(pl.col("language").is_in(list(languages)))
    labelled = utts.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    return build_vocab(labelled["text"].to_list(), min_count, labelled["language"].unique().to_list())


def coverage(vocab: Vocab, release_dir: str | os.PathLike[str], splits: Sequence[str] = ("train", "dev"),
             languages: Sequence[str] | None = None) -> dict[str, object]:
    """What `vocab` misses of a release's transcripts (of `splits`, of `languages` when given): the count of
    characters it has no token for, the utterances holding one, and the most frequent of them."""
    import polars as pl

    from omnicorpus.model.manifest import read_manifest

    utts = read_manifest(release_dir, "utterances", ["split", "language", "text"])
    utts = utts.filter(pl.col("split").is_in(list(splits)) & pl.col("text").is_not_null())
    if languages is not None:
        utts = utts.filter(pl.col("language").fill_null("und").is_in(list(languages)))
    texts = utts["text"].to_list()
    missing = vocab.unknown_characters(texts)
    holding = sum(1 for t in texts if vocab.unknown_characters([t]))
    return {"tokens": len(vocab), "characters": len(vocab) - vocab.specials, "utterances": len(texts),
            "unknown_characters": sum(missing.values()), "utterances_with_unknown": holding,
            "most_unknown": [[ch, n] for ch, n in missing.most_common(20)]}
