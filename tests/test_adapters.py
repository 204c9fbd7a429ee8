"""Corpus adapters (omnicorpus.corpus.*): every layout listed from real files in temporary folders.

Audio content is never read by an adapter, so most audio files here are tiny WAVs or zero-byte
placeholders; transcripts, TSVs, Parquet files and folder structures are the real formats.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from omnicorpus.corpus import listing
from omnicorpus.corpus.files import FileIndex
from omnicorpus.corpus.registry import ADAPTERS, detect_layout, list_source
from omnicorpus.corpus.text import read_lines
from omnicorpus.manifests.config import LAYOUTS, SourceConfig
from omnicorpus.manifests.keys import item_id, row_uri
from omnicorpus.manifests.schema import SOURCE_ITEMS, problem_text

CV_HEADER = ("client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\t"
             "accents\tvariant\tlocale\tsegment")
CV_OLD_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment"


# --- helpers -----------------------------------------------------------------------------------------

def wav(path: Path, seconds: float = 0.05) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    return path


def touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def src(name: str, layout: str, path: Path | str, **kw) -> SourceConfig:
    return SourceConfig(name=name, layout=layout, path=str(path), license=kw.pop("license", "CC0-1.0"), **kw)


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def by_name(table: pa.Table) -> dict[str, dict]:
    """Rows keyed by the file name of their source_uri (unique in these fixtures)."""
    out = {}
    for r in rows(table):
        key = os.path.basename(r["source_uri"])
        if r["start"] is not None:
            key += f"@{r['start']}"
        assert key not in out
        out[key] = r
    return out


def check_contract(table: pa.Table, source: SourceConfig, layout: str) -> None:
    """Schema, ids, order and the derived columns every adapter must get right."""
    assert table.schema.equals(SOURCE_ITEMS)
    ids = table.column("item_id").to_pylist()
    assert len(ids) == len(set(ids)), "item ids must be unique"
    uris = table.column("source_uri").to_pylist()
    starts = table.column("start").to_pylist()
    keys = [(u, s is not None, s or 0.0) for u, s in zip(uris, starts, strict=True)]
    assert keys == sorted(keys), "rows must be sorted by source_uri, start"
    root = Path(source.path).resolve()
    for r in rows(table):
        uri = Path(r["source_uri"])
        location = uri.relative_to(root).as_posix() if uri.is_relative_to(root) else r["source_uri"]
        assert r["item_id"] == item_id(source.name, location, r["start"], r["end"]), "ids hash the place in the source"
        assert r["corpus"] == source.name
        assert r["layout"] == layout
        assert r["split"] in ("train", "dev", "test")
        assert r["license"] is not None
        assert r["labelled"] == (source.labelled and r["raw_text"] is not None) or layout in ("longform",
                                                                                              "community")
        if r["meta"] is not None:
            assert isinstance(json.loads(r["meta"]), dict)
        if r["listing_error"] is not None:
            reason = r["listing_error"]["reason"]
            assert reason in {"transcript_not_utf8", "missing_file", "no_consent", "invalid_metadata",
                              "listing_error", "bad_offsets", "path_outside_source"}
    # stable: a second listing gives the same table
    again = ADAPTERS[layout](source)
    assert again.equals(table)


def errors(table: pa.Table) -> dict[str, str]:
    return {os.path.basename(r["source_uri"]): problem_text(r["listing_error"]) for r in rows(table)
            if r["listing_error"]}


# --- listing helpers ---------------------------------------------------------------------------------

def test_split_names():
    f = listing.split_from_name
    assert f("train-clean-100") == "train" and f("dev-other") == "dev" and f("test-clean") == "test"
    assert f("validation-00000-of-00002") == "dev" and f("train_sp") == "train" and f("eval2000") == "test"
    assert f("hi_train") == "train" and f("dev_clean") == "dev" and f("testset") == "test"
    assert f("latest") is None and f("validated") is None and f("data") is None and f("swh_Latn") is None
    assert listing.normalize_split("Validation") == "dev" and listing.normalize_split("bogus") is None


def test_language_dir_names():
    for ok in ("sw", "hin", "und", "swh_Latn", "en-US", "cmn_hans_cn", "sv-SE"):
        assert listing.language_dir(ok) == ok
    for bad in ("data", "audio", "raw", "podcasts", "2024", "wav", "x"):
        assert listing.language_dir(bad) is None


def test_read_lines_keeps_everything_but_line_endings(tmp_path):
    p = touch(tmp_path / "t.txt", b"\xef\xbb\xbfa  \r\n\n b\t\nlast")
    assert list(read_lines(p)) == [(1, b"a  "), (2, b""), (3, b" b\t"), (4, b"last")]


def test_file_index_matches_path_resolve(tmp_path):
    real = wav(tmp_path / "real" / "a.wav")
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "b.wav").symlink_to(real)
    idx = FileIndex()
    for p in (tmp_path / "linkdir" / "a.wav", tmp_path / "real" / "b.wav", tmp_path / "real" / "nope.wav",
              tmp_path / "real" / ".." / "real" / "a.wav", tmp_path / "missing_dir" / "x.wav"):
        uri, exists = idx.resolve(str(p))
        assert uri == str(p.resolve())
        assert exists == p.is_file()


# --- common_voice ------------------------------------------------------------------------------------

def cv_locale(root: Path, locale: str, splits: dict[str, list[tuple[str, str]]], *, old: bool = False,
              validated_extra: list[tuple[str, str]] = (), write_clips: bool = True) -> None:
    d = root / locale
    header = CV_OLD_HEADER if old else CV_HEADER

    def line(client: str, name: str, sentence: str) -> str:
        if old:
            return "\t".join([client, name, sentence, "3", "0", "twenties", "male", "", locale, ""])
        return "\t".join([client, name, "sid", sentence, "", "2", "1", "thirties", "female_feminine", "", "",
                          locale, ""])

    every = []
    for split, items in splits.items():
        body = "".join(line(f"client{i % 2}", n, s) + "\n" for i, (n, s) in enumerate(items))
        touch(d / f"{split}.tsv", (header + "\n" + body).encode())
        every += items
    every += list(validated_extra)
    touch(d / "validated.tsv", (header + "\n" + "".join(line("c", n, s) + "\n" for n, s in every)).encode())
    (d / "clips").mkdir(parents=True, exist_ok=True)
    if write_clips:
        for n, _ in every:
            touch(d / "clips" / n)


def test_common_voice(tmp_path):
    root = tmp_path / "cv"
    cv_locale(root, "sv-SE", {"train": [("a1.mp3", "Hej då"), ("a2.mp3", "Tack")],
                              "dev": [("a3.mp3", "Ja")], "test": [("a4.mp3", "Nej ")]},
              validated_extra=[("a5.mp3", "Extra rad")])
    cv_locale(root, "zh-TW", {"train": [("b1.mp3", "你好")], "dev": [], "test": [("b2.mp3", "謝謝")]},
              old=True)
    (root / "zh-TW" / "other.tsv").write_text(
        CV_OLD_HEADER + "\nc\tb9.mp3\tnot validated\t0\t0\t\t\t\tzh-TW\t\n")
    source = src("cv", "common_voice", root)
    table = ADAPTERS["common_voice"](source)
    check_contract(table, source, "common_voice")
    assert table.num_rows == 7  # 5 + 2; a5 only in validated -> train; other.tsv not listed
    r = by_name(table)
    assert {k: v["split"] for k, v in r.items()} == {
        "a1.mp3": "train", "a2.mp3": "train", "a3.mp3": "dev", "a4.mp3": "test", "a5.mp3": "train",
        "b1.mp3": "train", "b2.mp3": "test"}
    assert r["a4.mp3"]["raw_text"] == "Nej "  # exactly as written
    assert r["a1.mp3"]["language_raw"] == "sv-SE" and r["b1.mp3"]["language_raw"] == "zh-TW"
    assert r["b1.mp3"]["raw_text"] == "你好" and r["b1.mp3"]["speaker_raw"] == "client0"
    assert r["a1.mp3"]["source_uri"] == str((root / "sv-SE" / "clips" / "a1.mp3").resolve())
    meta = json.loads(r["a1.mp3"]["meta"])
    assert meta["up_votes"] == 2 and meta["down_votes"] == 1 and meta["gender"] == "female_feminine"
    assert meta["age"] == "thirties" and meta["tsv"] == "train.tsv"
    assert json.loads(r["b2.mp3"]["meta"])["up_votes"] == 3  # old header read by name
    assert all(v["labelled"] and v["license"] == "CC0-1.0" and v["listing_error"] is None for v in r.values())

    # a single locale folder as the root lists the same items of that locale
    single = ADAPTERS["common_voice"](src("cv", "common_voice", root / "zh-TW"))
    assert sorted(single.column("source_uri").to_pylist()) == sorted(
        v["source_uri"] for k, v in r.items() if k.startswith("b"))


def test_common_voice_bad_rows(tmp_path):
    root = tmp_path / "cv"
    cv_locale(root, "ru", {"train": [("c1.mp3", "Привет"), ("c2.mp3", "Да")], "dev": [], "test": []})
    (root / "ru" / "clips" / "c2.mp3").unlink()
    tsv = root / "ru" / "train.tsv"
    tsv.write_bytes(tsv.read_bytes() + b"x\tc3.mp3\tsid\tcaf\xe9\t\t1\t0\t\t\t\t\tru\t\n")
    touch(root / "ru" / "clips" / "c3.mp3")
    table = ADAPTERS["common_voice"](src("cv", "common_voice", root))
    check_contract(table, src("cv", "common_voice", root), "common_voice")
    assert table.num_rows == 3
    errs = errors(table)
    assert errs["c2.mp3"].startswith("missing_file: ")
    assert errs["c3.mp3"].startswith("transcript_not_utf8: ") and f"{tsv} line 4" in errs["c3.mp3"]
    r = by_name(table)
    assert r["c3.mp3"]["raw_text"] is None and not r["c3.mp3"]["labelled"]
    assert "c1.mp3" not in errs


# --- fleurs ------------------------------------------------------------------------------------------

def fleurs_lang(root: Path, code: str, split_rows: dict[str, list[tuple[str, str]]], encoding: str = "utf-8",
                write_audio: bool = True) -> None:
    for split, items in split_rows.items():
        data = b""
        for i, (name, text) in enumerate(items):
            fields = [str(1000 + i), name, text, text.lower(), "c h a r s |", "16000", "FEMALE"]
            data += ("\t".join(fields) + "\n").encode(encoding)
            if write_audio:
                wav(root / code / "audio" / split / name)
        touch(root / code / f"{split}.tsv", data)


def test_fleurs(tmp_path):
    root = tmp_path / "fleurs"
    fleurs_lang(root, "cmn_hans_cn", {"train": [("1.wav", "人人生而自由"), ("2.wav", "平等")],
                                      "dev": [("3.wav", "尊严")], "test": [("4.wav", "权利")]})
    fleurs_lang(root, "fr_fr", {"train": [("5.wav", "Bonjour à tous")], "dev": [], "test": []})
    with open(root / "fr_fr" / "train.tsv", "ab") as f:
        f.write("9\t6.wav\tÉté déjà\tété déjà\tc\t1\tMALE\n".encode("latin-1"))
        f.write(b"10\t7.wav\tmissing audio\tmissing audio\tc\t1\tMALE\n")
    wav(root / "fr_fr" / "audio" / "train" / "6.wav")
    source = src("fleurs", "fleurs", root, license="CC-BY-4.0")
    table = ADAPTERS["fleurs"](source)
    check_contract(table, source, "fleurs")
    assert table.num_rows == 7
    r = by_name(table)
    assert r["1.wav"]["raw_text"] == "人人生而自由" and r["1.wav"]["language_raw"] == "cmn_hans_cn"
    assert r["3.wav"]["split"] == "dev" and r["4.wav"]["split"] == "test" and r["5.wav"]["split"] == "train"
    assert r["5.wav"]["speaker_raw"] is None
    assert json.loads(r["1.wav"]["meta"]) == {"id": 1000, "gender": "FEMALE", "num_samples": 16000}
    assert r["6.wav"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert f"{root / 'fr_fr' / 'train.tsv'} line 2" in r["6.wav"]["listing_error"]["detail"]
    assert r["6.wav"]["raw_text"] is None and not r["6.wav"]["labelled"]
    assert r["7.wav"]["listing_error"]["reason"] == "missing_file"


# --- librispeech -------------------------------------------------------------------------------------

def libri_chapter(root: Path, subset: str, spk: int, ch: int, texts: list[bytes], audio: bool = True) -> Path:
    d = root / subset / str(spk) / str(ch)
    lines = b""
    for i, text in enumerate(texts):
        utt = f"{spk}-{ch}-{i:04d}"
        lines += utt.encode() + b" " + text + b"\n"
        if audio:
            wav(d / f"{utt}.flac")  # a WAV named .flac: adapters never read audio
    touch(d / f"{spk}-{ch}.trans.txt", lines)
    return d


def test_librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    libri_chapter(root, "train-clean-100", 19, 198, [b"CHAPTER ONE", b"MISSUS RACHEL LYNDE"])
    libri_chapter(root, "dev-other", 84, 121, [b"GO DO YOU HEAR"])
    d = libri_chapter(root, "test-clean", 1089, 134686, [b"HE HOPED THERE WOULD BE STEW", b"CAF\xc9"])
    with open(d / "1089-134686.trans.txt", "ab") as f:
        f.write(b"1089-134686-0002 NO AUDIO\n")
    wav(d / "1089-134686-0009.flac")  # audio with no transcript line
    touch(root / "SPEAKERS.TXT", b"; ID | SEX\n")
    source = src("ls", "librispeech", root, language="en", license="CC-BY-4.0")
    table = ADAPTERS["librispeech"](source)
    check_contract(table, source, "librispeech")
    assert table.num_rows == 7
    r = by_name(table)
    assert r["19-198-0001.flac"]["raw_text"] == "MISSUS RACHEL LYNDE"
    assert r["19-198-0001.flac"]["speaker_raw"] == "19" and r["19-198-0001.flac"]["split"] == "train"
    assert r["84-121-0000.flac"]["split"] == "dev" and r["1089-134686-0000.flac"]["split"] == "test"
    assert all(v["language_raw"] == "en" for v in r.values())
    assert r["1089-134686-0001.flac"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert "line 2" in r["1089-134686-0001.flac"]["listing_error"]["detail"]
    assert r["1089-134686-0002.flac"]["listing_error"]["reason"] == "missing_file"
    assert r["1089-134686-0009.flac"]["listing_error"]["reason"] == "listing_error"
    assert not r["1089-134686-0009.flac"]["labelled"]
    assert json.loads(r["84-121-0000.flac"]["meta"]) == {"chapter": "121", "subset": "dev-other",
                                                         "utterance": "84-121-0000"}
    # a subset as the root
    sub = ADAPTERS["librispeech"](src("ls", "librispeech", root / "dev-other", language="en"))
    assert sub.column("source_uri").to_pylist() == [r["84-121-0000.flac"]["source_uri"]]
    assert sub.column("split").to_pylist() == ["dev"]


# --- kaldi -------------------------------------------------------------------------------------------

def test_kaldi_segments(tmp_path):
    d = tmp_path / "s5" / "data" / "hi_train"
    wav(d / "wav" / "r1.wav")
    abs_wav = wav(tmp_path / "elsewhere" / "r2.wav")
    wav(tmp_path / "s5" / "wav" / "r3.wav")  # relative to the recipe folder, not the data dir
    touch(d / "wav.scp", f"r1 wav/r1.wav\nr2 {abs_wav}\nr3 wav/r3.wav\nr4 sox in.wav -t wav - |\n".encode())
    touch(d / "segments", b"r1_001 r1 0.00 1.25\nr1_002 r1 1.25 2.50\nr2_001 r2 0.5 -1\nr3_001 r3 0 1\n"
                          b"r4_001 r4 0 1\nr1_003 r1 3.0 2.0\nr9_001 r9 0 1\n")
    touch(d / "text", "r1_001 नमस्ते दुनिया\nr1_002 धन्यवाद\nr2_001 \xff\nr4_001 x\n".encode().replace(
        b"\xc3\xbf", b"\xff") + b"r5_001 no audio anywhere\n")
    touch(d / "utt2spk", b"r1_001 s1\nr1_002 s1\nr2_001 s2\n")
    source = src("kaldi", "kaldi", tmp_path / "s5" / "data", language="hi")
    table = ADAPTERS["kaldi"](source)
    check_contract(table, source, "kaldi")
    assert table.num_rows == 8  # 7 segment lines + 1 text-only utterance
    r = by_name(table)
    one, two = r["r1.wav@0.0"], r["r1.wav@1.25"]
    assert (one["start"], one["end"], two["start"], two["end"]) == (0.0, 1.25, 1.25, 2.5)
    assert one["source_uri"] == str((d / "wav" / "r1.wav").resolve())
    assert one["raw_text"] == "नमस्ते दुनिया" and one["speaker_raw"] == "s1" and one["split"] == "train"
    assert one["language_raw"] == "hi"
    assert json.loads(one["meta"]) == {"data_dir": "hi_train", "recording": "r1", "utterance": "r1_001"}
    assert r["r2.wav@0.5"]["end"] is None and r["r2.wav@0.5"]["source_uri"] == str(abs_wav.resolve())
    assert r["r2.wav@0.5"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert r["r3.wav@0.0"]["listing_error"] is None and r["r3.wav@0.0"]["raw_text"] is None
    assert r["r1.wav@3.0"]["listing_error"]["reason"] == "bad_offsets"
    # `sox in.wav -t wav - |` is a decoder pipe: its input is read directly (here it does not exist)
    assert r["in.wav@0.0"]["listing_error"]["reason"] == "missing_file"
    assert r["segments#line=7"]["listing_error"]["reason"] == "listing_error"
    assert r["text#line=5"]["listing_error"]["reason"] == "listing_error"


def test_kaldi_folder_of_data_dirs(tmp_path):
    root = tmp_path / "data"
    for name in ("train", "dev_clean", "test_other", "extra"):
        d = root / name
        wav(d / f"{name}_a.wav")
        touch(d / "wav.scp", f"{name}_a {name}_a.wav\n{name}_b {name}_b.wav\n".encode())
        touch(d / "text", f"{name}_a hello {name}\n{name}_b gone\n".encode())
        # a data dir's sub-folders are not data dirs of their own
        touch(d / "split2" / "1" / "wav.scp", f"{name}_a {name}_a.wav\n".encode())
    touch(root / "extra" / "utt2lang", b"extra_a ru\n")
    touch(root / "dev_clean" / "lang", b"\nde\n")
    source = src("k", "kaldi", root, language="en")
    table = ADAPTERS["kaldi"](source)
    check_contract(table, source, "kaldi")
    assert table.num_rows == 8
    r = by_name(table)
    assert {k: v["split"] for k, v in r.items() if k.endswith("_a.wav")} == {
        "train_a.wav": "train", "dev_clean_a.wav": "dev", "test_other_a.wav": "test", "extra_a.wav": "train"}
    assert r["extra_a.wav"]["language_raw"] == "ru" and r["extra_b.wav"]["language_raw"] == "en"
    assert r["dev_clean_a.wav"]["language_raw"] == "de" and r["train_a.wav"]["language_raw"] == "en"
    assert r["train_a.wav"]["raw_text"] == "hello train" and r["train_a.wav"]["start"] is None
    assert r["train_b.wav"]["listing_error"]["reason"] == "missing_file"


# --- hf_parquet --------------------------------------------------------------------------------------

def write_parquet(path: Path, columns: dict, row_group_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def flac_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(160, dtype=np.float32), 16000, format="FLAC")
    return buf.getvalue()


def test_hf_parquet_omnilingual_layout(tmp_path):
    root = tmp_path / "omnilingual"
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for lang, split, n in (("swh_Latn", "train", 3), ("swh_Latn", "dev", 1), ("kaz_Cyrl", "test", 2)):
        write_parquet(root / "data" / lang / f"{split}-00000-of-00001.parquet", {
            "id": [f"{lang}{i}" for i in range(n)],
            "audio": pa.array([{"bytes": flac_bytes(), "path": f"{i}.flac"} for i in range(n)], audio_type),
            "raw_text": [f"maneno {i}" for i in range(n)],
            "speaker_id": [f"spk{i % 2}" for i in range(n)]})
    source = src("omni", "hf_parquet", root, license="CC-BY-4.0")
    table = ADAPTERS["hf_parquet"](source)
    check_contract(table, source, "hf_parquet")
    assert table.num_rows == 6
    f = str((root / "data" / "swh_Latn" / "train-00000-of-00001.parquet").resolve())
    first = next(r for r in rows(table) if r["source_uri"] == row_uri(f, 0))
    assert first["raw_text"] == "maneno 0" and first["speaker_raw"] == "spk0" and first["split"] == "train"
    assert first["language_raw"] == "swh_Latn"  # the folder name, no language column
    assert json.loads(first["meta"]) == {"parquet": f, "row": 0, "audio_path": "0.flac", "id": "swh_Latn0"}
    assert sorted(table.column("split").to_pylist()) == ["dev", "test", "test", "train", "train", "train"]
    auto, layout = list_source(src("omni", "auto", root, license="CC-BY-4.0"))
    assert layout == "hf_parquet" and auto.equals(table)


def test_hf_parquet_paths_and_columns(tmp_path):
    root = tmp_path / "hf"
    wav(root / "clips" / "a.wav")
    abs_audio = wav(tmp_path / "abs" / "b.wav")
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    write_parquet(root / "validation-00000-of-00001.parquet", {
        "audio": pa.array([{"bytes": None, "path": "clips/a.wav"}, {"bytes": None, "path": str(abs_audio)},
                           {"bytes": None, "path": "clips/gone.wav"}, {"bytes": flac_bytes(), "path": None},
                           {"bytes": None, "path": None}], audio_type),
        "text": pa.array([b"hello", b"caf\xe9", b"x", b"y", b"z"], pa.binary()),
        "iso_639_3": ["eng"] * 5, "iso_15924": ["Latn"] * 5, "client_id": ["c1", "c2", None, None, None]},
        row_group_size=2)  # row groups mixing inline and absent bytes
    source = src("hf", "hf_parquet", root)
    table = ADAPTERS["hf_parquet"](source)
    check_contract(table, source, "hf_parquet")
    r = {json.loads(x["meta"])["row"]: x for x in rows(table)}
    f = str((root / "validation-00000-of-00001.parquet").resolve())
    assert r[0]["source_uri"] == str((root / "clips" / "a.wav").resolve()) and r[0]["raw_text"] == "hello"
    assert r[0]["language_raw"] == "eng_Latn" and r[0]["split"] == "dev" and r[0]["speaker_raw"] == "c1"
    # an absolute audio.path (no bytes) leads out of the dataset folder: never looked up, the item is the row
    assert r[1]["source_uri"] == row_uri(f, 1)
    assert r[1]["listing_error"]["reason"] == "path_outside_source" and r[1]["raw_text"] is None
    assert r[2]["listing_error"]["reason"] == "missing_file"
    assert r[3]["source_uri"] == row_uri(f, 3) and r[3]["listing_error"] is None
    assert r[4]["source_uri"] == row_uri(f, 4) and r[4]["listing_error"]["reason"] == "listing_error"


def test_hf_parquet_reads_no_audio_bytes(tmp_path, monkeypatch):
    """Listing reads only the non-audio columns and audio.path: never `audio.bytes` when the row group
    statistics tell whether the bytes are there."""
    root = tmp_path / "hf"
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    write_parquet(root / "train-00000-of-00001.parquet", {
        "audio": pa.array([{"bytes": flac_bytes(), "path": f"{i}.flac"} for i in range(4)], audio_type),
        "sentence": ["a", "b", "c", "d"]})
    asked: list = []
    real_iter, real_rg = pq.ParquetFile.iter_batches, pq.ParquetFile.read_row_group

    def iter_batches(self, *a, columns=None, **kw):
        asked.append(columns)
        return real_iter(self, *a, columns=columns, **kw)

    def read_row_group(self, i, columns=None, **kw):
        asked.append(columns)
        return real_rg(self, i, columns=columns, **kw)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", read_row_group)
    table = ADAPTERS["hf_parquet"](src("hf", "hf_parquet", root))
    assert table.num_rows == 4 and table.column("raw_text").to_pylist() == ["a", "b", "c", "d"]
    assert asked
    assert all(cols is not None and "audio" not in cols and "audio.bytes" not in cols for cols in asked)


# --- folder ------------------------------------------------------------------------------------------

def test_folder_sidecars(tmp_path):
    root = tmp_path / "f"
    wav(root / "a.wav")
    touch(root / "a.txt", b"Habari yako\n")
    wav(root / "sub" / "b.flac")
    touch(root / "sub" / "b.json", json.dumps({"transcript": "Nzuri", "language": "sw", "speaker": "s7",
                                               "split": "test"}).encode())
    touch(root / "c.MP3")
    touch(root / "c.txt", b"line one\nbad \xff here\n")
    touch(root / "d.opus")
    touch(root / "notes.txt", b"not a transcript")
    touch(root / ".hidden" / "e.wav")
    source = src("f", "folder", root, language="sw")
    table = ADAPTERS["folder"](source)
    check_contract(table, source, "folder")
    r = by_name(table)
    assert set(r) == {"a.wav", "b.flac", "c.MP3", "d.opus"}
    assert r["a.wav"]["raw_text"] == "Habari yako" and r["a.wav"]["split"] == "train"
    assert r["a.wav"]["language_raw"] == "sw" and r["a.wav"]["labelled"]
    b = r["b.flac"]
    assert (b["raw_text"], b["speaker_raw"], b["split"], b["language_raw"]) == ("Nzuri", "s7", "test", "sw")
    assert r["c.MP3"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert "line 2" in r["c.MP3"]["listing_error"]["detail"]
    assert r["d.opus"]["raw_text"] is None and not r["d.opus"]["labelled"]


def test_folder_manifests(tmp_path):
    root = tmp_path / "nemo"
    wav(root / "audio" / "a.wav")
    wav(root / "audio" / "long.wav")
    lines = [{"audio_filepath": "audio/a.wav", "text": "hello", "duration": 1.5, "lang": "en"},
             {"audio_filepath": str((root / "audio" / "long.wav").resolve()), "text": "part one",
              "offset": 10.0, "duration": 5.0, "speaker": "s1"},
             {"audio_filepath": "audio/long.wav", "text": "part two", "offset": 15.0, "duration": 4.0},
             {"audio_filepath": "audio/missing.wav", "text": "x"}]
    body = "\n".join(json.dumps(x) for x in lines).encode() + b"\n{not json\n"
    touch(root / "manifest.jsonl", body)
    source = src("nemo", "folder", root, language="en")
    table = ADAPTERS["folder"](source)
    check_contract(table, source, "folder")
    assert table.num_rows == 5
    r = by_name(table)
    assert r["a.wav"]["raw_text"] == "hello" and r["a.wav"]["language_raw"] == "en"
    assert json.loads(r["a.wav"]["meta"])["duration"] == 1.5
    assert (r["long.wav@10.0"]["start"], r["long.wav@10.0"]["end"]) == (10.0, 15.0)
    assert r["long.wav@15.0"]["end"] == 19.0 and r["long.wav@10.0"]["speaker_raw"] == "s1"
    assert r["missing.wav"]["listing_error"]["reason"] == "missing_file"
    assert r["manifest.jsonl#line=5"]["listing_error"]["reason"] == "listing_error"
    # a CSV at the root with no audio path column is a manifest not understood: an error, not skipped
    touch(root / "readme.csv", b"a,b\n1,2\n")
    with pytest.raises(ValueError, match="readme.csv"):
        ADAPTERS["folder"](source)

    # several manifests named after their splits; a CSV with a split column and a non-UTF-8 text cell
    root2 = tmp_path / "csvs"
    for name in ("x", "y", "z"):
        wav(root2 / f"{name}.wav")
    touch(root2 / "train.csv", b"file,text,split\nx.wav,\"hi, there\xe2\x80\xa8\",\ny.wav,caf\xe9,\n")
    touch(root2 / "test.tsv", b"path\tsentence\nz.wav\t\"quoted\"\n")
    table2 = ADAPTERS["folder"](src("c", "folder", root2))
    r2 = by_name(table2)
    assert r2["x.wav"]["raw_text"] == "hi, there\u2028" and r2["x.wav"]["split"] == "train"
    assert r2["y.wav"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert r2["z.wav"]["split"] == "test" and r2["z.wav"]["raw_text"] == '"quoted"'
    touch(root2 / "other.csv", b"file,text\nx.wav,again\n")
    with pytest.raises(ValueError, match="several manifests"):
        ADAPTERS["folder"](src("c", "folder", root2))


# --- longform ----------------------------------------------------------------------------------------

def test_longform(tmp_path):
    root = tmp_path / "lf"
    for rel in ("sw/a.flac", "swh_Latn/b.opus", "und/c.mp3", "podcasts/2024/d.wav", "e.wav", "fr/deep/f.ogg"):
        touch(root / rel)
    touch(root / "sw" / "a.txt", b"ignored")
    source = src("lf", "longform", root, language="en", labelled=False)
    table = ADAPTERS["longform"](source)
    check_contract(table, source, "longform")
    r = by_name(table)
    assert {k: v["language_raw"] for k, v in r.items()} == {
        "a.flac": "sw", "b.opus": "swh_Latn", "c.mp3": "und", "d.wav": "en", "e.wav": "en", "f.ogg": "fr"}
    assert all(v["raw_text"] is None and not v["labelled"] and v["split"] == "train" for v in r.values())
    # labelled false even when the source config says labelled
    table2 = ADAPTERS["longform"](src("lf", "longform", root))
    assert not any(table2.column("labelled").to_pylist())
    assert table2.column("language_raw").to_pylist().count(None) == 2


# --- community ---------------------------------------------------------------------------------------

COMMUNITY_HEADER = ["file", "language", "speaker", "transcript", "consent", "consent_id", "license",
                    "recording_date", "partner"]


def submission(d: Path, rows_: list[list[str]], files: list[str]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COMMUNITY_HEADER)
    w.writerows(rows_)
    touch(d / "metadata.csv", buf.getvalue().encode())
    for f in files:
        wav(d / f)


def test_community(tmp_path):
    root = tmp_path / "community"
    sub = root / "afrivoice" / "AV-2024-0007"
    lic, av = "CC-BY-4.0", "afrivoice"
    ok = ["rec_0001.wav", "sw-KE", "AV-S0001", "Habari", "yes", "AVC-1", lic, "2024-02-01", av]
    submission(sub, [
        ok,
        ["rec_0002.wav", "en", "AV-S0002", "", "yes", "AVC-2", "CC-BY-SA-4.0", "2024-02-02", "afrivoice"],
        ["rec_0003.wav", "sw-KE", "AV-S0001", "Asante", "no", "AVC-3", lic, "2024-02-03", av],
        ["../x.wav", "sw-KE", "AV-S0001", "Escape", "yes", "AVC-4", "CC-BY-4.0", "2024-02-03", "afrivoice"],
        ["/etc/y.wav", "sw-KE", "AV-S0001", "Abs", "yes", "AVC-5", "CC-BY-4.0", "2024-02-03", "afrivoice"],
        ["rec_0006.wav", "sw-KE", "", "No speaker", "yes", "AVC-6", "CC-BY-4.0", "2024-13-40", "afrivoice"],
        ["rec_0007.wav", "sw-KE", "AV-S0001", "Gone", "yes", "AVC-7", "CC-BY-4.0", "2024-02-03", "afrivoice"],
        ["rec_0008.wav", "sw-KE", "AV-S0001", "maybe", "sure", "AVC-8", lic, "2024-02-03", av],
        ["audio/rec_0009.wav", "sw-KE", "AV-S0002", "Nested", "YES", "AVC-9", "CC-BY-4.0", "", "afrivoice"],
    ], ["rec_0001.wav", "rec_0002.wav", "rec_0003.wav", "rec_0006.wav", "rec_0008.wav", "audio/rec_0009.wav"])
    wav(root / "afrivoice" / "x.wav")
    other = root / "indicvoices" / "IVT-2024-031"
    submission(other, [["t1.flac", "ta", "IVT-0001", "வணக்கம்", "yes", "IVC-1", "CC-BY-4.0", "2024-03-01",
                        "indicvoices"]], [])
    touch(other / "t1.flac")
    meta_csv = other / "metadata.csv"
    meta_csv.write_bytes(meta_csv.read_bytes()
                         + b"t2.flac,ta,IVT-0002,caf\xe9,yes,IVC-2,CC-BY-4.0,2024-03-02,indicvoices\n")
    touch(other / "t2.flac")
    source = src("community", "community", root, license="unknown")
    table = ADAPTERS["community"](source)
    check_contract(table, source, "community")
    assert table.num_rows == 11
    r = by_name(table)
    good = r["rec_0001.wav"]
    assert good["listing_error"] is None and good["labelled"] and good["raw_text"] == "Habari"
    assert (good["language_raw"], good["speaker_raw"], good["split"], good["license"]) == (
        "sw-KE", "AV-S0001", "train", "CC-BY-4.0")
    assert json.loads(good["meta"]) == {
        "partner": "afrivoice", "submission": "AV-2024-0007", "consent": "yes", "consent_id": "AVC-1",
        "recording_date": "2024-02-01", "license": "CC-BY-4.0", "line": 2}
    assert r["rec_0002.wav"]["raw_text"] is None and not r["rec_0002.wav"]["labelled"]
    assert r["rec_0002.wav"]["license"] == "CC-BY-SA-4.0" and r["rec_0002.wav"]["listing_error"] is None
    assert r["rec_0003.wav"]["listing_error"]["reason"] == "no_consent"
    escape = problem_text(r["metadata.csv#line=5"]["listing_error"])
    assert escape.startswith("path_outside_source: ") and "../x.wav" in escape
    assert r["metadata.csv#line=6"]["listing_error"]["reason"] == "path_outside_source"
    bad = problem_text(r["rec_0006.wav"]["listing_error"])
    assert bad.startswith("invalid_metadata: ") and "speaker" in bad and "recording_date" in bad
    assert r["rec_0007.wav"]["listing_error"]["reason"] == "missing_file"
    assert r["rec_0008.wav"]["listing_error"]["reason"] == "invalid_metadata"
    assert r["rec_0009.wav"]["listing_error"] is None
    assert r["t2.flac"]["listing_error"]["reason"] == "transcript_not_utf8"
    assert r["t2.flac"]["raw_text"] is None
    assert r["t1.flac"]["raw_text"] == "வணக்கம்" and r["t1.flac"]["language_raw"] == "ta"

    # one submission folder as the root
    one = ADAPTERS["community"](src("community", "community", other))
    expected = sorted([r["t1.flac"]["source_uri"], r["t2.flac"]["source_uri"]])
    assert sorted(one.column("source_uri").to_pylist()) == expected


def test_community_symlink_out_of_submission_is_invalid(tmp_path):
    sub = tmp_path / "p" / "s"
    outside = wav(tmp_path / "secret.wav")
    submission(sub, [["link.wav", "en", "s1", "hi", "yes", "C1", "CC0-1.0", "2024-01-01", "p"]], [])
    (sub / "link.wav").symlink_to(outside)
    table = ADAPTERS["community"](src("c", "community", sub))
    assert table.column("listing_error").to_pylist()[0]["reason"] == "invalid_metadata"
    assert "outside" in table.column("listing_error").to_pylist()[0]["detail"]


# --- registry ----------------------------------------------------------------------------------------

def build_all(tmp_path: Path) -> dict[str, Path]:
    """One small source of each layout; name -> root."""
    roots = {}
    roots["common_voice"] = tmp_path / "cv"
    cv_locale(roots["common_voice"], "uk", {"train": [("u1.mp3", "Так")], "dev": [], "test": []})
    roots["fleurs"] = tmp_path / "fleurs"
    fleurs_lang(roots["fleurs"], "en_us", {"train": [("1.wav", "hi")], "dev": [], "test": []})
    roots["librispeech"] = tmp_path / "ls"
    libri_chapter(roots["librispeech"], "train-clean-100", 1, 2, [b"HELLO"])
    roots["kaldi"] = tmp_path / "kaldi"
    wav(roots["kaldi"] / "train" / "a.wav")
    touch(roots["kaldi"] / "train" / "wav.scp", b"a a.wav\n")
    roots["hf_parquet"] = tmp_path / "hf"
    write_parquet(roots["hf_parquet"] / "data" / "kaz_Cyrl" / "train-00000-of-00001.parquet", {
        "audio": pa.array([{"bytes": b"x", "path": "a.flac"}],
                          pa.struct([("bytes", pa.binary()), ("path", pa.string())])), "raw_text": ["сәлем"]})
    roots["folder"] = tmp_path / "folder"
    wav(roots["folder"] / "a.wav")
    roots["community"] = tmp_path / "community"
    submission(roots["community"] / "p" / "s1",
               [["a.wav", "en", "s", "hi", "yes", "C1", "CC0-1.0", "2024-01-01", "p"]], ["a.wav"])
    return roots


def test_detect_layout_and_list_source(tmp_path):
    roots = build_all(tmp_path)
    for layout, root in roots.items():
        assert detect_layout(str(root)) == layout, root
        table, used = list_source(src("x", "auto", root))
        assert used == layout and table.num_rows >= 1
        assert set(table.column("layout").to_pylist()) == {layout}
    # a single locale / language folder / subset / data dir / parquet file / submission
    assert detect_layout(str(roots["common_voice"] / "uk")) == "common_voice"
    assert detect_layout(str(roots["fleurs"] / "en_us")) == "fleurs"
    assert detect_layout(str(roots["librispeech"] / "train-clean-100")) == "librispeech"
    assert detect_layout(str(roots["kaldi"] / "train")) == "kaldi"
    assert detect_layout(str(next((roots["hf_parquet"]).rglob("*.parquet")))) == "hf_parquet"
    assert detect_layout(str(roots["community"] / "p" / "s1")) == "community"
    # long-form audio cannot be told from metadata: it detects as folder
    touch(tmp_path / "lf" / "sw" / "long.flac")
    assert detect_layout(str(tmp_path / "lf")) == "folder"
    # a NeMo manifest folder and an HF audiofolder-style metadata.csv (no consent column) are `folder`
    touch(tmp_path / "af" / "metadata.csv", b"file_name,transcription\na.wav,hi\n")
    assert detect_layout(str(tmp_path / "af")) == "folder"
    (tmp_path / "empty").mkdir()
    touch(tmp_path / "empty" / "readme.md", b"nothing here")
    with pytest.raises(ValueError, match="looked for"):
        detect_layout(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="does not exist"):
        detect_layout(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="unknown layout"):
        list_source(src("x", "bogus", roots["folder"]))


def test_every_layout_has_an_adapter():
    assert set(LAYOUTS) <= set(ADAPTERS)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_root_is_a_value_error(tmp_path, layout):
    with pytest.raises(ValueError, match="nope"):
        ADAPTERS[layout](src("x", layout, tmp_path / "nope"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wrong_layout_is_a_value_error(tmp_path, layout):
    (tmp_path / "stuff").mkdir()
    touch(tmp_path / "stuff" / "readme.md", b"not a corpus")
    with pytest.raises(ValueError) as exc:
        ADAPTERS[layout](src("x", layout, tmp_path / "stuff"))
    assert "\n" not in str(exc.value) and "stuff" in str(exc.value)


def test_listing_scales_to_many_entries(tmp_path):
    """20,000 TSV rows with zero-byte clips list correctly (the benchmark figure is in the report)."""
    n = 20_000
    d = tmp_path / "cv" / "sv-SE"
    (d / "clips").mkdir(parents=True)
    lines = [CV_HEADER]
    for i in range(n):
        name = f"common_voice_sv-SE_{i:08d}.mp3"
        (d / "clips" / name).touch()
        lines.append(f"client{i % 97}\t{name}\tsid\tMening nummer {i}\t\t2\t0\t\t\t\t\tsv-SE\t")
    (d / "train.tsv").write_text("\n".join(lines) + "\n")
    table = ADAPTERS["common_voice"](src("cv", "common_voice", tmp_path / "cv"))
    assert table.num_rows == n and table.column("listing_error").null_count == n
    assert len(set(table.column("item_id").to_pylist())) == n


# --- the sample corpus -------------------------------------------------------------------------------

def test_sample_corpus_counts_match_manifest(tmp_path):
    """Every source of a built sample corpus (scale 1) lists exactly the manifest's `items` count."""
    from omnicorpus.corpus.sample_corpus import build_sample_corpus

    out = tmp_path / "sample"
    build_sample_corpus(out, scale=1, seed=0)
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["sources"]
    for s in manifest["sources"]:
        source = SourceConfig(name=s["name"], layout=s["layout"], path=str(out / s["path"]),
                              license=s["license"], language=s["language"], labelled=s["labelled"])
        table, layout = list_source(source)
        assert table.num_rows == manifest["items"][s["name"]], s["name"]
        assert detect_layout(source.path) == (layout if layout != "longform" else "folder")
        ids = table.column("item_id").to_pylist()
        assert len(ids) == len(set(ids))
        # documented bad items that listing itself must flag
        for bad in manifest["bad_items"]:
            if bad["source"] != s["name"]:
                continue
            if bad["expect_reason"] not in ("transcript_not_utf8", "no_consent"):
                continue
            uri = str((out / bad["path"]).resolve())
            row = next(r for r in rows(table) if r["source_uri"] == uri)
            assert row["listing_error"]["reason"] == bad["expect_reason"]


def test_every_configurable_layout_has_an_adapter():
    from omnicorpus.corpus.registry import ADAPTERS
    from omnicorpus.manifests.config import LAYOUTS

    assert set(ADAPTERS) == set(LAYOUTS)


def test_a_corpus_moved_to_another_folder_keeps_its_item_ids(tmp_path):
    root = tmp_path / "here" / "ls"
    (root / "train-clean-100" / "1" / "2").mkdir(parents=True)
    wav(root / "train-clean-100" / "1" / "2" / "1-2-0000.flac")
    (root / "train-clean-100" / "1" / "2" / "1-2.trans.txt").write_text("1-2-0000 HELLO\n")
    before = ADAPTERS["librispeech"](src("ls", "librispeech", root, language="en"))
    moved = tmp_path / "there" / "ls"
    shutil.copytree(root, moved)
    after = ADAPTERS["librispeech"](src("ls", "librispeech", moved, language="en"))
    assert after.column("item_id").to_pylist() == before.column("item_id").to_pylist()
    assert after.column("source_uri").to_pylist() != before.column("source_uri").to_pylist()
