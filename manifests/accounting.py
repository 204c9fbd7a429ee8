"""Per-source accounting of a release: what each configured source listed, what became of it, and what the
listing ignored. What `omnicorpus run` prints after every run and the report's "Sources" section shows.

    accounts = source_accounts(release)
    [a.line() for a in accounts]   # "cv (common_voice): 12 items listed -> 11 with utterances, ..."
    [a for a in accounts if not a.contributes]

The listing side (items listed, files ignored) is recorded in release.json's `sources` when the release is
made; the outcome side (utterances, hours, rejects by reason) is counted from the release's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from omnicorpus.manifests.release import Release

#: A segment key is its item's id and "-NNNN" (manifests.keys.segment_id).
_SEGMENT_SUFFIX = r"-\d{4,}$"


@dataclass(frozen=True)
class SourceAccount:
    name: str
    layout: str | None
    listed: int | None  # items the source listed (None: the release does not record it)
    items_kept: int  # items with at least one utterance in the release
    items_rejected: int  # items none of whose audio reached the release
    utterances: int
    hours: float
    rejects: dict[str, int] = field(default_factory=dict)  # reason -> reject rows (items or segments)
    ignored: int = 0  # files of the source tree that are no item
    ignored_examples: tuple[str, ...] = ()

    @property
    def contributes(self) -> bool:
        return self.utterances > 0

    def line(self) -> str:
        """One line a user reads: listed, kept, rejected by reason, hours, ignored files."""
        layout = f" ({self.layout})" if self.layout else ""
        listed = "?" if self.listed is None else f"{self.listed:,}"
        parts = [f"{self.name}{layout}: {listed} items listed -> {self.items_kept:,} with utterances, "
                 f"{self.items_rejected:,} rejected whole; {self.utterances:,} utterances, {self.hours:.3f} h kept"]
        if self.rejects:
            parts.append("rejects: " + ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.rejects.items())))
        if self.ignored:
            parts.append(f"ignored: {self.ignored:,} file{'s' if self.ignored != 1 else ''}, e.g. "
                         + ", ".join(self.ignored_examples))
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layout": self.layout, "listed": self.listed, "items_kept": self.items_kept,
                "items_rejected": self.items_rejected, "utterances": self.utterances, "hours": self.hours,
                "rejects": self.rejects, "ignored": self.ignored, "ignored_examples": list(self.ignored_examples)}


def listed_sources(info: dict[str, Any]) -> list[dict[str, Any]]:
    """release.json's `sources`: dicts of name, layout, license, listed, ignored, ignored_examples (older releases
    hold a list of names only)."""
    return [s if isinstance(s, dict) else {"name": s} for s in info.get("sources") or []]


def source_accounts(release: Release) -> list[SourceAccount]:
    """One account per source the release records (and per corpus its tables hold that it does not)."""
    utts = pl.DataFrame(release.table("utterances").select(["key", "corpus", "seconds"]))
    rejects = pl.DataFrame(release.table("rejects").select(["key", "corpus", "reason"]))
    item = pl.col("key").str.replace(_SEGMENT_SUFFIX, "")
    kept_items = utts.with_columns(item.alias("item")).group_by("corpus").agg(
        pl.col("item").n_unique().alias("items"), pl.len().alias("utterances"),
        (pl.col("seconds").sum() / 3600).alias("hours"))
    kept = {r["corpus"]: r for r in kept_items.iter_rows(named=True)}
    kept_ids = set(utts.with_columns(item.alias("item"))["item"].to_list())
    rejected_items = rejects.with_columns(item.alias("item")).filter(~pl.col("item").is_in(list(kept_ids)))
    whole = dict(rejected_items.group_by("corpus").agg(pl.col("item").n_unique()).iter_rows())
    by_reason: dict[str, dict[str, int]] = {}
    for corpus, reason, n in rejects.group_by("corpus", "reason").len().iter_rows():
        by_reason.setdefault(corpus, {})[reason] = n
    sources = listed_sources(release.info)
    names = [s["name"] for s in sources]
    names += sorted((set(kept) | set(by_reason)) - set(names))
    recorded = {s["name"]: s for s in sources}
    accounts = []
    for name in names:
        src, got = recorded.get(name, {}), kept.get(name, {})
        accounts.append(SourceAccount(
            name=name, layout=src.get("layout"), listed=src.get("listed"), items_kept=int(got.get("items", 0)),
            items_rejected=int(whole.get(name, 0)), utterances=int(got.get("utterances", 0)),
            hours=float(got.get("hours", 0.0)), rejects=by_reason.get(name, {}), ignored=int(src.get("ignored", 0)),
            ignored_examples=tuple(src.get("ignored_examples", ()))))
    return accounts
