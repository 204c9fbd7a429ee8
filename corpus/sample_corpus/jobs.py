"""The synthesis jobs of the sample corpus, and the file writing and seeding they share with the layouts.

Jobs are pure functions of their fields, so running them in a pool keeps the output deterministic.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnicorpus.corpus.sample_corpus.speech import (
    BASE_SR,
    Speaker,
    Utt,
    encode,
    espeak,
    music,
    normalize,
    pcm16,
    pink,
    resample,
    spread,
    white,
)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def seed_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


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
        x = normalize(espeak(self.utt, tmp, tag), self.level)
        x = np.concatenate([np.zeros(int(self.lead * BASE_SR)), x, np.zeros(int(self.trail * BASE_SR))])
        if self.noise_db is not None:
            x = x + white(rng, len(x), self.noise_db)
        y = resample(spread(x, self.channels, rng, self.noise_db is not None), BASE_SR, self.sr)
        pcm = pcm16(y)
        data = encode(pcm, self.sr, self.fmt, tmp, tag, self.seed % 2**31)
        result: dict[str, Any] = {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr}
        if self.truncate is not None:
            result["full_bytes"] = len(data)
            data = data[: int(len(data) * self.truncate)]
        if self.rel:
            write_bytes(out / self.rel, data)
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
            x = normalize(espeak(utt, tmp, f"{tag}-{k}"), rng.uniform(0.4, 0.85))
            spans.append((t / BASE_SR, (t + len(x)) / BASE_SR))
            pause = np.zeros(int(rng.uniform(0.5, 1.6) * BASE_SR))
            pieces += [x, pause]
            t += len(x) + len(pause)
        x = np.concatenate(pieces)
        x = x + pink(rng, len(x), rng.uniform(-52, -44))
        pcm = pcm16(resample(spread(x, 2, rng, True), BASE_SR, self.sr))
        write_bytes(out / self.rel, encode(pcm, self.sr, "wav", tmp, tag, 0))
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
                x = music(rng, pick.uniform(3.0, 8.0), pick.uniform(0.15, 0.35))
                pieces.append(x)
                t += len(x)
            else:
                speaker = self.speakers[pick.randrange(len(self.speakers))]
                utt = speaker.say(pick, self.sentences[pick.randrange(len(self.sentences))])
                x = normalize(espeak(utt, tmp, f"{tag}-{n}"), pick.uniform(0.35, 0.85))
                n += 1
                spans.append([round(t / BASE_SR, 3), round((t + len(x)) / BASE_SR, 3)])
                pieces.append(x)
                t += len(x)
            gap = pick.uniform(0.3, 1.2) if pick.random() < 0.7 else pick.uniform(1.2, 4.0)
            pieces.append(np.zeros(int(gap * BASE_SR)))
            t += len(pieces[-1])
        x = np.concatenate(pieces)
        x = x + pink(rng, len(x), rng.uniform(-50, -40))
        if pick.random() < 0.5:  # mains hum
            hum = pick.choice([50.0, 60.0])
            x = x + 10 ** (-54 / 20) * np.sin(2 * np.pi * hum * np.arange(len(x)) / BASE_SR)
        pcm = pcm16(resample(spread(x, self.channels, rng, True), BASE_SR, self.sr))
        write_bytes(out / self.rel, encode(pcm, self.sr, self.fmt, tmp, tag, self.seed % 2**31))
        return {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr, "spans": spans}


@dataclass(frozen=True)
class SilenceJob:
    rel: str
    seconds: float
    sr: int
    fmt: str

    def run(self, out: Path, tmp: Path, tag: str) -> dict[str, Any]:
        pcm = np.zeros(int(self.seconds * self.sr), dtype=np.int16)
        write_bytes(out / self.rel, encode(pcm, self.sr, self.fmt, tmp, tag, 0))
        return {"frames": len(pcm), "sr": self.sr, "seconds": len(pcm) / self.sr}


Job = ClipJob | KaldiJob | LongformJob | SilenceJob
