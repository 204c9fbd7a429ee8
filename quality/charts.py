"""The release report's charts: inline SVG drawn here in Python, so the page loads nothing.

Horizontal stacked bars (`hbar_chart`), vertical bars and lines on a log scale (`log_bar_chart`,
`log_line_chart`) and a histogram with a bound (`histogram_chart`). Every label and tooltip is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnicorpus.quality.formatting import escape, fmt_duration, fmt_hours, shorten

#: Okabe-Ito (safe for the common colour-vision deficiencies), then Paul Tol's muted scheme.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#999933",
           "#882255", "#44AA99", "#AA4499", "#117733", "#DDCC77", "#88CCEE", "#999999")
SPLIT_COLORS = {"train": "#0072B2", "dev": "#E69F00", "test": "#009E73"}
BOUND_COLOR = "#D55E00"
BAR_COLOR = "#0072B2"

CHART_WIDTH = 960


def nice_step(span: float, n: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into about `n` parts."""
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
    step = nice_step(hi, n)
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
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>')


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{escape(text)}</text>'


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
        parts.append(_text(label_width - 8, y + bar_h - 3, shorten(name, int((label_width - 12) / 6.6)),
                           anchor="end", cls="label"))
        x = float(label_width)
        for series, value in segs:
            if value <= 0:
                continue
            w = value * scale
            parts.append(f'<rect x="{x:.2f}" y="{y:.1f}" width="{max(w, 0.6):.2f}" height="{bar_h}" '
                         f'fill="{colors.get(series, BAR_COLOR)}"><title>{escape(tip)}{escape(series)}: '
                         f'{escape(fmt(value))} {unit}</title></rect>')
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
                     f'fill="{BAR_COLOR}"><title>{escape(tip)}</title></rect>')
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
                     f"<title>{escape(name)}</title></path>")
        if dots and not dash:
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>')
    parts += _x_labels(categories, left, step, base + 12, max(1, math.ceil(len(categories) / 80)))
    return _svg(width, base + 80, "".join(parts), label)


def histogram_chart(values: np.ndarray, *, hi: float, bins: int, bound: float | None, bound_label: str, unit: str,
                    label: str, lower_bound: bool = False) -> str:
    """A histogram of values over [0, hi) (larger ones in the last bin, smaller in the first), the bound as a
    dashed line (none: no line) and the bars beyond it, above an upper bound or below a `lower_bound`, marked."""
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
        over = bound is not None and (edges[i + 1] <= bound if lower_bound else edges[i] >= bound)
        last = i == bins - 1 and values.max() >= hi
        span = f"≥ {edges[i]:g}" if last else f"{edges[i]:g}–{edges[i + 1]:g}"
        parts.append(f'<rect x="{x0 + 0.5:.2f}" y="{base - h:.2f}" width="{max(x1 - x0 - 1, 0.8):.2f}" '
                     f'height="{h:.2f}" fill="{BOUND_COLOR if over else BAR_COLOR}">'
                     f"<title>{escape(span)} {escape(unit)}: {int(c):,}</title></rect>")
    for t in _linear_ticks(hi, 10):
        if t > hi + 1e-9:
            continue
        x = left + t * xscale
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>')
        parts.append(_text(x, base + 17, f"{t:g}", anchor="middle", cls="tick"))
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>')
    parts.append(_text((left + right) / 2, base + 34, unit, anchor="middle", cls="tick"))
    if bound is not None:
        bx = left + bound * xscale
        parts.append(f'<line x1="{bx:.1f}" y1="{top - 6}" x2="{bx:.1f}" y2="{base}" stroke="{BOUND_COLOR}" '
                     f'stroke-width="2" stroke-dasharray="6 4"/>')
        parts.append(_text(bx - 6, top + 6, bound_label, anchor="end", cls="bound"))
    return _svg(width, base + 42, "".join(parts), label)

