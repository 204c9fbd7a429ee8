"""Benchmark: SSL pre-training throughput (audio seconds per second) against a plain encoder step, same batches.

    python bench/train.py [--recipes ssl-tiny,ssl-300m] [--device auto|cpu|cuda] [--threads N]
                          [--batch B] [--seconds S] [--min-seconds S] [--steps N] [--warmup N]
                          [--precision auto|bf16|fp32] [--sequential] [--seed S]

For each recipe of --recipes (model.recipes; SSL recipes), on the device (auto: cuda when available; on CPU
torch runs os.cpu_count() threads unless --threads), over synthetic 16 kHz float32 audio: each micro-batch is
--batch utterances of Gaussian noise (std 0.1), each --seconds long, or of a length drawn uniformly from
[--min-seconds, --seconds] when --min-seconds is given; zero padded to the batch's longest by
`model.reader.collate`, as the training loader pads. The batches are drawn once from --seed and both runs below
get the same ones, moved to the device inside the timed step as the trainer does. --warmup steps are run, then
--steps are timed (wall clock, with torch.cuda.synchronize before and after each step on CUDA):

* ours: the trainer's SSL step (model.pretrain.pretrain): the model built as it builds it (torch.manual_seed
  of the recipe's seed, `SSLTask(Wav2Vec2SSL(rec.encoder_config()), rec.ssl_objective())`,
  `model.loop.make_optimizer`, the LambdaLR schedule of `rec.lr_scale`, `model.loop.autocast_for`), in train
  mode; per micro-batch the forward of `model.ssl.ssl_forward` (span masks, Gumbel quantizer at the annealed
  tau, contrastive loss against distractors, diversity and feature penalties) under the autocast, backward of
  loss / grad_accum, the loop's reads of the logged figures (float() of loss and statistics, as its metrics
  window does), and after grad_accum micro-batches `model.loop.update` (clip at rec.grad_clip, AdamW step,
  zero, schedule step). No data loader, no DDP (one process), no evaluation or checkpoints;
* reference: the same encoder (`Wav2Vec2SSL(rec.encoder_config()).encoder` from the same seed: the same
  weights, dropouts and layerdrop, train mode), the plainest step: forward of the waveforms under the same
  autocast, loss = mean of the output squared (no masking, no quantizer, no contrastive loss), backward,
  after grad_accum micro-batches a plain `torch.optim.AdamW(encoder.parameters(), lr=rec.lr)` step and
  zero_grad (no clipping, no schedule, no weight-decay groups).

Both are built (ours' weights, gradients and AdamW state beside the reference's) and take turns step by step,
which one goes first alternating, so that a busy machine's slow spells fall on both; with --sequential the
reference's steps run first and its model is freed before ours is built (one model in memory at a time: for
a model two copies of which, with their AdamW states, do not fit; about 16 bytes a parameter each). On
CUDA the peak memory of a run is the highest torch.cuda.max_memory_allocated over its steps (reset before
each) less the other run's weights, gradients and optimizer state: what it would peak at alone. A step is
rec.grad_accum micro-batches (1 for ssl-tiny and ssl-300m). Audio seconds count the valid samples (lengths,
not padding), as the trainer's `audio_seconds` does. Reported per recipe: audio seconds per wall second and
seconds per step of each, ratio = ours / reference (1.0: the SSL objective costs nothing beyond the encoder's
own forward, backward and AdamW), the parameters of the SSL model and of its encoder, the precision, on CUDA
the peak memory of each run, and ours' last step (loss, masked frames, accuracy, grad norm, tau). Layerdrop
(0.05 in the large pre-training recipes) makes single steps vary by a few percent; so does a busy machine.

Defaults per recipe (printed; the flags override them for every recipe): on CPU ssl-tiny 2 x 10 s, 5 steps
after 2, and every other recipe 1 x 4 s, 2 steps after 1 (ssl-300m: a couple of minutes on 2 cores); on CUDA
utterances of min(10, max_utterance_seconds) s, as many as fit in the recipe's max_seconds_per_batch (ssl-300m
8 x 10 s of its 87.5, ssl-tiny 2 x 10 s), 10 steps after 3. --precision replaces the recipe's (auto: bf16 on
CUDA with bf16, and on a CPU with native bf16, AMX / AVX512-BF16, else fp32; ssl-tiny says fp32).

Details go to stderr; stdout gets exactly one JSON line: per recipe under "recipes", and at its top level
ours / reference / ratio of the last recipe listed (by default ssl-300m).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log  # noqa: E402

SR = 16_000


def recipe_defaults(rec: Any, device: torch.device) -> dict[str, Any]:
    """batch, seconds, steps, warmup for `rec` on `device` (see the module doc)."""
    if device.type == "cuda":
        seconds = min(10.0, rec.max_utterance_seconds or 10.0)
        return {"batch": max(1, int(rec.max_seconds_per_batch // seconds)), "seconds": seconds, "steps": 10,
                "warmup": 3}
    if rec.model == "tiny":
        return {"batch": 2, "seconds": 10.0, "steps": 5, "warmup": 2}
    return {"batch": 1, "seconds": 4.0, "steps": 2, "warmup": 1}


def make_batches(n: int, batch: int, seconds: float, min_seconds: float | None, seed: int
                 ) -> list[dict[str, Any]]:
    """n micro-batches of `batch` noise utterances, padded by the training loader's collate."""
    from omnicorpus.model.reader import collate

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if min_seconds is None:
            lengths = np.full(batch, round(seconds * SR))
        else:
            lengths = rng.integers(round(min_seconds * SR), round(seconds * SR) + 1, batch)
        audio = [(0.1 * rng.standard_normal(int(k))).astype(np.float32) for k in lengths]
        out.append(collate(audio, [[] for _ in audio]))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@dataclass
