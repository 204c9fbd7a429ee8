"""Tests for the synthesized sample corpus (real espeak-ng synthesis and real encoders, no mocks).

The session fixture ``sample_corpus_build`` builds the corpus once (scale 1, seed 0) and yields
``(out_dir, manifest)``; ``corpus_dir`` and ``manifest`` unpack it.  (tests/conftest.py has its own
``sample_corpus`` fixture for the other modules; this module does not depend on it.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from omnicorpus.corpus.sample_corpus import (
    COMMUNITY_HEADER,
    CV_HEADER,
    SENTENCES_PATH,
    build_sample_corpus,
    load_udhr_sentences,
)

pytestmark = pytest.mark.skipif(
    any(shutil.which(p) is None for p in ("espeak-ng", "lame", "opusenc")),
    reason="espeak-ng, lame and opusenc are needed to synthesize the sample corpus",
)

AUDIO_EXT = {".wav", ".flac", ".mp3", ".opus"}
SCRIPT_PREFIX = {  # what unicodedata names the letters of each ISO 15924 script
    "Latn": ("LATIN",), "Cyrl": ("CYRILLIC",), "Arab": ("ARABIC",), "Deva": ("DEVANAGARI",),
    "Hans": ("CJK",), "Hant": ("CJK",), "Grek": ("GREEK",), "Hebr": ("HEBREW",), "Geor": ("GEORGIAN",),
    "Armn": ("ARMENIAN",), "Beng": ("BENGALI",), "Taml": ("TAMIL",), "Thai": ("THAI",),
    "Hang": ("HANGUL",), "Jpan": ("CJK", "HIRAGANA", "KATAKANA"),
}


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def sample_corpus_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample_corpus")
    calls: list[tuple[int, int]] = []
    manifest = build_sample_corpus(out, scale=1, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1] and calls[0][0] == 0
    return out, manifest


@pytest.fixture(scope="session")
def corpus_dir(sample_corpus_build: tuple[Path, dict]) -> Path:
    return sample_corpus_build[0]


@pytest.fixture(scope="session")
def manifest(sample_corpus_build: tuple[Path, dict]) -> dict:
    return sample_corpus_build[1]


def _bad(manifest: dict, reason: str | None, what: str = "") -> dict:
    hits = [b for b in manifest["bad_items"] if b["expect_reason"] == reason and what in b["what"]]
    assert len(hits) == 1, (reason, what, hits)
    return hits[0]


# ---------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_is_byte_identical(corpus_dir: Path, tmp_path: Path) -> None:
    again = build_sample_corpus(tmp_path / "again", scale=1, seed=0)
    a, b = _hashes(corpus_dir), _hashes(tmp_path / "again")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert again == json.loads((corpus_dir / "MANIFEST.json").read_text(encoding="utf-8"))


def test_different_seed_differs(corpus_dir: Path, manifest: dict, tmp_path: Path) -> None:
    other = build_sample_corpus(tmp_path / "seed1", scale=1, seed=1)
    a, b = _hashes(corpus_dir), _hashes(tmp_path / "seed1")
    audio_a = {h for k, h in a.items() if Path(k).suffix in AUDIO_EXT}
    audio_b = {h for k, h in b.items() if Path(k).suffix in AUDIO_EXT}
    assert len(audio_a & audio_b) <= 2  # at most the empty file and the text file named .wav
    assert a["common_voice/ru/train.tsv"] != b["common_voice/ru/train.tsv"]
    assert manifest["longform_speech"] != other["longform_speech"]
    assert other["seed"] == 1 and other["languages"] == manifest["languages"]


def test_idempotent_rebuild_returns_existing_manifest(corpus_dir: Path, manifest: dict) -> None:
    before = (corpus_dir / "MANIFEST.json").stat().st_mtime_ns
    assert build_sample_corpus(corpus_dir, scale=1, seed=0) == manifest
    assert (corpus_dir / "MANIFEST.json").stat().st_mtime_ns == before


def test_missing_espeak_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RuntimeError, match="espeak-ng"):
        build_sample_corpus(tmp_path / "corpus")


def test_no_leftover_temporary_files(corpus_dir: Path) -> None:
    assert [p for p in corpus_dir.rglob(".*.tmp")] == []


def test_audio_is_unique_except_documented_duplicates(corpus_dir: Path, manifest: dict) -> None:
    by_hash: dict[str, list[str]] = {}
    for rel, h in _hashes(corpus_dir).items():
        if Path(rel).suffix in AUDIO_EXT and (corpus_dir / rel).stat().st_size > 0:
            by_hash.setdefault(h, []).append(rel)
    dups = {tuple(sorted(v)) for v in by_hash.values() if len(v) > 1}
    documented = {tuple(sorted((b["path"], b["duplicate_of"]))) for b in manifest["bad_items"]
                  if "duplicate_of" in b}
    assert dups == documented and len(documented) == 3


# ---------------------------------------------------------------------------------------------------
# Text and manifest


def test_udhr_sentences_tsv() -> None:
    raw = SENTENCES_PATH.read_bytes().decode("utf-8")
    assert raw.splitlines()[0] == "language\tespeak_voice\tsentence"
    sentences = load_udhr_sentences()
    by_lang: dict[str, set[str]] = {}
    for s in sentences:
        assert re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", s.language)
        assert s.text == s.text.strip() and "\t" not in s.text and len(s.text) < 250
        by_lang.setdefault(s.language, set()).add(s.text)
        prefixes = SCRIPT_PREFIX[s.language.split("_")[1]]
        letters = [c for c in s.text if unicodedata.category(c).startswith("L")]
        assert letters and all(unicodedata.name(c).startswith(prefixes) for c in letters), s
    assert len(by_lang) >= 26
    assert len({lang.split("_")[1] for lang in by_lang}) >= 8
    assert all(len(v) >= 6 for v in by_lang.values()), {k: len(v) for k, v in by_lang.items()}


def test_manifest_languages_and_scripts(manifest: dict) -> None:
    tsv_langs = {s.language for s in load_udhr_sentences()}
    assert len(manifest["languages"]) >= 24
    assert len(manifest["scripts"]) >= 6
    assert set(manifest["languages"]) <= tsv_langs
    assert manifest["scripts"] == sorted({lang.split("_")[1] for lang in manifest["languages"]})
    per_lang: dict[str, set[str]] = {}
    for s in load_udhr_sentences():
        per_lang.setdefault(s.language, set()).add(s.text)
    for lang in manifest["languages"]:
        assert len(per_lang[lang]) >= 5, lang


def test_manifest_shape(corpus_dir: Path, manifest: dict) -> None:
    on_disk = (corpus_dir / "MANIFEST.json").read_text(encoding="utf-8")
    assert on_disk == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert manifest["generator"] == "omnicorpus sample-corpus"
    assert (manifest["scale"], manifest["seed"]) == (1, 0)
    names = [s["name"] for s in manifest["sources"]]
    assert names == ["cv", "fleurs", "librispeech", "kaldi", "longform", "community", "omnilingual", "speechbrain"]
    for s in manifest["sources"]:
        assert set(s) == {"name", "layout", "path", "license", "language", "labelled"}
        assert (corpus_dir / s["path"]).is_dir()
        assert s["labelled"] == (s["name"] != "longform")
    assert {s["name"]: s["language"] for s in manifest["sources"]}["librispeech"] is None, "the layout implies it"
    assert set(manifest["items"]) == set(names) == set(manifest["seconds"])
    total = sum(manifest["seconds"].values())
    assert 8 * 60 <= total <= 20 * 60, total


def test_config_yaml(corpus_dir: Path, manifest: dict) -> None:
    import yaml

    text = (corpus_dir / "omnicorpus.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Sample corpus written by `omnicorpus sample-corpus` (seed 0, scale 1)\n")
    config = yaml.safe_load(text)
    assert list(config) == ["sources"]
    expected = [{k: v for k, v in s.items() if v is not None} for s in manifest["sources"]]
    assert config["sources"] == expected
    for s in config["sources"]:
        assert (corpus_dir / s["path"]).is_dir()


# ---------------------------------------------------------------------------------------------------
# Layouts


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_common_voice_layout(corpus_dir: Path, manifest: dict) -> None:
    root = corpus_dir / "common_voice"
    bad_paths = {b["path"] for b in manifest["bad_items"] if b["source"] == "cv"}
    locales = sorted(p.name for p in root.iterdir())
    assert {"sv-SE", "zh-TW", "ru", "es"} <= set(locales) and len(locales) >= 8
    for locale in locales:
        split_rows = []
        for split in ("train", "dev", "test"):
            rows = _read_tsv(root / locale / f"{split}.tsv")
            assert tuple(rows[0]) == CV_HEADER
            assert len(rows) > 1, (locale, split)
            split_rows += rows[1:]
        validated = _read_tsv(root / locale / "validated.tsv")
        assert tuple(validated[0]) == CV_HEADER
        assert sorted(map(tuple, validated[1:])) == sorted(map(tuple, split_rows))
        for row in split_rows:
            assert len(row) == len(CV_HEADER)
            client_id, path, sentence_id, sentence = row[:4]
            assert re.fullmatch(r"[0-9a-f]{128}", client_id)
            assert re.fullmatch(r"[0-9a-f]{64}", sentence_id) and sentence
            assert re.fullmatch(rf"common_voice_{re.escape(locale)}_\d+\.mp3", path)
            assert row[11] == locale
            clip = root / locale / "clips" / path
            assert clip.is_file()
            if f"common_voice/{locale}/clips/{path}" not in bad_paths:
                info = sf.info(str(clip))
                assert info.samplerate in (48000, 32000) and info.channels == 1 and info.duration > 1


def test_fleurs_layout(corpus_dir: Path, manifest: dict) -> None:
    root = corpus_dir / "fleurs"
    codes = sorted(p.name for p in root.iterdir())
    assert {"en_us", "hi_in", "cmn_hans_cn", "ja_jp", "de_de", "fr_fr"} <= set(codes)
    not_utf8 = _bad(manifest, "transcript_not_utf8")
    for code in codes:
        for split in ("train", "dev", "test"):
            tsv = root / code / f"{split}.tsv"
            for raw in tsv.read_bytes().splitlines():
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    assert not_utf8["listed_in"] == tsv.relative_to(corpus_dir).as_posix()
                    line = raw.decode(not_utf8["encoding"])
                row = line.split("\t")
                assert len(row) == 7, row
                sid, name, raw_text, norm, chars, num_samples, gender = row
                assert sid.isdigit() and name.endswith(".wav") and raw_text
                assert norm == norm.lower() and chars.endswith("|")
                assert chars.replace(" ", "").replace("|", "") == norm.replace(" ", "")
                assert gender in ("MALE", "FEMALE")
                info = sf.info(str(root / code / "audio" / split / name))
                assert info.samplerate == 16000 and info.channels == 1
                assert info.frames == int(num_samples)


def test_librispeech_layout(corpus_dir: Path) -> None:
    root = corpus_dir / "librispeech"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["dev-clean", "test-clean",
                                                                     "train-clean-100"]
    n_lines = 0
    for trans in root.rglob("*.trans.txt"):
        spk, ch = trans.name[: -len(".trans.txt")].split("-")
        assert trans.parent.name == ch and trans.parent.parent.name == spk
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, text = line.split(" ", 1)
            assert re.fullmatch(rf"{spk}-{ch}-\d{{4}}", utt)
            assert text == text.upper() and re.fullmatch(r"[A-Z' ]+", text)
            flac = trans.parent / f"{utt}.flac"
            assert flac.is_file()
            info = sf.info(str(flac))
            assert info.format == "FLAC" and info.samplerate == 16000 and info.channels == 1
            n_lines += 1
    assert n_lines >= 6
    for flac in root.rglob("*.flac"):
        assert re.fullmatch(r"\d+-\d+-\d{4}\.flac", flac.name)


def test_kaldi_layout(corpus_dir: Path, manifest: dict) -> None:
    """A recipe folder as Kaldi's recipes leave it: s5/data/<dir>/ with wav.scp lines that pipe the audio
    through sox, paths relative to s5/ (where Kaldi runs its scripts)."""
    recipe = corpus_dir / "kaldi" / "egs" / "sample_hindi" / "s5"
    dirs = [p for p in (recipe / "data").iterdir() if p.is_dir() and p.name != "local"]
    assert len(dirs) == 1
    d = dirs[0]

    def table(name: str) -> dict[str, str]:
        lines = (d / name).read_text(encoding="utf-8").splitlines()
        assert lines == sorted(lines), name  # Kaldi wants C-sorted files
        return dict(line.split(" ", 1) for line in lines)

    names = ("wav.scp", "segments", "text", "utt2spk", "spk2utt")
    wav_scp, segments, text, utt2spk, spk2utt = (table(n) for n in names)
    assert text and set(text) == set(segments) == set(utt2spk)
    assert {u for us in spk2utt.values() for u in us.split()} == set(utt2spk)
    durations = {}
    for reco, command in wav_scp.items():
        sox, rel, *options, dash, pipe = command.split()
        assert (sox, options, dash, pipe) == ("sox", ["-t", "wav", "-r", "16k", "-b", "16", "-e", "signed"], "-", "|")
        info = sf.info(str(recipe / rel))  # relative to the recipe folder
        assert info.samplerate == 44100 and info.channels == 2
        durations[reco] = info.duration
    per_reco: Counter[str] = Counter()
    for utt, seg in segments.items():
        reco, start, end = seg.split()
        assert reco in wav_scp and utt.startswith(utt2spk[utt])
        assert 0 <= float(start) < float(end) <= durations[reco]
        per_reco[reco] += 1
    assert min(per_reco.values()) >= 2
    hindi = [t for t in text.values() if any("DEVANAGARI" in unicodedata.name(c, "") for c in t)]
    assert len(hindi) == len(text)
    assert {s["name"]: s["language"] for s in manifest["sources"]}["kaldi"] == "hi"


def test_longform_layout(corpus_dir: Path, manifest: dict) -> None:
    root = corpus_dir / "longform"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert {p.parent.name for p in files} >= {"und"} and len({p.parent.name for p in files}) >= 3
    formats = set()
    for p in files:
        info = sf.info(str(p))
        rel = p.relative_to(corpus_dir).as_posix()
        assert info.duration >= 60, rel
        formats.add((p.suffix, info.samplerate, info.channels))
        spans = manifest["longform_speech"][rel]
        assert len(spans) >= 5
        for (a, b), (c, _) in zip(spans, spans[1:], strict=False):
            assert 0 <= a < b and c - b >= 0.29  # pauses of at least 0.3 s
        assert spans[-1][1] <= info.duration
        speech = sum(b - a for a, b in spans)
        assert 0.3 * info.duration < speech < 0.9 * info.duration
    suffixes = {f[0] for f in formats}
    assert suffixes == {".flac", ".opus", ".wav", ".mp3"}
    assert (".wav", 44100, 2) in formats and (".flac", 22050, 1) in formats and (".opus", 48000, 1) in formats
    assert set(manifest["longform_speech"]) == {p.relative_to(corpus_dir).as_posix() for p in files}


def test_longform_speech_spans_hold_speech(corpus_dir: Path, manifest: dict) -> None:
    rel = next(k for k in manifest["longform_speech"] if k.endswith(".flac"))
    x, sr = sf.read(str(corpus_dir / rel), dtype="float32")
    inside = np.zeros(len(x), dtype=bool)
    for a, b in manifest["longform_speech"][rel]:
        inside[int(a * sr): int(b * sr)] = True
    rms_in = float(np.sqrt(np.mean(x[inside] ** 2)))
    # outside the spans there is only background noise and music, both much quieter on average
    assert rms_in > 0.03
    assert float(np.abs(x[~inside]).min()) < 0.01


def test_community_layout(corpus_dir: Path) -> None:
    root = corpus_dir / "community"
    partners = sorted(p.name for p in root.iterdir())
    assert len(partners) == 2
    metas = sorted(root.glob("*/*/metadata.csv"))
    assert 2 <= len(metas) <= 3
    empty = filled = 0
    langs = set()
    for meta in metas:
        with open(meta, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == COMMUNITY_HEADER
        for row in rows[1:]:
            rec = dict(zip(COMMUNITY_HEADER, row, strict=True))
            assert (meta.parent / rec["file"]).is_file()
            assert rec["consent"] in ("yes", "no") and rec["license"] == "CC-BY-4.0"
            assert rec["partner"] == meta.parent.parent.name
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec["recording_date"])
            langs.add(rec["language"])
            empty += rec["transcript"] == ""
            filled += rec["transcript"] != ""
    assert 0 < empty < filled
    assert len(langs) >= 4


def test_omnilingual_parquet(corpus_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = corpus_dir / "omnilingual" / "data"
    langs = sorted(p.name for p in root.iterdir())
    assert 2 <= len(langs) <= 3
    for lang in langs:
        assert sorted(p.name for p in (root / lang).iterdir()) == [
            f"{s}-00000-of-00001.parquet" for s in ("dev", "test", "train")]
        for path in (root / lang).iterdir():
            table = pq.read_table(path)
            assert table.schema.names == ["id", "audio", "raw_text", "language", "speaker_id"]
            assert table.schema.field("id").type == pa.string()
            assert table.schema.field("audio").type == pa.struct([("bytes", pa.binary()),
                                                                  ("path", pa.string())])
            for name in ("raw_text", "language", "speaker_id"):
                assert table.schema.field(name).type == pa.string()
            assert table.num_rows >= 1
            for row in table.to_pylist():
                assert row["language"] == lang and row["raw_text"] and row["id"]
                info = sf.info(io.BytesIO(row["audio"]["bytes"]))
                assert info.format == "FLAC" and info.samplerate == 16000 and info.duration > 1


# ---------------------------------------------------------------------------------------------------
# Item counts and bad items


def _count_items(corpus_dir: Path) -> dict[str, int]:
    counts = {}
    cv = corpus_dir / "common_voice"
    counts["cv"] = sum(len(_read_tsv(t)) - 1 for loc in cv.iterdir() for t in
                       (loc / "train.tsv", loc / "dev.tsv", loc / "test.tsv"))
    counts["fleurs"] = sum(len(t.read_bytes().splitlines()) for t in (corpus_dir / "fleurs").glob("*/*.tsv"))
    counts["librispeech"] = sum(len(t.read_text(encoding="utf-8").splitlines())
                                for t in (corpus_dir / "librispeech").rglob("*.trans.txt"))
    counts["kaldi"] = sum(len(t.read_text(encoding="utf-8").splitlines())
                          for t in (corpus_dir / "kaldi").rglob("data/*/text"))
    counts["longform"] = sum(1 for p in (corpus_dir / "longform").rglob("*") if p.is_file())
    counts["community"] = sum(len(t.read_text(encoding="utf-8").splitlines()) - 1
                              for t in (corpus_dir / "community").glob("*/*/metadata.csv"))
    import pyarrow.parquet as pq

    counts["omnilingual"] = sum(pq.read_metadata(p).num_rows
                                for p in (corpus_dir / "omnilingual").rglob("*.parquet"))
    counts["speechbrain"] = sum(len(t.read_text(encoding="utf-8").splitlines()) - 1
                                for t in (corpus_dir / "speechbrain").glob("*.csv"))
    return counts


def test_speechbrain_layout(corpus_dir: Path, manifest: dict) -> None:
    """CSVs as SpeechBrain's prepare scripts write them, with its $data_root placeholder; one AIFF clip."""
    root = corpus_dir / "speechbrain"
    rows = []
    for split in ("train", "dev", "test"):
        with open(root / f"{split}.csv", newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            assert next(reader) == ["ID", "duration", "wav", "spk_id", "wrd"]
            rows += list(reader)
    assert len(rows) == manifest["items"]["speechbrain"] >= 3
    for utt, duration, wav, spk, words in rows:
        assert wav.startswith("$data_root/") and utt.startswith(spk) and words
        info = sf.info(str(root / wav[len("$data_root/"):]))
        assert abs(info.duration - float(duration)) < 0.01
    assert sum(wav.endswith(".aiff") for _, _, wav, _, _ in rows) == 1


def test_item_counts_match_files(corpus_dir: Path, manifest: dict) -> None:
    assert _count_items(corpus_dir) == manifest["items"]


def test_bad_items_are_documented_once(manifest: dict) -> None:
    reasons = Counter((b["expect_stage"], b["expect_reason"]) for b in manifest["bad_items"])
    assert reasons == Counter({
        ("ingest", "empty_file"): 1, ("ingest", "decode_error"): 2, (None, None): 1,
        ("segment", "no_speech"): 1, ("ingest", "transcript_not_utf8"): 1,
        ("ingest", "unknown_language"): 1, ("langid", "lid_mismatch"): 1, ("dedup", "split_leak"): 1,
        ("dedup", "transcript_conflict"): 1, ("dedup", "duplicate"): 1, ("community", "no_consent"): 1,
    })
    sources = {s["name"] for s in manifest["sources"]}
    for b in manifest["bad_items"]:
        assert b["source"] in sources and b["path"].startswith(
            next(s["path"] for s in manifest["sources"] if s["name"] == b["source"]) + "/")


def _listed(corpus_dir: Path, bad: dict) -> bytes:
    """The raw line of the list file that names the bad item's file."""
    name = Path(bad["path"]).name
    stem = Path(bad["path"]).stem
    lines = [ln for ln in (corpus_dir / bad["listed_in"]).read_bytes().splitlines()
             if name.encode() in ln or ln.startswith(stem.encode() + b" ")]
    assert len(lines) == 1, (bad, lines)
    return lines[0]


def test_bad_item_properties(corpus_dir: Path, manifest: dict) -> None:
    for b in manifest["bad_items"]:
        assert (corpus_dir / b["path"]).is_file(), b
        _listed(corpus_dir, b)

    empty = _bad(manifest, "empty_file")
    assert (corpus_dir / empty["path"]).stat().st_size == 0

    truncated = _bad(manifest, "decode_error", "FLAC")
    path = corpus_dir / truncated["path"]
    data = path.read_bytes()
    assert data[:4] == b"fLaC"
    info = sf.info(str(path))  # STREAMINFO still promises the full length
    assert info.frames > 0
    full = truncated.get("full_bytes")
    assert full and abs(len(data) / full - 0.6) < 0.01
    with pytest.raises(sf.LibsndfileError):
        sf.read(str(path))

    text_wav = _bad(manifest, "decode_error", "text")
    raw = (corpus_dir / text_wav["path"]).read_bytes()
    assert text_wav["path"].endswith(".wav") and raw[:4] != b"RIFF" and raw.decode("ascii")
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(corpus_dir / text_wav["path"]))

    multi = _bad(manifest, None)
    assert multi["note"] == "accepted" and multi["expect_stage"] is None
    info = sf.info(str(corpus_dir / multi["path"]))
    assert (info.samplerate, info.channels) == (96000, 8) and info.duration > 1
    x, _ = sf.read(str(corpus_dir / multi["path"]), dtype="float32")
    assert np.abs(x[:, 0]).max() > 0.1

    silence = _bad(manifest, "no_speech")
    x, _ = sf.read(str(corpus_dir / silence["path"]), dtype="int16")
    assert len(x) > 16000 and not x.any()
    trans_line = _listed(corpus_dir, silence).decode("utf-8")
    assert len(trans_line.split(" ", 1)[1]) > 10  # it has a transcript

    not_utf8 = _bad(manifest, "transcript_not_utf8")
    raw_line = _listed(corpus_dir, not_utf8)
    with pytest.raises(UnicodeDecodeError):
        raw_line.decode("utf-8")
    assert len(raw_line.decode(not_utf8["encoding"]).split("\t")) == 7

    unknown = _bad(manifest, "unknown_language")
    row = next(csv.reader([_listed(corpus_dir, unknown).decode("utf-8")]))
    assert row[1] == "xx-XX" and row[3]

    mismatch = _bad(manifest, "lid_mismatch")
    assert mismatch["path"].startswith("fleurs/de_de/")
    row = _listed(corpus_dir, mismatch).decode("utf-8").split("\t")
    english = {s.text for s in load_udhr_sentences() if s.language == "eng_Latn"}
    assert row[2] in english

    # The copy expected to go is always the train one: across splits the held-out copy stays.
    for reason, kept_split in (("split_leak", "dev"), ("transcript_conflict", "test"), ("duplicate", "train")):
        dup = _bad(manifest, reason)
        kept = dup["duplicate_of"]
        assert Path(dup["path"]).parent == Path(kept).parent
        assert (corpus_dir / dup["path"]).read_bytes() == (corpus_dir / kept).read_bytes()
        assert dup["listed_in"].endswith("/train.tsv")
        dup_row = _listed(corpus_dir, dup).decode("utf-8").split("\t")
        kept_listed = (Path(kept).parent.parent / f"{kept_split}.tsv").as_posix()
        kept_row = _listed(corpus_dir, {"path": kept, "listed_in": kept_listed}).decode("utf-8").split("\t")
        assert (dup_row[3] == kept_row[3]) == (reason != "transcript_conflict")
        if reason == "duplicate":
            assert Path(dup["path"]).name > Path(kept).name

    no_consent = _bad(manifest, "no_consent")
    row = next(csv.reader([_listed(corpus_dir, no_consent).decode("utf-8")]))
    assert row[4] == "no"
