"""The Kaldi adapter on data dirs written the way Kaldi's recipes and Lhotse's exporter write them, and
corpus.commands (rxfilenames, decoder pipes read directly, other commands run without a shell).

Each fixture copies the output format of the script that writes it (the script is named next to it):
egs/librispeech/s5/local/data_prep.sh, egs/swbd/s5c/local/swbd1_data_prep.sh,
egs/timit/s5/local/timit_data_prep.sh, egs/commonvoice/s5/local/data_prep.pl (kaldi-asr/kaldi), and
lhotse.kaldi.export_to_kaldi itself (lhotse 1.33.0) when lhotse is installed. Audio is real: FLAC,
WAV, MP3 and NIST SPHERE files made with soundfile and sox.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from omnicorpus.corpus import commands, kaldi
from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.commands import ARK, COMMAND, FILE, PIPE, CommandError, parse_rxfilename, run_command
from omnicorpus.corpus.listing import ignored_files
from omnicorpus.corpus.registry import list_source
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import item_id
from omnicorpus.manifests.languages import UnknownLanguageError, to_language
from omnicorpus.manifests.schema import SOURCE_ITEMS, problem_text

RATE = 16000


# --- helpers -----------------------------------------------------------------------------------------

def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _tone(freq: float, seconds: float, amp: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _audio(path: Path, samples: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, RATE, format=fmt, subtype="PCM_16" if fmt != "MP3" else None)
    return path


def _sphere(path: Path, samples: np.ndarray, *sox_opts: str) -> Path:
    """A NIST SPHERE file made by sox from a 16-bit WAV of `samples` (frames x channels)."""
    _need("sox")
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".src.wav")
    sf.write(wav, samples, RATE, subtype="PCM_16")
    subprocess.run(["sox", str(wav), "-t", "sph", *sox_opts, str(path)], check=True, capture_output=True)
    wav.unlink()
    return path


def _source(path: Path, name: str = "k", **kw) -> SourceConfig:
    return SourceConfig(name=name, layout="kaldi", path=str(path), license="CC-BY-4.0", **kw)


def _check(table: pa.Table, source: SourceConfig) -> list[dict]:
    """Schema, unique ids hashing (place in the source, offsets, channel), stability."""
    assert table.schema.equals(SOURCE_ITEMS)
    rows = table.to_pylist()
    root = Path(source.path).resolve()
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids))
    for r in rows:
        uri = Path(r["source_uri"])
        location = uri.relative_to(root).as_posix() if uri.is_relative_to(root) else r["source_uri"]
        assert r["item_id"] == item_id(source.name, location, r["start"], r["end"], r["channel"])
        assert r["layout"] == "kaldi"
        if r["meta"] is not None:
            assert isinstance(json.loads(r["meta"]), dict)
    assert kaldi.list_items(source).equals(table)
    return rows


def _by_utt(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for r in rows:
        meta = json.loads(r["meta"])
        out[meta["utterance"]] = {**r, "meta": meta}
    return out


def _read(r: dict) -> bytes:
    return Path(r["source_uri"]).read_bytes()


# --- LibriSpeech (egs/librispeech/s5/local/data_prep.sh) --------------------------------------------

def _librispeech(tmp_path: Path) -> tuple[Path, Path]:
    """LibriSpeech/dev-clean/<reader>/<chapter>/*.flac + trans.txt + SPEAKERS.TXT, and the recipe's data
    dir made from it exactly as data_prep.sh writes it."""
    corpus = tmp_path / "LibriSpeech"
    src = corpus / "dev-clean"
    _write(corpus / "SPEAKERS.TXT", ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
                                    "84   | F | dev-clean        | 8.02 | Christie Nowak\n"
                                    "174  | M | dev-clean        | 8.04 | Peter Eastman\n")
    chapters = {("84", "121"): ["HELLO WORLD", "A SECOND LINE"], ("174", "50561"): ["THE THIRD ONE"]}
    for k, ((reader, chapter), lines) in enumerate(chapters.items()):
        d = src / reader / chapter
        for i, _ in enumerate(lines):
            _audio(d / f"{reader}-{chapter}-{i:04d}.flac", _tone(200 + 100 * k + 50 * i, 0.5))
        _write(d / f"{reader}-{chapter}.trans.txt",
               "".join(f"{reader}-{chapter}-{i:04d} {t}\n" for i, t in enumerate(lines)))
    s5 = tmp_path / "egs" / "librispeech" / "s5"
    dst = s5 / "data" / "dev_clean"
    dst.mkdir(parents=True)
    wav_scp, text, utt2spk, spk2gender = [], [], [], []
    genders = {line.split("|")[0].strip(): line.split("|")[1].strip().lower()
               for line in (corpus / "SPEAKERS.TXT").read_text().splitlines() if not line.startswith(";")}
    for reader_dir in sorted(p for p in src.iterdir() if p.is_dir()):  # find -L $src -mindepth 1 ... | sort
        reader = reader_dir.name
        for chapter_dir in sorted(p for p in reader_dir.iterdir() if p.is_dir()):
            chapter = chapter_dir.name
            for flac in sorted(chapter_dir.glob("*.flac")):
                # awk -v "dir=$chapter_dir" '{printf "lbi-%s flac -c -d -s %s/%s.flac |\n", $0, dir, $0}'
                wav_scp.append(f"lbi-{flac.stem} flac -c -d -s {chapter_dir}/{flac.stem}.flac |\n")
            trans = (chapter_dir / f"{reader}-{chapter}.trans.txt").read_text().splitlines()
            text += [f"lbi-{line}\n" for line in trans]  # sed -e 's/^/lbi\-/'
            # awk '{printf "lbi-%s lbi-%s-%s\n", $1, reader, chapter}'
            utt2spk += [f"lbi-{line.split()[0]} lbi-{reader}-{chapter}\n" for line in trans]
            spk2gender.append(f"lbi-{reader}-{chapter} {genders[reader]}\n")
    _write(dst / "wav.scp", "".join(wav_scp))
    _write(dst / "text", "".join(text))
    _write(dst / "utt2spk", "".join(utt2spk))
    _write(dst / "spk2gender", "".join(spk2gender))
    spk2utt: dict[str, list[str]] = {}  # utils/utt2spk_to_spk2utt.pl
    for line in utt2spk:
        utt, spk = line.split()
        spk2utt.setdefault(spk, []).append(utt)
    _write(dst / "spk2utt", "".join(f"{s} {' '.join(u)}\n" for s, u in spk2utt.items()))
    return src, s5


def test_librispeech_recipe_flac_pipes(tmp_path):
    src, s5 = _librispeech(tmp_path)
    assert (s5 / "data/dev_clean/wav.scp").read_text().splitlines()[0] == (
        f"lbi-174-50561-0000 flac -c -d -s {src}/174/50561/174-50561-0000.flac |")
    source = _source(s5 / "data", language="en")
    table = kaldi.list_items(source)
    rows = _check(table, source)
    assert len(rows) == 3
    r = _by_utt(rows)
    one = r["lbi-84-121-0000"]
    assert one["source_uri"] == str((src / "84/121/84-121-0000.flac").resolve())
    assert one["listing_error"] is None and one["channel"] is None and one["start"] is None
    assert one["raw_text"] == "HELLO WORLD" and one["speaker_raw"] == "lbi-84-121" and one["split"] == "dev"
    assert one["meta"] == {"data_dir": "dev_clean", "recording": "lbi-84-121-0000", "utterance": "lbi-84-121-0000",
                           "rxfilename": f"flac -c -d -s {src}/84/121/84-121-0000.flac |", "decoder": "flac"}
    assert r["lbi-174-50561-0000"]["raw_text"] == "THE THIRD ONE"
    assert ignored_files(table).count == 0  # spk2utt, spk2gender are standard files
    # the file is what `flac -c -d -s` decodes
    audio = decode_audio(_read(one))
    assert audio.num_samples == RATE // 2 and audio.orig_codec == "flac"
    # the registry detects the layout and lists the same
    auto, layout = list_source(SourceConfig(name="k", layout="auto", path=str(s5 / "data"), license="CC-BY-4.0",
                                            language="en"))
    assert layout == "kaldi" and auto.equals(table)


def test_direct_read_matches_running_flac(tmp_path):
    _need("flac")
    src, s5 = _librispeech(tmp_path)
    line = (s5 / "data/dev_clean/wav.scp").read_text().splitlines()[1]
    rx = parse_rxfilename(line.split(" ", 1)[1])
    assert rx.kind == PIPE and rx.decoder == "flac"
    ran = run_command(rx.stages, str(s5), 30, 10**8)
    direct = decode_audio(Path(rx.path).read_bytes()).samples
    np.testing.assert_array_equal(decode_audio(ran).samples, direct)


# --- Switchboard (egs/swbd/s5c/local/swbd1_data_prep.sh) -------------------------------------------

SPH2PIPE = "/opt/kaldi/tools/sph2pipe_v2.5/sph2pipe"  # $KALDI_ROOT/tools/sph2pipe_v2.5/sph2pipe


def _switchboard(tmp_path: Path, *sox_opts: str) -> tuple[Path, Path, np.ndarray]:
    """A 2-channel SPHERE conversation (side A a 300 Hz tone, side B a quieter 1100 Hz tone plus
    silence) and the s5c data/train dir swbd1_data_prep.sh makes for it."""
    left = _tone(300, 1.0, 0.5)
    right = np.concatenate([_tone(1100, 0.5, 0.25), np.zeros(RATE // 2, np.float32)])
    stereo = np.stack([left, right], axis=1)
    sph = _sphere(tmp_path / "swb1" / "swb1_d1" / "data" / "sw02001.sph", stereo, *sox_opts)
    s5c = tmp_path / "egs" / "swbd" / "s5c"
    d = s5c / "data" / "train"
    # sed -e 's?.*/??' -e 's?.sph??' sph.flist | paste - sph.flist; then
    # awk -v sph2pipe=$sph2pipe '{printf("%s-A %s -f wav -p -c 1 %s |\n", $1, sph2pipe, $2);
    #                             printf("%s-B %s -f wav -p -c 2 %s |\n", $1, sph2pipe, $2);}' | sort
    _write(d / "wav.scp", "".join(sorted([f"sw02001-A {SPH2PIPE} -f wav -p -c 1 {sph} |\n",
                                          f"sw02001-B {SPH2PIPE} -f wav -p -c 2 {sph} |\n"])))
    # text: printf("%s-%s_%06.0f-%06.0f", name, side, int(100*stime+0.5), int(100*etime+0.5)) + words
    text = ["sw02001-A_000010-000090 hi um yeah", "sw02001-B_000005-000040 uh-huh right"]
    _write(d / "text", "".join(f"{t}\n" for t in text))
    # segments: print segment " " audioname "-" side " " startf/100 " " endf/100
    _write(d / "segments", "sw02001-A_000010-000090 sw02001-A 0.1 0.9\n"
                           "sw02001-B_000005-000040 sw02001-B 0.05 0.4\n")
    # reco2file_and_channel: print "$1-$2 $1 $2\n"
    _write(d / "reco2file_and_channel", "sw02001-A sw02001 A\nsw02001-B sw02001 B\n")
    # awk '{spk=substr($1,1,9); print $1 " " spk}' segments > utt2spk
    _write(d / "utt2spk", "sw02001-A_000010-000090 sw02001-A\nsw02001-B_000005-000040 sw02001-B\n")
    _write(d / "spk2utt", "sw02001-A sw02001-A_000010-000090\nsw02001-B sw02001-B_000005-000040\n")
    return sph, d, stereo


