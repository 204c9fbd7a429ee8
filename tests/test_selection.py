"""`omnicorpus select`: a curated manifest of a release, as a user runs it (the console script), and what takes
it in place of a release (plan, train, report, export)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))


def omnicorpus(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([OMNICORPUS, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def parent_utterances(release) -> pl.DataFrame:
    return pl.DataFrame(release.table("utterances"))


@pytest.fixture(scope="module")
def capped(release, parent_utterances, tmp_path_factory):
    """eng_Latn and hin_Deva, train and dev, at most a third of eng_Latn's training hours per language."""
    eng_train = parent_utterances.filter((pl.col("language") == "eng_Latn") & (pl.col("split") == "train"))
    cap = float(eng_train["seconds"].sum()) / 3600 / 3
    out = tmp_path_factory.mktemp("selection") / "eng-hin"
    done = omnicorpus("select", str(release.path), str(out), "--languages", "eng_Latn,hin_Deva",
                      "--splits", "train", "--splits", "dev", "--max-hours-per-language", f"{cap:.6f}")
    assert done.returncode == 0, done.stderr
    return out, cap, done.stdout


def test_select_writes_a_subset_that_names_its_parent_and_query(capped, release, parent_utterances):
    out, cap, stdout = capped
    info = json.loads((out / "release.json").read_text())
    assert info["kind"] == "selection" and info["id"].startswith("sel-")
    assert info["parent"]["id"] == release.id and info["parent"]["content_sha256"] == release.info["content_sha256"]
    assert info["query"]["languages"] == ["eng_Latn", "hin_Deva"] and info["query"]["splits"] == ["dev", "train"]
    assert f"selection {info['id']} of {release.id}" in stdout and "left out: language" in stdout
    utts = pl.read_parquet(out / "utterances.parquet")
    assert set(utts["language"]) == {"eng_Latn", "hin_Deva"} and set(utts["split"]) == {"train", "dev"}
    assert info["counts"]["utterances"] == utts.height
    assert sum(info["left_out"].values()) + utts.height == parent_utterances.height, "each left-out row counted"
    # the rows are the parent's rows, unchanged but for shard paths, which now point from OUT at the same tars
    parent = parent_utterances.select("key", "shard", "text", "speaker").rename({"shard": "parent_shard"})
    joined = utts.join(parent, on="key", how="left")
    assert joined["parent_shard"].null_count() == 0 and (joined["text"] == joined["text_right"]).all()
    for shard, parent_shard in joined.select("shard", "parent_shard").unique().iter_rows():
        assert (out / shard).resolve() == (release.path / parent_shard).resolve()
    shards = pl.read_parquet(out / "shards.parquet")
    assert set(shards["path"]) == set(utts["shard"]), "exactly the shards its utterances lie in"
    assert not list(out.glob("**/*.tar")), "no audio copied"


def test_the_hours_cap_holds_per_language_and_split_and_spreads_over_speakers(capped, parent_utterances):
    out, cap, _ = capped
    utts = pl.read_parquet(out / "utterances.parquet")
    hours = utts.group_by("language", "split").agg(pl.col("seconds").sum() / 3600)
    assert (hours["seconds"] <= cap + 1e-9).all()
    eng = utts.filter((pl.col("language") == "eng_Latn") & (pl.col("split") == "train"))
    eng_parent = parent_utterances.filter((pl.col("language") == "eng_Latn") & (pl.col("split") == "train"))
    assert 0 < eng.height < eng_parent.height, "the cap cut eng_Latn's training utterances"
    per_speaker = eng.group_by("speaker").len()["len"]
    speakers = eng_parent["speaker"].drop_nulls().n_unique()
    assert per_speaker.len() == min(speakers, eng.height), "speakers take turns: every speaker before a second"
    assert per_speaker.max() - per_speaker.min() <= 1 or per_speaker.len() == speakers
    dev = utts.filter(pl.col("split") == "dev")
    assert dev.height > 0, "a cap for training does not empty dev"


def test_the_same_query_rebuilds_the_same_bytes(capped, release, tmp_path):
    out, cap, _ = capped
    again = tmp_path / "again"
    info = json.loads((out / "release.json").read_text())
    done = omnicorpus("select", str(release.path), str(again), "--languages", "hin_Deva,eng_Latn",
                      "--splits", "dev,train", "--max-hours-per-language", f"{cap:.6f}")
    assert done.returncode == 0, done.stderr
    assert digests(again) == digests(out), "same parent, same query (in any order): same files"
    rerun = omnicorpus("select", str(release.path), str(again), "--languages", "hin_Deva,eng_Latn",
                       "--splits", "dev,train", "--max-hours-per-language", f"{cap:.6f}")
    assert rerun.returncode == 0 and "(unchanged)" in rerun.stdout and digests(again) == digests(out)
    assert info["id"] in rerun.stdout


def test_plan_train_report_and_export_take_a_selection(capped, tmp_path):
    out, _, _ = capped
    plan = omnicorpus("plan", str(out))
    assert plan.returncode == 0, plan.stderr
    assert "eng_Latn" in plan.stdout and "hin_Deva" in plan.stdout and "fra_Latn" not in plan.stdout
    report = omnicorpus("report", str(out))
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text()
    assert "selection of " in html and "max_hours_per_language" in html
    run = tmp_path / "run"
    train = omnicorpus("train", str(out), "--out", str(run), "--max-steps", "2", "--set", "eval_max_utterances=4")
    assert train.returncode == 0, train.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["dev_cer_per_language"]) <= {"eng_Latn", "hin_Deva"}
    exported = tmp_path / "omni"
    export = omnicorpus("export", str(out), str(exported))
    assert export.returncode == 0, export.stderr
    result = json.loads(export.stdout)
    utts = pl.read_parquet(out / "utterances.parquet")
    labelled = utts.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    assert result["utterances"] == labelled.height and result["version"] == 1


