"""The Lhotse export (manifests and Shar) of the sample release, opened by Lhotse itself: `load_manifest`,
`CutSet.from_manifests`, `CutSet.from_shar`, `cut.load_audio()`, and compared with what Lhotse's own SharWriter
writes. The release's shard tars are read here with tarfile alone, as the reference for the audio.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import shutil
import tarfile
from pathlib import Path

import lhotse
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from lhotse import CutSet, RecordingSet, SupervisionSet
from lhotse.shar import SharWriter

from omnicorpus.manifests.export_lhotse import ExportError, export_lhotse
from omnicorpus.manifests.keys import safe_component
from omnicorpus.manifests.release import open_release

RATE = 16_000
CUSTOM = ("corpus", "split", "raw_text", "speaker_source", "source", "start", "end", "partner")


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def rows(release) -> list[dict]:
    """The release's utterances in its order (shard, key)."""
    table = release.table("utterances")
    return sorted(table.to_pylist(), key=lambda r: (r["shard"], r["key"]))


@pytest.fixture(scope="module")
def shard_flac(release, rows) -> dict[str, bytes]:
    """key -> the FLAC file its shard tar holds, read with tarfile alone."""
    found = {}
    for shard in sorted({r["shard"] for r in rows}):
        with tarfile.open(release.path / shard) as tar:
            for member in tar:
                key, _, suffix = member.name.rpartition(".")
                if suffix == "flac":
                    found[key] = tar.extractfile(member).read()
    assert set(found) >= {r["key"] for r in rows}
    return found


