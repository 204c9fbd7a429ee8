"""Near-duplicate audio across corpora: a crawl holding copies of FLEURS recordings that sox re-encoded (MP3
at 32 kbit/s, Opus at 16 kbit/s), resampled (through 8 kHz), gain-changed, trimmed (by up to a second) and
padded is run with the corpora it copies. Every copy is caught by its fingerprint and dealt with as an exact
copy would be (the held-out one stays), pair by pair with its similarity; different voices reading the same
sentence (the sample corpus's FLEURS, LibriSpeech, SpeechBrain and Common Voice share sentences) are not."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from omnicorpus.manifests.config import load_config
from omnicorpus.manifests.schema import NEAR_DUPLICATES
from omnicorpus.pipelines.fingerprint import signature, similarity
from omnicorpus.pipelines.near_duplicates import group_labels

#: How a crawl re-publishes a recording: (name, file suffix, the command making the copy from a WAV).
COPIES = {
    "mp3": (".mp3", lambda src, dst: ["lame", "--quiet", "-b", "32", src, dst]),
    "opus": (".opus", lambda src, dst: ["opusenc", "--quiet", "--bitrate", "16", src, dst]),
    "8khz": (".wav", lambda src, dst: ["sox", "-q", src, "-r", "8000", dst]),
    "gain": (".wav", lambda src, dst: ["sox", "-q", src, dst, "gain", "-9"]),
    "trim": (".wav", lambda src, dst: ["sox", "-q", src, dst, "trim", "0.37"]),
    "trim1s": (".flac", lambda src, dst: ["sox", "-q", src, dst, "trim", "0.2", "-0.8"]),
    "pad": (".wav", lambda src, dst: ["sox", "-q", src, dst, "pad", "0.7", "0.5"]),
}
ORIGINALS = 8
SOURCES = ("fleurs", "librispeech", "speechbrain", "cv")


def crawl_of(originals: list[dict], root: Path) -> dict[str, str]:
    """A crawl folder (a NeMo manifest, as NeMo's scripts write it) of every copy of each original; returns
    copy file name -> the original's source path."""
    audio = root / "audio"
    audio.mkdir(parents=True)
    lines, made = [], {}
    for n, u in enumerate(originals):
        wav = root / f"original-{n}.wav"
        subprocess.run(["sox", "-q", u["source"], "-b", "16", str(wav)], check=True)
        for kind, (suffix, command) in COPIES.items():
            copy = audio / f"item{n:02d}-{kind}{suffix}"
            subprocess.run(command(str(wav), str(copy)), check=True)
            made[copy.name] = u["source"]
            lines.append(json.dumps({"audio_filepath": f"audio/{copy.name}", "duration": sf.info(copy).duration,
                                     "text": u["raw_text"], "lang": u["language"]}, ensure_ascii=False))
        wav.unlink()
    (root / "train_manifest.json").write_text("\n".join(lines) + "\n")
    return made


@pytest.fixture(scope="module")
def near_run(sample_corpus, pipeline_run, spark, tmp_path_factory):
    """The sample corpus's FLEURS, LibriSpeech, SpeechBrain and Common Voice with a crawl of copies of eight
    FLEURS recordings (of each split), run as `omnicorpus run` does it."""
    from omnicorpus.pipelines.service import run_all

    fleurs = pl.DataFrame(pipeline_run[1].release.table("utterances")).filter(pl.col("corpus") == "fleurs")
    originals = (fleurs.sort("key").group_by("split", maintain_order=True).head(ORIGINALS // 3 + 1)
                 .head(ORIGINALS).to_dicts())
    root = tmp_path_factory.mktemp("near")
    made = crawl_of(originals, root / "crawl")
    cfg = load_config(sample_corpus / "omnicorpus.yaml")
    crawl = dataclasses.replace(next(s for s in cfg.sources if s.name == "speechbrain"), name="crawl",
                                path=str(root / "crawl"), language=None)
    cfg = dataclasses.replace(cfg, output=str(root / "out"),
                              sources=[*(s for s in cfg.sources if s.name in SOURCES), crawl])
    _, published = run_all(cfg, spark)
    assert published.passed
    release = published.release
    utterances = pl.DataFrame(release.table("utterances"))
    rejects = pl.DataFrame(release.table("rejects"))
    pairs = pl.read_parquet(Path(cfg.output) / "tables" / "near_duplicates")
    return made, originals, utterances, rejects, pairs


def test_every_copy_is_caught_and_the_held_out_one_stays(near_run):
    made, originals, utterances, rejects, _ = near_run
    dedup = rejects.filter(pl.col("stage") == "dedup")
    released = set(utterances["source"])
    caught = 0
    for original in originals:
        copies = [name for name, source in made.items() if source == original["source"]]
        group = {original["source"], *(s for s in released | set(dedup["source_uri"])
                                       if Path(s).name in copies)}
        assert len(group & released) == 1, (original["source"], group & released)  # one of the group stays
        if original["split"] != "train":
            assert original["source"] in released  # the held-out copy
        for row in dedup.filter(pl.col("source_uri").is_in(list(group))).iter_rows(named=True):
            assert row["reason"] in ("near_duplicate", "split_leak", "transcript_conflict"), row
            assert row["detail"].startswith("near-duplicate audio of") or row["reason"] != "near_duplicate"
            caught += 1
    recall = caught / len(made)
    print(f"\nnear-duplicate recall: {caught} of {len(made)} copies ({recall:.0%})")
    assert caught == len(made)


def test_different_voices_reading_the_same_sentence_are_not_duplicates(near_run):
    made, _, utterances, rejects, pairs = near_run
    def origin(source: str) -> str:  # a copy's original, an original itself
        return made.get(Path(source).name, source)

    found = pairs.to_dicts()
    false = [p for p in found if origin(p["source_uri"]) != origin(p["other_source_uri"])]
    true = len(found) - len(false)
    print(f"near-duplicate pairs: {len(found)}, of which {true} are copies of one recording "
          f"(precision {true / len(found):.0%})")
    assert not false, false
    same_text = (utterances.filter(pl.col("corpus") != "crawl").group_by("text")
                 .agg(pl.col("corpus").n_unique().alias("corpora")).filter(pl.col("corpora") > 1))
    assert same_text.height >= 4  # the sentences that several voices read are all still there
    assert not rejects.filter(pl.col("reason") == "near_duplicate")["detail"].str.contains("librispeech").any()


def test_pairs_carry_their_similarity_and_group(near_run):
    _, _, _, _, pairs = near_run
    assert pairs.columns == NEAR_DUPLICATES.names
    assert pairs["similarity"].min() >= 0.12 and pairs["similarity"].max() <= 1.0
    labels = group_labels(zip(pairs["pcm_sha256"], pairs["other_pcm_sha256"], strict=True))
    assert dict(zip(pairs["pcm_sha256"], pairs["dup_group"], strict=True)) == {
        h: labels[h] for h in pairs["pcm_sha256"]}


def test_a_copy_and_another_voice_score_apart(sample_corpus, tmp_path):
    wav = next((sample_corpus / "fleurs" / "en_us" / "audio").rglob("*.wav"))
    samples, _ = sf.read(wav, dtype="float32")
    copy = tmp_path / "copy.mp3"
    subprocess.run(["lame", "--quiet", "-b", "32", str(wav), str(copy)], check=True)
    decoded = subprocess.run(["sox", "-q", str(copy), "-t", "raw", "-r", "16000", "-e", "float", "-b", "32", "-c",
                              "1", "-"], check=True, capture_output=True).stdout
    a, b = signature(samples), signature(np.frombuffer(decoded, np.float32))
    assert a is not None and b is not None and similarity(a, b) > 0.15
    other = next(p for p in (sample_corpus / "fleurs" / "fr_fr" / "audio").rglob("*.wav"))
    c = signature(sf.read(other, dtype="float32")[0])
    assert c is not None and similarity(a, c) < 0.1
