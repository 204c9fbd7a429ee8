"""The Unicode script (ISO 15924 code) of a character and of a text.

Used to check that a transcript is written in the script its language type (`{ISO 639-3}_{ISO 15924}`)
declares, and to pick a script for a language code that names none (see manifests.languages).

Where the ranges come from: `_RANGES` below is the Unicode block table (Blocks.txt) with each block given
the script that Scripts.txt assigns to its letters, split where Scripts.txt assigns part of a block to
another script or to Common/Inherited (e.g. U+02B9..U+02DF modifier letters such as U+02BC are Common,
U+03E2..U+03EF inside "Greek and Coptic" are Coptic, U+1D26..U+1D2A inside "Phonetic Extensions" are
Greek). Code points outside every range are Common or Inherited: punctuation, symbols, digits, spaces,
the generic combining marks (U+0300.., U+1AB0.., U+1DC0.., U+20D0.., U+FE20..) and the mathematical
alphanumerics. On top of the table, `char_script` answers None for every character that is not a
letter or a combining mark (general category L* or M*), so digits and punctuation inside a script's
block (Devanagari danda, Arabic comma, Arabic-Indic digits...) are "common to all scripts" too.

Only letters count towards a text's script: combining marks belong to the letter they sit on.

Speed: `script_counts` counts the distinct characters of a text with `collections.Counter` (C code) and
looks each one up once in a process-wide cache (character -> script of a letter or None), so a
transcript costs about a dictionary lookup per distinct character; the sorted table + `bisect` is only
consulted the first time a character is seen. ASCII text takes a one-regex shortcut.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

# (first code point, last code point, ISO 15924 code), sorted and non-overlapping (checked below).
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latn"),
    (0x0061, 0x007A, "Latn"),
    (0x00AA, 0x00AA, "Latn"),
    (0x00BA, 0x00BA, "Latn"),
    (0x00C0, 0x024F, "Latn"),  # Latin-1 letters, Latin Extended-A/B (U+00D7, U+00F7 are Sm: None)
    (0x0250, 0x02AF, "Latn"),  # IPA Extensions
    (0x02B0, 0x02B8, "Latn"),  # modifier letters h j r w y (U+02B9..U+02DF, e.g. ʼ U+02BC, are Common)
    (0x02E0, 0x02E4, "Latn"),
    (0x0363, 0x036F, "Latn"),  # combining Latin small letters (the rest of U+0300.. is Inherited)
    (0x0370, 0x03E1, "Grek"),  # Greek and Coptic ...
    (0x03E2, 0x03EF, "Copt"),  # ... whose Coptic letters are Coptic
    (0x03F0, 0x03FF, "Grek"),
    (0x0400, 0x052F, "Cyrl"),  # Cyrillic, Cyrillic Supplement
    (0x0530, 0x058F, "Armn"),
    (0x0590, 0x05FF, "Hebr"),
    (0x0600, 0x06FF, "Arab"),  # (tatweel U+0640 is Common in Scripts.txt; kept Arabic: it only occurs there)
    (0x0700, 0x074F, "Syrc"),
    (0x0750, 0x077F, "Arab"),  # Arabic Supplement
    (0x0780, 0x07BF, "Thaa"),
    (0x07C0, 0x07FF, "Nkoo"),
    (0x0800, 0x083F, "Samr"),
    (0x0840, 0x085F, "Mand"),
    (0x0860, 0x086F, "Syrc"),  # Syriac Supplement
    (0x0870, 0x08FF, "Arab"),  # Arabic Extended-B, Extended-A
    (0x0900, 0x097F, "Deva"),
    (0x0980, 0x09FF, "Beng"),
    (0x0A00, 0x0A7F, "Guru"),
    (0x0A80, 0x0AFF, "Gujr"),
    (0x0B00, 0x0B7F, "Orya"),
    (0x0B80, 0x0BFF, "Taml"),
    (0x0C00, 0x0C7F, "Telu"),
    (0x0C80, 0x0CFF, "Knda"),
    (0x0D00, 0x0D7F, "Mlym"),
    (0x0D80, 0x0DFF, "Sinh"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Laoo"),
    (0x0F00, 0x0FFF, "Tibt"),
    (0x1000, 0x109F, "Mymr"),
    (0x10A0, 0x10FA, "Geor"),  # Georgian (U+10FB paragraph separator is Common) ...
    (0x10FC, 0x10FF, "Geor"),
    (0x1100, 0x11FF, "Hang"),  # Hangul Jamo
    (0x1200, 0x139F, "Ethi"),  # Ethiopic, Ethiopic Supplement
    (0x13A0, 0x13FF, "Cher"),
    (0x1400, 0x167F, "Cans"),  # Unified Canadian Aboriginal Syllabics
    (0x1680, 0x169F, "Ogam"),
    (0x16A0, 0x16FF, "Runr"),
    (0x1700, 0x171F, "Tglg"),
    (0x1720, 0x173F, "Hano"),
    (0x1740, 0x175F, "Buhd"),
    (0x1760, 0x177F, "Tagb"),
    (0x1780, 0x17FF, "Khmr"),
    (0x1800, 0x18AF, "Mong"),
    (0x18B0, 0x18FF, "Cans"),  # UCAS Extended
    (0x1900, 0x194F, "Limb"),
    (0x1950, 0x197F, "Tale"),
    (0x1980, 0x19DF, "Talu"),
    (0x19E0, 0x19FF, "Khmr"),  # Khmer Symbols
    (0x1A00, 0x1A1F, "Bugi"),
    (0x1A20, 0x1AAF, "Lana"),  # Tai Tham
    (0x1B00, 0x1B7F, "Bali"),
    (0x1B80, 0x1BBF, "Sund"),
    (0x1BC0, 0x1BFF, "Batk"),
    (0x1C00, 0x1C4F, "Lepc"),
    (0x1C50, 0x1C7F, "Olck"),  # Ol Chiki
    (0x1C80, 0x1C8F, "Cyrl"),  # Cyrillic Extended-C
    (0x1C90, 0x1CBF, "Geor"),  # Georgian Extended (Mtavruli capitals)
    (0x1CC0, 0x1CCF, "Sund"),  # Sundanese Supplement
    (0x1D00, 0x1D25, "Latn"),  # Phonetic Extensions ...
    (0x1D26, 0x1D2A, "Grek"),
    (0x1D2B, 0x1D2B, "Cyrl"),
    (0x1D2C, 0x1D5C, "Latn"),
    (0x1D5D, 0x1D61, "Grek"),
    (0x1D62, 0x1D65, "Latn"),
    (0x1D66, 0x1D6A, "Grek"),
    (0x1D6B, 0x1D77, "Latn"),
    (0x1D78, 0x1D78, "Cyrl"),
    (0x1D79, 0x1DBE, "Latn"),  # ... and Phonetic Extensions Supplement
    (0x1DBF, 0x1DBF, "Grek"),
    (0x1E00, 0x1EFF, "Latn"),  # Latin Extended Additional (Vietnamese)
    (0x1F00, 0x1FFF, "Grek"),  # Greek Extended (polytonic)
    (0x2071, 0x2071, "Latn"),
    (0x207F, 0x207F, "Latn"),
    (0x2090, 0x209C, "Latn"),
    (0x2126, 0x2126, "Grek"),  # OHM SIGN
    (0x212A, 0x212B, "Latn"),  # KELVIN SIGN, ANGSTROM SIGN
    (0x2132, 0x2132, "Latn"),
    (0x214E, 0x214E, "Latn"),
    (0x2183, 0x2184, "Latn"),
    (0x2C00, 0x2C5F, "Glag"),
    (0x2C60, 0x2C7F, "Latn"),  # Latin Extended-C
    (0x2C80, 0x2CFF, "Copt"),
    (0x2D00, 0x2D2F, "Geor"),  # Georgian Supplement (Nuskhuri)
    (0x2D30, 0x2D7F, "Tfng"),  # Tifinagh
    (0x2D80, 0x2DDF, "Ethi"),  # Ethiopic Extended
    (0x2DE0, 0x2DFF, "Cyrl"),  # Cyrillic Extended-A
    (0x2E80, 0x2FDF, "Hani"),  # CJK Radicals Supplement, Kangxi Radicals
    (0x3005, 0x3005, "Hani"),  # 々 ideographic iteration mark (〆 U+3006 is Common)
    (0x3007, 0x3007, "Hani"),
    (0x3021, 0x3029, "Hani"),
    (0x3038, 0x303B, "Hani"),
    (0x3041, 0x3096, "Hira"),  # Hiragana (U+3099..U+309C are Inherited/Common)
    (0x309D, 0x309F, "Hira"),
    (0x30A1, 0x30FA, "Kana"),  # Katakana (U+30FB middle dot, U+30FC prolonged sound mark are Common)
    (0x30FD, 0x30FF, "Kana"),
    (0x3105, 0x312F, "Bopo"),
    (0x3131, 0x318E, "Hang"),  # Hangul Compatibility Jamo
    (0x31A0, 0x31BF, "Bopo"),  # Bopomofo Extended
    (0x31F0, 0x31FF, "Kana"),  # Katakana Phonetic Extensions
    (0x3400, 0x4DBF, "Hani"),  # CJK Extension A
    (0x4E00, 0x9FFF, "Hani"),  # CJK Unified Ideographs
    (0xA000, 0xA4CF, "Yiii"),
    (0xA4D0, 0xA4FF, "Lisu"),
    (0xA500, 0xA63F, "Vaii"),
    (0xA640, 0xA69F, "Cyrl"),  # Cyrillic Extended-B
    (0xA6A0, 0xA6FF, "Bamu"),
    (0xA722, 0xA787, "Latn"),  # Latin Extended-D (U+A788..U+A78A are Common)
    (0xA78B, 0xA7FF, "Latn"),
    (0xA800, 0xA82F, "Sylo"),
    (0xA840, 0xA87F, "Phag"),
    (0xA880, 0xA8DF, "Saur"),
    (0xA8E0, 0xA8FF, "Deva"),  # Devanagari Extended
    (0xA900, 0xA92D, "Kali"),
    (0xA930, 0xA95F, "Rjng"),
    (0xA960, 0xA97F, "Hang"),  # Hangul Jamo Extended-A
    (0xA980, 0xA9CE, "Java"),
    (0xA9D0, 0xA9DF, "Java"),
    (0xA9E0, 0xA9FF, "Mymr"),  # Myanmar Extended-B
    (0xAA00, 0xAA5F, "Cham"),
    (0xAA60, 0xAA7F, "Mymr"),  # Myanmar Extended-A
    (0xAA80, 0xAADF, "Tavt"),
    (0xAAE0, 0xAAFF, "Mtei"),  # Meetei Mayek Extensions
    (0xAB00, 0xAB2F, "Ethi"),  # Ethiopic Extended-A
    (0xAB30, 0xAB5A, "Latn"),  # Latin Extended-E ...
    (0xAB5C, 0xAB64, "Latn"),
    (0xAB65, 0xAB65, "Grek"),
    (0xAB66, 0xAB69, "Latn"),
    (0xAB70, 0xABBF, "Cher"),  # Cherokee Supplement (small letters)
    (0xABC0, 0xABFF, "Mtei"),  # Meetei Mayek
    (0xAC00, 0xD7AF, "Hang"),  # Hangul Syllables
    (0xD7B0, 0xD7FF, "Hang"),  # Hangul Jamo Extended-B
    (0xF900, 0xFAFF, "Hani"),  # CJK Compatibility Ideographs
    (0xFB00, 0xFB06, "Latn"),  # Alphabetic Presentation Forms: ligatures ff fi fl ...
    (0xFB13, 0xFB17, "Armn"),
    (0xFB1D, 0xFB4F, "Hebr"),
    (0xFB50, 0xFDFF, "Arab"),  # Arabic Presentation Forms-A
    (0xFE70, 0xFEFE, "Arab"),  # Arabic Presentation Forms-B (U+FEFF BOM is Common)
    (0xFF21, 0xFF3A, "Latn"),  # fullwidth Latin
    (0xFF41, 0xFF5A, "Latn"),
    (0xFF66, 0xFF6F, "Kana"),  # halfwidth Katakana (U+FF70, U+FF9E..U+FF9F are Common)
    (0xFF71, 0xFF9D, "Kana"),
    (0xFFA0, 0xFFDC, "Hang"),  # halfwidth Hangul
    (0x10000, 0x100FF, "Linb"),
    (0x10280, 0x1029F, "Lyci"),
    (0x102A0, 0x102DF, "Cari"),
    (0x10300, 0x1032F, "Ital"),
    (0x10330, 0x1034F, "Goth"),
    (0x10350, 0x1037F, "Perm"),
    (0x10380, 0x1039F, "Ugar"),
    (0x103A0, 0x103DF, "Xpeo"),
    (0x10400, 0x1044F, "Dsrt"),
    (0x10450, 0x1047F, "Shaw"),
    (0x10480, 0x104AF, "Osma"),
    (0x104B0, 0x104FF, "Osge"),
    (0x10500, 0x1052F, "Elba"),
    (0x10530, 0x1056F, "Aghb"),
    (0x10570, 0x105BF, "Vith"),
    (0x10600, 0x1077F, "Lina"),
    (0x10780, 0x107BF, "Latn"),  # Latin Extended-F
    (0x10800, 0x1083F, "Cprt"),
    (0x10840, 0x1085F, "Armi"),
    (0x10860, 0x1087F, "Palm"),
    (0x10880, 0x108AF, "Nbat"),
    (0x108E0, 0x108FF, "Hatr"),
    (0x10900, 0x1091F, "Phnx"),
    (0x10920, 0x1093F, "Lydi"),
    (0x10980, 0x1099F, "Mero"),
    (0x109A0, 0x109FF, "Merc"),
    (0x10A00, 0x10A5F, "Khar"),
    (0x10A60, 0x10A7F, "Sarb"),
    (0x10A80, 0x10A9F, "Narb"),
    (0x10AC0, 0x10AFF, "Mani"),
    (0x10B00, 0x10B3F, "Avst"),
    (0x10B40, 0x10B5F, "Prti"),
    (0x10B60, 0x10B7F, "Phli"),
    (0x10B80, 0x10BAF, "Phlp"),
    (0x10C00, 0x10C4F, "Orkh"),
    (0x10C80, 0x10CFF, "Hung"),
    (0x10D00, 0x10D3F, "Rohg"),
    (0x10E80, 0x10EBF, "Yezi"),
    (0x10EC0, 0x10EFF, "Arab"),  # Arabic Extended-C
    (0x10F00, 0x10F2F, "Sogo"),
    (0x10F30, 0x10F6F, "Sogd"),
    (0x10F70, 0x10FAF, "Ougr"),
    (0x10FB0, 0x10FDF, "Chrs"),
    (0x10FE0, 0x10FFF, "Elym"),
    (0x11000, 0x1107F, "Brah"),
    (0x11080, 0x110CF, "Kthi"),
    (0x110D0, 0x110FF, "Sora"),
    (0x11100, 0x1114F, "Cakm"),
    (0x11150, 0x1117F, "Mahj"),
    (0x11180, 0x111DF, "Shrd"),
    (0x111E0, 0x111FF, "Sinh"),  # Sinhala Archaic Numbers
    (0x11200, 0x1124F, "Khoj"),
    (0x11280, 0x112AF, "Mult"),
    (0x112B0, 0x112FF, "Sind"),
    (0x11300, 0x1137F, "Gran"),
    (0x11400, 0x1147F, "Newa"),
    (0x11480, 0x114DF, "Tirh"),
    (0x11580, 0x115FF, "Sidd"),
    (0x11600, 0x1165F, "Modi"),
    (0x11680, 0x116CF, "Takr"),
    (0x11700, 0x1174F, "Ahom"),
    (0x11800, 0x1184F, "Dogr"),
    (0x118A0, 0x118FF, "Wara"),
    (0x11900, 0x1195F, "Diak"),
    (0x119A0, 0x119FF, "Nand"),
    (0x11A00, 0x11A4F, "Zanb"),
    (0x11A50, 0x11AAF, "Soyo"),
    (0x11AB0, 0x11ABF, "Cans"),  # UCAS Extended-A
    (0x11AC0, 0x11AFF, "Pauc"),
    (0x11C00, 0x11C6F, "Bhks"),
    (0x11C70, 0x11CBF, "Marc"),
    (0x11D00, 0x11D5F, "Gonm"),
    (0x11D60, 0x11DAF, "Gong"),
    (0x11EE0, 0x11EFF, "Maka"),
    (0x11FB0, 0x11FBF, "Lisu"),  # Lisu Supplement
    (0x11FC0, 0x11FFF, "Taml"),  # Tamil Supplement
    (0x12000, 0x1254F, "Xsux"),
    (0x12F90, 0x12FFF, "Cpmn"),
    (0x13000, 0x1345F, "Egyp"),
    (0x14400, 0x1467F, "Hluw"),
    (0x16800, 0x16A3F, "Bamu"),  # Bamum Supplement
    (0x16A40, 0x16A6F, "Mroo"),
    (0x16A70, 0x16ACF, "Tnsa"),
    (0x16AD0, 0x16AFF, "Bass"),
    (0x16B00, 0x16B8F, "Hmng"),
    (0x16E40, 0x16E9F, "Medf"),
    (0x16F00, 0x16F9F, "Plrd"),  # Miao
    (0x16FE0, 0x16FE0, "Tang"),  # Tangut iteration mark
    (0x16FE1, 0x16FE1, "Nshu"),  # Nushu iteration mark
    (0x17000, 0x18AFF, "Tang"),  # Tangut, Tangut Components
    (0x18B00, 0x18CFF, "Kits"),  # Khitan Small Script
    (0x18D00, 0x18D7F, "Tang"),  # Tangut Supplement
    (0x1AFF0, 0x1AFFF, "Kana"),  # Kana Extended-B
    (0x1B000, 0x1B000, "Kana"),  # Kana Supplement: archaic katakana E ...
    (0x1B001, 0x1B11F, "Hira"),  # ... hentaigana
    (0x1B120, 0x1B122, "Kana"),
    (0x1B132, 0x1B132, "Hira"),  # Small Kana Extension
    (0x1B150, 0x1B152, "Hira"),
    (0x1B155, 0x1B155, "Kana"),
    (0x1B164, 0x1B167, "Kana"),
    (0x1B170, 0x1B2FF, "Nshu"),  # Nushu
    (0x1BC00, 0x1BC9F, "Dupl"),
    (0x1DF00, 0x1DFFF, "Latn"),  # Latin Extended-G
    (0x1E000, 0x1E02F, "Glag"),  # Glagolitic Supplement
    (0x1E030, 0x1E08F, "Cyrl"),  # Cyrillic Extended-D
    (0x1E100, 0x1E14F, "Hmnp"),
    (0x1E290, 0x1E2BF, "Toto"),
    (0x1E2C0, 0x1E2FF, "Wcho"),
    (0x1E4D0, 0x1E4FF, "Nagm"),
    (0x1E7E0, 0x1E7FF, "Ethi"),  # Ethiopic Extended-B
    (0x1E800, 0x1E8DF, "Mend"),
    (0x1E900, 0x1E95F, "Adlm"),
    (0x1EE00, 0x1EEFF, "Arab"),  # Arabic Mathematical Alphabetic Symbols
    (0x20000, 0x2FA1F, "Hani"),  # CJK Extensions B..F, I and Compatibility Ideographs Supplement
    (0x30000, 0x323AF, "Hani"),  # CJK Extensions G, H
)

_STARTS = [r[0] for r in _RANGES]
_ENDS = [r[1] for r in _RANGES]
_CODES = [r[2] for r in _RANGES]
assert all(a[1] < b[0] and a[0] <= a[1] for a, b in zip(_RANGES, _RANGES[1:], strict=False)), "unsorted"


def script_ranges(codes: Iterable[str]) -> list[tuple[int, int]]:
    """The (first, last) code point ranges of the table assigned to any of `codes`, sorted; for building
    character classes (e.g. the scripts written without spaces between words in pipelines.normalize)."""
    wanted = set(codes)
    return [(a, b) for a, b, code in _RANGES if code in wanted]


def char_script(ch: str) -> str | None:
    """ISO 15924 code of one character, from the block/range table above.

    Letters (L*) and the script-specific combining marks (M*: Devanagari vowel signs, Hebrew points...)
    get the script of their range; None for characters common to all scripts (digits, punctuation,
    spaces, symbols, controls) and for the generic combining marks (Inherited: they take the script of
    the letter they follow, which is why only letters are counted at the text level).
    """
    cp = ord(ch)
    if cp < 0x80:
        return "Latn" if ("a" <= ch <= "z" or "A" <= ch <= "Z") else None
    if unicodedata.category(ch)[0] not in "LM":
        return None
    i = bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _ENDS[i]:
        return _CODES[i]
    return None


# character -> its script when it is a letter (category L*), else None. Grows to the number of distinct
# characters the process has seen (a few tens of thousands in practice, capped); dict operations are
# atomic under the GIL, so it is safe to share between threads.
_LETTER_SCRIPT: dict[str, str | None] = {}
_CACHE_LIMIT = 200_000


def _letter_script(ch: str) -> str | None:
    if unicodedata.category(ch)[0] != "L":
        return None
    return char_script(ch)


def _count(text: str) -> tuple[dict[str, int], Counter[str]]:
    chars = Counter(text)
    counts: dict[str, int] = {}
    cache = _LETTER_SCRIPT
    for ch, n in chars.items():
        try:
            script = cache[ch]
        except KeyError:
            script = _letter_script(ch)
            if len(cache) < _CACHE_LIMIT:
                cache[ch] = script
        if script is not None:
            counts[script] = counts.get(script, 0) + n
    return counts, chars


_ASCII_NON_LETTERS = re.compile("[^A-Za-z]+")
_ASCII_LETTER = re.compile("[A-Za-z]")


def script_counts(text: str) -> dict[str, int]:
    """Number of letters (category L*) of each script in `text`, keyed by the scripts in the order their
    first letter appears. Marks, digits, punctuation and symbols are not counted. Han, Hiragana, Katakana
    and Hangul are counted separately (`Hani`, `Hira`, `Kana`, `Hang`); see dominant_script for the
    composite codes."""
    if text.isascii():
        letters = len(_ASCII_NON_LETTERS.sub("", text))
        return {"Latn": letters} if letters else {}
    return _count(text)[0]


# --- simplified vs traditional Chinese --------------------------------------------------------------
# Pairs (simplified form, traditional form) of frequent characters whose two forms differ and where
# neither form is in ordinary use in the other standard. Pairs like 后/後, 里/裡, 干/乾, 面/麵, 只/隻,
# 台/臺, 云/雲, 系/係, 才/纔, 准/準 are left out: the first character also exists, with its own meaning,
# in traditional text. Checked below: every pair differs, and no character is on both sides.
_HAN_PAIRS_TEXT = """
这這 们們 国國 说說 为為 时時 来來 个個 会會 对對 发發 学學 过過 还還 进進 种種 样樣 经經 现現 实實
问問 题題 动動 关關 长長 开開 见見 两兩 从從 没沒 应應 当當 机機 点點 东東 业業 产產 与與 电電 无無
书書 气氣 车車 门門 间間 让讓 头頭 听聽 语語 话話 认認 识識 请請 谁誰 读讀 写寫 觉覺 爱愛 亲親 买買
卖賣 钱錢 银銀 铁鐵 错錯 岁歲 边邊 远遠 运運 选選 际際 队隊 阳陽 阴陰 陆陸 险險 难難 鸡雞 鸟鳥 马馬
鱼魚 龙龍 龟龜 华華 万萬 亿億 义義 乐樂 习習 乡鄉 亚亞 众眾 优優 伤傷 传傳 体體 价價 伟偉 侧側 侨僑
俭儉 债債 倾傾 偿償 儿兒 党黨 兴興 养養 兽獸 册冊 军軍 农農 冯馮 冻凍 净淨 凉涼 减減 凤鳳 凭憑 击擊
刘劉 则則 刚剛 创創 删刪 别別 剧劇 剑劍 办辦 务務 劳勞 势勢 勋勳 区區 医醫 协協 单單 卢盧 卫衛 厂廠
厅廳 历歷 压壓 厌厭 县縣 参參 双雙 变變 叶葉 号號 叹嘆 吗嗎 启啟 员員 呜嗚 响響 哑啞 唤喚 团團 园園
围圍 图圖 圣聖 场場 坏壞 块塊 坚堅 坛壇 执執 报報 墙牆 壮壯 声聲 处處 备備 夹夾 夺奪 奋奮 奖獎 妇婦
妈媽 娱娛 婴嬰 孙孫 宁寧 宝寶 宪憲 宫宮 宽寬 宾賓 寻尋 导導 寿壽 将將 尔爾 尘塵 尝嘗 层層 属屬 岛島
峡峽 币幣 师師 帐帳 带帶 帮幫 广廣 庆慶 库庫 庙廟 废廢 异異 张張 弹彈 强強 归歸 录錄 彻徹 径徑 忆憶
忧憂 怀懷 态態 总總 恋戀 恶惡 恼惱 悬懸 惊驚 惧懼 惯慣 愿願 戏戲 战戰 户戶 扩擴 扫掃 扬揚 扰擾 护護
担擔 拟擬 拥擁 择擇 挤擠 挥揮 损損 换換 据據 携攜 摄攝 摆擺 敌敵 数數 断斷 旧舊 显顯 晓曉 暂暫 术術
杀殺 杂雜 权權 条條 杨楊 极極 构構 枪槍 标標 树樹 桥橋 检檢 楼樓 欢歡 欧歐 残殘 毕畢 汉漢 汤湯 沟溝
泽澤 洁潔 济濟 浅淺 测測 浓濃 涛濤 润潤 涨漲 渐漸 温溫 湾灣 满滿 滥濫 灭滅 灯燈 灵靈 灾災 炉爐 热熱
牵牽 状狀 独獨 狮獅 猎獵 献獻 环環 画畫 畅暢 疗療 疯瘋 盐鹽 监監 盖蓋 盘盤 矿礦 码碼 础礎 确確 礼禮
离離 积積 称稱 稳穩 穷窮 窃竊 竞競 笔筆 简簡 粮糧 紧緊 纠糾 红紅 约約 级級 纪紀 纯純 纲綱 纳納 纸紙
线線 练練 组組 细細 终終 绍紹 结結 绕繞 给給 络絡 绝絕 统統 继繼 绩績 续續 维維 综綜 绿綠 编編 缘緣
缩縮 网網 罗羅 罚罰 职職 联聯 肃肅 胜勝 胆膽 脑腦 脸臉 节節 艺藝 苏蘇 药藥 获獲 营營 虑慮 虽雖 补補
装裝 观觀 规規 视視 览覽 触觸 计計 订訂 讨討 训訓 议議 讯訊 记記 讲講 许許 论論 设設 访訪 证證 评評
诉訴 词詞 译譯 试試 诗詩 诚誠 该該 详詳 误誤 诸諸 调調 谈談 谊誼 谋謀 谢謝 贝貝 负負 贡貢 财財 责責
败敗 货貨 质質 贫貧 购購 贯貫 贵貴 费費 贸貿 资資 赏賞 赛賽 赞贊 赶趕 趋趨 跃躍 践踐 轨軌 转轉 轮輪
软軟 轻輕 载載 较較 辅輔 辆輛 辈輩 输輸 辽遼 达達 迁遷 违違 连連 迟遲 递遞 逻邏 遗遺 邓鄧 邮郵 邻鄰
郑鄭 释釋 针針 钢鋼 铜銅 链鏈 销銷 锁鎖 锅鍋 锋鋒 镇鎮 镜鏡 闪閃 闭閉 闲閒 闹鬧 闻聞 阅閱 阔闊 阶階
陈陳 隐隱 随隨 雾霧 静靜 页頁 顶頂 项項 顺順 须須 顾顧 顿頓 预預 领領 频頻 颜顏 风風 飞飛 饭飯 饮飲
饰飾 饱飽 馆館 验驗 骂罵 骑騎 骗騙 鲁魯 鲜鮮 鸣鳴 麦麥 黄黃 齐齊 齿齒 龄齡 乌烏 争爭 亏虧 仅僅 仓倉
兰蘭 剂劑 劝勸 吴吳 坝壩 垒壘 壳殼 奥奧 妆妝 尧堯 岗崗 岭嶺 帅帥 庄莊 弃棄 弯彎 怜憐 恳懇 悦悅 惨慘
懒懶 抢搶 拨撥 挡擋 昼晝 晒曬 枣棗 栋棟 栏欄 档檔 梦夢 汇匯 沪滬 泪淚 泼潑 浆漿 浊濁 渊淵 渔漁 湿濕
滚滾 滨濱 潜潛 炼煉 烧燒 烦煩 爷爺 犹猶 狭狹 猪豬 疮瘡 痒癢 皱皺 盗盜 砖磚 碍礙 祸禍 禅禪 窝窩 竖豎
笼籠 签簽 篮籃 类類 纤纖 纬緯 纵縱 纷紛 纹紋 织織 绘繪 绳繩 绵綿 缓緩 罢罷 聋聾 肠腸 肤膚 肿腫 舰艦
艰艱 芦蘆 苍蒼 荣榮 荡蕩 莲蓮 蓝藍 袜襪 袭襲 誉譽 谜謎 谣謠 贞貞 账賬 贷貸 贼賊 赔賠 赖賴 赵趙 躯軀
轰轟 辞辭 辩辯 钉釘 钟鐘 钦欽 钩鉤 钻鑽 铅鉛 铭銘 锐銳 锡錫 键鍵 阀閥 阁閣 阵陣 隶隸 韦韋 韩韓 顽頑
颁頒 颂頌 颈頸 颗顆 额額 饲飼 饼餅 驱驅 驶駛 驻駐 驾駕 骄驕 鸭鴨 鹅鵝 鹤鶴
"""
_HAN_PAIRS = _HAN_PAIRS_TEXT.split()
assert all(len(p) == 2 and p[0] != p[1] for p in _HAN_PAIRS), "bad simplified/traditional pair"

#: Characters used in simplified but not in traditional Chinese, and the reverse.
SIMPLIFIED_ONLY: frozenset[str] = frozenset(p[0] for p in _HAN_PAIRS)
TRADITIONAL_ONLY: frozenset[str] = frozenset(p[1] for p in _HAN_PAIRS)
assert not SIMPLIFIED_ONLY & TRADITIONAL_ONLY, "a character cannot be both"
assert len(SIMPLIFIED_ONLY) == len(TRADITIONAL_ONLY) == len(_HAN_PAIRS), "duplicate pair"


def _han_variant(chars: Counter[str]) -> str:
    simplified = sum(n for ch, n in chars.items() if ch in SIMPLIFIED_ONLY)
    traditional = sum(n for ch, n in chars.items() if ch in TRADITIONAL_ONLY)
    if simplified > traditional:
        return "Hans"
    if traditional > simplified:
        return "Hant"
    return "Hani"


def dominant_script(text: str) -> str | None:
    """The script of most letters of `text`, with the composite rules of ISO 15924:

    - Han together with Hiragana or Katakana, or Hiragana together with Katakana -> `Jpan` (their
      letters counted together); kana of one kind alone -> `Hira` or `Kana`;
    - Hangul, with or without Han -> `Hang` (Hangul and Han letters counted together);
    - Han alone -> `Hans` when more of its characters are simplified-only than traditional-only
      (SIMPLIFIED_ONLY / TRADITIONAL_ONLY), `Hant` for the reverse, else `Hani`.

    The merged groups then compete with the other scripts on letter count (a Latin brand name inside a
    Cyrillic sentence leaves it Cyrl). Ties go to the script whose first letter comes first. None when
    the text has no letters.
    """
    if text.isascii():
        return "Latn" if _ASCII_LETTER.search(text) else None
    counts, chars = _count(text)
    if not counts:
        return None
    if len(counts) == 1 and "Hani" not in counts:
        return next(iter(counts))
    japanese = ("Hira" in counts or "Kana" in counts) and (
        "Hani" in counts or ("Hira" in counts and "Kana" in counts)
    )
    korean = "Hang" in counts
    merged: dict[str, int] = {}
    for script, n in counts.items():
        if script == "Hani":
            key = "Jpan" if japanese else ("Hang" if korean else "Hani")
        elif japanese and script in ("Hira", "Kana"):
            key = "Jpan"
        else:
            key = script
        merged[key] = merged.get(key, 0) + n
    best = max(merged, key=merged.__getitem__)
    return _han_variant(chars) if best == "Hani" else best


# Codes that are variants of another for compatibility purposes (Nastaliq Arabic, Fraktur/Gaelic Latin,
# Syriac styles, Old Church Slavonic Cyrillic, Khutsuri Georgian).
_SCRIPT_ALIASES = {
    "Aran": "Arab", "Latf": "Latn", "Latg": "Latn", "Syre": "Syrc", "Syrj": "Syrc", "Syrn": "Syrc",
    "Cyrs": "Cyrl", "Geok": "Geor",
}

# declared script -> detected scripts it also accepts (besides itself).
_ACCEPTS: dict[str, frozenset[str]] = {
    "Hani": frozenset({"Hans", "Hant", "Jpan", "Kore"}),
    "Hans": frozenset({"Hani"}),
    "Hant": frozenset({"Hani"}),
    "Jpan": frozenset({"Hira", "Kana", "Hrkt", "Hani", "Hans", "Hant"}),
    "Hrkt": frozenset({"Hira", "Kana"}),
    # Korean Hanja are traditional forms, so Han text detected as Hant is Korean-compatible too.
    "Kore": frozenset({"Hang", "Hani", "Hant"}),
    "Zzzz": frozenset(),  # uncoded script: handled below, accepts anything
}


def scripts_compatible(declared: str, detected: str | None) -> bool:
    """True when a transcript detected as `detected` (dominant_script) may belong to a language
    declared with script `declared`.

    Equal codes match; Hani matches Hans/Hant/Jpan/Kore (either way round); Jpan accepts Hira, Kana,
    Hrkt, Hani, Hans, Hant; Kore accepts Hang, Hani and Hant (Hanja); style variants match their base
    script (Aran ~ Arab, Latf/Latg ~ Latn, Syre/Syrj/Syrn ~ Syrc, Cyrs ~ Cyrl, Geok ~ Geor); the
    uncoded script `Zzzz` accepts anything; None (no letters) is compatible with everything. Hans and
    Hant do not match each other: telling them apart is the point of declaring one.
    """
    if detected is None or declared == "Zzzz":
        return True
    declared = _SCRIPT_ALIASES.get(declared, declared)
    detected = _SCRIPT_ALIASES.get(detected, detected)
    if declared == detected:
        return True
    if detected in _ACCEPTS.get(declared, ()):
        return True
    return detected == "Hani" and declared in _ACCEPTS["Hani"]