class Run:
    """One of the two measured steps: `step` runs one optimizer step over its micro-batches."""

    name: str
    step: Callable[[list[dict[str, Any]]], None]
    module: nn.Module
    optimizer: torch.optim.Optimizer
    times: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    peak_bytes: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    def resident_bytes(self) -> int:
        """Its weights, gradients and optimizer state on the GPU: what stays allocated between its steps."""
        tensors = list(self.module.parameters())
        tensors += [p.grad for p in self.module.parameters() if p.grad is not None]
        tensors += [v for st in self.optimizer.state.values() for v in st.values() if isinstance(v, Tensor)]
        return sum(t.numel() * t.element_size() for t in tensors if t.is_cuda)

    def result(self, steps: int) -> dict[str, Any]:
        total = sum(self.times)
        out: dict[str, Any] = {
            "audio_s_per_s": round(self.audio_s / total, 3), "s_per_step": round(total / steps, 4),
            "s_per_step_min": round(min(self.times), 4), "s_per_step_max": round(max(self.times), 4),
            "timed_audio_s": round(self.audio_s, 2)}
        if self.peak_bytes:
            out["peak_memory_gb"] = round(self.peak_bytes / 1e9, 3)
        return out


def measure(runs: list[Run], batches: list[dict[str, Any]], accum: int, warmup: int, steps: int,
            device: torch.device) -> None:
    """`warmup` then `steps` steps of each run, `accum` micro-batches a step, the runs taking turns step by
    step (which goes first alternates); wall seconds of each timed step, and on CUDA the peak memory of each
    step less what the other runs hold between their steps."""
    for i in range(warmup + steps):
        micro = batches[i * accum:(i + 1) * accum]
        for run in runs if i % 2 == 0 else runs[::-1]:
            others = sum(r.resident_bytes() for r in runs if r is not run)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            t0 = time.perf_counter()
            run.step(micro)
            sync(device)
            took = time.perf_counter() - t0
            if device.type == "cuda":
                run.peak_bytes = max(run.peak_bytes, torch.cuda.max_memory_allocated(device) - others)
            if i >= warmup:
                run.times.append(took)
                run.audio_s += sum(float(b["audio_lengths"].sum()) for b in micro) / SR


def build_reference(rec: Any, device: torch.device, autocast: contextlib.AbstractContextManager[Any]) -> Run:
    """The encoder alone (the SSL model's, from the same seed: ours' initial weights), mean-square loss of its
    output, plain AdamW."""
    from omnicorpus.model.wav2vec2 import Wav2Vec2SSL

    torch.manual_seed(rec.seed)
    encoder = Wav2Vec2SSL(rec.encoder_config()).encoder.to(device)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=rec.lr)
    encoder.train()

    def step(micro: list[dict[str, Any]]) -> None:
        for batch in micro:
            audio, lengths = batch["audio"].to(device, non_blocking=True), batch["audio_lengths"].to(device)
            with autocast:
                out, _ = encoder(audio, lengths)
            (out.float().pow(2).mean() / rec.grad_accum).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return Run("reference", step, encoder, optimizer)


