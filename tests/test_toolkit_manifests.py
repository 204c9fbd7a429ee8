"""Manifests of speech toolkits (SpeechBrain, NeMo, LJSpeech, Hugging Face audiofolder, Lhotse) listed
through the public entry points `list_source` / `ADAPTERS`, from fixtures written the way each tool writes
them (SpeechBrain: its prepare scripts' csv / json code; NeMo: `json.dumps` of a dict per line; Lhotse:
lhotse itself) over real short audio files.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from omnicorpus.corpus.listing import ignored_files
from omnicorpus.corpus.registry import ADAPTERS, detect_layout, list_source
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import item_id
from omnicorpus.manifests.schema import SOURCE_ITEMS, problem_text

# --- helpers -----------------------------------------------------------------------------------------


def audio(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1, fmt: str | None = None) -> Path:
    """A real audio file (a quiet tone), in the format its extension says unless `fmt` is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    data = tone if channels == 1 else np.stack([tone * (c + 1) / channels for c in range(channels)], axis=1)
    sf.write(path, data, sr, format=fmt)
    return path


def touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def src(name: str, layout: str, path: Path, **kw) -> SourceConfig:
    return SourceConfig(name=name, layout=layout, path=str(path), license="CC-BY-4.0", **kw)


def contract(table: pa.Table, source: SourceConfig, layout: str) -> list[dict]:
    """Schema, ids, order and derived columns; the rows."""
    assert table.schema.equals(SOURCE_ITEMS)
    rows = table.to_pylist()
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids))
    keys = [(r["source_uri"], r["start"] is not None, r["start"] or 0.0) for r in rows]
    assert keys == sorted(keys)
    root = Path(source.path).resolve()
    for r in rows:
        uri = Path(r["source_uri"])
        location = uri.relative_to(root).as_posix() if uri.is_relative_to(root) else r["source_uri"]
        assert r["item_id"] == item_id(source.name, location, r["start"], r["end"], r["channel"])
        assert r["layout"] == layout and r["corpus"] == source.name
        assert r["split"] in ("train", "dev", "test")
        assert r["labelled"] == (source.labelled and r["raw_text"] is not None)
        if r["meta"] is not None:
            assert isinstance(json.loads(r["meta"]), dict)
        if r["listing_error"] is not None:
            assert "\n" not in r["listing_error"]["detail"]
    assert ADAPTERS[layout](source).equals(table), "listing is deterministic"
    return rows


def by_file(rows: list[dict]) -> dict[str, dict]:
    """Rows keyed by `<file name>[@start][#channel]` (unique in these fixtures)."""
    out = {}
    for r in rows:
        key = os.path.basename(r["source_uri"])
        if r["start"] is not None:
            key += f"@{r['start']}"
        if r["channel"] is not None:
            key += f"#{r['channel']}"
        assert key not in out, key
        out[key] = r
    return out


def listed(path: Path, layout: str = "folder", **kw) -> tuple[list[dict], pa.Table]:
    source = src("t", layout, path, **kw)
    table = ADAPTERS[layout](source)
    return contract(table, source, layout), table


# --- SpeechBrain: CSV ------------------------------------------------------------------------------

