"""Transcribing audio with a trained checkpoint, and choosing the context examples of an in-context model.

    trained = load_trained("RUN/checkpoints/step-00000600.pt")
    pool = ContextPool.from_release("OUT", "swh_Latn")            # the language's training utterances
    transcribe(trained, [wave], context=(pool, 3, "audio"))       # -> ["..."]

A CTC checkpoint decodes greedily; an LLM-ASR one decodes greedily with the language when given. An
in-context (zero-shot) checkpoint takes, per target, `n` examples of the language from a pool, chosen by a
rule. Which examples help is the paper's open question; the rules here use only what a user has at
transcription time (never the target's own transcript):

    random    n examples drawn uniformly (seeded): the baseline
    duration  the n closest in duration to the target (similar lengths give the decoder similar spans)
    audio     the n whose mean encoder output is closest (cosine) to the target's: similar voices,
              recording conditions and, for a repeated prompt, similar words
    text      a first pass without context, then the n whose transcripts share the most character trigrams
              with that hypothesis (what the model already heard, looked up among the examples)
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from omnicorpus.model.ctc import CTCModel, greedy_decode
from omnicorpus.model.llm_asr import LLMASRModel
from omnicorpus.model.reader import ShardCache, collate, decode_flac
from omnicorpus.model.recipes import Recipe, recipe_from_dict
from omnicorpus.model.sampler import Utterances, split_utterances
from omnicorpus.model.vocab import Vocab

SELECTION_RULES = ("random", "duration", "audio", "text")


@dataclass
class Trained:
    """A model as a checkpoint of `omnicorpus train` holds it, ready to transcribe."""

    model: nn.Module
    vocab: Vocab
    recipe: Recipe
    step: int
    device: torch.device


def load_trained(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> Trained:
    """The model, tokenizer and recipe of a CTC or LLM-ASR checkpoint (a one-line ValueError for anything
    else: an SSL checkpoint has no transcribing head)."""
    from omnicorpus.model.train import build_model

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or not {"model", "vocab", "recipe"} <= set(ckpt):
        raise ValueError(f"{checkpoint}: not a checkpoint of `omnicorpus train` (no model, vocab and recipe)")
    rec = recipe_from_dict(ckpt["recipe"])
    if rec.objective == "ssl":
        raise ValueError(f"{checkpoint}: a self-supervised checkpoint transcribes nothing; fine-tune it "
                         "(`--init-encoder`) first")
    vocab = Vocab(tuple(ckpt["vocab"]))
    model = build_model(rec, vocab)
    model.load_state_dict(ckpt["model"])
    dev = torch.device(device)
    return Trained(model.to(dev).eval(), vocab, rec, int(ckpt.get("step", 0)), dev)


@dataclass
class ContextPool:
    """Candidate context examples: one language's labelled utterances of a release's training split (at most
    `limit`, a seeded sample of them), decoded."""

    language: str
    keys: list[str]
    texts: list[str]
    audio: list[np.ndarray]

    @classmethod
    def from_release(cls, release_dir: str | os.PathLike[str], language: str, split: str = "train",
                     limit: int = 200, seed: int = 0) -> ContextPool:
        utts = split_utterances(release_dir, split, [language])
        if utts.is_empty():
            raise ValueError(f"{release_dir}: no labelled {split} utterances of {language} to take examples from")
        if len(utts) > limit:
            keep = np.sort(np.random.default_rng(seed).choice(len(utts), limit, replace=False))
            utts = utts[keep]
        table = Utterances.from_frame(release_dir, utts)
        cache = ShardCache(8)
        try:
            audio = [decode_flac(cache.get(table.shard_uris[table.shard_of_row[r]]).read(table.key(r) + ".flac"))
                     for r in range(len(table))]
        finally:
            cache.close()
        return cls(language, [table.key(r) for r in range(len(table))],
                   [table.text(r) for r in range(len(table))], audio)

    def __len__(self) -> int:
        return len(self.keys)


def _trigrams(text: str) -> Counter[str]:
    padded = f"  {' '.join(text.split())} "
    return Counter(padded[i:i + 3] for i in range(len(padded) - 2))


def _similarity(a: Counter[str], b: Counter[str]) -> float:
    shared = sum((a & b).values())
    return shared / max(1, min(sum(a.values()), sum(b.values())))


@torch.no_grad()
def mean_encodings(model: nn.Module, audio: Sequence[np.ndarray], device: torch.device, batch: int = 16) -> Tensor:
    """[len(audio), dim] unit vectors: each utterance's encoder output averaged over its frames."""
    encoder = model.get_submodule("encoder")  # CTC and LLM-ASR models both have one
    out = []
    for i in range(0, len(audio), batch):
        waves, lengths = _pad(audio[i:i + batch], device)
        frames, n = encoder(waves, lengths)
        valid = (torch.arange(frames.shape[1], device=device)[None] < n[:, None]).to(frames.dtype)[..., None]
        out.append(torch.nn.functional.normalize((frames * valid).sum(1) / n[:, None].clamp(min=1), dim=-1))
    return torch.cat(out).float()


