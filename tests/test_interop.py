"""Interoperability: a release and its Omnilingual ASR export, as users of other tools see them.

Real libraries, no mocks: webdataset reads the shards, polars, duckdb and pandas read the manifests, and
pyarrow, polars and duckdb read the export the way Omnilingual ASR's own tooling does (Hive partitioning).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import webdataset as wds

from omnicorpus.manifests.export import export_omnilingual

RATE = 16_000
SIX_COLUMNS = {"text", "audio_bytes", "audio_size", "corpus", "split", "language"}
PART = re.compile(r"version=1/corpus=[^/=]+/split=(train|dev|test)/language=[a-z]{3}_[A-Z][a-z]{3}/part-\d{5}\.parquet")


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def exported(release, tmp_path_factory):
    """The fixture's release exported once: (output folder, what export_omnilingual returned)."""
    out = tmp_path_factory.mktemp("omnilingual")
    return out, export_omnilingual(release, out)


def _manifest(release, name: str) -> str:
    return str(release.path / f"{name}.parquet")


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _labelled(release) -> pl.DataFrame:
    """The utterances the export holds, in the release's order."""
    utts = pl.from_arrow(release.table("utterances"))
    return utts.filter(pl.col("text").is_not_null() & pl.col("language").is_not_null()).sort("shard", "key")


def _shard_audio(release) -> dict[str, bytes]:
    """key -> the FLAC bytes of its sample, read straight from the release's tars."""
    audio = {}
    for shard in release.table("shards").column("path").to_pylist():
        with tarfile.open(release.path / shard) as tar:
            for member in tar:
                if member.name.endswith(".flac"):
                    audio[member.name[: -len(".flac")]] = tar.extractfile(member).read()
    return audio


def _hours(rows, keys=("corpus", "language")) -> dict[tuple, float]:
    return {tuple(r[k] for k in keys): r["hours"] for r in rows}


# --- the release's shards, read with plain webdataset ---------------------------------------------------------------

def test_shards_read_with_plain_webdataset(release):
    urls = [str((release.path / p).resolve()) for p in release.table("shards").column("path").to_pylist()]
    utterances = {u["key"]: u for u in release.table("utterances").to_pylist()}
    seen = Counter()
    for sample in wds.WebDataset(urls, shardshuffle=False):
        key = sample["__key__"]
        seen[key] += 1
        utt = utterances[key]
        audio, rate = sf.read(io.BytesIO(sample["flac"]), dtype="int16")
        assert rate == RATE and audio.ndim == 1, key
        assert abs(len(audio) - utt["seconds"] * RATE) <= 1, key
        meta = json.loads(sample["json"])
        assert meta["text"] == (utt["text"] or "") and meta["key"] == key  # "" for unlabelled audio
    assert set(seen) == set(utterances), "every utterance is a sample, and nothing else is"
    assert max(seen.values()) == 1, "each key exactly once"


# --- the manifests, read with polars, duckdb and pandas -------------------------------------------------------------

def test_manifests_read_the_same_in_polars_duckdb_and_pandas(release):
    for name in ("shards", "utterances", "summary", "rejects"):
        path = _manifest(release, name)
        counts = {
            "polars": pl.read_parquet(path).height,
            "duckdb": duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0],
            "pandas": len(pd.read_parquet(path)),
        }
        assert len(set(counts.values())) == 1 and counts["polars"] == release.table(name).num_rows, (name, counts)

    path = _manifest(release, "utterances")
    by_tool = {
        "polars": dict(pl.read_parquet(path).group_by("language").agg(pl.col("seconds").sum() / 3600).iter_rows()),
        "duckdb": dict(duckdb.sql(f"select language, sum(seconds) / 3600 from read_parquet('{path}') "
                                  "group by language").fetchall()),
        "pandas": {(k if isinstance(k, str) else None): v for k, v in
                   (pd.read_parquet(path).groupby("language", dropna=False)["seconds"].sum() / 3600).items()},
    }
    assert len(by_tool["polars"]) >= 24
    for tool, hours in by_tool.items():
        assert hours.keys() == by_tool["polars"].keys(), tool
        assert all(abs(hours[k] - by_tool["polars"][k]) < 1e-9 for k in hours), tool


def test_duckdb_joins_utterances_to_their_shards(release):
    utts, shards = _manifest(release, "utterances"), _manifest(release, "shards")
    per_shard = duckdb.sql(f"""
        select s.path, s.num_samples, s.language, s.corpus, s.split, count(u.key) as n,
               count(*) filter (where u.language is distinct from s.language or u.corpus != s.corpus
                                or u.split != s.split) as mismatched
        from read_parquet('{shards}') s left join read_parquet('{utts}') u on u.shard = s.path
        group by all order by s.path""").fetchall()
    assert per_shard and all(n == num_samples and mismatched == 0 for _, num_samples, *_, n, mismatched in per_shard)
    orphans = duckdb.sql(f"""select count(*) from read_parquet('{utts}') u
                             anti join read_parquet('{shards}') s on u.shard = s.path""").fetchall()[0][0]
    assert orphans == 0, "every utterance names a shard of the release"