def test_switchboard_sides_are_channels(tmp_path):
    sph, d, stereo = _switchboard(tmp_path)
    source = _source(d, language="English")
    table = kaldi.list_items(source)
    rows = _check(table, source)
    r = _by_utt(rows)
    a, b = r["sw02001-A_000010-000090"], r["sw02001-B_000005-000040"]
    assert a["source_uri"] == b["source_uri"] == str(sph.resolve())
    assert (a["channel"], b["channel"]) == (0, 1)  # sph2pipe -c 1 / -c 2
    assert (a["start"], a["end"], b["start"], b["end"]) == (0.1, 0.9, 0.05, 0.4)
    assert a["listing_error"] is None and b["listing_error"] is None
    assert a["speaker_raw"] == "sw02001-A" and b["raw_text"] == "uh-huh right" and a["split"] == "train"
    assert a["meta"]["decoder"] == "sph2pipe" and a["meta"]["rxfilename"].startswith(SPH2PIPE + " -f wav -p -c 1 ")
    assert a["item_id"] != b["item_id"]
    assert to_language(a["language_raw"]) == "eng_Latn"
    assert ignored_files(table).count == 0  # reco2file_and_channel, spk2utt are standard
    # decoding the listed channel gives that side's audio, exactly (16-bit PCM SPHERE at 16 kHz)
    data = sph.read_bytes()
    for item, column in ((a, 0), (b, 1)):
        got = decode_audio(data, start=item["start"], end=item["end"], channel=item["channel"])
        lo, hi = round(item["start"] * RATE), round(item["end"] * RATE)
        want = np.round(stereo[lo:hi, column] * 32767).astype(np.int16) / np.float32(32768)
        np.testing.assert_allclose(got.samples, want, atol=1.5 / 32768)
        assert got.orig_channels == 2
    mixed = decode_audio(data, start=0.1, end=0.4).samples
    side_a = decode_audio(data, start=0.1, end=0.4, channel=0).samples
    assert np.abs(mixed - side_a).max() > 0.05  # the default mean is not side A


