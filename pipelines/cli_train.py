"""`omnicorpus train` and `omnicorpus tokenizer`: the trainer (model.train) and its tokenizer over a release."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from omnicorpus.pipelines.cli_options import ReleaseArg

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

def train_cmd(
    release: ReleaseArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder: checkpoints, metrics, summary.")],
    recipe: Annotated[str, typer.Option(
        help="ctc-tiny, ssl-tiny, llm-asr-tiny, llm-asr-zs-tiny (CPU), ctc-300m, ...")] = "ctc-tiny",
    max_steps: Annotated[int | None, typer.Option(help="Stop at this step (default: the recipe's).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda (default: CUDA when available).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's last checkpoint.")] = True,
    languages: Annotated[list[str] | None, typer.Option(
        "--languages", help="Train, build the vocabulary and evaluate on these languages only (comma-separated, "
                            "or repeat the option).")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", help="Replace a recipe field, VALUE as JSON when it parses "
                                           "(--set lr=1e-4 --set model.mask_prob=0); repeat the option.")] = None,
    init_encoder: Annotated[Path | None, typer.Option(
        "--init-encoder", help="Start the encoder from this checkpoint (an SSL or CTC run's, or a fairseq2 / "
                               "Omnilingual ASR wav2vec 2.0 one); freeze it with --set freeze_encoder_steps=N.")
    ] = None,
) -> None:
    """Train on a release: CTC fine-tuning (ctc-*), LLM-ASR (llm-asr-*; in-context zero-shot llm-asr-zs-*) or
    wav2vec 2.0 pre-training on every segment (ssl-*); the beta sampler picks what to read; DDP under torchrun."""
    from omnicorpus.manifests.release import open_release
    from omnicorpus.model.recipes import get_recipe, parse_overrides
    from omnicorpus.model.train import train

    try:
        overrides = parse_overrides(settings or [], languages)
        if init_encoder is not None:
            if not init_encoder.is_file():
                raise ValueError(f"--init-encoder {init_encoder}: no such checkpoint file")
            overrides["init_encoder"] = str(init_encoder.resolve())
        get_recipe(recipe, overrides)  # an unknown recipe or field is a usage error, found before any work
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--recipe/--set") from None
    made = open_release(release)
    summary = train(made.path, recipe, out_dir, max_steps=max_steps, resume=resume, device=device,
                    overrides=overrides or None)
    shown = ("dev_accuracy", "untrained_dev_accuracy", "chance_accuracy", "dev_code_perplexity") \
        if summary.get("objective") == "ssl" else ("dev_cer", "untrained_dev_cer", "dev_output")
    out.print_json(json.dumps({k: summary.get(k) for k in ("recipe", "steps", "train_loss", "dev_split", *shown,
                                                           "checkpoint", "seconds")}))


def tokenizer_cmd(
    release: ReleaseArg,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the tokenizer (JSON).")],
    languages: Annotated[list[str] | None, typer.Option(
        "--languages", help="Build from these languages only (comma-separated, or repeat the option).")] = None,
    min_count: Annotated[int, typer.Option(help="Keep characters seen at least this many times.")] = 1,
) -> None:
    """Build a character tokenizer from a release's training transcripts (specials, a token per language);
    train with it on later releases by `--set tokenizer=FILE`, so token ids stay the same."""
    from omnicorpus.manifests.release import open_release
    from omnicorpus.model.recipes import parse_overrides
    from omnicorpus.model.vocab import coverage, vocab_for_release

    chosen = parse_overrides([], languages).get("languages")
    made = open_release(release)
    vocab = vocab_for_release(made.path, languages=chosen, min_count=min_count)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    vocab.save(out_file)
    seen = coverage(vocab, made.path, ("train", "dev", "test"), chosen)
    out.print(f"tokenizer of {made.id}: {len(vocab)} tokens ({seen['characters']} characters, "
              f"{len(vocab.languages)} languages) -> {out_file}; {seen['unknown_characters']} characters of its "
              f"dev/test transcripts it has no token for, in {seen['utterances_with_unknown']} utterances",
              highlight=False)
