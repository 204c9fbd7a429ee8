"""The `librispeech` layout over LibriSpeech, LibriTTS / LibriTTS-R and Multilingual LibriSpeech trees written
as OpenSLR distributes them (file names, line formats, tabs vs spaces, the root tables and licenses), with
real short audio files; and the ignored-file counts of the common_voice, fleurs and hf_parquet listings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from omnicorpus.corpus.listing import ignored_files
from omnicorpus.corpus.registry import list_source
from omnicorpus.manifests.config import SourceConfig


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def flac(path: Path, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(0.2, rate), rate, format="FLAC")
    return path


def wav(path: Path, rate: int = 24000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(0.2, rate), rate, format="WAV", subtype="PCM_16")
    return path


def opus(path: Path, scratch: Path) -> Path:
    """A real Ogg Opus file (opusenc when installed, else libsndfile's Opus encoder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("opusenc"):
        scratch.mkdir(parents=True, exist_ok=True)
        src = scratch / (path.stem + ".wav")
        sf.write(src, tone(0.2, 16000), 16000, subtype="PCM_16")
        subprocess.run(["opusenc", "--quiet", str(src), str(path)], check=True)
        src.unlink()
    else:
        try:
            sf.write(path, tone(0.2, 48000), 48000, format="OGG", subtype="OPUS")
        except (sf.LibsndfileError, ValueError, TypeError):
            pytest.skip("no Opus encoder (opusenc or libsndfile with Opus)")
    return path


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def listed(path: Path, name: str = "ls", **kw) -> pa.Table:
    table, layout = list_source(SourceConfig(name=name, layout=kw.pop("layout", "librispeech"), path=str(path),
                                             **kw))
    assert layout == table.column("layout")[0].as_py()
    return table


def by_utt(table: pa.Table) -> dict[str, dict]:
    out = {}
    for r in table.to_pylist():
        key = os.path.basename(r["source_uri"]).split(".")[0]
        assert key not in out
        out[key] = r
    return out


def meta(row: dict) -> dict:
    return json.loads(row["meta"]) if row["meta"] else {}


# --- LibriSpeech -------------------------------------------------------------------------------------

LS_CHAPTERS = {
    ("dev-clean", "84", "121123"): [
        "GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED BENEATH AN EXTRAORDINARY WEIGHT"],
    ("train-clean-100", "19", "198"): [
        "NORTHANGER ABBEY", "THIS LITTLE WORK WAS FINISHED IN THE YEAR EIGHTEEN O THREE"],
    ("test-other", "1688", "142285"): ["THERE'S IRON THEY SAY IN ALL OUR BLOOD"],
}


def librispeech(root: Path) -> Path:
    """`LibriSpeech/` as its tarballs unpack: the root tables, then subset/speaker/chapter folders."""
    write(root / "README.TXT", "LibriSpeech ASR corpus\n=====================\n\nIdentifier: SLR12\n")
    write(root / "LICENSE.TXT", "Creative Commons Attribution 4.0 International License\n")
    write(root / "SPEAKERS.TXT", "; Some speakers have also been moved to different subsets\n"
                                 ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
                                 "19    | F | train-clean-100  | 25.19 | Kara Shallenberg\n")
    write(root / "CHAPTERS.TXT",
          ";ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE\n"
          "198    | 19   | 14.34 | train-clean-100  | 4124 | 121   | Chapter 1 | Northanger Abbey\n")
    write(root / "BOOKS.TXT",
          ";ID   |BOOK TITLE  |BOOK AUTHOR |PROJECT GUTENBERG URL\n121 | Northanger Abbey | Austen\n")
    for (subset, spk, ch), texts in LS_CHAPTERS.items():
        d = root / subset / spk / ch
        lines = ""
        for i, text in enumerate(texts):
            utt = f"{spk}-{ch}-{i:04d}"
            flac(d / f"{utt}.flac")
            lines += f"{utt} {text}\n"
        write(d / f"{spk}-{ch}.trans.txt", lines)
    return root


def test_librispeech_is_english_unless_the_source_says(tmp_path):
    root = librispeech(tmp_path / "LibriSpeech")
    table = listed(root)
    r = by_utt(table)
    assert table.num_rows == 5
    assert {v["language_raw"] for v in r.values()} == {"en"}
    assert r["84-121123-0001"]["raw_text"] == LS_CHAPTERS[("dev-clean", "84", "121123")][1]
    assert r["84-121123-0000"]["split"] == "dev" and r["19-198-0000"]["split"] == "train"
    assert r["1688-142285-0000"]["split"] == "test" and r["1688-142285-0000"]["speaker_raw"] == "1688"
    assert all(v["listing_error"] is None and v["labelled"] for v in r.values())
    assert meta(r["19-198-0001"]) == {"utterance": "19-198-0001", "chapter": "198", "subset": "train-clean-100"}
    # the root tables and license are expected, not ignored
    assert ignored_files(table).count == 0

    declared = listed(root, language="eng")
    assert set(declared.column("language_raw").to_pylist()) == {"eng"}
    # one subset as the root
    sub = listed(root / "dev-clean")
    assert sub.column("split").to_pylist() == ["dev", "dev"]
    assert set(sub.column("language_raw").to_pylist()) == {"en"}


def test_librispeech_ignored_and_unnamed_files(tmp_path):
    root = librispeech(tmp_path / "LibriSpeech")
    write(root / "notes.pdf", b"%PDF-1.4\n")
    write(root / "dev-clean" / "84" / "121123" / "cover.jpg", b"\xff\xd8\xff\xe0")
    write(root / "train-clean-100" / "x.doc", b"doc")
    write(root / "train-clean-100" / "19" / "198" / "._19-198-0000.flac", b"\x00\x05\x16\x07")  # AppleDouble
    flac(root / "dev-clean" / "84" / "121123" / "84-121123-0007.flac")  # audio no transcript line names
    table = listed(root)
    ign = ignored_files(table)
    assert ign.count == 4
    assert set(ign.examples) == {"notes.pdf", "dev-clean/84/121123/cover.jpg", "train-clean-100/x.doc",
                                 "train-clean-100/19/198/._19-198-0000.flac"}
    r = by_utt(table)
    assert table.num_rows == 6
    orphan = r["84-121123-0007"]
    assert orphan["listing_error"]["reason"] == "listing_error"
    assert "84-121123.trans.txt" in orphan["listing_error"]["detail"]
    assert not orphan["labelled"] and orphan["language_raw"] == "en" and orphan["split"] == "dev"


# --- LibriTTS / LibriTTS-R ---------------------------------------------------------------------------

TTS = {
    ("dev-clean", "84", "121123"): [
        ("000007_000001", "Maximilian.", "Maximilian."),
        ("000008_000000", "Villefort rose, half ashamed of being surprised in such a paroxysm of grief.",
         "Villefort rose, half ashamed of being surprised in such a paroxysm of grief."),
    ],
    ("train-clean-100", "103", "1241"): [
        ("000000_000001", 'Chapter 1, "Mrs. Rachel Lynde is Surprised"—in 1908.',
         'Chapter one, "Missus Rachel Lynde is Surprised"—in nineteen oh eight.'),
    ],
    ("test-other", "1688", "142285"): [("000000_000000", "There's iron, they say, in all our blood.",
                                        "There's iron, they say, in all our blood.")],
}


def libritts(root: Path) -> Path:
    """`LibriTTS/` (or `LibriTTS_R/`): root tables and notes, then per chapter the 24 kHz WAVs with their
    .original.txt / .normalized.txt (no final newline), the chapter's .trans.tsv and .book.tsv."""
    for name in ("README_librispeech.txt", "README_libritts.txt", "LICENSE.txt", "NOTE.txt", "BOOKS.txt",
                 "CHAPTERS.txt", "SPEAKERS.txt"):
        write(root / name, f"{name}\n")
    write(root / "speakers.tsv", "READER\tGENDER\tSUBSET\tNAME\n84\tF\tdev-clean\tChristie Nowak\n")
    write(root / "reader_book.tsv", "84\t121123\n")
    write(root / "eval_sentences10.tsv", "84_121123_000008_000000\n")
    for (subset, spk, ch), utts in TTS.items():
        d = root / subset / spk / ch
        trans = book = ""
        for tail, original, normalized in utts:
            utt = f"{spk}_{ch}_{tail}"
            wav(d / f"{utt}.wav")
            write(d / f"{utt}.original.txt", original)
            write(d / f"{utt}.normalized.txt", normalized)
            trans += f"{utt}\t{original}\t{normalized}\n"
            book += f"{utt}\t{original}\t{normalized}\ttrue\ttrue\t21.04\n"
        write(d / f"{spk}_{ch}.trans.tsv", trans)
        write(d / f"{spk}_{ch}.book.tsv", book)
    return root


@pytest.mark.parametrize("corpus", ["LibriTTS", "LibriTTS_R"])
def test_libritts(tmp_path, corpus):
    root = libritts(tmp_path / corpus)
    table = listed(root)
    assert table.num_rows == 4
    r = by_utt(table)
    row = r["103_1241_000000_000001"]
    assert row["raw_text"] == 'Chapter 1, "Mrs. Rachel Lynde is Surprised"—in 1908.'  # the original text
    assert meta(row) == {"utterance": "103_1241_000000_000001", "chapter": "1241", "subset": "train-clean-100",
                         "normalized_text": 'Chapter one, "Missus Rachel Lynde is Surprised"—in nineteen oh eight.'}
    assert row["speaker_raw"] == "103" and row["split"] == "train" and row["language_raw"] == "en"
    assert row["source_uri"] == str((root / "train-clean-100" / "103" / "1241" / "103_1241_000000_000001.wav")
                                    .resolve())
    assert r["84_121123_000007_000001"]["raw_text"] == "Maximilian." and r["84_121123_000007_000001"]["split"] == "dev"
    assert r["1688_142285_000000_000000"]["split"] == "test"
    assert all(v["listing_error"] is None and v["labelled"] for v in r.values())
    assert ignored_files(table).count == 0  # .book.tsv, .original/.normalized.txt, root tables: expected
    assert set(listed(root, language="en-US").column("language_raw").to_pylist()) == {"en-US"}


def test_libritts_unnamed_audio_reads_its_original_txt(tmp_path):
    root = libritts(tmp_path / "LibriTTS")
    d = root / "dev-clean" / "84" / "121123"
    wav(d / "84_121123_000010_000000.wav")
    write(d / "84_121123_000010_000000.original.txt", "Said he.")
    write(d / "84_121123_000010_000000.normalized.txt", "Said he.")
    wav(d / "84_121123_000011_000000.wav")  # neither a trans.tsv line nor a .original.txt
    write(d / "84_121123.bad.tsv", "84_121123_000012_000000\n")
    write(d / "84_121123_000099_000000.normalized.txt", "no wav")  # shipped text, not an item
    with open(d / "84_121123.trans.tsv", "a") as f:
        f.write("84_121123_000009_000000\tGone.\tGone.")  # no audio, and no final newline
    r = by_utt(listed(root))
    said = r["84_121123_000010_000000"]
    assert said["raw_text"] == "Said he." and said["listing_error"] is None and said["labelled"]
    assert meta(said)["normalized_text"] == "Said he."
    assert r["84_121123_000011_000000"]["listing_error"]["reason"] == "listing_error"
    assert r["84_121123_000011_000000"]["raw_text"] is None
    assert r["84_121123_000009_000000"]["listing_error"]["reason"] == "missing_file"
    assert r["84_121123_000009_000000"]["raw_text"] == "Gone."
    assert ignored_files(listed(root)).count == 0


# --- Multilingual LibriSpeech ------------------------------------------------------------------------

MLS_GERMAN = {
    "train": [("1844_1003_000000", "die geschichte des kleinen muck"),
              ("1844_1003_000001", "in nicea meiner lieben vaterstadt wohnte ein mann"),
              ("2422_1017_000004", "es war einmal ein könig der hatte eine tochter")],
    "dev": [("3037_2582_000010", "er sprach kein wort")],
    "test": [("5895_2546_000020", "und so lebten sie glücklich")],
}
METAINFO = (" SPEAKER   |   GENDER   | PARTITION  |  MINUTES   |  BOOK ID   |             TITLE              "
            "|            CHAPTER            \n"
            "   1844    |     M      |   train    |   23.215   |    1003    |    Die Geschichte des kleinen Muck "
            "|    Teil 1    \n")


def mls(root: Path, utts: dict[str, list[tuple[str, str]]], *, opus_dir: Path | None = None) -> Path:
    """`mls_<language>[_opus]/` as the tarballs unpack: metainfo.txt, LICENSE, and per split transcripts.txt
    (`id<TAB>text`), segments.txt (`id<TAB>url<TAB>start<TAB>end`) and audio/<spk>/<book>/<id>.flac|.opus."""
    write(root / "metainfo.txt", METAINFO)
    write(root / "LICENSE", "Creative Commons Attribution 4.0 International Public License\n")
    for split, items in utts.items():
        d = root / split
        trans = segments = ""
        for i, (utt, text) in enumerate(items):
            spk, book, _ = utt.split("_")
            name = f"{utt}.opus" if opus_dir else f"{utt}.flac"
            target = d / "audio" / spk / book / name
            opus(target, opus_dir) if opus_dir else flac(target)
            trans += f"{utt}\t{text}\n"
            segments += (f"{utt}\thttp://www.archive.org/download/muck_librivox/muck_{i:02d}_hauff_64kb.mp3\t"
                         f"{401.76 + i}\t{417.57 + i}\n")
        write(d / "transcripts.txt", trans)
        write(d / "segments.txt", segments)
    write(root / "train" / "limited_supervision" / "9hr" / "handles.txt", "1844_1003_000000\n")
    write(root / "train" / "limited_supervision" / "1hr" / "0" / "handles.txt", "1844_1003_000001\n")
    return root


def test_mls_german(tmp_path):
    root = mls(tmp_path / "mls_german", MLS_GERMAN)
    table = listed(root, name="mls")
    assert table.num_rows == 5
    r = by_utt(table)
    row = r["1844_1003_000001"]
    assert row["raw_text"] == "in nicea meiner lieben vaterstadt wohnte ein mann"
    assert row["language_raw"] == "de" and row["split"] == "train" and row["speaker_raw"] == "1844"
    assert row["source_uri"] == str((root / "train" / "audio" / "1844" / "1003" / "1844_1003_000001.flac").resolve())
    assert meta(row) == {"utterance": "1844_1003_000001", "book": "1003", "subset": "train",
                         "librivox_url": "http://www.archive.org/download/muck_librivox/muck_01_hauff_64kb.mp3",
                         "librivox_start": 402.76, "librivox_end": 418.57}
    assert row["start"] is None and row["end"] is None  # segments.txt is provenance, not offsets into the FLAC
    assert r["2422_1017_000004"]["raw_text"] == "es war einmal ein könig der hatte eine tochter"
    assert r["3037_2582_000010"]["split"] == "dev" and r["5895_2546_000020"]["split"] == "test"
    assert {v["language_raw"] for v in r.values()} == {"de"}
    assert all(v["listing_error"] is None and v["labelled"] for v in r.values())
    assert ignored_files(table).count == 0  # metainfo.txt, LICENSE, segments.txt, handles.txt: expected
    # the mls_<language> folder names the language, as a Common Voice locale folder does: it wins
    assert set(listed(root, name="mls", language="deu").column("language_raw").to_pylist()) == {"de"}
    # one split as the root: the language from the folder above, the split from the root's name
    train = listed(root / "train", name="mls")
    assert train.num_rows == 3 and set(train.column("language_raw").to_pylist()) == {"de"}
    assert set(train.column("split").to_pylist()) == {"train"}


def test_mls_missing_unnamed_and_ignored(tmp_path):
    root = mls(tmp_path / "mls_german", MLS_GERMAN)
    (root / "dev" / "audio" / "3037" / "2582" / "3037_2582_000010.flac").unlink()
    flac(root / "test" / "audio" / "5895" / "2546" / "5895_2546_000099.flac")
    write(root / "train" / "x.doc", b"doc")
    write(root / "README", "MLS German\n")
    table = listed(root, name="mls")
    r = by_utt(table)
    assert r["3037_2582_000010"]["listing_error"]["reason"] == "missing_file"
    assert r["3037_2582_000010"]["raw_text"] == "er sprach kein wort"
    orphan = r["5895_2546_000099"]
    assert orphan["listing_error"]["reason"] == "listing_error"
    assert "transcripts.txt" in orphan["listing_error"]["detail"]
    assert orphan["language_raw"] == "de" and orphan["split"] == "test" and orphan["speaker_raw"] == "5895"
    assert ignored_files(table).count == 1 and ignored_files(table).examples == ("train/x.doc",)


def test_mls_folder_of_languages_with_opus(tmp_path):
    data = tmp_path / "mls"
    mls(data / "mls_german", {"dev": MLS_GERMAN["dev"]})
    polish = mls(data / "mls_polish_opus", {"dev": [("6892_10350_000018", "dzień dobry państwu"),
                                                    ("6892_10350_000019", "to jest próba")]},
                 opus_dir=tmp_path / "scratch")
    opus_file = polish / "dev" / "audio" / "6892" / "10350" / "6892_10350_000018.opus"
    with open(opus_file, "rb") as f:
        assert f.read(4) == b"OggS"
    table = listed(data, name="mls")
    assert table.num_rows == 3
    r = by_utt(table)
    pl = r["6892_10350_000018"]
    assert pl["language_raw"] == "pl" and pl["raw_text"] == "dzień dobry państwu"
    assert pl["source_uri"] == str(opus_file.resolve())
    assert pl["split"] == "dev" and pl["listing_error"] is None
    assert r["3037_2582_000010"]["language_raw"] == "de"
    assert ignored_files(table).count == 0
    # the opus variant's transcripts name `.opus` files: a missing one is reported under that name
    opus_file.unlink()
    gone = by_utt(listed(data, name="mls"))["6892_10350_000018"]
    assert gone["listing_error"]["reason"] == "missing_file" and gone["source_uri"].endswith(".opus")


def test_mls_every_language_folder_name():
    from omnicorpus.corpus.librispeech import mls_language

    for name, code in (("mls_english", "en"), ("mls_german", "de"), ("mls_dutch", "nl"), ("mls_french", "fr"),
                       ("mls_spanish", "es"), ("mls_italian", "it"), ("mls_portuguese", "pt"),
                       ("mls_polish", "pl")):
        assert mls_language(name) == (code, False)
        assert mls_language(name + "_opus") == (code, True)
    assert mls_language("mls_lm_german") is None and mls_language("mls") is None and mls_language("german") is None


def test_not_a_librispeech_tree(tmp_path):
    write(tmp_path / "stuff" / "notes.txt", "hello")
    with pytest.raises(ValueError, match="trans.txt"):
        listed(tmp_path / "stuff")


# --- ignored files of the other adapters ---------------------------------------------------------------

CV_HEADER = ("client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\t"
             "accents\tvariant\tlocale\tsegment\n")


def test_common_voice_ignored_files(tmp_path):
    root = tmp_path / "cv-corpus-17.0-2024-03-15"
    loc = root / "sv-SE"
    row = "c1\tcommon_voice_sv-SE_1.mp3\tsid\tHej då\t\t2\t0\t\t\t\t\tsv-SE\t\n"
    for name in ("train.tsv", "validated.tsv"):
        write(loc / name, CV_HEADER + row)
    for name in ("dev.tsv", "test.tsv", "other.tsv", "invalidated.tsv", "reported.tsv"):
        write(loc / name, CV_HEADER)
    write(loc / "clip_durations.tsv", "clip\tduration[ms]\ncommon_voice_sv-SE_1.mp3\t4000\n")
    write(loc / "validated_sentences.tsv", "sentence_id\tsentence\tsentence_domain\tsource\tis_used\tclip_count\n")
    write(loc / "unvalidated_sentences.tsv", "sentence_id\tsentence\tsentence_domain\tsource\n")
    write(loc / "times.txt", "0.1\n")
    write(loc / "clips" / "common_voice_sv-SE_1.mp3", b"ID3")
    write(loc / "clips" / "common_voice_sv-SE_2.mp3", b"ID3")  # in no split TSV: audio, not ignored
    table = listed(root, name="cv", layout="common_voice")
    assert table.num_rows == 1 and ignored_files(table).count == 0
    write(loc / "clips" / "thumbs.db", b"x")
    write(loc / "notes.pdf", b"%PDF")
    write(root / "cover.jpg", b"\xff\xd8")
    ign = ignored_files(listed(root, name="cv", layout="common_voice"))
    assert ign.count == 3
    assert set(ign.examples) == {"sv-SE/clips/thumbs.db", "sv-SE/notes.pdf", "cover.jpg"}


def test_fleurs_ignored_files(tmp_path):
    root = tmp_path / "fleurs" / "data"
    lang = root / "af_za"
    write(lang / "train.tsv", "1\t1.wav\tHallo daar.\thallo daar\th a l l o |\t16000\tFEMALE\n")
    write(lang / "dev.tsv", "")
    write(lang / "test.tsv", "")
    wav(lang / "audio" / "train" / "1.wav", rate=16000)
    write(lang / "audio" / "train.tar.gz", b"\x1f\x8b")
    table = listed(root, name="fleurs", layout="fleurs")
    assert table.num_rows == 1 and ignored_files(table).count == 0
    write(lang / "audio" / "train" / "1.txt", "Hallo daar.")
    write(lang / "x.doc", b"doc")
    ign = ignored_files(listed(root, name="fleurs", layout="fleurs"))
    assert ign.count == 2 and set(ign.examples) == {"af_za/audio/train/1.txt", "af_za/x.doc"}


def test_hf_parquet_ignored_files(tmp_path):
    root = tmp_path / "omnilingual"
    audio = pa.array([{"bytes": b"fLaC", "path": "0.flac"}], pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    path = root / "data" / "swh_Latn" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"audio": audio, "raw_text": ["habari"]}), path)
    write(root / "README.md", "---\nlicense: cc-by-4.0\n---\n")
    write(root / ".gitattributes", "*.parquet filter=lfs\n")
    write(root / ".cache" / "huggingface" / "download" / "data" / "x.parquet.metadata", "abc\n")
    table = listed(root, name="hf", layout="hf_parquet")
    assert table.num_rows == 1 and ignored_files(table).count == 0
    write(root / "data" / "swh_Latn" / "notes.pdf", b"%PDF")
    ign = ignored_files(listed(root, name="hf", layout="hf_parquet"))
    assert ign.count == 1 and ign.examples == ("data/swh_Latn/notes.pdf",)


def test_layout_auto_detects_libritts_and_mls(tmp_path):
    from omnicorpus.corpus.registry import detect_layout

    assert detect_layout(str(libritts(tmp_path / "LibriTTS"))) == "librispeech"
    assert detect_layout(str(mls(tmp_path / "mls" / "mls_german", MLS_GERMAN).parent)) == "librispeech"
