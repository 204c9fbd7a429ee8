"""The language type: `{ISO 639-3}_{ISO 15924}` (eng_Latn, cmn_Hans), and the mapping onto it from the
codes public corpora write.

Accepted inputs, case-insensitive, `-` or `_` as separator:
  - our own form `eng_Latn`;
  - ISO 639-3 (`eng`), ISO 639-1 (`en`), ISO 639-2/B (`ger`), optionally followed by an ISO 15924
    script and/or a region: FLEURS (`en_us`, `cmn_hans_cn`), Common Voice (`sv-SE`, `zh-TW`),
    BCP-47 (`zh-Hans-CN`, `sr-Latn-RS`, `zh-cmn-Hans`, `de-CH-1996`, `en-US-x-twain`);
  - a few deprecated codes still written by tools (`iw`, `in`, `ji`, `jw`, `mo`);
  - an English language name, as Kaldi `utt2lang` / `lang` files and Lhotse supervisions write them
    (`English`, `Swahili`, `Mandarin Chinese`, `mandarin`, `Farsi`): ISO 639-3's reference name
    (pycountry's `name`, `common_name`, `inverted_name`, with or without a trailing qualifier such as
    `(macrolanguage)`) of a living language or one with an ISO 639-1 code (Latin, Esperanto), of four
    letters or more, or one of COMMON_NAMES. A name maps exactly as the code it names would
    (`Swahili` is `sw`: swh_Latn; `Chinese` is `zh`: cmn_Hans). Where a qualifier-less name fits
    several languages, the macrolanguage wins (as its ISO 639-1 code would), then the one that has
    an ISO 639-1 code, then the one living language; else the name is ambiguous and rejected.
    A word of 2-3 letters is read as a code first (`Ga` is Irish `ga`; write `gaa` for Ga).
The script comes from the code when given, else from the region for the few languages whose script
depends on it (zh-TW), else from the default-script table, else from the Unicode script of the
transcript. Macrolanguages map to the individual language that speech corpora mean by them (ar ->
arb, zh -> cmn, fa -> pes), as FLORES-200 and the Omnilingual ASR release do; where the script or
the region names another member (az-Arab and az-IR -> azb, fa-AF -> prs, ku-Arab -> ckb), that one.
Macrolanguages with no entry (grn, aka, kon, srd, san, doi, hbs, ...) stay as they are.

Rejected, with a message naming the code and the source: codes in no table, ISO 639-5 / 639-2
collective codes (`sit`, `afa`, `bh`: a family, not one language), the local-use range qaa-qtz, the
special codes und / mul / mis / zxx, and the special scripts (Zyyy, Zzzz, Zinh, Qaaa, ...).
Regions are not checked against ISO 3166: they only pick a script or a macrolanguage member.
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
#: Keys are ISO 639-3 macrolanguages, values individual languages (tests check both).
MACRO_DEFAULT = {
    "ara": "arb", "zho": "cmn", "fas": "pes", "msa": "zsm", "swa": "swh", "nep": "npi", "est": "ekk",
    "lav": "lvs", "uzb": "uzn", "mon": "khk", "orm": "gaz", "sqi": "als", "aze": "azj", "mlg": "plt",
    "yid": "ydd", "kur": "kmr", "pus": "pbt", "ori": "ory", "que": "quy", "aym": "ayr", "ful": "fuv",
    "nor": "nob", "kok": "gom", "lah": "pnb", "kau": "knc", "din": "dik", "tmh": "taq", "chm": "mhr",
    "kom": "kpv",
}

#: (macrolanguage, script) -> the member written in that script, where it is not MACRO_DEFAULT's.
MACRO_BY_SCRIPT = {
    ("aze", "Arab"): "azb",  # Iranian (South) Azerbaijani
    ("kur", "Arab"): "ckb",  # Arabic-script Kurdish is Central Kurdish (Sorani)
    ("uzb", "Arab"): "uzs",  # Southern Uzbek (Afghanistan)
}

#: (macrolanguage, region) -> the member spoken there, where it is not MACRO_DEFAULT's.
MACRO_BY_REGION = {
    ("aze", "ir"): "azb",
    ("fas", "af"): "prs",  # Dari
    ("uzb", "af"): "uzs",
    ("swa", "cd"): "swc",  # Congo Swahili
}

#: Codes whose meaning in a public corpus differs from what the code tables say.
SOURCE_SPECIFIC = {
    "zh-hk": "yue_Hant",  # Common Voice zh-HK is Cantonese
    "zh-yue": "yue_Hant",  # BCP-47 grandfathered tag
    "rm-sursilv": "roh_Latn",  # Common Voice Romansh variants
    "rm-vallader": "roh_Latn",
    "nan-tw": "nan_Hant",  # Common Voice Taiwanese Hokkien (Han characters)
}

#: Deprecated codes that tools and corpora still write: ISO 639-1 (Java locales, Whisper's `jw`),
#: ISO 639-2/B, and ISO 639-3 codes retired since FLORES-200 was published (ajp -> apc in 2023).
DEPRECATED = {
    "iw": "heb", "in": "ind", "ji": "yid", "jw": "jav", "mo": "ron", "scc": "srp", "scr": "hrv",
    "ajp": "apc",
}

#: Language names that speech recipes write and ISO 639-3's reference names do not hold (or hold for
#: another language), lowercase, -> the code they mean.
COMMON_NAMES = {
    "mandarin": "cmn", "cantonese": "yue", "chinese mandarin": "cmn", "chinese cantonese": "yue",
    "hokkien": "nan", "taiwanese hokkien": "nan-tw", "min nan": "nan", "wu": "wuu", "shanghainese": "wuu",
    "farsi": "fas", "greek": "ell", "modern greek": "ell", "punjabi": "pan", "pashto": "pus",
    "uyghur": "uig", "kyrgyz": "kir", "haitian creole": "hat", "creole haitian": "hat",
    "castilian": "spa", "valencian": "cat", "flemish": "nld", "moldavian": "ron", "moldovan": "ron",
    "bangla": "ben", "sinhalese": "sin", "odia": "ori", "oriya": "ori", "kurmanji": "kmr",
    "sorani": "ckb", "dholuo": "luo", "luo": "luo", "kirundi": "run", "luganda": "lug",
    "sesotho": "sot", "sotho": "sot", "setswana": "tsn", "isizulu": "zul", "isixhosa": "xho",
    "nyanja": "nya", "chewa": "nya", "fula": "ful", "fulani": "ful", "fulfulde": "ful",
    "scots gaelic": "gla", "irish gaelic": "gle", "frisian": "fry", "west frisian": "fry",
    "occitan": "oci", "interlingua": "ina", "slovene": "slv", "bokmal": "nob", "bokmål": "nob",
    "norwegian bokmal": "nob", "nynorsk": "nno", "azeri": "aze", "sakha": "sah", "ilocano": "ilo",
    "greenlandic": "kal", "dhivehi": "div", "maldivian": "div", "laotian": "lao", "tigrigna": "tir",
    "afaan oromoo": "orm", "bahasa indonesia": "ind", "bahasa melayu": "msa", "malaysian": "msa",
    "nepalese": "nep", "modern standard arabic": "arb", "levantine arabic": "apc", "khmer": "khm",
    "central khmer": "khm", "filipino": "fil", "swiss german": "gsw", "alemannic": "gsw",
    "persian dari": "prs", "tajiki": "tgk", "burmese": "mya", "myanmar": "mya", "tibetan": "bod",
    "kiswahili": "swa", "isindebele": "nbl", "sepedi": "nso", "northern sotho": "nso",
}

#: ISO 639-1 codes of collective (ISO 639-5) groups; the 3-letter ones come from pycountry.
_COLLECTIVE_639_1 = {"bh": "bih"}

#: ISO 639-3 special codes: no single language a speech corpus could be labelled with.
_SPECIAL = {
    "und": "undetermined language (leave the language empty for unlabelled audio)",
    "mul": "multiple languages (a labelled item needs one language)",
    "mis": "uncoded language (give its ISO 639-3 code)",
    "zxx": "no linguistic content",
}

#: (language, region) -> script, where the region decides the script. (FLEURS `sd_in` is Sindhi in
#: Arabic script, the FLORES text it reads, which is also the default: no entry for (snd, in).)
REGION_SCRIPT = {
    ("cmn", "tw"): "Hant", ("cmn", "hk"): "Hant", ("cmn", "mo"): "Hant",
    ("cmn", "cn"): "Hans", ("cmn", "sg"): "Hans",
    ("pan", "pk"): "Arab",
    ("kaz", "cn"): "Arab", ("kir", "cn"): "Arab", ("khk", "cn"): "Mong", ("srp", "me"): "Latn",
}

#: ISO 15924 codes that name no writing system of a language: private use, and Zinh .. Zzzz.
_NOT_A_SCRIPT = re.compile(r"^(Qa[a-b][a-z]|Zinh|Zmth|Zsye|Zsym|Zxxx|Zyyy|Zzzz)$")

_SUBTAG = re.compile(r"[a-z0-9]{1,8}")


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


def default_scripts() -> dict[str, str]:
    """ISO 639-3 code -> the script its corpora are normally transcribed in, for the languages listed in
    data/default_scripts.tsv."""
    return dict(_default_scripts())


@cache
def _script_codes() -> frozenset[str]:
    """ISO 15924 codes of writing systems (the special and private-use codes left out)."""
    return frozenset(s.alpha_4 for s in pycountry.scripts if not _NOT_A_SCRIPT.match(s.alpha_4))


@cache
def _lookup(code: str) -> str | None:
    """ISO 639-3 code (macrolanguages as they are) for a 639-1, 639-2/B, 639-2/T or 639-3 code."""
    code = DEPRECATED.get(code, code)
    if len(code) == 2:
        lang = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        lang = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(bibliographic=code)
    else:
        return None
    return lang.alpha_3 if lang is not None else None


_QUALIFIER = re.compile(r"\s*\([^()]*\)$")


@cache
def _names() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """lowercase name -> (ISO 639-3 codes whose name it is exactly, codes whose name it is once a
    trailing qualifier such as `(macrolanguage)` is dropped)."""
    exact: dict[str, set[str]] = {}
    loose: dict[str, set[str]] = {}
    for lang in pycountry.languages:
        if getattr(lang, "type", None) != "L" and getattr(lang, "alpha_2", None) is None:
            continue  # extinct, ancient, historical, constructed: no speech corpus (Latin, Esperanto stay)
        for attr in ("name", "common_name", "inverted_name"):
            name = getattr(lang, attr, None)
            if not name:
                continue
            key = _name_key(name)
            exact.setdefault(key, set()).add(lang.alpha_3)
            bare = _QUALIFIER.sub("", key)
            if bare != key:
                loose.setdefault(bare, set()).add(lang.alpha_3)
    keys = exact.keys() | loose.keys()
    return {k: (frozenset(exact.get(k, ())), frozenset(loose.get(k, ()))) for k in keys}


def _name_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def _by_name(raw: str, source: str) -> str | None:
    """The code (to parse like any other) a language name stands for; None when it names no language;
    UnknownLanguageError when it names several."""
    key = _name_key(raw)
    if key in COMMON_NAMES:
        return COMMON_NAMES[key]
    if len(key) < 4:
        return None  # `E`, `Ga`, `Mor`: too short to tell from a mistyped code
    exact, loose = _names().get(key, (frozenset(), frozenset()))
    if len(exact) == 1:
        return next(iter(exact))
    candidates = exact or loose
    if not candidates:
        return None
    entries = [e for e in (pycountry.languages.get(alpha_3=c) for c in sorted(candidates)) if e is not None]
    for keep in (lambda e: getattr(e, "scope", None) == "M",
                 lambda e: getattr(e, "alpha_2", None) is not None,
                 lambda e: getattr(e, "type", None) == "L"):
        chosen = [e for e in entries if keep(e)]
        if len(chosen) == 1:
            return str(chosen[0].alpha_3)
        if chosen:
            entries = chosen
    results = set()
    for entry in entries:
        try:
            results.add(_parse(entry.alpha_3, source))
        except UnknownLanguageError:
            results.add((entry.alpha_3, None))
    if len(results) == 1:
        return str(entries[0].alpha_3)
    named = ", ".join(f"{e.alpha_3} ({e.name})" for e in entries)
    raise UnknownLanguageError(raw, source, f"the language name {raw.strip()!r} fits several languages: "
                               f"{named}; give the ISO 639-3 code")


def _not_a_language(sub: str) -> str:
    """Why the primary subtag `sub` (lowercase) names no language."""
    family = None
    if re.fullmatch(r"[a-z]{2,3}", sub):
        family = pycountry.language_families.get(alpha_3=_COLLECTIVE_639_1.get(sub, sub))
    if family is not None:
        return (f"{sub!r} is a collective code for a group of languages ({family.name}, ISO 639-5); "
                "a speech corpus needs the code of one language")
    if re.fullmatch(r"q[a-t][a-z]", sub):
        return f"{sub!r} is in the ISO 639 local-use range qaa-qtz, which names no language"
    return f"{sub!r} is not an ISO 639-1, 639-2 or 639-3 code"


def is_language(code: str) -> bool:
    """True when `code` is already in our form and both of its parts are in the code tables."""
    if not isinstance(code, str) or not _OUR_FORM.match(code):
        return False
    lang, script = code.split("_")
    entry = pycountry.languages.get(alpha_3=lang)
    return entry is not None and lang not in _SPECIAL and script in _script_codes()


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

def _read_subtags(code: str, source: str, lang: str, parts: list[str]) -> tuple[str, str | None, str | None]:
    """(language, script, region) from the subtags after the first, in BCP-47 order:
    language [-extlang] [-script] [-region] *(-variant) *(-singleton 1*(-subtag)) [-x 1*(-subtag)].
    Variants, extensions and private use say nothing of language or script and are skipped."""
    script: str | None = None
    region: str | None = None
    stage = 0  # 1 after extlang, 2 after script, 3 after region, 4 after a variant, 5 in an extension
    singleton: str | None = None  # an extension singleton still waiting for its first subtag

    def bad(why: str) -> UnknownLanguageError:
        return UnknownLanguageError(code, source, why)

    for i, part in enumerate(parts[1:], start=1):
        if not _SUBTAG.fullmatch(part):
            raise bad(f"cannot read subtag {part!r}")
        if len(part) == 1:
            if singleton is not None or (part == "x" and i == len(parts) - 1):
                raise bad(f"extension or private-use subtag {singleton or part!r} has nothing after it")
            if part == "x":
                break
            singleton, stage = part, 5
        elif stage == 5:
            if len(part) > 8:
                raise bad(f"cannot read subtag {part!r}")
            singleton = None
        elif i == 1 and len(part) == 3 and part.isalpha():
            extlang = _lookup(part)
            if extlang is None or getattr(pycountry.languages.get(alpha_3=lang), "scope", None) != "M":
                raise bad(f"cannot read {part!r} as an extended language subtag of {parts[0]!r}")
            lang, stage = extlang, 1
        elif stage < 2 and len(part) == 4 and part.isalpha():
            script, stage = part.title(), 2
            if script not in _script_codes():
                special = pycountry.scripts.get(alpha_4=script) is not None
                raise bad(f"{script!r} is " + ("a special ISO 15924 code, not a writing system"
                                               if special else "not an ISO 15924 script"))
        elif stage < 3 and (re.fullmatch(r"[a-z]{2}|[0-9]{3}", part)):
            region, stage = part, 3
        elif re.fullmatch(r"[a-z0-9]{5,8}|[0-9][a-z0-9]{3}", part):
            stage = 4  # a variant (1996, valencia)
        else:
            raise bad(f"cannot read subtag {part!r}")
    if singleton is not None:
        raise bad(f"extension subtag {singleton!r} has nothing after it")
    return lang, script, region


@cache
def _parse(code: str, source: str) -> tuple[str, str | None]:
    """(ISO 639-3, script or None) from any accepted form; raises UnknownLanguageError."""
    raw = code.strip()
    if not raw:
        raise UnknownLanguageError(code, source, "empty code")
    key = raw.lower().replace("_", "-")
    if key in SOURCE_SPECIFIC:
        known, _, known_script = SOURCE_SPECIFIC[key].partition("_")
        return known, known_script
    parts = key.split("-")
    primary = _lookup(parts[0])
    if primary is None:
        code_like = re.fullmatch(r"[a-z]{2,3}", parts[0]) is not None and " " not in raw
        # a code-like word is a name only when COMMON_NAMES says so (`wu`): ISO 639-3 holds names such
        # as `Mor` or `Bo` that would turn a mistyped or collective code into some language
        named = COMMON_NAMES.get(key) if code_like and len(parts) == 1 else (
            None if code_like else _by_name(raw, source))
        if named is not None:
            return _parse(named, source)
        why = _not_a_language(parts[0]) if code_like else (
            f"{raw.strip()!r} is not an ISO 639-1, 639-2 or 639-3 code (nor a BCP-47 tag), nor a language "
            "name we know (an ISO 639-3 name such as 'Swahili' or 'Mandarin Chinese')")
        raise UnknownLanguageError(code, source, why)
    lang, script, region = _read_subtags(code, source, primary, parts)
    if lang in _SPECIAL:
        raise UnknownLanguageError(code, source, f"{lang!r} is a special ISO 639 code: {_SPECIAL[lang]}")
    if script is not None and (lang, script) in MACRO_BY_SCRIPT:
        lang = MACRO_BY_SCRIPT[(lang, script)]
    elif region is not None and (lang, region) in MACRO_BY_REGION:
        lang = MACRO_BY_REGION[(lang, region)]
    lang = MACRO_DEFAULT.get(lang, lang)
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
    if not isinstance(code, str):
        raise UnknownLanguageError(repr(code), source, "a language code is a string")
    lang, script = _parse(code, source)
    if script is None and text:
        detected = dominant_script(text)
        # Han text of unknown variant, or composite scripts, still make a valid 15924 code.
        script = detected if detected in _script_codes() else None
    if script is None:
        hint = "the transcript has no letters of one script" if text else "no transcript was given"
        raise UnknownLanguageError(
            code, source,
            f"no default script for {lang!r} and {hint}; give it in the code (e.g. {lang}_Latn)",
        )
    return LanguageCode(f"{lang}_{script}")