def build_ours(rec: Any, device: torch.device) -> Run:
    """The trainer's step: model, objective, optimizer, schedule and autocast as model/pretrain.py's pretrain()
    builds them (its lines `torch.manual_seed(rec.seed)` .. `LambdaLR(...)` and `autocast_for(rec, dev)`),
    then the body of its loop over the micro-batches of a step (forward under autocast, backward of
    loss / grad_accum, the float() reads of its metrics window, `update`)."""
    from omnicorpus.model.loop import autocast_for, make_optimizer, update
    from omnicorpus.model.pretrain import LOGGED, SSLTask, micro_step
    from omnicorpus.model.wav2vec2 import Wav2Vec2SSL

    torch.manual_seed(rec.seed)
    objective = rec.ssl_objective()
    task = SSLTask(Wav2Vec2SSL(rec.encoder_config()), objective).to(device)
    optimizer = make_optimizer(task, rec)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rec.lr_scale)
    _, autocast = autocast_for(rec, device)
    task.train()
    names = LOGGED
    state = {"step": 0}
    run = Run("ours", lambda micro: None, task, optimizer)

    def step(micro: list[dict[str, Any]]) -> None:
        window = dict.fromkeys((*names, "correct", "masked"), 0.0)
        for batch in micro:
            audio, lengths = batch["audio"].to(device, non_blocking=True), batch["audio_lengths"].to(device)
            tau = objective.tau(state["step"])
            micro_step(task, audio, lengths, tau, autocast, rec.grad_accum, window)
        grad_norm = update(task, optimizer, scheduler, rec.grad_clip)
        state["step"] += 1
        run.last = {"loss": round(window["loss"] / len(micro), 4), "masked": int(window["masked"]),
                    "accuracy": round(window["correct"] / max(window["masked"], 1), 4),
                    "grad_norm": round(grad_norm, 4) if math.isfinite(grad_norm) else str(grad_norm),
                    "tau": round(tau, 4)}

    run.step = step
    return run


#: Dense bf16 tensor-core peak of the GPUs we may run on (vendor figures, FLOP/s), for model FLOPs utilisation.
BF16_PEAK = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


