"""The two-level beta sampler: the formula of the paper, its limits, and the length correction."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from omnicorpus.model.sampling import Betas, beta_weights, draw_partitions, sampling_plan, summary_plan

HOURS = pl.DataFrame({
    "corpus": ["cv", "cv", "cv", "fleurs", "fleurs"],
    "language": ["eng_Latn", "swh_Latn", "yor_Latn", "eng_Latn", "yor_Latn"],
    "hours": [900.0, 90.0, 10.0, 9.0, 1.0],
})


def _weights(bc: float, bl: float) -> dict[tuple[str, str], float]:
    df = beta_weights(HOURS, Betas(bc, bl))
    return {(c, lang): w for c, lang, w in df.select("corpus", "language", "weight").iter_rows()}


def test_beta_one_keeps_natural_proportions():
    total = HOURS["hours"].sum()
    for (c, lang), w in _weights(1.0, 1.0).items():
        h = HOURS.filter((pl.col("corpus") == c) & (pl.col("language") == lang))["hours"][0]
        assert w == pytest.approx(h / total)


def test_beta_zero_is_uniform_over_corpora_then_languages():
    w = _weights(0.0, 0.0)
    assert w[("cv", "eng_Latn")] == pytest.approx(1 / 2 * 1 / 3)
    assert w[("fleurs", "yor_Latn")] == pytest.approx(1 / 2 * 1 / 2)


def test_half_and_half_by_hand():
    # corpora: cv 1000 h, fleurs 10 h of 1010
    wc = np.array([(1000 / 1010) ** 0.5, (10 / 1010) ** 0.5])
    wc /= wc.sum()
    wl_cv = np.array([0.9, 0.09, 0.01]) ** 0.5
    wl_cv /= wl_cv.sum()
    w = _weights(0.5, 0.5)
    assert w[("cv", "swh_Latn")] == pytest.approx(wc[0] * wl_cv[1])
    assert sum(w.values()) == pytest.approx(1.0)
    assert w[("fleurs", "yor_Latn")] > 1 / 1010, "low-resource partitions are upsampled"


def test_betas_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match="beta_corpus"):
        Betas(1.5, 0.5)


def _utterances() -> pl.DataFrame:
    """Partitions whose mean utterance lengths differ tenfold."""
    rows = []
    for corpus, lang, n, seconds in (("cv", "eng_Latn", 3000, 3.0), ("cv", "yor_Latn", 300, 30.0),
                                     ("fleurs", "eng_Latn", 600, 10.0)):
        rows += [{"corpus": corpus, "language": lang, "split": "train", "seconds": seconds}] * n
    rows += [{"corpus": "cv", "language": "eng_Latn", "split": "dev", "seconds": 5.0}] * 50
    return pl.DataFrame(rows)


def test_plan_counts_training_hours_only_and_projects_an_epoch():
    plan = sampling_plan(_utterances(), Betas(0.5, 0.5))
    assert plan["hours"].sum() == pytest.approx((3000 * 3 + 300 * 30 + 600 * 10) / 3600)
    assert plan["epoch_hours"].sum() == pytest.approx(plan["hours"].sum())
    assert plan["weight"].sum() == pytest.approx(1.0) and plan["draw_probability"].sum() == pytest.approx(1.0)


def test_the_correction_makes_realised_hours_follow_the_weights():
    plan = sampling_plan(_utterances(), Betas(0.5, 0.5))
    mean = plan["mean_seconds"].to_numpy()
    weight = plan["weight"].to_numpy()
    rng = np.random.default_rng(0)

    def realised(corrected: bool) -> np.ndarray:
        draws = draw_partitions(plan, 200_000, rng, corrected=corrected)
        hours = np.bincount(draws, weights=mean[draws], minlength=len(plan))
        return hours / hours.sum()

    assert np.allclose(realised(True), weight, atol=0.01), "corrected draws realise the weights"
    assert not np.allclose(realised(False), weight, atol=0.05), "uncorrected draws favour long utterances"


def test_the_plan_from_a_summary_is_the_plan_from_its_utterances():
    utts = _utterances()
    summary = (utts.group_by("language", "corpus", "split")
               .agg((pl.col("seconds").sum() / 3600).alias("hours"), pl.len().alias("utterances")))
    for betas in (Betas(0.5, 0.5), Betas(0.0, 1.0)):
        by_rows, by_summary = sampling_plan(utts, betas), summary_plan(summary, betas)
        assert by_rows["corpus"].to_list() == by_summary["corpus"].to_list()
        assert by_rows["language"].to_list() == by_summary["language"].to_list()
        for col in ("hours", "utterances", "mean_seconds", "weight", "draw_probability", "epoch_hours"):
            assert by_summary[col].to_list() == pytest.approx(by_rows[col].to_list(), rel=1e-12), col