def test_summary_hours_equal_utterance_seconds_in_every_tool(release):
    keys = ["language", "corpus", "split"]
    utts, summary = _manifest(release, "utterances"), _manifest(release, "summary")
    expected = _hours(pl.read_parquet(summary).to_dicts(), keys)
    computed = {
        "polars": _hours(pl.read_parquet(utts).group_by(keys)
                         .agg((pl.col("seconds").sum() / 3600).alias("hours")).to_dicts(), keys),
        "duckdb": _hours(duckdb.sql(f"select language, corpus, split, sum(seconds) / 3600 as hours "
                                    f"from read_parquet('{utts}') group by all").pl().to_dicts(), keys),
        "pandas": {tuple(v if isinstance(v, str) else None for v in k): h for k, h in
                   (pd.read_parquet(utts).groupby(keys, dropna=False)["seconds"].sum() / 3600).items()},
    }
    for tool, hours in computed.items():
        assert hours.keys() == expected.keys(), tool
        assert all(abs(hours[k] - expected[k]) < 1e-9 for k in expected), tool


# --- the Omnilingual ASR export ---------------------------------------------------------------------------------------

def test_export_writes_the_omnilingual_layout(release, exported):
    out, report = exported
    files = sorted(str(p.relative_to(out)) for p in (out / "version=1").rglob("*") if p.is_file())
    assert files == sorted(report["files"]) and report["files_written"] == len(files) > 0
    assert all(PART.fullmatch(f) for f in files), [f for f in files if not PART.fullmatch(f)]
    partitions = {tuple(part.split("=", 1)[1] for part in f.split("/")[1:4]) for f in files}
    labelled = _labelled(release)
    assert partitions == set(labelled.select("corpus", "split", "language").unique().iter_rows())
    assert sorted(p.name for p in out.iterdir()) == [
        "language_distribution_1.parquet", "language_distribution_1.tsv", "version=1"], "no temporary leftovers"
    for f in files:  # corpus, split and language live in the path only (see manifests/export.py)
        assert pq.read_schema(out / f).names == ["text", "audio_bytes", "audio_size"]
    assert report["utterances"] == labelled.height and report["version"] == 1 and report["release"] == release.id


def test_export_reads_back_with_hive_partitioning_in_every_tool(release, exported):
    out, report = exported
    root = out / "version=1"
    tables = {
        "pyarrow.dataset": pl.from_arrow(ds.dataset(root, format="parquet", partitioning="hive").to_table()),
        # the reader Omnilingual ASR's MixtureParquetStorage builds on (partition columns as dictionaries)
        "pyarrow.ParquetDataset": pl.from_arrow(pq.ParquetDataset(root).read()).with_columns(
            pl.col("corpus", "split", "language").cast(pl.String)),
        "polars": pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=True),
        "duckdb": duckdb.sql(f"select * from read_parquet('{root}/**/*.parquet', hive_partitioning = true)").pl(),
    }
    hours = {}
    for tool, table in tables.items():
        assert set(table.columns) >= SIX_COLUMNS, tool
        assert table.height == report["utterances"], tool
        hours[tool] = dict(((c, lang), h) for c, lang, h in table.group_by("corpus", "language").agg(
            pl.col("audio_size").sum() / RATE / 3600).iter_rows())
    assert all(h == hours["pyarrow.dataset"] for h in hours.values())


def test_export_rows_are_the_release_utterances_with_their_shard_audio(release, exported):
    out, _ = exported
    table = pl.from_arrow(ds.dataset(out / "version=1", partitioning="hive").to_table())
    audio = _shard_audio(release)
    labelled = _labelled(release)
    for (corpus, split, language), expected in labelled.group_by("corpus", "split", "language"):
        got = table.filter((pl.col("corpus") == corpus) & (pl.col("split") == split) & (pl.col("language") == language))
        assert got["text"].to_list() == expected["text"].to_list(), (corpus, split, language)
        assert got["audio_bytes"].to_list() == [audio[k] for k in expected["key"]], "the shard's FLAC, byte for byte"
        for row, seconds in zip(got.iter_rows(named=True), expected["seconds"], strict=True):
            samples, rate = sf.read(io.BytesIO(row["audio_bytes"]), dtype="int16")
            assert rate == RATE and samples.ndim == 1
            assert row["audio_size"] == len(samples) and abs(len(samples) - seconds * RATE) <= 1