def step_flops(run: Run, micro: list[dict[str, Any]]) -> float:
    """FLOPs of one more (untimed) step of `run` over `micro`, forward and backward, as torch's FlopCounterMode
    counts them (matrix products, convolutions and attention: the model FLOPs of MFU)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        run.step(micro)
    return float(counter.get_total_flops())


def bf16_peak(name: str) -> float | None:
    return next((v for k, v in BF16_PEAK.items() if k in name), None)


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def parameters(rec: Any) -> tuple[int, int]:
    """(SSL model, its encoder) parameter counts, built on the meta device (no memory)."""
    from omnicorpus.model.wav2vec2 import Wav2Vec2SSL, count_parameters

    with torch.device("meta"):
        model = Wav2Vec2SSL(rec.encoder_config())
    return count_parameters(model), count_parameters(model.encoder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="ssl-tiny,ssl-300m", help="comma-separated SSL recipes "
                    "(default ssl-tiny,ssl-300m)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default os.cpu_count())")
    ap.add_argument("--batch", type=int, default=None, help="utterances per micro-batch (default: per recipe)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per utterance, the longest when "
                    "--min-seconds is given (default: per recipe)")
    ap.add_argument("--min-seconds", type=float, default=None,
                    help="draw each utterance's length uniformly from [this, --seconds] (default: fixed)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: per recipe)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: per recipe)")
    ap.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None,
                    help="replaces the recipe's precision (default: the recipe's)")
    ap.add_argument("--sequential", action="store_true",
                    help="run the reference's steps, free it, then ours (one model in memory at a time); "
                         "default: both built, taking turns step by step")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic audio (default 0)")
    args = ap.parse_args()

    from omnicorpus.model.loop import autocast_for
    from omnicorpus.model.recipes import get_recipe

    want = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = torch.device("cpu" if want == "auto" else want)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        name = torch.cuda.get_device_name(device)
    else:
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
        name = f"cpu, {torch.get_num_threads()} torch threads"
    log(f"device {device} ({name}), torch {torch.__version__}")

    results: dict[str, Any] = {}
    for recipe_name in [r.strip() for r in args.recipes.split(",") if r.strip()]:
        rec = get_recipe(recipe_name)
        if rec.objective != "ssl":
            raise SystemExit(f"{recipe_name} is not an SSL recipe (objective {rec.objective})")
        if args.precision:
            rec = dataclasses.replace(rec, precision=args.precision)
        d = recipe_defaults(rec, device)
        batch, seconds = args.batch or d["batch"], args.seconds or d["seconds"]
        steps, warmup = args.steps or d["steps"], d["warmup"] if args.warmup is None else args.warmup
        if args.min_seconds is not None and not 0 < args.min_seconds <= seconds:
            raise SystemExit("--min-seconds must be in (0, --seconds]")
        precision, autocast = autocast_for(rec, device)
        n_ssl, n_enc = parameters(rec)
        lengths = (f"{seconds:g} s" if args.min_seconds is None else f"{args.min_seconds:g}..{seconds:g} s")
        log(f"{recipe_name}: model {rec.model}, {n_ssl:,} parameters ({n_enc:,} in the encoder), {precision}; "
            f"{batch} x {lengths} per micro-batch, grad_accum {rec.grad_accum}, {steps} steps after {warmup} "
            f"warm-up")
        batches = make_batches((warmup + steps) * rec.grad_accum, batch, seconds, args.min_seconds, args.seed)
        if args.sequential:  # one model at a time: reference, then ours
            reference = build_reference(rec, device, autocast)
            measure([reference], batches, rec.grad_accum, warmup, steps, device)
            ref = reference.result(steps)
            del reference
            free(device)
            run = build_ours(rec, device)
            measure([run], batches, rec.grad_accum, warmup, steps, device)
        else:
            reference, run = build_reference(rec, device, autocast), build_ours(rec, device)
            measure([reference, run], batches, rec.grad_accum, warmup, steps, device)
            ref = reference.result(steps)
            del reference
        ours, last = run.result(steps), run.last
        flops = step_flops(run, batches[:rec.grad_accum]) if device.type == "cuda" else None
        del run
        free(device)
        log(f"  reference (encoder, mean-square loss, AdamW): {ref}")
        log(f"  ours (SSLTask, make_optimizer, update): {ours}; last step {last}")
        ratio = ours["audio_s_per_s"] / ref["audio_s_per_s"]
        log(f"  ratio {ratio:.3f}" + ("" if device.type == "cuda" else
                                      f"; this process's peak RSS so far {peak_rss_gb():.2f} GB"))
        utilisation: dict[str, Any] = {}
        if flops:  # achieved model FLOP/s of ours' steps, and its share of the GPU's dense bf16 peak
            achieved = flops / ours["s_per_step"]
            peak = bf16_peak(name)
            utilisation = {"model_tflops_per_step": round(flops / 1e12, 3),
                           "ours_tflops_per_s": round(achieved / 1e12, 2),
                           "mfu": round(achieved / peak, 4) if peak and precision == "bf16" else None}
            log(f"  model FLOPs {flops / 1e12:.2f} T a step, {achieved / 1e12:.1f} TFLOP/s, MFU {utilisation['mfu']}")
        results[recipe_name] = {
            "ours": ours["audio_s_per_s"], "reference": ref["audio_s_per_s"], "ratio": round(ratio, 4),
            "ours_s_per_step": ours["s_per_step"], "reference_s_per_step": ref["s_per_step"],
            **({"ours_peak_memory_gb": ours["peak_memory_gb"],
                "reference_peak_memory_gb": ref["peak_memory_gb"]} if device.type == "cuda" else {}),
            "parameters": n_ssl, "encoder_parameters": n_enc, "precision": precision, "batch": batch,
            "seconds": seconds, "min_seconds": args.min_seconds, "grad_accum": rec.grad_accum,
            "steps": steps, "warmup": warmup, "ours_detail": ours, "reference_detail": ref,
            "order": "sequential" if args.sequential else "alternating",
            "last_step": last, **utilisation,
        }
    if not results:
        raise SystemExit("--recipes named no recipe")
    top = results[list(results)[-1]]
    emit({"bench": "train", "ours": top["ours"], "reference": top["reference"], "ratio": top["ratio"],
          "unit": "audio seconds per second", "recipe": list(results)[-1], "device": str(device),
          "device_name": name, "recipes": results})


if __name__ == "__main__":
    main()
