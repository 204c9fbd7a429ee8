"""Deterministic multilingual sample corpus, synthesized with espeak-ng.

``build_sample_corpus(out, scale, seed)`` writes a small but realistic speech corpus under ``out`` in the
on-disk layouts of real public corpora, so that every adapter and stage of the platform can be tested and
demonstrated without downloading anything:

========================  =========================================================================
folder                    layout
========================  =========================================================================
``common_voice/<loc>/``   Common Voice: ``clips/*.mp3`` + ``validated/train/dev/test.tsv``
``fleurs/<code>/``        FLEURS: header-less ``train/dev/test.tsv`` + ``audio/<split>/*.wav`` (16 kHz)
``librispeech/<subset>/`` LibriSpeech: ``<spk>/<ch>/<spk>-<ch>-<NNNN>.flac`` + ``<spk>-<ch>.trans.txt``
``kaldi/egs/.../s5/``      Kaldi recipe folder (Hindi), data dir ``data/hi_train/``: ``wav.scp`` ``segments``
                          ``text`` ``utt2spk`` ``spk2utt`` ``spk2gender``; ``wav.scp`` lines are sox pipes
                          (``sox data/local/wav/<reco>.wav -t wav -r 16k -b 16 -e signed - |``) with paths
                          relative to ``s5/``, as Kaldi recipes run them (44.1 kHz stereo WAV, several
                          utterances per recording)
``longform/<lang>/``      long unlabelled recordings (FLAC 22.05 kHz, Ogg/Opus, WAV stereo, MP3);
                          the folder is the language as a source writes it, ``und`` = unknown
``community/<p>/<sub>/``  partner submissions: audio files + ``metadata.csv``
``omnilingual/data/``     Hugging Face Parquet: ``<lang_Script>/{train,dev,test}-00000-of-00001.parquet``
``speechbrain/``          SpeechBrain CSVs ``train/dev/test.csv`` (``ID,duration,wav,spk_id,wrd``, paths
                          ``$data_root/audio/...``) over WAV clips and one AIFF clip (French)
========================  =========================================================================

The text is real Universal Declaration of Human Rights sentences (``data/udhr_sentences.tsv``).  Every
random choice (voice variant, speed, pitch, padding, noise, split, names) comes from ``random.Random`` /
``numpy`` generators seeded from ``seed``, and all encoders are run with settings that make their output
reproducible (fixed Ogg serial numbers, no time stamps), so the same ``(scale, seed)`` yields a
byte-identical tree.  ``out/MANIFEST.json`` describes the sources, the languages, the item counts and the
documented bad items with the pipeline outcome each one must produce; ``out/omnicorpus.yaml`` is a
pipeline config listing the sources.

``scale`` multiplies the number of utterances and long-form recordings: scale 1 is about 17 minutes of
audio in 38 languages (one train, dev and test utterance per language and source; built in seconds),
scale 2 about half an hour, scale 20 about 4-5 hours (for benchmarks; about two minutes to build on two
cores).  The documented bad items exist exactly once at any scale.

Sizes and counts are in ``MANIFEST.json``: ``items`` counts what an adapter lists (one row of a TSV,
``trans.txt``, Kaldi ``text``, ``metadata.csv`` or Parquet file, or one long-form file; for Common Voice
the rows of train/dev/test.tsv, since validated.tsv is their union), ``seconds`` is the duration of the
audio files each source holds (copies included, the truncated FLAC at its full length).  Besides the
documented keys the manifest has ``total_seconds``, ``longform_languages`` (true language of every
long-form file, ``und`` ones included) and ``language_codes`` (each source's own codes -> ours; ``null``
for ``xx-XX`` and ``und``).  Every bad item also names the file that lists it (``listed_in``) and, where
useful, ``duplicate_of``, ``encoding``, ``actual_language``, ``full_bytes`` or ``note``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR = "omnicorpus sample-corpus"
SENTENCES_PATH = Path(__file__).resolve().parent / "data" / "udhr_sentences.tsv"
WORKERS = 2
BASE_SR = 22050  # espeak-ng's native rate; everything is mixed at this rate then resampled

# Folders (and per-source files) this module owns under `out`; removed before a fresh build.
_OWNED = ("common_voice", "fleurs", "librispeech", "kaldi", "longform", "community", "omnilingual",
          "speechbrain", "MANIFEST.json", "omnicorpus.yaml")

# name, layout, path, license, default language, labelled
SOURCES: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    ("cv", "common_voice", "common_voice", "CC0-1.0", None, True),
    ("fleurs", "fleurs", "fleurs", "CC-BY-4.0", None, True),
    ("librispeech", "librispeech", "librispeech", "CC-BY-4.0", None, True),  # the layout implies English
    ("kaldi", "kaldi", "kaldi", "CC-BY-4.0", "hi", True),
    ("longform", "longform", "longform", "CC-BY-4.0", None, False),
    ("community", "community", "community", "CC-BY-4.0", None, True),
    ("omnilingual", "hf_parquet", "omnilingual", "CC-BY-4.0", None, True),
    ("speechbrain", "folder", "speechbrain", "CC-BY-4.0", "fr", True),
)

CV_LOCALES = {
    "sv-SE": "swe_Latn", "zh-TW": "cmn_Hant", "ru": "rus_Cyrl", "uk": "ukr_Cyrl", "es": "spa_Latn",
    "it": "ita_Latn", "pt": "por_Latn", "pl": "pol_Latn", "tr": "tur_Latn", "fa": "pes_Arab",
    "ka": "kat_Geor",
}
FLEURS_CODES = {
    "en_us": "eng_Latn", "hi_in": "hin_Deva", "ar_eg": "arb_Arab", "cmn_hans_cn": "cmn_Hans",
    "el_gr": "ell_Grek", "fr_fr": "fra_Latn", "de_de": "deu_Latn", "vi_vn": "vie_Latn",
    "sw_ke": "swh_Latn", "bn_in": "ben_Beng", "ta_in": "tam_Taml", "th_th": "tha_Thai",
    "he_il": "heb_Hebr", "ko_kr": "kor_Hang", "ja_jp": "jpn_Jpan", "mr_in": "mar_Deva",
    "ur_pk": "urd_Arab", "bg_bg": "bul_Cyrl", "hu_hu": "hun_Latn", "fi_fi": "fin_Latn",
    "cs_cz": "ces_Latn", "nl_nl": "nld_Latn", "id_id": "ind_Latn", "yue_hant_hk": "yue_Hant",
}
OMNILINGUAL_LANGS = ("npi_Deva", "kaz_Cyrl", "hye_Armn")
KALDI_DIR, KALDI_LANG = "hi_train", "hin_Deva"
#: The Kaldi source is a recipe folder: data dirs under s5/data/, audio under s5/data/local/, and wav.scp
#: lines that pipe it through sox (as Kaldi's own recipes write them), with paths relative to s5/ (where
#: Kaldi runs its scripts).
KALDI_RECIPE = "kaldi/egs/sample_hindi/s5"
SPEECHBRAIN_LANG = "fra_Latn"
SPEECHBRAIN_HEADER = ("ID", "duration", "wav", "spk_id", "wrd")
# folder, language, codec, sample rate, channels, file stem
LONGFORM_FOLDERS = (
    ("sw", "swh_Latn", "flac", 22050, 1, "broadcast"),
    ("fr", "fra_Latn", "opus", 48000, 1, "podcast"),
    ("hin", "hin_Deva", "wav", 44100, 2, "lecture"),
    ("und", None, "mp3", 44100, 1, "field_recording"),
)
UND_CANDIDATES = ("kat_Geor", "tha_Thai", "vie_Latn", "tur_Latn", "ell_Grek")
COMMUNITY_LANGS = {"sw-KE": "swh_Latn", "en": "eng_Latn", "bn-IN": "ben_Beng", "ta": "tam_Taml",
                   "mr": "mar_Deva", "xx-XX": None}
COMMUNITY_HEADER = ("file", "language", "speaker", "transcript", "consent", "consent_id", "license",
                    "recording_date", "partner")
CV_HEADER = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
             "age", "gender", "accents", "variant", "locale", "segment")
SPLITS = ("train", "dev", "test")
_NOT_AUDIO = ("<html><head><title>403 Forbidden</title></head>\n<body><h1>Forbidden</h1>"
              "<p>You don't have permission to access this resource.</p></body></html>\n")

MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "klatt", "klatt2", "klatt3", "klatt4")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")

# espeak-ng reads Han characters in Mandarin/Japanese text badly (it spells the romanisation with English
# rules, or says "Chinese letter"), so those sentences are spoken from a reading.  Keyed by sentence text;
# the transcript written to the corpus is always the sentence itself.
_PINYIN = (
    ("人人生而自由，在尊严和权利上一律平等。", "人人生而自由，在尊嚴和權利上一律平等。",
     "ren2 ren2 sheng1 er2 zi4 you2, zai4 zun1 yan2 he2 quan2 li4 shang4 yi2 lv4 ping2 deng3."),
    ("他们赋有理性和良心，并应以兄弟关系的精神相对待。", "他們賦有理性和良心，並應以兄弟關係的精神相對待。",
     "ta1 men5 fu4 you3 li3 xing4 he2 liang2 xin1, bing4 ying1 yi3 xiong1 di4 guan1 xi4 de5 jing1 shen2 "
     "xiang1 dui4 dai4."),
    ("人人有权享有生命、自由和人身安全。", "人人有權享有生命、自由和人身安全。",
     "ren2 ren2 you3 quan2 xiang3 you3 sheng1 ming4, zi4 you2 he2 ren2 shen1 an1 quan2."),
    ("任何人不得使为奴隶或奴役；一切形式的奴隶制度和奴隶买卖，均应予以禁止。",
     "任何人不得使為奴隸或奴役；一切形式的奴隸制度和奴隸買賣，均應予以禁止。",
     "ren4 he2 ren2 bu4 de2 shi3 wei2 nu2 li4 huo4 nu2 yi4; yi2 qie4 xing2 shi4 de5 nu2 li4 zhi4 du4 he2 "
     "nu2 li4 mai3 mai4, jun1 ying1 yu3 yi3 jin4 zhi3."),
    ("任何人不得加以酷刑，或施以残忍的、不人道的或侮辱性的待遇或刑罚。",
     "任何人不得加以酷刑，或施以殘忍的、不人道的或侮辱性的待遇或刑罰。",
     "ren4 he2 ren2 bu4 de2 jia1 yi3 ku4 xing2, huo4 shi1 yi3 can2 ren3 de5, bu4 ren2 dao4 de5 huo4 wu3 "
     "ru3 xing4 de5 dai4 yu4 huo4 xing2 fa2."),
    ("人人在任何地方有权被承认在法律前的人格。", "人人在任何地方有權被承認在法律前的人格。",
     "ren2 ren2 zai4 ren4 he2 di4 fang1 you3 quan2 bei4 cheng2 ren4 zai4 fa3 lv4 qian2 de5 ren2 ge2."),
    ("法律之前人人平等，并有权享受法律的平等保护，不受任何歧视。",
     "法律之前人人平等，並有權享受法律的平等保護，不受任何歧視。",
     "fa3 lv4 zhi1 qian2 ren2 ren2 ping2 deng3, bing4 you3 quan2 xiang3 shou4 fa3 lv4 de5 ping2 deng3 bao3 "
     "hu4, bu2 shou4 ren4 he2 qi2 shi4."),
    ("任何人不得加以任意逮捕、拘禁或放逐。", "任何人不得加以任意逮捕、拘禁或放逐。",
     "ren4 he2 ren2 bu4 de2 jia1 yi3 ren4 yi4 dai4 bu3, ju1 jin4 huo4 fang4 zhu2."),
)
_KANA = {
    "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。":
        "すべての にんげんは、うまれながらにして じゆうであり、"
        "かつ、そんげんと けんりとについて びょうどうである。",
    "人間は、理性と良心とを授けられており、互いに同胞の精神をもって行動しなければならない。":
        "にんげんは、りせいと りょうしんとを さずけられており、たがいに どうほうの せいしんをもって "
        "こうどうしなければならない。",
    "すべて人は、生命、自由及び身体の安全に対する権利を有する。":
        "すべて ひとは、せいめい、じゆう および しんたいの あんぜんに たいする けんりを ゆうする。",
    "何人も、奴隷にされ、又は苦役に服することはない。":
        "なんぴとも、どれいにされ、または くえきに ふくすることはない。",
    "奴隷制度及び奴隷売買は、いかなる形においても禁止する。":
        "どれいせいど および どれいばいばいは、いかなる かたちにおいても きんしする。",
    "何人も、拷問又は残虐な、非人道的な若しくは屈辱的な取扱若しくは刑罰を受けることはない。":
        "なんぴとも、ごうもん または ざんぎゃくな、ひじんどうてきな もしくは くつじょくてきな とりあつかい "
        "もしくは けいばつを うけることはない。",
    "すべて人は、いかなる場所においても、法の下において、人として認められる権利を有する。":
        "すべて ひとは、いかなる ばしょにおいても、ほうの もとにおいて、"
        "ひととして みとめられる けんりを ゆうする。",
    "何人も、ほしいままに逮捕、拘禁、又は追放されることはない。":
        "なんぴとも、ほしいままに たいほ、こうきん、または ついほうされることはない。",
}
_READINGS: dict[str, tuple[str, str]] = {}
for _hans, _hant, _pinyin in _PINYIN:
    _READINGS[_hans] = ("cmn-latn-pinyin", _pinyin)
    _READINGS[_hant] = ("cmn-latn-pinyin", _pinyin)
for _jpan, _kana in _KANA.items():
    _READINGS[_jpan] = ("ja", _kana)


# ----------------------------------------------------------------------------------------------------
# Text


@dataclass(frozen=True)
class Sentence:
    language: str  # ISO 639-3 + "_" + ISO 15924, e.g. "eng_Latn"
    espeak_voice: str
    text: str


def load_udhr_sentences(path: Path = SENTENCES_PATH) -> list[Sentence]:
    """The UDHR sentences shipped with the package (``language``, ``espeak_voice``, ``sentence``)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Sentence(r["language"], r["espeak_voice"], r["sentence"]) for r in rows]


