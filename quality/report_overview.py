"""The report's overview: the gate's verdict, the release's counts and identity, and the notes every other
section left ("Things to look at"), which is why it is rendered after them."""

from __future__ import annotations

import json
import math
from typing import Any

from omnicorpus.manifests.accounting import listed_sources
from omnicorpus.quality.formatting import escape, fmt_duration, fmt_hours, shorten
from omnicorpus.quality.page import NA
from omnicorpus.quality.report_data import ReportData


def _check_label(c: dict[str, Any]) -> str:
    """A check's name: its own, or `table.column: expectation` (the gate's Check)."""
    name = c.get("name") or c.get("check")
    if name:
        return str(name)
    where = ".".join(str(x) for x in (c.get("table"), c.get("column")) if x)
    what = c.get("expectation") or c.get("type") or "check"
    return f"{where}: {what}" if where else str(what)


def verdict_html(verdict: dict[str, Any]) -> str:
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
            f"<li><strong>{escape(n)}</strong>{': ' + escape(shorten(d, 300)) if d else ''}</li>" for n, d in shown)
                   + (f"<li>… and {len(failing) - len(shown):,} more</li>" if len(failing) > len(shown) else "")
                   + "</ul>")
    out.append("</div>")
    return "".join(out)


def overview_section(data: ReportData) -> str:
    info, u = data.info, data.utterances
    counts = dict(info.get("counts") or {})
    hours = float(counts.get("hours", u["seconds"].sum() / 3600 if u.height else 0.0))
    cards = [
        ("Utterances", f"{int(counts.get('utterances', u.height)):,}", ""),
        ("Hours", fmt_hours(hours), fmt_duration(hours)),
        ("Languages", f"{int(counts.get('languages', u['language'].drop_nulls().n_unique())):,}", ""),
        ("Corpora", f"{int(counts.get('corpora', u['corpus'].n_unique())):,}", ""),
        ("Shards", f"{int(counts.get('shards', 0)):,}", ""),
        ("Rejects", f"{int(counts.get('rejects', data.rejects.height)):,}", ""),
    ]
    out = []
    if data.verdict is not None:
        out.append(verdict_html(data.verdict))
    out.append('<div class="cards">' + "".join(
        f'<div class="card"><div class="card-label">{escape(k)}</div><div class="card-value">{v}</div>'
        f'{f"<div class=card-sub>{escape(s)}</div>" if s else ""}</div>' for k, v, s in cards) + "</div>")
    content = str(info.get("content_sha256") or "")
    parent = info.get("parent")
    parent_info: dict[str, Any] = parent if isinstance(parent, dict) else {}
    selection = info.get("kind") == "selection" and bool(parent_info)
    meta = [
        ("Release", info.get("id")),
        ("Created", info.get("created")),
        ("Parent", (f"selection of {parent_info.get('id')} ({parent_info.get('path')})" if selection
                    else parent) or "none (first release)"),
        *([("Query", json.dumps({k: v for k, v in info.get("query", {}).items() if v not in (None, [])},
                                sort_keys=True))] if selection else []),
        ("Config hash", info.get("config_hash")),
        ("Schema version", info.get("schema_version")),
        ("Content digest", content[:16] + ("…" if len(content) > 16 else "")),
        ("Sources", ", ".join(s["name"] for s in listed_sources(info)) or None),
    ]
    title = f' title="{escape(content)}"'
    out.append('<dl class="meta">' + "".join(
        f"<dt>{escape(k)}</dt><dd{title if k == 'Content digest' else ''}>"
        f"{escape(v) if v is not None else NA}</dd>" for k, v in meta) + "</dl>")
    _check_counts(data, counts)
    if data.scope.sampled:
        out.append(f'<p class="muted">A release of {int(counts.get("utterances", 0)):,} utterances: the totals '
                   f"come from its summary and shards manifests; durations, speakers and language identification "
                   f"are drawn from {escape(data.scope.describe())}.</p>")
    simulated = info.get("simulated")
    if simulated:
        out.append('<p class="bad"><strong>Simulated release</strong>: manifests only, no audio (omnicorpus '
                   "simulate). Not for training.</p>")
    by_stage = counts.get("rejects_by_stage") or {}
    if by_stage:
        out.append('<p class="muted">Rejects by stage: ' + ", ".join(
            f"{escape(s)} {int(n):,}" for s, n in sorted(by_stage.items())) + ".</p>")
    out.append("<h3>Things to look at</h3>")
    if data.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{n}</li>" for n in data.notes) + "</ul>")
    else:
        out.append('<p class="ok">Nothing stands out: every bound holds and every language agrees with its '
                   "language identification.</p>")
    if info.get("params"):
        out.append("<details><summary>Stage parameters of this release</summary><pre>"
                   + escape(json.dumps(info["params"], indent=2, sort_keys=True)) + "</pre></details>")
    return "".join(out)


def _check_counts(data: ReportData, counts: dict[str, Any]) -> None:
    """A note where release.json's counts disagree with the manifests this report is made from."""
    u = data.utterances if not data.scope.sampled else data.summary  # a sample of utterances: the summary's
    sampled = data.scope.sampled
    actual = {"utterances": int(u["utterances"].sum()) if sampled else u.height,
              "languages": u["language"].drop_nulls().n_unique(),
              "corpora": u["corpus"].n_unique(), "rejects": data.rejects.height}
    for key, value in actual.items():
        if key in counts and int(counts[key]) != value:
            data.notes.append(f"release.json counts {int(counts[key]):,} {key}, the manifests {value:,}.")
    hours = float(u["hours"].sum() or 0.0) if sampled else float(u["seconds"].sum() or 0.0) / 3600
    if "hours" in counts and not math.isclose(float(counts["hours"]), hours, rel_tol=1e-4, abs_tol=1e-5):
        data.notes.append(f"release.json counts {fmt_hours(float(counts['hours']))} hours, the manifests "
                          f"{fmt_hours(hours)}.")