def test_switchboard_mu_law_sphere(tmp_path):
    sph, d, _ = _switchboard(tmp_path, "-e", "u-law")
    assert b"ulaw" in sph.read_bytes()[:1024]
    r = _by_utt(kaldi.list_items(_source(d, language="en")).to_pylist())
    data = sph.read_bytes()
    b = r["sw02001-B_000005-000040"]
    loud = decode_audio(data, start=0.05, end=0.4, channel=b["channel"])
    quiet = decode_audio(data, start=0.55, end=0.95, channel=b["channel"])
    assert loud.orig_codec == "ulaw" and float(np.sqrt(np.mean(loud.samples ** 2))) > 0.1
    assert float(np.abs(quiet.samples).max()) < 0.01  # side B is silent there, side A is not
    assert float(np.abs(decode_audio(data, start=0.55, end=0.95, channel=0).samples).max()) > 0.3


def test_lhotse_style_sph2pipe_chain_and_timit(tmp_path):
    """TIMIT's `$sph2pipe -f wav X |` (the awk program has the path spliced in) over a SPHERE file named
    .WAV, and Lhotse's `sph2pipe X -f wav -c N -p | ffmpeg ... pipe:1 |`."""
    sph = _sphere(tmp_path / "TIMIT" / "TRAIN" / "DR1" / "FAEM0" / "SI1392.WAV", _tone(440, 0.6)[:, None])
    sph2 = _sphere(tmp_path / "TIMIT" / "TRAIN" / "DR1" / "FAEM0" / "SA1.WAV", _tone(640, 0.6)[:, None])
    sph3 = _sphere(tmp_path / "TIMIT" / "TRAIN" / "DR1" / "FAEM0" / "SA2.WAV", _tone(840, 0.6)[:, None])
    d = tmp_path / "egs" / "timit" / "s5" / "data" / "train"
    # awk '{printf("%s '$sph2pipe' -f wav %s |\n", $1, $2);}' < ${x}_sph.scp > ${x}_wav.scp
    _write(d / "wav.scp", f"faem0_si1392 {SPH2PIPE} -f wav {sph} |\n"
                          f"faem0_sa1 sph2pipe {sph2} -f wav -c 1 -p | ffmpeg -threads 1 -i pipe:0 "
                          f"-ar 16000 -f wav -threads 1 pipe:1 |\n"
                          f"faem0_sa2 $sph2pipe -f wav -c 1 {sph3} |\n")
    _write(d / "text", "faem0_si1392 she had your dark suit\nfaem0_sa1 x\nfaem0_sa2 y\n")
    _write(d / "utt2spk", "faem0_si1392 faem0\nfaem0_sa1 faem0\nfaem0_sa2 faem0\n")
    # printf("%s 1 %s 0.0 %f <O,%s> %s\n", wav, spk, durH[wav], gender, ref) > stm
    _write(d / "stm", "faem0_si1392 1 faem0 0.0 0.600000 <O,f> she had your dark suit\n")
    _write(d / "glm", ";; empty\n")
    source = _source(d, language="en")
    table = kaldi.list_items(source)
    rows = _by_utt(_check(table, source))
    assert {u: (r["source_uri"], r["channel"], problem_text(r["listing_error"])) for u, r in rows.items()} == {
        "faem0_si1392": (str(sph.resolve()), None, None),
        "faem0_sa1": (str(sph2.resolve()), 0, None),
        "faem0_sa2": (str(sph3.resolve()), 0, None)}
    assert ignored_files(table).count == 0
    audio = decode_audio(sph.read_bytes(), channel=0)
    assert audio.orig_codec == "pcm_16" and audio.num_samples == round(0.6 * RATE)


# --- Common Voice (egs/commonvoice/s5/local/data_prep.pl) ------------------------------------------