def script_of(language: str) -> str:
    return language.split("_", 1)[1]


def _fleurs_normalize(text: str) -> str:
    chars = [" " if unicodedata.category(c).startswith("P") and c != "'" else c for c in text.lower()]
    return " ".join("".join(chars).split())


def _librispeech_normalize(text: str) -> str:
    chars = [c if (c.isalpha() or c == "'") else " " for c in text.upper()]
    return " ".join("".join(chars).split())


# ----------------------------------------------------------------------------------------------------
# Audio


@dataclass(frozen=True)
class Utt:
    """One espeak-ng call: what is spoken and how."""

    voice: str
    variant: str
    speed: int
    pitch: int
    text: str


@dataclass(frozen=True)
class Speaker:
    sid: str
    language: str
    voice: str
    variant: str
    pitch: int
    speed: int
    gender: str  # "male" | "female"

    def say(self, rng: random.Random, sentence: str) -> Utt:
        voice, text = _READINGS.get(sentence, (self.voice, sentence))
        speed = min(190, max(130, self.speed + rng.randint(-10, 10)))
        return Utt(voice, self.variant, speed, self.pitch, text)


def _espeak(utt: Utt, tmp: Path, tag: str) -> np.ndarray:
    """Synthesizes `utt` and returns float64 samples at BASE_SR with espeak's own silence trimmed."""
    wav = tmp / f"{tag}.wav"
    cmd = ["espeak-ng", "-b", "1", "-v", f"{utt.voice}+{utt.variant}", "-s", str(utt.speed),
           "-p", str(utt.pitch), "-w", str(wav), "--stdin"]
    proc = subprocess.run(cmd, input=utt.text.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0 or not wav.exists():
        raise RuntimeError(f"espeak-ng failed ({' '.join(cmd[:-1])}): {proc.stderr.decode(errors='replace')}")
    import soundfile as sf

    x, sr = sf.read(str(wav), dtype="float64", always_2d=False)
    wav.unlink()
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != BASE_SR:
        x = _resample(x, sr, BASE_SR)
    loud = np.flatnonzero(np.abs(x) > 0.004)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {utt}")
    margin = int(0.01 * BASE_SR)
    return x[max(0, loud[0] - margin): loud[-1] + margin + 1]


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    import soxr

    return np.asarray(soxr.resample(x, sr_in, sr_out, quality="HQ"), dtype=np.float64)


def _normalize(x: np.ndarray, level: float) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    return x * (level / peak)


def _white(rng: np.random.Generator, n: int, db: float) -> np.ndarray:
    return rng.standard_normal(n) * (10 ** (db / 20))


def _pink(rng: np.random.Generator, n: int, db: float) -> np.ndarray:
    """1/f noise with RMS at `db` dBFS (a room / street background)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    rms = float(np.sqrt(np.mean(y * y))) or 1.0
    return y * (10 ** (db / 20) / rms)


def _music(rng: np.random.Generator, seconds: float, level: float) -> np.ndarray:
    """A music-like stretch: chords of harmonic sine tones with attack/decay envelopes, no speech."""
    n = int(seconds * BASE_SR)
    out = np.zeros(n)
    t0 = 0
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    while t0 < n:
        note_len = int(rng.uniform(0.25, 0.7) * BASE_SR)
        length = min(note_len, n - t0)
        t = np.arange(length) / BASE_SR
        env = np.minimum(1.0, t / 0.02) * np.exp(-t * rng.uniform(2.0, 6.0))
        for step in rng.choice([0, 3, 4, 7, 10, 12], size=rng.integers(2, 4), replace=False):
            f0 = root * 2 ** (int(step) / 12) * 2 ** int(rng.integers(0, 2))
            for h in range(1, 4):
                out[t0:t0 + length] += env * np.sin(2 * np.pi * f0 * h * t) / (h * h)
        t0 += note_len
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.05 * BASE_SR))
    return _normalize(out * fade, level)


def _spread(x: np.ndarray, channels: int, rng: np.random.Generator, noisy: bool) -> np.ndarray:
    """Mono -> `channels` channels (different gains, small delays, independent low noise)."""
    if channels == 1:
        return x
    cols = [x]
    for _ in range(channels - 1):
        delay = int(rng.integers(0, 24))
        gain = rng.uniform(0.45, 0.95)
        ch = np.concatenate([np.zeros(delay), x[: len(x) - delay]]) * gain
        if noisy:
            ch = ch + _white(rng, len(x), -62.0)
        cols.append(ch)
    return np.stack(cols, axis=1)


def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _encode(pcm: np.ndarray, sr: int, fmt: str, tmp: Path, tag: str, serial: int) -> bytes:
    """Encodes int16 samples; every encoder is used with settings that make its output reproducible."""
    import soundfile as sf

    if fmt in ("wav", "flac", "aiff"):
        buf = io.BytesIO()
        sf.write(buf, pcm, sr, format=fmt.upper(), subtype="PCM_16")
        return buf.getvalue()
    src, dst = tmp / f"{tag}.in.wav", tmp / f"{tag}.out"
    sf.write(str(src), pcm, sr, format="WAV", subtype="PCM_16")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    if fmt == "mp3":
        kbps = {48000: 64, 44100: 64, 32000: 48}.get(sr, 64) * channels
        khz = f"{sr / 1000:g}"
        cmd = ["lame", "--quiet", "--noreplaygain", "-m", "m" if channels == 1 else "j", "-b", str(kbps),
               "--resample", khz, str(src), str(dst)]
    elif fmt == "opus":
        cmd = ["opusenc", "--quiet", "--serial", str(serial), "--bitrate", "32", str(src), str(dst)]
    else:
        raise ValueError(fmt)
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace')}")
    data = dst.read_bytes()
    src.unlink()
    dst.unlink()
    return data


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _seed_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


# ----------------------------------------------------------------------------------------------------
# Jobs: pure functions of their fields (so running them in a pool keeps the output deterministic)


@dataclass(frozen=True)
class ClipJob:
    rel: str  # path relative to `out`; "" for in-memory (Parquet) audio
    utt: Utt
    fmt: str  # wav | flac | mp3 | opus
    sr: int
    seed: int
    channels: int = 1
    lead: float = 0.0
    trail: float = 0.0
    noise_db: float | None = None
    level: float = 0.7
    truncate: float | None = None  # keep this fraction of the encoded bytes

    def run(self, out: Path, tmp: Path, tag: str) -> dict[str, Any]:
        rng = np.random.default_rng(self.seed)
        x = _normalize(_espeak(self.utt, tmp, tag), self.level)
        x = np.concatenate([np.zeros(int(self.lead * BASE_SR)), x, np.zeros(int(self.trail * BASE_SR))])
        if self.noise_db is not None:
            x = x + _white(rng, len(x), self.noise_db)
        y = _resample(_spread(x, self.channels, rng, self.noise_db is not None), BASE_SR, self.sr)
        pcm = _pcm16(y)
        data = _encode(pcm, self.sr, self.fmt, tmp, tag, self.seed % 2**31)
        result: dict[str, Any] = {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr}
        if self.truncate is not None:
            result["full_bytes"] = len(data)
            data = data[: int(len(data) * self.truncate)]
        if self.rel:
            _write_bytes(out / self.rel, data)
        else:
            result["data"] = data
        return result


@dataclass(frozen=True)
class KaldiJob:
    """One recording holding several utterances separated by pauses (44.1 kHz stereo WAV)."""

    rel: str
    utts: tuple[Utt, ...]
    seed: int
    sr: int = 44100

    def run(self, out: Path, tmp: Path, tag: str) -> dict[str, Any]:
        rng = np.random.default_rng(self.seed)
        pieces = [np.zeros(int(rng.uniform(0.4, 1.2) * BASE_SR))]
        spans = []
        t = len(pieces[0])
        for k, utt in enumerate(self.utts):
            x = _normalize(_espeak(utt, tmp, f"{tag}-{k}"), rng.uniform(0.4, 0.85))
            spans.append((t / BASE_SR, (t + len(x)) / BASE_SR))
            pause = np.zeros(int(rng.uniform(0.5, 1.6) * BASE_SR))
            pieces += [x, pause]
            t += len(x) + len(pause)
        x = np.concatenate(pieces)
        x = x + _pink(rng, len(x), rng.uniform(-52, -44))
        pcm = _pcm16(_resample(_spread(x, 2, rng, True), BASE_SR, self.sr))
        _write_bytes(out / self.rel, _encode(pcm, self.sr, "wav", tmp, tag, 0))
        return {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr, "spans": spans}


@dataclass(frozen=True)
class LongformJob:
    """Minutes of speech in one language with pauses of 0.3-4 s, background noise and music stretches."""

    rel: str
    speakers: tuple[Speaker, ...]
    sentences: tuple[str, ...]
    target: float
    fmt: str
    sr: int
    channels: int
    seed: int

    def run(self, out: Path, tmp: Path, tag: str) -> dict[str, Any]:
        rng = np.random.default_rng(self.seed)
        pick = random.Random(self.seed)
        pieces = [np.zeros(int(rng.uniform(0.5, 2.0) * BASE_SR))]
        t = len(pieces[0])
        spans: list[list[float]] = []
        music_at = pick.uniform(0.25, 0.7) * self.target  # at least one music stretch per file
        n = 0
        while t / BASE_SR < self.target:
            if music_at <= t / BASE_SR or (pick.random() < 0.08 and spans):
                music_at = float("inf")
                x = _music(rng, pick.uniform(3.0, 8.0), pick.uniform(0.15, 0.35))
                pieces.append(x)
                t += len(x)
            else:
                speaker = self.speakers[pick.randrange(len(self.speakers))]
                utt = speaker.say(pick, self.sentences[pick.randrange(len(self.sentences))])
                x = _normalize(_espeak(utt, tmp, f"{tag}-{n}"), pick.uniform(0.35, 0.85))
                n += 1
                spans.append([round(t / BASE_SR, 3), round((t + len(x)) / BASE_SR, 3)])
                pieces.append(x)
                t += len(x)
            gap = pick.uniform(0.3, 1.2) if pick.random() < 0.7 else pick.uniform(1.2, 4.0)
            pieces.append(np.zeros(int(gap * BASE_SR)))
            t += len(pieces[-1])
        x = np.concatenate(pieces)
        x = x + _pink(rng, len(x), rng.uniform(-50, -40))
        if pick.random() < 0.5:  # mains hum
            hum = pick.choice([50.0, 60.0])
            x = x + 10 ** (-54 / 20) * np.sin(2 * np.pi * hum * np.arange(len(x)) / BASE_SR)
        pcm = _pcm16(_resample(_spread(x, self.channels, rng, True), BASE_SR, self.sr))
        _write_bytes(out / self.rel, _encode(pcm, self.sr, self.fmt, tmp, tag, self.seed % 2**31))
        return {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr, "spans": spans}


@dataclass(frozen=True)
class SilenceJob:
    rel: str
    seconds: float
    sr: int
    fmt: str

    def run(self, out: Path, tmp: Path, tag: str) -> dict[str, Any]:
        pcm = np.zeros(int(self.seconds * self.sr), dtype=np.int16)
        _write_bytes(out / self.rel, _encode(pcm, self.sr, self.fmt, tmp, tag, 0))
        return {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr}


Job = ClipJob | KaldiJob | LongformJob | SilenceJob


# ----------------------------------------------------------------------------------------------------
# Planning


class _Deck:
    """Cycles through a language's sentences without repeats until all are used.

    The first pass is ordered by length with random jitter, so that small scales use mostly the shorter
    sentences (keeps scale 1 small) while different seeds still pick different ones.
    """

    def __init__(self, rng: random.Random, sentences: list[str]):
        self.rng = rng
        self.sentences = sentences
        self.queue = sorted(sentences, key=lambda s: len(s) * rng.uniform(0.85, 1.15))

    def next(self, avoid: str | None = None) -> str:
        if not self.queue:
            self.queue = list(self.sentences)
            self.rng.shuffle(self.queue)
        for i, s in enumerate(self.queue):
            if s != avoid:
                return self.queue.pop(i)
        return next(s for s in self.sentences if s != avoid)


@dataclass
class _Bad:
    source: str
    path: str
    what: str
    expect_stage: str | None
    expect_reason: str | None
    listed_in: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {"source": self.source, "path": self.path, "what": self.what, "expect_stage": self.expect_stage,
             "expect_reason": self.expect_reason, "listed_in": self.listed_in}
        d.update(self.extra)
        return d


class _Builder:
    def __init__(self, out: Path, scale: int, seed: int, sentences: list[Sentence]):
        self.out, self.scale, self.seed = out, scale, seed
        self.by_lang: dict[str, list[str]] = {}
        self.voice: dict[str, str] = {}
        for s in sentences:
            self.by_lang.setdefault(s.language, []).append(s.text)
            self.voice[s.language] = s.espeak_voice
        self.jobs: list[Job] = []
        self.results: list[dict[str, Any]] = []
        self.finalizers: list[Callable[[], None]] = []
        self.bad: list[_Bad] = []
        self.items: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.languages: set[str] = set()
        self.language_codes: dict[str, dict[str, str | None]] = {}
        self.longform_speech: dict[str, list[list[float]]] = {}
        self.longform_languages: dict[str, str] = {}

    # -- helpers
    def rng(self, name: str) -> random.Random:
        return random.Random(f"omnicorpus-sample:{self.seed}:{name}")

    def job(self, job: Job) -> int:
        self.jobs.append(job)
        return len(self.jobs) - 1

    def deck(self, rng: random.Random, lang: str) -> _Deck:
        self.languages.add(lang)
        return _Deck(rng, self.by_lang[lang])

    def speakers(self, rng: random.Random, lang: str, n: int, ids: Callable[[int], str]) -> list[Speaker]:
        out: list[Speaker] = []
        seen: set[tuple[str, int]] = set()
        gender = rng.choice(("male", "female"))
        while len(out) < n:
            variant = rng.choice(MALE_VARIANTS if gender == "male" else FEMALE_VARIANTS)
            pitch = rng.randint(30, 70)
            if (variant, pitch) in seen:
                continue
            seen.add((variant, pitch))
            out.append(Speaker(ids(len(out)), lang, self.voice[lang], variant, pitch, rng.randint(140, 188),
                               gender))
            gender = "female" if gender == "male" else "male"
        return out

    def clip(self, rng: random.Random, rel: str, speaker: Speaker, sentence: str, fmt: str, sr: int,
             **kw: Any) -> int:
        """Plans one utterance: some clips get silence padding, some low-level noise."""
        lead = trail = 0.0
        if rng.random() < 0.4:
            lead, trail = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        noise = rng.uniform(-60.0, -44.0) if rng.random() < 0.45 else None
        seed = _seed_of(self.seed, "clip", len(self.jobs), rel)
        return self.job(ClipJob(rel, speaker.say(rng, sentence), fmt, sr, seed,
                                lead=lead, trail=trail, noise_db=noise, level=rng.uniform(0.3, 0.9), **kw))

    def split_list(self, rng: random.Random, n: int) -> list[str]:
        n_dev = max(1, round(n * 0.1))
        n_test = max(1, round(n * 0.1))
        splits = ["train"] * (n - n_dev - n_test) + ["dev"] * n_dev + ["test"] * n_test
        rng.shuffle(splits)
        return splits

    def add_bad(self, source: str, path: str, what: str, stage: str | None, reason: str | None,
                listed_in: str, **extra: Any) -> _Bad:
        self.bad.append(_Bad(source, path, what, stage, reason, listed_in, extra))
        return self.bad[-1]

    # -- sources
    def plan_cv(self) -> None:
        rng = self.rng("cv")
        n = 2 * self.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
        ages = ("", "twenties", "thirties", "fourties", "fifties", "sixties", "teens")
        rows_by_locale: dict[str, list[tuple[str, list[str], int | None]]] = {}  # (split, fields, job)
        clip_jobs: dict[str, int] = {}
        copies: list[tuple[str, str]] = []  # (from rel, to rel): identical bytes under a second name
        zero: list[str] = []
        self.language_codes["cv"] = dict(CV_LOCALES)
        for locale, lang in CV_LOCALES.items():
            sr = rng.choice((48000, 32000))
            base = f"common_voice/{locale}"
            def client_id(i: int, loc: str = locale) -> str:
                return hashlib.sha512(f"{self.seed}:{loc}:{i}".encode()).hexdigest()

            spk = self.speakers(rng, lang, min(n, 2 + self.scale // 2), client_id)
            meta: dict[str, tuple[str, str]] = {}
            for sp in spk:
                gender = "male_masculine" if sp.gender == "male" else "female_feminine"
                meta[sp.sid] = (rng.choice(ages), rng.choice((gender, gender, "")))
            deck = self.deck(rng, lang)
            numbers = rng.sample(range(17_000_000, 42_000_000), n + 2)
            rows: list[tuple[str, list[str], int | None]] = []

            def fields(sp: Speaker, name: str, sentence: str, loc: str = locale,
                       meta: dict[str, tuple[str, str]] = meta) -> list[str]:
                age, gender = meta[sp.sid]
                return [sp.sid, name, hashlib.sha256(sentence.encode()).hexdigest(), sentence, "",
                        str(rng.randint(2, 5)), str(rng.randint(0, 1)), age, gender, "", "", loc, ""]

            for i, split in enumerate(self.split_list(rng, n)):
                sp, sentence = rng.choice(spk), deck.next()
                name = f"common_voice_{locale}_{numbers[i]}.mp3"
                rel = f"{base}/clips/{name}"
                clip_jobs[rel] = self.clip(rng, rel, sp, sentence, "mp3", sr)
                rows.append((split, fields(sp, name, sentence), clip_jobs[rel]))
            orig = next(r for s, r, _ in rows if s == "train")
            orig_rel = f"{base}/clips/{orig[1]}"
            orig_speaker = next(sp for sp in spk if sp.sid == orig[0])
            if locale == "sv-SE":
                name = f"common_voice_{locale}_{numbers[n]}.mp3"
                rows.append(("train", fields(rng.choice(spk), name, deck.next()), None))
                zero.append(f"{base}/clips/{name}")
                self.add_bad("cv", f"{base}/clips/{name}", "zero-byte MP3 listed in train.tsv", "ingest",
                             "empty_file", f"{base}/train.tsv")
            elif locale in ("es", "it", "pl"):
                split, sentence, what, reason = {
                    "es": ("dev", orig[3], "same clip bytes as a train clip, in dev, same transcript",
                           "split_leak"),
                    "it": ("test", deck.next(avoid=orig[3]),
                           "same clip bytes as a train clip, in test, different transcript",
                           "transcript_conflict"),
                    "pl": ("train", orig[3], "same clip bytes as another train clip under a later name",
                           "duplicate"),
                }[locale]
                num = numbers[n + 1]
                if locale == "pl":  # the copy must sort after the original (same digit count)
                    taken = set(numbers)
                    num = int(orig[1][len(f"common_voice_{locale}_"):-4]) + 1
                    while num in taken:
                        num += 1
                name = f"common_voice_{locale}_{num}.mp3"
                rows.append((split, fields(orig_speaker, name, sentence), None))
                copies.append((orig_rel, f"{base}/clips/{name}"))
                if split == "train":  # within one split the later name goes
                    self.add_bad("cv", f"{base}/clips/{name}", what, "dedup", reason, f"{base}/{split}.tsv",
                                 duplicate_of=orig_rel)
                else:  # across splits the held-out copy stays (test over dev over train): the train one goes
                    self.add_bad("cv", orig_rel, what, "dedup", reason, f"{base}/train.tsv",
                                 duplicate_of=f"{base}/clips/{name}")
            rows_by_locale[locale] = rows

        def finalize() -> None:
            for rel in zero:
                _write_bytes(self.out / rel, b"")
            for src, dst in copies:
                _write_bytes(self.out / dst, (self.out / src).read_bytes())
            header = "\t".join(CV_HEADER) + "\n"
            for locale, rows in rows_by_locale.items():
                base = self.out / "common_voice" / locale
                for split in SPLITS:
                    lines = "".join("\t".join(r) + "\n" for s, r, _ in rows if s == split)
                    _write_text(base / f"{split}.tsv", header + lines)
                _write_text(base / "validated.tsv", header + "".join("\t".join(r) + "\n" for _, r, _ in rows))
            self.items["cv"] = sum(len(rows) for rows in rows_by_locale.values())
            self.seconds["cv"] = (sum(self.results[j]["seconds"] for j in clip_jobs.values())
                                  + sum(self.results[clip_jobs[src]]["seconds"] for src, _ in copies))

        self.finalizers.append(finalize)

    def plan_fleurs(self) -> None:
        rng = self.rng("fleurs")
        n = 2 * self.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
        plans: dict[str, list[tuple[str, list[str], int, str]]] = {}  # code -> (split, fields, job, enc)
        self.language_codes["fleurs"] = dict(FLEURS_CODES)
        eng = self.speakers(rng, "eng_Latn", 1, lambda i: f"fleurs-en-{i}")[0]
        for code, lang in FLEURS_CODES.items():
            spk = self.speakers(rng, lang, min(n, 2 + self.scale // 2), f"{code}-{{}}".format)
            deck = self.deck(rng, lang)
            index = {s: 1000 + k for k, s in enumerate(self.by_lang[lang])}
            entries: list[tuple[str, Speaker, str, str, int]] = []
            for split in self.split_list(rng, n):
                s = deck.next()
                entries.append((split, rng.choice(spk), s, "utf-8", index[s]))
            if code == "fr_fr":  # one row whose line is Latin-1 encoded
                accented = [s for s in self.by_lang[lang] if not s.isascii()]
                s = rng.choice(accented)
                entries.append(("train", rng.choice(spk), s, "latin-1", index[s]))
            if code == "de_de":  # English audio + English transcript filed under German
                s = rng.choice(self.by_lang["eng_Latn"])
                entries.append(("train", eng, s, "utf-8", 1000 + self.by_lang["eng_Latn"].index(s)))
            rows = []
            used: set[str] = set()
            for split, speaker, sentence, enc, sid in entries:
                name = f"{rng.randrange(10**18, 10**19)}.wav"
                while name in used:
                    name = f"{rng.randrange(10**18, 10**19)}.wav"
                used.add(name)
                rel = f"fleurs/{code}/audio/{split}/{name}"
                job = self.clip(rng, rel, speaker, sentence, "wav", 16000)
                norm = _fleurs_normalize(sentence)
                chars = " ".join("|" if c == " " else c for c in norm) + " |"
                fields = [str(sid), name, sentence, norm, chars, "", speaker.gender.upper()]
                rows.append((split, fields, job, enc))
                if enc != "utf-8":
                    self.add_bad("fleurs", rel, "transcript line encoded as Latin-1 inside train.tsv",
                                 "ingest", "transcript_not_utf8", f"fleurs/{code}/train.tsv", encoding=enc)
                elif speaker is eng:
                    self.add_bad("fleurs", rel, "German (de_de) row whose audio and transcript are English",
                                 "langid", "lid_mismatch", f"fleurs/{code}/train.tsv",
                                 actual_language="eng_Latn")
            plans[code] = rows

        def finalize() -> None:
            seconds = 0.0
            for code, rows in plans.items():
                for split in SPLITS:
                    data = b""
                    for s, fields, job, enc in rows:
                        if s == split:
                            fields[5] = str(self.results[job]["frames"])
                            data += ("\t".join(fields) + "\n").encode(enc)
                    _write_bytes(self.out / "fleurs" / code / f"{split}.tsv", data)
                seconds += sum(self.results[job]["seconds"] for _, _, job, _ in rows)
            self.items["fleurs"] = sum(len(r) for r in plans.values())
            self.seconds["fleurs"] = seconds

        self.finalizers.append(finalize)

    def plan_librispeech(self) -> None:
        rng = self.rng("librispeech")
        s = self.scale
        lang = "eng_Latn"
        self.language_codes["librispeech"] = {"en": lang}
        deck = self.deck(rng, lang)
        ids = iter(rng.sample(range(19, 9000), 64 + 3 * s))
        chapters = iter(rng.sample(range(1000, 200000), 128 + 6 * s))
        speakers_txt: list[tuple[int, str, str]] = []  # (speaker, sex, subset)
        truncated: list[tuple[_Bad, int]] = []
        trans: dict[str, list[tuple[str, str, int]]] = {}  # trans.txt rel -> (utt id, text, job)
        for subset, n, n_spk in (("train-clean-100", 3 * s, max(2, s)), ("dev-clean", s + 1, max(1, s // 2)),
                                 ("test-clean", s + 1, max(1, s // 2))):
            spk = self.speakers(rng, lang, n_spk, lambda i: str(next(ids)))
            slots = [(sp, next(chapters)) for sp in spk for _ in range(2 if s >= 4 else 1)]
            counters: dict[tuple[str, int], int] = {}
            for sp in spk:
                speakers_txt.append((int(sp.sid), "M" if sp.gender == "male" else "F", subset))

            def place(slot: tuple[Speaker, int], subset: str = subset,
                      counters: dict[tuple[str, int], int] = counters) -> tuple[str, str]:
                sp, ch = slot
                k = counters.get((sp.sid, ch), 0)
                counters[(sp.sid, ch)] = k + 1
                utt_id = f"{sp.sid}-{ch}-{k:04d}"
                return utt_id, f"librispeech/{subset}/{sp.sid}/{ch}"

            for i in range(n):
                slot = slots[i % len(slots)]
                utt_id, folder = place(slot)
                sentence = deck.next()
                job = self.clip(rng, f"{folder}/{utt_id}.flac", slot[0], sentence, "flac", 16000)
                trans.setdefault(f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt", []).append(
                    (utt_id, _librispeech_normalize(sentence), job))
            slot = slots[0]
            if subset == "train-clean-100":
                utt_id, folder = place(slot)
                rel = f"{folder}/{utt_id}.flac"
                sentence = deck.next()
                job = self.job(ClipJob(rel, slot[0].say(rng, sentence), "flac", 16000,
                                       _seed_of(self.seed, rel), level=0.8, truncate=0.6))
                bad = self.add_bad("librispeech", rel,
                                   "FLAC cut to 60% of its bytes (STREAMINFO keeps the full length)",
                                   "ingest", "decode_error", f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt")
                truncated.append((bad, job))
                trans[f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt"].append(
                    (utt_id, _librispeech_normalize(sentence), job))
            if subset == "test-clean":
                utt_id, folder = place(slot)
                rel = f"{folder}/{utt_id}.flac"
                job = self.job(SilenceJob(rel, round(rng.uniform(2.5, 4.0), 2), 16000, "flac"))
                self.add_bad("librispeech", rel, "pure digital silence with a transcript", "segment",
                             "no_speech", f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt")
                trans[f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt"].append(
                    (utt_id, _librispeech_normalize(deck.next()), job))

        def finalize() -> None:
            for bad, job in truncated:
                bad.extra["full_bytes"] = self.results[job]["full_bytes"]
            minutes: dict[int, float] = {}
            for rel, lines in trans.items():
                _write_text(self.out / rel, "".join(f"{u} {t}\n" for u, t, _ in sorted(lines)))
                for u, _, job in lines:
                    spk = int(u.split("-")[0])
                    minutes[spk] = minutes.get(spk, 0.0) + self.results[job]["seconds"] / 60
            head = ("; Synthesized speakers of the omnicorpus sample corpus (espeak-ng voices)\n"
                    ";ID  |SEX| SUBSET           |MINUTES| NAME\n")
            body = "".join(f"{spk:<5}| {sex} | {subset:<16} | {minutes.get(spk, 0.0):5.2f} | Reader {spk}\n"
                           for spk, sex, subset in sorted(speakers_txt))
            _write_text(self.out / "librispeech" / "SPEAKERS.TXT", head + body)
            self.items["librispeech"] = sum(len(v) for v in trans.values())
            self.seconds["librispeech"] = sum(self.results[j]["seconds"]
                                              for v in trans.values() for *_, j in v)

        self.finalizers.append(finalize)

    def plan_kaldi(self) -> None:
        rng = self.rng("kaldi")
        lang = KALDI_LANG
        self.language_codes["kaldi"] = {KALDI_DIR: lang}
        deck = self.deck(rng, lang)
        spk = self.speakers(rng, lang, max(2, self.scale), lambda i: f"hi_s{i + 1:03d}")
        recos: list[tuple[str, Speaker, list[str], int]] = []
        for r in range(2 * self.scale):
            sp = spk[r % len(spk)]
            reco = f"{sp.sid}_r{r + 1:03d}"
            k = 3 if self.scale == 1 else rng.randint(3, 6)
            texts = [deck.next() for _ in range(k)]
            job = self.job(KaldiJob(f"{KALDI_RECIPE}/data/local/wav/{reco}.wav", tuple(sp.say(rng, t) for t in texts),
                                    _seed_of(self.seed, "kaldi", reco)))
            recos.append((reco, sp, texts, job))

        def finalize() -> None:
            d = self.out / KALDI_RECIPE / "data" / KALDI_DIR
            wav_scp, segments, text, utt2spk = [], [], [], []
            spk2utt: dict[str, list[str]] = {}
            for reco, sp, texts, job in recos:
                res = self.results[job]
                # as egs/commonvoice/s5/local/data_prep.pl writes it: a sox pipe to 16 kHz 16-bit WAV
                wav_scp.append(f"{reco} sox data/local/wav/{reco}.wav -t wav -r 16k -b 16 -e signed - |\n")
                for k, (sentence, (a, b)) in enumerate(zip(texts, res["spans"], strict=True)):
                    utt = f"{reco}_{k + 1:03d}"
                    start = max(0.0, a - 0.1)
                    end = min(res["frames"] / res["sr"], b + 0.1)
                    start, end = math.floor(start * 100) / 100, math.floor(end * 100) / 100
                    segments.append(f"{utt} {reco} {start:.2f} {end:.2f}\n")
                    text.append(f"{utt} {sentence}\n")
                    utt2spk.append(f"{utt} {sp.sid}\n")
                    spk2utt.setdefault(sp.sid, []).append(utt)
            for name, lines in (("wav.scp", wav_scp), ("segments", segments), ("text", text),
                                ("utt2spk", utt2spk)):
                _write_text(d / name, "".join(sorted(lines)))
            _write_text(d / "spk2utt",
                        "".join(f"{s} {' '.join(sorted(u))}\n" for s, u in sorted(spk2utt.items())))
            _write_text(d / "spk2gender", "".join(f"{s.sid} {s.gender[0]}\n"
                                                  for s in sorted(spk, key=lambda s: s.sid)
                                                  if s.sid in spk2utt))
            self.items["kaldi"] = len(text)
            self.seconds["kaldi"] = sum(self.results[j]["seconds"] for *_, j in recos)

        self.finalizers.append(finalize)

    def plan_longform(self) -> None:
        rng = self.rng("longform")
        per_folder = 1 + (self.scale - 1) // 2
        jobs: list[tuple[str, int]] = []
        self.language_codes["longform"] = {f: lang for f, lang, *_ in LONGFORM_FOLDERS}
        for folder, lang, fmt, sr, channels, stem in LONGFORM_FOLDERS:
            for i in range(per_folder):
                language = lang or rng.choice(UND_CANDIDATES)
                self.languages.add(language)
                spk = self.speakers(rng, language, rng.randint(1, 2), f"{folder}{i}-{{}}".format)
                target = rng.uniform(60.5, 66.0) if self.scale == 1 else rng.uniform(60.0, 180.0)
                rel = f"longform/{folder}/{stem}_{i + 1:03d}.{fmt}"
                job = self.job(LongformJob(rel, tuple(spk), tuple(self.by_lang[language]), round(target, 2),
                                           fmt, sr, channels, _seed_of(self.seed, rel)))
                jobs.append((rel, job))
                self.longform_languages[rel] = language

        def finalize() -> None:
            for rel, job in jobs:
                self.longform_speech[rel] = self.results[job]["spans"]
            self.items["longform"] = len(jobs)
            self.seconds["longform"] = sum(self.results[j]["seconds"] for _, j in jobs)

        self.finalizers.append(finalize)

    def plan_speechbrain(self) -> None:
        """SpeechBrain CSV manifests as its recipes' prepare scripts write them (`ID,duration,wav,spk_id,wrd`,
        csv.writer, one file per split), audio paths with SpeechBrain's `$data_root` placeholder; one clip is
        AIFF."""
        rng = self.rng("speechbrain")
        lang = SPEECHBRAIN_LANG
        self.language_codes["speechbrain"] = {"fr": lang}
        deck = self.deck(rng, lang)
        spk = self.speakers(rng, lang, 2, lambda i: f"sb{i + 1:02d}")
        rows: dict[str, list[tuple[str, str, str, str, int]]] = {}  # split -> (id, rel, speaker, text, job)
        n = 2 * self.scale + 1
        for k, split in enumerate(self.split_list(rng, n)):
            sp = spk[k % len(spk)]
            utt = f"{sp.sid}-{k:04d}"
            fmt = "aiff" if k == 0 else "wav"
            rel = f"speechbrain/audio/{sp.sid}/{utt}.{fmt}"
            sentence = deck.next()
            rows.setdefault(split, []).append((utt, rel, sp.sid, sentence, self.clip(rng, rel, sp, sentence, fmt,
                                                                                      16000)))

        def finalize() -> None:
            for split in SPLITS:
                buf = io.StringIO()
                writer = csv.writer(buf, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
                writer.writerow(SPEECHBRAIN_HEADER)
                for utt, rel, speaker, sentence, job in rows.get(split, []):
                    path = "$data_root/" + rel[len("speechbrain/"):]
                    writer.writerow([utt, f"{self.results[job]['seconds']:.3f}", path, speaker, sentence])
                _write_text(self.out / "speechbrain" / f"{split}.csv", buf.getvalue())
            self.items["speechbrain"] = sum(len(v) for v in rows.values())
            self.seconds["speechbrain"] = sum(self.results[j]["seconds"] for v in rows.values() for *_, j in v)

        self.finalizers.append(finalize)

    def plan_community(self) -> None:
        rng = self.rng("community")
        s = self.scale
        self.language_codes["community"] = dict(COMMUNITY_LANGS)
        decks: dict[str, _Deck] = {}
        pools: dict[tuple[str, str], list[Speaker]] = {}
        subs: dict[str, list[dict[str, Any]]] = {}
        day0 = date(2024, 1, 8)
        rates = {"wav": 16000, "flac": 48000, "mp3": 44100}

        def speaker(partner: str, code: str) -> Speaker:
            lang = COMMUNITY_LANGS[code] or "tam_Taml"  # what the `xx-XX` row really speaks
            if (partner, lang) not in pools:
                prefix, first = ("AV-S", 1) if partner == "afrivoice" else ("IVT-", 101)
                first += 10 * len(pools)
                pools[(partner, lang)] = self.speakers(rng, lang, 2, lambda i: f"{prefix}{first + i:04d}")
                if lang not in decks:
                    decks[lang] = self.deck(rng, lang)
            return rng.choice(pools[(partner, lang)])

        plan = (  # partner, submission, language codes of the ordinary rows, audio formats, bad rows
            ("afrivoice", "AV-2024-0007", ["sw-KE", "sw-KE", "en"] * s, ("mp3", "mp3", "wav"),
             [("sw-KE", "textwav"), ("sw-KE", "noconsent")]),
            ("indicvoices-trust", "IVT-2024-031", ["bn-IN", "ta"] * s, ("wav", "flac"),
             [("bn-IN", "multichannel")]),
            ("indicvoices-trust", "IVT-2024-044", ["mr", "ta"] * s, ("flac", "wav", "wav"),
             [("xx-XX", "unknown")]),
        )
        for partner, sub, codes, formats, bad in plan:
            base = f"community/{partner}/{sub}"
            listed = f"{base}/metadata.csv"
            n_empty = 0 if sub == "IVT-2024-031" else max(1, round(0.2 * len(codes)))
            empty = set(rng.sample(range(len(codes)), n_empty))
            rows: list[dict[str, Any]] = []
            for i, (code, what) in enumerate([(c, "ok") for c in codes] + bad):
                sp = speaker(partner, code)
                sentence = decks[sp.language].next()
                fmt = "wav" if what in ("textwav", "multichannel") else rng.choice(formats)
                if what == "multichannel":
                    name = "studio_take_01.wav"
                elif partner == "afrivoice":
                    name = f"rec_{i + 1:04d}.{fmt}"
                else:
                    name = f"{sp.sid.lower()}_{i + 1:03d}.{fmt}"
                rel = f"{base}/{name}"
                row: dict[str, Any] = {
                    "file": name, "language": code, "speaker": sp.sid,
                    "transcript": "" if i in empty else sentence,
                    "consent": "no" if what == "noconsent" else "yes",
                    "consent_id": f"{sub.split('-')[0]}-C{rng.randrange(10**5, 10**6)}",
                    "license": "CC-BY-4.0",
                    "recording_date": (day0 + timedelta(days=rng.randrange(0, 300))).isoformat(),
                    "partner": partner, "job": None}
                if what == "textwav":
                    self.add_bad("community", rel, "a text file (an HTML error page) named .wav", "ingest",
                                 "decode_error", listed)
                elif what == "multichannel":
                    row["job"] = self.job(ClipJob(rel, sp.say(rng, sentence), "wav", 96000,
                                                  _seed_of(self.seed, rel), channels=8, lead=0.4, trail=0.4,
                                                  noise_db=-58.0, level=0.7))
                    self.add_bad("community", rel, "96 kHz 8-channel WAV with speech", None, None, listed,
                                 note="accepted")
                else:
                    row["job"] = self.clip(rng, rel, sp, sentence, fmt, rates[fmt])
                    if what == "noconsent":
                        self.add_bad("community", rel, "community row with consent 'no'", "community",
                                     "no_consent", listed)
                    elif what == "unknown":
                        self.add_bad("community", rel, "community row with unknown language code 'xx-XX'",
                                     "ingest", "unknown_language", listed, actual_language=sp.language)
                rows.append(row)
            subs[base] = rows

        def finalize() -> None:
            seconds = 0.0
            for base, rows in subs.items():
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                w.writerow(COMMUNITY_HEADER)
                for row in rows:
                    w.writerow([row[k] for k in COMMUNITY_HEADER])
                    if row["job"] is None:
                        _write_text(self.out / base / row["file"], _NOT_AUDIO)
                    else:
                        seconds += self.results[row["job"]]["seconds"]
                _write_text(self.out / base / "metadata.csv", buf.getvalue())
            self.items["community"] = sum(len(r) for r in subs.values())
            self.seconds["community"] = seconds

        self.finalizers.append(finalize)

    def plan_omnilingual(self) -> None:
        rng = self.rng("omnilingual")
        n = 2 * self.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
        tables: dict[str, list[tuple[str, str, str, str, int]]] = {}  # rel -> rows
        self.language_codes["omnilingual"] = {lang: lang for lang in OMNILINGUAL_LANGS}
        for lang in OMNILINGUAL_LANGS:
            deck = self.deck(rng, lang)
            spk = self.speakers(rng, lang, min(n, 2 + self.scale // 2),
                                lambda i: f"{rng.getrandbits(48):012x}")
            for split in SPLITS:
                tables[f"omnilingual/data/{lang}/{split}-00000-of-00001.parquet"] = []
            for split in self.split_list(rng, n):
                uid = f"{rng.getrandbits(64):016x}"
                sp, sentence = rng.choice(spk), deck.next()
                job = self.clip(rng, "", sp, sentence, "flac", 16000)
                tables[f"omnilingual/data/{lang}/{split}-00000-of-00001.parquet"].append(
                    (uid, sentence, lang, sp.sid, job))

        def finalize() -> None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            features = {"id": {"dtype": "string", "_type": "Value"},
                        "audio": {"sampling_rate": 16000, "_type": "Audio"},
                        "raw_text": {"dtype": "string", "_type": "Value"},
                        "language": {"dtype": "string", "_type": "Value"},
                        "speaker_id": {"dtype": "string", "_type": "Value"}}
            schema = pa.schema(
                [("id", pa.string()), ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                 ("raw_text", pa.string()), ("language", pa.string()), ("speaker_id", pa.string())],
                metadata={"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True)})
            for rel, rows in tables.items():
                table = pa.table({
                    "id": [r[0] for r in rows],
                    "audio": [{"bytes": self.results[r[4]]["data"], "path": f"{r[0]}.flac"} for r in rows],
                    "raw_text": [r[1] for r in rows], "language": [r[2] for r in rows],
                    "speaker_id": [r[3] for r in rows]}, schema=schema)
                sink = pa.BufferOutputStream()
                pq.write_table(table, sink, compression="snappy")
                _write_bytes(self.out / rel, sink.getvalue().to_pybytes())
            self.items["omnilingual"] = sum(len(r) for r in tables.values())
            self.seconds["omnilingual"] = sum(self.results[r[4]]["seconds"]
                                              for v in tables.values() for r in v)

        self.finalizers.append(finalize)

    # -- run
    def run(self, progress: Callable[[int, int], None] | None) -> None:
        total = len(self.jobs)
        if progress:
            progress(0, total)
        # Longest jobs first keeps both workers busy; results are collected in job order either way.
        order = sorted(range(total), key=lambda i: not isinstance(self.jobs[i], LongformJob | KaldiJob))
        results: dict[int, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="omnicorpus-sample-") as tmp, \
                ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = {i: pool.submit(self.jobs[i].run, self.out, Path(tmp), f"j{i}") for i in order}
            for done, i in enumerate(order, 1):
                results[i] = futures[i].result()
                if progress:
                    progress(done, total)
        self.results = [results[i] for i in range(total)]
        for finalize in self.finalizers:
            finalize()

    def manifest(self) -> dict[str, Any]:
        sources = [{"name": n, "layout": lay, "path": p, "license": lic, "language": lang, "labelled": lab}
                   for n, lay, p, lic, lang, lab in SOURCES]
        return {
            "generator": GENERATOR, "scale": self.scale, "seed": self.seed, "sources": sources,
            "languages": sorted(self.languages),
            "scripts": sorted({script_of(lang) for lang in self.languages}),
            "items": {n: self.items[n] for n, *_ in SOURCES},
            "seconds": {n: round(self.seconds[n], 3) for n, *_ in SOURCES},
            "total_seconds": round(sum(self.seconds.values()), 3),
            "bad_items": [b.as_dict() for b in sorted(self.bad, key=lambda b: (b.source, b.path))],
            "longform_speech": dict(sorted(self.longform_speech.items())),
            "longform_languages": dict(sorted(self.longform_languages.items())),
            "language_codes": self.language_codes,
        }


def _config_yaml(seed: int, scale: int) -> str:
    lines = [f"# Sample corpus written by `omnicorpus sample-corpus` (seed {seed}, scale {scale})",
             "sources:"]
    for name, layout, path, lic, lang, labelled in SOURCES:
        parts = [f"name: {name}", f"layout: {layout}", f"path: {path}", f"license: {lic}"]
        if lang is not None:
            parts.append(f"language: {lang}")
        parts.append(f"labelled: {'true' if labelled else 'false'}")
        lines.append("  - {" + ", ".join(parts) + "}")
    return "\n".join(lines) + "\n"


def check_tools() -> None:
    """Raises RuntimeError naming the first missing external program."""
    hints = {"espeak-ng": "espeak-ng", "lame": "lame", "opusenc": "opus-tools"}
    for prog, pkg in hints.items():
        if shutil.which(prog) is None:
            raise RuntimeError(f"{prog} not found on PATH: the sample corpus needs it "
                               f"(Debian/Ubuntu: apt-get install {pkg})")


def build_sample_corpus(out: Path, scale: int = 1, seed: int = 0,
                        progress: Callable[[int, int], None] | None = None) -> dict:
    """Writes the corpus under `out` and returns the manifest dict (also written to out/MANIFEST.json).

    Idempotent: if `out/MANIFEST.json` already describes a finished build with the same scale and seed,
    it is returned as is.  Otherwise the folders this function owns under `out` are removed and rebuilt
    (anything else in `out` is left alone).  `progress(done, total)` is called from the calling thread
    as synthesis jobs finish.
    """
    out = Path(out)
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    scale, seed = int(scale), int(seed)
    manifest_path = out / "MANIFEST.json"
    if manifest_path.is_file():
        try:
            existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = None
        if (isinstance(existing, dict) and existing.get("generator") == GENERATOR
                and existing.get("scale") == scale and existing.get("seed") == seed):
            return existing
    check_tools()
    sentences = load_udhr_sentences()
    out.mkdir(parents=True, exist_ok=True)
    for name in _OWNED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    b = _Builder(out, scale, seed, sentences)
    b.plan_longform()
    b.plan_kaldi()
    b.plan_cv()
    b.plan_fleurs()
    b.plan_librispeech()
    b.plan_community()
    b.plan_omnilingual()
    b.plan_speechbrain()
    b.run(progress)
    manifest = b.manifest()
    _write_text(out / "omnicorpus.yaml", _config_yaml(seed, scale))
    _write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest
