"""Benchmark contamination: train utterances that an evaluation set (the sample corpus's FLEURS download, its dev
and test splits) holds, by normalized transcript or by audio. `omnicorpus contamination` reports them per
language; `contamination.eval` in the config makes a run drop them from its release, as rejects."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import polars as pl
import pytest
import soundfile as sf

from omnicorpus.manifests.config import ConfigError, ContaminationParams, config_from_dict, load_config
from omnicorpus.manifests.languages import to_language
from omnicorpus.pipelines.normalize import normalize_text
from tests.test_selection import omnicorpus


def fleurs_held_out(sample_corpus: Path) -> pl.DataFrame:
    """The FLEURS download's dev and test rows as its TSVs write them (id, file, raw and normalized transcript,
    ...; no header), with the folder's locale."""
    rows = []
    for tsv in sorted((sample_corpus / "fleurs").glob("*/*.tsv")):
        if tsv.stem in ("dev", "test"):
            for line in tsv.read_text("utf-8").splitlines():
                fields = line.split("\t")
                rows.append({"locale": tsv.parent.name, "split": tsv.stem, "file": fields[1], "raw": fields[2],
                             "path": str(tsv.parent / "audio" / tsv.stem / fields[1])})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def report(pipeline_run, sample_corpus) -> dict:
    release = pipeline_run[1].release
    done = omnicorpus("contamination", str(release.path), "--eval", str(sample_corpus / "fleurs"))
    assert done.returncode == 0, done.stderr
    assert "train utterances of v0001 match one of" in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_report_finds_every_train_utterance_reading_a_held_out_sentence(report, pipeline_run, sample_corpus):
    utterances = pl.DataFrame(pipeline_run[1].release.table("utterances"))
    held = fleurs_held_out(sample_corpus)
    assert report["eval_items"] == held.height
    held_texts = set()
    for r in held.iter_rows(named=True):
        language = to_language(r["locale"], source="fleurs")
        held_texts.add((language, normalize_text(r["raw"], language)))
    train = utterances.filter(pl.col("split") == "train")
    expected = {r["key"] for r in train.iter_rows(named=True)
                if (r["language"], r["text"]) in held_texts and len(r["text"]) >= 15}
    assert expected, "the sample corpus's other corpora read sentences FLEURS holds out"
    print(f"\ncontamination of the sample release by its FLEURS dev/test: {report['either']} of {report['train']} "
          f"train utterances ({report['text']} by transcript, {report['audio']} by audio)")
    assert report["train"] == train.height and report["text"] == len(expected)
    assert {e["key"] for e in report["examples"] if e["match"] == "text"} == expected
    assert sum(c["either"] for c in report["by_language"].values()) == report["either"]


@pytest.fixture(scope="module")
def guarded_run(sample_corpus, spark, tmp_path_factory):
    """A crawl of re-encoded FLEURS test recordings (unlabelled: only their audio can match) and Common Voice,
    run with `contamination.eval` set to the FLEURS download."""
    from omnicorpus.pipelines.service import run_all

    root = tmp_path_factory.mktemp("contamination")
    crawl = root / "crawl"
    crawl.mkdir()
    held = fleurs_held_out(sample_corpus).filter(pl.col("split") == "test").sort("path").head(6)
    made = {}
    for n, row in enumerate(held.iter_rows(named=True)):
        mp3 = crawl / f"clip{n}.mp3"
        subprocess.run(["lame", "--quiet", "-b", "48", row["path"], str(mp3)], check=True)
        made[mp3.name] = row["path"]
    lines = [json.dumps({"audio_filepath": name, "duration": sf.info(crawl / name).duration}) for name in made]
    (crawl / "train_manifest.json").write_text("\n".join(lines) + "\n")
    cfg = load_config(sample_corpus / "omnicorpus.yaml")
    source = dataclasses.replace(next(s for s in cfg.sources if s.name == "speechbrain"), name="crawl",
                                 path=str(crawl), language="en", labelled=False)
    cfg = dataclasses.replace(cfg, output=str(root / "out"),
                              sources=(*(s for s in cfg.sources if s.name == "cv"), source),
                              contamination=ContaminationParams(eval=(str(sample_corpus / "fleurs"),)))
    _, published = run_all(cfg, spark)
    assert published.passed
    return made, published.release


def test_a_run_with_eval_sets_drops_their_copies_as_rejects(guarded_run):
    made, release = guarded_run
    rejects = pl.DataFrame(release.table("rejects")).filter(pl.col("reason") == "contamination")
    utterances = pl.DataFrame(release.table("utterances"))
    crawl = rejects.filter(pl.col("corpus") == "crawl")
    assert sorted(Path(s).name for s in crawl["source_uri"]) == sorted(made)  # every copy, by its audio
    assert crawl["stage"].unique().to_list() == ["contamination"]
    assert crawl["detail"].str.starts_with("audio (similarity").all() and crawl["value"].min() >= 0.12
    assert not utterances.filter(pl.col("corpus") == "crawl").height
    assert set(rejects["key"]).isdisjoint(utterances["key"])
    assert release.info["counts"]["utterances"] == utterances.height > 0


def test_eval_paths_resolve_against_the_config_and_bad_values_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    cfg = config_from_dict({"sources": [{"name": "s", "layout": "folder", "path": "data"}],
                            "contamination": {"eval": ["fleurs"], "splits": ["test"]}}, base_dir=tmp_path)
    assert cfg.contamination.eval == (str(tmp_path / "fleurs"),) and cfg.contamination.splits == ("test",)
    with pytest.raises(ConfigError, match="contamination.splits"):
        config_from_dict({"sources": [{"name": "s", "layout": "folder", "path": "data"}],
                          "contamination": {"eval": ["fleurs"], "splits": ["holdout"]}}, base_dir=tmp_path)


def test_a_release_split_serves_as_the_eval_set(pipeline_run):
    """The release's own dev and test utterances as the eval set: its train utterances reading their sentences
    are reported, and no utterance matches its own audio (dev and test are not train)."""
    release = pipeline_run[1].release
    done = omnicorpus("contamination", str(release.path), "--eval", str(release.path), "--splits", "dev,test")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    utterances = pl.DataFrame(release.table("utterances"))
    held = utterances.filter(pl.col("split") != "train")
    held_texts = set(zip(held["language"], held["text"], strict=True))
    train = utterances.filter(pl.col("split") == "train")
    expected = {k for k, lang, text in zip(train["key"], train["language"], train["text"], strict=True)
                if text and len(text) >= 15 and (lang, text) in held_texts}
    assert report["eval_items"] == held.height and report["text"] == len(expected) > 0
    assert report["fingerprinted"] == train.height  # every train utterance's fingerprint was compared
    assert all(e["eval_item"].startswith(f"{release.id}: ") for e in report["examples"])