def _export(release, folder: Path, **kw) -> tuple[Path, dict, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    report = export_lhotse(release, folder, progress=lambda done, total: calls.append((done, total)), **kw)
    return folder, report, calls


@pytest.fixture(scope="module")
def manifests(release, tmp_path_factory):
    """`--format lhotse` of the release, once: (folder, report, progress calls)."""
    return _export(release, tmp_path_factory.mktemp("lhotse") / "export")


@pytest.fixture(scope="module")
def shar(release, tmp_path_factory):
    """`--format lhotse-shar` of the release with the default shard size, once."""
    return _export(release, tmp_path_factory.mktemp("lhotse-shar") / "export", shar=True)


@pytest.fixture(scope="module")
def small_shar(release, tmp_path_factory):
    """`--format lhotse-shar` with shards of 7 cuts."""
    return _export(release, tmp_path_factory.mktemp("lhotse-shar7") / "export", shar=True, shard_size=7)


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _int16(audio: np.ndarray) -> np.ndarray:
    return np.round(audio * 32768).astype(np.int32)


def _decoded(flac: bytes) -> np.ndarray:
    data, rate = sf.read(io.BytesIO(flac), dtype="int16")
    assert rate == RATE and data.ndim == 1
    return data.astype(np.int32)


def _some(rows: list[dict]) -> list[dict]:
    """A few utterances and one of every language."""
    by_language = {}
    for r in rows:
        by_language.setdefault(r["language"], r)
    return [*rows[:3], *by_language.values(), rows[-1]]


# --- manifests ------------------------------------------------------------------------------------------


def test_manifests_open_in_lhotse_with_every_utterance_in_release_order(manifests, rows, release):
    out, report, calls = manifests
    recordings = lhotse.load_manifest(out / "recordings.jsonl.gz")
    supervisions = lhotse.load_manifest(out / "supervisions.jsonl.gz")
    cuts = lhotse.load_manifest(out / "cuts.jsonl.gz")
    assert isinstance(recordings, RecordingSet) and isinstance(supervisions, SupervisionSet)
    assert isinstance(cuts, CutSet)
    keys = [r["key"] for r in rows]
    assert [r.id for r in recordings] == [s.id for s in supervisions] == [c.id for c in cuts] == keys
    assert len(keys) == release.info["counts"]["utterances"]
    assert any(r["text"] is None for r in rows) and {r["split"] for r in rows} == {"train", "dev", "test"}

    assert report["format"] == "lhotse" and report["release"] == release.id and report["path"] == str(out)
    assert report["utterances"] == len(rows)
    written = sorted(_files(out))
    audio = [f for f in written if f.startswith("audio/")]
    assert report["files"] == [f for f in written if not f.startswith("audio/")] == sorted(
        ["recordings.jsonl.gz", "supervisions.jsonl.gz", "cuts.jsonl.gz"]), "the manifests, and nothing else there"
    assert report["audio_files"] == len(audio) == len(rows), "audio counted, not listed: a release holds millions"
    assert report["bytes"] == sum((out / f).stat().st_size for f in written)
    assert report["hours"] == pytest.approx(sum(r["seconds"] for r in rows) / 3600, abs=1e-6)
    assert calls == [(i + 1, len(rows)) for i in range(len(rows))]


def test_cuts_are_what_cutset_from_manifests_makes_of_the_recordings_and_supervisions(manifests):
    out, _, _ = manifests
    ours = lhotse.load_manifest(out / "cuts.jsonl.gz")
    theirs = CutSet.from_manifests(recordings=lhotse.load_manifest(out / "recordings.jsonl.gz"),
                                   supervisions=lhotse.load_manifest(out / "supervisions.jsonl.gz"))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert {**a.to_dict(), "id": None} == {**b.to_dict(), "id": None}
    with gzip.open(out / "cuts.jsonl.gz", "rt", encoding="utf-8") as f:  # and Lhotse writes the same lines
        assert [line.rstrip("\n") for line in f] == [json.dumps(c.to_dict(), ensure_ascii=False) for c in ours]


def test_supervisions_and_recordings_carry_the_release_rows(manifests, rows):
    out, _, _ = manifests
    cuts = lhotse.load_manifest(out / "cuts.jsonl.gz")
    for cut, row in zip(cuts, rows, strict=True):
        (sup,) = cut.supervisions
        assert (sup.id, sup.recording_id, sup.start, sup.channel) == (row["key"], row["key"], 0, 0)
        assert (sup.text, sup.language, sup.speaker) == (row["text"], row["language"], row["speaker"])
        assert sup.custom == ({k: row[k] for k in CUSTOM if row[k] is not None} or None)
        rec = cut.recording
        assert rec.sampling_rate == RATE and rec.channel_ids == [0] and rec.num_samples == round(row["seconds"] * RATE)
        for duration in (cut.duration, sup.duration, rec.duration):
            assert duration == pytest.approx(row["seconds"], abs=1 / RATE)
        (source,) = rec.sources
        assert source.type == "file"
        assert source.source == f"audio/{row['language']}/{row['corpus']}/{row['key']}.flac"


def test_audio_files_are_the_shards_flac_and_load_in_lhotse(manifests, rows, shard_flac):
    out, _, _ = manifests
    for row in rows:
        assert (out / "audio" / row["language"] / row["corpus"] / f"{row['key']}.flac").read_bytes() \
            == shard_flac[row["key"]], "copied byte for byte"
    cuts = lhotse.load_manifest(out / "cuts.jsonl.gz").with_recording_path_prefix(out)
    for row in _some(rows):
        cut = cuts[row["key"]]
        audio = cut.load_audio()
        assert audio.dtype == np.float32 and audio.shape == (1, cut.num_samples)
        assert np.array_equal(_int16(audio[0]), _decoded(shard_flac[row["key"]]))


def test_audio_paths_are_relative_to_the_export_folder(manifests, rows, monkeypatch, tmp_path):
    out, _, _ = manifests
    moved = tmp_path / "moved"  # a copy elsewhere opens the same, given its own folder
    shutil.copytree(out, moved)
    cuts = lhotse.load_manifest(moved / "cuts.jsonl.gz").with_recording_path_prefix(moved)
    assert cuts[rows[0]["key"]].load_audio().shape == (1, cuts[rows[0]["key"]].num_samples)
    monkeypatch.chdir(moved)  # or, as Lhotse resolves relative paths, from inside it
    cut = lhotse.load_manifest("cuts.jsonl.gz")[rows[-1]["key"]]
    assert cut.load_audio().shape == (1, cut.num_samples)


# --- Shar -----------------------------------------------------------------------------------------------


def test_shar_opens_with_from_shar_and_every_cut_loads_its_audio(shar, rows, shard_flac, release):
    out, report, calls = shar
    assert report["files"] == ["cuts.000000.jsonl.gz", "recording.000000.tar"] == sorted(_files(out))
    assert report["format"] == "lhotse-shar" and report["utterances"] == len(rows) == len(calls)
    assert report["bytes"] == sum((out / f).stat().st_size for f in report["files"])
    cuts = CutSet.from_shar(in_dir=out)
    seen = []
    for cut, row in zip(cuts, rows, strict=True):
        audio = cut.load_audio()
        assert audio.shape == (1, cut.num_samples) and cut.num_samples == round(row["seconds"] * RATE)
        assert np.array_equal(_int16(audio[0]), _decoded(shard_flac[row["key"]]))
        assert cut.supervisions[0].text == row["text"] and cut.supervisions[0].language == row["language"]
        seen.append(cut.id)
    assert seen == [r["key"] for r in rows]
    with tarfile.open(out / "recording.000000.tar") as tar:  # not re-encoded
        flac = {m.name[:-5]: tar.extractfile(m).read() for m in tar if m.name.endswith(".flac")}
    assert flac == {r["key"]: shard_flac[r["key"]] for r in rows}


def test_small_shards_are_numbered_and_read_whole(small_shar, rows):
    out, report, _ = small_shar
    count = math.ceil(len(rows) / 7)
    assert count > 3
    assert report["files"] == sorted([f"cuts.{i:06d}.jsonl.gz" for i in range(count)]
                                     + [f"recording.{i:06d}.tar" for i in range(count)])
    sizes = []
    for i in range(count):
        with gzip.open(out / f"cuts.{i:06d}.jsonl.gz", "rt") as f:
            sizes.append(sum(1 for _ in f))
    assert sizes[:-1] == [7] * (count - 1) and 0 < sizes[-1] <= 7
    cuts = CutSet.from_shar(in_dir=out)
    assert [c.id for c in cuts] == [r["key"] for r in rows]
    assert all(c.load_audio().shape == (1, c.num_samples) for c in CutSet.from_shar(in_dir=out))


def test_shar_is_what_lhotse_shar_writer_writes(small_shar, manifests, tmp_path):
    """The first shard against Lhotse's SharWriter over the same 7 cuts: the same cut lines, tar member names,
    member metadata and JSON members; only the FLAC bytes differ (Lhotse re-encodes, we copy)."""
    out, _, _ = small_shar
    cuts = lhotse.load_manifest(manifests[0] / "cuts.jsonl.gz").with_recording_path_prefix(manifests[0])
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with SharWriter(theirs, fields={"recording": "flac"}, shard_size=7) as writer:
        for cut in cuts.subset(first=7):
            writer.write(cut)
    assert sorted(p.name for p in theirs.iterdir()) == ["cuts.000000.jsonl.gz", "recording.000000.tar"]
    for name in ("cuts.000000.jsonl.gz",):
        with gzip.open(out / name, "rt") as a, gzip.open(theirs / name, "rt") as b:
            assert a.read() == b.read()

    def members(path: Path) -> list[tuple]:
        with tarfile.open(path) as tar:
            return [(m.name, m.size if m.name.endswith(".json") else None, m.mode, m.mtime, m.uid, m.gid, m.uname,
                     m.gname, tar.extractfile(m).read() if m.name.endswith(".json") else None) for m in tar]

    assert members(out / "recording.000000.tar") == members(theirs / "recording.000000.tar")


# --- both -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["manifests", "shar"])
def test_the_same_release_exports_to_the_same_bytes_anywhere(kind, request, release, tmp_path):
    out, report, _ = request.getfixturevalue(kind)
    before = _files(out)
    again = export_lhotse(release, tmp_path / "elsewhere", shar=kind == "shar")
    assert _files(tmp_path / "elsewhere") == before
    assert {**again, "path": None} == {**report, "path": None}
    export_lhotse(release, tmp_path / "elsewhere", shar=kind == "shar")  # over the earlier export: replaced whole
    assert _files(tmp_path / "elsewhere") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"], "no temporary folder is left"


@pytest.mark.parametrize("as_shar", [False, True])
def test_a_shard_that_differs_from_its_manifest_fails_and_leaves_the_earlier_export(as_shar, release, tmp_path):
    root = tmp_path / "root"  # a copy: the fixture's release is read-only
    shutil.copytree(release.path.parent.parent / "shards", root / "shards")
    shutil.copytree(release.path, root / "releases" / release.path.name)
    copy = open_release(root / "releases" / release.path.name)
    target = tmp_path / "exports" / "lhotse"
    export_lhotse(copy, target, shar=as_shar)
    before = _files(target)
    shard = copy.path / sorted(copy.table("shards").column("path").to_pylist())[-1]
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # in the tar's end blocks: every sample still reads, the bytes differ
    shard.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="SHA-256"):
        export_lhotse(copy, target, shar=as_shar)
    assert _files(target) == before, "the earlier export is untouched"
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["lhotse"], "no temporary folder is left"


