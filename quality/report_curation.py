"""The report's sections on what curation did: what each source listed and what became of it, the rejects,
the agreement of language identification with the declared languages, and the community partners' rows."""

from __future__ import annotations

from collections import Counter

import polars as pl

from omnicorpus.manifests.accounting import source_accounts
from omnicorpus.manifests.schema import item_meta
from omnicorpus.quality.charts import PALETTE, hbar_chart
from omnicorpus.quality.formatting import escape, is_missing, shorten
from omnicorpus.quality.page import Col, Html, meter, sortable_table
from omnicorpus.quality.report_data import ReportData, language_label

LID_WARN = 0.8  # agreement below this is flagged
DISAGREEMENTS = 25  # LID disagreements shown as examples


def sources_section(data: ReportData) -> str:
    accounts = source_accounts(data.release)
    if not accounts:
        return '<p class="muted">The release records no sources.</p>'
    for a in accounts:
        if not a.contributes:
            listed = "" if a.listed is None else f" ({a.listed:,} items listed)"
            data.notes.append(f"Source <code>{escape(a.name)}</code> contributes nothing to this release{listed}: "
                              "see its rejects below.")
        if a.ignored:
            data.notes.append(f"Source <code>{escape(a.name)}</code>: {a.ignored:,} file(s) of its tree were neither "
                              f"audio nor a manifest it reads, e.g. {escape(', '.join(a.ignored_examples))}.")
    cols = [Col("Source"), Col("Layout"), Col("Listed", "int", "items the source's listing gave"),
            Col("With utterances", "int", "items of which at least one utterance is in the release"),
            Col("Rejected whole", "int", "items none of whose audio reached the release"),
            Col("Utterances", "int"), Col("Hours", "hours"),
            Col("Rejects by reason", tip="reject rows (items or segments) per reason"),
            Col("Ignored files", "int", "files of the source tree that are no item")]
    rows = [(a.name, a.layout or "", a.listed, a.items_kept, a.items_rejected,
             a.utterances, a.hours, ", ".join(f"{r} {n:,}" for r, n in sorted(a.rejects.items())), a.ignored)
            for a in accounts]
    return ("<p>What each configured source listed and what became of it: nothing leaves the flow unaccounted "
            f"for.</p>{sortable_table(cols, rows, tid='sources-table')}")


def community_section(data: ReportData) -> str:
    utterances = data.utterances  # a release from before community intake has no partner column: none of them
    u = utterances.filter(pl.col("partner").is_not_null()) if "partner" in utterances.columns else utterances.clear()
    rej = data.rejects.with_columns(
        pl.col("meta").map_elements(lambda m: item_meta(m).get("partner"),
                                    return_dtype=pl.String).alias("partner"))
    rej = rej.filter(pl.col("partner").is_not_null())
    if u.is_empty() and rej.is_empty():
        return "<p>No community-sourced recordings in this release.</p>"
    released = (u.group_by("partner", "lang")
                .agg(pl.len().alias("utterances"), (pl.col("seconds").sum() / 3600).alias("hours"),
                     pl.col("speaker").drop_nulls().n_unique().alias("speakers")))
    held = (rej.group_by("partner", "reason")
            .agg(pl.len().alias("n"), (pl.col("seconds").fill_null(0).sum() / 3600).alias("hours")))

    def held_for(partner: str, reason: str) -> tuple[int, float]:
        row = held.filter((pl.col("partner") == partner) & (pl.col("reason") == reason))
        return (int(row["n"][0]), float(row["hours"][0])) if row.height else (0, 0.0)

    rows = [(r["partner"], r["lang"], language_label(r["lang"]), r["utterances"], r["hours"], r["speakers"])
            for r in released.sort("partner", "lang").iter_rows(named=True)]
    cols = [Col("Partner"), Col("Language", "code"), Col("Name"), Col("Utterances", "int"),
            Col("Hours", "hours"), Col("Speakers", "int")]
    partners = sorted(set(released["partner"].to_list()) | set(rej["partner"].to_list()))
    summary = []
    for partner in partners:
        withdrawn, w_hours = held_for(partner, "withdrawn")
        no_consent, _ = held_for(partner, "no_consent")
        other = int(rej.filter((pl.col("partner") == partner)
                               & ~pl.col("reason").is_in(["withdrawn", "no_consent"])).height)
        got = released.filter(pl.col("partner") == partner)
        summary.append((partner, int(got["utterances"].sum()), float(got["hours"].sum()), withdrawn, w_hours,
                        no_consent, other))
    scols = [Col("Partner"), Col("Released utterances", "int"), Col("Released hours", "hours"),
             Col("Withdrawn", "int", "segments left out because the partner withdrew them"),
             Col("Withdrawn hours", "hours"), Col("Without consent", "int", "rows that never reach a shard"),
             Col("Other rejects", "int")]
    return ("<p>Recordings contributed by community partners, by partner and language. Withdrawn recordings "
            "and rows without consent never reach a shard of this release.</p>"
            f"{sortable_table(scols, summary, tid='partners-table')}<h3>By partner and language</h3>"
            f"{sortable_table(cols, rows, tid='community-table')}")