def librispeech_prepare_csv(data_folder: str, save_folder: str, split: str, text_dict: dict[str, str]) -> None:
    """recipes/LibriSpeech/librispeech_prepare.py create_csv, as it writes (`$data_root/` placeholder)."""
    wav_lst = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(data_folder, split))
                     for f in fs if f.endswith(".flac"))
    csv_file = os.path.join(save_folder, split + ".csv")
    csv_lines = [["ID", "duration", "wav", "spk_id", "wrd"]]
    for wav_file in wav_lst:
        snt_id = wav_file.split("/")[-1].replace(".flac", "")
        spk_id = "-".join(snt_id.split("-")[0:2])
        wrds = " ".join(text_dict[snt_id].split("_"))
        info = sf.info(wav_file)
        duration = info.frames / info.samplerate
        csv_lines.append([snt_id, str(duration), wav_file.replace(data_folder, "$data_root/"), spk_id, wrds])
    with open(csv_file, mode="w", newline="", encoding="utf-8") as csv_f:
        csv_writer = csv.writer(csv_f, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
        for line in csv_lines:
            csv_writer.writerow(line)


def test_speechbrain_librispeech_csv(tmp_path):
    data_folder = str(tmp_path / "LibriSpeech")  # no trailing slash: the CSVs hold `$data_root//...`
    texts = {"19-198-0000": "NORTHANGER ABBEY", "19-198-0001": "CHAPTER ONE",
             "84-121-0000": "GO DO YOU HEAR", "174-50-0000": "HE SAID THAT"}
    for utt, split in (("19-198-0000", "train-clean-100"), ("19-198-0001", "train-clean-100"),
                       ("84-121-0000", "dev-clean"), ("174-50-0000", "test-clean")):
        spk, chapter, _ = utt.split("-")
        audio(Path(data_folder) / split / spk / chapter / f"{utt}.flac", seconds=0.25)
    for split in ("train-clean-100", "dev-clean", "test-clean"):
        librispeech_prepare_csv(data_folder, data_folder, split, texts)
    written = (Path(data_folder) / "train-clean-100.csv").read_text()
    assert "$data_root//train-clean-100/19/198/19-198-0000.flac" in written
    # what else the prepare script leaves in its save folder: its options pickle and the lexicon CSVs
    touch(Path(data_folder) / "opt_librispeech_prepare.pkl", b"\x80\x04}\x94.")
    with open(os.path.join(data_folder, "lexicon.csv"), "w", newline="", encoding="utf-8") as f:
        f.write("ID,duration,char,phn\n")
        f.write(",".join(["0", "5", "a b b e y", "AE1 B IY0"]) + "\n")

    assert detect_layout(data_folder) == "folder"
    table, layout = list_source(src("ls", "auto", Path(data_folder)))
    assert layout == "folder"
    rows = contract(table, src("ls", "folder", Path(data_folder)), "folder")
    r = by_file(rows)
    assert set(r) == {"19-198-0000.flac", "19-198-0001.flac", "84-121-0000.flac", "174-50-0000.flac"}
    a = r["19-198-0000.flac"]
    assert a["source_uri"] == str((Path(data_folder) / "train-clean-100/19/198/19-198-0000.flac").resolve())
    assert (a["raw_text"], a["speaker_raw"], a["split"], a["labelled"]) == ("NORTHANGER ABBEY", "19-198", "train", True)
    assert json.loads(a["meta"]) == {"manifest": "train-clean-100.csv", "line": 2, "id": "19-198-0000",
                                     "duration": 0.25}
    assert (r["84-121-0000.flac"]["split"], r["174-50-0000.flac"]["split"]) == ("dev", "test")
    assert all(row["listing_error"] is None and row["start"] is None for row in rows)
    ignored = ignored_files(table)
    assert ignored.count == 2 and set(ignored.examples) == {"opt_librispeech_prepare.pkl", "lexicon.csv"}


def common_voice_prepare_csv(csv_file: str, rows: list[tuple[str, float, str, str, str]]) -> None:
    """recipes/CommonVoice/common_voice_prepare.py create_csv (absolute paths), as it writes."""
    csv_file_tmp = csv_file + ".tmp"
    with open(csv_file_tmp, mode="w", newline="", encoding="utf-8") as csv_f:
        csv_writer = csv.writer(csv_f, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
        csv_writer.writerow(["ID", "duration", "wav", "spk_id", "wrd"])
        for snt_id, duration, audio_path, spk_id, words in rows:
            csv_writer.writerow([snt_id, str(duration), audio_path, spk_id, words])
    os.replace(csv_file_tmp, csv_file)


def test_speechbrain_common_voice_csv_is_labelled_not_unlabelled_audio(tmp_path):
    data_folder = str(tmp_path / "cv-corpus" / "fr")
    save_folder = tmp_path / "results" / "save"
    save_folder.mkdir(parents=True)
    clips = {"train": [("common_voice_fr_1", "client_a", "ça va très bien, merci beaucoup"),
                       ("common_voice_fr_2", "client_b", 'il a dit "bonjour" à tout le monde')],
             "dev": [("common_voice_fr_3", "client_a", "nous sommes ici aujourd'hui")],
             "test": [("common_voice_fr_4", "client_c", "la maison est très grande")]}
    for split, items in clips.items():
        rows = []
        for name, client, words in items:
            audio_path = data_folder + "/clips/" + name + ".mp3"
            audio(Path(audio_path), seconds=0.4)
            info = sf.info(audio_path)
            rows.append((name, info.frames / info.samplerate, audio_path, client, words))
        common_voice_prepare_csv(str(save_folder / f"{split}.csv"), rows)
    # the audio lies in the save folder's tree too, unreferenced, with a sidecar-looking file: not sidecar mode
    audio(save_folder / "stray.wav")
    touch(save_folder / "stray.txt", b"not a transcript of any item")

    assert detect_layout(str(save_folder)) == "folder"
    table, layout = list_source(src("cv", "auto", save_folder))
    rows = contract(table, src("cv", "folder", save_folder), "folder")
    r = by_file(rows)
    assert set(r) == {"common_voice_fr_1.mp3", "common_voice_fr_2.mp3", "common_voice_fr_3.mp3",
                      "common_voice_fr_4.mp3"}, "listed from the CSVs, never as the folder's plain audio"
    assert all(row["labelled"] and row["raw_text"] for row in rows)
    assert r["common_voice_fr_1.mp3"]["raw_text"] == "ça va très bien, merci beaucoup"
    assert r["common_voice_fr_2.mp3"]["raw_text"] == 'il a dit "bonjour" à tout le monde'
    assert r["common_voice_fr_2.mp3"]["speaker_raw"] == "client_b"
    assert [r[f"common_voice_fr_{i}.mp3"]["split"] for i in (1, 2, 3, 4)] == ["train", "train", "dev", "test"]


def test_speechbrain_old_style_and_extra_columns(tmp_path):
    # the old style, as tests/samples/annotation/dev-clean.csv and the v0.5 prepare scripts wrote it
    old = tmp_path / "old"
    flac = audio(tmp_path / "data" / "dev-clean" / "1673" / "143396" / "1673-143396-0010.flac")
    old.mkdir()
    with open(old / "dev.csv", mode="w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
        w.writerow(["ID", "duration", "wav", "wav_format", "wav_opts", "spk_id", "spk_id_format", "spk_id_opts",
                    "wrd", "wrd_format", "wrd_opts", "char", "char_format", "char_opts"])
        w.writerow(["1673-143396-0010", "0.5", str(flac), "flac", "", "1673-143396", "string", "",
                    "BUT THE RASHNESS", "string", "", "B U T _ T H E _ R A S H N E S S", "string", ""])
    rows, _ = listed(old)
    assert len(rows) == 1
    assert (rows[0]["raw_text"], rows[0]["speaker_raw"], rows[0]["split"]) == ("BUT THE RASHNESS", "1673-143396", "dev")
    assert rows[0]["source_uri"] == str(flac.resolve())

    # ID,duration,wav,spk_id,wrd,char,phn with `{data_root}`, and a header with spaces after the commas
    # (tests/samples/annotation/multi_annotation.csv), which SpeechBrain reads with skipinitialspace
    extra = tmp_path / "extra"
    audio(extra / "wav" / "s1.wav")
    audio(extra / "wav" / "s2.wav")
    with open(extra / "train.csv", mode="w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ID", "duration", "wav", "spk_id", "wrd", "char", "phn"])
        w.writerow(["s1", "0.5", "{data_root}/wav/s1.wav", "spk1", "HELLO", "H E L L O", "HH AH L OW"])
    (extra / "test.csv").write_text("ID, duration, wav, wav_format, wav_opts, spk_id, spk_id_format, spk_id_opts, "
                                    "wrd\ns2, 0.500, $data_root/wav/s2.wav, wav, , spk02, string,, \"HI, THERE\"\n")
    rows, _ = listed(extra)
    r = by_file(rows)
    assert (r["s1.wav"]["raw_text"], r["s1.wav"]["split"], r["s1.wav"]["speaker_raw"]) == ("HELLO", "train", "spk1")
    assert (r["s2.wav"]["raw_text"], r["s2.wav"]["split"], r["s2.wav"]["speaker_raw"]) == ("HI, THERE", "test", "spk02")
    assert all(row["listing_error"] is None for row in rows)


def test_speechbrain_start_stop_in_samples_and_seconds(tmp_path):
    import pandas as pd

    # Google Speech Commands (prepare_GSC.py): pandas to_csv, start/stop in samples at 16 kHz
    gsc = tmp_path / "gsc"
    data = tmp_path / "speech_commands"
    yes = audio(data / "yes" / "0a7c2a8d_nohash_0.wav", seconds=1.0)
    noise = audio(data / "_background_noise_" / "white_noise.wav", seconds=3.0)
    fields = {"ID": ["yes/0a7c2a8d_nohash_0", "white_noise/16000_0"], "duration": [1.0, 1.0], "start": [0, 16000],
              "stop": [16000, 32000], "wav": [str(yes), str(noise)], "spk_id": ["0a7c2a8d", None],
              "command": ["yes", "silence"], "transcript": ["yes", None]}
    gsc.mkdir()
    pd.DataFrame(fields).to_csv(os.path.join(gsc, "train") + ".csv", index=False)
    rows, _ = listed(gsc)
    r = by_file(rows)
    assert (r["0a7c2a8d_nohash_0.wav@0.0"]["start"], r["0a7c2a8d_nohash_0.wav@0.0"]["end"]) == (0.0, 1.0)
    assert r["0a7c2a8d_nohash_0.wav@0.0"]["raw_text"] == "yes"
    silence = r["white_noise.wav@1.0"]
    assert (silence["end"], silence["raw_text"], silence["labelled"]) == (2.0, None, False)

    # Switchboard (switchboard_prepare.py): start/stop in samples at 8 kHz, channel A / B, `words`
    swbd = tmp_path / "swbd"
    conv = audio(tmp_path / "swb1" / "sw02001.wav", seconds=4.0, sr=8000, channels=2)
    swbd.mkdir()
    with open(swbd / "train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ID", "duration", "start", "stop", "channel", "wav", "words", "spk_id"])
        w.writerow(["sw02001A-s0000", (16000 - 8000) / 8000, 8000, 16000, "A", str(conv), "hi um yeah", "sw02001A"])
        w.writerow(["sw02001B-s0001", (28000 - 20000) / 8000, 20000, 28000, "B", str(conv), "okay", "sw02001B"])
    rows, _ = listed(swbd)
    r = by_file(rows)
    assert (r["sw02001.wav@1.0#0"]["end"], r["sw02001.wav@1.0#0"]["raw_text"]) == (2.0, "hi um yeah")
    assert (r["sw02001.wav@2.5#1"]["end"], r["sw02001.wav@2.5#1"]["speaker_raw"]) == (3.5, "sw02001B")

    # MEDIA-like seconds (start/stop floats, stop - start = duration); Libriheavy: start (s) + duration
    sec = tmp_path / "seconds"
    long = audio(tmp_path / "long.wav", seconds=6.0)
    sec.mkdir()
    with open(sec / "test.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ID", "duration", "start", "stop", "wav", "spk_id", "wrd"])
        w.writerow(["m1", "1.25", "0.5", "1.75", str(long), "spk", "bonjour"])
        w.writerow(["m2", "", "2", "40000", str(long), "spk", "no duration: samples or seconds?"])
    with open(sec / "train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ID", "duration", "start", "wav", "spk_id", "text"])
        w.writerow(["h1", "2.0", "3.0", str(long), "spk", "libriheavy style"])
    rows, _ = listed(sec)
    r = by_file(rows)
    assert (r["long.wav@0.5"]["end"], r["long.wav@0.5"]["split"]) == (1.75, "test")
    assert (r["long.wav@3.0"]["end"], r["long.wav@3.0"]["raw_text"]) == (5.0, "libriheavy style")
    bad = r["long.wav"]
    assert bad["listing_error"]["reason"] == "bad_offsets" and "test.csv line 3" in bad["listing_error"]["detail"]


