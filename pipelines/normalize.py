"""Transcript normalization: one canonical written form per transcript, so that the same words spoken
are the same target text. It follows the Omnilingual ASR data recipe (NFKC, lowercase, punctuation and
digits out, whitespace collapsed) and spells out the per-script details that recipe leaves open.

`normalize_text(text, language)` applies, in this order:

 1. Invisible characters out: zero-width and bidi controls (U+200B, U+200E, U+200F, U+202A..U+202E,
    U+2066..U+2069, U+FEFF, U+061C Arabic letter mark, U+2060..U+2064 word joiner / invisible
    operators) and the soft hyphen U+00AD are deleted; other control characters (tab, newline, ...)
    become spaces. ZWNJ U+200C and ZWJ U+200D are deleted too, except for the languages that need
    them (step 10). The Armenian emphasis, exclamation and question marks (՛ ՜ ՞), written on a vowel
    inside the word, are deleted so the word stays whole (ինչո՞ւ -> ինչու); the spacing acute ´, typed
    for an apostrophe (l´homme), becomes ’. Done before NFKC so that NFKC composes a letter with an
    accent that a stray zero-width character separated from it.
 2. NFKC: compatibility forms to their plain letters (fullwidth Latin and punctuation, halfwidth
    katakana, ligatures, Arabic presentation forms, superscript digits...). One deliberate undo:
    NFKC splits Thai SARA AM (U+0E33) and Lao AM (U+0EB3) into NIKHAHIT + SARA AA; they are put back
    together, because every Thai/Lao keyboard, tokenizer and lexicon uses the single character.
    Two symbols whose NFKC is letters (™ -> "TM", ℠ -> "SM") are treated as symbols, not words.
 3. The language override, if any (LANGUAGE_OVERRIDES, keyed by our language type).
 4. Lowercase with `str.lower()`: caseless scripts have no case mappings, so this lowercases exactly
    the scripts that have case (Latin, Cyrillic, Greek, Armenian, Georgian Mtavruli -> Mkhedruli,
    Cherokee, Adlam, Deseret, ...) and also the Latin words inside e.g. a Chinese transcript. German ß
    stays ß (lower, not casefold). Greek capital sigma becomes final ς at the end of a word (Python
    implements the Final_Sigma rule); a lowercase σ already at the end of a word is corrected to ς
    (step 12). `İ` becomes `i` in every language (str.lower would give i + U+0307 COMBINING DOT);
    Turkic `I` -> `ı` is the override of step 3.
 5. Bracketed spans that contain a digit are deleted with their content: `[1]`, `(12:30)`, `{3}`
    (citation marks, timestamps, numbered tags). Other brackets lose only the bracket characters,
    which are punctuation: 'hello [1] world (2) ok (see)' -> 'hello world ok see'.
 6. Combining marks that follow no letter (left over after a removed symbol, e.g. an emoji's variation
    selector, or typed after a space) are deleted.
 7. Apostrophes (' ’ ‘ ` ′ ´ ʼ ׳ ՚) between a letter (or a mark on it) and a letter are word-internal,
    letters in Ukrainian (м'ясо), French (aujourd'hui), English (don't), Hebrew geresh (ג'ירפה)... and
    become ASCII `'`; elsewhere they are quotes and go with the punctuation. ʼ U+02BC is a letter in
    its own right (a glottal stop in many orthographies): at a word edge it is kept as it is, between
    two letters it becomes `'` in step 12, once its neighbours are final. The middle dot `·` between
    two letters is kept too (Catalan l·l).
 8. Punctuation (categories P*: including ، ؛ ؟ 。 、 ， ！ ？ । ॥ ። ፣ ፡ ። ...) and symbols (S*: quotes,
    currency, math, emoji, ...) become word breaks. Exception: the Tibetan tsheg (་), which separates
    syllables inside a word, is kept.
 9. A word break next to a character of a script written without spaces between words (Han, kana,
    Bopomofo, Thai, Lao, Khmer, Myanmar, Tibetan, Yi, Tai Tham, ...) is deleted, elsewhere it is a
    space: '你好，世界。' -> '你好世界', 'hello, world' -> 'hello world'. Spaces the source wrote are kept.
10. ZWNJ / ZWJ kept only between two letters (or marks) and only for the languages that need them:
    Persian (pes, fas, prs in Arabic script), where ZWNJ separates the parts of one word without a
    space (می‌خواهم "I want" is one word written in two joined pieces; without it the letters join,
    with a space it becomes two words); and the Indic scripts (Devanagari, Bengali, Gurmukhi, Gujarati,
    Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala), where ZWJ / ZWNJ after a virama choose between
    a conjunct, a half form and an explicit virama (क्‍ष vs क्ष), Sinhala writes yansaya and rakaransaya
    with ZWJ, and old Malayalam text writes chillu letters with ZWJ: the joiner changes the spelling.
    (Removing stray joiners can bring a letter and a mark together: NFKC again.)
11. Words that are digits only (any decimal digit, Ethiopic and other numerals) are deleted; words
    that mix digits and letters stay ('covid19', 'mp3'). In a script written without spaces a run of
    digits counts as a word of its own: '我在2023年' -> '我在年' (a written number cannot be checked
    against what was said, like '2023' in 'born in 2023' -> 'born in').
12. Finishing touches on the final neighbours: a NIKHAHIT + SARA AA brought together by a deleted
    word break becomes SARA AM (as in step 2); ʼ between two letters becomes `'` (step 7); a lowercase
    sigma at the end of a word becomes final sigma ς.
13. Whitespace collapsed to single spaces, stripped.

The result is idempotent: normalize_text(normalize_text(x, l), l) == normalize_text(x, l). The steps are
ordered so that none creates input that an earlier one would change on a second pass (which is why ʼ,
the Thai AM and σ are settled last); tests/test_normalize.py checks it on real sentences and on random
mixtures of the awkward characters.

Cost: about 5 µs for a typical 30-character transcript and 10 µs for a 90-character one (CPython 3.11).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from omnicorpus.manifests.schema import SEGMENTS
from omnicorpus.manifests.scripts import script_ranges
from omnicorpus.pipelines.stage import StageResult, StageSpec, rejects_table

__all__ = ["LANGUAGE_OVERRIDES", "normalize_text"]

_SENTINEL = "\x00"  # a word break still to be resolved; step 1 turns every input \x00 into a space
_ZWNJ, _ZWJ = "\u200c", "\u200d"
_JOINERS = "\u200c\u200d"
_FIRST_SUPPLEMENTARY = "\U00010000"

# --- character classes ---------------------------------------------------------------------------------
# Regex character classes built once from the Unicode database of this Python (unicodedata). Each pattern
# is compiled twice: over the whole of Unicode, and over the Basic Multilingual Plane only. sre tests a
# BMP character against a class in constant time but walks the list of supplementary-plane ranges one by
# one, so transcripts without supplementary characters (nearly all) use the BMP patterns; both agree on
# every BMP character, so the choice never changes a result.


def _merge(points: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _scan() -> dict[str, list[tuple[int, int]]]:
    """Ranges of letters (L*), combining marks (M*), numerals (Nd, No: not Nl such as 〇) and
    punctuation/symbols (P*, S*) in planes 0 and 1 and the variation selectors supplement. Planes 2 and
    3 hold nothing but CJK ideographs: they are taken whole as letters."""
    groups: dict[str, list[int]] = {"L": [], "M": [], "N": [], "PS": []}
    for cp in (*range(0x20000), *range(0xE0100, 0xE01F0)):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "LM":
            groups[cat[0]].append(cp)
        elif cat in ("Nd", "No"):
            groups["N"].append(cp)
        elif cat[0] in "PS":
            groups["PS"].append(cp)
    ranges = {name: _merge(points) for name, points in groups.items()}
    ranges["L"].append((0x20000, 0x3FFFF))
    return ranges


_RANGES = _scan()
# Punctuation and symbols that are not word breaks: the word-internal apostrophe and middle dot left by
# step 7, and the Tibetan tsheg (separates syllables inside a word). The sentinel is one.
_BREAK_RANGES = _merge(
    sorted({cp for a, b in _RANGES["PS"] for cp in range(a, b + 1)} - {0x27, 0xB7, 0x0F0B} | {0x00})
)

#: Scripts written without spaces between words: punctuation next to them is deleted, not spaced.
_CONTINUOUS_SCRIPTS = (
    "Hani", "Hira", "Kana", "Bopo", "Thai", "Laoo", "Khmr", "Mymr", "Tibt", "Yiii", "Tang", "Nshu",
    "Kits", "Lana", "Talu", "Java", "Bali",
)  # fmt: skip
_CONTINUOUS_RANGES = sorted(
    script_ranges(_CONTINUOUS_SCRIPTS)
    # Common-script letters used only in Japanese/Chinese text: 〆, kana repeat marks, prolonged sound
    # marks (fullwidth and halfwidth), halfwidth voiced sound marks.
    + [(0x3006, 0x3006), (0x3031, 0x3035), (0x30FC, 0x30FC), (0xFF70, 0xFF70), (0xFF9E, 0xFF9F)]
)


def _class(ranges: list[tuple[int, int]], limit: int) -> str:
    """Body of a regex character class for the ranges, cut at code point `limit`."""
    parts = []
    for a, b in ranges:
        if a < limit:
            b = min(b, limit - 1)
            parts.append(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}")
    return "".join(parts)


@dataclass(frozen=True)
class _Patterns:
    orphan_marks: re.Pattern[str]  # step 6
    breaks: re.Pattern[str]  # steps 8-9
    stray_joiner: re.Pattern[str]  # step 10
    numeral_run: re.Pattern[str]  # step 11
    modifier_apostrophe: re.Pattern[str]  # step 12
    final_sigma: re.Pattern[str]  # step 12
    letter: re.Pattern[str]
    continuous: re.Pattern[str]

    @classmethod
    def build(cls, limit: int) -> _Patterns:
        letters, marks = _class(_RANGES["L"], limit), _class(_RANGES["M"], limit)
        lm, mz = f"{letters}{marks}", f"{marks}{_JOINERS}"
        return cls(
            # a run of marks (and joiners) whose first is preceded by no letter, mark or joiner
            orphan_marks=re.compile(f"[{mz}](?<![{lm}{_JOINERS}][{mz}])[{mz}]*"),
            breaks=re.compile(f"[{_class(_BREAK_RANGES, limit)}]+"),
            # a joiner without a letter or mark on one side
            stray_joiner=re.compile(f"[{_JOINERS}](?<![{lm}][{_JOINERS}])|[{_JOINERS}](?![{lm}])"),
            numeral_run=re.compile(f"[{_class(_RANGES['N'], limit)}]+"),
            # ʼ between a letter or mark and a letter, neither of them another ʼ
            modifier_apostrophe=re.compile(f"\u02bc(?<=[{lm}]\u02bc)(?<!\u02bc\u02bc)(?=[{letters}])(?!\u02bc)"),
            final_sigma=re.compile(f"σ(?<=[{letters}]σ)(?=\\s|$)"),
            letter=re.compile(f"[{letters}]"),
            continuous=re.compile(f"[{_class(_CONTINUOUS_RANGES, limit)}]"),
        )


_BMP = _Patterns.build(0x10000)
_ALL = _Patterns.build(0x110000)

#: Scripts whose spelling uses ZWJ / ZWNJ (see the module docstring, step 10).
_JOINER_SCRIPTS = frozenset({"Deva", "Beng", "Guru", "Gujr", "Orya", "Taml", "Telu", "Knda", "Mlym", "Sinh"})
_JOINER_LANGUAGES_ARABIC = frozenset({"pes", "fas", "prs"})

# --- step 1: invisible characters ----------------------------------------------------------------------
_INVISIBLE = [0x00AD, 0x061C, 0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2060, 0x2065),
              *range(0x2066, 0x206A), 0xFEFF]  # fmt: skip
_PRE_KEEP_JOINERS: dict[int, str | None] = {cp: None for cp in _INVISIBLE}
_PRE_KEEP_JOINERS.update({cp: " " for cp in (*range(0x20), *range(0x7F, 0xA0))})  # controls, \x00 too
_PRE_KEEP_JOINERS.update({0x2122: _SENTINEL, 0x2120: _SENTINEL, 0x00B4: "\u2019"})  # ™ ℠; ´ as apostrophe
# Armenian emphasis, exclamation and question marks sit on a vowel inside the word: deleted, not spaced.
_PRE_KEEP_JOINERS.update({0x055B: None, 0x055C: None, 0x055E: None})
_PRE_DROP_JOINERS = {**_PRE_KEEP_JOINERS, 0x200C: None, 0x200D: None}
# str.translate with a dict costs a lookup per character: only done when one of these is present.
_PRE_NEEDED = re.compile(
    "[" + "".join(f"\\U{cp:08x}" for cp in sorted(_PRE_DROP_JOINERS)) + "]"
)

# --- step 2: NFKC and its Thai/Lao undo ----------------------------------------------------------------
_AM = (("\u0e4d\u0e32", "\u0e33"), ("\u0ecd\u0eb2", "\u0eb3"))


def _join_am(text: str) -> str:
    for split, whole in _AM:
        if split in text:
            text = text.replace(split, whole)
    return text


def _nfkc(text: str) -> str:
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return _join_am(unicodedata.normalize("NFKC", text))


# --- step 3: language overrides ------------------------------------------------------------------------
def _turkic_i(text: str) -> str:
    """Turkish, Azerbaijani, Crimean Tatar, Gagauz: I is the capital of dotless ı, İ of dotted i."""
    return text.replace("I", "ı").replace("İ", "i")


def _drop_tatweel(text: str) -> str:
    """Arabic-script languages: the tatweel ـ (U+0640) only stretches a joined letter for layout."""
    return text.replace("\u0640", "")


_PERSIAN_LETTERS = str.maketrans({"\u0643": "\u06a9", "\u064a": "\u06cc", "\u0649": "\u06cc"})


def _persian_letters(text: str) -> str:
    """Persian, Dari, Urdu: tatweel out, and the Arabic kaf ك / yeh ي / alef maksura ى that Arabic
    keyboards type become the letters these orthographies use (ک, ی)."""
    return text.replace("\u0640", "").translate(_PERSIAN_LETTERS)


_ARABIC_SCRIPT_LANGUAGES = (
    "arb", "ara", "ary", "arz", "apc", "ajp", "acm", "acq", "aeb", "afb", "ars", "arq", "ayl", "apd", "pbt",
    "pbu", "pus", "snd", "skr", "pnb", "ckb", "uig", "azb", "bal", "kas", "uzs", "sdh", "lki", "glk", "mzn",
    "hau", "ful", "swh", "msa", "zsm",
)  # fmt: skip

#: Language type -> a function applied after NFKC and before lowercasing (step 3). Each must be
#: idempotent and keep NFKC text NFKC. Turkic languages: dotted/dotless i. Arabic-script languages:
#: tatweel removed (diacritics / harakat are kept: they are spelling, and whether a corpus writes
#: them is a property of the corpus). Persian, Dari, Urdu: also ك ي ى -> ک ی ی.
LANGUAGE_OVERRIDES: dict[str, Callable[[str], str]] = {
    **{f"{iso}_Latn": _turkic_i for iso in ("tur", "aze", "azj", "crh", "gag")},
    **{f"{iso}_Arab": _drop_tatweel for iso in _ARABIC_SCRIPT_LANGUAGES},
    **{f"{iso}_Arab": _persian_letters for iso in ("pes", "fas", "prs", "urd")},
}

# --- step 5: bracketed spans with digits ---------------------------------------------------------------
_INNER = r"[^()\[\]{}]"
_BRACKETED_DIGITS = re.compile(
    rf"\({_INNER}*\d{_INNER}*\)|\[{_INNER}*\d{_INNER}*\]|\{{{_INNER}*\d{_INNER}*\}}"
)
_BRACKETED = re.compile(rf"\({_INNER}*\)|\[{_INNER}*\]|\{{{_INNER}*\}}")


def _unbracket(m: re.Match[str]) -> str:
    return f"{_SENTINEL}{m.group()[1:-1]}{_SENTINEL}"


def _drop_bracketed_digits(text: str) -> str:
    """Innermost pairs first: a pair with a digit inside goes whole; when none is left, the innermost
    pairs without digits lose their brackets, which may leave an outer pair with a digit: '(a [b] 2)'."""
    while True:
        dropped = _BRACKETED_DIGITS.sub(_SENTINEL, text)
        if dropped == text:
            dropped = _BRACKETED.sub(_unbracket, text)
            if dropped == text:
                return text
        text = dropped


# --- step 7: apostrophes and the middle dot ------------------------------------------------------------
_APOSTROPHES = "'\u2019\u2018`\u2032\u02bc\u05f3\u055a"
_APOSTROPHE = re.compile("['\u2019\u2018`\u2032\u05f3\u055a\u00b7]")  # all but ʼ, which is a letter


def _is_letter(ch: str) -> bool:
    if ch < _FIRST_SUPPLEMENTARY:
        return unicodedata.category(ch)[0] == "L" and ch not in _APOSTROPHES
    return _ALL.letter.match(ch) is not None


def _is_letter_or_mark(ch: str) -> bool:
    if ch < _FIRST_SUPPLEMENTARY:
        return unicodedata.category(ch)[0] in "LM" and ch not in _APOSTROPHES
    return _ALL.letter.match(ch) is not None or unicodedata.category(ch)[0] == "M"


def _word_internal(m: re.Match[str]) -> str:
    s, i = m.string, m.start()
    if 0 < i < len(s) - 1 and _is_letter_or_mark(s[i - 1]) and _is_letter(s[i + 1]):
        return "\u00b7" if m.group() == "\u00b7" else "'"
    return _SENTINEL


# --- steps 8-9: punctuation and symbols, next to scripts without spaces or not -------------------------
def _is_continuous(ch: str) -> bool:
    return _ALL.continuous.match(ch) is not None


def _resolve_break(m: re.Match[str]) -> str:
    s, a, b = m.string, m.start(), m.end()
    if (a > 0 and _is_continuous(s[a - 1])) or (b < len(s) and _is_continuous(s[b])):
        return ""
    return " "


# --- step 11: digit-only words -------------------------------------------------------------------------
def _drop_numeral_word(m: re.Match[str]) -> str:
    s, a, b = m.string, m.start(), m.end()
    left_ok = a == 0 or s[a - 1].isspace() or _is_continuous(s[a - 1])
    if left_ok and (b == len(s) or s[b].isspace() or _is_continuous(s[b])):
        return ""
    return m.group()


def normalize_text(text: str, language: str) -> str:
    """The normalized form of transcript `text` written in `language` (our `{ISO 639-3}_{ISO 15924}`
    type; an unknown or malformed code gets the generic rules). See the module docstring for the steps.
    Returns "" when nothing speakable is left (the caller rejects with EMPTY_AFTER_NORMALIZATION)."""
    iso, _, script = language.partition("_")
    keep_joiners = script in _JOINER_SCRIPTS or (script == "Arab" and iso in _JOINER_LANGUAGES_ARABIC)

    # 1-2
    t = text
    if _PRE_NEEDED.search(t):
        t = t.translate(_PRE_KEEP_JOINERS if keep_joiners else _PRE_DROP_JOINERS)
    t = _nfkc(t)
    # 3
    override = LANGUAGE_OVERRIDES.get(language)
    if override is not None:
        t = override(t)
    # 4
    if "İ" in t:
        t = t.replace("İ", "i")
    t = _nfkc(t.lower())
    if not t:
        return t
    # no step below adds a supplementary-plane character
    p = _BMP if max(t) < _FIRST_SUPPLEMENTARY else _ALL
    # 5
    if "(" in t or "[" in t or "{" in t:
        t = _drop_bracketed_digits(t)
    # 6
    if not t.isascii():
        t = p.orphan_marks.sub("", t)
    # 7
    t = _APOSTROPHE.sub(_word_internal, t)
    # 8-9
    t = p.breaks.sub(_resolve_break, t)
    # 10
    if keep_joiners and (_ZWNJ in t or _ZWJ in t):
        joined = p.stray_joiner.sub("", t)
        if joined != t:  # a letter and a mark the joiners separated may now compose
            t = _nfkc(joined)
    # 11
    t = p.numeral_run.sub(_drop_numeral_word, t)
    # 12: deleted word breaks can have joined a NIKHAHIT to a SARA AA (as in step 2), then ʼ and σ
    t = _join_am(t)
    if "\u02bc" in t:
        t = p.modifier_apostrophe.sub("'", t)
    if "σ" in t:
        t = p.final_sigma.sub("ς", t)
    # 13
    return " ".join(t.split())


def normalize_segments(batch: pa.RecordBatch, params: None = None) -> StageResult:
    """The normalize stage: fills `text` from `raw_text` for labelled segments; rejects nothing (the filter
    stage rejects what normalization leaves empty, with the raw text in its detail)."""
    table = pa.Table.from_batches([batch])
    raw = table.column("raw_text").to_pylist()
    languages = table.column("language").to_pylist()
    labelled = table.column("labelled").to_pylist()
    text = [normalize_text(r, lang or "") if r is not None and lab else None
            for r, lang, lab in zip(raw, languages, labelled, strict=True)]
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(text, pa.string()))
    return StageResult(table, rejects_table([]))


def normalize_spec() -> StageSpec:
    return StageSpec("normalize", normalize_segments, None, SEGMENTS, SEGMENTS)