def test_licences_keep_the_corpora_of_those_licences(release, tmp_path):
    out = tmp_path / "cc0"
    done = omnicorpus("select", str(release.path), str(out), "--licences", "CC0-1.0")
    assert done.returncode == 0, done.stderr
    licences = {s["name"]: s["license"] for s in release.info["sources"]}
    corpora = set(pl.read_parquet(out / "utterances.parquet")["corpus"])
    assert corpora and corpora == {c for c, lic in licences.items() if lic == "CC0-1.0"} & corpora
    assert all(licences[c] == "CC0-1.0" for c in corpora)


def test_a_release_without_licences_cannot_be_restricted_by_licence(release, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(release.path.parent.parent / "shards", root / "shards")
    copy = root / "releases" / release.path.name
    shutil.copytree(release.path, copy)
    info = json.loads((copy / "release.json").read_text())
    for source in info["sources"]:
        source.pop("license")  # as releases before licences were recorded
    (copy / "release.json").write_text(json.dumps(info))
    done = omnicorpus("select", str(copy), str(tmp_path / "sel"), "--licences", "CC0-1.0")
    assert done.returncode != 0 and "records no licence" in done.stdout + done.stderr
    assert not (tmp_path / "sel").exists()


def test_bad_queries_are_usage_errors_and_a_release_is_never_overwritten(release, tmp_path):
    bad = omnicorpus("select", str(release.path), str(tmp_path / "x"), "--splits", "training")
    assert bad.returncode == 2 and "unknown split" in bad.stdout + bad.stderr
    before = digests(release.path)
    refused = omnicorpus("select", str(release.path), str(release.path), "--languages", "eng_Latn")
    assert refused.returncode != 0 and "not a selection" in refused.stdout + refused.stderr
    assert digests(release.path) == before
    empty = omnicorpus("select", str(release.path), str(tmp_path / "none"), "--languages", "zzz_Latn")
    assert empty.returncode != 0 and "keeps no utterance" in empty.stdout + empty.stderr


def test_omnilingual_export_writes_audio_as_int8_lists_on_request(release, tmp_path):
    plain, signed = tmp_path / "binary", tmp_path / "int8"
    assert omnicorpus("export", str(release.path), str(plain)).returncode == 0
    done = omnicorpus("export", str(release.path), str(signed), "--audio-int8")
    assert done.returncode == 0, done.stderr
    a = sorted(plain.glob("version=*/**/*.parquet"))
    b = sorted(signed.glob("version=*/**/*.parquet"))
    assert [p.relative_to(plain) for p in a] == [p.relative_to(signed) for p in b] and a
    for x, y in zip(a[:5], b[:5], strict=True):
        binary, int8 = pq.read_table(x), pq.read_table(y)
        kind = int8.schema.field("audio_bytes").type
        assert pa.types.is_list(kind) and kind.value_type == pa.int8()
        as_bytes = [bytes(bytearray(v & 0xFF for v in row)) for row in int8.column("audio_bytes").to_pylist()]
        assert as_bytes == binary.column("audio_bytes").to_pylist()
    wrong = omnicorpus("export", str(release.path), str(tmp_path / "w"), "--format", "nemo", "--audio-int8")
    assert wrong.returncode == 2


def _opened_utterances(fmt: str, folder: Path) -> int:
    """How many utterances the format's own reader finds in an export, with one audio decoded."""
    if fmt == "lhotse":
        from lhotse import CutSet

        cuts = CutSet.from_file(folder / "cuts.jsonl.gz").with_recording_path_prefix(str(folder))
        assert next(iter(cuts)).load_audio().size > 0
        return len(cuts)
    if fmt == "lhotse-shar":
        from lhotse import CutSet

        cuts = list(CutSet.from_shar(in_dir=folder))
        assert cuts[0].load_audio().size > 0
        return len(cuts)
    if fmt == "hf":
        import datasets

        loaded = datasets.load_dataset(str(folder), cache_dir=str(folder.parent / "hf-cache"))
        assert next(iter(loaded["train"]))["audio"]["array"].size > 0
        return sum(split.num_rows for split in loaded.values())
    lines = [json.loads(line) for f in sorted(folder.glob("*_manifest.json")) for line in f.read_text().splitlines()]
    assert all((folder / line["audio_filepath"]).is_file() for line in lines)
    return len(lines)


@pytest.mark.parametrize("fmt", ["lhotse", "lhotse-shar", "hf", "nemo"])
def test_each_format_exports_a_selection_that_its_own_reader_opens(fmt, capped, tmp_path):
    out, _, _ = capped
    folder = tmp_path / fmt
    done = omnicorpus("export", str(out), str(folder), "--format", fmt)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    utts = pl.read_parquet(out / "utterances.parquet")
    labelled = utts.filter(pl.col("text").is_not_null()).height
    # NeMo manifests hold transcribed utterances only; the others every utterance of the selection
    assert _opened_utterances(fmt, folder) == (labelled if fmt == "nemo" else utts.height)
    assert result["utterances"] == (labelled if fmt == "nemo" else utts.height)
