"""The report's sections on what a release holds: hours by language and corpus, the long tail of languages,
durations and speaking rate against the filter's bounds, and speakers."""

from __future__ import annotations

import numpy as np
import polars as pl

from omnicorpus.manifests.schema import SPLITS
from omnicorpus.quality.charts import hbar_chart, histogram_chart, log_bar_chart, nice_step
from omnicorpus.quality.formatting import escape, fmt_hours
from omnicorpus.quality.page import Col, meter, sortable_table
from omnicorpus.quality.report_data import ReportData, language_label, language_short_name


def hours_section(data: ReportData) -> str:
    u, summary = data.utterances, data.summary
    g = (summary.group_by("lang", "corpus")
         .agg(*[pl.col("hours").filter(pl.col("split") == s).sum().alias(s) for s in SPLITS],
              pl.col("hours").sum().alias("total"), pl.col("utterances").sum().alias("utterances"),
              pl.col("speakers").sum().alias("speakers"))
         .sort("lang", "corpus"))
    if not data.scope.sampled:  # distinct over the splits (the summary counts them per split)
        distinct = u.group_by("lang", "corpus").agg(pl.col("speaker").drop_nulls().n_unique().alias("distinct"))
        g = (g.join(distinct, on=["lang", "corpus"], how="left")
             .with_columns(pl.col("distinct").fill_null(0).alias("speakers")).drop("distinct"))
    cols = [Col("Language", "code"), Col("Name"), Col("Corpus"),
            *[Col(f"{s.capitalize()} h", "hours", f"hours in the {s} split") for s in SPLITS],
            Col("Total h", "hours"), Col("Utterances", "int"),
            Col("Speakers", "int", "distinct speaker pseudonyms (0: the corpus has no speaker ids)"
                + ("; summed over the splits" if data.scope.sampled else ""))]
    rows = [(r["lang"], language_label(r["lang"]), r["corpus"], *[r[s] for s in SPLITS], r["total"],
             r["utterances"], r["speakers"]) for r in g.iter_rows(named=True)]
    speakers = int(g["speakers"].sum()) if data.scope.sampled else int(u["speaker"].drop_nulls().n_unique())
    foot = ("All", "", f"{summary['corpus'].n_unique()} corpora",
            *[float(g[s].sum()) for s in SPLITS], float(g["total"].sum()), int(g["utterances"].sum()), speakers)
    und = summary.filter(pl.col("language").is_null())
    if und.height:
        und_hours = fmt_hours(float(und["hours"].sum()))
        data.notes.append(f"{int(und['utterances'].sum()):,} utterances ({und_hours} h) have no language "
                          "(<code>und</code>): unlabelled audio nobody identified.")
    by_lang = (g.group_by("lang").agg(pl.col("total").sum()).sort(["total", "lang"], descending=[True, False]))
    limit = 60
    items = []
    for lang, total in by_lang.iter_rows():
        segs = g.filter(pl.col("lang") == lang).select("corpus", "total")
        segs_map = dict(segs.iter_rows())
        name = language_short_name(lang)
        items.append((f"{lang} · {name}" if name else lang, f"{lang} ({fmt_hours(total)} h), ",
                      [(c, segs_map.get(c, 0.0)) for c in data.corpus_colors]))
    note = (f'<p class="muted">The {limit} languages with the most hours of {len(items)}; the long tail below '
            "shows them all.</p>" if len(items) > limit else "")
    chart = hbar_chart(items[:limit], data.corpus_colors, label="Hours per language, stacked by corpus",
                       label_width=230)
    return (f"<p>Hours of audio per language and corpus, by split. Click a column header to sort.</p>"
            f"{sortable_table(cols, rows, tid='hours-table', foot=foot, tall=True)}"
            f"<h3>Hours per language, by corpus</h3>{note}{chart}")


def long_tail_section(data: ReportData) -> str:
    g = (data.summary.filter(pl.col("language").is_not_null()).group_by("language")
         .agg(pl.col("hours").sum().alias("hours"), pl.col("utterances").sum().alias("n"))
         .sort(["hours", "language"], descending=[True, False]))
    if g.is_empty():
        return '<p class="muted">No utterance has a language.</p>'
    hours = g["hours"].to_numpy()
    total = float(hours.sum())
    top_share = float(hours[0]) / total if total else 0.0
    half = int(np.searchsorted(np.cumsum(hours), total / 2) + 1)
    facts = [f"{g.height:,} languages", f"median {fmt_hours(float(np.median(hours)))} h per language",
             f"the largest, <code>{escape(g['language'][0])}</code>, holds {100 * top_share:.1f} % of the hours",
             f"{half:,} language{'s' if half != 1 else ''} hold half of them"]
    for threshold in (1.0, 10.0):
        below = int((hours < threshold).sum())
        facts.append(f"{below:,} under {threshold:g} h")
    items = [(lang, h, f"{lang} {language_label(lang)}: {fmt_hours(h)} h, {n:,} utterances")
             for lang, h, n in g.iter_rows()]
    chart = log_bar_chart(items, label="Hours per language, ranked, on a log scale")
    return (f"<p>Languages ranked by hours, on a logarithmic scale (each grid line ten times the one below). "
            f"{'; '.join(facts)}.</p>{chart}")


