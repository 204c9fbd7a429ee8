"""Starting an encoder from a pre-trained checkpoint (`--init-encoder CKPT`, recipe field `init_encoder`).

Taken: a checkpoint of this trainer, SSL (model.pretrain: `Wav2Vec2SSL`, the encoder under `encoder.`) or
CTC (`CTCModel`, the same prefix); a bare state dict of either; or a fairseq2 / Omnilingual ASR wav2vec 2.0
checkpoint, whose names model.convert maps onto ours. Every encoder tensor must be there with its shape
(a checkpoint of another configuration is refused, not half loaded); the pre-training heads, a CTC head or
a decoder beside it are left out and counted in the report.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from omnicorpus.model.wav2vec2 import Wav2Vec2Encoder

PREFIX = "encoder."


def _state_of(checkpoint: Any) -> dict[str, Tensor]:
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError("not a checkpoint: no state dict of tensors (alone or under 'model')")
    return state


def load_encoder(encoder: Wav2Vec2Encoder, source: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """Load the encoder weights of `source` (a path or an already loaded checkpoint) into `encoder`; returns
    what was loaded: {"init_encoder", "format", "tensors", "left_out"}."""
    checkpoint = source if isinstance(source, dict) else torch.load(source, map_location="cpu", weights_only=True)
    state = _state_of(checkpoint)
    name = "<state dict>" if isinstance(source, dict) else os.fspath(source)
    if not any(k.startswith(PREFIX) for k in state) or any(k.startswith("encoder_frontend.") for k in state):
        from omnicorpus.model.convert import load_fairseq2_encoder

        report = load_fairseq2_encoder(encoder, state)
        return {"init_encoder": name, "format": "fairseq2", "tensors": len(report.mapped),
                "left_out": len(report.ignored), "kept": report.kept, "filled": report.filled}
    ours = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(set(ours) - set(expected))
    wrong = sorted(k for k in set(expected) & set(ours) if expected[k].shape != ours[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{name}: not an encoder of this configuration: missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}, shapes differ for {wrong[:5]}")
    encoder.load_state_dict(ours)
    objective = checkpoint.get("objective", "ctc") if isinstance(checkpoint, dict) else "ctc"
    return {"init_encoder": name, "format": f"omnicorpus-{objective}", "tensors": len(ours),
            "left_out": sum(not k.startswith(PREFIX) for k in state)}
