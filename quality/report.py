"""The release report: one static, self-contained HTML file for a person deciding whether to trust a release.

    write_report(release_dir)  ->  <output root>/quality/<release id>/report.html

The file opens offline: no URL anywhere in it (no CDN, web fonts or linked images; a Content-Security-Policy
forbids any fetch), CSS inline, every chart an inline SVG drawn here in Python, and a few lines of vanilla
JavaScript that only make the tables sortable (click or Enter on a header; the tables read fine without it,
and the script marks each table it wired with `data-sortable="ready"`). Every string from the data is
HTML-escaped, with "//" written as "/&#47;" so that no source URI in the data reads as a reference either.
The same release gives the same bytes: nothing in the file depends on when it was made (the only time in
it is the release's own `created`). It is written to a temporary file and renamed into place.

Sections (each a `<section id=...>` with an `<h2>`): overview, hours, long-tail, durations, rejects, lid,
speakers, splits, sampling, diff.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pycountry

from omnicorpus.manifests.accounting import listed_sources, source_accounts
from omnicorpus.manifests.config import FilterParams
from omnicorpus.manifests.languages import language_name
from omnicorpus.manifests.release import Release, open_release
from omnicorpus.manifests.schema import SAMPLE_RATE, SPLITS
from omnicorpus.model.sampling import Betas, sampling_plan

DEFAULT_BETAS: tuple[tuple[float, float], ...] = ((1.0, 1.0), (0.5, 0.5), (0.5, 0.25), (0.0, 0.0))

#: The paper's bounds (the config's defaults), used when a release's params do not name its own.
MAX_SECONDS = FilterParams.max_seconds
MIN_SAMPLES_PER_CHAR = FilterParams.min_samples_per_char

#: Label of utterances without a language (unlabelled audio nobody identified); the sampler's too.
UND = "und"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("sources", "Sources"),
    ("hours", "Hours by language and corpus"),
    ("long-tail", "The long tail"),
    ("durations", "Durations and speaking rate"),
    ("rejects", "Rejects"),
    ("lid", "Language identification"),
    ("speakers", "Speakers"),
    ("community", "Community contributions"),
    ("splits", "Splits"),
    ("sampling", "Sampling"),
    ("diff", "Changes since the parent release"),
)

#: Okabe-Ito (safe for the common colour-vision deficiencies), then Paul Tol's muted scheme.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#999933",
           "#882255", "#44AA99", "#AA4499", "#117733", "#DDCC77", "#88CCEE", "#999999")
SPLIT_COLORS = {"train": "#0072B2", "dev": "#E69F00", "test": "#009E73"}
BOUND_COLOR = "#D55E00"
BAR_COLOR = "#0072B2"

CHART_WIDTH = 960
LID_WARN = 0.8  # agreement below this is flagged
DISAGREEMENTS = 25  # LID disagreements shown as examples


# ------------------------------------------------------------------------------------------------ API

def default_report_path(release: Release) -> Path:
    """`<output root>/quality/<release id>/report.html`; the output root is the release folder's grandparent."""
    return release.path.parent.parent / "quality" / release.id / "report.html"


def write_report(release_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 betas: Sequence[tuple[float, float]] = DEFAULT_BETAS, verdict: Any = None) -> Path:
    """Write the HTML report of a release (a release folder, or an output root: its latest release).

    `betas` are the (beta_corpus, beta_language) pairs the sampling section shows; `verdict` is the quality
    gate's result when there is one: a `quality.gate.Verdict`, its `as_dict()`, or {"passed": bool, "checks":
    [{"name", "passed", "detail"}, ...]} (see `_verdict_html`). Returns the path written (atomically: temp
    file, then rename).
    """
    if verdict is not None and not isinstance(verdict, dict) and hasattr(verdict, "as_dict"):
        verdict = verdict.as_dict()  # a quality.gate.Verdict
    release = open_release(release_dir)
    text = render_report(release, betas=betas, verdict=verdict)
    path = Path(out) if out is not None else default_report_path(release)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8", errors="backslashreplace"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def render_report(release: Release, *, betas: Sequence[tuple[float, float]] = DEFAULT_BETAS,
                  verdict: dict | None = None) -> str:
    """The report of a release as one HTML string (what write_report writes)."""
    return _Report(release, [Betas(float(c), float(lang)) for c, lang in betas], verdict).render()


# ------------------------------------------------------------------------------------------- formatting

def _e(value: Any) -> str:
    """Escape text from the data for HTML text and attribute values; '//' never appears literally."""
    text = "" if value is None else str(value)
    return html.escape(text, quote=True).replace("//", "/&#47;")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_hours(h: float | None) -> str:
    """Hours, rounded to what a reader needs: 1,234 / 12.3 / 1.23 / 0.0123 (three significant digits)."""
    if _is_missing(h):
        return "–"
    assert h is not None
    if h == 0:
        return "0"
    a = abs(h)
    if a >= 100:
        return f"{h:,.0f}"
    if a >= 10:
        return f"{h:,.1f}"
    if a >= 1:
        return f"{h:.2f}"
    return f"{h:.{min(9, 2 - math.floor(math.log10(a)))}f}"


def fmt_duration(hours: float) -> str:
    """Hours as a duration a person reads at once: '3 h 12 min', '13 min 50 s', '42 s'."""
    seconds = int(round(hours * 3600))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h:,} h {m} min"
    if m:
        return f"{m} min {s} s" if s else f"{m} min"
    return f"{s} s"


def _fmt_num(value: float, kind: str) -> str:
    if kind == "int":
        return f"{int(value):,}"
    if kind == "hours":
        return fmt_hours(value)
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "prob":
        return f"{value:.3f}"
    if kind == "factor":
        return f"×{value:.2f}"
    return f"{value:,.2f}"


def _sort_key(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, bool | int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format(float(value), ".12g")
    return _e(value)


def _lang_name(code: str | None) -> str:
    if code is None or code == UND:
        return "undetermined"
    try:
        return language_name(code)
    except Exception:  # a code in no table still gets its row
        return ""


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _short_name(code: str | None) -> str:
    """The language's name without its script (the code shows that): 'Hindi' for hin_Deva."""
    if code is None or code == UND:
        return "undetermined"
    entry = pycountry.languages.get(alpha_3=code.split("_")[0])
    return entry.name if entry else ""


def _short(text: str | None, limit: int = 160) -> str:
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------------ tables

@dataclass(frozen=True)
class Col:
    label: str
    kind: str = "text"  # text | code | int | hours | pct | prob | factor | float
    tip: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "code")


