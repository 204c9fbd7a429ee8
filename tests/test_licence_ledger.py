"""The licence ledger: every release says what it holds under each licence (hours per licence, corpus and
language) in release.json and its report; export and select keep the licences asked for; audio without a
licence is flagged."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from omnicorpus.manifests.licences import UNKNOWN_LICENCE, licence_ledger, utterance_parts
from omnicorpus.manifests.release import open_release
from tests.test_selection import omnicorpus


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def utterances(release) -> pl.DataFrame:
    return pl.DataFrame(release.table("utterances"))


def test_every_utterance_carries_its_items_licence(release, utterances):
    by_source = {s["name"]: s["license"] for s in release.info["sources"]}
    assert utterances["license"].null_count() == 0
    for corpus, licence in utterances.select("corpus", "license").unique().iter_rows():
        assert licence == by_source[corpus], corpus  # the sample corpus's items all take their source's


def test_release_json_gives_hours_per_licence_corpus_and_language(release, utterances):
    ledger = release.info["licences"]
    assert set(ledger) == {"by_licence", "unlicensed_corpora"} and ledger["unlicensed_corpora"] == []
    by_licence = ledger["by_licence"]
    assert set(by_licence) == {"CC0-1.0", "CC-BY-4.0"}
    for licence, entry in by_licence.items():
        mine = utterances.filter(pl.col("license") == licence)
        assert entry["utterances"] == mine.height
        assert entry["hours"] == pytest.approx(mine["seconds"].sum() / 3600, abs=1e-5)
        assert set(entry["corpora"]) == set(mine["corpus"].unique())
        for corpus, by_language in entry["corpora"].items():
            rows = mine.filter(pl.col("corpus") == corpus)
            expected = rows.group_by(pl.col("language").fill_null("und")).agg(pl.col("seconds").sum() / 3600)
            assert by_language == pytest.approx(dict(expected.iter_rows()), abs=1e-6), (licence, corpus)
    assert sum(e["hours"] for e in by_licence.values()) == pytest.approx(release.info["counts"]["hours"], abs=1e-5)


def test_audio_without_a_licence_is_ledgered_as_unknown_and_named(utterances):
    stripped = utterances.with_columns(pl.when(pl.col("corpus") == "longform").then(None)
                                       .otherwise(pl.col("license")).alias("license"))
    ledger = licence_ledger(utterance_parts(stripped.to_arrow()))
    assert ledger["unlicensed_corpora"] == ["longform"]
    unknown = ledger["by_licence"][UNKNOWN_LICENCE]
    longform = stripped.filter(pl.col("corpus") == "longform")
    assert list(unknown["corpora"]) == ["longform"] and unknown["utterances"] == longform.height > 0
    assert "longform" not in ledger["by_licence"]["CC-BY-4.0"]["corpora"]


def test_the_report_shows_the_ledger_and_flags_unlicensed_audio(release, tmp_path):
    copy = tmp_path / "releases" / release.path.name
    shutil.copytree(release.path, copy)
    info = json.loads((copy / "release.json").read_text())
    moved = info["licences"]["by_licence"]["CC-BY-4.0"]["corpora"].pop("longform")
    info["licences"]["by_licence"][UNKNOWN_LICENCE] = {"hours": sum(moved.values()), "utterances": 1,
                                                       "corpora": {"longform": moved}}
    info["licences"]["unlicensed_corpora"] = ["longform"]
    (copy / "release.json").write_text(json.dumps(info))
    done = omnicorpus("report", str(copy), "--out", str(tmp_path / "report.html"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "report.html").read_text()
    section = html[html.index('<section id="licences"'):]
    section = section[:section.index("</section>")]
    assert 'id="licences-table"' in section and "CC0-1.0" in section and "CC-BY-4.0" in section
    assert "longform" in section and UNKNOWN_LICENCE in section
    overview = html[html.index('<section id="overview"'):]
    assert "have no licence" in overview[:overview.index("</section>")], "the overview lists it among its notes"


def test_export_keeps_only_the_licences_asked_for(release, utterances, tmp_path):
    out = tmp_path / "exports" / "cc0"
    done = omnicorpus("export", str(release.path), str(out), "--format", "nemo", "--licences", "CC0-1.0")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    cc0 = utterances.filter((pl.col("license") == "CC0-1.0") & pl.col("text").str.strip_chars().ne(""))
    assert result["selection"]["licences"] == ["CC0-1.0"] and result["selection"]["parent"] == release.id
    assert result["utterances"] == cc0.height > 0
    lines = [json.loads(line) for f in out.glob("*_manifest.json") for line in f.read_text().splitlines()]
    assert sorted(e["key"] for e in lines) == sorted(cc0["key"].to_list())
    assert sorted(p.name for p in out.parent.iterdir()) == ["cc0"], "the selection made for it is removed"
    assert open_release(release.path).info == release.info, "the release itself is untouched"