# --- SpeechBrain: JSON -----------------------------------------------------------------------------

def test_speechbrain_json(tmp_path):
    # recipes/TIMIT/timit_prepare.py create_json: absolute paths, json.dump(indent=2); train/valid/test
    timit = tmp_path / "timit_save"
    timit.mkdir()
    corpus = tmp_path / "TIMIT"
    for split, spk, snt, words in (("train", "fcjf0", "sa1", "she had your dark suit"),
                                   ("valid", "mdab0", "si1039", "this was easy for us"),
                                   ("test", "fdhc0", "sx209", "michael colored the bedroom")):
        wav_file = str(audio(corpus / split / "dr1" / spk / f"{snt}.wav"))
        json_dict = {f"{spk}_{snt}": {"wav": wav_file, "duration": 0.5, "spk_id": spk, "phn": "sh iy hh ae d",
                                      "wrd": words, "ground_truth_phn_ends": "2260 4200"}}
        with open(timit / f"{split}.json", mode="w", encoding="utf-8") as json_f:
            json.dump(json_dict, json_f, indent=2)
    assert detect_layout(str(timit)) == "folder"
    rows, _ = listed(timit)
    r = by_file(rows)
    assert (r["sa1.wav"]["raw_text"], r["sa1.wav"]["split"], r["sa1.wav"]["speaker_raw"]) == (
        "she had your dark suit", "train", "fcjf0")
    assert (r["si1039.wav"]["split"], r["sx209.wav"]["split"]) == ("dev", "test")
    assert json.loads(r["sa1.wav"]["meta"]) == {"manifest": "train.json", "id": "fcjf0_sa1", "duration": 0.5}

    # templates/speech_recognition/mini_librispeech_prepare.py: `{data_root}` relative paths, length, words
    mini = tmp_path / "mini"
    json_dict = {}
    for uttid, words in (("19-198-0001", "CHAPTER ONE"), ("19-198-0002", "MISSUS RACHEL LYNDE")):
        wav_file = str(audio(mini / "LibriSpeech" / "train-clean-5" / "19" / "198" / f"{uttid}.flac"))
        path_parts = wav_file.split(os.path.sep)
        json_dict[uttid] = {"wav": os.path.join("{data_root}", *path_parts[-5:]), "length": 0.5, "words": words}
    with open(mini / "train.json", mode="w", encoding="utf-8") as json_f:
        json.dump(json_dict, json_f, indent=2)
    rows, _ = listed(mini)
    r = by_file(rows)
    assert r["19-198-0002.flac"]["raw_text"] == "MISSUS RACHEL LYNDE" and r["19-198-0002.flac"]["listing_error"] is None
    assert json.loads(r["19-198-0001.flac"]["meta"])["duration"] == 0.5

    # recipes/AMI/ami_prepare.py: "wav" is {"file", "duration", "start", "stop"} (samples); arrays: "files"
    ami = tmp_path / "ami"
    meeting = audio(tmp_path / "amicorpus" / "ES2002a" / "audio" / "ES2002a.Mix-Headset.wav", seconds=3.0)
    json_dict = {"ES2002a_seg1": {"wav": {"file": str(meeting), "duration": 1.5, "start": 8000, "stop": 32000}},
                 "ES2002a_seg2": {"wav": {"files": [str(meeting), str(meeting)], "duration": 1.0, "start": 0,
                                          "stop": 16000}}}
    ami.mkdir()
    with open(ami / "ami_dev.subsegs.json", mode="w", encoding="utf-8") as json_f:
        json.dump(json_dict, json_f, indent=2)
    rows, _ = listed(ami)
    seg = next(row for row in rows if row["start"] is not None)
    assert (seg["start"], seg["end"], seg["split"]) == (0.5, 2.0, "dev")
    arrays = next(row for row in rows if row["start"] is None)
    assert arrays["source_uri"].endswith("#id=ES2002a_seg2")
    assert "several audio files" in arrays["listing_error"]["detail"]