def test_export_stats_match_the_audio_and_the_release_summary(release, exported):
    out, report = exported
    table = pl.from_arrow(ds.dataset(out / "version=1", partitioning="hive").to_table())
    from_audio = {(c, lang): n / RATE / 3600 for c, lang, n in
                  table.group_by("corpus", "language").agg(pl.col("audio_size").sum()).iter_rows()}
    tsv = pd.read_csv(out / "language_distribution_1.tsv", sep="\t")  # as their recipe reads dataset_summary_path
    assert list(tsv.columns) == ["corpus", "language", "hours"]
    for stats in (_hours(tsv.to_dict("records")), _hours(pl.read_parquet(out / "language_distribution_1.parquet")
                                                         .to_dicts())):
        assert stats.keys() == from_audio.keys()
        assert all(abs(stats[k] - from_audio[k]) < 1e-9 for k in stats)
    assert {(c, lang): h for c, langs in report["hours"].items() for lang, h in langs.items()} == from_audio

    # the release summary (summed over splits), less the unlabelled audio the export leaves out
    summary = pl.from_arrow(release.table("summary")).group_by("corpus", "language").agg(pl.col("hours").sum())
    utts = pl.from_arrow(release.table("utterances"))
    left_out = dict(((c, lang), s / 3600) for c, lang, s in utts.filter(pl.col("text").is_null()).group_by(
        "corpus", "language").agg(pl.col("seconds").sum()).iter_rows())
    expected = {(c, lang): h - left_out.get((c, lang), 0.0) for c, lang, h in summary.iter_rows() if lang is not None}
    expected = {k: h for k, h in expected.items() if h > 1e-9}
    assert expected.keys() == from_audio.keys()
    assert all(abs(from_audio[k] - expected[k]) < 1e-6 for k in expected)
    assert sum(k not in left_out for k in expected) >= 24, "most pairs compare to the summary as it stands"


def test_unlabelled_utterances_are_skipped_and_counted(release, exported):
    _, report = exported
    utts = pl.from_arrow(release.table("utterances"))
    unlabelled = utts.filter(pl.col("text").is_null())
    no_language = utts.filter(pl.col("text").is_not_null() & pl.col("language").is_null())
    assert unlabelled.height > 0, "the sample corpus has unlabelled long-form audio"
    assert report["skipped_by_reason"] == {"unlabelled": unlabelled.height, "no_language": no_language.height}
    assert report["skipped"] == unlabelled.height + no_language.height
    assert report["utterances"] + report["skipped"] == utts.height and report["other_splits"] == 0
    assert "longform" not in report["hours"], "a corpus of unlabelled audio only is not exported"


def test_re_export_gives_the_same_bytes(release, exported, tmp_path):
    out, report = exported
    before = _files(out)
    again = export_omnilingual(release, tmp_path / "again")
    assert _files(tmp_path / "again") == before
    assert {k: v for k, v in again.items() if k not in ("path", "stats_tsv", "stats_parquet")} == {
        k: v for k, v in report.items() if k not in ("path", "stats_tsv", "stats_parquet")}
    export_omnilingual(release, tmp_path / "again")  # over an earlier export: replaced whole
    assert _files(tmp_path / "again") == before


def test_part_files_roll_over_with_fixed_row_groups(release, exported, tmp_path):
    out, _ = exported
    LIMIT = 300_000  # noqa: N806
    small = export_omnilingual(release, tmp_path, version=7, max_file_bytes=LIMIT, row_group_rows=2)
    files = [tmp_path / f for f in small["files"]]
    assert all(f.startswith("version=7/") for f in small["files"])
    by_folder = defaultdict(list)
    for f in files:
        by_folder[f.parent].append(f.name)
    rolled = [names for names in by_folder.values() if len(names) > 1]
    assert rolled and all(names == [f"part-{i:05d}.parquet" for i in range(len(names))] for names in rolled)
    for f in files:
        meta = pq.ParquetFile(f).metadata
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert all(n == 2 for n in groups[:-1]) and 0 < groups[-1] <= 2, (f, groups)
        assert f.stat().st_size <= LIMIT + 4096 or meta.num_rows == 1, "only a file of one sample passes the limit"
    big = ds.dataset(out / "version=1", partitioning="hive").to_table()
    rolled_back = ds.dataset(tmp_path / "version=7", partitioning="hive").to_table()
    assert rolled_back.equals(big), "the same rows, however the files are cut"


def test_a_shard_that_differs_from_its_manifest_stops_the_export_and_leaves_the_last_one(release, exported,
                                                                                         tmp_path):
    from omnicorpus.manifests.export import ExportError
    from omnicorpus.manifests.release import open_release

    out, _ = exported
    root = tmp_path / "root"  # a copy: the fixture's release is read-only
    shutil.copytree(release.path.parent.parent / "shards", root / "shards")
    shutil.copytree(release.path, root / "releases" / release.path.name)
    copy = open_release(root / "releases" / release.path.name)
    target = tmp_path / "export"
    export_omnilingual(copy, target)
    before = _files(target)
    shard = root / "releases" / release.path.name / release.table("shards").column("path")[0].as_py()
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # in the tar's end blocks: every sample still reads, the bytes differ
    shard.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="SHA-256"):
        export_omnilingual(copy, target)
    assert _files(target) == before, "the earlier export is untouched and no temporary folder is left"