@dataclass(frozen=True)
class Html:
    """A cell given as markup, with the value it sorts by."""

    markup: str
    v: Any = None


NA = '<span class="na">–</span>'


def _cell(value: Any, col: Col) -> str:
    if isinstance(value, Html):
        cls = ' class="num"' if col.numeric else (' class="code"' if col.kind == "code" else "")
        key = f' data-v="{_sort_key(value.v)}"' if value.v is not None or col.numeric else ""
        return f"<td{cls}{key}>{value.markup}</td>"
    if not col.numeric:
        cls = ' class="code"' if col.kind == "code" else ""
        return f"<td{cls}>{NA if _is_missing(value) else _e(value)}</td>"
    if _is_missing(value):
        return f'<td class="num" data-v="">{NA}</td>'
    return f'<td class="num" data-v="{_sort_key(value)}">{_fmt_num(value, col.kind)}</td>'


def _table(cols: Sequence[Col], rows: Sequence[Sequence[Any]], *, tid: str, foot: Sequence[Any] | None = None,
           caption: str = "", tall: bool = False) -> str:
    head = "".join(
        "<th scope=\"col\"" + (' class="num"' if c.numeric else "") + (f' title="{_e(c.tip)}"' if c.tip else "")
        + f">{_e(c.label)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(v, c) for v, c in zip(row, cols, strict=True)) + "</tr>" for row in rows)
    tfoot = ""
    if foot is not None:
        tfoot = "<tfoot><tr>" + "".join(_cell(v, c) for v, c in zip(foot, cols, strict=True)) + "</tr></tfoot>"
    cap = f"<caption>{caption}</caption>" if caption else ""
    scroll = "scroll tall" if tall else "scroll"
    if not rows:
        body = f'<tr><td colspan="{len(cols)}" class="empty">nothing to show</td></tr>'
    return (f'<div class="{scroll}"><table class="sortable" id="{tid}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody>{tfoot}</table></div>")


def _meter(share: float | None, warn: bool = False) -> Html:
    """A percentage with a small bar under it (for agreement and shares)."""
    if share is None:
        return Html(NA, None)
    cls = "meter warn" if warn else "meter"
    return Html(f'{100 * share:.1f} %<span class="{cls}"><span style="width:{100 * share:.1f}%"></span></span>',
                share)


# ------------------------------------------------------------------------------------------------ charts

def _nice_step(span: float, n: int) -> float:
    raw = span / max(n, 1)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag + 1e-12:
            return m * mag
    return 10 * mag


def _linear_ticks(hi: float, n: int = 5) -> list[float]:
    """0, step, ... up to the first tick at or above hi."""
    hi = hi if hi > 0 else 1.0
    step = _nice_step(hi, n)
    count = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(count + 1)]


def _fmt_tick(v: float, step: float) -> str:
    if v == 0:
        return "0"
    decimals = 0
    while decimals < 9 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9:
        decimals += 1
    return f"{v:,.{decimals}f}"


def _svg(width: int, height: float, body: str, label: str) -> str:
    h = int(math.ceil(height))
    return (f'<svg class="chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" '
            f'aria-label="{_e(label)}"><title>{_e(label)}</title>{body}</svg>')


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{_e(text)}</text>'


def _legend(items: Sequence[tuple[str, str]], x0: float, y0: float, width: float) -> tuple[str, float]:
    """Swatches in rows; returns (markup, height used)."""
    out, x, y = [], x0, y0
    for label, color in items:
        w = 22 + 7.2 * len(label) + 16
        if x + w > x0 + width and x > x0:
            x, y = x0, y + 20
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" rx="2" fill="{color}"/>'
                   + _text(x + 17, y + 10.5, label, cls="legend"))
        x += w
    return "".join(out), (y - y0) + 20


def hbar_chart(items: Sequence[tuple[str, str, Sequence[tuple[str, float]]]], colors: dict[str, str], *,
               label: str, fmt: Any = fmt_hours, unit: str = "h", legend: bool = True,
               label_width: int = 190) -> str:
    """Horizontal bars, stacked by series: items are (label, tooltip prefix, [(series, value), ...])."""
    if not items:
        return '<p class="muted">No data to chart.</p>'
    width = CHART_WIDTH
    parts: list[str] = []
    top = 6.0
    if legend:
        leg, used = _legend([(s, c) for s, c in colors.items()], label_width, 4, width - label_width - 10)
        parts.append(leg)
        top += used
    bar_h, gap = 15, 6
    totals = [sum(v for _, v in segs) for _, _, segs in items]
    ticks = _linear_ticks(max(totals), 6)
    plot_w = width - label_width - 80
    scale = plot_w / ticks[-1]
    plot_h = len(items) * (bar_h + gap)
    for t in ticks:
        x = label_width + t * scale
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{top + plot_h:.1f}"/>')
        parts.append(_text(x, top + plot_h + 14, _fmt_tick(t, ticks[1] - ticks[0]) + (f" {unit}" if t == 0 else ""),
                           anchor="middle", cls="tick"))
    for i, ((name, tip, segs), total) in enumerate(zip(items, totals, strict=True)):
        y = top + i * (bar_h + gap)
        parts.append(_text(label_width - 8, y + bar_h - 3, _short(name, int((label_width - 12) / 6.6)),
                           anchor="end", cls="label"))
        x = float(label_width)
        for series, value in segs:
            if value <= 0:
                continue
            w = value * scale
            parts.append(f'<rect x="{x:.2f}" y="{y:.1f}" width="{max(w, 0.6):.2f}" height="{bar_h}" '
                         f'fill="{colors.get(series, BAR_COLOR)}"><title>{_e(tip)}{_e(series)}: '
                         f'{_e(fmt(value))} {unit}</title></rect>')
            x += w
        parts.append(_text(x + 5, y + bar_h - 3, fmt(total), cls="value"))
    return _svg(width, top + plot_h + 24, "".join(parts), label)


def _log_domain(values: Sequence[float]) -> tuple[int, int]:
    pos = [v for v in values if v > 0]
    lo = math.floor(math.log10(min(pos)))
    hi = math.ceil(math.log10(max(pos)))
    if hi <= lo:
        hi = lo + 1
    return lo, hi