# --- NeMo ------------------------------------------------------------------------------------------

def nemo_manifest(path: Path, entries: list[dict]) -> None:
    """NeMo's scripts/dataset_processing writers: one `json.dumps(entry)` per line."""
    with open(path, "w") as fout:
        for m in entries:
            fout.write(json.dumps(m) + "\n")


def test_nemo_manifests(tmp_path):
    root = tmp_path / "an4"
    train_wav = audio(root / "wav" / "an4_clstk" / "fash" / "an251-fash-b.wav", seconds=1.0)
    long = audio(root / "wav" / "meeting.wav", seconds=8.0)
    dev_wav = audio(root / "wav" / "an4test_clstk" / "fcaw" / "cen1-fcaw-b.wav")
    nemo_manifest(root / "train_manifest.json", [
        {"audio_filepath": os.path.abspath(train_wav), "duration": 1.0, "text": "yes"},
        {"audio_filepath": "wav/meeting.wav", "duration": 2.5, "offset": 1.5, "text": "good morning",
         "lang": "en", "speaker": "spk_3"},
        {"audio_filepath": "wav/meeting.wav", "duration": 2.0, "offset": 5.0, "text": "jambo", "lang": "sw",
         "spk_id": "spk_4"},
    ])
    nemo_manifest(root / "manifest_dev.json", [{"audio_filepath": str(dev_wav), "duration": 0.5, "text": "r o b"}])
    assert detect_layout(str(root)) == "folder"
    rows, table = listed(root)
    r = by_file(rows)
    assert set(r) == {"an251-fash-b.wav", "meeting.wav@1.5", "meeting.wav@5.0", "cen1-fcaw-b.wav"}
    assert (r["an251-fash-b.wav"]["raw_text"], r["an251-fash-b.wav"]["split"]) == ("yes", "train")
    one = r["meeting.wav@1.5"]
    assert (one["end"], one["language_raw"], one["speaker_raw"]) == (4.0, "en", "spk_3")
    assert one["source_uri"] == str(long.resolve())
    assert (r["meeting.wav@5.0"]["end"], r["meeting.wav@5.0"]["speaker_raw"]) == (7.0, "spk_4")
    assert r["cen1-fcaw-b.wav"]["split"] == "dev"
    assert ignored_files(table).count == 0

    # any name: a single `.jsonl` manifest
    other = tmp_path / "other"
    clip = audio(other / "clips" / "a.flac")
    nemo_manifest(other / "ksc_data.jsonl", [{"audio_filepath": "clips/a.flac", "text": "сәлем", "duration": 0.5}])
    rows, _ = listed(other)
    assert [(row["source_uri"], row["raw_text"]) for row in rows] == [(str(clip.resolve()), "сәлем")]

    # a NeMo manifest whose name reads like a Lhotse one is still NeMo (the first object says so)
    named = tmp_path / "named"
    audio(named / "a.wav")
    nemo_manifest(named / "cuts_manifest.json", [{"audio_filepath": "a.wav", "text": "cut one", "duration": 0.5}])
    assert detect_layout(str(named)) == "folder"
    assert [row["raw_text"] for row in listed(named)[0]] == ["cut one"]

    # a tarred NeMo dataset is out of scope, and says so
    tarred = tmp_path / "tarred"
    tarred.mkdir()
    nemo_manifest(tarred / "tarred_audio_manifest.json",
                  [{"audio_filepath": "an251-fash-b.wav", "duration": 1.0, "text": "yes", "shard_id": 0}])
    touch(tarred / "audio_0.tar", b"\0" * 512)
    with pytest.raises(ValueError, match="tarred NeMo") as exc:
        list_source(src("t", "auto", tarred))
    assert "tarred_audio_manifest.json" in str(exc.value) and "\n" not in str(exc.value)


