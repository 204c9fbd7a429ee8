"""A release at the paper's scale without audio, to measure what reads manifests: `omnicorpus simulate`.

    omnicorpus simulate --hours 4300000 --languages 1600 --corpora 40 OUT   ->  OUT/releases/v0001/

Hours per language follow a Zipf-Mandelbrot head with an exponential tail, h(r) ~ (r + 2)^-1.3 exp(-r / (n/8))
for the language ranked r of n: at the paper's size a few languages hold over 100k hours each and hundreds
under one. Each language is spread over 1 + log10(1 + hours) corpora (the large ones in many) with
Dirichlet shares, corpora drawn with Zipf weights so corpus sizes are long-tailed too; partitions of at least
`held_out_min_hours` give `held_out_share` of their hours to each of dev and test. A partition's audio is cut
into shards of `shard_bytes` at `flac_bytes_per_second` (16 kHz mono FLAC at about 60 % of 16-bit PCM),
each of num_samples = seconds / `mean_seconds` utterances.

The shards manifest and the summary are written whole (about 300k shards at the paper's size). The
utterances (about a billion there) are written for the shards the quality gate samples at that size
(`quality.scale.utterance_sample`), so the gate and the report read the same sample they would read from
a real release; a simulation of at most `quality.scale.WHOLE_UTTERANCES` utterances has them all.
release.json's `simulated` block says which and holds the parameters. Same parameters, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from omnicorpus.manifests.languages import default_scripts
from omnicorpus.manifests.release import Release, build_release
from omnicorpus.manifests.schema import QUALITY_COLUMNS, REJECTS, SUMMARY, UTTERANCES
from omnicorpus.quality.scale import WHOLE_UTTERANCES, utterance_sample

#: The largest languages first (so the head of the long tail carries familiar codes), then the rest.
_HEAD = ("eng_Latn", "cmn_Hans", "spa_Latn", "fra_Latn", "deu_Latn", "rus_Cyrl", "hin_Deva", "arb_Arab",
         "por_Latn", "jpn_Jpan", "ita_Latn", "kor_Hang", "tur_Latn", "ben_Beng", "vie_Latn", "pol_Latn",
         "nld_Latn", "ind_Latn", "urd_Arab", "swh_Latn")
#: Transcripts of the simulated utterances: eight three-letter words each (a speaking rate well inside the
#: filter's bound for any duration the simulation draws).
_SENTENCES = tuple(" ".join(chr(97 + (i * 7 + j * 5) % 26) * 3 for j in range(8)) for i in range(512))
#: Tar overhead per sample (a 512-byte header and padding for each of .flac and .json, the JSON itself).
_TAR_BYTES_PER_SAMPLE = 2048


@dataclass(frozen=True)
class Simulation:
    hours: float = 4_300_000.0
    languages: int = 1600
    corpora: int = 40
    seed: int = 0
    shard_bytes: int = 1 << 30
    flac_bytes_per_second: float = 19_200.0
    mean_seconds: float = 12.0
    held_out_min_hours: float = 10.0
    held_out_share: float = 0.01

    def __post_init__(self) -> None:
        if self.hours <= 0 or self.languages < 1 or self.corpora < 1:
            raise ValueError("hours, languages and corpora must be positive")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def language_codes(n: int) -> list[str]:
    """n valid language codes: the head list, those with a listed default script, then living languages."""
    codes = list(_HEAD)
    seen = {c.split("_")[0] for c in codes}
    scripts = default_scripts()
    for lang in sorted(scripts):
        if lang not in seen:
            codes.append(f"{lang}_{scripts[lang]}")
            seen.add(lang)
    for entry in sorted(pycountry.languages, key=lambda e: e.alpha_3):
        if len(codes) >= n:
            break
        if getattr(entry, "type", "") == "L" and getattr(entry, "scope", "") == "I" and entry.alpha_3 not in seen:
            codes.append(f"{entry.alpha_3}_Latn")
            seen.add(entry.alpha_3)
    if len(codes) < n:
        raise ValueError(f"only {len(codes)} language codes to simulate with")
    return codes[:n]


def language_hours(sim: Simulation) -> np.ndarray:
    """Hours of each language, largest first, summing to sim.hours."""
    rank = np.arange(1, sim.languages + 1, dtype=np.float64)
    weight = (rank + 2.0) ** -1.3 * np.exp(-rank / max(sim.languages / 8.0, 1.0))
    return sim.hours * weight / weight.sum()


def partitions(sim: Simulation) -> list[tuple[str, str, str, float]]:
    """(language, corpus, split, seconds) of every partition, in a stable order."""
    rng = np.random.default_rng(sim.seed)
    corpora = [f"corpus{i:02d}" for i in range(sim.corpora)]
    corpus_weight = 1.0 / np.arange(1, sim.corpora + 1)
    corpus_weight /= corpus_weight.sum()
    out = []
    for code, hours in zip(language_codes(sim.languages), language_hours(sim), strict=True):
        k = min(sim.corpora, 1 + int(math.log10(1.0 + hours)))
        chosen = np.sort(rng.choice(sim.corpora, size=k, replace=False, p=corpus_weight))
        shares = rng.dirichlet(np.ones(k))
        for c, share in zip(chosen, shares, strict=True):
            part = hours * float(share)
            held = sim.held_out_share * part if part >= sim.held_out_min_hours else 0.0
            for split, h in (("train", part - 2 * held), ("dev", held), ("test", held)):
                if h > 0:
                    out.append((code, corpora[int(c)], split, h * 3600.0))
    return out


def shard_rows(sim: Simulation) -> pa.Table:
    """The shards manifest (paths relative to the output root), before utterances are made for the sample."""
    per_shard = sim.shard_bytes / sim.flac_bytes_per_second  # seconds of audio in a full shard
    cols: dict[str, list] = {name: [] for name in ("path", "language", "corpus", "split", "num_samples", "seconds")}
    for language, corpus, split, seconds in partitions(sim):
        n = max(1, math.ceil(seconds / per_shard))
        each = seconds / n
        stem = hashlib.sha256(f"{sim.digest()}/{language}/{corpus}/{split}".encode()).hexdigest()[:16]
        for i in range(n):
            cols["path"].append(f"shards/{language}/{corpus}/{split}/{stem}-{i:06d}.tar")
            cols["language"].append(language)
            cols["corpus"].append(corpus)
            cols["split"].append(split)
            cols["num_samples"].append(max(1, round(each / sim.mean_seconds)))
            cols["seconds"].append(each)
    sha = [hashlib.sha256(p.encode()).hexdigest() for p in cols["path"]]
    return pa.table({**cols, "sha256": sha})


def _utterances_of(sim: Simulation, shard: dict, rng: np.random.Generator) -> dict[str, list]:
    """num_samples utterances of one shard: log-normal durations (1-30 s) whose sum is the shard's seconds."""
    n = int(shard["num_samples"])
    raw = np.clip(rng.lognormal(math.log(sim.mean_seconds) - 0.125, 0.5, n), 1.0, 30.0)
    seconds = np.round(raw * shard["seconds"] / raw.sum(), 3)
    stem = shard["path"].rsplit("/", 1)[1].removesuffix(".tar")
    text = [_SENTENCES[i] for i in rng.integers(0, len(_SENTENCES), n)]
    speakers = max(1, n // 40)
    return {
        "key": [f"{stem}-{i:06d}" for i in range(n)],
        "shard": [shard["path"]] * n,
        "language": [shard["language"]] * n,
        "corpus": [shard["corpus"]] * n,
        "split": [shard["split"]] * n,
        "seconds": seconds.tolist(),
        "text": text,
        "raw_text": text,
        "speaker": [f"{stem}-spk{s}" for s in rng.integers(0, speakers, n)],
        "source": [f"simulated://{stem}/{i:06d}.flac" for i in range(n)],
        "start": [0.0] * n,
        "end": seconds.tolist(),
        "lid_language": [shard["language"]] * n,
        "lid_prob": rng.uniform(0.8, 1.0, n).astype(np.float32).tolist(),
    }


def simulate(out_root: str, sim: Simulation) -> tuple[Release, bool]:
    """Write the simulated release under `out_root`; (release, whether it is new)."""
    shards = shard_rows(sim)
    paths = shards.column("path").to_pylist()
    sample = utterance_sample(paths, shards.column("sha256").to_pylist()) \
        if pc.sum(shards.column("num_samples")).as_py() > WHOLE_UTTERANCES else frozenset(paths)
    rng = np.random.default_rng([sim.seed, 1])
    # the columns `_utterances_of` makes; the others (partner, speaker_source, license, the quality signals:
    # nothing was measured) are null
    unmade = {"partner", "speaker_source", "license", *QUALITY_COLUMNS}
    utts: dict[str, list] = {name: [] for name in UTTERANCES.names if name not in unmade}
    num_samples = shards.column("num_samples").to_pylist()
    seconds = shards.column("seconds").to_pylist()
    for i, row in enumerate(shards.select(["path", "language", "corpus", "split", "num_samples", "seconds"])
                            .to_pylist()):
        if row["path"] not in sample:
            continue
        made = _utterances_of(sim, row, rng)
        for name, values in made.items():
            utts[name].extend(values)
        seconds[i] = float(np.sum(np.asarray(made["seconds"], dtype=np.float64)))
        num_samples[i] = len(made["key"])
    shards = shards.set_column(shards.schema.get_field_index("seconds"), "seconds", pa.array(seconds, pa.float64()))
    shards = shards.set_column(shards.schema.get_field_index("num_samples"), "num_samples",
                               pa.array(num_samples, pa.int64()))
    sizes = np.round(np.asarray(seconds) * sim.flac_bytes_per_second).astype(np.int64) \
        + np.asarray(num_samples, dtype=np.int64) * _TAR_BYTES_PER_SAMPLE + 1024
    shards = shards.append_column("bytes", pa.array(sizes, pa.int64()))
    utterances = pa.table(utts)
    summary = _summary(shards)
    release, is_new = build_release(
        out_root, shards, utterances, REJECTS.empty_table(), config_hash=f"simulated-{sim.digest()}",
        summary=summary,
        extra={"simulated": {**asdict(sim), "utterance_rows": utterances.num_rows,
                             "utterances_of_shards": len(sample),
                             "note": "manifests only, no audio: utterances are written for the quality gate's "
                                     "sample of shards"}})
    return release, is_new


def _summary(shards: pa.Table) -> pa.Table:
    """Hours, utterances, shards per (language, corpus, split), from the shards; speakers as one per 40
    utterances (a shard's sampled utterances draw from as many)."""
    keys = ["language", "corpus", "split"]
    grouped = shards.group_by(keys).aggregate([("seconds", "sum"), ("num_samples", "sum"), ("path", "count")])
    utterances = grouped.column("num_samples_sum")
    speakers = pa.array(np.maximum(1, np.asarray(utterances.to_numpy()) // 40), pa.int64())
    hours = pa.array(np.asarray(grouped.column("seconds_sum").to_numpy()) / 3600.0, pa.float64())
    return pa.table({"language": grouped.column("language"), "corpus": grouped.column("corpus"),
                     "split": grouped.column("split"), "hours": hours, "utterances": utterances,
                     "shards": grouped.column("path_count"), "speakers": speakers}).cast(SUMMARY)


__all__ = ["Simulation", "language_codes", "language_hours", "partitions", "simulate"]
