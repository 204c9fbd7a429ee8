"""Two-level beta sampling over a release (corpus, then language, counted in hours), training split only.

    w_corpus(c)   = (H_c / H) ** beta_corpus,         normalised over corpora
    w_lang(l | c) = (H_cl / H_c) ** beta_language,    normalised over the languages of corpus c
    p(c, l)       = w_corpus(c) * w_lang(l | c)

beta = 1 keeps natural proportions, beta = 0 is uniform. Whole utterances are drawn, so drawing partition
(c, l) with probability p would give it p * mean_seconds(c, l) of the hours: `draw_probability` divides by
the mean utterance length (and renormalises) so that realised hours follow p. The sampler reads only the
release's manifests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

KEYS = ["corpus", "language"]


@dataclass(frozen=True)
class Betas:
    corpus: float = 0.5
    language: float = 0.5

    def __post_init__(self) -> None:
        for name, value in (("beta_corpus", self.corpus), ("beta_language", self.language)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")


def beta_weights(partitions: pl.DataFrame, betas: Betas) -> pl.DataFrame:
    """Add `corpus_weight`, `language_weight` and `weight` (= p(c, l)) to a frame of corpus, language, hours."""
    df = partitions.filter(pl.col("hours") > 0)
    total = df["hours"].sum()
    corpus_hours = df.group_by("corpus").agg(pl.col("hours").sum().alias("corpus_hours"))
    corpus_hours = corpus_hours.with_columns(((pl.col("corpus_hours") / total) ** betas.corpus).alias("w"))
    corpus_hours = corpus_hours.with_columns((pl.col("w") / pl.col("w").sum()).alias("corpus_weight"))
    df = df.join(corpus_hours.select("corpus", "corpus_hours", "corpus_weight"), on="corpus")
    df = df.with_columns(((pl.col("hours") / pl.col("corpus_hours")) ** betas.language).alias("w"))
    df = df.with_columns((pl.col("w") / pl.col("w").sum().over("corpus")).alias("language_weight"))
    df = df.with_columns((pl.col("corpus_weight") * pl.col("language_weight")).alias("weight"))
    return df.drop("w", "corpus_hours").sort(KEYS)


def sampling_plan(utterances: pl.DataFrame, betas: Betas, split: str = "train") -> pl.DataFrame:
    """Per (corpus, language) of `split`: hours, utterances, mean seconds, the weights, the corrected
    per-draw probability, and the hours one epoch (as many hours as the split holds) would see."""
    parts = (utterances.filter(pl.col("split") == split)
             .with_columns(pl.col("language").fill_null("und"))
             .group_by(KEYS)
             .agg((pl.col("seconds").sum() / 3600).alias("hours"), pl.len().alias("utterances"),
                  pl.col("seconds").mean().alias("mean_seconds")))
    return _plan(parts, betas, split)


def summary_plan(summary: pl.DataFrame, betas: Betas, split: str = "train") -> pl.DataFrame:
    """The same plan from a release's summary (hours and utterances per language, corpus and split): what a
    release of any size is planned from, in the time it takes to read a few thousand rows."""
    parts = (summary.filter(pl.col("split") == split)
             .with_columns(pl.col("language").fill_null("und"))
             .group_by(KEYS)
             .agg(pl.col("hours").sum(), pl.col("utterances").sum())
             .with_columns((pl.col("hours") * 3600 / pl.col("utterances")).alias("mean_seconds")))
    return _plan(parts, betas, split)


def _plan(parts: pl.DataFrame, betas: Betas, split: str) -> pl.DataFrame:
    if parts.is_empty():
        raise ValueError(f"no {split} utterances to sample from")
    plan = beta_weights(parts, betas)
    plan = plan.with_columns((pl.col("weight") / pl.col("mean_seconds")).alias("draw_probability"))
    plan = plan.with_columns(pl.col("draw_probability") / pl.col("draw_probability").sum())
    total = plan["hours"].sum()
    return plan.with_columns((pl.col("weight") * total).alias("epoch_hours"),
                             (pl.col("weight") * total / pl.col("hours")).alias("upsampling"))


def plan_for_release(release_dir: str | os.PathLike[str], betas: Betas, split: str = "train") -> pl.DataFrame:
    """The plan of a release folder, from its summary manifest (never its utterances nor its shards)."""
    summary = pl.read_parquet(Path(release_dir) / "summary.parquet",
                              columns=["corpus", "language", "split", "hours", "utterances"])
    return summary_plan(summary, betas, split)


def draw_partitions(plan: pl.DataFrame, n: int, rng: np.random.Generator, corrected: bool = True) -> np.ndarray:
    """Indices into `plan` of n partition draws (each draw then takes one whole utterance)."""
    p = plan["draw_probability" if corrected else "weight"].to_numpy()
    return rng.choice(len(p), size=n, p=p / p.sum())