def _log_axis(lo: int, hi: int, left: float, right: float, top: float, ph: float, unit: str) -> list[str]:
    parts = []
    decades = hi - lo
    for k in range(lo, hi + 1):
        y = top + (hi - k) / decades * ph
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        value = f"{10 ** k:,}" if k >= 0 else f"{10.0 ** k:.{-k}f}"
        if unit == "h" and k < 0:
            value += f" h ({fmt_duration(10.0 ** k)})"
        elif unit:
            value += f" {unit}"
        parts.append(_text(left - 6, y + 4, value, anchor="end", cls="tick"))
        if decades <= 4 and k < hi:
            for m in (2, 5):
                ym = top + (hi - k - math.log10(m)) / decades * ph
                parts.append(f'<line class="grid minor" x1="{left}" y1="{ym:.1f}" x2="{right}" y2="{ym:.1f}"/>')
    return parts


def _x_labels(labels: Sequence[str], left: float, step: float, y: float, every: int) -> list[str]:
    parts = []
    for i, lab in enumerate(labels):
        if i % every:
            continue
        x = left + (i + 0.5) * step
        parts.append(_text(x, y, lab, anchor="end", cls="tick",
                           extra=f' transform="rotate(-55 {x:.1f} {y:.1f})"'))
    return parts


def log_bar_chart(items: Sequence[tuple[str, float, str]], *, label: str, unit: str = "h") -> str:
    """Vertical bars on a log y axis: items are (x label, value, tooltip), in the order shown."""
    items = [it for it in items if it[1] > 0]
    if not items:
        return '<p class="muted">No data to chart.</p>'
    width, left, top, ph = CHART_WIDTH, 120.0, 12.0, 260.0
    right = width - 12.0
    lo, hi = _log_domain([v for _, v, _ in items])
    parts = _log_axis(lo, hi, left, right, top, ph, unit)
    step = (right - left) / len(items)
    base = top + ph
    for i, (_, value, tip) in enumerate(items):
        y = top + (hi - math.log10(value)) / (hi - lo) * ph
        x = left + i * step + step * 0.12
        parts.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(step * 0.76, 0.8):.2f}" height="{base - y:.2f}" '
                     f'fill="{BAR_COLOR}"><title>{_e(tip)}</title></rect>')
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>')
    every = max(1, math.ceil(len(items) / 80))
    parts += _x_labels([lab for lab, _, _ in items], left, step, base + 12, every)
    return _svg(width, base + 80, "".join(parts), label)


def log_line_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *,
                   label: str, unit: str = "h", reference: tuple[str, Sequence[float]] | None = None) -> str:
    """One line per series over categorical x, log y: series are (name, values, colour); `reference`
    (name, values) is drawn last, dashed black, over them."""
    drawn = [(name, vals, color, "") for name, vals, color in series]
    if reference is not None:
        drawn.append((reference[0], reference[1], "#1d232b", ' stroke-dasharray="5 4"'))
    values = [v for _, vals, _, _ in drawn for v in vals if v > 0]
    if not categories or not values:
        return '<p class="muted">No data to chart.</p>'
    width, left, ph = CHART_WIDTH, 120.0, 260.0
    right = width - 12.0
    leg, used = _legend([(name, color) for name, _, color, _ in drawn], left, 4, right - left)
    top = 10.0 + used
    lo, hi = _log_domain(values)
    parts = [leg] + _log_axis(lo, hi, left, right, top, ph, unit)
    step = (right - left) / len(categories)
    base = top + ph
    dots = len(categories) <= 120
    for name, vals, color, dash in drawn:
        pts = [(left + (i + 0.5) * step, top + (hi - math.log10(v)) / (hi - lo) * ph)
               for i, v in enumerate(vals) if v > 0]
        if not pts:
            continue
        d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in pts)
        parts.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                     f"<title>{_e(name)}</title></path>")
        if dots and not dash:
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>')
    parts += _x_labels(categories, left, step, base + 12, max(1, math.ceil(len(categories) / 80)))
    return _svg(width, base + 80, "".join(parts), label)


