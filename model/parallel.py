"""FSDP for the trainers (recipe `parallel="fsdp"` under torchrun), and the state dicts and evaluation that
look the same whether a model is sharded or not.

FSDP2 (`torch.distributed.fsdp.fully_shard`, which runs on CPU with gloo as well as on CUDA with nccl):
every Transformer layer of the encoder and of the LLaMA decoder is a group of its own, all-gathered for its
forward and again for its backward, then freed; the root group (front end, projections, embeddings, heads)
stays gathered from forward to backward. Parameters, gradients and AdamW moments are sharded over the ranks
(about 16 bytes per parameter / world size, plus the layers in flight), where DDP keeps all of them on every
rank. The parameters stay fp32; the recipe's bf16 autocast runs the matrix products as under DDP.

Checkpoints keep the single-file format of DDP and single-process runs: full (unsharded) model and optimizer
state dicts gathered to rank 0, the optimizer's keyed by parameter number as `Optimizer.state_dict` keys
them, so that resume at any world size or parallelism, `omnicorpus transcribe` and encoder init read them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard, register_fsdp_forward_method

from omnicorpus.model.llama import DecoderLayer
from omnicorpus.model.llm_asr import LLMASRModel
from omnicorpus.model.wav2vec2 import TransformerLayer, Wav2Vec2Encoder


def shard(model: nn.Module, device: torch.device, world: int) -> None:
    """Shard `model` in place over all `world` ranks: each Transformer layer, then the root. Before the
    optimizer is built: sharding replaces the parameters with DTensors."""
    mesh = init_device_mesh(device.type, (world,))
    for layer in [m for m in model.modules() if isinstance(m, TransformerLayer | DecoderLayer)]:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    if isinstance(model, LLMASRModel):
        # evaluation decodes through transcribe, not forward: without this its first call would reach a
        # layer before the root, and FSDP's lazy initialisation must start at the root
        register_fsdp_forward_method(model, "transcribe")


def share_layer_skips(model: nn.Module, seed: int, step: int, micro: int) -> None:
    """Before a sharded micro-step: layerdrop's draws from a generator seeded alike on every rank. FSDP
    all-gathers a layer only on the ranks that run it, so ranks skipping different layers would wait on
    each other's collectives forever; seeded by (seed, step, micro-step) the skips replay after a resume."""
    for encoder in model.modules():
        if isinstance(encoder, Wav2Vec2Encoder) and encoder.cfg.layerdrop > 0:
            if encoder.layerdrop_rng is None:
                encoder.layerdrop_rng = torch.Generator()
            encoder.layerdrop_rng.manual_seed(hash((seed, step, micro)) & 0x7FFF_FFFF_FFFF_FFFF)


def is_sharded(module: nn.Module) -> bool:
    return any(isinstance(m, FSDPModule) for m in module.modules())


def accumulating(net: nn.Module) -> contextlib.AbstractContextManager[Any]:
    """A micro-step whose gradients are only accumulated: DDP's no_sync; FSDP skips the reduce-scatter and
    keeps the unsharded gradients until the last micro-step (the memory of one full gradient, for
    `grad_accum` times less communication)."""
    if isinstance(net, FSDPModule):
        return _without_gradient_sync(net)
    return net.no_sync()  # type: ignore[operator, no-any-return]


@contextlib.contextmanager
def _without_gradient_sync(net: FSDPModule) -> Iterator[None]:
    net.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        net.set_requires_gradient_sync(True)


@contextlib.contextmanager
def gathered(model: nn.Module) -> Iterator[None]:
    """Evaluation on whole parameters: every FSDP group all-gathered once and kept until the end, so that
    forwards issue no collectives. Ranks evaluate different utterances: they may run different numbers of
    batches (rank r of R takes utterances r, r + R, ...) and of decoding steps (LLM-ASR stops at </s>), which
    per-layer all-gathers would deadlock on. Costs the memory of the full model for the evaluation's
    duration, as DDP always does. Without FSDP: nothing."""
    groups = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for group in groups:
        group.unshard()
        group.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        for group in groups:
            # FSDP's own default: the root stays gathered from forward to backward, the layers do not
            group.set_reshard_after_forward(group is not model, recurse=False)
            group.reshard()


_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_state_dicts(module: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model, optimizer) state dicts as `module.state_dict()` and `optimizer.state_dict()` give them
    unsharded. Sharded: a collective (every rank calls it), the tensors gathered to rank 0's CPU (the other
    ranks get empty dicts). `module` may be a submodule of the sharded root holding all of the optimizer's
    parameters (the SSL task's model)."""
    if not is_sharded(module):
        return module.state_dict(), optimizer.state_dict()
    if not optimizer.state:  # no step yet: get_state_dict would create the state by a zero-lr step
        return get_model_state_dict(module, options=_FULL), optimizer.state_dict()
    model_state, by_name = get_state_dict(module, optimizer, options=_FULL)
    optim_state: dict[str, Any] = by_name
    if not optim_state:
        return model_state, {}
    number = {name: i for i, name in enumerate(_parameter_names(module, optimizer))}
    return model_state, {
        "state": {number[name]: value for name, value in optim_state["state"].items()},
        "param_groups": [{**g, "params": [number[name] for name in g["params"]]}
                         for g in optim_state["param_groups"]]}


def load_state_dicts(module: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict[str, Any],
                     optim_state: dict[str, Any]) -> None:
    """Load what `full_state_dicts` gave (a checkpoint of any world size and parallelism). Sharded: a
    collective; every rank passes the full dicts and keeps its shards."""
    if not is_sharded(module):
        module.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        return
    if not optim_state["state"]:  # no tensors to shard (a step-0 checkpoint): the plain load maps the groups
        set_model_state_dict(module, model_state, options=StateDictOptions(full_state_dict=True))
        optimizer.load_state_dict(optim_state)
        return
    names = _parameter_names(module, optimizer)
    by_name: dict[str, Any] = {
        "state": {names[i]: value for i, value in optim_state["state"].items()},
        "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in optim_state["param_groups"]]}
    set_state_dict(module, optimizer, model_state_dict=model_state, optim_state_dict=by_name,
                   options=StateDictOptions(full_state_dict=True))
    # its flattening turns tuples (AdamW's betas) into lists, which the next checkpoint would keep
    for group, saved in zip(optimizer.param_groups, optim_state["param_groups"], strict=True):
        group.update((k, v) for k, v in saved.items() if k != "params")


def _parameter_names(module: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The optimizer's parameters in the order `Optimizer.state_dict` numbers them, by their names in
    `module` (the names get_state_dict keys the optimizer state by)."""
    name = {p: n for n, p in module.named_parameters()}
    return [name[p] for group in optimizer.param_groups for p in group["params"]]