# --- LJSpeech --------------------------------------------------------------------------------------

LJ_METADATA = (
    "LJ001-0001|Printing, in the only sense with which we are at present concerned, differs from most if not "
    "from all the arts and crafts represented in the Exhibition|Printing, in the only sense with which we are at "
    "present concerned, differs from most if not from all the arts and crafts represented in the Exhibition\n"
    'LJ001-0007|the earliest book printed with movable types, the Gutenberg, or "forty-two line Bible" of about '
    '1455,|the earliest book printed with movable types, the Gutenberg, or "forty-two line Bible" of about '
    "fourteen fifty-five,\n"
    "LJ001-0008|has never been surpassed.|has never been surpassed.\n"
)


def test_ljspeech(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    for utt in ("LJ001-0001", "LJ001-0007"):
        audio(root / "wavs" / f"{utt}.wav", sr=22050)
    touch(root / "metadata.csv", LJ_METADATA.encode())
    touch(root / "README", b"LJ Speech Dataset\n")
    assert detect_layout(str(root)) == "folder"
    rows, table = listed(root, language="en")
    r = by_file(rows)
    assert set(r) == {"LJ001-0001.wav", "LJ001-0007.wav", "LJ001-0008.wav"}
    seven = r["LJ001-0007.wav"]
    assert seven["raw_text"].endswith("of about fourteen fifty-five,"), "the normalized transcription"
    assert json.loads(seven["meta"])["transcription"].endswith('"forty-two line Bible" of about 1455,')
    assert seven["split"] == "train" and seven["language_raw"] == "en" and seven["listing_error"] is None
    assert "transcription" not in json.loads(r["LJ001-0001.wav"]["meta"])
    assert r["LJ001-0008.wav"]["listing_error"]["reason"] == "missing_file"
    assert ignored_files(table).count == 1 and ignored_files(table).examples == ("README",)


# --- Hugging Face audiofolder ----------------------------------------------------------------------

def test_hf_audiofolder(tmp_path):
    root = tmp_path / "af"
    audio(root / "0001.wav")
    audio(root / "sub" / "0002.flac")
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "transcription", "speaker_id"])
        w.writerow(["0001.wav", "first clip", "s1"])
        w.writerow(["sub/0002.flac", "second, with a comma", "s2"])
    assert detect_layout(str(root)) == "folder"
    rows, _ = listed(root)
    r = by_file(rows)
    assert (r["0001.wav"]["raw_text"], r["0001.wav"]["speaker_raw"]) == ("first clip", "s1")
    assert r["0002.flac"]["raw_text"] == "second, with a comma"

    # split folders, each with its own metadata file (paths relative to it)
    splits = tmp_path / "af_splits"
    audio(splits / "data" / "train" / "a.wav")
    audio(splits / "data" / "test" / "b.wav")
    touch(splits / "data" / "train" / "metadata.jsonl",
          (json.dumps({"file_name": "a.wav", "transcription": "train clip"}) + "\n").encode())
    touch(splits / "data" / "test" / "metadata.csv", b"file_name,transcription\nb.wav,test clip\n")
    touch(splits / "README.md", b"# dataset card")
    assert detect_layout(str(splits)) == "folder"
    rows, table = listed(splits)
    r = by_file(rows)
    assert (r["a.wav"]["raw_text"], r["a.wav"]["split"]) == ("train clip", "train")
    assert (r["b.wav"]["raw_text"], r["b.wav"]["split"]) == ("test clip", "test")
    assert ignored_files(table).examples == ("README.md",)


# --- sidecar mode, AIFF, ignored files -------------------------------------------------------------

def test_sidecar_mode_lists_aiff_and_counts_ignored_files(tmp_path):
    root = tmp_path / "clips"
    audio(root / "a.aiff", fmt="AIFF")
    touch(root / "a.txt", b"aiff clip\n")
    audio(root / "b.wav")
    touch(root / "b.json", json.dumps({"text": "wav clip", "split": "dev"}).encode())  # a sidecar, no manifest
    audio(root / "deep" / "c.aif", fmt="AIFF")
    touch(root / "notes.pdf", b"%PDF-1.4")
    touch(root / "deep" / "cover.jpg", b"\xff\xd8\xff")
    touch(root / ".DS_Store", b"\0")
    touch(root / ".git" / "config", b"[core]")
    assert detect_layout(str(root)) == "folder"
    rows, table = listed(root)
    r = by_file(rows)
    assert set(r) == {"a.aiff", "b.wav", "c.aif"}
    assert r["a.aiff"]["raw_text"] == "aiff clip" and r["a.aiff"]["labelled"]
    assert (r["b.wav"]["raw_text"], r["b.wav"]["split"]) == ("wav clip", "dev")
    ignored = ignored_files(table)
    assert ignored.count == 2 and set(ignored.examples) == {"notes.pdf", "deep/cover.jpg"}
    assert "ignored: 2 files" in ignored.describe()


