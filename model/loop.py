"""What every trainer's loop shares: the process layout under torchrun, precision, the optimizer, the
run folder (metrics, checkpoints written atomically, resume), RNG states. model.train (CTC) and
model.pretrain (wav2vec 2.0 SSL) are loops over these.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from omnicorpus.model.recipes import Recipe

#: Training losses averaged over this many logged steps for the summary's first and last figures.
SUMMARY_LOSS_WINDOW = 20


# --- distributed ------------------------------------------------------------------------------------


def init_distributed(device: str | None) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, (dist.get_world_size() if dist.is_initialized() else 1), dev


def all_gather(obj: Any) -> list[Any]:
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    if dist.is_initialized():
        dist.all_reduce(t)
    return t.tolist()


# --- pieces of the loop -------------------------------------------------------------------------------


def peak_memory(device: torch.device) -> dict[str, float]:
    """{"peak_memory_gb": ...}: the most the device's allocator held since the last call (then reset), for
    the train log lines on CUDA; {} on CPU."""
    if device.type != "cuda":
        return {}
    peak = torch.cuda.max_memory_allocated(device) / 1e9
    torch.cuda.reset_peak_memory_stats(device)
    return {"peak_memory_gb": round(peak, 3)}


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matrix products in hardware (elsewhere torch emulates them, slowly)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_for(recipe: Recipe, device: torch.device) -> tuple[str, contextlib.AbstractContextManager[Any]]:
    """(precision used, autocast context). auto: bf16 on CUDA when the GPU has bf16, on CPU when it has
    native bf16 (AMX / AVX512-BF16), else fp32."""
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_native_bf16()
    if recipe.precision == "bf16" or (recipe.precision == "auto" and native):
        return "bf16", torch.autocast(device.type, dtype=torch.bfloat16)
    return "fp32", contextlib.nullcontext()


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith("mask_emb") else decay).append(p)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.adam_betas, eps=recipe.adam_eps)


class RunFolder:
    def __init__(self, out: Path, rank: int) -> None:
        self.out, self.rank = out, rank
        self.ckpt_dir = out / "checkpoints"

    def log(self, record: dict[str, Any]) -> None:
        if self.rank == 0:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def start(self, step: int | None) -> None:
        """A fresh run (step None) forgets the folder's earlier metrics and checkpoints; a resumed one keeps
        the metrics up to its checkpoint's step (a run that died after it logged steps it will redo)."""
        metrics = self.out / "metrics.jsonl"
        if step is None:
            metrics.unlink(missing_ok=True)
            for path in [*self.ckpt_dir.glob("step-*.pt*"), self.ckpt_dir / "last"]:
                path.unlink(missing_ok=True)
        elif metrics.exists():
            keep = [line for line in metrics.read_text("utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= step]
            write_atomic(metrics, "".join(line + "\n" for line in keep))

    def last_checkpoint(self) -> Path | None:
        pointer = self.ckpt_dir / "last"
        if not pointer.exists():
            return None
        path = self.ckpt_dir / pointer.read_text().strip()
        return path if path.exists() else None

    def write_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> Path:
        """Atomically: a temporary file renamed into place, then the `last` pointer renamed over the old."""
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / f"step-{step:08d}.pt"
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        write_atomic(self.ckpt_dir / "last", path.name)
        for old in sorted(self.ckpt_dir.glob("step-*.pt"))[:-max(1, keep)]:
            old.unlink(missing_ok=True)
        return path


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            torch.cuda.set_rng_state_all(state["cuda"])


def loss_window(out: Path) -> tuple[list[float], float | None, float | None]:
    """Per-step training losses logged so far in the run folder (all runs of it), first and last means."""
    losses: list[float] = []
    path = out / "metrics.jsonl"
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            rec = json.loads(line)
            if rec.get("kind") == "train":
                losses.append(rec["loss"])
    if not losses:
        return losses, None, None
    w = min(SUMMARY_LOSS_WINDOW, len(losses))
    return losses, sum(losses[:w]) / w, sum(losses[-w:]) / w


def release_folder(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """A local output root means its latest release; a release folder or a URI is taken as it is."""
    if "://" in os.fspath(path) or (Path(path) / "release.json").exists():
        return path
    from omnicorpus.manifests.release import open_release

    return open_release(path).path


@dataclass
class Cadence:
    """When a loop evaluates and checkpoints: every `eval_every` and `checkpoint_every` steps and at the last
    step, and at the end once more for what the last step did not do. `results` are the latest evaluations,
    `checkpoint` the latest checkpoint (the one resumed from until a new one is written)."""

    recipe: Recipe
    stop: int
    evaluate: Callable[[int], dict[str, Any]]
    save: Callable[[int], Path | None]
    checkpoint: Path | None = None
    last_save: int = -1
    results: dict[str, Any] = field(default_factory=dict)
    last_eval: int = -1

    def after(self, step: int) -> None:
        if step % self.recipe.eval_every == 0 or step == self.stop:
            self.results, self.last_eval = self.evaluate(step), step
        if step % self.recipe.checkpoint_every == 0 or step == self.stop:
            self.checkpoint, self.last_save = self.save(step) or self.checkpoint, step

    def finish(self, step: int, untrained: dict[str, Any]) -> dict[str, Any]:
        """The evaluations at `step` (the untrained model's when no step ran), after the last checkpoint."""
        if self.last_eval != step:
            self.results = self.evaluate(step)
        if self.last_save != step:
            self.checkpoint = self.save(step) or self.checkpoint
        return self.results or untrained


def finish_rank(out: Path, rank: int, world: int, step: int, steps_run: int, loader: Any
                ) -> tuple[float | None, float | None]:
    """Write what this rank did (ranks/rank-R.json); (first, last) mean training loss (rank 0, else None)."""
    (out / "ranks" / f"rank-{rank}.json").write_text(json.dumps(
        {"rank": rank, "world_size": world, "step": step, "steps_run": steps_run, "batches": loader.step,
         "epoch": loader.epoch}))
    _, first, last = loss_window(out) if rank == 0 else ([], None, None)
    return first, last


def update(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, grad_clip: float) -> float:
    """One optimizer update from the accumulated gradients: clip (0: off), step, zero, advance the schedule;
    returns the gradient norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0 else math.inf)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    return float(norm)
