"""The release report's HTML: sortable tables, and the page around the sections (inline CSS and script).

Nothing here loads anything: the Content-Security-Policy forbids every fetch, the CSS is inline and the only
script makes the tables sortable (the tables read fine without it; it marks each table it wired with
`data-sortable="ready"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnicorpus.quality.formatting import escape, format_number, is_missing, sort_key


@dataclass(frozen=True)
class Col:
    """A table column: its header, how its cells are written and sorted (`kind`), and the header's tooltip."""

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
        key = f' data-v="{sort_key(value.v)}"' if value.v is not None or col.numeric else ""
        return f"<td{cls}{key}>{value.markup}</td>"
    if not col.numeric:
        cls = ' class="code"' if col.kind == "code" else ""
        return f"<td{cls}>{NA if is_missing(value) else escape(value)}</td>"
    if is_missing(value):
        return f'<td class="num" data-v="">{NA}</td>'
    return f'<td class="num" data-v="{sort_key(value)}">{format_number(value, col.kind)}</td>'


def sortable_table(cols: Sequence[Col], rows: Sequence[Sequence[Any]], *, tid: str,
                   foot: Sequence[Any] | None = None, caption: str = "", tall: bool = False) -> str:
    """A table (id `tid`) the script lets a reader sort by any column; `foot` is its totals row and `tall` lets
    it scroll further before it scrolls inside itself."""
    head = "".join(
        "<th scope=\"col\"" + (' class="num"' if c.numeric else "") + (f' title="{escape(c.tip)}"' if c.tip else "")
        + f">{escape(c.label)}</th>" for c in cols)
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


def meter(share: float | None, warn: bool = False) -> Html:
    """A percentage with a small bar under it (for agreement and shares)."""
    if share is None:
        return Html(NA, None)
    cls = "meter warn" if warn else "meter"
    return Html(f'{100 * share:.1f} %<span class="{cls}"><span style="width:{100 * share:.1f}%"></span></span>',
                share)


def render_page(release_id: str, schema_version: Any, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: a header with the navigation, then each (id, title, body) as a `<section>`."""
    rid = escape(release_id)
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    bodies = "".join(f'<section id="{sid}"><h2>{escape(title)}</h2>{body}</section>'
                     for sid, title, body in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>Release {rid} — omnicorpus quality report</title><style>{CSS}</style></head><body>"
        f'<header><div class="wrap"><p class="kicker">omnicorpus quality report</p>'
        f"<h1>Release {rid}</h1><nav>{nav}</nav></div></header>"
        f'<main class="wrap">{bodies}</main>'
        f'<footer class="wrap">Made by omnicorpus.quality.report from the release manifests of {rid} '
        f"(schema {escape(schema_version)}). Self-contained: it loads nothing.</footer>"
        f"<script>{JS}</script></body></html>\n"
    )


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