def test_longform_and_community_count_ignored_files(tmp_path):
    lf = tmp_path / "lf"
    audio(lf / "sw" / "talk.flac")
    touch(lf / "sw" / "talk.txt", b"longform reads no transcripts")
    touch(lf / "playlist.m3u", b"#EXTM3U")
    touch(lf / ".hidden.wav")
    table = ADAPTERS["longform"](src("lf", "longform", lf))
    assert table.num_rows == 1
    assert ignored_files(table).count == 2 and set(ignored_files(table).examples) == {"sw/talk.txt", "playlist.m3u"}

    sub = tmp_path / "community" / "partner" / "sub1"
    audio(sub / "r1.wav")
    with open(sub / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "language", "speaker", "transcript", "consent", "consent_id", "license",
                    "recording_date", "partner"])
        w.writerow(["r1.wav", "sw", "s1", "habari", "yes", "C1", "CC-BY-4.0", "2024-01-01", "partner"])
    touch(sub / "consent_forms.zip", b"PK")
    touch(tmp_path / "community" / "partner" / "README.md", b"partner notes")
    table = ADAPTERS["community"](src("c", "community", tmp_path / "community"))
    assert table.num_rows == 1
    assert set(ignored_files(table).examples) == {"partner/sub1/consent_forms.zip", "partner/README.md"}


# --- not understood ---------------------------------------------------------------------------------

def test_a_manifest_not_understood_is_an_error(tmp_path):
    root = tmp_path / "mystery"
    audio(root / "a.wav")
    touch(root / "a.json", json.dumps({"text": "a sidecar is fine"}).encode())
    touch(root / "data.csv", b"utt,sentence,speaker\nu1,hello,s1\n")
    for call in (lambda: ADAPTERS["folder"](src("m", "folder", root)), lambda: list_source(src("m", "auto", root))):
        with pytest.raises(ValueError) as exc:
            call()
        message = str(exc.value)
        assert "\n" not in message
        assert "data.csv" in message and "utt, sentence, speaker" in message and "looked for" in message
        assert "audio_filepath" in message and "SpeechBrain" in message and "LJSpeech" in message

    j = tmp_path / "json"
    audio(j / "a.wav")
    touch(j / "info.json", json.dumps({"name": "my corpus", "version": 2}).encode())
    with pytest.raises(ValueError, match=r"info\.json.*name, version"):
        ADAPTERS["folder"](src("j", "folder", j))
    gz = tmp_path / "gz"
    audio(gz / "a.wav")
    import gzip
    touch(gz / "dump.jsonl.gz", gzip.compress(b'{"utt": "a", "words": "hi"}\n'))
    with pytest.raises(ValueError, match=r"dump\.jsonl\.gz.*utt, words"):
        ADAPTERS["folder"](src("g", "folder", gz))

    # a SpeechBrain CSV in an unexpected shape (no wav column) is not silently dropped either
    sb = tmp_path / "sb"
    audio(sb / "a.wav")
    touch(sb / "train.csv", b"ID,duration,audio_path,spk_id,wrd\na,0.5,a.wav,s,HELLO\n")
    with pytest.raises(ValueError, match=r"train\.csv.*ID, duration, audio_path"):
        list_source(src("s", "auto", sb))


# --- Lhotse ----------------------------------------------------------------------------------------

