"""Dedup of what changed: a run decides again only the hash groups that gained, lost or changed a segment,
and what it leaves in `accepted` and the dedup rejects is what a dedup of the whole corpus gives.

The sample corpus's Common Voice source holds a clip copied from train into dev (the train copy goes, a
split leak): when the dev copy leaves the source, the train one comes back, and a new source with an exact
copy of a clip already there makes that copy a duplicate; each run decides the groups of what changed only.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from omnicorpus.manifests.layout import table_uri
from omnicorpus.manifests.schema import DEDUPED, REJECTS, SEGMENTS
from omnicorpus.manifests.tables import read_table
from omnicorpus.pipelines.dedup import dedup_segments
from omnicorpus.pipelines.engine import committed_increments
from omnicorpus.pipelines.run import run_pipeline


def _verdicts(out: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(accepted segment ids, (key, reason) of the dedup rejects), as the stage tables hold them."""
    accepted = read_table(table_uri(out, "accepted"), SEGMENTS).column("segment_id").to_pylist()
    rejects = read_table(table_uri(out, "rejects"), REJECTS)
    dedup = rejects.filter(pc.equal(rejects.column("stage"), "dedup"))
    return sorted(accepted), sorted(zip(dedup.column("key").to_pylist(), dedup.column("reason").to_pylist(),
                                        strict=True))


def _whole_corpus_dedup(out: str) -> tuple[list[str], list[tuple[str, str]]]:
    """What the dedup stage gives over every segment at once."""
    segments = read_table(table_uri(out, "segments"), SEGMENTS).combine_chunks()
    result = dedup_segments(segments.to_batches()[0] if segments.num_rows else segments.schema.empty_table())
    return (sorted(result.kept.column("segment_id").to_pylist()),
            sorted(zip(result.rejects.column("key").to_pylist(), result.rejects.column("reason").to_pylist(),
                       strict=True)))


def _last_dedup(out: str) -> dict:
    commits = committed_increments(out, "dedup")
    return commits[max(commits, key=lambda inc: Path(out, "tables", "_commits", f"{inc}.json").stat().st_mtime_ns)]


@pytest.fixture
def small_run(sample_corpus, spark, tmp_path):
    """A run over a copy of the sample corpus's Common Voice source and its LibriSpeech one: (config, run)."""
    from omnicorpus.manifests.config import load_config

    cfg = load_config(sample_corpus / "omnicorpus.yaml")
    cv = tmp_path / "common_voice"
    shutil.copytree(cfg.source("cv").path, cv)
    sources = (dataclasses.replace(cfg.source("cv"), path=str(cv)), cfg.source("librispeech"))
    cfg = dataclasses.replace(cfg, sources=sources, output=str(tmp_path / "out"))
    return cfg, run_pipeline(cfg, spark)


def _of(source_uri_part: str, rows: list[tuple[str, str]], table: str, out: str) -> list[str]:
    """The reasons (rejects) or ids (accepted) of the segments whose source path ends with this part."""
    schema = REJECTS if table == "rejects" else SEGMENTS
    data = read_table(table_uri(out, table), schema).to_pylist()
    ids = {r["key" if table == "rejects" else "segment_id"] for r in data if r["source_uri"].endswith(source_uri_part)}
    return [reason for key, reason in rows if key in ids] if table == "rejects" else sorted(ids)


def test_the_first_run_decides_every_group_as_a_dedup_of_the_whole_corpus(pipeline_run):
    cfg, _ = pipeline_run
    assert _verdicts(cfg.output) == _whole_corpus_dedup(cfg.output)
    decided = read_table(table_uri(cfg.output, "deduped"), DEDUPED)
    assert decided.num_rows == read_table(table_uri(cfg.output, "segments"), SEGMENTS).num_rows


def test_later_runs_decide_only_the_groups_that_changed(small_run, sample_corpus, spark, tmp_path):
    cfg, first = small_run
    out = cfg.output
    segments = read_table(table_uri(out, "segments"), SEGMENTS)
    hashes = len(set(segments.column("pcm_sha256").to_pylist()))
    assert _last_dedup(out)["groups"] == hashes == segments.num_rows - 3  # the first run: all (three copies)
    manifest = json.loads((sample_corpus / "MANIFEST.json").read_text())
    leak = next(b for b in manifest["bad_items"] if b["expect_reason"] == "split_leak")
    train_copy = leak["path"].removeprefix("common_voice/")
    _, rejects = _verdicts(out)
    assert _of(train_copy, rejects, "rejects", out) == ["split_leak"]

    # the dev copy leaves the source: the train copy is accepted again, and only its group is decided
    (Path(cfg.source("cv").path) / leak["duplicate_of"].removeprefix("common_voice/")).unlink()
    report = run_pipeline(cfg, spark)
    assert report.new_release and report.passed
    accepted, rejects = _verdicts(out)
    assert _of(train_copy, rejects, "accepted", out) and not _of(train_copy, rejects, "rejects", out)
    assert (accepted, rejects) == _whole_corpus_dedup(out)
    assert _last_dedup(out)["groups"] == 1

    # a new source holds an exact copy of a clip already there: the copy's groups only
    extra = tmp_path / "extra"
    extra.mkdir()
    original = sorted(Path(cfg.source("librispeech").path).rglob("*.flac"), key=lambda p: p.stat().st_size)[-1]
    shutil.copyfile(original, extra / "copy.flac")
    (extra / "copy.txt").write_text("THE SAME AUDIO UNDER ANOTHER NAME\n")
    source = dataclasses.replace(cfg.source("librispeech"), name="extra", layout="folder", path=str(extra),
                                 language="en")
    grown = dataclasses.replace(cfg, sources=(*cfg.sources, source))
    before = _verdicts(out)
    report = run_pipeline(grown, spark)
    assert report.ingest.new == 1 and report.passed
    accepted, rejects = _verdicts(out)
    assert (accepted, rejects) == _whole_corpus_dedup(out)
    copies = _of("/extra/copy.flac", [], "accepted", out) + [
        k for k in read_table(table_uri(out, "segments"), SEGMENTS).column("segment_id").to_pylist()
        if k.startswith("extra-")]
    new_segments = len(set(copies))
    assert new_segments and len(accepted) == len(before[0]) and len(rejects) == len(before[1]) + new_segments
    assert _last_dedup(out)["groups"] == new_segments

    again = run_pipeline(grown, spark)  # nothing changed: dedup has no work
    assert not again.new_release and again.curate.accepted == 0 and again.curate.dedup_rejects == 0
    del first
