"""What the trainer evaluates, and how: greedy transcripts of each eval split, CER / WER per language.

Each split of the recipe's `eval_splits` over its training languages, and for a recipe with
`heldout_languages` the same splits over those (named `heldout_<split>`): languages the model never trained
on. An LLM-ASR model is also scored without the language (it is trained to work without it); an in-context
model (`context_examples` > 0) is scored with context examples drawn from the training split of the
utterance's language (`model.sampler.draw_context`, never the utterance itself, the same examples at every
evaluation) and again without any, which for a held-out language is the zero-shot question: does the
model transcribe a language it never saw better from a few examples of it than without them?
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from omnicorpus.model.ctc import ErrorCounter, greedy_decode
from omnicorpus.model.data import EvalLoader
from omnicorpus.model.llm_asr import LLMASRModel
from omnicorpus.model.llm_context import Context
from omnicorpus.model.recipes import Recipe
from omnicorpus.model.sampler import TrainIndex
from omnicorpus.model.vocab import Vocab

HELDOUT = "heldout_"


def vocab_languages(rec: Recipe) -> list[str] | None:
    """The languages a run's tokenizer is built over: those it trains on and those held out (None: all)."""
    if rec.languages is None:
        return None
    return [*rec.languages, *(rec.heldout_languages or ())]


def batch_context(batch: dict[str, Any], device: torch.device) -> Context | None:
    """The context examples a loader put in a batch (`model.reader.fetch_context`), on `device`; None without."""
    if "context_audio" not in batch:
        return None
    return Context(batch["context_audio"].to(device), batch["context_audio_lengths"].to(device),
                   batch["context_targets"].to(device), batch["context_target_lengths"].to(device),
                   int(batch["context_slots"]))


def eval_loaders(release_dir: str | os.PathLike[str], vocab: Vocab, rec: Recipe, rank: int, world: int,
                 train_index: TrainIndex | None = None) -> dict[str, EvalLoader]:
    """The recipe's eval loaders by name: each of its splits, then each again over the held-out languages.
    `train_index`: the training loader's, the training languages' pool of examples (else read again)."""
    longest = rec.eval_max_seconds_per_batch or rec.max_seconds_per_batch
    groups: list[tuple[str, tuple[str, ...] | None]] = [("", rec.languages)]
    if rec.heldout_languages:
        groups.append((HELDOUT, rec.heldout_languages))
    loaders = {}
    for prefix, languages in groups:
        context = None
        if rec.context_examples:
            pool = train_index if train_index is not None and not prefix else TrainIndex.from_release(
                release_dir, replace(rec.loader_config(), languages=languages))
            context = (pool, rec.context_examples)
        for split in rec.eval_splits:
            loaders[prefix + split] = EvalLoader(
                release_dir, vocab, split, max_seconds_per_batch=longest, rank=rank, world_size=world,
                max_utterances=rec.eval_max_utterances, languages=languages, context=context, seed=rec.seed)
    return loaders


def hypotheses(model: nn.Module, batch: dict[str, Any], vocab: Vocab, device: torch.device, rec: Recipe | None,
               with_language: bool = True, with_context: bool = True) -> list[str]:
    """The model's greedy transcripts of a batch (LLM-ASR: given each utterance's language, or not; with the
    batch's context examples, or not)."""
    audio, lengths = batch["audio"].to(device), batch["audio_lengths"].to(device)
    if isinstance(model, LLMASRModel):
        return model.transcribe(audio, lengths, languages=batch["languages"] if with_language else None,
                                max_new_tokens=rec.max_new_tokens if rec else 256,
                                context=batch_context(batch, device) if with_context else None)
    logits, out_lengths = model(audio, lengths)
    return greedy_decode(logits.float(), out_lengths, vocab)


def evaluate(model: nn.Module, loader: EvalLoader, vocab: Vocab, device: torch.device,
             autocast: contextlib.AbstractContextManager[Any] | None = None, rec: Recipe | None = None,
             with_language: bool = True, with_context: bool = True) -> dict[str, Any]:
    """Greedy-decoded CER / WER per language over an eval loader (summed over ranks)."""
    counter = ErrorCounter(loader.languages)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader:
            with autocast or contextlib.nullcontext():
                hyps = hypotheses(model, batch, vocab, device, rec, with_language, with_context)
            for lang, ref, hyp in zip(batch["languages"], batch["texts"], hyps, strict=True):
                counter.add(lang, ref, hyp)
    counter.all_reduce(device if device.type == "cuda" else "cpu")
    model.train(was_training)
    return counter.result()


def evaluate_all(model: nn.Module, loader: EvalLoader, vocab: Vocab, device: torch.device,
                 autocast: contextlib.AbstractContextManager[Any] | None, rec: Recipe) -> dict[str, Any]:
    """`evaluate` as the recipe's model is meant to be used, and (LLM-ASR) `without_language`, (in-context)
    `without_context` beside it."""
    result = evaluate(model, loader, vocab, device, autocast, rec)
    if rec.objective == "llm":
        result["without_language"] = evaluate(model, loader, vocab, device, autocast, rec, with_language=False)
    if rec.context_examples:
        result["without_context"] = evaluate(model, loader, vocab, device, autocast, rec, with_context=False)
    return result


def heldout_summary(results: dict[str, Any], untrained: dict[str, Any]) -> dict[str, Any]:
    """The summary's figures of the held-out languages' first eval split (none without held-out languages)."""
    name = next((k for k in results if k.startswith(HELDOUT)), None)
    if name is None:
        return {}
    result = results[name]
    return {"heldout_split": name.removeprefix(HELDOUT), "heldout_cer": result["cer"],
            "heldout_cer_without_context": result.get("without_context", {}).get("cer"),
            "heldout_cer_per_language": {k: v["cer"] for k, v in result["per_language"].items()},
            "untrained_heldout_cer": untrained.get(name, {}).get("cer")}
