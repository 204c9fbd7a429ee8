"""Community intake and withdrawal as a partner and a data engineer meet them."""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from omnicorpus.corpus.intake import Limits, UnsafeSubmission, add_submission, extract_archive
from omnicorpus.corpus.withdrawals import load_withdrawals, record_withdrawal
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.pipelines.run import run_pipeline
from omnicorpus.quality.report import write_report

HEADER = ["file", "language", "speaker", "transcript", "consent", "consent_id", "license", "recording_date",
          "partner"]


# --- unsafe archives are refused whole, and nothing lands outside the work folder ------------------------

def _zip(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


def _tar(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tf.addfile(info)
    return path


@pytest.mark.parametrize("make, why", [
    (lambda d: _zip(d / "a.zip", {"ok/metadata.csv": b"x", "../evil.txt": b"owned"}), "climbs out"),
    (lambda d: _zip(d / "a.zip", {"/tmp/evil.txt": b"owned"}), "absolute path"),
    (lambda d: _zip(d / "a.zip", {"metadata.csv": b"x"}, link="clip.wav"), "is a link"),
    (lambda d: _tar(d / "a.tar.gz", {"metadata.csv": b"x"}, symlink="clip.wav"), "is a link"),
    (lambda d: _tar(d / "a.tar.gz", {"sub/../../evil.txt": b"owned"}), "climbs out"),
    (lambda d: _zip(d / "a.zip", {"big.wav": b"\0" * 3_000_000}), "over the limit"),
    (lambda d: _zip(d / "a.zip", {"bomb.wav": b"\0" * 1_500_000}), "decompression bomb"),
])
def test_unsafe_archives_are_refused_before_extraction(tmp_path, make, why):
    archive = make(tmp_path)
    work = tmp_path / "work" / "inside"
    work.mkdir(parents=True)
    limit = 2_000_000 if why == "over the limit" else 1 << 30
    with pytest.raises(UnsafeSubmission, match=why):
        extract_archive(archive, work, Limits(member_bytes=limit, ratio=200.0))
    assert not any(work.iterdir()), "nothing is extracted from a refused archive"
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()


# --- intake, release, withdrawal ------------------------------------------------------------------------

def _submission(tmp_path: Path, corpus_audio: Path, others: list[Path]) -> Path:
    """A zipped submission: 3 new recordings, one without consent, one already in the corpus. New audio is
    speech of `others` played backwards (the same speech at another level would be a near-duplicate)."""
    sub = tmp_path / "build" / "VR-2026-0001"
    sub.mkdir(parents=True)
    rng = np.random.default_rng(7)
    rows = []
    for i, other in enumerate(others[:3]):
        speech, rate = sf.read(other)
        sf.write(sub / f"new_{i}.wav", speech[::-1] * (0.4 + 0.1 * i) + 0.001 * rng.standard_normal(len(speech)),
                 rate)
        rows.append([f"new_{i}.wav", "sw", f"speaker-{i % 2}", "kila mtu ana haki ya kuishi", "yes", f"C-{i}",
                     "CC-BY-4.0", "2026-05-01", "voices-of-rift"])
    rows[2][4] = "no"
    shutil.copy(corpus_audio, sub / "dup.flac")
    rows.append(["dup.flac", "sw", "speaker-9", "", "yes", "C-9", "CC-BY-4.0", "2026-05-02", "voices-of-rift"])
    with open(sub / "metadata.csv", "w", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    archive = tmp_path / "VR-2026-0001.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(sub.iterdir()):
            zf.write(p, f"VR-2026-0001/{p.name}")
    return archive


def test_a_submission_is_added_released_and_withdrawn(pipeline_run, spark, tmp_path):
    cfg, first = pipeline_run
    out = tmp_path / "out"
    shutil.copytree(cfg.output, out)
    community = tmp_path / "community"
    shutil.copytree(cfg.source("community").path, community)
    source = dataclasses.replace(cfg.source("community"), path=str(community))
    ours = dataclasses.replace(cfg, output=str(out),
                               sources=tuple(source if s.name == "community" else s for s in cfg.sources))
    by_size = sorted(Path(cfg.source("librispeech").path).rglob("*.flac"), key=lambda p: p.stat().st_size)
    corpus_audio = by_size[-1]

    report = add_submission(_submission(tmp_path, corpus_audio, by_size[-4:-1]), source, output_root=out)
    assert report.partner == "voices-of-rift" and report.submission == "VR-2026-0001"
    assert report.destination == community / "voices-of-rift" / "VR-2026-0001"
    assert [e.split(":")[1].strip() for e in report.errors] == ["no_consent"]
    assert len(report.duplicates) == 1 and "dup.flac" in report.duplicates[0]
    assert report.added == 2
    assert not list(community.glob(".intake-*")), "the work folder is gone"

    added = run_pipeline(ours, spark)
    # the duplicate row was left out at intake; the community source moved (copied above), so its earlier
    # items are read again from their new place
    assert added.new_release and added.ingest.new - added.ingest.changed == 3
    assert added.ingest.changed == first.ingest.listed["community"]
    utterances = added.release.table("utterances").to_pylist()
    from_submission = [u for u in utterances if "VR-2026-0001" in (u["source"] or "")]
    assert len(from_submission) == 2, "the two consented recordings are released"
    rejects = added.release.table("rejects").to_pylist()
    no_consent = [r for r in rejects if "VR-2026-0001" in r["source_uri"] and r["reason"] == "no_consent"]
    assert len(no_consent) == 1 and no_consent[0]["stage"] == "community"

    run = subprocess.run([sys.executable, "-m", "omnicorpus.pipelines.cli", "--help"], capture_output=True)
    assert run.returncode == 0
    record_withdrawal(out, corpus="community", partner="voices-of-rift", salt=cfg.ingest.speaker_salt,
                      submission="VR-2026-0001", note="the partner asked on 2026-11-20")
    assert len(load_withdrawals(out)) == 1
    withdrawn = run_pipeline(ours, spark)
    assert withdrawn.new_release and withdrawn.release.info["parent"] == added.release.id
    keys = {u["key"] for u in withdrawn.release.table("utterances").to_pylist()}
    assert not keys & {u["key"] for u in from_submission}, "no segment of a withdrawn submission"
    reasons = [r for r in withdrawn.release.table("rejects").to_pylist() if r["reason"] == "withdrawn"]
    assert {r["key"] for r in reasons} == {u["key"] for u in from_submission}
    report_html = write_report(withdrawn.release.path).read_text()
    partners = report_html[report_html.index('id="partners-table"'):]
    partners = partners[:partners.index("</table>")]
    assert "voices-of-rift" in partners and '>2</td>' in partners, "the report says how much was withdrawn"
    added_html = write_report(added.release.path).read_text()
    assert 'id="community-table"' in added_html and "swh_Latn" in added_html
    for shard in withdrawn.release.table("shards").to_pylist():
        with tarfile.open(withdrawn.release.path / shard["path"]) as tf:
            names = {m.name.split(".")[0] for m in tf.getmembers()}
        assert not names & {u["key"] for u in from_submission}, "withdrawn audio is in no shard of the release"


def test_withdrawing_a_speaker_records_its_pseudonym_only(tmp_path):
    entry = record_withdrawal(tmp_path, corpus="community", partner="p", salt="s", speaker="maria-77")
    text = (tmp_path / "community" / "withdrawals.jsonl").read_text()
    assert "maria-77" not in text and entry.target in text and entry.kind == "speaker"
    with pytest.raises(ValueError, match="either a --speaker or a --submission"):
        record_withdrawal(tmp_path, corpus="community", partner="p", salt="s")


def test_an_intake_of_something_that_is_not_a_submission(tmp_path):
    source = SourceConfig(name="community", layout="community", path=str(tmp_path / "c"))
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(UnsafeSubmission, match="neither a folder nor a zip or tar archive"):
        add_submission(bad, source)
    assert not list((tmp_path / "c").glob(".intake-*"))
