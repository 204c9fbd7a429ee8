"""`omnicorpus transcribe AUDIO... --model CKPT`: transcripts from a trained checkpoint (model.transcribe), with
context examples from a release for an in-context (zero-shot) model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, soft_wrap=True)


def transcribe_cmd(
    audio: Annotated[list[Path], typer.Argument(help="Audio files (any format the ingest decodes; resampled to "
                                                     "16 kHz mono).")],
    model: Annotated[Path, typer.Option("--model", help="A checkpoint of `omnicorpus train` (CTC or LLM-ASR).")],
    language: Annotated[str | None, typer.Option(
        "--language", help="The audio's language, for an LLM-ASR model (it also works without).")] = None,
    context_from: Annotated[str | None, typer.Option(
        "--context-from", help="A release (or output root) whose training utterances give the context "
                               "examples of an in-context model.")] = None,
    context_language: Annotated[str | None, typer.Option(
        "--context-language", help="The language of the examples (default: --language).")] = None,
    context: Annotated[int, typer.Option("--context", help="How many examples per file.")] = 3,
    select: Annotated[str, typer.Option(
        "--select", help="How examples are chosen: random, duration, audio (closest mean encoder output) or "
                         "text (closest to a first pass without context).")] = "random",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, ...")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file (with the examples' keys).")
                       ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random rule and of the pool's sample.")] = 0,
) -> None:
    """Transcribe audio files with a trained model; prints `FILE<TAB>TRANSCRIPT` per file."""
    from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
    from omnicorpus.manifests.release import open_release
    from omnicorpus.model.transcribe import SELECTION_RULES, ContextPool, load_trained, transcribe

    def fail(message: str, code: int = 1) -> typer.Exit:
        err.print(f"[bold red]error[/]: {escape(message)}", highlight=False)
        return typer.Exit(code)

    if select not in SELECTION_RULES:
        raise fail(f"--select is one of {', '.join(SELECTION_RULES)}, got {select!r}", 2)
    if context < 1:
        raise fail("--context is at least 1", 2)
    try:
        trained = load_trained(model, device)
        waves = [decode_audio(path.read_bytes(), name=str(path)).samples for path in audio]
        pool = None
        if context_from is not None:
            chosen = context_language or language
            if not chosen:
                raise ValueError("--context-from needs --context-language (or --language)")
            pool = ContextPool.from_release(open_release(context_from).path, chosen, seed=seed)
        texts, examples = transcribe(trained, waves, language=language,
                                     context=(pool, context, select) if pool is not None else None, seed=seed)
    except (ValueError, OSError, AudioDecodeError) as exc:
        raise fail(str(exc)) from None
    for path, text, keys in zip(audio, texts, examples, strict=True):
        if as_json:
            sys.stdout.write(json.dumps({"audio": str(path), "text": text, "context": keys},
                                        ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{path}\t{text}\n")
