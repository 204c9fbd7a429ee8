"""The language type: `{ISO 639-3}_{ISO 15924}` (eng_Latn, cmn_Hans), and the mapping onto it from the
codes public corpora write.

Accepted inputs, case-insensitive, `-` or `_` as separator:
  - our own form `eng_Latn`;
  - ISO 639-3 (`eng`), ISO 639-1 (`en`), ISO 639-2/B (`ger`), optionally followed by an ISO 15924
    script and/or a region: FLEURS (`en_us`, `cmn_hans_cn`), Common Voice (`sv-SE`, `zh-TW`),
    BCP-47 (`zh-Hans-CN`, `sr-Latn-RS`).
The script comes from the code when given, else from the region for the few languages whose script
depends on it (zh-TW), else from the default-script table, else from the Unicode script of the
transcript. Macrolanguages map to the individual language that speech corpora mean by them (ar ->
arb, zh -> cmn, fa -> pes), as FLORES-200 and the Omnilingual ASR release do.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib import resources
from typing import NewType

import pycountry
from omnicorpus.manifests.scripts import dominant_script

LanguageCode = NewType("LanguageCode", str)

#: Undetermined language (ISO 639-3 `und`), for unlabelled audio whose language nobody knows.
UNDETERMINED = "und"

_OUR_FORM = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")

#: Macrolanguage -> the individual language its speech corpora are in (FLORES-200 convention).
MACRO_DEFAULT = {
    "ara": "arb", "zho": "cmn", "fas": "pes", "msa": "zsm", "swa": "swh", "nep": "npi", "est": "ekk",
    "lav": "lvs", "uzb": "uzn", "mon": "khk", "orm": "gaz", "sqi": "als", "aze": "azj", "mlg": "plt",
    "yid": "ydd", "kur": "kmr", "pus": "pbt", "ori": "ory", "que": "quy", "aym": "ayr", "ful": "fuv",
    "nor": "nob", "kok": "gom", "lah": "pnb", "grn": "grn", "tgl": "tgl",
}

#: Codes whose meaning in a public corpus differs from what the code tables say.
SOURCE_SPECIFIC = {
    "zh-hk": "yue_Hant",  # Common Voice zh-HK is Cantonese
    "zh-yue": "yue_Hant",
    "rm-sursilv": "roh_Latn",  # Common Voice Romansh variants
    "rm-vallader": "roh_Latn",
    "nan-tw": "nan_Hant",
    "fil": "fil_Latn",
}

#: (language, region) -> script, where the region decides the script.
REGION_SCRIPT = {
    ("cmn", "tw"): "Hant", ("cmn", "hk"): "Hant", ("cmn", "mo"): "Hant",
    ("cmn", "cn"): "Hans", ("cmn", "sg"): "Hans",
    ("uzn", "af"): "Arab", ("pnb", "pk"): "Arab", ("pan", "pk"): "Arab", ("snd", "in"): "Arab",
}


class UnknownLanguageError(ValueError):
    """A language code that names no language (or no script) we can identify."""

    def __init__(self, code: str, source: str, why: str) -> None:
        where = f" (source: {source})" if source else ""
        super().__init__(f"unknown language code {code!r}{where}: {why}")
        self.code = code
        self.source = source


@cache
def _default_scripts() -> dict[str, str]:
    text = resources.files("omnicorpus.manifests").joinpath("data/default_scripts.tsv").read_text("utf-8")
    rows = csv.DictReader((ln for ln in text.splitlines() if not ln.startswith("#")), delimiter="\t")
    return {r["iso639_3"]: r["script"] for r in rows}


@cache
def _script_codes() -> frozenset[str]:
    return frozenset(s.alpha_4 for s in pycountry.scripts)


@cache
def _iso639_3(code: str) -> str | None:
    """ISO 639-3 code for a 639-1, 639-2/B, 639-2/T or 639-3 code; None when it names nothing."""
    code = code.lower()
    if len(code) == 2:
        lang = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        lang = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(bibliographic=code)
    else:
        return None
    if lang is None:
        return None
    return MACRO_DEFAULT.get(lang.alpha_3, lang.alpha_3)


def is_language(code: str) -> bool:
    """True when `code` is already in our form and both of its parts are in the code tables."""
    if not isinstance(code, str) or not _OUR_FORM.match(code):
        return False
    lang, script = code.split("_")
    return pycountry.languages.get(alpha_3=lang) is not None and script in _script_codes()


def split_language(code: str) -> tuple[str, str]:
    """(ISO 639-3, ISO 15924) of a code in our form."""
    lang, _, script = code.partition("_")
    return lang, script


def language_name(code: str) -> str:
    """Human name, e.g. 'English (Latin)'."""
    lang, script = split_language(code)
    entry = pycountry.languages.get(alpha_3=lang)
    sentry = pycountry.scripts.get(alpha_4=script)
    return f"{entry.name if entry else lang} ({sentry.name if sentry else script})"


@cache
def _parse(code: str, source: str) -> tuple[str, str | None]:
    """(ISO 639-3, script or None) from any accepted form; raises UnknownLanguageError."""
    raw = code.strip()
    if not raw:
        raise UnknownLanguageError(code, source, "empty code")
    key = raw.lower().replace("_", "-")
    if key in SOURCE_SPECIFIC:
        lang, script = SOURCE_SPECIFIC[key].split("_")
        return lang, script
    parts = key.split("-")
    lang = _iso639_3(parts[0])
    if lang is None:
        raise UnknownLanguageError(code, source, f"{parts[0]!r} is not an ISO 639-1, 639-2 or 639-3 code")
    script: str | None = None
    region: str | None = None
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha() and script is None:
            script = part.title()
            if script not in _script_codes():
                raise UnknownLanguageError(code, source, f"{script!r} is not an ISO 15924 script")
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            region = region or part
        elif len(part) >= 5 or part.startswith("x"):
            continue  # BCP-47 variants and private use subtags say nothing of language or script
        else:
            raise UnknownLanguageError(code, source, f"cannot read subtag {part!r}")
    if script is None and region is not None:
        script = REGION_SCRIPT.get((lang, region))
    if script is None:
        script = _default_scripts().get(lang)
    return lang, script


def to_language(code: str, *, source: str = "", text: str | None = None) -> LanguageCode:
    """Map a code as a source writes it onto our language type.

    `text` (a transcript) decides the script when neither the code nor the tables do. Raises
    UnknownLanguageError naming the code and the source when that fails.
    """
    lang, script = _parse(code, source)
    if script is None and text:
        detected = dominant_script(text)
        # Han text of unknown variant, or composite scripts, still make a valid 15924 code.
        script = detected if detected in _script_codes() else None
    if script is None:
        raise UnknownLanguageError(
            code, source, f"no default script for {lang!r}; give it in the code (e.g. {lang}_Latn)"
        )
    return LanguageCode(f"{lang}_{script}")
