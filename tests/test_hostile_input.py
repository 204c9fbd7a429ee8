"""Hostile input as an attacker would write it: partner metadata that names a path, audio rows that point
out of their submission, archives and audio headers that promise far more work than their size."""

from __future__ import annotations

import csv
import io
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.community import list_items as list_community
from omnicorpus.corpus.intake import Limits, UnsafeSubmission, extract_archive
from omnicorpus.corpus.pcm import encode_flac
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.schema import problem_text

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))
HEADER = ["file", "language", "speaker", "transcript", "consent", "consent_id", "license", "recording_date",
          "partner"]


def omnicorpus(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([OMNICORPUS, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMNICORPUS_NO_UI": "1"})


def _clip(path: Path) -> None:
    t = np.arange(16000) / 16000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)


def _submission(folder: Path, partner: str, file: str = "a.wav") -> Path:
    folder.mkdir(parents=True)
    _clip(folder / "a.wav")
    with open(folder / "metadata.csv", "w", newline="") as f:
        csv.writer(f).writerows([HEADER, [file, "sw", "s1", "habari", "yes", "C-1", "CC-BY-4.0", "2026-05-01",
                                          partner]])
    return folder


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "omnicorpus.yaml"
    (tmp_path / "corpus" / "community").mkdir(parents=True)
    path.write_text(yaml.safe_dump({
        "sources": [{"name": "community", "layout": "community", "path": str(tmp_path / "corpus" / "community")}],
        "output": str(tmp_path / "out"),
    }))
    return path


def _everything(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("partner", ["../../escaped", "/tmp/escaped-abs", "a/b", "..", ".hidden", "x y"])
def test_a_partner_that_names_a_path_is_refused_whole(tmp_path, config, partner):
    before = _everything(tmp_path)
    sub = _submission(tmp_path / "in" / "SUB-1", partner)
    made = _everything(tmp_path) - before
    done = omnicorpus("community", "add", sub, config)
    assert done.returncode == 1, done.stdout
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: partner ") and "is not a safe identifier" in line, done.stderr
    assert "to be released" not in done.stdout
    corpus = tmp_path / "corpus" / "community"
    assert _everything(tmp_path) - before - made <= {"out", "out/.omnicorpus.lock"}
    assert not list(corpus.iterdir()), "no partner folder, no leftover work folder"
    assert not Path("/tmp/escaped-abs").exists()


def test_a_submission_id_that_names_a_path_is_refused(tmp_path, config):
    sub = _submission(tmp_path / "in" / "..x" / "inner", "p1")
    archive = tmp_path / "in" / "-rf.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(sub.iterdir()):
            zf.write(p, p.name)
    done = omnicorpus("community", "add", archive, config)
    assert done.returncode == 1
    assert "submission id (the folder or archive name) '-rf' is not a safe identifier" in done.stderr


@pytest.mark.parametrize("file", ["../../../../etc/passwd", "/etc/passwd", "..\\..\\secret.wav"])
def test_a_row_whose_audio_lies_outside_its_submission_is_a_reject_never_opened(tmp_path, file):
    root = tmp_path / "community"
    _submission(root / "p1" / "SUB-1", "p1", file=file)
    (row,) = list_community(SourceConfig(name="community", layout="community", path=str(root))).to_pylist()
    assert row["listing_error"]["reason"] == "path_outside_source", problem_text(row["listing_error"])
    assert "passwd" not in row["source_uri"] or row["source_uri"].startswith(str(root / "p1" / "SUB-1"))


def test_a_partner_identifier_with_a_path_is_invalid_metadata_when_listed(tmp_path):
    root = tmp_path / "community"
    _submission(root / "p1" / "SUB-1", "../p2")
    (row,) = list_community(SourceConfig(name="community", layout="community", path=str(root))).to_pylist()
    assert row["listing_error"]["reason"] == "invalid_metadata"
    assert "not a safe identifier" in row["listing_error"]["detail"]


# --- archives: the member count is bounded before the members are read ------------------------------------

def test_a_tar_of_many_members_stops_at_the_limit_while_streaming(tmp_path):
    """150 empty members, the 120th announcing 10 MB the file does not hold: a lister that read every header
    first would fail there with a read error (or, for a million members, spend its memory); streaming stops
    at member 101 and says why."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(150):
            tf.addfile(tarfile.TarInfo(f"m{i:06d}.txt"), io.BytesIO(b""))
    raw = bytearray(buf.getvalue()[: 150 * 512])
    big = tarfile.TarInfo("m000119.txt")
    big.size = 10 << 20
    raw[119 * 512: 120 * 512] = big.tobuf()
    archive = tmp_path / "many.tar"
    archive.write_bytes(bytes(raw))
    with pytest.raises(tarfile.ReadError), tarfile.open(archive) as tf:
        tf.getmembers()
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeSubmission, match="holds over 100 members"):
        extract_archive(archive, work, Limits(members=100))
    assert not any(work.iterdir())
    with pytest.raises(UnsafeSubmission, match="damaged tar archive"):  # within the limit, the damage is named
        extract_archive(archive, work, Limits(members=1000))


def test_a_zip_of_many_entries_is_refused_from_its_directory_record(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(150):
            zf.writestr(f"m{i:06d}.txt", b"")
    data = bytearray(archive.read_bytes())
    # spoil the central directory entries (not the end record): zipfile would fail parsing them, the count
    # check comes first
    first = data.find(b"PK\x01\x02")
    data[first: first + 4] = b"XXXX"
    archive.write_bytes(bytes(data))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeSubmission, match="holds over 100 members"):
        extract_archive(archive, work, Limits(members=100))


# --- audio headers that promise more than the file holds -------------------------------------------------

def _wav_claiming(rate: int, seconds_of_bytes: int = 10_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(seconds_of_bytes, np.int16), 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    struct.pack_into("<II", data, 24, rate, rate * 2)  # fmt chunk: sample rate, byte rate
    return bytes(data)


@pytest.mark.parametrize("rate", [1, 3_999, 384_001, 2_000_000_000])
def test_a_wav_claiming_an_absurd_sample_rate_is_a_decode_error_before_decoding(rate):
    data = _wav_claiming(rate)
    assert len(data) < 21_000
    with pytest.raises(AudioDecodeError, match=f"sample rate {rate} Hz is outside 4000-384000 Hz") as caught:
        decode_audio(data)
    assert caught.value.reason == "decode_error"


def test_the_bounds_admit_telephone_and_studio_rates():
    for rate in (8_000, 384_000):
        buf = io.BytesIO()
        sf.write(buf, np.zeros(rate // 10, np.float32), rate, format="WAV", subtype="PCM_16")
        assert decode_audio(buf.getvalue()).samples.size == 1600


def test_a_flac_announcing_more_frames_than_its_size_holds_is_refused_from_its_header():
    data = bytearray(encode_flac(np.zeros(16000, np.int16)))
    # STREAMINFO (after "fLaC" and a 4-byte block header): 36 bits of total samples end at byte 8 + 18
    info = 8
    packed = int.from_bytes(data[info + 10: info + 18], "big")
    packed = (packed & ~((1 << 36) - 1)) | ((1 << 36) - 1)  # 68.7 G frames from a file of under a kilobyte
    data[info + 10: info + 18] = packed.to_bytes(8, "big")
    with pytest.raises(AudioDecodeError, match="more than a file of its size holds"):
        decode_audio(bytes(data))
