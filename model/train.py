"""The CTC and LLM-ASR trainer: a release + a recipe -> a run folder with checkpoints, metrics and a summary
(SSL pre-training recipes go to model.pretrain).

    train(release_dir, "ctc-tiny", out)                        one process (CPU or one GPU)
    torchrun --nproc-per-node N -m omnicorpus.model.train RELEASE --recipe ctc-300m --out RUN

The loop: AdamW (no decay on biases, norms, the mask embedding), linear warm-up then linear decay,
gradient clipping, gradient accumulation, bf16 autocast (recipe `precision`: "auto" uses bf16 on CUDA
when the GPU supports it and on a CPU with native bf16, AMX or AVX512-BF16, else fp32; or "bf16" / "fp32").
Measured on this project's 2-core Xeon (AMX): a ctc-tiny training step alone is about 20% faster under
CPU bf16 autocast and a 4 x 512 encoder about 40% faster, but a whole ctc-tiny run (data, decoding,
evaluation) took the same time (25.5 s against 25.7 s for 450 steps) and reached a higher training CER
(0.047 against 0.010), so `ctc-tiny` pins fp32; without native bf16 the CPU emulates it and is much slower.
The CTC loss and the log-softmax are always computed in float32.

Under torchrun (WORLD_SIZE > 1) the model runs in DistributedDataParallel (nccl on CUDA, gloo on CPU), or
with recipe `parallel="fsdp"` sharded by FSDP2 (model.parallel: each encoder and decoder layer, then the
root; evaluation on the gathered parameters; checkpoints in the same full single-file format); every rank
reads its own slots of the shards and yields the same number of batches, and the dev CER/WER counts are
summed over the ranks.

Run folder:
    recipe.json, vocab.json      what the run trains with (the vocabulary also inside every checkpoint)
    metrics.jsonl                one JSON object per line: {"kind": "train", step, loss, lr, ...} every
                                 `log_every` steps, {"kind": "eval", step, split, cer, wer, per_language}
    checkpoints/step-NNNNNNNN.pt model, optimizer, scheduler, loader state of every rank, step, RNG states,
                                 vocab, recipe, untrained-model metrics; written to a temporary name and
                                 renamed; `checkpoints/last` names the newest (also renamed into place)
    ranks/rank-R.json            what each rank did (steps, batches) at the end
    summary.json                 the summary `train` returns

Resume: with resume=True a run folder that has `checkpoints/last` continues from it (same rank layout:
the loader continues exactly; another layout: the loader restarts its plan from a new seed); metrics.jsonl
keeps what was logged up to the checkpoint. With resume=False (or no checkpoint) the run starts afresh and
the folder's earlier metrics.jsonl and checkpoints are deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch
import torch.distributed as dist
from torch import nn

from omnicorpus.model.ctc import CTCModel, ctc_loss, unalignable
from omnicorpus.model.data import TrainLoader
from omnicorpus.model.evaluation import batch_context, eval_loaders, evaluate_all, heldout_summary, vocab_languages
from omnicorpus.model.llm_asr import LLMASRModel, drop_languages
from omnicorpus.model.loop import (
    Cadence,
    RunFolder,
    all_gather,
    autocast_for,
    finish_rank,
    init_distributed,
    make_optimizer,
    peak_memory,
    release_folder,
    rng_state,
    set_rng_state,
    sum_over_ranks,
    update,
    write_atomic,
)
from omnicorpus.model.parallel import (
    accumulating,
    full_state_dicts,
    gathered,
    load_state_dicts,
    shard,
    share_layer_skips,
)
from omnicorpus.model.recipes import Recipe, get_recipe, parse_overrides
from omnicorpus.model.sampling import Betas, plan_for_release
from omnicorpus.model.vocab import Vocab, coverage, vocab_for_release


def plan(release_dir: str | os.PathLike[str], beta_corpus: float = 0.5, beta_language: float = 0.5,
         split: str = "train") -> pl.DataFrame:
    """The sampling plan of a release (model.sampling; an output root means its latest release): per
    (corpus, language) hours, utterances, mean_seconds, corpus_weight, language_weight, weight,
    draw_probability, epoch_hours, upsampling. Reads the utterances manifest only. It counts every training
    utterance, as the sampler does; the trainer's loader plans over those with a transcript (CTC needs one)."""
    return plan_for_release(release_folder(release_dir), Betas(beta_corpus, beta_language), split)


def build_model(rec: Recipe, vocab: Vocab) -> CTCModel | LLMASRModel:
    """The model a recipe trains: CTC (encoder + linear head) or LLM-ASR (encoder + LLaMA decoder)."""
    if rec.objective == "llm":
        return LLMASRModel(rec.encoder_config(), rec.decoder_config(), vocab, stack=rec.stack,
                           context_slots=rec.context_examples)
    return CTCModel(rec.encoder_config(), len(vocab), rec.final_dropout)