@pytest.mark.parametrize("value", ["../x", "a/b", "", ".hidden", "..", "a\0b", "a\\b", "x..y", None])
def test_an_identifier_that_is_no_single_path_component_is_refused(value):
    with pytest.raises(ValueError, match="cannot be a path component") as caught:
        safe_component(value, "key")
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("value", ["eng_Latn", "fleurs", "fleurs-e3cc43940c3da4b74c862486-0000", "a.b", "ünï"])
def test_a_safe_identifier_passes(value):
    assert safe_component(value, "key") == value


@pytest.mark.parametrize(("column", "value"), [("language", "../../evil"), ("corpus", "a/b"), ("key", ".x")])
def test_a_release_with_a_hostile_identifier_exports_nothing(column, value, release, tmp_path):
    folder = tmp_path / "releases" / release.path.name  # the manifests alone: nothing reaches the shards
    shutil.copytree(release.path, folder)
    table = pq.read_table(folder / "utterances.parquet")
    values = table.column(column).to_pylist()
    values[len(values) // 2] = value
    table = table.set_column(table.schema.get_field_index(column), table.schema.field(column),
                             pa.array(values, table.schema.field(column).type))
    pq.write_table(table, folder / "utterances.parquet")
    exports = tmp_path / "exports"
    with pytest.raises(ValueError, match=f"{column} {value!r}"):
        export_lhotse(open_release(folder), exports / "out")
    assert not exports.exists() or not list(exports.iterdir()), "nothing written, no temporary folder"


def test_a_folder_holding_other_files_is_not_replaced(release, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not replaced"):
        export_lhotse(release, out)
    assert _files(out) == {"notes.txt": hashlib.sha256(b"keep me").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
