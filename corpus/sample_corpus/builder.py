"""The plan of a sample corpus build: the builder to which each layout's writer adds its synthesis jobs, its
finalizer and its documented bad items, and the pool that runs the jobs."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnicorpus.corpus.sample_corpus.jobs import ClipJob, Job, KaldiJob, LongformJob, seed_of
from omnicorpus.corpus.sample_corpus.speech import FEMALE_VARIANTS, MALE_VARIANTS, Speaker
from omnicorpus.corpus.sample_corpus.text import Deck, Sentence

WORKERS = 2
SPLITS = ("train", "dev", "test")


@dataclass
class BadItem:
    """One documented bad item, as MANIFEST.json's ``bad_items`` lists it (``extra``: the optional keys)."""

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


class Builder:
    """What the layouts' writers plan: synthesis jobs, finalizers that write listings from the jobs'
    results, bad items and the manifest's counts."""

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
        self.bad: list[BadItem] = []
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

    def deck(self, rng: random.Random, lang: str) -> Deck:
        self.languages.add(lang)
        return Deck(rng, self.by_lang[lang])

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
        seed = seed_of(self.seed, "clip", len(self.jobs), rel)
        return self.job(ClipJob(rel, speaker.say(rng, sentence), fmt, sr, seed,
                                lead=lead, trail=trail, noise_db=noise, level=rng.uniform(0.3, 0.9), **kw))

    def split_list(self, rng: random.Random, n: int) -> list[str]:
        n_dev = max(1, round(n * 0.1))
        n_test = max(1, round(n * 0.1))
        splits = ["train"] * (n - n_dev - n_test) + ["dev"] * n_dev + ["test"] * n_test
        rng.shuffle(splits)
        return splits

    def add_bad(self, source: str, path: str, what: str, stage: str | None, reason: str | None,
                listed_in: str, **extra: Any) -> BadItem:
        self.bad.append(BadItem(source, path, what, stage, reason, listed_in, extra))
        return self.bad[-1]

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
