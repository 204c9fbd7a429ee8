"""Speech synthesis for the sample corpus: espeak-ng speakers, what they read for Han sentences, and the
signal helpers that pad, mix, spread and encode what they say."""

from __future__ import annotations

import io
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASE_SR = 22050  # espeak-ng's native rate; everything is mixed at this rate then resampled

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


def espeak(utt: Utt, tmp: Path, tag: str) -> np.ndarray:
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
        x = resample(x, sr, BASE_SR)
    loud = np.flatnonzero(np.abs(x) > 0.004)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {utt}")
    margin = int(0.01 * BASE_SR)
    return x[max(0, loud[0] - margin): loud[-1] + margin + 1]


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    import soxr

    return np.asarray(soxr.resample(x, sr_in, sr_out, quality="HQ"), dtype=np.float64)


def normalize(x: np.ndarray, level: float) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    return x * (level / peak)


def white(rng: np.random.Generator, n: int, db: float) -> np.ndarray:
    return rng.standard_normal(n) * (10 ** (db / 20))


def pink(rng: np.random.Generator, n: int, db: float) -> np.ndarray:
    """1/f noise with RMS at `db` dBFS (a room / street background)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    rms = float(np.sqrt(np.mean(y * y))) or 1.0
    return y * (10 ** (db / 20) / rms)


def music(rng: np.random.Generator, seconds: float, level: float) -> np.ndarray:
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
    return normalize(out * fade, level)


def spread(x: np.ndarray, channels: int, rng: np.random.Generator, noisy: bool) -> np.ndarray:
    """Mono -> `channels` channels (different gains, small delays, independent low noise)."""
    if channels == 1:
        return x
    cols = [x]
    for _ in range(channels - 1):
        delay = int(rng.integers(0, 24))
        gain = rng.uniform(0.45, 0.95)
        ch = np.concatenate([np.zeros(delay), x[: len(x) - delay]]) * gain
        if noisy:
            ch = ch + white(rng, len(x), -62.0)
        cols.append(ch)
    return np.stack(cols, axis=1)


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def encode(pcm: np.ndarray, sr: int, fmt: str, tmp: Path, tag: str, serial: int) -> bytes:
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
