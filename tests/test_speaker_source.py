"""A public corpus's own speaker ids (`speaker_source`) are kept where its licence allows, so a release's speakers
join back to the corpus's SPEAKERS.TXT; community speakers stay pseudonymised. Read as a user reads a release:
its utterances.parquet and its shards' JSON."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import polars as pl
import pytest

from omnicorpus.corpus.registry import list_source
from omnicorpus.manifests.config import ConfigError, IngestParams, SourceConfig, config_from_dict
from omnicorpus.manifests.licences import is_open_licence, keeps_speaker_ids
from omnicorpus.pipelines.sources import VERSION_COLUMNS, item_versions
from tests.test_librispeech import librispeech


@pytest.fixture(scope="module")
def utterances(pipeline_run) -> pl.DataFrame:
    return pl.DataFrame(pipeline_run[1].release.table("utterances"))


def speakers_txt(path: Path) -> set[str]:
    """The reader ids of a LibriSpeech SPEAKERS.TXT, as LibriSpeech writes it (`ID | SEX | SUBSET | ...`)."""
    return {line.split("|")[0].strip() for line in path.read_text().splitlines() if line and not line.startswith(";")}


def test_librispeech_readers_join_back_to_speakers_txt(utterances, sample_corpus):
    ls = utterances.filter(pl.col("corpus") == "librispeech")
    assert ls.height and ls["speaker_source"].null_count() == 0
    assert set(ls["speaker_source"]) <= speakers_txt(sample_corpus / "librispeech" / "SPEAKERS.TXT")
    # the reader id is the first part of each utterance's file name (`<reader>-<chapter>-<utt>.flac`)
    assert all(Path(src).name.split("-")[0] == spk for src, spk in zip(ls["source"], ls["speaker_source"],
                                                                       strict=True))
    # one pseudonym per reader and one reader per pseudonym
    pairs = ls.select("speaker", "speaker_source").unique()
    assert pairs["speaker"].n_unique() == pairs["speaker_source"].n_unique() == pairs.height
    assert not set(ls["speaker"]) & set(ls["speaker_source"])


def test_community_speakers_stay_pseudonymised(utterances, sample_corpus):
    community = utterances.filter(pl.col("corpus") == "community")
    assert community.height and community["speaker"].null_count() == 0
    assert community["speaker_source"].null_count() == community.height
    given = {line.split(",")[2] for f in (sample_corpus / "community").rglob("*.csv")
             for line in f.read_text().splitlines()[1:] if line.count(",") >= 2}
    assert given and not given & set(utterances["speaker"].drop_nulls())


def test_shard_json_carries_the_same_speaker_source(pipeline_run, utterances):
    release = pipeline_run[1].release
    ls = utterances.filter(pl.col("corpus") == "librispeech")
    expected = dict(zip(ls["key"], ls["speaker_source"], strict=True))
    seen = {}
    for shard in sorted(set(ls["shard"])):
        with tarfile.open(release.path / shard) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    sample = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    seen[sample["key"]] = sample["speaker_source"]
    assert seen == expected
    other = utterances.filter(pl.col("speaker_source").is_null()).row(0, named=True)
    with tarfile.open(release.path / other["shard"]) as tar:
        sample = json.loads(tar.extractfile(f"{other['key']}.json").read())  # type: ignore[union-attr]
    assert sample["speaker_source"] == ""  # one type per key across a release, as for speaker


@pytest.mark.parametrize(("licence", "policy", "kept"), [
    ("CC-BY-4.0", "auto", True), ("cc-by-nc-sa-4.0", "auto", True), ("CC0-1.0", "auto", True),
    ("unknown", "auto", False), ("proprietary", "auto", False),
    ("unknown", "keep", True), ("CC-BY-4.0", "pseudonymise", False),
])
def test_a_sources_licence_and_policy_decide(tmp_path, licence, policy, kept):
    root = librispeech(tmp_path / "LibriSpeech")
    table, _ = list_source(SourceConfig(name="ls", layout="librispeech", path=str(root), license=licence,
                                        speaker_ids=policy))
    rows = table.to_pylist()
    assert rows and all(r["speaker_raw"] for r in rows)
    assert [r["speaker_source"] for r in rows] == [r["speaker_raw"] if kept else None for r in rows]


def test_community_never_keeps_and_bad_policies_are_config_errors(tmp_path):
    assert not keeps_speaker_ids("auto", "community", "CC-BY-4.0")
    assert is_open_licence("CC-BY-SA-4.0") and not is_open_licence(None) and not is_open_licence("")
    for source, words in (({"layout": "community", "speaker_ids": "keep"}, "always pseudonymised"),
                          ({"layout": "librispeech", "speaker_ids": "hash"}, "is not one of")):
        with pytest.raises(ConfigError, match=words):
            config_from_dict({"sources": [{"name": "s", "path": str(tmp_path), **source}],
                              "output": str(tmp_path / "out")})


def test_an_item_without_a_kept_id_keeps_its_earlier_version(tmp_path):
    """Items ingested before speaker_source existed are not ingested again for it: their version digests the
    row as it was (json.dumps of the listing row, sort_keys, without the new column while it is null)."""
    root = librispeech(tmp_path / "LibriSpeech")
    params = IngestParams()
    for licence in ("unknown", "CC-BY-4.0"):
        table, _ = list_source(SourceConfig(name="ls", layout="librispeech", path=str(root), license=licence))
        shaping = json.dumps({"max_recording_seconds": params.max_recording_seconds,
                              "speaker_salt": params.speaker_salt}, sort_keys=True)
        for row, version in zip(table.to_pylist(), item_versions(table, params).to_pylist(), strict=True):
            fields = {c: row[c] for c in VERSION_COLUMNS if c != "speaker_source" or row[c] is not None}
            text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
            assert version == hashlib.sha256(f"{shaping}\0{text}".encode()).hexdigest()[:16]
