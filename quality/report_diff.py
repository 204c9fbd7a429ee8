"""The report's diff against the parent release: languages and corpora added or removed, the config, the
counts, and hours per language."""

from __future__ import annotations

import math

import polars as pl

from omnicorpus.manifests import storage
from omnicorpus.manifests.release import open_release
from omnicorpus.quality.formatting import escape, fmt_hours, format_number
from omnicorpus.quality.page import NA, Col, Html, sortable_table
from omnicorpus.quality.report_data import UND, ReportData, as_frame, language_label


def diff_section(data: ReportData) -> str:
    parent_id = data.info.get("parent")
    if not parent_id:
        return '<p class="muted">No parent release: this is the first release, so there is nothing to compare.</p>'
    parent_dir = storage.join(storage.parent(data.release.uri), str(parent_id))  # its sibling
    if not storage.exists(storage.join(parent_dir, "release.json")):
        data.notes.append(f"The parent release <code>{escape(parent_id)}</code> is not next to this one; no diff.")
        return (f'<p class="muted">The parent release <code>{escape(parent_id)}</code> was not found next to this '
                "one, so there is no diff.</p>")
    parent = open_release(parent_dir)
    pu = as_frame(parent.table("summary")).select("language", "corpus", "hours")
    cu = data.summary.select("language", "corpus", "hours")

    def per(df: pl.DataFrame, key: str) -> dict[str, float]:
        return dict(df.with_columns(pl.col(key).fill_null(UND)).group_by(key)
                    .agg(pl.col("hours").sum()).iter_rows())

    before, after = per(pu, "language"), per(cu, "language")
    cb, ca = per(pu, "corpus"), per(cu, "corpus")
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    c_added = sorted(set(ca) - set(cb))
    c_removed = sorted(set(cb) - set(ca))

    def codes(xs: list[str]) -> str:
        return ", ".join(f"<code>{escape(x)}</code>" for x in xs) if xs else "none"

    out = [f"<p>Compared with the parent release <strong>{escape(parent_id)}</strong> "
           f"(created {escape(parent.info.get('created'))}).</p>",
           '<dl class="meta">'
           f"<dt>Languages added</dt><dd>{codes(added)}</dd><dt>Languages removed</dt><dd>{codes(removed)}</dd>"
           f"<dt>Corpora added</dt><dd>{codes(c_added)}</dd><dt>Corpora removed</dt><dd>{codes(c_removed)}</dd>"]
    if parent.info.get("config_hash") != data.info.get("config_hash"):
        out.append(f"<dt>Config</dt><dd>changed: <code>{escape(parent.info.get('config_hash'))}</code> → "
                   f"<code>{escape(data.info.get('config_hash'))}</code></dd>")
    out.append("</dl>")
    if removed:
        data.notes.append(f"{len(removed)} language{'s' if len(removed) != 1 else ''} removed since "
                          f"{escape(parent_id)}: {codes(removed[:12])}.")
    if c_removed:
        data.notes.append(f"Corpora removed since {escape(parent_id)}: {codes(c_removed)}.")
    pc, cc = parent.info.get("counts") or {}, data.info.get("counts") or {}
    count_rows = []
    for key in ("utterances", "hours", "languages", "corpora", "shards", "rejects"):
        b, a = pc.get(key), cc.get(key)
        count_rows.append((key.capitalize(), b, a, None if b is None or a is None else a - b))
    out.append(sortable_table([Col("Count"), Col(f"{parent_id}", "float"), Col(f"{data.release.id}", "float"),
                       Col("Change", "float")],
                      [(k, *(Html(escape(format_number(x, "hours" if k == "Hours" else "int")) if x is not None else NA,
                                  x) for x in (b, a, d))) for k, b, a, d in count_rows],
                      tid="diff-counts"))
    rows = []
    for lang in sorted(set(before) | set(after)):
        b, a = before.get(lang), after.get(lang)
        status = "added" if b is None else "removed" if a is None else "same" if math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-12) else "changed"
        change = (a or 0.0) - (b or 0.0)
        rel = None if not b else change / b
        badge = Html(f'<span class="st {status}">{status}</span>', status)
        sign = "+" if change > 0 else ""
        rows.append((lang, language_label(lang), badge, b, a,
                     Html(f"{sign}{fmt_hours(change)}" if change else "0", change),
                     Html(f"{'+' if rel and rel > 0 else ''}{100 * rel:.1f} %" if rel is not None else NA, rel)))
    cols = [Col("Language", "code"), Col("Name"), Col("Status"), Col(f"{parent_id} h", "hours"),
            Col(f"{data.release.id} h", "hours"), Col("Change h", "hours"), Col("Change", "pct")]
    out.append(f"<h3>Hours per language</h3>{sortable_table(cols, rows, tid='diff-table', tall=True)}")
    return "".join(out)
