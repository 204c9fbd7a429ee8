"""The report's sections on training with a release: its splits per corpus, and what one epoch of the
two-level beta sampler would see per language."""

from __future__ import annotations

from typing import Any

import polars as pl

from omnicorpus.manifests.schema import SPLITS
from omnicorpus.model.sampling import summary_plan
from omnicorpus.quality.charts import SPLIT_COLORS, hbar_chart, log_line_chart
from omnicorpus.quality.formatting import escape, fmt_hours
from omnicorpus.quality.page import Col, Html, sortable_table
from omnicorpus.quality.report_data import UND, ReportData, language_label


def splits_section(data: ReportData) -> str:
    u = data.summary
    g = (u.group_by("corpus")
         .agg(*[pl.col("hours").filter(pl.col("split") == s).sum().alias(s) for s in SPLITS],
              *[pl.col("utterances").filter(pl.col("split") == s).sum().alias(f"n_{s}") for s in SPLITS],
              pl.col("lang").n_unique().alias("languages"),
              pl.col("lang").filter(pl.col("split") == "test").n_unique().alias("with_test"))
         .sort("corpus"))
    rows = [(r["corpus"], *[r[s] for s in SPLITS], *[r[f"n_{s}"] for s in SPLITS], r["languages"],
             r["with_test"]) for r in g.iter_rows(named=True)]
    cols = [Col("Corpus"), *[Col(f"{s.capitalize()} h", "hours") for s in SPLITS],
            *[Col(f"{s.capitalize()} utts", "int") for s in SPLITS], Col("Languages", "int"),
            Col("With a test split", "int", "languages of the corpus that have test utterances")]
    foot = ("All", *[float(g[s].sum()) for s in SPLITS], *[int(g[f"n_{s}"].sum()) for s in SPLITS],
            int(u["lang"].n_unique()), int(u.filter(pl.col("split") == "test")["lang"].n_unique()))
    no_test = sorted(set(u["language"].drop_nulls().to_list())
                     - set(u.filter(pl.col("split") == "test")["language"].drop_nulls().to_list()))
    if no_test:
        shown = ", ".join(f"<code>{escape(x)}</code>" for x in no_test[:12]) + (" …" if len(no_test) > 12 else "")
        data.notes.append(f"{len(no_test)} language{'s' if len(no_test) != 1 else ''} without test data: "
                          f"{shown}.")
    items = [(r["corpus"], f"{r['corpus']}, ", [(s, r[s]) for s in SPLITS]) for r in g.iter_rows(named=True)]
    chart = hbar_chart(items, SPLIT_COLORS, label="Hours per corpus, by split")
    table = sortable_table(cols, rows, tid="splits-table", foot=foot)
    return f"<p>Hours and utterances per split of each corpus.</p>{table}<h3>Hours per corpus, by split</h3>{chart}"


def sampling_section(data: ReportData) -> str:
    u = data.summary.select("corpus", "language", "split", "hours", "utterances")
    train = u.filter(pl.col("split") == "train")
    if train.is_empty():
        return '<p class="muted">No train utterances: there is nothing to sample from.</p>'
    natural = (train.with_columns(pl.col("language").fill_null(UND))
               .group_by("language").agg(pl.col("hours").sum().alias("natural")))
    plans: list[pl.DataFrame] = []
    for b in data.betas:
        plan = summary_plan(u, b).group_by("language").agg(pl.col("epoch_hours").sum())
        plans.append(plan.rename({"epoch_hours": f"b{len(plans)}"}))
    g = natural
    for p in plans:
        g = g.join(p, on="language", how="left")
    g = g.sort(["natural", "language"], descending=[True, False])
    names = [f"βc={b.corpus:g}, βl={b.language:g}" for b in data.betas]
    rows = []
    for r in g.iter_rows(named=True):
        cells: list[Any] = [r["language"], language_label(r["language"]), r["natural"]]
        for i in range(len(data.betas)):
            v = r[f"b{i}"]
            if v is None:
                cells.append(None)
                continue
            factor = v / r["natural"] if r["natural"] else None
            f = "" if factor is None else f' <span class="factor">×{factor:.2f}</span>'
            cells.append(Html(f"{fmt_hours(v)}{f}", v))
        rows.append(cells)
    cols = [Col("Language", "code"), Col("Name"), Col("Train h", "hours", "natural hours of the train split"),
            *[Col(f"{n} h", "hours", "hours of this language in one epoch (as many hours as the train split "
                                       "holds); ×: its upsampling") for n in names]]
    colors = ["#999999", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#332288"]
    series = [(n, [v or 0.0 for v in g[f"b{i}"].to_list()], colors[(i + 1) % len(colors)])
              for i, n in enumerate(names)]
    chart = log_line_chart(g["language"].to_list(), series, reference=("natural (train)", g["natural"].to_list()),
                           label="Hours per language in one epoch, by beta pair, languages ranked by train hours")
    return ("<p>What one epoch of training would see under the two-level beta sampler (model.sampling; "
            "corpus first, then language, counted in hours of the train split; β = 1 keeps natural "
            "proportions, β = 0 is uniform). An epoch holds as many hours as the train split, so a language "
            "gains what others lose: the lines flatten as β falls and the low-resource languages on the right "
            f"rise.</p>{sortable_table(cols, rows, tid='sampling-table', tall=True)}"
            f"<h3>Epoch hours per language (log scale)</h3>{chart}")