def rejects_section(data: ReportData) -> str:
    r = data.rejects
    if r.is_empty():
        return '<p class="ok">No rejects: every listed item reached the release.</p>'
    r = r.sort("stage", "reason", "key")
    g = (r.group_by("stage", "reason")
         .agg(pl.len().alias("n"), pl.col("seconds").is_not_null().sum().alias("timed"),
              (pl.col("seconds").sum() / 3600).alias("hours"),
              pl.struct("key", "source_uri", "detail").head(3).alias("examples"))
         .sort(["n", "stage", "reason"], descending=[True, False, False]))
    rows = []
    for row in g.iter_rows(named=True):
        ex = "".join(
            f'<li><code>{escape(e["key"])}</code> <span class="src">{escape(shorten(e["source_uri"], 120))}</span>'
            f'<br>{escape(shorten(e["detail"], 240))}</li>' for e in row["examples"])
        hours = row["hours"] if row["timed"] else None
        rows.append((row["stage"], row["reason"], row["n"], hours,
                     Html(f'<ul class="examples">{ex}</ul>', None)))
    cols = [Col("Stage"), Col("Reason", "code"), Col("Count", "int"),
            Col("Hours", "hours", "hours, where the rejected item's duration is known"), Col("Examples")]
    foot = ("All", "", int(r.height), float(r["seconds"].sum() or 0) / 3600 if r["seconds"].drop_nulls().len()
            else None, Html("", None))
    stages = sorted(r["stage"].unique().to_list())
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(stages)}
    items = [(f"{s} · {reason}", "", [(s, float(n))])
             for s, reason, n in g.select("stage", "reason", "n").iter_rows()]
    chart = hbar_chart(items, colors, label="Rejects by stage and reason", fmt=lambda v: f"{int(v):,}",
                       unit="", label_width=260)
    return (f"<p>Every item that left the flow, with the stage that rejected it, the reason and up to three "
            f"examples. Hours count only rejects whose duration was known.</p>"
            f"{sortable_table(cols, rows, tid='rejects-table', foot=foot)}<h3>Rejects by stage and reason</h3>{chart}")


def lid_section(data: ReportData) -> str:
    lab = data.utterances.filter(pl.col("labelled") & pl.col("language").is_not_null())
    if lab.is_empty():
        return '<p class="muted">No labelled utterances.</p>'
    lab = lab.with_columns(
        (pl.col("lid_language").str.split("_").list.first()
         == pl.col("language").str.split("_").list.first()).alias("agree"))
    g = (lab.group_by("language")
         .agg(pl.len().alias("labelled"), pl.col("lid_language").is_not_null().sum().alias("predicted"),
              pl.col("agree").sum().alias("agree"), pl.col("lid_prob").mean().alias("prob"),
              pl.col("lid_language").filter(pl.col("agree").not_()).alias("others"))
         .sort("language"))
    rows, low = [], []
    for r in g.iter_rows(named=True):
        share = r["agree"] / r["predicted"] if r["predicted"] else None
        warn = share is not None and share < LID_WARN
        if warn:
            low.append(r["language"])
        others = sorted(Counter(x for x in r["others"] if x is not None).items(), key=lambda kv: (-kv[1], kv[0]))
        confusions = ", ".join(f"{lang} ×{c}" for lang, c in others[:3])
        rows.append((r["language"], language_label(r["language"]), r["labelled"], r["predicted"], r["agree"],
                     meter(share, warn), None if is_missing(r["prob"]) else float(r["prob"]),
                     r["labelled"] - r["predicted"], confusions or None))
    cols = [Col("Language", "code"), Col("Name"), Col("Labelled", "int", "utterances with a transcript"),
            Col("Predicted", "int", "labelled utterances with a LID prediction"),
            Col("Agree", "int", "predictions whose ISO 639-3 part equals the declared language's"),
            Col("Agreement", "pct", "agree / predicted"), Col("Mean prob", "prob", "mean lid_prob"),
            Col("No prediction", "int", "labelled utterances LID did not run on (short or unlabelled text)"),
            Col("Predicted instead", "text", "the most frequent other predictions")]
    predicted = int(g["predicted"].sum())
    agree = int(g["agree"].sum())
    overall = agree / predicted if predicted else None
    foot = ("All", "", int(g["labelled"].sum()), predicted, agree, meter(overall),
            None if lab["lid_prob"].drop_nulls().is_empty() else float(lab["lid_prob"].mean()),  # type: ignore[arg-type]
            int(g["labelled"].sum()) - predicted, None)
    if low:
        shown = ", ".join(f"<code>{escape(x)}</code>" for x in low[:12]) + (" …" if len(low) > 12 else "")
        data.notes.append(f"{len(low)} language{'s' if len(low) != 1 else ''} with LID agreement under "
                          f"{100 * LID_WARN:.0f} %: {shown}.")
    summary = (f"Overall {100 * overall:.1f} % of {predicted:,} predictions agree." if overall is not None
               else "No labelled utterance has a prediction.")
    out = (f"{data.sample_note}<p>Agreement of the fastText prediction stored with each labelled utterance with "
           f"its declared language (ISO 639-3 part only, so a script difference is not a disagreement). {summary} "
           f"Languages under {100 * LID_WARN:.0f} % are marked.</p>"
           + sortable_table(cols, rows, tid="lid-table", foot=foot))
    worst = (lab.filter(pl.col("agree").not_())
             .sort(["lid_prob", "key"], descending=[True, False], nulls_last=True).head(DISAGREEMENTS))
    if worst.height:
        n = int((lab["agree"].not_()).sum())
        ex_rows = [(r["key"], r["corpus"], r["language"], r["lid_language"], float(r["lid_prob"]),
                    shorten(r["text"], 200)) for r in worst.iter_rows(named=True)]
        ex_cols = [Col("Key", "code"), Col("Corpus"), Col("Declared", "code"), Col("Predicted", "code"),
                   Col("Prob", "prob"), Col("Transcript (normalized)")]
        shown = f"the {worst.height} most confident of {n:,}" if n > worst.height else f"all {n:,}"
        out += (f"<h3>Disagreements</h3><p>Labelled utterances whose prediction names another language "
                f"({shown}): read the transcript to tell a wrong label from a wrong prediction.</p>"
                + sortable_table(ex_cols, ex_rows, tid="lid-disagreements"))
    return out
