"""The installed `omnicorpus` command as a user runs it, as a subprocess: exit codes, output, settings that take
effect on the next run, unlabelled audio of no declared language, per-source accounting, --strict.

One output root goes through a sequence of runs, as a user's would: the first with a long-form source of no
language, the second after the user declares it (and adds a missing file, fixes an empty one), the third
unchanged, then a shard rots on disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
import soundfile as sf

from omnicorpus.manifests.release import latest_release, open_release

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))  # the console script pip installed
RATE = 22050


def omnicorpus(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    return subprocess.run([OMNICORPUS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def say(text: str, voice: str = "en", speed: int = 150) -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True,
                         capture_output=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    assert rate == RATE
    return audio


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def table(out: Path, name: str) -> dict[str, list]:
    """A stage table's rows as columns (language included, read from the hive partitions as written)."""
    data = ds.dataset(out / "tables" / name, format="parquet", partitioning="hive",
                      ignore_prefixes=[".", "_"]).to_table()
    return data.to_pydict()


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("sources")
    radio = root / "radio"  # long unlabelled recordings, language unknown to the user at first
    radio.mkdir()
    for i, lines in enumerate([("Habari za asubuhi, karibu kwenye kipindi chetu.", "Leo tunazungumza kuhusu kilimo."),
                               ("Mvua imenyesha sana wiki hii.", "Wakulima wanafurahi sana.")]):
        parts = [silence(0.6)]
        for line in lines:
            parts += [say(line, "sw"), silence(1.5)]
        sf.write(radio / f"show-{i}.flac", np.concatenate(parts), RATE)
    clips = root / "clips"  # a Hugging Face audiofolder: metadata.csv with file_name and transcription
    clips.mkdir()
    texts = {"a.wav": "the weather is fine today", "b.wav": "we walked along the river",
             "c.wav": "the library opens at nine", "d.wav": "please close the window"}
    for name in ("a.wav", "b.wav"):
        sf.write(clips / name, np.concatenate([silence(0.3), say(texts[name]), silence(0.3)]), RATE)
    (clips / "d.wav").write_bytes(b"")  # an empty file: rejected, retried once it holds audio
    with open(clips / "metadata.csv", "w", newline="") as f:  # c.wav is listed but missing
        writer = csv.writer(f)
        writer.writerow(["file_name", "transcription"])
        writer.writerows([[name, text] for name, text in texts.items()])
    (clips / "notes.pdf").write_bytes(b"%PDF-1.4 not audio")
    nolang = root / "nolang"  # labelled clips whose language nobody declared: every item is rejected
    nolang.mkdir()
    sf.write(nolang / "x.wav", np.concatenate([silence(0.3), say("good evening to all of you"), silence(0.3)]), RATE)
    (nolang / "x.txt").write_text("good evening to all of you\n")
    return {"radio": radio, "clips": clips, "nolang": nolang, "texts": texts}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def journey(sources, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("journey") / "out"
    src = ["--source", f"radio=longform:{sources['radio']}", "--source", f"clips=folder:{sources['clips']}",
           "--source", f"nolang=folder:{sources['nolang']}", "--language", "clips=en", "--out", out]
    steps: dict = {"out": out}
    steps["first"] = first = omnicorpus("run", *src)
    steps["first_tables"] = {name: table(out, name) for name in ("recordings", "segments", "rejects")}
    steps["first_release"] = latest_release(out)
    assert first.returncode == 0, first.stdout + first.stderr
    # the user declares the radio's language, adds the missing file and fills the empty one
    clips = sources["clips"]
    sf.write(clips / "c.wav", np.concatenate([silence(0.3), say(sources["texts"]["c.wav"]), silence(0.3)]), RATE)
    sf.write(clips / "d.wav", np.concatenate([silence(0.3), say(sources["texts"]["d.wav"]), silence(0.3)]), RATE)
    declared = [*src, "--language", "radio=sw"]
    steps["second"] = omnicorpus("run", *declared)
    steps["second_release"] = latest_release(out)
    steps["second_tables"] = {name: table(out, name) for name in ("recordings", "segments", "accepted", "rejects")}
    steps["third"] = omnicorpus("run", *declared, "--strict")  # unchanged; and nolang still contributes nothing
    steps["declared"] = declared
    return steps


def test_unlabelled_audio_of_no_language_releases_as_und_everywhere(journey):
    first, release = journey["first"], journey["first_release"]
    assert release is not None and release.id == "v0001"
    assert "quality gate: passed" in first.stdout
    utts = release.table("utterances").to_pylist()
    radio = [u for u in utts if u["corpus"] == "radio"]
    assert len(radio) >= 2 and {u["language"] for u in radio} == {"und"}
    assert all(u["shard"].startswith("../../shards/und/radio/train/") for u in radio)
    assert {s["language"] for s in release.table("summary").to_pylist() if s["corpus"] == "radio"} == {"und"}
    tables = journey["first_tables"]
    for name in ("recordings", "segments"):
        languages = {lang for lang, corpus in zip(tables[name]["language"], tables[name]["corpus"], strict=True)
                     if corpus == "radio"}
        assert languages == {"und"}, f"{name}: {languages}"
    assert "│ und " in first.stdout, "the summary table says und too"


def test_a_run_prints_what_each_source_listed_kept_and_rejected(journey):
    first = journey["first"].stdout
    assert "clips (folder): 4 items listed -> 2 with utterances, 2 rejected whole" in first
    assert "rejects: empty_file 1, missing_file 1" in first
    assert "ignored: 1 file, e.g. notes.pdf" in first
    assert "nolang (folder): 1 items listed -> 0 with utterances, 1 rejected whole" in first
    assert "unknown_language 1" in first
    assert "warning: source nolang contributes nothing to the release" in journey["first"].stderr


def test_strict_fails_a_run_where_a_source_contributes_nothing(journey):
    strict = journey["third"]
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "--strict: 1 source(s) contribute nothing: nolang" in strict.stderr


def test_changed_settings_take_effect_on_the_next_run(journey):
    second = journey["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed" in second.stdout and "retried" in second.stdout
    release = journey["second_release"]
    assert release.id == "v0002" and release.info["parent"] == "v0001"
    utts = release.table("utterances").to_pylist()
    assert {u["language"] for u in utts if u["corpus"] == "radio"} == {"swh_Latn"}
    assert not [u for u in utts if u["language"] == "und"], "nothing of the old settings is left"
    clips = sorted(u["text"] for u in utts if u["corpus"] == "clips")
    assert len(clips) == 4, "the file added and the file filled are ingested on the next run"
    for name, rows in journey["second_tables"].items():
        assert "und" not in rows["language"], f"stale rows in {name}"
        keys = rows["recording_id" if name != "rejects" else "key"]
        assert len(keys) == len(set(keys)), f"{name}: an item twice"
    rejects = journey["second_tables"]["rejects"]
    assert set(rejects["reason"]) == {"unknown_language"}, "the fixed items' old rejects are gone"
    assert {r["reason"] for r in release.table("rejects").to_pylist()} == {"unknown_language"}


def test_an_unchanged_run_makes_no_release(journey):
    third = journey["third"]
    assert "0 new" in third.stdout and "unchanged, latest release" in third.stdout
    assert latest_release(journey["out"]).id == "v0002"


def test_the_release_loads_with_hugging_face_datasets_as_it_is(journey, tmp_path):
    datasets = pytest.importorskip("datasets")
    release = journey["second_release"]
    files = [str((release.path / p).resolve()) for p in release.table("shards").column("path").to_pylist()]
    loaded = datasets.load_dataset("webdataset", data_files={"train": files}, split="train",
                                   cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == release.info["counts"]["utterances"]
    assert loaded.features["json"]["speaker"].dtype == "string"
    assert loaded.features["json"]["text"].dtype == "string"
    by_key = {u["key"]: u for u in release.table("utterances").to_pylist()}
    for row in loaded.select(range(3)):
        assert row["json"]["text"] == (by_key[row["__key__"]]["text"] or "")
        samples = row["flac"].get_all_samples()
        assert samples.sample_rate == 16000 and samples.data.shape[0] == 1


def test_validate_tells_the_truth_in_its_exit_code(journey, tmp_path):
    out = journey["out"]
    ok = omnicorpus("validate", out)
    assert ok.returncode == 0 and "quality gate: passed" in ok.stdout
    link = tmp_path / "link"
    link.symlink_to(out / "releases" / "v0002")
    via_link = omnicorpus("validate", link)
    assert via_link.returncode == 0 and "quality gate: passed" in via_link.stdout
    copy = tmp_path / "copy"
    shutil.copytree(out / "releases" / "v0002", copy)
    copied = omnicorpus("validate", copy)
    assert copied.returncode == 1
    assert copied.stderr.count("\n") == 1 and "outside the output root it was made in" in copied.stderr


def test_a_failed_gate_is_a_failed_command_and_a_rotten_shard_is_rebuilt(journey, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(journey["out"], out, symlinks=True)
    release = open_release(out)
    shard = next(s for s in release.table("shards").to_pylist() if "/radio/" in s["path"])
    rotten = (release.path / shard["path"]).resolve()

    def rot() -> None:
        data = bytearray(rotten.read_bytes())
        data[len(data) // 2] ^= 0xFF
        rotten.write_bytes(bytes(data))

    rot()
    validate = omnicorpus("validate", out, "--full")
    assert validate.returncode == 1 and "quality gate: FAILED" in validate.stdout
    assert "damaged shards: 1 (" in validate.stdout and "the next run rebuilds them" in validate.stdout
    run_args = [str(a) if a != journey["out"] else str(out) for a in journey["declared"]]
    rebuilt = omnicorpus("run", *run_args)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "quality gate: passed" in rebuilt.stdout and "unchanged, latest release" in rebuilt.stdout
    assert hashlib.sha256(rotten.read_bytes()).hexdigest() == shard["sha256"], "rebuilt byte for byte"
    # a run over unchanged sources makes no release and checks the latest again: it fails with it
    rot()
    run = omnicorpus("run", *run_args)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "quality gate: FAILED" in run.stdout and "unchanged, latest release" in run.stdout
    assert "the next run rebuilds them" in run.stdout


def test_per_source_settings_on_the_command_line(tmp_path):
    (tmp_path / "radio").mkdir()
    shown = omnicorpus("config", "show", "--source", f"radio=longform:{tmp_path / 'radio'}",
                       "--language", "radio=sw", "--license", "radio=CC-BY-4.0", "--unlabelled", "radio")
    assert shown.returncode == 0, shown.stderr
    source = json.loads(shown.stdout)["sources"][0]
    assert (source["language"], source["license"], source["labelled"]) == ("sw", "CC-BY-4.0", False)
    wrong = omnicorpus("config", "show", "--source", f"radio=longform:{tmp_path / 'radio'}", "--language", "radoi=sw")
    assert wrong.returncode == 1
    assert "--language radoi: no source named 'radoi' (did you mean 'radio'?)" in wrong.stderr
    bad = omnicorpus("config", "show", "--source", f"radio=longform:{tmp_path / 'radio'}", "--language", "radio")
    assert bad.returncode == 1 and "expected NAME=VALUE" in bad.stderr
    unknown = omnicorpus("config", "show", "--source", f"radio=longform:{tmp_path / 'radio'}", "--language",
                         "radio=xx-XX")
    assert unknown.returncode == 1 and "unknown language code 'xx-XX'" in unknown.stderr


def test_exit_codes_of_failing_commands(tmp_path):
    missing = omnicorpus("validate", tmp_path / "nothing")
    assert missing.returncode == 1 and missing.stderr.startswith("error:")
    assert omnicorpus("summary", tmp_path).returncode == 1
    assert omnicorpus("run").returncode == 1
    assert omnicorpus("--help").returncode == 0


def test_real_corpus_layouts_detected_and_released_from_flags(sample_corpus, tmp_path):
    """LibriSpeech with no language declared, a Kaldi recipe whose wav.scp pipes through sox, SpeechBrain CSVs
    (one clip AIFF): from --source flags with layout auto, as a user would first try them."""
    out = tmp_path / "out"
    run = omnicorpus("run", "--source", f"ls=auto:{sample_corpus / 'librispeech'}",
                     "--source", f"recipe=auto:{sample_corpus / 'kaldi'}", "--language", "recipe=hi",
                     "--source", f"sb=auto:{sample_corpus / 'speechbrain'}", "--language", "sb=fr", "--out", out)
    assert run.returncode == 0, run.stdout + run.stderr
    for name, layout in (("ls", "librispeech"), ("recipe", "kaldi"), ("sb", "folder")):
        assert f"source {name}: layout auto detected as {layout}" in run.stdout
    utts = open_release(out).table("utterances").to_pylist()
    languages = {(u["corpus"], u["language"]) for u in utts}
    assert languages == {("ls", "eng_Latn"), ("recipe", "hin_Deva"), ("sb", "fra_Latn")}
    manifest = json.loads((sample_corpus / "MANIFEST.json").read_text())
    assert sum(u["corpus"] == "recipe" for u in utts) == manifest["items"]["kaldi"], "every piped recording read"
    assert sum(u["corpus"] == "sb" for u in utts) == manifest["items"]["speechbrain"], "the AIFF clip too"
    assert not [u for u in utts if u["corpus"] == "sb" and not u["text"]], "SpeechBrain clips keep their text"
