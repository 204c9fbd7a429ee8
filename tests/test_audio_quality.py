"""Audio quality signals (SNR, effective bandwidth, DC offset, internal silence, speech ratio) on audio whose true
values sox sets: a NeMo manifest of espeak-ng sentences, mixed with white noise at known SNRs, upsampled from
8 kHz, encoded as a low-bitrate MP3, DC-shifted or with a long pause, run through the whole chain with floors
on the signals. Each comes out with its measured values in utterances.parquet, or as a reject naming the
floor it failed; the report shows their distributions."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from omnicorpus.manifests.config import ConfigError, config_from_dict
from omnicorpus.manifests.schema import QUALITY_COLUMNS
from omnicorpus.pipelines.audio_quality import bandwidth_hz, wada_snr_db

SENTENCES = {
    "clean": "The museum opens at nine in the morning on every day of the week.",
    "snr05": "Fresh bread was delivered to the small shop before sunrise today.",
    "snr15": "Our neighbours planted three apple trees along the garden wall.",
    "snr25": "The river was wide and calm when we crossed it in the old boat.",
    "tight15": "Please remember to close the windows before the storm arrives.",
    "narrow": "A letter from my grandmother arrived with a photograph inside.",
    "mp3": "The children built a tall tower of wooden blocks on the floor.",
    "dc": "Every summer the village holds a festival with music and dancing.",
    "pause": "The train was late again this evening because of the heavy snow.",
}
FLOORS = {"min_snr_db": 10.0, "min_bandwidth_hz": 6500.0, "max_dc_offset": 0.05, "max_silence_seconds": 2.0}


def sox(*args: str) -> None:
    subprocess.run(["sox", "-q", *args], check=True)


def rms(path: Path) -> float:
    samples, _ = sf.read(path, dtype="float64")
    return float(np.sqrt(np.mean(np.square(samples - samples.mean()))))


def quality_corpus(root: Path) -> dict[str, float]:
    """The clips under root/audio and root/manifest.json as NeMo's scripts write it (one JSON object a line:
    audio_filepath, duration, text, lang); returns the true SNR (dB) of each noisy clip."""
    work, audio = root / "work", root / "audio"
    work.mkdir(parents=True)
    audio.mkdir()
    truth = {}
    for name, text in SENTENCES.items():
        spoken = work / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(work / f"{name}22.wav"), text], check=True)
        sox(str(work / f"{name}22.wav"), "-r", "16000", str(spoken), "gain", "-n", "-6")
        out = audio / f"{name}.wav"
        if name.startswith(("snr", "tight")):
            padded = work / f"{name}-padded.wav"
            sox(str(spoken), str(padded), "pad", *(("1", "1") if name.startswith("snr") else ("0", "0")))
            seconds = sf.info(padded).duration
            white, noise = work / f"{name}-white.wav", work / f"{name}-noise.wav"
            sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(white), "synth", f"{seconds}", "whitenoise",
                "vol", "0.5")
            gain = rms(spoken) / 10 ** (int(name[-2:]) / 20) / rms(white)
            sox(str(white), str(noise), "vol", f"{gain}")
            sox("-m", "-v", "1", str(padded), "-v", "1", str(noise), str(out))
            truth[name] = 20 * math.log10(rms(spoken) / rms(noise))
        elif name == "narrow":  # recorded at 8 kHz, upsampled to 16 kHz
            sox(str(spoken), "-r", "8000", str(work / "narrow8k.wav"))
            sox(str(work / "narrow8k.wav"), "-r", "16000", str(out), "pad", "1", "1")
        elif name == "mp3":  # a low-bitrate MP3 (its encoder's low-pass), kept as an .mp3 file
            out = audio / "mp3.mp3"
            subprocess.run(["lame", "--quiet", "-b", "24", str(spoken), str(out)], check=True)
        elif name == "dc":
            sox(str(spoken), str(out), "pad", "1", "1", "dcshift", "0.1")
        elif name == "pause":  # the sentence, three seconds of silence, the sentence again
            sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(work / "gap.wav"), "trim", "0", "3")
            sox(str(spoken), str(work / "gap.wav"), str(spoken), str(out))
        else:
            sox(str(spoken), str(out), "pad", "1", "1")
    lines = [json.dumps({"audio_filepath": f"audio/{p.name}", "duration": round(sf.info(p).duration, 3),
                         "text": SENTENCES[p.stem], "lang": "en"})
             for p in sorted(audio.iterdir())]
    (root / "manifest.json").write_text("\n".join(lines) + "\n")
    return truth


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory, spark):
    """(true SNRs, utterances, rejects, report HTML) of a run of the clips with FLOORS, as `omnicorpus run` does
    it (service.run_all: the chain, the gate, the report) on the suite's Spark session."""
    from omnicorpus.pipelines.service import run_all

    root = tmp_path_factory.mktemp("quality")
    truth = quality_corpus(root / "corpus")
    cfg = config_from_dict({
        "sources": [{"name": "clips", "layout": "folder", "path": str(root / "corpus"), "license": "CC0-1.0",
                     "labelled": True}],
        "output": str(root / "out"), "filter": FLOORS})
    report, published = run_all(cfg, spark)
    assert published.passed, published.verdict
    release = published.release
    utterances = pl.DataFrame(release.table("utterances")).with_columns(
        pl.col("source").str.extract(r"/([a-z0-9]+)\.[a-z0-9]+$").alias("clip"))
    rejects = pl.DataFrame(release.table("rejects")).with_columns(
        pl.col("source_uri").str.extract(r"/([a-z0-9]+)\.[a-z0-9]+$").alias("clip"))
    html = Path(published.report).read_text()
    return truth, utterances, rejects, html