def durations_section(data: ReportData) -> str:
    u = data.utterances
    secs = u["seconds"].drop_nulls().to_numpy().astype(float)
    lab = u.filter(pl.col("labelled") & (pl.col("seconds") > 0))
    rate = (lab["text"].str.len_chars().cast(pl.Float64) / lab["seconds"]).to_numpy()
    out = []
    for name, values, bound, unit, what in (
            ("seconds", secs, data.max_seconds, "seconds", "utterance duration"),
            ("rate", rate, data.max_rate, "characters per second", "speaking rate")):
        if values.size == 0:
            out.append(f"<h3>{escape(what.capitalize())}</h3><p class='muted'>No utterances to show.</p>")
            continue
        over = int((values > bound).sum())
        hi = max(bound * 1.1, min(float(values.max()) * 1.02, bound * 2))
        bins = 55
        hi = nice_step(hi / bins, 1) * bins if name == "seconds" else hi
        q = np.quantile(values, [0.05, 0.5, 0.95])
        stats = (f"{values.size:,} {'labelled ' if name == 'rate' else ''}utterances; 5 % under {q[0]:.1f}, "
                 f"median {q[1]:.1f}, 95 % under {q[2]:.1f}, largest {values.max():.1f} {escape(unit)}.")
        if over:
            data.notes.append(f"{over:,} utterances exceed the {what} bound of {bound:g} {escape(unit)}.")
            stats += f' <strong class="bad">{over:,} above the bound.</strong>'
        else:
            stats += " None above the bound."
        title = ("Utterance durations" if name == "seconds" else
                 "Speaking rate: characters of the normalized transcript per second, labelled utterances")
        out.append(f"<h3>{escape(title)}</h3><p>{stats}</p>" + histogram_chart(
            values, hi=hi, bins=bins, bound=bound, unit=unit, label=title,
            bound_label=(f"max {bound:g} s" if name == "seconds" else f"max {bound:g} chars/s")))
    return (data.sample_note
            + '<p>The dashed lines mark the bounds the filter applied (the paper\'s: audio up to 50 s, at most '
            "100 characters per second, i.e. at least 160 samples per character at 16 kHz).</p>"
            + "".join(out))


def speakers_section(data: ReportData) -> str:
    u = data.utterances
    per_lang = (u.group_by("lang")
                .agg(pl.col("corpus").n_unique().alias("corpora"), pl.len().alias("utterances"),
                     pl.col("speaker").is_not_null().sum().alias("with_speaker"),
                     (pl.col("seconds").sum() / 3600).alias("hours")))
    sp = (u.filter(pl.col("speaker").is_not_null()).group_by("lang", "speaker")
          .agg(pl.len().alias("n"), pl.col("seconds").sum().alias("s")))
    per_spk = (sp.group_by("lang")
               .agg(pl.len().alias("speakers"), pl.col("n").median().alias("median"),
                    (pl.col("s").max() / pl.col("s").sum()).alias("top")))
    g = per_lang.join(per_spk, on="lang", how="left").sort("lang")
    rows = [(r["lang"], language_label(r["lang"]), r["corpora"], r["utterances"], r["hours"],
             r["with_speaker"] / r["utterances"] if r["utterances"] else None, r["speakers"] or 0,
             r["median"], None if r["top"] is None else meter(r["top"])) for r in g.iter_rows(named=True)]
    cols = [Col("Language", "code"), Col("Name"), Col("Corpora", "int"), Col("Utterances", "int"),
            Col("Hours", "hours"), Col("With id", "pct", "share of utterances with a speaker pseudonym"),
            Col("Speakers", "int"), Col("Utts/speaker", "float", "median utterances per speaker"),
            Col("Top speaker", "pct", "share of the language's hours (with a speaker id) "
                "from its most represented speaker")]
    n_speakers = int(u["speaker"].drop_nulls().n_unique())
    return (f"{data.sample_note}<p>{n_speakers:,} distinct speakers in all. Speaker ids are pseudonyms salted "
            "per corpus, so one person in two corpora counts twice; corpora without speaker ids count none. "
            "A large share for one "
            f"speaker means a model may learn the voice rather than the language.</p>"
            f"{sortable_table(cols, rows, tid='speakers-table')}")
