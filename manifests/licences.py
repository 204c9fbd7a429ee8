"""What a source's licence lets a release publish: the open licences, and whether a corpus's own speaker ids
are kept beside their pseudonyms.

A release always carries `speaker`, a salted pseudonym that links a speaker's utterances within the release
and nothing more. A public corpus's own speaker ids (LibriSpeech's reader 103, a Kaldi `utt2spk`, a Lhotse
supervision's `speaker`) are also kept as `speaker_source` when its licence is open (the corpus publishes them
under it, so a user may join them back to its `SPEAKERS.TXT`), or when the source's config says
`speaker_ids: keep`; never for community recordings, whose partners' speakers stay pseudonymised whatever the
config says, and never under `speaker_ids: pseudonymise`.

The licence ledger (`licence_ledger`, in every release.json and the report) says what a release holds under
each licence, by corpus and language, and names the corpora that hold audio without any licence.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

#: `speaker_ids` in a source's config: auto (kept when the licence is open), keep, pseudonymise.
SPEAKER_ID_POLICIES = ("auto", "keep", "pseudonymise")

#: Lowercased SPDX ids (and their families, by prefix) of licences that let anyone redistribute the corpus and
#: its metadata: Creative Commons (every CC BY variant and CC0), Open Data Commons, CDLA, and the permissive
#: software licences some corpora use.
_OPEN_PREFIXES = ("cc0", "cc-by", "pddl", "odc-by", "odbl", "cdla-", "apache-2.0", "mit", "bsd-", "public-domain")


def is_open_licence(license: str | None) -> bool:
    """True for an SPDX id (any case) of an open licence; False for none, `unknown` or anything else."""
    return bool(license) and str(license).strip().lower().startswith(_OPEN_PREFIXES)


def keeps_speaker_ids(policy: str, layout: str, license: str | None) -> bool:
    """Whether an item of a source (its `speaker_ids` policy, its layout, its licence) keeps its own speaker id
    as `speaker_source` (see the module doc)."""
    if layout == "community" or policy == "pseudonymise":
        return False
    return policy == "keep" or is_open_licence(license)


#: The ledger's name for what no licence was given for (neither the item nor its source named one).
UNKNOWN_LICENCE = "unknown"


def licence_ledger(parts: pl.DataFrame) -> dict[str, Any]:
    """release.json's `licences`: what a release holds under each licence, from `parts` (columns language,
    corpus, license, hours, utterances; one row per any grouping finer than those).

    {"by_licence": {licence: {"hours", "utterances", "corpora": {corpus: {language: hours}}}},
     "unlicensed_corpora": [corpora holding anything without a licence]}. A null licence is `unknown`, a null
    language `und`; keys sorted, hours rounded to the microhour, so the same release gives the same bytes.
    """
    from omnicorpus.manifests.languages import UNDETERMINED

    rows = (parts.with_columns(pl.col("license").fill_null(UNKNOWN_LICENCE), pl.col("language").fill_null(UNDETERMINED))
            .group_by("license", "corpus", "language").agg(pl.col("hours").sum(), pl.col("utterances").sum())
            .sort("license", "corpus", "language"))
    by_licence: dict[str, dict[str, Any]] = {}
    for r in rows.iter_rows(named=True):
        entry = by_licence.setdefault(r["license"], {"hours": 0.0, "utterances": 0, "corpora": {}})
        entry["hours"] += r["hours"]
        entry["utterances"] += int(r["utterances"])
        entry["corpora"].setdefault(r["corpus"], {})[r["language"]] = round(r["hours"], 6)
    for entry in by_licence.values():
        entry["hours"] = round(entry["hours"], 6)
    unknown = by_licence.get(UNKNOWN_LICENCE, {}).get("corpora", {})
    return {"by_licence": by_licence, "unlicensed_corpora": sorted(unknown)}


def utterance_parts(utterances: pa.Table) -> pl.DataFrame:
    """The ledger's parts of a release's whole utterances table."""
    u = pl.DataFrame(utterances.select(["language", "corpus", "license", "seconds"]))
    return u.group_by("language", "corpus", "license").agg((pl.col("seconds").sum() / 3600).alias("hours"),
                                                          pl.len().alias("utterances"))


def summary_parts(summary: pa.Table, sources: list[dict[str, Any]] | None) -> pl.DataFrame:
    """The ledger's parts of a release's summary (one whose utterances are a sample), each corpus under its
    source's licence (release.json `sources`)."""
    licences = {s["name"]: s.get("license") for s in sources or [] if isinstance(s, dict)}
    s = pl.DataFrame(summary.select(["language", "corpus", "hours", "utterances"]))
    return s.with_columns(pl.col("corpus").replace_strict(licences, default=None, return_dtype=pl.String)
                          .alias("license"))
