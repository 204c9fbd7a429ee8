"""wav2vec 2.0's self-supervised objective over `Wav2Vec2SSL` (Baevski et al. 2020, as fairseq computes it).

One step over a batch of waveforms (labelled or not):

1. the CNN front end runs once: latent frames z [B, T, 512] and their valid lengths; the feature penalty is
   the mean of z squared (before the LayerNorm);
2. span masking of the latent frames: about `mask_prob` of each utterance's valid frames are covered by
   spans of `mask_length` frames (starts drawn uniformly, spans may overlap, at least `min_spans` spans);
   the masked frames of the Transformer's input take the learned mask embedding; the mask is returned;
3. the targets are the *unmasked* LayerNorm'd latents at the masked frames, quantized by the product
   quantizer (`latent_groups` codebooks of `latent_vars` entries, Gumbel softmax with a straight-through
   hard choice at temperature tau, annealed from `tau_start` by `tau_decay` per update down to `tau_end`)
   and projected (`project_q`); the context vectors are the Transformer's outputs at the same frames
   projected by `final_proj`;
4. for each masked frame `num_negatives` distractors are drawn uniformly from the *other* masked frames of
   the same utterance (a distractor equal to the positive is masked out, as fairseq does); the logits are
   cosine similarities over `logit_temperature`, and the contrastive loss is the cross-entropy of picking
   the true quantized target (index 0);
5. the codebook diversity penalty: (G V - perplexity of the mean soft assignment per codebook, summed over
   codebooks) / (G V); with weight `diversity_weight`; the feature penalty with `feature_penalty_weight`.

The loss is per masked frame: contrastive mean + diversity_weight x diversity + feature_penalty_weight x
feature penalty (fairseq's sum over frames divided by the sample size). Reported with it: the contrastive
accuracy (the positive scored highest; chance is 1 / (1 + num_negatives)), the prob and code perplexities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from omnicorpus.model.wav2vec2 import Wav2Vec2SSL, time_mask


@dataclass(frozen=True)
class SSLObjective:
    """The pre-training objective's settings (wav2vec 2.0's defaults)."""

    mask_prob: float = 0.65
    mask_length: int = 10
    min_spans: int = 2
    num_negatives: int = 100
    logit_temperature: float = 0.1
    diversity_weight: float = 0.1
    feature_penalty_weight: float = 10.0
    tau_start: float = 2.0
    tau_end: float = 0.5
    tau_decay: float = 0.999995

    def tau(self, step: int) -> float:
        """The Gumbel softmax temperature for the update that makes step `step + 1`."""
        return max(self.tau_start * self.tau_decay ** step, self.tau_end)


@dataclass
class SSLOutput:
    loss: Tensor  # what to back-propagate (per masked frame)
    contrastive: Tensor
    diversity: Tensor
    feature_penalty: Tensor
    correct: int  # masked frames whose positive scored highest
    masked: int  # masked frames scored (utterances with at least two masked frames)
    prob_perplexity: float
    code_perplexity: float
    mask: Tensor  # [B, T] the frames masked

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.masked, 1)


def sample_negatives(utterance: Tensor, position: Tensor, counts: Tensor, starts: Tensor, k: int) -> Tensor:
    """Indices [N, k] into the flat masked frames: for each frame, k others of its own utterance, uniformly
    with replacement. `utterance`/`position`: each frame's utterance and its index among that utterance's
    masked frames; `counts`/`starts`: masked frames per utterance and where they start."""
    m = counts[utterance]
    r = (torch.rand(len(utterance), k, device=utterance.device) * (m - 1)[:, None]).long()
    r = r + (r >= position[:, None]).long()  # skip the frame itself: 0 .. m-1 without `position`
    return starts[utterance][:, None] + r


def ssl_forward(model: Wav2Vec2SSL, wave: Tensor, lengths: Tensor, objective: SSLObjective, tau: float,
                mask: Tensor | None = None) -> SSLOutput:
    """One forward pass of the objective (see the module doc); `mask` [B, T] to use given frames (tests)."""
    encoder = model.encoder
    features, frames = encoder.extract(wave, lengths)
    feature_penalty = features.float().pow(2).mean()
    normed = encoder.layer_norm(features)
    if mask is None:
        mask = time_mask((normed.shape[0], normed.shape[1]), frames, objective.mask_prob, objective.mask_length,
                         normed.device, min_spans=objective.min_spans)
    counts = mask.sum(1)
    usable = counts >= 2  # one masked frame has no distractor of its own utterance
    mask = mask & usable[:, None]
    counts = counts * usable
    context = encoder.encode(normed, frames, mask)
    x = model.final_proj(context[mask])  # [N, final_dim], utterance by utterance, frames in order
    quantized, stats = model.quantizer.quantize(normed[mask], tau)
    y = model.project_q(quantized)
    n = x.shape[0]
    if n == 0:  # nothing maskable in this batch (every utterance too short): only the penalties
        zero = x.sum() * 0.0 + y.sum() * 0.0
        return SSLOutput(zero + objective.feature_penalty_weight * feature_penalty, zero, zero, feature_penalty,
                         0, 0, float(stats["prob_perplexity"]), float(stats["code_perplexity"]), mask)
    utterance = torch.repeat_interleave(torch.arange(len(counts), device=x.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(n, device=x.device) - starts[utterance]
    negatives = sample_negatives(utterance, position, counts, starts, objective.num_negatives)
    candidates = torch.cat([y[:, None], y[negatives]], 1)  # [N, 1 + k, final_dim]
    logits = F.cosine_similarity(x.float()[:, None], candidates.float(), dim=-1) / objective.logit_temperature
    same = (y[negatives] == y[:, None]).all(-1)  # a distractor that is the positive's own code is no distractor
    logits[:, 1:] = logits[:, 1:].masked_fill(same, float("-inf"))
    target = torch.zeros(n, dtype=torch.long, device=x.device)
    contrastive = F.cross_entropy(logits, target)
    groups_vars = model.quantizer.groups * model.quantizer.num_vars
    diversity = (groups_vars - stats["prob_perplexity_t"]) / groups_vars
    loss = contrastive + objective.diversity_weight * diversity + objective.feature_penalty_weight * feature_penalty
    correct = int((logits.argmax(-1) == 0).sum())
    return SSLOutput(loss, contrastive.detach(), diversity.detach(), feature_penalty.detach(), correct, n,
                     float(stats["prob_perplexity"]), float(stats["code_perplexity"]), mask)


def perplexity(probs: Tensor) -> Tensor:
    """Sum over codebooks of exp(entropy) of the mean assignment: probs [N, groups, vars]."""
    mean = probs.float().mean(0)
    return torch.exp(-(mean * torch.log(mean + 1e-7)).sum(-1)).sum()


def chance_accuracy(objective: SSLObjective) -> float:
    return 1.0 / (1 + objective.num_negatives)


def max_perplexity(model: Wav2Vec2SSL) -> int:
    return model.quantizer.groups * model.quantizer.num_vars