def test_common_voice_recipe_sox_pipes(tmp_path):
    db_base = tmp_path / "cv_corpus_v1"
    rows_csv = [("cv-valid-train/sample-000000.mp3", "learn to recognize omens and follow them", "female"),
                ("cv-valid-train/sample-000001.mp3", "everything in the universe evolved he said", "male")]
    for i, (filepath, _, _) in enumerate(rows_csv):
        _audio(db_base / filepath, _tone(300 + 200 * i, 0.8), fmt="MP3")
    _write(db_base / "cv-valid-train.csv", "filename,text,up_votes,down_votes,age,gender,accent,duration\n" +
           "".join(f"{f},{t},1,0,,{g},," + "\n" for f, t, g in rows_csv))
    s5 = tmp_path / "egs" / "commonvoice" / "s5"
    out_dir = s5 / "data" / "valid_train"  # local/data_prep.pl $data cv-valid-train data/valid_train
    wav, text, spkr, gndr = [], [], [], []
    for filepath, sentence, gender in rows_csv:
        utt = filepath.replace(".mp3", "").replace("/", "-")  # $uttId =~ s/\.mp3//g; tr/\//-/
        text.append(f"{utt} {sentence.upper()}\n")  # tr/a-z/A-Z/
        gndr.append(f"{utt} {'f' if gender == 'female' else 'm'}\n")
        # print WAV "$uttId"," sox $db_base/$filepath -t wav -r 16k -b 16 -e signed - |\n";
        wav.append(f"{utt} sox {db_base}/{filepath} -t wav -r 16k -b 16 -e signed - |\n")
        spkr.append(f"{utt} {utt}\n")
    for name, lines in (("text", text), ("utt2gender", gndr), ("wav.scp", wav), ("utt2spk", spkr),
                        ("spk2utt", spkr)):
        _write(out_dir / name, "".join(lines))
    source = _source(s5, language="en")  # the recipe folder as the root: its data dirs are found
    table = kaldi.list_items(source)
    r = _by_utt(_check(table, source))
    one = r["cv-valid-train-sample-000000"]
    assert one["source_uri"] == str((db_base / "cv-valid-train/sample-000000.mp3").resolve())
    assert one["listing_error"] is None and one["channel"] is None and one["meta"]["decoder"] == "sox"
    assert one["raw_text"] == "LEARN TO RECOGNIZE OMENS AND FOLLOW THEM"
    assert one["split"] == "train"  # valid_train: "valid" is for validated clips
    assert ignored_files(table).count == 0  # utt2gender is a standard table
    assert decode_audio(_read(one)).orig_codec == "mp3"


# --- relative paths ------------------------------------------------------------------------------

def test_relative_paths_resolve_from_the_recipe_folder(tmp_path):
    s5 = tmp_path / "egs" / "x" / "s5"
    d = s5 / "data" / "train"
    a = _audio(s5 / "data" / "local" / "audio" / "a.wav", _tone(300, 0.2))
    b = _audio(s5 / "data" / "local" / "audio" / "b.flac", _tone(400, 0.2), fmt="FLAC")
    c = _audio(d / "c.wav", _tone(500, 0.2))  # only next to wav.scp
    in_recipe = _audio(s5 / "wav" / "d.wav", _tone(600, 0.2))
    _audio(d / "wav" / "d.wav", _tone(700, 0.2))  # also next to wav.scp: the recipe folder wins
    _write(d / "wav.scp", "a data/local/audio/a.wav\n"
                          "b sox data/local/audio/b.flac -t wav -r 16000 -c 1 - |\n"
                          "c c.wav\n"
                          "d wav/d.wav\n"
                          "e data/local/audio/missing.wav\n"
                          "f flac -c -d -s data/local/audio/gone.flac |\n")
    source = _source(s5 / "data", language="en")
    r = _by_utt(_check(kaldi.list_items(source), source))
    assert r["a"]["source_uri"] == str(a.resolve()) and r["a"]["listing_error"] is None
    assert r["b"]["source_uri"] == str(b.resolve()) and r["b"]["listing_error"] is None
    assert r["c"]["source_uri"] == str(c.resolve())
    assert r["d"]["source_uri"] == str(in_recipe.resolve())
    missing = (s5 / "data" / "local" / "audio" / "missing.wav").resolve()
    assert r["e"]["source_uri"] == str(missing)  # where Kaldi, running in s5/, would open it
    assert r["e"]["listing_error"]["reason"] == "missing_file"
    assert r["e"]["listing_error"]["detail"].startswith(f"{missing} (listed in ")
    assert r["f"]["listing_error"]["reason"] == "missing_file" and "gone.flac" in r["f"]["source_uri"]
    assert kaldi.recipe_folder(d) == s5 and kaldi.recipe_folder(tmp_path / "corpus" / "train") is None


def test_relative_paths_without_a_data_folder(tmp_path):
    d = tmp_path / "corpus" / "train"
    a = _audio(d / "wav" / "a.wav", _tone(300, 0.2))
    up = _audio(tmp_path / "corpus" / "audio" / "b.wav", _tone(300, 0.2))
    _write(d / "wav.scp", "a wav/a.wav\nb audio/b.wav\n")
    r = _by_utt(kaldi.list_items(_source(d)).to_pylist())
    assert r["a"]["source_uri"] == str(a.resolve()) and r["b"]["source_uri"] == str(up.resolve())


# --- Lhotse's export_to_kaldi ----------------------------------------------------------------------

