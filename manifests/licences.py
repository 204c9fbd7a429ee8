"""What a source's licence lets a release publish: the open licences, and whether a corpus's own speaker ids
are kept beside their pseudonyms.

A release always carries `speaker`, a salted pseudonym that links a speaker's utterances within the release
and nothing more. A public corpus's own speaker ids (LibriSpeech's reader 103, a Kaldi `utt2spk`, a Lhotse
supervision's `speaker`) are also kept as `speaker_source` when its licence is open (the corpus publishes them
under it, so a user may join them back to its `SPEAKERS.TXT`), or when the source's config says
`speaker_ids: keep`; never for community recordings, whose partners' speakers stay pseudonymised whatever the
config says, and never under `speaker_ids: pseudonymise`.
"""

from __future__ import annotations

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
