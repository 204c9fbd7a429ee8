"""Training recipes: everything a run needs besides the release, by name.

`ctc-tiny` is for CPUs (tests, smoke runs, a demo that learns in minutes on the sample corpus); the
others fine-tune the paper's encoder sizes with CTC on accelerators (bf16, DDP under torchrun). Their
learning rates, batch sizes and masking follow common wav2vec 2.0 CTC fine-tuning practice (starting
points, not tuned here); `max_seconds_per_batch` is per rank and per micro-batch (the effective batch is
that x world size x grad_accum). Memory: plain DDP keeps fp32 weights, gradients and AdamW moments on every
GPU, about 16 bytes per parameter: 5 GB for 300M, 15 GB for 1B, 49 GB for 3B (fits an 80 GB H100 with
activation checkpointing), 104 GB for 7B (an H200-class GPU); `--set parallel=fsdp` shards them over the
ranks instead (model.parallel).

`ctc-tiny` on the sample corpus: restricted to its two languages with the most training utterances
(`languages=("eng_Latn", "hin_Deva")`, 11 utterances) it memorises them in about 400 steps (training-split
CER 2.7 -> 0.01 in 450 steps, 26 s on 2 cores); over all 38 languages (51 utterances, mostly one per
language) 600 steps only reach the all-blank stage (CER 1.0 against 3.5 untrained).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

from omnicorpus.model.llama import DecoderConfig, get_decoder_config
from omnicorpus.model.sampler import LoaderConfig
from omnicorpus.model.ssl import SSLObjective
from omnicorpus.model.wav2vec2 import Wav2Vec2Config, get_config

OBJECTIVES = ("ctc", "ssl", "llm")
PARALLEL = ("ddp", "fsdp")


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str  # encoder configuration (model.wav2vec2.CONFIGS)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # Wav2Vec2Config fields (dropouts, masking)
    #: "ctc": fine-tuning on transcripts (model.train); "ssl": wav2vec 2.0 pre-training on every segment,
    #: labelled or not (model.pretrain), with `ssl` replacing fields of model.ssl.SSLObjective
    objective: str = "ctc"
    ssl: dict[str, Any] = field(default_factory=dict)
    #: "llm": LLM-ASR (model.llm_asr), this decoder config (with `decoder.<field>` overrides) over the encoder's
    #: frames stacked `stack` at a time; the language is given on `language_given_p` of the training examples
    #: (the paper's 50%, so that the model transcribes with and without it); evaluation decodes greedily up to
    #: `max_new_tokens`, with the language and without it
    decoder: str = "llm-tiny"
    decoder_overrides: dict[str, Any] = field(default_factory=dict)
    stack: int = 1
    language_given_p: float = 0.5
    max_new_tokens: int = 256
    #: in-context zero-shot (LLM-ASR): every training target comes after `context_examples` slots of examples of
    #: its language (1..N of them, drawn by the loader through the sampler; model.llm_context), and evaluation
    #: draws its examples from the training split; 0: the plain LLM-ASR layout
    context_examples: int = 0
    #: languages evaluated but never trained on (their characters are in the tokenizer): what a zero-shot
    #: model transcribes from its context examples alone, reported with and without them
    heldout_languages: tuple[str, ...] | None = None
    #: start the encoder from this checkpoint (ours, SSL or CTC, or a fairseq2 / Omnilingual ASR one) and
    #: keep it frozen for the first `freeze_encoder_steps` updates (only the head learns)
    init_encoder: str | None = None
    freeze_encoder_steps: int = 0
    #: the tokenizer (model.vocab JSON, e.g. an earlier run's vocab.json) to train with instead of building
    #: one from this release: a model keeps its token ids from release to release
    tokenizer: str | None = None
    final_dropout: float = 0.0
    # optimizer: AdamW; no weight decay on biases, norms and the mask embedding
    lr: float = 5e-5
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-8
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max global grad norm (0: off)
    # schedule: linear warm-up to lr, then linear decay to lr x final_lr_scale at `steps`
    steps: int = 100_000
    warmup_steps: int = 8_000
    final_lr_scale: float = 0.05
    # data: what the sampler draws (model.sampler.LoaderConfig)
    max_seconds_per_batch: float = 200.0
    max_batch_size: int | None = None
    min_utterance_seconds: float = 0.0
    max_utterance_seconds: float | None = 30.0
    beta_corpus: float = 0.5
    beta_language: float = 0.5
    languages: tuple[str, ...] | None = None  # train, build the vocabulary and evaluate on these only
    buffer_size: int = 512
    batches_per_epoch: int = 1_000
    num_workers: int = 4
    max_open_shards: int = 64
    vocab_min_count: int = 1
    # loop
    grad_accum: int = 1
    precision: str = "auto"  # auto: bf16 autocast on CUDA with bf16 and on a CPU with native bf16 (AMX), else fp32
    #: under torchrun: "ddp" (a full copy of the model on every rank) or "fsdp" (model.parallel: parameters,
    #: gradients and optimizer state sharded over the ranks, each Transformer layer gathered when it runs)
    parallel: str = "ddp"
    eval_every: int = 2_000
    eval_splits: tuple[str, ...] = ("dev",)
    eval_max_utterances: int | None = None  # per split, None: all
    eval_max_seconds_per_batch: float | None = None  # None: max_seconds_per_batch
    checkpoint_every: int = 1_000
    keep_checkpoints: int = 2
    log_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision is auto, bf16 or fp32, got {self.precision!r}")
        if self.parallel not in PARALLEL:
            raise ValueError(f"parallel is one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        if self.steps < 1 or self.grad_accum < 1 or self.warmup_steps < 0:
            raise ValueError("steps and grad_accum must be positive, warmup_steps non-negative")
        if not self.eval_splits:
            raise ValueError("eval_splits needs at least one split")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective is one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        get_config(self.model, **self.model_overrides)  # unknown model or field -> error now
        self.ssl_objective()
        self.decoder_config()
        if not 0.0 <= self.language_given_p <= 1.0 or self.stack < 1 or self.max_new_tokens < 1:
            raise ValueError("language_given_p is in [0, 1], stack and max_new_tokens are positive")
        if self.context_examples < 0 or (self.context_examples and self.objective != "llm"):
            raise ValueError("context_examples is for LLM-ASR (objective llm), and 0 or more")
        if self.heldout_languages and self.languages and set(self.heldout_languages) & set(self.languages):
            raise ValueError("a held-out language is not also a training language")

    def encoder_config(self) -> Wav2Vec2Config:
        return get_config(self.model, **self.model_overrides)

    def ssl_objective(self) -> SSLObjective:
        return replace(SSLObjective(), **self.ssl)

    def decoder_config(self) -> DecoderConfig:
        return get_decoder_config(self.decoder, **self.decoder_overrides)

    def loader_config(self) -> LoaderConfig:
        return LoaderConfig(
            max_seconds_per_batch=self.max_seconds_per_batch, batches_per_epoch=self.batches_per_epoch,
            buffer_size=self.buffer_size, beta_corpus=self.beta_corpus, beta_language=self.beta_language,
            max_open_shards=self.max_open_shards, min_utterance_seconds=self.min_utterance_seconds,
            max_utterance_seconds=self.max_utterance_seconds, max_batch_size=self.max_batch_size, split="train",
            languages=self.languages, labelled_only=self.objective != "ssl", seed=self.seed,
            context_examples=self.context_examples)

    def lr_scale(self, step: int) -> float:
        """Multiplier of `lr` for the update that makes step `step + 1`."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.steps - self.warmup_steps)
        frac = min(1.0, (step - self.warmup_steps) / span)
        return 1.0 + (self.final_lr_scale - 1.0) * frac

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FINETUNE_REG = {"dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.1, "layerdrop": 0.05,
                 "mask_prob": 0.5, "mask_length": 10}

