"""The report's sections, in the order the page shows them: each an id (its anchor), a title and the function
that writes its body from the release's `ReportData`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omnicorpus.quality.report_audio import audio_quality_section
from omnicorpus.quality.report_contents import durations_section, hours_section, long_tail_section, speakers_section
from omnicorpus.quality.report_curation import community_section, lid_section, rejects_section, sources_section
from omnicorpus.quality.report_data import ReportData
from omnicorpus.quality.report_diff import diff_section
from omnicorpus.quality.report_licences import licences_section
from omnicorpus.quality.report_overview import overview_section
from omnicorpus.quality.report_training import sampling_section, splits_section


@dataclass(frozen=True)
class Section:
    """A section of the page: `id` is its anchor, `body` writes its HTML (and may leave notes in the data)."""

    id: str
    title: str
    body: Callable[[ReportData], str]


#: First on the page, written last: it lists the notes the other sections leave while they are written.
OVERVIEW = Section("overview", "Overview", overview_section)

#: Written in this order, which is also the order of their notes in the overview.
DETAIL_SECTIONS: tuple[Section, ...] = (
    Section("sources", "Sources", sources_section),
    Section("licences", "Licences", licences_section),
    Section("hours", "Hours by language and corpus", hours_section),
    Section("long-tail", "The long tail", long_tail_section),
    Section("durations", "Durations and speaking rate", durations_section),
    Section("audio-quality", "Audio quality", audio_quality_section),
    Section("rejects", "Rejects", rejects_section),
    Section("lid", "Language identification", lid_section),
    Section("speakers", "Speakers", speakers_section),
    Section("community", "Community contributions", community_section),
    Section("splits", "Splits", splits_section),
    Section("sampling", "Sampling", sampling_section),
    Section("diff", "Changes since the parent release", diff_section),
)

PAGE_SECTIONS: tuple[Section, ...] = (OVERVIEW, *DETAIL_SECTIONS)


def render_sections(data: ReportData) -> list[tuple[str, str, str]]:
    """(id, title, body) of every section in page order; the overview's body is written after the others'."""
    bodies = {section.id: section.body(data) for section in DETAIL_SECTIONS}
    bodies[OVERVIEW.id] = OVERVIEW.body(data)
    return [(section.id, section.title, bodies[section.id]) for section in PAGE_SECTIONS]