def test_lhotse_export_read_back(tmp_path):
    lhotse = pytest.importorskip("lhotse")
    from lhotse.audio import AudioSource
    from lhotse.kaldi import export_to_kaldi

    audio = tmp_path / "audio"
    wav = _audio(audio / "utt_wav.wav", _tone(300, 1.5))
    flac = _audio(audio / "utt_flac.flac", _tone(400, 1.5), fmt="FLAC")
    sph = _sphere(audio / "utt_sph.sph", _tone(500, 1.5)[:, None])
    recordings = [lhotse.Recording.from_file(wav), lhotse.Recording.from_file(flac),
                  # lhotse reads SPHERE info through sph2pipe: describe it by hand
                  lhotse.Recording(id="utt_sph", sources=[AudioSource(type="file", channels=[0], source=str(sph))],
                                   sampling_rate=RATE, num_samples=24000, duration=1.5)]
    sups = [lhotse.SupervisionSegment(id=f"{rec.id}-seg{i}", recording_id=rec.id, start=0.25 + 0.5 * i,
                                      duration=0.5, channel=0, text=f"text of {rec.id} {i}", speaker="spk1",
                                      language="English")
            for rec in recordings for i in range(2)]
    out = tmp_path / "exp" / "data" / "lhotse_test"
    export_to_kaldi(lhotse.RecordingSet.from_recordings(recordings), lhotse.SupervisionSet.from_segments(sups), out)
    scp = dict(line.split(" ", 1) for line in (out / "wav.scp").read_text().splitlines())
    assert scp["utt_wav"] == str(wav)  # a mono WAV is written as its path
    assert scp["utt_flac"].startswith("ffmpeg -threads 1 -i ") and "-map_channel 0.0.0  -f wav" in scp["utt_flac"]
    assert scp["utt_sph"].startswith(f"sph2pipe {sph} -f wav -c 1 -p | ffmpeg -threads 1 -i pipe:0")
    source = _source(out)
    table = kaldi.list_items(source)
    rows = _by_utt(_check(table, source))
    assert len(rows) == 6
    files = {"utt_wav": wav, "utt_flac": flac, "utt_sph": sph}
    for sup in sups:
        r = rows[sup.id]
        assert r["source_uri"] == str(files[sup.recording_id].resolve()), r
        assert r["listing_error"] is None
        assert (r["start"], r["end"]) == (sup.start, sup.end)
        assert r["raw_text"] == sup.text and r["speaker_raw"] == "spk1" and r["split"] == "test"
        assert r["language_raw"] == "English" and to_language(r["language_raw"]) == "eng_Latn"
        assert r["channel"] == (None if sup.recording_id == "utt_wav" else 0)
    assert ignored_files(table).count == 0  # reco2dur, utt2dur are standard
    r = rows["utt_flac-seg1"]
    got = decode_audio(_read(r), start=r["start"], end=r["end"], channel=r["channel"])
    assert got.num_samples == RATE // 2