def batch_loss(net: nn.Module, model: nn.Module, batch: dict[str, Any], device: torch.device, rec: Recipe,
               autocast: contextlib.AbstractContextManager[Any]) -> tuple[torch.Tensor, int, int]:
    """(summed loss, target tokens, unalignable utterances) of a training batch through `net` (the model, or
    its DDP wrapper). LLM-ASR: the language is given on `rec.language_given_p` of the utterances, drawn from
    the (per-rank seeded, checkpointed) torch RNG."""
    audio = batch["audio"].to(device, non_blocking=True)
    lengths = batch["audio_lengths"].to(device)
    targets, target_lengths = batch["targets"].to(device), batch["target_lengths"].to(device)
    if isinstance(model, LLMASRModel):
        languages = drop_languages(model.language_ids(batch["languages"]), 1.0 - rec.language_given_p)
        context = batch_context(batch, device)
        with autocast:
            loss_sum, count = net(audio, lengths, targets, target_lengths, languages, context=context)
        return loss_sum, int(count), 0
    with autocast:
        logits, out_lengths = net(audio, lengths)
    loss_sum = ctc_loss(logits, out_lengths, targets, target_lengths)
    return loss_sum, int(target_lengths.sum()), int(unalignable(out_lengths, targets, target_lengths).sum())


# --- the public entry ---------------------------------------------------------------------------------


