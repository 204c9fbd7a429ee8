"""The report's licence ledger: what the release holds under each licence, by corpus and language, from
release.json's `licences` (manifests.licences.licence_ledger), and a note for audio held without a licence."""

from __future__ import annotations

from omnicorpus.manifests.licences import UNKNOWN_LICENCE, is_open_licence
from omnicorpus.quality.formatting import escape
from omnicorpus.quality.page import Col, sortable_table
from omnicorpus.quality.report_data import ReportData


def licences_section(data: ReportData) -> str:
    ledger = data.info.get("licences")
    if not isinstance(ledger, dict) or not ledger.get("by_licence"):
        return ('<p class="muted">This release records no licence ledger (made before schema 1.7): rebuild it to '
                "see its hours per licence.</p>")
    by_licence: dict[str, dict] = ledger["by_licence"]
    unlicensed = ledger.get("unlicensed_corpora") or []
    if unlicensed:
        hours = by_licence.get(UNKNOWN_LICENCE, {}).get("hours", 0.0)
        data.notes.append(f"{hours:,.3f} hours of corpus {escape(', '.join(unlicensed))} have no licence (neither "
                          "the items nor their source name one): set the source's <code>license</code> before "
                          "publishing the release.")
    summary_cols = [Col("Licence", "code"), Col("Open", tip="lets anyone redistribute the audio and its metadata"),
                    Col("Corpora", "int"), Col("Languages", "int"), Col("Utterances", "int"), Col("Hours", "hours")]
    summary_rows = []
    detail_rows = []
    for licence, entry in sorted(by_licence.items(), key=lambda kv: -kv[1]["hours"]):
        corpora: dict[str, dict[str, float]] = entry["corpora"]
        languages = {lang for by_lang in corpora.values() for lang in by_lang}
        opened = "unknown" if licence == UNKNOWN_LICENCE else ("yes" if is_open_licence(licence) else "no")
        summary_rows.append((licence, opened, len(corpora), len(languages), entry["utterances"], entry["hours"]))
        for corpus, by_lang in sorted(corpora.items()):
            detail_rows.append((licence, corpus, len(by_lang), sum(by_lang.values()),
                                ", ".join(f"{lang} {h:,.3f} h" for lang, h in sorted(by_lang.items(),
                                                                                     key=lambda kv: -kv[1])[:8])))
    detail_cols = [Col("Licence", "code"), Col("Corpus", "code"), Col("Languages", "int"), Col("Hours", "hours"),
                   Col("Largest languages", tip="hours per language, largest first (eight at most)")]
    return ("<p>Each utterance is under its item's licence (a community recording's own), else its source's; "
            "<code>omnicorpus select --licences</code> and <code>omnicorpus export --licences</code> keep "
            f"those of the licences given.</p>{sortable_table(summary_cols, summary_rows, tid='licences-table')}"
            f"<h3>By corpus</h3>{sortable_table(detail_cols, detail_rows, tid='licences-corpora-table')}")