#: wav2vec 2.0 / XLS-R pre-training (fairseq's settings: 400k-1M updates, 32k warm-up, decay to zero, the
#: objective's defaults); learning rates are starting points, not tuned here
_PRETRAIN_REG = {"dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "layerdrop": 0.05}


def _ssl(name: str, model: str, lr: float, seconds: float, accum: int = 1) -> Recipe:
    return Recipe(name=name, model=model, objective="ssl", model_overrides=_PRETRAIN_REG, lr=lr, steps=1_000_000,
                  warmup_steps=32_000, final_lr_scale=0.0, weight_decay=0.01, grad_clip=10.0,
                  max_seconds_per_batch=seconds, min_utterance_seconds=2.0, max_utterance_seconds=20.0,
                  grad_accum=accum, num_workers=6, eval_every=10_000, checkpoint_every=5_000, log_every=100)


def _llm(name: str, model: str, lr: float, seconds: float, accum: int = 1, context: int = 0) -> Recipe:
    return Recipe(name=name, model=model, objective="llm", decoder="llama-12x4096", model_overrides=_FINETUNE_REG,
                  lr=lr, steps=100_000, warmup_steps=8_000, freeze_encoder_steps=10_000,
                  max_seconds_per_batch=seconds, min_utterance_seconds=2.0, max_utterance_seconds=20.0,
                  grad_accum=accum, num_workers=6, context_examples=context)


RECIPES: dict[str, Recipe] = {
    # CPU: a narrow encoder that overfits the sample corpus in a few hundred steps (tests, demo)
    "ctc-tiny": Recipe(
        name="ctc-tiny", model="tiny", lr=1e-3, adam_betas=(0.9, 0.98), weight_decay=0.0, grad_clip=5.0,
        steps=600, warmup_steps=10, final_lr_scale=0.5, max_seconds_per_batch=10.0, max_utterance_seconds=10.0,
        buffer_size=64, batches_per_epoch=100, num_workers=0, max_open_shards=16, precision="fp32",
        eval_every=200, checkpoint_every=200, log_every=1),
    # CPU: pre-training that learns in a few hundred steps on the sample corpus (tests, demo). Masks of one
    # frame over 30% of them, 20 distractors: with wav2vec 2.0's spans of 10 frames over 65% (and of 2 over
    # 50%) the tiny encoder stayed on the uniform plateau (contrastive loss ln 21) for all of 150 steps;
    # with these it leaves it after about 120
    "ssl-tiny": Recipe(
        name="ssl-tiny", model="tiny", objective="ssl", ssl={"mask_prob": 0.3, "mask_length": 1,
                                                             "num_negatives": 20, "tau_decay": 0.995},
        lr=1e-3, weight_decay=0.0, grad_clip=5.0, steps=300, warmup_steps=20, final_lr_scale=0.1,
        max_seconds_per_batch=20.0, min_utterance_seconds=1.0, max_utterance_seconds=10.0, buffer_size=64,
        batches_per_epoch=100, num_workers=0, max_open_shards=16, precision="fp32", eval_every=100,
        checkpoint_every=100, log_every=1),
    # CPU: LLM-ASR, the tiny encoder under a 2-layer 128-dim LLaMA decoder, trained from scratch (tests, demo)
    "llm-asr-tiny": Recipe(
        name="llm-asr-tiny", model="tiny", objective="llm", decoder="llm-tiny", lr=1e-3, weight_decay=0.0,
        grad_clip=5.0, steps=600, warmup_steps=20, final_lr_scale=0.5, max_seconds_per_batch=10.0,
        max_utterance_seconds=10.0, buffer_size=64, batches_per_epoch=100, num_workers=0, max_open_shards=16,
        precision="fp32", eval_every=200, checkpoint_every=200, log_every=1, max_new_tokens=160),
    # the paper's LLM-ASR: an SSL or CTC encoder (--init-encoder) under the 12 x 4096 LLaMA decoder; the
    # released recipes freeze the encoder for the first updates (starting points, not tuned here)
    "llm-asr-300m": _llm("llm-asr-300m", "300m", 5e-5, 120.0),
    "llm-asr-1b": _llm("llm-asr-1b", "1b", 4e-5, 90.0),
    "llm-asr-3b": _llm("llm-asr-3b", "3b", 3e-5, 60.0, accum=2),
    "llm-asr-7b": _llm("llm-asr-7b", "7b", 2e-5, 40.0, accum=4),
    # the paper's zero-shot model: the 7B LLM-ASR trained on sequences of 10 context slots (each target's
    # batch seconds count its targets only; the examples come on top: hence the smaller batches)
    "llm-asr-zs-7b": _llm("llm-asr-zs-7b", "7b", 2e-5, 20.0, accum=16, context=10),
    "ssl-300m": _ssl("ssl-300m", "300m", 5e-4, 87.5),
    "ssl-1b": _ssl("ssl-1b", "1b", 3e-4, 60.0, accum=2),
    "ssl-3b": _ssl("ssl-3b", "3b", 1.5e-4, 40.0, accum=4),
    "ssl-7b": _ssl("ssl-7b", "7b", 1e-4, 20.0, accum=8),
    "ctc-300m": Recipe(
        name="ctc-300m", model="300m", model_overrides=_FINETUNE_REG, final_dropout=0.1, lr=5e-5,
        steps=100_000, warmup_steps=8_000, max_seconds_per_batch=200.0, num_workers=6),
    "ctc-1b": Recipe(
        name="ctc-1b", model="1b", model_overrides=_FINETUNE_REG, final_dropout=0.1, lr=3e-5,
        steps=100_000, warmup_steps=8_000, max_seconds_per_batch=160.0, num_workers=6),
    "ctc-3b": Recipe(
        name="ctc-3b", model="3b", model_overrides=_FINETUNE_REG, final_dropout=0.1, lr=2e-5,
        steps=100_000, warmup_steps=8_000, max_seconds_per_batch=120.0, grad_accum=2, num_workers=6),
    "ctc-7b": Recipe(
        name="ctc-7b", model="7b", model_overrides=_FINETUNE_REG, final_dropout=0.1, lr=1e-5,
        steps=100_000, warmup_steps=8_000, max_seconds_per_batch=60.0, grad_accum=4, num_workers=6),
}

# CPU: llm-asr-tiny with 3 context slots per target (in-context zero-shot; tests, demo)
RECIPES["llm-asr-zs-tiny"] = replace(RECIPES["llm-asr-tiny"], name="llm-asr-zs-tiny", context_examples=3)


def parse_overrides(items: list[str], languages: list[str] | None = None) -> dict[str, Any]:
    """`KEY=VALUE` strings as a command line writes them -> recipe overrides; VALUE is read as JSON when it
    parses (`lr=1e-4`, `eval_splits=["dev"]`) and kept as a string otherwise. `languages` (each item may
    hold several, comma-separated) restricts training, vocabulary and evaluation to those languages."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    chosen = [code.strip() for group in languages or [] for code in group.split(",") if code.strip()]
    if chosen:
        overrides["languages"] = chosen
    return overrides


_LISTED = ("eval_splits", "adam_betas", "languages", "heldout_languages")


def recipe_from_dict(values: dict[str, Any]) -> Recipe:
    """The recipe a checkpoint or recipe.json recorded (`Recipe.to_dict`); fields this version does not know
    are left out."""
    known = {f.name for f in fields(Recipe)}
    kept: dict[str, Any] = {k: tuple(v) if k in _LISTED and v is not None else v
                            for k, v in values.items() if k in known}
    return Recipe(**kept)


def get_recipe(name: str, overrides: dict[str, Any] | None = None) -> Recipe:
    """A recipe by name with some fields replaced. `model.<field>` keys go to model_overrides, `ssl.<field>`
    keys to the SSL objective's, `decoder.<field>` keys to the LLM decoder's."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    if not overrides:
        return recipe
    known = {f.name for f in fields(Recipe)}
    changes: dict[str, Any] = {}
    model = dict(recipe.model_overrides)
    ssl = dict(recipe.ssl)
    decoder = dict(recipe.decoder_overrides)
    for key, value in overrides.items():
        if key.startswith("model."):
            model[key.removeprefix("model.")] = value
        elif key.startswith("ssl."):
            ssl[key.removeprefix("ssl.")] = value
        elif key.startswith("decoder."):
            decoder[key.removeprefix("decoder.")] = value
        elif key not in known or key == "name":
            raise KeyError(f"unknown recipe field {key!r}; known: {', '.join(sorted(known - {'name'}))}")
        elif key == "model_overrides":
            model.update(value)
        else:
            listed = key in _LISTED and value is not None
            changes[key] = tuple(value) if listed else value
            if key in ("ssl", "decoder_overrides"):
                (ssl if key == "ssl" else decoder).update(value)
                del changes[key]
    return replace(recipe, **changes, model_overrides=model, ssl=ssl, decoder_overrides=decoder)
