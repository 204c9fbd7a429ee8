"""CTC model (wav2vec 2.0 encoder + dropout + linear over the character vocabulary), greedy decoding,
and character / word error rates per language.

CER is the character edit distance over the reference's characters, spaces included (both strings have
their whitespace collapsed to single spaces); WER is the same over whitespace-separated words. Overall
figures are micro averages (total edits / total reference units over all utterances); the per-language
figures are the same within each language, and `cer_macro` is their unweighted mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnicorpus.model.vocab import Vocab
from omnicorpus.model.wav2vec2 import Wav2Vec2Config, Wav2Vec2Encoder


class CTCModel(nn.Module):
    def __init__(self, encoder: Wav2Vec2Config, vocab_size: int, final_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = Wav2Vec2Encoder(encoder)
        self.final_dropout = nn.Dropout(final_dropout)
        self.proj = nn.Linear(encoder.dim, vocab_size)

    def forward(self, audio: Tensor, audio_lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(logits [B, frames, vocab], frame lengths [B])."""
        x, lengths = self.encoder(audio, audio_lengths)
        return self.proj(self.final_dropout(x)), lengths


def ctc_loss(logits: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
    """Summed CTC loss of a batch (float32; impossible alignments count zero). Divide by the number of
    target tokens for a per-token loss."""
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)
    return F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=0, reduction="sum", zero_infinity=True)


def unalignable(lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
    """Boolean [B]: utterances whose targets need more frames than they have (each label a frame, and a
    blank between two equal labels): CTC cannot align them, and their loss counts zero."""
    positions = torch.arange(targets.shape[1], device=targets.device)[None]
    valid = positions[:, 1:] < target_lengths[:, None]
    repeats = ((targets[:, 1:] == targets[:, :-1]) & valid).sum(1)
    return lengths < target_lengths + repeats


def greedy_decode(logits: Tensor, lengths: Tensor, vocab: Vocab) -> list[str]:
    """Best path: argmax per frame, repeats merged, blanks dropped."""
    best = logits.argmax(-1).cpu()
    out = []
    for row, n in zip(best, lengths.cpu().tolist(), strict=True):
        ids = torch.unique_consecutive(row[: int(n)])
        out.append(vocab.decode(ids.tolist()))
    return out


def edit_distance(ref: Sequence[Any], hyp: Sequence[Any]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@dataclass
class ErrorCounter:
    """Edit counts per language: [char edits, ref chars, word edits, ref words, utterances, empty hypotheses]."""

    languages: list[str]
    counts: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.languages = sorted(self.languages)
        self.position = {lang: i for i, lang in enumerate(self.languages)}
        self.counts = torch.zeros(len(self.languages), 6, dtype=torch.float64)

    def add(self, language: str, reference: str, hypothesis: str) -> None:
        ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
        row = self.counts[self.position[language]]
        row += torch.tensor([edit_distance(ref, hyp), len(ref), edit_distance(ref.split(), hyp.split()),
                             len(ref.split()), 1, not hyp], dtype=torch.float64)

    def all_reduce(self, device: torch.device | str = "cpu") -> None:
        """Sum the counts over the ranks of torch.distributed (when it is initialised); `device` is where
        the backend reduces (a CUDA device for nccl)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            counts = self.counts.to(device)
            torch.distributed.all_reduce(counts)
            self.counts = counts.cpu()

    def result(self) -> dict[str, Any]:
        c = self.counts
        per_language = {}
        for lang, (ce, cn, we, wn, n, empty) in zip(self.languages, c.tolist(), strict=True):
            if n:
                per_language[lang] = {"cer": ce / max(cn, 1), "wer": we / max(wn, 1), "utterances": int(n),
                                      "empty_hypotheses": int(empty)}
        total = c.sum(0).tolist()
        cers = [v["cer"] for v in per_language.values()]
        return {"cer": total[0] / max(total[1], 1), "wer": total[2] / max(total[3], 1),
                "cer_macro": sum(cers) / max(len(cers), 1), "utterances": int(total[4]),
                "empty_hypotheses": int(total[5]), "output": output_kind(int(total[5]), int(total[4])),
                "per_language": per_language}


def output_kind(empty: int, utterances: int) -> str:
    """What a model's hypotheses are, said plainly: an all-blank model is not one that learned a little."""
    if not utterances:
        return "nothing evaluated"
    if empty == utterances:
        return "all blank: every hypothesis is empty"
    return f"{empty} of {utterances} hypotheses empty" if empty else "text for every utterance"
