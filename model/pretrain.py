"""wav2vec 2.0 pre-training: a release + an SSL recipe -> a run folder with checkpoints and metrics.

    omnicorpus train RELEASE --recipe ssl-tiny --out RUN          (model.train dispatches SSL recipes here)
    torchrun --nproc-per-node N -m omnicorpus.model.train RELEASE --recipe ssl-300m --out RUN
                                                                  (DDP; --set parallel=fsdp: model.parallel)

Every training segment of the release is drawn (through the same two-level beta sampler as fine-tuning),
labelled or not: unlabelled long-form segments included. The objective is model.ssl's (span masking,
Gumbel product quantizer with its temperature annealed per update, contrastive loss against distractors
from the same utterance, diversity and feature penalties). Each rank seeds its RNG with seed + rank, so
ranks mask and drop out differently.

metrics.jsonl: {"kind": "train", step, loss, contrastive, diversity, feature_penalty, accuracy,
prob_perplexity, code_perplexity, tau, lr, grad_norm, masked, audio_seconds, ...} every `log_every` steps;
{"kind": "eval", step, split, accuracy, contrastive, masked, prob_perplexity, code_perplexity} on the held-out
segments of each eval split (every segment, labelled or not), with masks and distractors drawn from a fixed
seed, so that evaluations are comparable; the untrained model's at step 0. Checkpoints hold the model (the
encoder under `encoder.`, which `--init-encoder` / recipe `init_encoder` loads into a CTC model), optimizer,
scheduler, loader and RNG states: a run resumes exactly as the CTC trainer's does.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from omnicorpus.model.data import EvalLoader, TrainLoader
from omnicorpus.model.loop import (
    Cadence,
    RunFolder,
    all_gather,
    autocast_for,
    finish_rank,
    init_distributed,
    make_optimizer,
    peak_memory,
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
from omnicorpus.model.recipes import Recipe
from omnicorpus.model.ssl import SSLObjective, SSLOutput, chance_accuracy, ssl_forward
from omnicorpus.model.wav2vec2 import Wav2Vec2SSL

#: The seed of the held-out evaluation's masks and distractors (the same at every evaluation).
EVAL_SEED = 20_201_010


class SSLTask(nn.Module):
    """The SSL model and its objective as one module, so that DistributedDataParallel wraps one forward."""

    def __init__(self, model: Wav2Vec2SSL, objective: SSLObjective) -> None:
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, wave: Tensor, lengths: Tensor, tau: float) -> SSLOutput:
        return ssl_forward(self.model, wave, lengths, self.objective, tau)


#: The figures of a training step that metrics.jsonl logs (means over the micro-batches and ranks)
LOGGED = ("loss", "contrastive", "diversity", "feature_penalty", "prob_perplexity", "code_perplexity")


def micro_step(net: nn.Module, audio: torch.Tensor, lengths: torch.Tensor, tau: float,
               autocast: contextlib.AbstractContextManager[Any], grad_accum: int, window: dict[str, float]) -> None:
    """One micro-batch of a training step: forward under `autocast`, backward of the loss scaled for gradient
    accumulation, and its figures added to `window` (LOGGED, correct, masked)."""
    with autocast:
        result: SSLOutput = net(audio, lengths, tau)
    (result.loss / grad_accum).backward()
    for name in LOGGED:
        window[name] += float(result.loss.detach()) if name == "loss" else float(getattr(result, name))
    window["correct"] += result.correct
    window["masked"] += result.masked


def evaluate_ssl(task: SSLTask, loader: EvalLoader, device: torch.device, tau: float,
                 autocast: contextlib.AbstractContextManager[Any] | None = None) -> dict[str, Any]:
    """Contrastive accuracy and loss over held-out segments, masks and distractors from EVAL_SEED (the
    quantizer takes its best code: eval mode), summed over ranks."""
    was_training = task.training
    task.eval()
    totals = [0.0, 0.0, 0.0, 0.0, 0.0]  # correct, masked, contrastive x masked, prob ppl x batches, code ppl x batches
    batches = 0
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(EVAL_SEED)
        for batch in loader:
            with autocast or contextlib.nullcontext():
                out = task(batch["audio"].to(device), batch["audio_lengths"].to(device), tau)
            totals[0] += out.correct
            totals[1] += out.masked
            totals[2] += float(out.contrastive) * out.masked
            totals[3] += out.prob_perplexity
            totals[4] += out.code_perplexity
            batches += 1
    correct, masked, contrastive, prob, code, n = sum_over_ranks([*totals, float(batches)], device)
    task.train(was_training)
    return {"accuracy": correct / max(masked, 1), "contrastive": contrastive / max(masked, 1), "masked": int(masked),
            "prob_perplexity": prob / max(n, 1), "code_perplexity": code / max(n, 1),
            "chance_accuracy": chance_accuracy(task.objective)}


def pretrain(release_dir: str | os.PathLike[str], rec: Recipe, out: Path, *, stop: int, resume: bool = True,
             device: str | None = None) -> dict[str, Any]:
    """Pre-train `rec` (an SSL recipe) on a release into run folder `out` up to step `stop`; returns the
    summary (also out/summary.json). See model.train.train for the arguments."""
    t_start = time.perf_counter()
    rank, world, dev = init_distributed(device)
    if rank == 0:
        (out / "ranks").mkdir(parents=True, exist_ok=True)
    if dist.is_initialized():
        dist.barrier()
    run = RunFolder(out, rank)
    ckpt_path = run.last_checkpoint() if resume else None
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if ckpt_path else None
    if rank == 0:
        run.start(ckpt["step"] if ckpt else None)
        write_atomic(out / "recipe.json", json.dumps(rec.to_dict(), indent=2))
    if dist.is_initialized():
        dist.barrier()

    torch.manual_seed(rec.seed)  # the same initial weights on every rank
    objective = rec.ssl_objective()
    task = SSLTask(Wav2Vec2SSL(rec.encoder_config()), objective).to(dev)
    fsdp = world > 1 and rec.parallel == "fsdp"
    if fsdp:
        shard(task, dev, world)
    optimizer = make_optimizer(task, rec)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rec.lr_scale)
    loader = TrainLoader(release_dir, None, rec.loader_config(), rank=rank, world_size=world,
                         num_workers=rec.num_workers)
    eval_max = rec.eval_max_seconds_per_batch or rec.max_seconds_per_batch
    evals = {split: EvalLoader(release_dir, None, split, max_seconds_per_batch=eval_max, rank=rank,
                               world_size=world, max_utterances=rec.eval_max_utterances, languages=rec.languages,
                               labelled_only=False)
             for split in rec.eval_splits}
    precision, autocast = autocast_for(rec, dev)
    step, untrained = 0, None
    torch.manual_seed(rec.seed + rank)  # masks, distractors, Gumbel noise and dropout differ between ranks
    if ckpt:
        load_state_dicts(task.model, optimizer, ckpt["model"], ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, untrained = ckpt["step"], ckpt.get("untrained")
        states = ckpt["loader"]
        loader.load_state_dict(states[rank] if len(states) == world else {**states[0], "layout": [-1, -1, -1]})
        set_rng_state(ckpt["rng"][rank] if len(ckpt["rng"]) == world else ckpt["rng"][0])
    ddp: nn.Module = task
    if world > 1 and not fsdp:
        ddp = nn.parallel.DistributedDataParallel(task, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                  find_unused_parameters=True)

    def run_evals(at: int) -> dict[str, Any]:
        results = {}
        with gathered(task):
            for split, el in evals.items():
                results[split] = evaluate_ssl(task, el, dev, objective.tau(at), autocast)
                run.log({"kind": "eval", "step": at, "split": split, **results[split]})
        return results

    if untrained is None:
        untrained = run_evals(0)

    def save(at: int) -> Path | None:
        loader_states, rngs = all_gather(loader.state_dict()), all_gather(rng_state())
        model_state, optimizer_state = full_state_dicts(task.model, optimizer)
        if rank != 0:
            return None
        return run.write_checkpoint({
            "step": at, "model": model_state, "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(), "loader": loader_states, "rng": rngs, "recipe": rec.to_dict(),
            "untrained": untrained, "world_size": world, "objective": "ssl"}, at, rec.keep_checkpoints)

    task.train()
    steps_run, micro = 0, 0
    cadence = Cadence(rec, stop, run_evals, save, ckpt_path, step if ckpt else -1)
    names = LOGGED
    window = dict.fromkeys((*names, "correct", "masked", "audio_seconds", "utterances", "micro"), 0.0)
    t_log = time.perf_counter()
    while step < stop:
        for batch in loader:
            audio, lengths = batch["audio"].to(dev, non_blocking=True), batch["audio_lengths"].to(dev)
            micro += 1
            last_micro = micro % rec.grad_accum == 0
            if fsdp:
                share_layer_skips(task, rec.seed, step, micro % rec.grad_accum)
            sync = contextlib.nullcontext() if (last_micro or world == 1) else accumulating(ddp)
            tau = objective.tau(step)
            with sync:
                micro_step(ddp, audio, lengths, tau, autocast, rec.grad_accum, window)
            window["audio_seconds"] += float(lengths.sum()) / 16_000
            window["utterances"] += len(batch["keys"])
            window["micro"] += 1
            if not last_micro:
                continue
            grad_norm = update(task, optimizer, scheduler, rec.grad_clip)
            step += 1
            steps_run += 1
            if step % rec.log_every == 0 or step == stop:
                keys = list(window)
                total = dict(zip(keys, sum_over_ranks([window[k] for k in keys], dev), strict=True))
                now = time.perf_counter()
                n = max(total["micro"], 1)
                run.log({"kind": "train", "step": step, **{k: total[k] / n for k in names},
                         "accuracy": total["correct"] / max(total["masked"], 1), "masked": int(total["masked"]),
                         "tau": tau, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                         "audio_seconds": total["audio_seconds"], "utterances": int(total["utterances"]),
                         "seconds": now - t_log, "epoch": loader.epoch, **peak_memory(dev)})
                window, t_log = dict.fromkeys(window, 0.0), now
            cadence.after(step)
            if step >= stop:
                break
    results = cadence.finish(step, untrained)
    first_loss, last_loss = finish_rank(out, rank, world, step, steps_run, loader)
    main = rec.eval_splits[0]
    summary = {
        "recipe": rec.name, "objective": "ssl", "steps": step, "steps_run": steps_run, "world_size": world,
        "device": str(dev), "precision": precision, "seconds": time.perf_counter() - t_start,
        "train_loss": last_loss, "train_loss_first": first_loss, "dev_split": main,
        "dev_accuracy": results[main]["accuracy"], "untrained_dev_accuracy": untrained[main]["accuracy"],
        "chance_accuracy": chance_accuracy(objective), "dev_code_perplexity": results[main]["code_perplexity"],
        "eval": results, "untrained": untrained,
        "checkpoint": str(cadence.checkpoint) if cadence.checkpoint else None, "out": str(out),
    }
    if rank == 0:
        write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    if dist.is_initialized():
        dist.barrier()
    return summary