def choose_examples(pool: ContextPool, rule: str, n: int, targets: Sequence[np.ndarray], *,
                    trained: Trained | None = None, first_pass: Sequence[str] | None = None, seed: int = 0
                    ) -> list[list[int]]:
    """Per target, the indices into `pool` of its `n` examples (fewer when the pool is smaller) by `rule`."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"context selection is one of {', '.join(SELECTION_RULES)}, got {rule!r}")
    n = min(n, len(pool))
    if rule == "random":
        return [np.random.default_rng([seed, i]).choice(len(pool), n, replace=False).tolist()
                for i in range(len(targets))]
    if rule == "duration":
        lengths = np.array([len(a) for a in pool.audio])
        return [np.argsort(np.abs(lengths - len(t)), kind="stable")[:n].tolist() for t in targets]
    if rule == "audio":
        assert trained is not None, "the audio rule needs the model's encoder"
        sims = mean_encodings(trained.model, targets, trained.device) @ mean_encodings(
            trained.model, pool.audio, trained.device).T
        return [torch.argsort(row, descending=True, stable=True)[:n].tolist() for row in sims]
    assert first_pass is not None, "the text rule needs a first-pass transcript of each target"
    grams = [_trigrams(t) for t in pool.texts]
    out = []
    for hyp in first_pass:
        scores = np.array([_similarity(_trigrams(hyp), g) for g in grams])
        out.append(np.argsort(-scores, kind="stable")[:n].tolist())
    return out


def _pad(audio: Sequence[np.ndarray], device: torch.device) -> tuple[Tensor, Tensor]:
    """Zero-padded [B, T] audio and lengths, as the loaders give them (`model.reader.collate`)."""
    batch = collate([np.asarray(a, dtype=np.float32) for a in audio], [[] for _ in audio])
    return batch["audio"].to(device), batch["audio_lengths"].to(device)


@torch.no_grad()
def transcribe(trained: Trained, audio: Sequence[np.ndarray], *, language: str | None = None,
               context: tuple[ContextPool, int, str] | None = None, max_new_tokens: int | None = None,
               seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Transcripts of 16 kHz mono waveforms, one at a time, and (in-context) the keys of each one's examples.
    `language`: given to an LLM-ASR model that takes it; `context` (pool, n, rule): examples for an in-context
    model, chosen by `rule` (`SELECTION_RULES`)."""
    model, dev = trained.model, trained.device
    limit = max_new_tokens or trained.recipe.max_new_tokens
    if isinstance(model, CTCModel):
        if context is not None:
            raise ValueError("a CTC model takes no context examples")
        texts = []
        for a in audio:
            waves, lengths = _pad([a], dev)
            logits, out_lengths = model(waves, lengths)
            texts += greedy_decode(logits.float(), out_lengths, trained.vocab)
        return texts, [[] for _ in audio]
    assert isinstance(model, LLMASRModel)
    if context is not None and model.context_markers is None:
        raise ValueError("this checkpoint was not trained with context examples (recipe context_examples is 0)")
    languages = [language] if language else None

    def plain(a: np.ndarray) -> str:
        waves, lengths = _pad([a], dev)
        return model.transcribe(waves, lengths, languages=languages, max_new_tokens=limit)[0]

    if context is None:
        return [plain(a) for a in audio], [[] for _ in audio]
    pool, n, rule = context
    first = [plain(a) for a in audio] if rule == "text" else None
    chosen = choose_examples(pool, rule, n, audio, trained=trained, first_pass=first, seed=seed)
    texts = []
    for a, picks in zip(audio, chosen, strict=True):
        waves, lengths = _pad([a], dev)
        examples = [[(torch.from_numpy(pool.audio[i]), pool.texts[i]) for i in picks]]
        ctx = model.make_context(examples, slots=model.context_slots or n)
        texts += model.transcribe(waves, lengths, max_new_tokens=limit, context=ctx)
    return texts, [[pool.keys[i] for i in picks] for picks in chosen]