def test_snr_is_measured_within_2_db_of_the_true_value(quality_run):
    truth, utterances, rejects, _ = quality_run
    measured = dict(zip(utterances["clip"], utterances["snr_db"], strict=True))
    assert set(truth) - set(measured) == {"snr05"}  # under the 10 dB floor
    rejected = rejects.filter(pl.col("clip") == "snr05").row(0, named=True)
    assert rejected["reason"] == "low_snr" and rejected["stage"] == "filter"
    measured["snr05"] = rejected["value"]
    print("\nSNR true -> measured (dB):", {n: (round(t, 1), round(measured[n], 1)) for n, t in truth.items()})
    for name, true_db in truth.items():
        assert measured[name] == pytest.approx(true_db, abs=2.0), (name, measured[name], true_db)
    # the padded clips (a floor measured in their pauses) and the unpadded one (WADA's estimate) alike
    assert measured["snr05"] < measured["snr15"] < measured["snr25"] < measured["clean"]
    assert measured["clean"] > 60


def test_bandwidth_tells_upsampled_and_low_bitrate_audio_from_wide_band(quality_run):
    _, utterances, rejects, _ = quality_run
    kept = dict(zip(utterances["clip"], utterances["bandwidth_hz"], strict=True))
    print("\nbandwidth (Hz):", kept, {r["clip"]: r["value"] for r in rejects.iter_rows(named=True)
                                     if r["reason"] == "low_bandwidth"})
    assert all(band >= 7000 for band in kept.values()), kept
    by_clip = {r["clip"]: r for r in rejects.iter_rows(named=True)}
    assert by_clip["narrow"]["reason"] == "low_bandwidth" and 3500 <= by_clip["narrow"]["value"] <= 4100
    assert by_clip["mp3"]["reason"] == "low_bandwidth" and 4100 < by_clip["mp3"]["value"] < 6500
    assert "Hz < 6500 Hz" in by_clip["mp3"]["detail"]


def test_dc_offset_and_a_long_pause_are_rejected_with_their_values(quality_run):
    _, utterances, rejects, _ = quality_run
    by_clip = {r["clip"]: r for r in rejects.iter_rows(named=True)}
    assert by_clip["dc"]["reason"] == "dc_offset" and by_clip["dc"]["value"] == pytest.approx(0.1, abs=0.01)
    assert by_clip["pause"]["reason"] == "long_silence" and 2.5 < by_clip["pause"]["value"] < 3.5
    assert set(by_clip) == {"snr05", "narrow", "mp3", "dc", "pause"}
    clean = utterances.filter(pl.col("clip") == "clean").row(0, named=True)
    assert abs(clean["dc_offset"]) < 0.01 and clean["max_silence_seconds"] < 1.0 and clean["speech_ratio"] > 0.8
    assert utterances.select(QUALITY_COLUMNS).null_count().sum_horizontal().item() == 0


def test_the_report_shows_the_signals_and_the_floors(quality_run):
    _, utterances, _, html = quality_run
    section = html[html.index('id="audio-quality"'):]
    section = section[:section.index("</section>")]
    for floor, value in FLOORS.items():
        assert f"<code>{floor}: {value:g}</code>" in section
    assert 'id="audio-quality-table"' in section and section.count("<svg") == 2
    assert "<td class=\"code\">clips</td>" in section and f">{utterances.height:,}<" in section


def test_the_sample_corpus_is_wide_band_and_measured_everywhere(pipeline_run):
    utterances = pl.DataFrame(pipeline_run[1].release.table("utterances"))
    assert utterances.select(QUALITY_COLUMNS).null_count().sum_horizontal().item() == 0
    assert utterances["bandwidth_hz"].min() > 7000  # espeak-ng at 22 kHz, resampled: the whole 8 kHz band
    longform = utterances.filter(pl.col("corpus") == "longform")
    assert longform["max_silence_seconds"].max() > 0.3 and longform["speech_ratio"].min() < 1.0


def test_the_estimators_on_signals_with_known_answers():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 4) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)
    assert bandwidth_hz(tone.astype(np.float32)) == pytest.approx(3000, abs=100)
    assert bandwidth_hz(rng.standard_normal(16000).astype(np.float32) * 0.1) > 7800  # white: the whole band
    assert bandwidth_hz(np.zeros(16000, np.float32)) is None and wada_snr_db(np.zeros(10, np.float32)) is None


@pytest.mark.parametrize(("floor", "value"), [("min_bandwidth_hz", 9000.0), ("max_dc_offset", 2.0),
                                              ("min_speech_ratio", -0.1), ("max_silence_seconds", -1.0)])
def test_floors_out_of_range_are_config_errors(tmp_path, floor, value):
    with pytest.raises(ConfigError, match=floor):
        config_from_dict({"sources": [{"name": "s", "layout": "folder", "path": str(tmp_path)}],
                          "output": str(tmp_path / "out"), "filter": {floor: value}})


def test_a_release_from_before_the_signals_reads_as_not_measured(pipeline_run, tmp_path):
    from omnicorpus.quality.report_audio import audio_quality_section
    from omnicorpus.quality.report_data import load_report_data

    data = load_report_data(pipeline_run[1].release, [], None)
    old = dataclasses.replace(data, utterances=data.utterances.with_columns(
        *[pl.lit(None, pl.Float32).alias(name) for name in QUALITY_COLUMNS]))
    assert "made before schema 1.8" in audio_quality_section(old)
    assert "audio-quality-table" in audio_quality_section(data)