def test_lhotse_export_multichannel(tmp_path):
    lhotse = pytest.importorskip("lhotse")
    from lhotse.kaldi import export_to_kaldi

    left, right = _tone(300, 1.0, 0.5), _tone(900, 1.0, 0.2)
    wav = _audio(tmp_path / "audio" / "conv.wav", np.stack([left, right], axis=1))
    rec = lhotse.Recording.from_file(wav)
    sups = [lhotse.SupervisionSegment(id="conv-a", recording_id=rec.id, start=0.0, duration=0.5, channel=0,
                                      text="left side", speaker="A"),
            lhotse.SupervisionSegment(id="conv-b", recording_id=rec.id, start=0.5, duration=0.5, channel=1,
                                      text="right side", speaker="B")]
    out = tmp_path / "data" / "train"
    export_to_kaldi(lhotse.RecordingSet.from_recordings([rec]), lhotse.SupervisionSet.from_segments(sups), out)
    assert "-map_channel 0.0.1  -f wav -threads 1 pipe:1 |" in (out / "wav.scp").read_text()
    rows = _by_utt(kaldi.list_items(_source(out, language="en")).to_pylist())
    # export_to_kaldi names recordings <id>_<channel> and utterances <id>-<channel>
    a, b = rows["conv-a-0"], rows["conv-b-1"]
    assert (a["channel"], b["channel"]) == (0, 1) and a["source_uri"] == b["source_uri"] == str(wav.resolve())
    assert a["meta"]["recording"] == "conv_0" and b["raw_text"] == "right side"
    got = decode_audio(wav.read_bytes(), start=b["start"], end=b["end"], channel=b["channel"]).samples
    np.testing.assert_allclose(got, right[RATE // 2:], atol=2 / 32768)


# --- other commands ------------------------------------------------------------------------------

def _command_dir(tmp_path: Path) -> tuple[Path, Path, Path]:
    s5 = tmp_path / "egs" / "y" / "s5"
    d = s5 / "data" / "train"
    wav = _audio(s5 / "data" / "local" / "u1.wav", _tone(440, 0.3))
    _write(d / "wav.scp", "u1 cat data/local/u1.wav |\n"
                          "u2 mycmd --x |\n"
                          "u3 cat data/local/u1.wav | cat |\n"
                          "u4 sox data/local/u1.wav -t wav - 2>/dev/null |\n"
                          "u5 sox data/local/u1.wav -t wav - trim 0 0.1 |\n"
                          "u6 data/local/u1.wav:1024\n")
    _write(d / "text", "u1 one\nu2 two\nu3 three\nu4 four\nu5 five\nu6 six\n")
    return s5, d, wav


def test_commands_not_allowed(tmp_path):
    s5, d, _ = _command_dir(tmp_path)
    source = _source(s5 / "data", language="en")
    r = _by_utt(_check(kaldi.list_items(source), source))
    scp = d / "wav.scp"
    assert r["u1"]["source_uri"] == f"{scp}#line=1"
    assert r["u1"]["listing_error"] == {"reason": "command_not_allowed", "detail": (
        f"{scp} line 1: command not run (set allow_commands: true on the source to run it): cat data/local/u1.wav |")}
    assert r["u1"]["meta"]["rxfilename"] == "cat data/local/u1.wav |" and "cwd" not in r["u1"]["meta"]
    assert r["u2"]["listing_error"]["reason"] == "command_not_allowed"
    assert r["u2"]["listing_error"]["detail"].endswith(": mycmd --x |")
    assert r["u3"]["listing_error"]["detail"].endswith(": cat data/local/u1.wav | cat |")
    assert r["u4"]["listing_error"]["reason"] == "listing_error"
    assert "needs a shell" in r["u4"]["listing_error"]["detail"]
    assert r["u5"]["listing_error"]["reason"] == "command_not_allowed"  # trim: not a plain decoder
    assert r["u6"]["listing_error"]["reason"] == "listing_error" and "ark offsets" in r["u6"]["listing_error"]["detail"]


def test_allowed_commands_run_into_the_audio(tmp_path):
    s5, d, wav = _command_dir(tmp_path)
    source = _source(s5 / "data", language="en", allow_commands=True)
    table = kaldi.list_items(source)
    r = _by_utt(_check(table, source))
    one, three = r["u1"], r["u3"]
    assert one["source_uri"] == "pipe:cat data/local/u1.wav" and one["listing_error"] is None
    assert three["source_uri"] == "pipe:cat data/local/u1.wav | cat"
    assert Path(one["meta"]["cwd"]).resolve() == s5.resolve()
    assert one["meta"]["rxfilename"] == "cat data/local/u1.wav |"
    assert r["u2"]["source_uri"] == "pipe:mycmd --x" and r["u2"]["listing_error"] is None
    assert r["u4"]["listing_error"]["reason"] == "listing_error"  # still needs a shell
    for item in (one, three, r["u5"]):
        rx = parse_rxfilename(item["source_uri"])
        assert rx.kind == COMMAND and rx.stages == parse_rxfilename(item["meta"]["rxfilename"]).stages
    for item in (one, three):  # ingest runs the command in meta cwd (the recipe folder)
        assert run_command(parse_rxfilename(item["source_uri"]).stages, item["meta"]["cwd"], 10, 10**7) == \
            wav.read_bytes()
    assert three["meta"]["rxfilename"] == "cat data/local/u1.wav | cat |"
    assert parse_rxfilename(three["source_uri"]).stages == [["cat", "data/local/u1.wav"], ["cat"]]
    if shutil.which("sox"):  # sox writes a stream-mode WAV to the pipe (data size 0x7FFFF000)
        trimmed = run_command(parse_rxfilename(r["u5"]["source_uri"]).stages, r["u5"]["meta"]["cwd"], 10, 10**7)
        assert decode_audio(trimmed).seconds == pytest.approx(0.1, abs=0.002)
    with pytest.raises(CommandError, match="'mycmd' not found"):
        run_command(parse_rxfilename(r["u2"]["source_uri"]).stages, r["u2"]["meta"]["cwd"], 10, 10**7)


def _children() -> list[tuple[int, str]]:
    """(pid, state) of this process's children (zombies included), from /proc."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                out.append((int(entry), fields[0]))
    return out


def _running(marker: str) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/cmdline").read_bytes().decode("utf-8", "replace"):
                    return True
            except OSError:
                continue
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_run_command_errors_and_no_zombies(tmp_path):
    wav = _audio(tmp_path / "x.wav", _tone(440, 0.5))
    before = {pid for pid, _ in _children()}
    assert run_command([["cat", "x.wav"]], str(tmp_path), 10, 10**7) == wav.read_bytes()
    # timeout: the whole chain is killed, the grandchild the shell started included
    t0 = time.monotonic()
    with pytest.raises(CommandError, match=r"timed out after 0.5 s") as err:
        run_command([["sh", "-c", "sleep 37.25; cat x.wav"], ["cat"]], str(tmp_path), 0.5, 10**7)
    assert time.monotonic() - t0 < 5 and "sleep 37.25" in str(err.value) and "\n" not in str(err.value)
    deadline = time.monotonic() + 3
    while _running("sleep 37.25") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running("sleep 37.25")
    # non-zero exit, with its stderr
    with pytest.raises(CommandError, match=r"exited with status 3: oops"):
        run_command([["sh", "-c", "echo oops >&2; exit 3"]], str(tmp_path), 10, 10**7)
    with pytest.raises(CommandError, match=r"stage 1: 'cat no-such.wav'.* exited with status 1"):
        run_command([["cat", "no-such.wav"], ["cat"]], str(tmp_path), 10, 10**7)
    with pytest.raises(CommandError, match=r"stage 2: 'false'"):  # upstream SIGPIPE is not the cause
        run_command([["cat", "x.wav"], ["false"]], str(tmp_path), 10, 10**7)
    # a missing executable, in any stage (the stages already started are stopped)
    with pytest.raises(CommandError, match=r"executable 'no-such-decoder-xyz' not found"):
        run_command([["no-such-decoder-xyz", "x.wav"]], str(tmp_path), 10, 10**7)
    with pytest.raises(CommandError, match=r"executable 'no-such-decoder-xyz' not found"):
        run_command([["sleep", "30"], ["no-such-decoder-xyz"]], str(tmp_path), 10, 10**7)
    # the size cap: a file too big, and endless output
    with pytest.raises(CommandError, match=r"wrote more than 100 bytes"):
        run_command([["cat", "x.wav"]], str(tmp_path), 10, 100)
    t0 = time.monotonic()
    with pytest.raises(CommandError, match=r"wrote more than 100000 bytes"):
        run_command([["yes"]], str(tmp_path), 10, 100_000)
    assert time.monotonic() - t0 < 5
    with pytest.raises(CommandError, match=r"does not exist"):
        run_command([["cat", "x.wav"]], str(tmp_path / "nowhere"), 10, 10**7)
    with pytest.raises(CommandError, match=r"no program"):
        run_command([], str(tmp_path), 10, 10**7)
    # nothing left behind: no zombie, no running child
    assert {pid for pid, _ in _children()} <= before


def test_command_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(CommandError("command 'x' exited with status 1")))
    assert isinstance(err, CommandError) and err.detail == "command 'x' exited with status 1"


# --- parse_rxfilename ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "path", "channel", "decoder"), [
    # egs/librispeech/s5/local/data_prep.sh
    ("flac -c -d -s /c/LibriSpeech/dev-clean/84/121/84-121-0000.flac |",
     "/c/LibriSpeech/dev-clean/84/121/84-121-0000.flac", None, "flac"),
    ("flac -s -c -d x.flac | sox - -b 16 -t wav -r 16000 - |", "x.flac", None, "flac"),
    # egs/swbd/s5c/local/swbd1_data_prep.sh, egs/timit/s5/local/timit_data_prep.sh
    ("/opt/kaldi/tools/sph2pipe_v2.5/sph2pipe -f wav -p -c 1 /c/sw02001.sph |", "/c/sw02001.sph", 0, "sph2pipe"),
    ("/opt/kaldi/tools/sph2pipe_v2.5/sph2pipe -f wav -p -c 2 /c/sw02001.sph |", "/c/sw02001.sph", 1, "sph2pipe"),
    ("$sph2pipe -f wav -p -c 2 sw02001.sph |", "sw02001.sph", 1, "sph2pipe"),
    ("${sph2pipe} -f wav /c/TIMIT/TRAIN/DR1/FAEM0/SI1392.WAV |", "/c/TIMIT/TRAIN/DR1/FAEM0/SI1392.WAV", None,
     "sph2pipe"),
    ("sph2pipe -f wav -p -c 1 x.sph | sox - -r 16000 -t wav - |", "x.sph", 0, "sph2pipe"),
    # egs/commonvoice/s5/local/data_prep.pl, voxforge, and recipes' usual sox lines
    ("sox /c/cv/cv-valid-train/sample-000000.mp3 -t wav -r 16k -b 16 -e signed - |",
     "/c/cv/cv-valid-train/sample-000000.mp3", None, "sox"),
    ("sox x.wav -t wav - remix 2 |", "x.wav", 1, "sox"),
    ("sox x.wav -r 8000 -b 16 -c 1 -t wav - remix 1 |", "x.wav", 0, "sox"),
    ("sox -t flac x.flac -t wav -r 16k -b 16 - channels 1 |", "x.flac", None, "sox"),
    ("sox x.wav -t wav -e signed-integer - rate -v 16k remix - |", "x.wav", None, "sox"),
    ("sox 'a file.wav' -t wav - |", "a file.wav", None, "sox"),
    # lhotse.kaldi.make_wavscp_channel_string_map
    ("ffmpeg -threads 1 -i /c/a.flac -ar 16000 -map_channel 0.0.0  -f wav -threads 1 pipe:1 |", "/c/a.flac", 0,
     "ffmpeg"),
    ("ffmpeg -threads 1 -i /c/a.wav -ar 8000 -map_channel 0.0.1  -f wav -threads 1 pipe:1 |", "/c/a.wav", 1,
     "ffmpeg"),
    ("sph2pipe /c/a.sph -f wav -c 2 -p | ffmpeg -threads 1 -i pipe:0 -ar 8000 -f wav -threads 1 pipe:1 |",
     "/c/a.sph", 1, "sph2pipe"),
    ("ffmpeg -i x.m4a -ar 16000 -ac 1 -f wav - |", "x.m4a", None, "ffmpeg"),
    ("pipe:flac -c -d -s x.flac", "x.flac", None, "flac"),
])
def test_recognised_decoders(text, path, channel, decoder):
    rx = parse_rxfilename(text)
    assert (rx.kind, rx.path, rx.channel, rx.decoder, rx.problem) == (PIPE, path, channel, decoder, None)
    assert parse_rxfilename(rx.uri) == rx  # pipe:<command> parses back to the same
    assert rx.stages and all(rx.stages)


@pytest.mark.parametrize("text", [
    "sox x.wav -t wav - trim 0 10 |", "sox x.wav -t wav - speed 1.1 |", "sox x.wav -t wav - tempo 0.9 |",
    "sox x.wav -t wav - vol 0.5 |", "sox -v 0.5 x.wav -t wav - |", "sox --vol 2 -t wav - -t wav - |",
    "sox -r 22050 -e signed -b 16 x.raw -r 16000 -t wav - |",  # input options reinterpret the file
    "sox -c 1 -t wavpcm -e signed-integer x.wav -t wavpcm - |", "sox x.wav out.wav |",
    "sox x.wav -t wav - remix 1,2 |", "sox x.wav -t wav - downsample |",
    "ffmpeg -i x.wav -af volume=2 -f wav - |", "ffmpeg -ss 3 -i x.wav -f wav - |",
    "ffmpeg -i x.wav -ss 3 -f wav - |", "ffmpeg -i x.wav -f wav out.wav |", "ffmpeg -i x.wav -f s16le - |",
    "sph2pipe -f wav -t 0:10 x.sph |", "sph2pipe -f wav -u x.sph |", "sph2pipe -f wav x.sph out.wav |",
    "flac -d x.flac |", "flac -c -d -F x.flac |", "flac -c -d -s x.flac | sox x.wav -t wav - |",
    "sox x.wav -t wav - remix 2 | sox - -t wav - remix 2 |",  # channel 2 of a one-channel stream
    "cat x.wav |", "mycmd --x |", "wav-reverberate --shift-output=true x.wav - |",
])
def test_other_commands(text):
    rx = parse_rxfilename(text)
    assert rx.kind == COMMAND and rx.problem is None and rx.stages
    assert parse_rxfilename(rx.uri) == rx


@pytest.mark.parametrize(("text", "problem"), [
    ("sox x.wav -t wav - 2>/dev/null |", ">"), ("cat a.wav; rm -rf b |", ";"), ("cat $HOME/a.wav |", "$"),
    ("cat `ls` |", "`"), ("cat a.wav && echo |", "&"), ("cat *.wav |", "*"), ("cat 'a.wav |", "quote"),
    ('cat "$x" |', "$"), ("cat a.wav | |", "empty"),
])
def test_commands_that_need_a_shell(text, problem):
    rx = parse_rxfilename(text)
    assert rx.kind == COMMAND and rx.problem and problem in rx.problem


def test_files_and_arks():
    assert parse_rxfilename(" /c/a b.wav \n") == commands.Rx(FILE, "/c/a b.wav", path="/c/a b.wav")
    rx = parse_rxfilename("data/raw.ark:1234")
    assert (rx.kind, rx.path, rx.offset) == (ARK, "data/raw.ark", 1234)
    assert parse_rxfilename('cat "a|b.wav" |').stages == [["cat", "a|b.wav"]]
    assert parse_rxfilename("cat a\\|b.wav |").stages == [["cat", "a|b.wav"]]
    assert commands.command_text([["cat", "a b.wav"], ["sox", "-", "-t", "wav", "-"]]) == \
        "cat 'a b.wav' | sox - -t wav -"


@pytest.mark.parametrize(("stages", "channel"), [
    ([["sox", "st.wav", "-t", "wav", "-", "remix", "2"]], 1),
    ([["sox", "st.wav", "-t", "wav", "-", "remix", "1"]], 0),
    ([["sox", "st.wav", "-c", "1", "-t", "wav", "-"]], None),
    ([["ffmpeg", "-nostdin", "-loglevel", "error", "-threads", "1", "-i", "st.wav", "-ar", "16000",
       "-map_channel", "0.0.1", "-f", "wav", "-threads", "1", "pipe:1"]], 1),
    ([["flac", "-c", "-d", "-s", "st.flac"], ["sox", "-", "-t", "wav", "-", "remix", "2"]], 1),
])
def test_direct_read_matches_running_the_decoder(tmp_path, stages, channel):
    """Reading the input file with the channel the parser says gives what the real tool writes."""
    for argv in stages:
        _need(argv[0])
    stereo = np.stack([_tone(300, 0.5, 0.5), _tone(1200, 0.5, 0.3)], axis=1)
    sf.write(tmp_path / "st.wav", stereo, RATE, subtype="PCM_16")
    sf.write(tmp_path / "st.flac", stereo, RATE, subtype="PCM_16", format="FLAC")
    rx = parse_rxfilename(commands.command_text(stages) + " |")
    assert rx.kind == PIPE and rx.channel == channel
    ran = decode_audio(run_command(rx.stages, str(tmp_path), 30, 10**8)).samples
    direct = decode_audio((tmp_path / rx.path).read_bytes(), channel=rx.channel).samples
    assert ran.shape == direct.shape
    np.testing.assert_allclose(ran, direct, atol=2 / 32768)  # sox's own mono mix rounds once more


# --- ignored files, languages ----------------------------------------------------------------------

def test_ignored_files_in_a_data_dir(tmp_path):
    d = tmp_path / "s5" / "data" / "train"
    a = _audio(d / "wav" / "a.wav", _tone(300, 0.2))
    _audio(d / "wav" / "unlisted.wav", _tone(300, 0.2))
    _write(d / "wav.scp", f"a wav/a.wav\nb {a}\n")
    _write(d / "segments", "a-1 a 0 0.1\n")  # b has no segment: its file is still the data dir's
    _write(d / "text", "a-1 hello\n")
    for name in ("utt2spk", "spk2utt", "spk2gender", "utt2dur", "utt2num_frames", "reco2dur", "feats.scp",
                 "cmvn.scp", "frame_shift", "utt2uniq", "vad.scp", "utt2gender", "reco2file_and_channel"):
        _write(d / name, "")
    for name in ("conf/mfcc.conf", "split4/1/wav.scp", "split4utt/2/text", ".backup/wav.scp", "log/x.log",
                 "q/x.sh"):
        _write(d / name, "x\n")
    _write(d / "notes.txt", "x\n")
    _write(d / "wav.scp.bak", "x\n")
    _write(d / "segments.tmp", "x\n")
    _write(tmp_path / "s5" / "data" / "local" / "dict" / "lexicon.txt", "x\n")  # outside the data dir
    table = kaldi.list_items(_source(tmp_path / "s5" / "data"))
    ignored = ignored_files(table)
    assert ignored.count == 4
    assert sorted(ignored.examples) == ["train/notes.txt", "train/segments.tmp", "train/wav.scp.bak",
                                        "train/wav/unlisted.wav"]


def test_utt2lang_and_lang_with_language_names(tmp_path):
    root = tmp_path / "data"
    names = {"u1": "English", "u2": "Mandarin Chinese", "u3": "swahili", "u4": "HINDI", "u5": "Klingonese"}
    d = root / "train"
    for utt in [*names, "u6"]:
        _audio(d / f"{utt}.wav", _tone(300, 0.1))
    _write(d / "wav.scp", "".join(f"{u} {u}.wav\n" for u in [*names, "u6"]))
    _write(d / "text", "".join(f"{u} words\n" for u in [*names, "u6"]))
    _write(d / "utt2lang", "".join(f"{u} {n}\n" for u, n in names.items()))
    e = root / "test"
    _audio(e / "x.wav", _tone(300, 0.1))
    _write(e / "wav.scp", "x x.wav\n")
    _write(e / "lang", "\nFrench\n")
    r = _by_utt(kaldi.list_items(_source(root, language="en")).to_pylist())
    assert {u: r[u]["language_raw"] for u in names} == names
    assert r["u6"]["language_raw"] == "en" and r["x"]["language_raw"] == "French"
    assert [to_language(r[u]["language_raw"]) for u in ("u1", "u2", "u3", "u4", "x")] == [
        "eng_Latn", "cmn_Hans", "swh_Latn", "hin_Deva", "fra_Latn"]
    assert to_language("Swahili") == to_language("sw") and to_language("Mandarin Chinese") == to_language("cmn")
    with pytest.raises(UnknownLanguageError, match="Klingonese"):
        to_language(r["u5"]["language_raw"])


def test_decode_channel_errors():
    buf = io.BytesIO()
    sf.write(buf, _tone(300, 0.1), RATE, format="WAV")
    with pytest.raises(AudioDecodeError, match="channel 1 asked, the file has 1 channel$"):
        decode_audio(buf.getvalue(), channel=1)