@pytest.fixture
def lhotse_corpus(tmp_path, monkeypatch):
    """A Lhotse corpus made with lhotse itself: recipe-named recordings / supervisions per part, from
    recordings read with relative paths (Recording.from_file run in the corpus folder)."""
    lhotse = pytest.importorskip("lhotse")
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.audio import AudioSource

    root = tmp_path / "lhotse_mini"
    audio(root / "audio" / "spk1_utt1.wav", seconds=2.0)
    audio(root / "audio" / "meeting_stereo.flac", seconds=3.0, channels=2)
    audio(root / "audio" / "array_ch0.wav", seconds=2.0)
    audio(root / "audio" / "array_ch1.wav", seconds=2.0)
    audio(root / "audio" / "no_sup.wav", seconds=1.0)
    audio(root / "audio" / "dev_utt.flac", seconds=1.5)
    monkeypatch.chdir(root)
    mono = Recording.from_file("audio/spk1_utt1.wav")
    stereo = Recording.from_file("audio/meeting_stereo.flac")
    ch0 = Recording.from_file("audio/array_ch0.wav")
    array = Recording(id="array", sources=[AudioSource("file", [0], "audio/array_ch0.wav"),
                                           AudioSource("file", [1], "audio/array_ch1.wav")],
                      sampling_rate=ch0.sampling_rate, num_samples=ch0.num_samples, duration=ch0.duration)
    no_sup = Recording.from_file("audio/no_sup.wav")
    url = Recording(id="remote", sources=[AudioSource("url", [0], "https://example.com/remote.wav")],
                    sampling_rate=16000, num_samples=16000, duration=1.0)
    command = Recording(id="piped", sources=[AudioSource("command", [0], "sox audio/x.sph -t wav -")],
                        sampling_rate=16000, num_samples=16000, duration=1.0)
    perturbed = mono.perturb_speed(0.9)
    dev = Recording.from_file("audio/dev_utt.flac")
    sups = [
        SupervisionSegment("s1", mono.id, start=0.25, duration=1.0, channel=0, text="hello world",
                           speaker="spk1", language="English"),
        SupervisionSegment("s2", mono.id, start=1.0, duration=0.75, channel=0, text="second one", speaker="spk1",
                           language="English"),  # overlaps s1
        SupervisionSegment("st_left", stereo.id, start=0.1, duration=1.0, channel=0, text="left talker", speaker="A"),
        SupervisionSegment("st_right", stereo.id, start=1.5, duration=1.0, channel=1, text="right talker",
                           speaker="B"),
        SupervisionSegment("st_both", stereo.id, start=2.6, duration=0.3, channel=[0, 1], text="both"),
        SupervisionSegment("arr1", "array", start=0.0, duration=0.75, channel=1, text="mic two", speaker="C"),
        SupervisionSegment("arr0", "array", start=1.0, duration=0.5, channel=0, text="mic one", speaker="D"),
        SupervisionSegment("r1", "remote", start=0.0, duration=1.0, text="far away"),
        SupervisionSegment("p1", "piped", start=0.0, duration=1.0, text="through a pipe"),
        SupervisionSegment("sp1", perturbed.id, start=0.3, duration=1.1, channel=0, text="hello world"),
    ]
    RecordingSet.from_recordings([mono, stereo, array, no_sup, url, command, perturbed]).to_file(
        "mini_recordings_train.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file("mini_supervisions_train.jsonl.gz")
    RecordingSet.from_recordings([dev]).to_file("mini_recordings_dev.jsonl.gz")
    SupervisionSet.from_segments([SupervisionSegment("d1", dev.id, start=0.0, duration=1.5, channel=0,
                                                     text="a dev utterance", speaker="spk9", language="sw")]
                                 ).to_file("mini_supervisions_dev.jsonl.gz")
    (root / "LICENSE.txt").write_text("CC-BY-4.0")
    return lhotse, root


def test_lhotse_recordings_and_supervisions(lhotse_corpus):
    _lhotse, root = lhotse_corpus
    assert detect_layout(str(root)) == "lhotse"
    table, layout = list_source(src("lh", "auto", root))
    assert layout == "lhotse"
    rows = contract(table, src("lh", "lhotse", root), "lhotse")
    r = by_file(rows)
    a = r["spk1_utt1.wav@0.25"]
    assert a["source_uri"] == str((root / "audio" / "spk1_utt1.wav").resolve())
    assert (a["end"], a["raw_text"], a["speaker_raw"], a["language_raw"], a["split"], a["channel"]) == (
        1.25, "hello world", "spk1", "English", "train", None)
    assert json.loads(a["meta"]) == {"manifest": "mini_supervisions_train.jsonl.gz", "line": 1,
                                     "recording_id": "spk1_utt1", "supervision_id": "s1"}
    assert r["spk1_utt1.wav@1.0"]["end"] == 1.75
    # a stereo file: each talker's channel; a supervision over both channels is the whole file (no channel)
    assert (r["meeting_stereo.flac@0.1#0"]["raw_text"], r["meeting_stereo.flac@0.1#0"]["speaker_raw"]) == (
        "left talker", "A")
    assert r["meeting_stereo.flac@1.5#1"]["raw_text"] == "right talker"
    assert r["meeting_stereo.flac@2.6"]["raw_text"] == "both" and r["meeting_stereo.flac@2.6"]["end"] == 2.9
    # one source file per channel: the file that holds the supervision's channel (mono: no channel)
    assert r["array_ch1.wav@0.0"]["raw_text"] == "mic two"
    assert r["array_ch0.wav@1.0"]["raw_text"] == "mic one"
    # a recording without supervisions: one unlabelled item of the whole recording
    ns = r["no_sup.wav"]
    assert (ns["start"], ns["end"], ns["raw_text"], ns["labelled"], ns["listing_error"]) == (None, None, None, False,
                                                                                              None)
    # sources that are no local file, and speed-perturbed copies, are listed with a clear listing_error
    errs = {json.loads(row["meta"])["supervision_id"]: problem_text(row["listing_error"]) for row in rows
            if row["listing_error"]}
    assert set(errs) == {"r1", "p1", "sp1"}
    assert errs["r1"].startswith("listing_error: ") and "'url'" in errs["r1"] and "example.com" in errs["r1"]
    assert "'command'" in errs["p1"] and "Speed" in errs["sp1"]
    # the dev part gives its split
    d = r["dev_utt.flac@0.0"]
    assert (d["split"], d["end"], d["language_raw"], d["speaker_raw"]) == ("dev", 1.5, "sw", "spk9")
    assert ignored_files(table).count == 1 and ignored_files(table).examples == ("LICENSE.txt",)


def test_lhotse_cuts(lhotse_corpus):
    lhotse, root = lhotse_corpus
    from lhotse import CutSet, MonoCut, RecordingSet, SupervisionSegment, SupervisionSet

    recordings = RecordingSet.from_file(root / "mini_recordings_train.jsonl.gz")
    supervisions = SupervisionSet.from_file(root / "mini_supervisions_train.jsonl.gz")
    keep = [r for r in recordings if r.id in ("spk1_utt1", "meeting_stereo", "no_sup")]
    recordings = RecordingSet.from_recordings(keep)
    supervisions = supervisions.filter(lambda s: s.recording_id in {r.id for r in keep})
    raw_listing = by_file(listed(root, "lhotse")[0])

    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    # trim_to_supervisions keeps the overlapping supervisions in each cut: still one item per supervision
    trimmed = cuts.trim_to_supervisions(keep_overlapping=True)
    assert any(len(c.supervisions) > 1 for c in trimmed)
    from_cuts = {}
    for name, cut_set in (("cuts_only", cuts), ("trimmed", trimmed)):
        cuts_dir = root / name
        cuts_dir.mkdir()
        os.symlink(root / "audio", cuts_dir / "audio")
        cut_set.to_file(cuts_dir / "mini_cuts_train.jsonl.gz")
        assert detect_layout(str(cuts_dir)) == "lhotse"
        rows, _ = listed(cuts_dir, "lhotse")
        assert {json.loads(row["meta"])["manifest"] for row in rows} == {"mini_cuts_train.jsonl.gz"}
        assert all(row["split"] == "train" and row["listing_error"] is None for row in rows)
        got = {(os.path.basename(x["source_uri"]), x["start"], x["end"], x["channel"], x["raw_text"],
                x["speaker_raw"], x["language_raw"]) for x in rows if x["raw_text"] is not None}
        want = {(os.path.basename(x["source_uri"]), x["start"], x["end"], x["channel"], x["raw_text"],
                 x["speaker_raw"], x["language_raw"]) for k, x in raw_listing.items()
                if x["raw_text"] is not None and any(k.startswith(n) for n in ("spk1_utt1", "meeting_stereo"))}
        assert got == want, name
        assert all("listed_times" not in json.loads(x["meta"]) for x in rows)
        from_cuts[name] = rows
    # a cut of a whole recording without supervisions: the whole recording, unlabelled
    unlabelled = [x for x in from_cuts["cuts_only"] if x["raw_text"] is None]
    assert [(os.path.basename(x["source_uri"]), x["start"], x["end"]) for x in unlabelled] == [
        ("no_sup.wav", None, None)]

    # a MonoCut that starts inside its recording: supervision times are relative to the cut
    mono = recordings["spk1_utt1"]
    part = root / "part_cuts"
    part.mkdir()
    os.symlink(root / "audio", part / "audio")
    cut = MonoCut(id="c1", start=0.5, duration=1.2, channel=0, recording=mono,
                  supervisions=[SupervisionSegment("x1", mono.id, start=0.2, duration=0.6, channel=0, text="inside",
                                                   language="en")])
    empty = MonoCut(id="c2", start=1.0, duration=0.5, channel=0, recording=mono)
    mixed = cut.mix(empty, offset_other_by=0.3)
    CutSet.from_cuts([cut, empty, mixed]).to_file(part / "cuts.jsonl.gz")
    rows, _ = listed(part, "lhotse")
    r = by_file(rows)
    assert (r["spk1_utt1.wav@0.7"]["end"], r["spk1_utt1.wav@0.7"]["raw_text"]) == (1.3, "inside")
    assert (r["spk1_utt1.wav@1.0"]["end"], r["spk1_utt1.wav@1.0"]["labelled"]) == (1.5, False)
    mix = next(x for x in rows if x["listing_error"])
    assert "MixedCut" in mix["listing_error"]["detail"] and mix["source_uri"].endswith("cuts.jsonl.gz#line=3")

    # Lhotse Shar: the cuts' sources are `shar` placeholders: listed, with an error naming the type
    shar = root.parent / "shar"
    shar.mkdir()
    CutSet.from_cuts([cut]).to_shar(shar, fields={"recording": "wav"}, shard_size=10)
    rows, _ = listed(shar, "lhotse")
    assert len(rows) == 1 and "'shar'" in rows[0]["listing_error"]["detail"]
    assert lhotse.__version__


def test_lhotse_manifests_are_not_folder_sources(lhotse_corpus):
    _lhotse, root = lhotse_corpus
    with pytest.raises(ValueError, match="layout lhotse"):
        ADAPTERS["folder"](src("x", "folder", root))


# --- detection -------------------------------------------------------------------------------------

def test_layout_detection_picks_the_toolkit_layout(tmp_path):
    pytest.importorskip("lhotse")
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    lh = tmp_path / "lh"
    rec = Recording.from_file(audio(lh / "a.wav"))
    RecordingSet.from_recordings([rec]).to_file(lh / "recordings.jsonl.gz")
    SupervisionSet.from_segments([SupervisionSegment("s", rec.id, 0.0, 0.5, text="hi")]).to_file(
        lh / "supervisions.jsonl.gz")
    assert detect_layout(str(lh)) == "lhotse"  # before folder, though the folder has audio files
    lh_cuts = tmp_path / "lh_cuts"
    from lhotse import CutSet
    lh_cuts.mkdir()
    CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec])).to_file(lh_cuts / "cuts.jsonl.gz")
    assert detect_layout(str(lh_cuts)) == "lhotse"
    table, _ = list_source(src("c", "auto", lh_cuts))
    assert table.column("source_uri").to_pylist() == [str((lh / "a.wav").resolve())]

    sb = tmp_path / "sb"
    audio(sb / "x.wav")
    touch(sb / "train.csv", b"ID,duration,wav,spk_id,wrd\nx,0.5,$data_root/x.wav,s1,HELLO\n")
    assert detect_layout(str(sb)) == "folder"
    table, layout = list_source(src("sb", "auto", sb))
    assert layout == "folder" and table.column("raw_text").to_pylist() == ["HELLO"]
    assert table.column("labelled").to_pylist() == [True]
    # a manifest-only folder whose manifest is not understood detects as folder, so the error names it
    only = tmp_path / "only"
    touch(only / "list.tsv", b"id\tcomment\n1\tnothing\n")
    assert detect_layout(str(only)) == "folder"
    with pytest.raises(ValueError, match="list.tsv"):
        list_source(src("o", "auto", only))
