"""The paper's filters and the dedup rules, on hand-made segments (each rule with its reason and value)."""

from __future__ import annotations

import pytest

from omnicorpus.manifests.config import FilterParams
from omnicorpus.manifests.schema import SEGMENTS
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines.dedup import dedup_spec
from omnicorpus.pipelines.filter import filter_spec
from omnicorpus.pipelines.stage import run_local


def _seg(key: str, **kw) -> dict:
    row = {"segment_id": key, "recording_id": key, "corpus": "cv", "split": "train", "language": "eng_Latn",
           "source_uri": f"/d/{key}.wav", "labelled": True, "seconds": 4.0, "raw_text": "hello there world",
           "text": "hello there world", "clip_fraction": 0.0, "snr_db": 30.0, "pcm_sha256": key}
    row.update(kw)
    return row


def _filter(rows, **params):
    result = run_local(filter_spec(FilterParams(**params)), conform(rows, SEGMENTS))
    return result.kept.column("segment_id").to_pylist(), {
        r["key"]: (r["reason"], r["value"]) for r in result.rejects.to_pylist()}


def test_the_papers_filters_with_reasons_and_values():
    rows = [
        _seg("ok"),
        _seg("long", seconds=51.0),
        _seg("empty", raw_text="  ", text=""),
        _seg("normalized_away", raw_text="[1] 2 3", text=""),
        # 101 characters in 1 s: more than 100 characters per second
        _seg("fast", seconds=1.0, text="a" * 101, raw_text="a" * 101),
        _seg("clipped", clip_fraction=0.2),
        _seg("unlabelled", labelled=False, raw_text=None, text=None),
    ]
    kept, rejected = _filter(rows)
    assert kept == ["ok", "unlabelled"]
    assert rejected["long"] == ("too_long", 51.0)
    assert rejected["empty"][0] == "empty_transcript"
    assert rejected["normalized_away"][0] == "empty_after_normalization"
    assert rejected["fast"][0] == "speaking_rate"
    assert rejected["fast"][1] == pytest.approx(16000 / 101)
    assert rejected["clipped"] == ("clipping", pytest.approx(0.2))


def test_speaking_rate_bound_is_160_samples_per_character():
    exactly_100_cps = _seg("edge", seconds=1.0, text="a" * 100, raw_text="a" * 100)
    kept, _ = _filter([exactly_100_cps])
    assert kept == ["edge"]


def test_snr_floor_is_optional():
    noisy = _seg("noisy", snr_db=3.0)
    assert _filter([noisy])[0] == ["noisy"]
    assert _filter([noisy], min_snr_db=10.0)[1]["noisy"] == ("low_snr", 3.0)


@pytest.mark.parametrize(("floor", "bound", "signal", "value", "reason"), [
    ("min_bandwidth_hz", 6000.0, "bandwidth_hz", 3875.0, "low_bandwidth"),
    ("max_dc_offset", 0.05, "dc_offset", -0.1, "dc_offset"),
    ("max_silence_seconds", 2.0, "max_silence_seconds", 3.5, "long_silence"),
    ("min_speech_ratio", 0.5, "speech_ratio", 0.25, "low_speech_ratio"),
])
def test_quality_floors_are_off_until_set_and_name_their_reason(floor, bound, signal, value, reason):
    seg = _seg("s", **{signal: value})
    unmeasured = _seg("u", **{signal: None})
    assert _filter([seg, unmeasured])[0] == ["s", "u"]
    kept, rejected = _filter([seg, unmeasured], **{floor: bound})
    assert kept == ["u"] and rejected["s"] == (reason, pytest.approx(value))


def test_dedup_keeps_the_held_out_copy_and_names_each_problem():
    rows = [
        _seg("a_train", split="train", pcm_sha256="h1"),
        _seg("a_test", split="test", pcm_sha256="h1"),
        _seg("b_train", split="train", pcm_sha256="h2", text="one transcript"),
        _seg("b_dev", split="dev", pcm_sha256="h2", text="another transcript"),
        _seg("c_1", split="train", pcm_sha256="h3"),
        _seg("c_2", split="train", pcm_sha256="h3"),
        _seg("d", split="train", pcm_sha256="h4"),
    ]
    result = run_local(dedup_spec(), conform(rows, SEGMENTS))
    assert sorted(result.kept.column("segment_id").to_pylist()) == ["a_test", "b_dev", "c_1", "d"]
    reasons = {r["key"]: r["reason"] for r in result.rejects.to_pylist()}
    assert reasons == {"a_train": "split_leak", "b_train": "transcript_conflict", "c_2": "duplicate"}
    assert result.kept.num_rows + result.rejects.num_rows == len(rows)
    assert {r["stage"] for r in result.rejects.to_pylist()} == {"dedup"}
