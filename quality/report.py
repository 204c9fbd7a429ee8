"""The release report: one static, self-contained HTML file for a person deciding whether to trust a release.

    write_report(release_dir)  ->  <output root>/quality/<release id>/report.html

The file opens offline: no URL anywhere in it (no CDN, web fonts or linked images; a Content-Security-Policy
forbids any fetch), CSS inline, every chart an inline SVG drawn in Python (`quality.charts`), and a few lines of
vanilla JavaScript that only make the tables sortable (`quality.page`). Every string from the data is
HTML-escaped, with "//" written as "/&#47;" so that no source URI in the data reads as a reference either.
The same release gives the same bytes: nothing in the file depends on when it was made (the only time in
it is the release's own `created`). It is written to a temporary file and renamed into place.

Sections (each a `<section id=...>` with an `<h2>`), listed in `quality.report_sections`: overview, sources,
licences, hours, long-tail, durations, rejects, lid, speakers, community, splits, sampling, diff.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnicorpus.manifests import storage
from omnicorpus.manifests.layout import quality_dir
from omnicorpus.manifests.release import Release, open_release
from omnicorpus.model.sampling import Betas
from omnicorpus.quality.page import render_page
from omnicorpus.quality.report_data import MAX_SECONDS, MIN_SAMPLES_PER_CHAR, UND, load_report_data
from omnicorpus.quality.report_sections import PAGE_SECTIONS, render_sections

__all__ = ["DEFAULT_BETAS", "MAX_SECONDS", "MIN_SAMPLES_PER_CHAR", "SECTIONS", "UND", "default_report_path",
           "render_report", "write_report"]

DEFAULT_BETAS: tuple[tuple[float, float], ...] = ((1.0, 1.0), (0.5, 0.5), (0.5, 0.25), (0.0, 0.0))

#: (id, title) of every section, in page order.
SECTIONS: tuple[tuple[str, str], ...] = tuple((section.id, section.title) for section in PAGE_SECTIONS)


def default_report_path(release: Release) -> str:
    """`<output root>/quality/<release id>/report.html` (a local path or a storage URI, as the root is); a
    selection's lies in the selection's folder (it has no output root of its own)."""
    if release.info.get("kind") == "selection":
        return storage.join(release.uri, "report.html")
    return storage.join(quality_dir(release.root, release.id), "report.html")


def write_report(release_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 betas: Sequence[tuple[float, float]] = DEFAULT_BETAS, verdict: Any = None) -> Path | str:
    """Write the HTML report of a release (a release folder, or an output root: its latest release).

    `betas` are the (beta_corpus, beta_language) pairs the sampling section shows; `verdict` is the quality
    gate's result when there is one: a `quality.gate.Verdict`, its `as_dict()`, or {"passed": bool, "checks":
    [{"name", "passed", "detail"}, ...]} (see `quality.report_overview.verdict_html`). Returns the path written
    (atomically: temp file, then rename), or the URI when the output root is on storage.
    """
    if verdict is not None and not isinstance(verdict, dict) and hasattr(verdict, "as_dict"):
        verdict = verdict.as_dict()  # a quality.gate.Verdict
    release = open_release(release_dir)
    text = render_report(release, betas=betas, verdict=verdict)
    target = os.fspath(out) if out is not None else default_report_path(release)
    storage.write_bytes_atomic(target, text.encode("utf-8", errors="backslashreplace"))
    return target if storage.is_remote(target) else Path(target.removeprefix("file://"))


def render_report(release: Release, *, betas: Sequence[tuple[float, float]] = DEFAULT_BETAS,
                  verdict: dict | None = None) -> str:
    """The report of a release as one HTML string (what write_report writes)."""
    data = load_report_data(release, [Betas(float(c), float(lang)) for c, lang in betas], verdict)
    return render_page(release.id, release.info.get("schema_version", "?"), render_sections(data))