def histogram_chart(values: np.ndarray, *, hi: float, bins: int, bound: float, bound_label: str, unit: str,
                    label: str) -> str:
    """A histogram of values over [0, hi) (larger ones in the last bin), the bound as a dashed line."""
    if values.size == 0:
        return '<p class="muted">No data to chart.</p>'
    edges = np.linspace(0.0, hi, bins + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, np.nextafter(hi, 0.0)), bins=edges)
    width, left, top, ph = CHART_WIDTH, 60.0, 22.0, 220.0
    right = width - 16.0
    yticks = _linear_ticks(float(counts.max()), 4)
    ymax = yticks[-1]
    xscale = (right - left) / hi
    base = top + ph
    parts = []
    for t in yticks:
        y = base - t / ymax * ph
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(_text(left - 6, y + 4, _fmt_tick(t, yticks[1] - yticks[0]), anchor="end", cls="tick"))
    for i, c in enumerate(counts):
        if not c:
            continue
        x0, x1 = left + edges[i] * xscale, left + edges[i + 1] * xscale
        h = c / ymax * ph
        over = edges[i] >= bound
        last = i == bins - 1 and values.max() >= hi
        span = f"≥ {edges[i]:g}" if last else f"{edges[i]:g}–{edges[i + 1]:g}"
        parts.append(f'<rect x="{x0 + 0.5:.2f}" y="{base - h:.2f}" width="{max(x1 - x0 - 1, 0.8):.2f}" '
                     f'height="{h:.2f}" fill="{BOUND_COLOR if over else BAR_COLOR}">'
                     f"<title>{_e(span)} {_e(unit)}: {int(c):,}</title></rect>")
    for t in _linear_ticks(hi, 10):
        if t > hi + 1e-9:
            continue
        x = left + t * xscale
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>')
        parts.append(_text(x, base + 17, f"{t:g}", anchor="middle", cls="tick"))
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>')
    parts.append(_text((left + right) / 2, base + 34, unit, anchor="middle", cls="tick"))
    bx = left + bound * xscale
    parts.append(f'<line x1="{bx:.1f}" y1="{top - 6}" x2="{bx:.1f}" y2="{base}" stroke="{BOUND_COLOR}" '
                 f'stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append(_text(bx - 6, top + 6, bound_label, anchor="end", cls="bound"))
    return _svg(width, base + 42, "".join(parts), label)


# ------------------------------------------------------------------------------------------------ report

def _check_label(c: dict[str, Any]) -> str:
    """A check's name: its own, or `table.column: expectation` (the gate's Check)."""
    name = c.get("name") or c.get("check")
    if name:
        return str(name)
    where = ".".join(str(x) for x in (c.get("table"), c.get("column")) if x)
    what = c.get("expectation") or c.get("type") or "check"
    return f"{where}: {what}" if where else str(what)


def _verdict_html(verdict: dict[str, Any]) -> str:
    """The gate's verdict: `quality.gate.Verdict.as_dict()` ({"passed", "checks": count, "failed": count,
    "results": [{"table", "expectation", "column", "success", "detail"}, ...], "failures": [...]}), or the plainer
    {"passed"|"success": bool, "checks": [{"name", "passed"|"success", "detail"}, ...] or {name: bool}}."""
    raw = next((v for v in (verdict.get("checks"), verdict.get("results")) if isinstance(v, list | dict)), None)
    checks: list[tuple[str, bool | None, str]] = []
    if raw is not None:
        items = raw.items() if isinstance(raw, dict) else ((None, c) for c in raw)
        for name, c in items:
            if isinstance(c, dict):
                ok = c.get("passed", c.get("success"))
                detail = c.get("detail", c.get("message", c.get("observed", "")))
                checks.append((str(name) if name else _check_label(c), ok, "" if detail is None else str(detail)))
            else:
                checks.append((str(name if name is not None else c), bool(c) if isinstance(c, bool) else None, ""))
    else:  # only the failures are listed
        for f in verdict.get("failures") or []:
            if isinstance(f, dict):
                checks.append((_check_label(f), False, str(f.get("detail", f.get("message", "")) or "")))
            else:
                checks.append((str(f), False, ""))
    passed = verdict.get("passed", verdict.get("success"))
    if passed is None:
        passed = all(ok is not False for _, ok, _ in checks)
    failing = [(n, d) for n, ok, d in checks if ok is False]
    count = verdict.get("checks")
    total = len(checks) if raw is not None else count if isinstance(count, int) else None
    badge = ('<span class="badge pass">passed</span>' if passed else '<span class="badge fail">failed</span>')
    counted = f" — {total - len(failing):,} of {total:,} checks passed" if total else ""
    out = [f'<div class="verdict {"pass" if passed else "fail"}"><strong>Quality gate:</strong> {badge}{counted}']
    if failing:
        shown = failing[:50]
        out.append('<ul class="failing">' + "".join(
            f"<li><strong>{_e(n)}</strong>{': ' + _e(_short(d, 300)) if d else ''}</li>" for n, d in shown)
                   + (f"<li>… and {len(failing) - len(shown):,} more</li>" if len(failing) > len(shown) else "")
                   + "</ul>")
    out.append("</div>")
    return "".join(out)


class _Report:
    def __init__(self, release: Release, betas: Sequence[Betas], verdict: dict | None) -> None:
        self.release = release
        self.info = release.info
        self.betas = list(betas)
        self.verdict = verdict
        utterances = _frame(release.table("utterances")).with_columns(  # `und`: no language, as null was
            pl.when(pl.col("language") == UND).then(None).otherwise(pl.col("language")).alias("language"))
        self.u = utterances.with_columns(
            pl.col("language").fill_null(UND).alias("lang"),
            (pl.col("text").is_not_null() & (pl.col("text").str.len_chars() > 0)).alias("labelled"),
        )
        self.rejects = _frame(release.table("rejects"))
        params = self.info.get("params") or {}
        filt = params.get("filter") or {}
        self.max_seconds = float(filt.get("max_seconds") or MAX_SECONDS)
        self.max_rate = SAMPLE_RATE / float(filt.get("min_samples_per_char") or MIN_SAMPLES_PER_CHAR)
        corpora = (self.u.group_by("corpus").agg(pl.col("seconds").sum()).sort(["seconds", "corpus"],
                                                                                descending=[True, False]))
        self.corpus_colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(corpora["corpus"].to_list())}
        self.notes: list[str] = []  # things to look at, gathered by the sections, shown in the overview

    # -- layout

    def render(self) -> str:
        bodies = {sid: getattr(self, "_" + sid.replace("-", "_"))() for sid, _ in SECTIONS[1:]}
        bodies = {"overview": self._overview(), **bodies}  # last: it lists the notes the others made
        rid = _e(self.release.id)
        nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
        sections = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{bodies[sid]}</section>'
                           for sid, title in SECTIONS)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>Release {rid} — omnicorpus quality report</title><style>{CSS}</style></head><body>"
            f'<header><div class="wrap"><p class="kicker">omnicorpus quality report</p>'
            f"<h1>Release {rid}</h1><nav>{nav}</nav></div></header>"
            f'<main class="wrap">{sections}</main>'
            f'<footer class="wrap">Made by omnicorpus.quality.report from the release manifests of {rid} '
            f"(schema {_e(self.info.get('schema_version', '?'))}). Self-contained: it loads nothing.</footer>"
            f"<script>{JS}</script></body></html>\n"
        )

    # -- sections

    def _overview(self) -> str:
        info, u = self.info, self.u
        counts = dict(info.get("counts") or {})
        hours = float(counts.get("hours", u["seconds"].sum() / 3600 if u.height else 0.0))
        cards = [
            ("Utterances", f"{int(counts.get('utterances', u.height)):,}", ""),
            ("Hours", fmt_hours(hours), fmt_duration(hours)),
            ("Languages", f"{int(counts.get('languages', u['language'].drop_nulls().n_unique())):,}", ""),
            ("Corpora", f"{int(counts.get('corpora', u['corpus'].n_unique())):,}", ""),
            ("Shards", f"{int(counts.get('shards', 0)):,}", ""),
            ("Rejects", f"{int(counts.get('rejects', self.rejects.height)):,}", ""),
        ]
        out = []
        if self.verdict is not None:
            out.append(_verdict_html(self.verdict))
        out.append('<div class="cards">' + "".join(
            f'<div class="card"><div class="card-label">{_e(k)}</div><div class="card-value">{v}</div>'
            f'{f"<div class=card-sub>{_e(s)}</div>" if s else ""}</div>' for k, v, s in cards) + "</div>")
        content = str(info.get("content_sha256") or "")
        meta = [
            ("Release", info.get("id")),
            ("Created", info.get("created")),
            ("Parent", info.get("parent") or "none (first release)"),
            ("Config hash", info.get("config_hash")),
            ("Schema version", info.get("schema_version")),
            ("Content digest", content[:16] + ("…" if len(content) > 16 else "")),
            ("Sources", ", ".join(s["name"] for s in listed_sources(info)) or None),
        ]
        title = f' title="{_e(content)}"'
        out.append('<dl class="meta">' + "".join(
            f"<dt>{_e(k)}</dt><dd{title if k == 'Content digest' else ''}>"
            f"{_e(v) if v is not None else NA}</dd>" for k, v in meta) + "</dl>")
        self._check_counts(counts)
        by_stage = counts.get("rejects_by_stage") or {}
        if by_stage:
            out.append('<p class="muted">Rejects by stage: ' + ", ".join(
                f"{_e(s)} {int(n):,}" for s, n in sorted(by_stage.items())) + ".</p>")
        out.append("<h3>Things to look at</h3>")
        if self.notes:
            out.append('<ul class="notes">' + "".join(f"<li>{n}</li>" for n in self.notes) + "</ul>")
        else:
            out.append('<p class="ok">Nothing stands out: every bound holds and every language agrees with its '
                       "language identification.</p>")
        if info.get("params"):
            out.append("<details><summary>Stage parameters of this release</summary><pre>"
                       + _e(json.dumps(info["params"], indent=2, sort_keys=True)) + "</pre></details>")
        return "".join(out)

    def _check_counts(self, counts: dict[str, Any]) -> None:
        """A note where release.json's counts disagree with the manifests this report is made from."""
        u = self.u
        actual = {"utterances": u.height, "languages": u["language"].drop_nulls().n_unique(),
                  "corpora": u["corpus"].n_unique(), "rejects": self.rejects.height}
        for key, value in actual.items():
            if key in counts and int(counts[key]) != value:
                self.notes.append(f"release.json counts {int(counts[key]):,} {key}, the manifests {value:,}.")
        hours = float(u["seconds"].sum() or 0.0) / 3600
        if "hours" in counts and not math.isclose(float(counts["hours"]), hours, rel_tol=1e-4, abs_tol=1e-5):
            self.notes.append(f"release.json counts {fmt_hours(float(counts['hours']))} hours, the manifests "
                              f"{fmt_hours(hours)}.")

    def _hours(self) -> str:
        u = self.u
        g = (u.group_by("lang", "corpus")
             .agg(*[(pl.col("seconds").filter(pl.col("split") == s).sum() / 3600).alias(s) for s in SPLITS],
                  (pl.col("seconds").sum() / 3600).alias("total"), pl.len().alias("utterances"),
                  pl.col("speaker").drop_nulls().n_unique().alias("speakers"))
             .sort("lang", "corpus"))
        cols = [Col("Language", "code"), Col("Name"), Col("Corpus"),
                *[Col(f"{s.capitalize()} h", "hours", f"hours in the {s} split") for s in SPLITS],
                Col("Total h", "hours"), Col("Utterances", "int"),
                Col("Speakers", "int", "distinct speaker pseudonyms (0: the corpus has no speaker ids)")]
        rows = [(r["lang"], _lang_name(r["lang"]), r["corpus"], *[r[s] for s in SPLITS], r["total"],
                 r["utterances"], r["speakers"]) for r in g.iter_rows(named=True)]
        foot = ("All", "", f"{u['corpus'].n_unique()} corpora",
                *[float(g[s].sum()) for s in SPLITS], float(g["total"].sum()), int(u.height),
                int(u["speaker"].drop_nulls().n_unique()))
        und = u.filter(pl.col("language").is_null())
        if und.height:
            und_hours = fmt_hours(float(und["seconds"].sum()) / 3600)
            self.notes.append(f"{und.height:,} utterances ({und_hours} h) have no language (<code>und</code>): "
                              "unlabelled audio nobody identified.")
        by_lang = (g.group_by("lang").agg(pl.col("total").sum()).sort(["total", "lang"], descending=[True, False]))
        limit = 60
        items = []
        for lang, total in by_lang.iter_rows():
            segs = g.filter(pl.col("lang") == lang).select("corpus", "total")
            segs_map = dict(segs.iter_rows())
            name = _short_name(lang)
            items.append((f"{lang} · {name}" if name else lang, f"{lang} ({fmt_hours(total)} h), ",
                          [(c, segs_map.get(c, 0.0)) for c in self.corpus_colors]))
        note = (f'<p class="muted">The {limit} languages with the most hours of {len(items)}; the long tail below '
                "shows them all.</p>" if len(items) > limit else "")
        chart = hbar_chart(items[:limit], self.corpus_colors, label="Hours per language, stacked by corpus",
                           label_width=230)
        return (f"<p>Hours of audio per language and corpus, by split. Click a column header to sort.</p>"
                f"{_table(cols, rows, tid='hours-table', foot=foot, tall=True)}"
                f"<h3>Hours per language, by corpus</h3>{note}{chart}")

    def _long_tail(self) -> str:
        g = (self.u.filter(pl.col("language").is_not_null()).group_by("language")
             .agg((pl.col("seconds").sum() / 3600).alias("hours"), pl.len().alias("n"))
             .sort(["hours", "language"], descending=[True, False]))
        if g.is_empty():
            return '<p class="muted">No utterance has a language.</p>'
        hours = g["hours"].to_numpy()
        total = float(hours.sum())
        top_share = float(hours[0]) / total if total else 0.0
        half = int(np.searchsorted(np.cumsum(hours), total / 2) + 1)
        facts = [f"{g.height:,} languages", f"median {fmt_hours(float(np.median(hours)))} h per language",
                 f"the largest, <code>{_e(g['language'][0])}</code>, holds {100 * top_share:.1f} % of the hours",
                 f"{half:,} language{'s' if half != 1 else ''} hold half of them"]
        for threshold in (1.0, 10.0):
            below = int((hours < threshold).sum())
            facts.append(f"{below:,} under {threshold:g} h")
        items = [(lang, h, f"{lang} {_lang_name(lang)}: {fmt_hours(h)} h, {n:,} utterances")
                 for lang, h, n in g.iter_rows()]
        chart = log_bar_chart(items, label="Hours per language, ranked, on a log scale")
        return (f"<p>Languages ranked by hours, on a logarithmic scale (each grid line ten times the one below). "
                f"{'; '.join(facts)}.</p>{chart}")

    def _durations(self) -> str:
        u = self.u
        secs = u["seconds"].drop_nulls().to_numpy().astype(float)
        lab = u.filter(pl.col("labelled") & (pl.col("seconds") > 0))
        rate = (lab["text"].str.len_chars().cast(pl.Float64) / lab["seconds"]).to_numpy()
        out = []
        for name, values, bound, unit, what in (
                ("seconds", secs, self.max_seconds, "seconds", "utterance duration"),
                ("rate", rate, self.max_rate, "characters per second", "speaking rate")):
            if values.size == 0:
                out.append(f"<h3>{_e(what.capitalize())}</h3><p class='muted'>No utterances to show.</p>")
                continue
            over = int((values > bound).sum())
            hi = max(bound * 1.1, min(float(values.max()) * 1.02, bound * 2))
            bins = 55
            hi = _nice_step(hi / bins, 1) * bins if name == "seconds" else hi
            q = np.quantile(values, [0.05, 0.5, 0.95])
            stats = (f"{values.size:,} {'labelled ' if name == 'rate' else ''}utterances; 5 % under {q[0]:.1f}, "
                     f"median {q[1]:.1f}, 95 % under {q[2]:.1f}, largest {values.max():.1f} {_e(unit)}.")
            if over:
                self.notes.append(f"{over:,} utterances exceed the {what} bound of {bound:g} {_e(unit)}.")
                stats += f' <strong class="bad">{over:,} above the bound.</strong>'
            else:
                stats += " None above the bound."
            title = ("Utterance durations" if name == "seconds" else
                     "Speaking rate: characters of the normalized transcript per second, labelled utterances")
            out.append(f"<h3>{_e(title)}</h3><p>{stats}</p>" + histogram_chart(
                values, hi=hi, bins=bins, bound=bound, unit=unit, label=title,
                bound_label=(f"max {bound:g} s" if name == "seconds" else f"max {bound:g} chars/s")))
        return ('<p>The dashed lines mark the bounds the filter applied (the paper\'s: audio up to 50 s, at most '
                "100 characters per second, i.e. at least 160 samples per character at 16 kHz).</p>"
                + "".join(out))

    def _rejects(self) -> str:
        r = self.rejects
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
                f'<li><code>{_e(e["key"])}</code> <span class="src">{_e(_short(e["source_uri"], 120))}</span>'
                f'<br>{_e(_short(e["detail"], 240))}</li>' for e in row["examples"])
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
                f"{_table(cols, rows, tid='rejects-table', foot=foot)}<h3>Rejects by stage and reason</h3>{chart}")

    def _lid(self) -> str:
        lab = self.u.filter(pl.col("labelled") & pl.col("language").is_not_null())
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
            rows.append((r["language"], _lang_name(r["language"]), r["labelled"], r["predicted"], r["agree"],
                         _meter(share, warn), None if _is_missing(r["prob"]) else float(r["prob"]),
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
        foot = ("All", "", int(g["labelled"].sum()), predicted, agree, _meter(overall),
                None if lab["lid_prob"].drop_nulls().is_empty() else float(lab["lid_prob"].mean()),  # type: ignore[arg-type]
                int(g["labelled"].sum()) - predicted, None)
        if low:
            shown = ", ".join(f"<code>{_e(x)}</code>" for x in low[:12]) + (" …" if len(low) > 12 else "")
            self.notes.append(f"{len(low)} language{'s' if len(low) != 1 else ''} with LID agreement under "
                              f"{100 * LID_WARN:.0f} %: {shown}.")
        summary = (f"Overall {100 * overall:.1f} % of {predicted:,} predictions agree." if overall is not None
                   else "No labelled utterance has a prediction.")
        out = (f"<p>Agreement of the fastText prediction stored with each labelled utterance with its declared "
               f"language (ISO 639-3 part only, so a script difference is not a disagreement). {summary} "
               f"Languages under {100 * LID_WARN:.0f} % are marked.</p>"
               + _table(cols, rows, tid="lid-table", foot=foot))
        worst = (lab.filter(pl.col("agree").not_())
                 .sort(["lid_prob", "key"], descending=[True, False], nulls_last=True).head(DISAGREEMENTS))
        if worst.height:
            n = int((lab["agree"].not_()).sum())
            ex_rows = [(r["key"], r["corpus"], r["language"], r["lid_language"], float(r["lid_prob"]),
                        _short(r["text"], 200)) for r in worst.iter_rows(named=True)]
            ex_cols = [Col("Key", "code"), Col("Corpus"), Col("Declared", "code"), Col("Predicted", "code"),
                       Col("Prob", "prob"), Col("Transcript (normalized)")]
            shown = f"the {worst.height} most confident of {n:,}" if n > worst.height else f"all {n:,}"
            out += (f"<h3>Disagreements</h3><p>Labelled utterances whose prediction names another language "
                    f"({shown}): read the transcript to tell a wrong label from a wrong prediction.</p>"
                    + _table(ex_cols, ex_rows, tid="lid-disagreements"))
        return out

    def _speakers(self) -> str:
        u = self.u
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
        rows = [(r["lang"], _lang_name(r["lang"]), r["corpora"], r["utterances"], r["hours"],
                 r["with_speaker"] / r["utterances"] if r["utterances"] else None, r["speakers"] or 0,
                 r["median"], None if r["top"] is None else _meter(r["top"])) for r in g.iter_rows(named=True)]
        cols = [Col("Language", "code"), Col("Name"), Col("Corpora", "int"), Col("Utterances", "int"),
                Col("Hours", "hours"), Col("With id", "pct", "share of utterances with a speaker pseudonym"),
                Col("Speakers", "int"), Col("Utts/speaker", "float", "median utterances per speaker"),
                Col("Top speaker", "pct", "share of the language's hours (with a speaker id) "
                    "from its most represented speaker")]
        n_speakers = int(u["speaker"].drop_nulls().n_unique())
        return (f"<p>{n_speakers:,} distinct speakers in all. Speaker ids are pseudonyms salted per corpus, so one "
                "person in two corpora counts twice; corpora without speaker ids count none. A large share for one "
                f"speaker means a model may learn the voice rather than the language.</p>"
                f"{_table(cols, rows, tid='speakers-table')}")

    def _sources(self) -> str:
        accounts = source_accounts(self.release)
        if not accounts:
            return '<p class="muted">The release records no sources.</p>'
        for a in accounts:
            if not a.contributes:
                listed = "" if a.listed is None else f" ({a.listed:,} items listed)"
                self.notes.append(f"Source <code>{_e(a.name)}</code> contributes nothing to this release{listed}: "
                                  "see its rejects below.")
            if a.ignored:
                self.notes.append(f"Source <code>{_e(a.name)}</code>: {a.ignored:,} file(s) of its tree were neither "
                                  f"audio nor a manifest it reads, e.g. {_e(', '.join(a.ignored_examples))}.")
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
                f"for.</p>{_table(cols, rows, tid='sources-table')}")

    def _community(self) -> str:
        u = self.u.filter(pl.col("partner").is_not_null()) if "partner" in self.u.columns else self.u.clear()
        rej = self.rejects.with_columns(
            pl.col("meta").map_elements(lambda m: json.loads(m).get("partner") if m else None,
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

        rows = [(r["partner"], r["lang"], _lang_name(r["lang"]), r["utterances"], r["hours"], r["speakers"])
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
                f"{_table(scols, summary, tid='partners-table')}<h3>By partner and language</h3>"
                f"{_table(cols, rows, tid='community-table')}")

    def _splits(self) -> str:
        u = self.u
        g = (u.group_by("corpus")
             .agg(*[(pl.col("seconds").filter(pl.col("split") == s).sum() / 3600).alias(s) for s in SPLITS],
                  *[(pl.col("split") == s).sum().alias(f"n_{s}") for s in SPLITS],
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
            shown = ", ".join(f"<code>{_e(x)}</code>" for x in no_test[:12]) + (" …" if len(no_test) > 12 else "")
            self.notes.append(f"{len(no_test)} language{'s' if len(no_test) != 1 else ''} without test data: "
                              f"{shown}.")
        items = [(r["corpus"], f"{r['corpus']}, ", [(s, r[s]) for s in SPLITS]) for r in g.iter_rows(named=True)]
        chart = hbar_chart(items, SPLIT_COLORS, label="Hours per corpus, by split")
        table = _table(cols, rows, tid="splits-table", foot=foot)
        return f"<p>Hours and utterances per split of each corpus.</p>{table}<h3>Hours per corpus, by split</h3>{chart}"

    def _sampling(self) -> str:
        u = self.u.select("corpus", "language", "split", "seconds")
        train = u.filter(pl.col("split") == "train")
        if train.is_empty():
            return '<p class="muted">No train utterances: there is nothing to sample from.</p>'
        natural = (train.with_columns(pl.col("language").fill_null(UND))
                   .group_by("language").agg((pl.col("seconds").sum() / 3600).alias("natural")))
        plans: list[pl.DataFrame] = []
        for b in self.betas:
            plan = sampling_plan(u, b).group_by("language").agg(pl.col("epoch_hours").sum())
            plans.append(plan.rename({"epoch_hours": f"b{len(plans)}"}))
        g = natural
        for p in plans:
            g = g.join(p, on="language", how="left")
        g = g.sort(["natural", "language"], descending=[True, False])
        names = [f"βc={b.corpus:g}, βl={b.language:g}" for b in self.betas]
        rows = []
        for r in g.iter_rows(named=True):
            cells: list[Any] = [r["language"], _lang_name(r["language"]), r["natural"]]
            for i in range(len(self.betas)):
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
                f"rise.</p>{_table(cols, rows, tid='sampling-table', tall=True)}"
                f"<h3>Epoch hours per language (log scale)</h3>{chart}")

    def _diff(self) -> str:
        parent_id = self.info.get("parent")
        if not parent_id:
            return '<p class="muted">No parent release: this is the first release, so there is nothing to compare.</p>'
        parent_dir = self.release.path.parent / str(parent_id)
        if not (parent_dir / "release.json").exists():
            self.notes.append(f"The parent release <code>{_e(parent_id)}</code> is not next to this one; no diff.")
            return (f'<p class="muted">The parent release <code>{_e(parent_id)}</code> was not found next to this '
                    "one, so there is no diff.</p>")
        parent = open_release(parent_dir)
        pu = _frame(parent.table("utterances")).select("language", "corpus", "seconds")
        cu = self.u.select("language", "corpus", "seconds")

        def per(df: pl.DataFrame, key: str) -> dict[str, float]:
            return dict(df.with_columns(pl.col(key).fill_null(UND)).group_by(key)
                        .agg(pl.col("seconds").sum() / 3600).iter_rows())

        before, after = per(pu, "language"), per(cu, "language")
        cb, ca = per(pu, "corpus"), per(cu, "corpus")
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        c_added = sorted(set(ca) - set(cb))
        c_removed = sorted(set(cb) - set(ca))

        def codes(xs: list[str]) -> str:
            return ", ".join(f"<code>{_e(x)}</code>" for x in xs) if xs else "none"

        out = [f"<p>Compared with the parent release <strong>{_e(parent_id)}</strong> "
               f"(created {_e(parent.info.get('created'))}).</p>",
               '<dl class="meta">'
               f"<dt>Languages added</dt><dd>{codes(added)}</dd><dt>Languages removed</dt><dd>{codes(removed)}</dd>"
               f"<dt>Corpora added</dt><dd>{codes(c_added)}</dd><dt>Corpora removed</dt><dd>{codes(c_removed)}</dd>"]
        if parent.info.get("config_hash") != self.info.get("config_hash"):
            out.append(f"<dt>Config</dt><dd>changed: <code>{_e(parent.info.get('config_hash'))}</code> → "
                       f"<code>{_e(self.info.get('config_hash'))}</code></dd>")
        out.append("</dl>")
        if removed:
            self.notes.append(f"{len(removed)} language{'s' if len(removed) != 1 else ''} removed since "
                              f"{_e(parent_id)}: {codes(removed[:12])}.")
        if c_removed:
            self.notes.append(f"Corpora removed since {_e(parent_id)}: {codes(c_removed)}.")
        pc, cc = parent.info.get("counts") or {}, self.info.get("counts") or {}
        count_rows = []
        for key in ("utterances", "hours", "languages", "corpora", "shards", "rejects"):
            b, a = pc.get(key), cc.get(key)
            count_rows.append((key.capitalize(), b, a, None if b is None or a is None else a - b))
        out.append(_table([Col("Count"), Col(f"{parent_id}", "float"), Col(f"{self.release.id}", "float"),
                           Col("Change", "float")],
                          [(k, *(Html(_e(_fmt_num(x, "hours" if k == "Hours" else "int")) if x is not None else NA,
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
            rows.append((lang, _lang_name(lang), badge, b, a,
                         Html(f"{sign}{fmt_hours(change)}" if change else "0", change),
                         Html(f"{'+' if rel and rel > 0 else ''}{100 * rel:.1f} %" if rel is not None else NA, rel)))
        cols = [Col("Language", "code"), Col("Name"), Col("Status"), Col(f"{parent_id} h", "hours"),
                Col(f"{self.release.id} h", "hours"), Col("Change h", "hours"), Col("Change", "pct")]
        out.append(f"<h3>Hours per language</h3>{_table(cols, rows, tid='diff-table', tall=True)}")
        return "".join(out)


# ------------------------------------------------------------------------------------------------ assets

CSS = """
:root{--fg:#1d232b;--muted:#5b6470;--line:#d9dee4;--bg:#ffffff;--soft:#f4f6f8;--accent:#0b5cad;
--good:#0a7a3d;--bad:#b3261e}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--fg);background:var(--bg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Liberation Sans","DejaVu Sans",Arial,sans-serif}
.wrap{max-width:1080px;margin:0 auto;padding:0 24px}
header{background:#13293d;color:#fff;padding:22px 0 0;margin-bottom:8px}
header h1{margin:0 0 14px;font-size:30px;font-weight:650;letter-spacing:-.01em}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:#b7c6d6}
nav{display:flex;flex-wrap:wrap;gap:2px 18px;padding:0 0 12px;font-size:14px}
nav a{color:#dce7f2;text-decoration:none;border-bottom:1px solid transparent}
nav a:hover,nav a:focus{color:#fff;border-bottom-color:#fff}
section{padding:18px 0 26px;border-bottom:1px solid var(--line)}
h2{font-size:22px;margin:8px 0 10px;font-weight:650}
h3{font-size:16px;margin:22px 0 8px;font-weight:650}
p{margin:6px 0 10px;max-width:78ch}
code,.code{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono","Liberation Mono",Menlo,monospace;
font-size:.9em}
.muted{color:var(--muted)}
.ok{color:var(--good)}
.bad{color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;margin:14px 0}
.card{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card-label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.card-value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}
.card-sub{font-size:13px;color:var(--muted)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:10px 0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;word-break:break-word}
.verdict{border-radius:8px;padding:10px 14px;margin:12px 0;border:1px solid}
.verdict.pass{background:#eaf6ee;border-color:#9fd3b1}
.verdict.fail{background:#fcebea;border-color:#efaaa5}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-weight:650;color:#fff;font-size:13px}
.badge.pass{background:var(--good)}
.badge.fail{background:var(--bad)}
ul.failing{margin:8px 0 2px 0;padding-left:20px}
ul.notes li{margin:3px 0}
details{margin:10px 0}
summary{cursor:pointer;color:var(--accent)}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;font-size:12px}
.scroll{overflow:auto;max-height:34rem;border:1px solid var(--line);border-radius:6px;margin:8px 0 12px}
.scroll.tall{max-height:44rem}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{padding:5px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #edf0f3}
thead th{position:sticky;top:0;background:#eef2f6;font-weight:650;white-space:nowrap;z-index:1;
border-bottom:1px solid var(--line)}
tfoot td{position:sticky;bottom:0;background:#eef2f6;font-weight:650;border-top:1px solid var(--line)}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef5fd}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.empty{color:var(--muted);text-align:center}
table[data-sortable=ready] thead th{cursor:pointer;user-select:none}
table[data-sortable=ready] thead th:hover{background:#e2e9f1}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
th:focus-visible{outline:2px solid var(--accent);outline-offset:-2px}
.na{color:#9aa3ad}
.meter{display:block;height:4px;background:#e3e7ec;border-radius:2px;margin-top:3px;min-width:60px}
.meter>span{display:block;height:4px;background:#0072B2;border-radius:2px}
.meter.warn>span{background:#D55E00}
.factor{color:var(--muted);font-size:12px}
ul.examples{margin:0;padding-left:16px;font-size:12.5px}
ul.examples li{margin:0 0 4px;word-break:break-word}
.src{color:var(--muted)}
.st{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600}
.st.added{background:#e3f3e8;color:#0a6a35}.st.removed{background:#fbe5e3;color:#9c221b}
.st.changed{background:#fff1d6;color:#7a4d00}.st.same{background:#eef0f2;color:#5b6470}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0 10px}
svg.chart text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",
"DejaVu Sans",Arial,sans-serif;fill:#2b323b}
svg.chart .tick{font-size:11px;fill:#5b6470}
svg.chart .label{font-size:12px}
svg.chart .value{font-size:11px;fill:#5b6470}
svg.chart .legend{font-size:12px}
svg.chart .bound{font-size:12px;font-weight:650;fill:#b3261e}
svg.chart .grid{stroke:#e6e9ed;stroke-width:1}
svg.chart .grid.minor{stroke:#f2f4f6}
svg.chart .axis{stroke:#8a939d;stroke-width:1}
svg.chart rect:hover{opacity:.8}
footer{color:var(--muted);font-size:13px;padding:18px 24px 40px}
@media print{.scroll{max-height:none;overflow:visible}header{background:none;color:#000}nav{display:none}}
"""

#: Sortable tables: click (or Enter) on a header sorts by it, again to reverse. Numbers sort by data-v.
JS = """
(function () {
  function key(td, num) {
    if (!td) { return num ? NaN : ''; }
    var v = td.getAttribute('data-v');
    if (num) { return v === null || v === '' ? NaN : parseFloat(v); }
    return (v !== null ? v : td.textContent).trim().toLowerCase();
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (t) {
    var head = t.tHead && t.tHead.rows[0];
    if (!head || !t.tBodies.length) { return; }
    Array.prototype.forEach.call(head.cells, function (th, i) {
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(head.cells, function (o) { o.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var num = th.classList.contains('num');
        var body = t.tBodies[0];
        var rows = Array.prototype.map.call(body.rows, function (r, j) { return [key(r.cells[i], num), j, r]; });
        rows.sort(function (a, b) {
          var x = a[0], y = b[0], c;
          if (num) {
            var xn = isNaN(x), yn = isNaN(y);
            if (xn || yn) { return xn === yn ? a[1] - b[1] : (xn ? 1 : -1); }
            c = x - y;
          } else {
            c = x.localeCompare(y);
          }
          return (asc ? c : -c) || a[1] - b[1];
        });
        rows.forEach(function (r) { body.appendChild(r[2]); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
      });
    });
    t.setAttribute('data-sortable', 'ready');
  });
})();
"""