def train(release_dir: str | os.PathLike[str], recipe: str, out: str | os.PathLike[str], *,
          max_steps: int | None = None, resume: bool = True, device: str | None = None,
          overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `recipe` on a release into run folder `out`; returns the summary (also out/summary.json).

    max_steps: stop at this optimizer step (default: the recipe's `steps`; the learning-rate schedule
    always spans the recipe's `steps`, so a run stopped and resumed follows the same schedule).
    resume: continue from `out/checkpoints/last` when there is one. device: "cpu", "cuda", "cuda:1" (default:
    CUDA when available). overrides: recipe fields to replace, e.g. {"lr": 1e-4, "eval_splits": ["dev",
    "train"], "model.mask_prob": 0.3}.
    """
    t_start = time.perf_counter()
    release_dir = release_folder(release_dir)
    rec = get_recipe(recipe, overrides)
    stop = rec.steps if max_steps is None else int(max_steps)
    out = Path(out)
    if rec.objective == "ssl":
        from omnicorpus.model.pretrain import pretrain

        return pretrain(release_dir, rec, out, stop=stop, resume=resume, device=device)
    rank, world, dev = init_distributed(device)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "ranks").mkdir(exist_ok=True)
    if dist.is_initialized():
        dist.barrier()
    run = RunFolder(out, rank)
    ckpt_path = run.last_checkpoint() if resume else None
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if ckpt_path else None
    if rank == 0:
        run.start(ckpt["step"] if ckpt else None)
    if dist.is_initialized():
        dist.barrier()

    if ckpt:
        vocab = Vocab(tuple(ckpt["vocab"]))
    elif rec.tokenizer:
        vocab = Vocab.load(rec.tokenizer)
    else:  # the held-out languages' characters too: a zero-shot model writes them from its examples
        vocab = vocab_for_release(release_dir, min_count=rec.vocab_min_count, languages=vocab_languages(rec))
    tokenizer = coverage(vocab, release_dir, ("train", *rec.eval_splits), vocab_languages(rec))
    tokenizer["source"] = "checkpoint" if ckpt else rec.tokenizer or "built from the release"
    if rank == 0:
        vocab.save(out / "vocab.json")
        run.log({"kind": "tokenizer", "step": ckpt["step"] if ckpt else 0, **tokenizer})
        write_atomic(out / "recipe.json", json.dumps(rec.to_dict(), indent=2))

    torch.manual_seed(rec.seed)  # the same initial weights on every rank
    model = build_model(rec, vocab)
    if rec.init_encoder and not ckpt:
        from omnicorpus.model.encoder_init import load_encoder

        if rank == 0:
            run.log({"kind": "init_encoder", "step": 0, **load_encoder(model.encoder, rec.init_encoder)})
        else:
            load_encoder(model.encoder, rec.init_encoder)
    model = model.to(dev)
    fsdp = world > 1 and rec.parallel == "fsdp"
    if fsdp:
        shard(model, dev, world)
    optimizer = make_optimizer(model, rec)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rec.lr_scale)
    loader = TrainLoader(release_dir, vocab, rec.loader_config(), rank=rank, world_size=world,
                         num_workers=rec.num_workers)
    evals = eval_loaders(release_dir, vocab, rec, rank, world, loader.index)
    precision, autocast = autocast_for(rec, dev)

    step, untrained = 0, None
    torch.manual_seed(rec.seed + rank)  # masking and dropout differ between ranks (a resume restores its RNG)
    if ckpt:
        load_state_dicts(model, optimizer, ckpt["model"], ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, untrained = ckpt["step"], ckpt.get("untrained")
        states = ckpt["loader"]
        if len(states) == world:
            loader.load_state_dict(states[rank])
        else:
            loader.load_state_dict({**states[0], "layout": [-1, -1, -1]})  # counters only, new plan
        set_rng_state(ckpt["rng"][rank] if len(ckpt["rng"]) == world else ckpt["rng"][0])
    ddp: nn.Module = model
    if world > 1 and not fsdp:
        ddp = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=rec.encoder_config().layerdrop > 0)

    def run_evals(at: int) -> dict[str, Any]:
        results = {}
        with gathered(model):
            for split, el in evals.items():
                results[split] = evaluate_all(model, el, vocab, dev, autocast, rec)
                run.log({"kind": "eval", "step": at, "split": split, **results[split]})
        return results

    if untrained is None:
        untrained = run_evals(0)

    def save(at: int) -> Path | None:
        loader_states = all_gather(loader.state_dict())
        rngs = all_gather(rng_state())
        model_state, optimizer_state = full_state_dicts(model, optimizer)
        if rank != 0:
            return None
        return run.write_checkpoint({
            "step": at, "model": model_state, "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(), "loader": loader_states, "rng": rngs,
            "vocab": list(vocab.tokens), "recipe": rec.to_dict(), "untrained": untrained, "world_size": world,
        }, at, rec.keep_checkpoints)

    model.train()
    steps_run, micro = 0, 0
    cadence = Cadence(rec, stop, run_evals, save, ckpt_path, step if ckpt else -1)
    window = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss sum, tokens, audio seconds, utterances, unalignable since the last log
    t_log = time.perf_counter()
    while step < stop:
        for batch in loader:
            micro += 1
            last_micro = micro % rec.grad_accum == 0
            if fsdp:
                share_layer_skips(model, rec.seed, step, micro % rec.grad_accum)
            sync = contextlib.nullcontext() if (last_micro or world == 1) else accumulating(ddp)
            with sync:
                loss_sum, tokens, bad = batch_loss(ddp, model, batch, dev, rec, autocast)
                (loss_sum / max(tokens, 1) / rec.grad_accum).backward()
            window[0] += float(loss_sum.detach())
            window[1] += tokens
            window[2] += float(batch["audio_lengths"].sum()) / 16_000
            window[3] += len(batch["keys"])
            window[4] += bad
            if not last_micro:
                continue
            if step < rec.freeze_encoder_steps:  # only the head learns: the encoder's gradients are dropped
                for p in model.encoder.parameters():
                    p.grad = None
            grad_norm = update(model, optimizer, scheduler, rec.grad_clip)
            step += 1
            steps_run += 1
            if step % rec.log_every == 0 or step == stop:
                total = sum_over_ranks(window, dev)
                now = time.perf_counter()
                run.log({"kind": "train", "step": step, "loss": total[0] / max(total[1], 1),
                         "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                         "audio_seconds": total[2], "utterances": int(total[3]), "unalignable": int(total[4]),
                         "seconds": now - t_log, "epoch": loader.epoch, **peak_memory(dev)})
                window, t_log = [0.0, 0.0, 0.0, 0.0, 0.0], now
            cadence.after(step)
            if step >= stop:
                break
    results = cadence.finish(step, untrained)
    first_loss, last_loss = finish_rank(out, rank, world, step, steps_run, loader)
    main = rec.eval_splits[0]
    summary = {
        "recipe": rec.name, "steps": step, "steps_run": steps_run, "world_size": world, "device": str(dev),
        "precision": precision, "seconds": time.perf_counter() - t_start,
        "train_loss": last_loss, "train_loss_first": first_loss,
        "dev_split": main, "dev_cer": results[main]["cer"], "dev_wer": results[main]["wer"],
        "dev_output": results[main].get("output"),
        "dev_cer_without_language": results[main].get("without_language", {}).get("cer"),
        "dev_cer_without_context": results[main].get("without_context", {}).get("cer"),
        **heldout_summary(results, untrained),
        "dev_cer_per_language": {k: v["cer"] for k, v in results[main]["per_language"].items()},
        "untrained_dev_cer": untrained[main]["cer"],
        "untrained_dev_cer_per_language": {k: v["cer"] for k, v in untrained[main]["per_language"].items()},
        "tokenizer": tokenizer, "eval": results, "untrained": untrained,
        "checkpoint": str(cadence.checkpoint) if cadence.checkpoint else None, "out": str(out),
    }
    if rank == 0:
        write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    if dist.is_initialized():
        dist.barrier()
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m omnicorpus.model.train",
                                 description="Train a CTC model on a release (works under torchrun).")
    ap.add_argument("release", help="release folder (or an output root: its latest release)")
    ap.add_argument("--recipe", default="ctc-tiny")
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override, VALUE as JSON when it parses (e.g. --set lr=1e-4 --set model.mask_prob=0)")
    ap.add_argument("--languages", action="append", default=[], metavar="CODE[,CODE...]",
                    help="train, build the vocabulary and evaluate on these languages only")
    args = ap.parse_args(argv)
    try:
        overrides = parse_overrides(args.set, args.languages)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        summary = train(args.release, args.recipe, Path(args.out), max_steps=args.max_steps, resume=not args.no_resume,
                        device=args.device, overrides=overrides or None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        brief = {k: summary[k] for k in ("recipe", "steps", "train_loss", "dev_split", "dev_cer", "untrained_dev_cer",
                                         "dev_accuracy", "untrained_dev_accuracy", "checkpoint", "seconds")
                 if k in summary}  # an SSL summary has accuracies, no CER
        print(json.dumps(brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
