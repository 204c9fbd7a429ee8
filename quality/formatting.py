"""Text of the release report: escaping data for HTML and numbers written as a reader wants them.

Shared by the charts (labels, tooltips) and the tables (cells and the keys they sort by).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np


def escape(value: Any) -> str:
    """Escape text from the data for HTML text and attribute values; '//' never appears literally."""
    text = "" if value is None else str(value)
    return html.escape(text, quote=True).replace("//", "/&#47;")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_hours(h: float | None) -> str:
    """Hours, rounded to what a reader needs: 1,234 / 12.3 / 1.23 / 0.0123 (three significant digits)."""
    if is_missing(h):
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


def format_number(value: float, kind: str) -> str:
    """A number as a table shows it; `kind` is a column kind (see `page.Col`)."""
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


def sort_key(value: Any) -> str:
    """What a table cell sorts by (its data-v): numbers in full precision, text escaped, missing empty."""
    if is_missing(value):
        return ""
    if isinstance(value, bool | int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format(float(value), ".12g")
    return escape(value)


def shorten(text: str | None, limit: int = 160) -> str:
    """At most `limit` characters, an ellipsis marking the cut."""
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
