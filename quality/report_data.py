"""What the report's sections read: a release's manifests loaded once, its bounds, and the notes the sections
leave for the overview ("Things to look at")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pycountry

from omnicorpus.manifests import storage
from omnicorpus.manifests.config import FilterParams
from omnicorpus.manifests.languages import language_name
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE, UTTERANCES
from omnicorpus.manifests.tables import conform
from omnicorpus.model.sampling import Betas
from omnicorpus.quality.charts import PALETTE
from omnicorpus.quality.scale import UtteranceScope, read_utterances, utterance_scope

#: The paper's bounds (the config's defaults), used when a release's params do not name its own.
MAX_SECONDS = FilterParams.max_seconds
MIN_SAMPLES_PER_CHAR = FilterParams.min_samples_per_char

#: Label of utterances without a language (unlabelled audio nobody identified); the sampler's too.
UND = "und"


def as_frame(table: Any) -> pl.DataFrame:
    """A manifest table (Arrow) as a polars DataFrame."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def language_label(code: str | None) -> str:
    """The language's name with its script, as a table's Name column shows it ('' for a code in no table)."""
    if code is None or code == UND:
        return "undetermined"
    try:
        return language_name(code)
    except Exception:  # a code in no table still gets its row
        return ""


def language_short_name(code: str | None) -> str:
    """The language's name without its script (the code shows that): 'Hindi' for hin_Deva."""
    if code is None or code == UND:
        return "undetermined"
    entry = pycountry.languages.get(alpha_3=code.split("_")[0])
    return entry.name if entry else ""


@dataclass
class ReportData:
    """One release as the sections see it.

    `utterances` has `language` null where nobody identified it (`und` in the manifest), `lang` the same with
    `und` filled in (for grouping), and `labelled` (the utterance has a transcript). `summary` (hours,
    utterances, shards, speakers per language, corpus and split; `language` and `lang` as in `utterances`) is
    what totals are taken from; for a release of the paper's size `utterances` holds those of a sample of
    shards (`scope`, quality.scale) and the sections drawn from them say so (`sample_note`).
    """

    release: Release
    betas: list[Betas]
    verdict: dict | None
    utterances: pl.DataFrame
    summary: pl.DataFrame
    scope: UtteranceScope
    rejects: pl.DataFrame
    max_seconds: float  # the filter's bound on an utterance's duration
    max_rate: float  # the filter's bound on characters per second
    corpus_colors: dict[str, str]  # every corpus, largest first, with its colour in the charts
    notes: list[str] = field(default_factory=list)  # things to look at, shown in the overview

    @property
    def info(self) -> dict[str, Any]:
        return self.release.info

    @property
    def sample_note(self) -> str:
        """A line for the sections drawn from utterances, when those are a sample ('' when they are all)."""
        if not self.scope.sampled:
            return ""
        return f'<p class="muted">Drawn from {self.scope.describe()} (the totals elsewhere are the release\'s).</p>'


def _with_lang(frame: pl.DataFrame) -> pl.DataFrame:
    """`language` null where it is `und` (as null was), `lang` with `und` filled in."""
    frame = frame.with_columns(pl.when(pl.col("language") == UND).then(None).otherwise(pl.col("language"))
                               .alias("language"))
    return frame.with_columns(pl.col("language").fill_null(UND).alias("lang"))


def load_report_data(release: Release, betas: Sequence[Betas], verdict: dict | None) -> ReportData:
    scope = utterance_scope(release.info, release.table("shards").select(["path", "sha256"]))
    table = release.table("utterances") if not scope.sampled else conform(
        read_utterances(storage.join(release.uri, "utterances.parquet"), scope), UTTERANCES)
    utterances = _with_lang(as_frame(table)).with_columns(
        (pl.col("text").is_not_null() & (pl.col("text").str.len_chars() > 0)).alias("labelled"))
    summary = _with_lang(as_frame(release.table("summary")))
    params = release.info.get("params") or {}
    filt = params.get("filter") or {}
    corpora = (summary.group_by("corpus").agg(pl.col("hours").sum())
               .sort(["hours", "corpus"], descending=[True, False]))
    return ReportData(
        release=release, betas=list(betas), verdict=verdict, utterances=utterances, summary=summary, scope=scope,
        rejects=as_frame(release.table("rejects")),
        max_seconds=float(filt.get("max_seconds") or MAX_SECONDS),
        max_rate=SAMPLE_RATE / float(filt.get("min_samples_per_char") or MIN_SAMPLES_PER_CHAR),
        corpus_colors={c: PALETTE[i % len(PALETTE)] for i, c in enumerate(corpora["corpus"].to_list())},
    )
