"""Shards: deterministic bytes, WebDataset-readable, split at the target size, reused when unchanged."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import webdataset as wds

from omnicorpus.corpus.pcm import encode_flac, read_flac
from omnicorpus.manifests.keys import segment_id
from omnicorpus.manifests.layout import audio_store_path, group_index, segment_pack_path
from omnicorpus.manifests.schema import SEGMENTS
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines.shard import ShardTask, write_group_shards


def _store_recording(root: Path, seconds: float, seed: int) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    samples = (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size))
    data = encode_flac(samples.astype(np.float32))
    sha = hashlib.sha256(str(seed).encode()).hexdigest()
    rel = audio_store_path(sha)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    return rel, sha


def _segments(root: Path, n: int = 6) -> list[dict]:
    rows = []
    for i in range(n):
        rel, sha = _store_recording(root, 3.0, i)
        rec = f"cv-{i:024x}"
        rows.append({
            "segment_id": segment_id(rec, 0), "recording_id": rec, "corpus": "cv", "split": "train",
            "language": "deu_Latn", "source_uri": f"/data/{i}.mp3", "labelled": True, "speaker": "spk-1",
            "audio_path": rel, "start": 0.5, "end": 2.5, "seconds": 2.0, "raw_text": f"Satz Nummer {i}.",
            "text": f"satz nummer {i}", "pcm_sha256": sha,
        })
    return rows


def _packed(root: Path, rows: list[dict]) -> list[dict]:
    """The rows with their segment FLACs in one pack, as the segment stage stores them."""
    flacs = []
    for row in rows:
        audio = read_flac(root / row["audio_path"])
        flacs.append(encode_flac(audio[round(row["start"] * 16000):round(row["end"] * 16000)]))
    pack = b"".join(flacs)
    rel = segment_pack_path(hashlib.sha256(pack).hexdigest())
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(pack)
    offsets = np.cumsum([0] + [len(f) for f in flacs]).tolist()
    return [{**row, "flac_pack": rel, "flac_offset": offsets[i], "flac_bytes": len(flacs[i]),
             "flac_sha256": hashlib.sha256(flacs[i]).hexdigest()} for i, row in enumerate(rows)]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "shards" in p.parts}


def test_same_segments_give_byte_identical_shards(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    rows = _segments(a)
    _segments(b)
    task_a, task_b = ShardTask(str(a), 40_000, "cfg"), ShardTask(str(b), 40_000, "cfg")
    shards_a = write_group_shards(conform(rows, SEGMENTS), task_a)
    shards_b = write_group_shards(conform(list(reversed(rows)), SEGMENTS), task_b)  # input order is irrelevant
    assert shards_a.to_pylist() == shards_b.to_pylist()
    assert _tree(a) == _tree(b) and len(_tree(a)) > 2
    assert shards_a.num_rows > 1, "a 40 kB target must split six 2 s samples over several shards"
    assert sum(shards_a.column("num_samples").to_pylist()) == 6


def test_tar_headers_are_fixed_and_keys_safe(tmp_path):
    rows = _segments(tmp_path)
    shards = write_group_shards(conform(rows, SEGMENTS), ShardTask(str(tmp_path), 1 << 30, "cfg"))
    assert shards.num_rows == 1
    shard = shards.to_pylist()[0]
    path = tmp_path / shard["path"]
    assert shard["path"].startswith("shards/deu_Latn/cv/train/")
    assert shard["bytes"] == path.stat().st_size
    assert shard["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [f"{r['segment_id']}.{ext}" for r in rows for ext in ("flac", "json")]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}


def test_plain_webdataset_reads_the_samples(tmp_path):
    rows = _segments(tmp_path)
    shards = write_group_shards(conform(rows, SEGMENTS), ShardTask(str(tmp_path), 1 << 30, "cfg"))
    url = str(tmp_path / shards.column("path")[0].as_py())
    samples = list(wds.WebDataset(url, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [r["segment_id"] for r in rows]
    for sample, row in zip(samples, rows, strict=True):
        meta = json.loads(sample["json"])
        assert meta["text"] == row["text"] and meta["language"] == "deu_Latn"
        audio, rate = sf.read(io.BytesIO(sample["flac"]))
        assert rate == 16000 and audio.ndim == 1
        assert len(audio) == 32000, "the sample is the segment's span, 2.0 s"


def test_an_unchanged_group_is_not_written_again(tmp_path):
    rows = _segments(tmp_path)
    task = ShardTask(str(tmp_path), 1 << 30, "cfg")
    first = write_group_shards(conform(rows, SEGMENTS), task)
    path = tmp_path / first.column("path")[0].as_py()
    mtime = path.stat().st_mtime_ns
    again = write_group_shards(conform(rows, SEGMENTS), task)
    assert again.to_pylist() == first.to_pylist()
    assert path.stat().st_mtime_ns == mtime
    shards_index, utterances_index = group_index(first.column("path")[0].as_py())
    assert (tmp_path / shards_index).exists() and (tmp_path / utterances_index).exists()
    changed = write_group_shards(conform(rows[:-1], SEGMENTS), task)
    assert changed.column("path")[0].as_py() != first.column("path")[0].as_py()


def test_shards_copied_from_packs_equal_shards_cut_from_recordings(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cut = _segments(a)
    packed = _packed(b, _segments(b))
    shards_a = write_group_shards(conform(cut, SEGMENTS), ShardTask(str(a), 40_000, "cfg"))
    shards_b = write_group_shards(conform(packed, SEGMENTS), ShardTask(str(b), 40_000, "cfg"))
    assert shards_a.to_pylist() == shards_b.to_pylist()
    assert _tree(a) == _tree(b)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_a_damaged_pack_never_reaches_a_shard(tmp_path, damage):
    """Every segment FLAC copied is checked against its SHA-256: a damaged pack is not copied, the span is cut
    again from its recording, and the shards are byte for byte those of an intact store."""
    intact, damaged = tmp_path / "intact", tmp_path / "damaged"
    good = write_group_shards(conform(_packed(intact, _segments(intact)), SEGMENTS),
                              ShardTask(str(intact), 40_000, "c"))
    rows = _packed(damaged, _segments(damaged))
    pack = damaged / rows[0]["flac_pack"]
    data = bytearray(pack.read_bytes())
    if damage == "flip a byte":
        data[rows[2]["flac_offset"] + rows[2]["flac_bytes"] // 2] ^= 0x01
        pack.write_bytes(bytes(data))
    elif damage == "truncate":
        pack.write_bytes(bytes(data[:-100]))
    else:
        pack.unlink()
    repaired = write_group_shards(conform(rows, SEGMENTS), ShardTask(str(damaged), 40_000, "c"))
    assert repaired.to_pylist() == good.to_pylist()
    assert _tree(damaged) == _tree(intact)


def test_a_store_damaged_beyond_repair_fails_the_run_and_leaves_nothing(tmp_path):
    from omnicorpus.pipelines.stage import EnvironmentFault

    rows = _packed(tmp_path, _segments(tmp_path))
    pack = tmp_path / rows[0]["flac_pack"]
    pack.write_bytes(pack.read_bytes()[:-100])
    recording = tmp_path / rows[-1]["audio_path"]  # the recording it would be cut from again differs too
    _, sha = _store_recording(tmp_path, 3.0, 99)
    recording.write_bytes((tmp_path / audio_store_path(sha)).read_bytes())
    with pytest.raises(EnvironmentFault, match="the audio store is damaged"):
        write_group_shards(conform(rows, SEGMENTS), ShardTask(str(tmp_path), 1 << 30, "cfg"))
    assert not [p for p in (tmp_path / "shards").rglob("*") if p.is_file()], "nothing of a failed group is left"


def test_shard_bytes_are_exactly_those_of_pythons_tarfile(tmp_path):
    rows = _packed(tmp_path, _segments(tmp_path))
    shards = write_group_shards(conform(rows, SEGMENTS), ShardTask(str(tmp_path), 1 << 30, "cfg"))
    path = tmp_path / shards.column("path")[0].as_py()
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
    assert len(members) == 12 and path.read_bytes() == expected.getvalue()


@pytest.mark.parametrize("name", ["a.flac", "cv-0123456789abcdef01234567-0000.json", "x" * 100, "y" * 101,
                                  "Ünïcode-ключ.json", "deep/" * 30 + "z.flac"])
@pytest.mark.parametrize("size", [0, 1, 511, 512, 123_456_789, 8**11 - 1, 8**11 + 5])
def test_tar_headers_equal_tarfiles_own(name, size):
    from omnicorpus.pipelines.shard import _tarfile_header, tar_header

    try:
        expected = _tarfile_header(name, size)
    except ValueError as exc:  # USTAR cannot hold it: ours refuses it the same way
        with pytest.raises(ValueError, match=str(exc)):
            tar_header(name, size)
        return
    assert tar_header(name, size) == expected


def test_a_group_larger_than_task_bytes_is_written_by_several_tasks(pipeline_run, spark, tmp_path):
    import dataclasses

    import polars as pl

    from omnicorpus.manifests.config import ShardParams
    from omnicorpus.pipelines.shard import run_shards
    from omnicorpus.pipelines.table_store import read_df

    cfg, _ = pipeline_run
    accepted = read_df(spark, cfg.output, "accepted")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        out.mkdir()
        (out / "audio").symlink_to(Path(cfg.output) / "audio", target_is_directory=True)
        small = dataclasses.replace(cfg, output=str(out), shard=ShardParams(target_bytes=1 << 16, task_bytes=1 << 18))
        runs.append(run_shards(small, accepted))
    (shards, utterances), (shards_again, _) = runs
    assert sorted(shards.to_pylist(), key=str) == sorted(shards_again.to_pylist(), key=str), "deterministic"
    keys = utterances.column("key").to_pylist()
    assert len(keys) == len(set(keys)) == accepted.count(), "every accepted segment in exactly one shard"

    segments = pl.from_arrow(accepted.select("language", "corpus", "split", "flac_bytes").toArrow())
    expected = segments.group_by("language", "corpus", "split").agg(
        (pl.col("flac_bytes").sum() / (1 << 18)).ceil().cast(pl.Int64).alias("parts"))
    written = pl.from_arrow(shards).with_columns(pl.col("path").str.extract(r"/([0-9a-f]{16})-").alias("digest")) \
        .group_by("language", "corpus", "split").agg(pl.col("digest").n_unique().alias("tasks"))
    both = expected.join(written, on=["language", "corpus", "split"], nulls_equal=True)
    assert both.height == expected.height
    assert (both["tasks"] <= both["parts"]).all(), "a group is cut into at most its number of parts"
    assert both.filter(pl.col("parts") == 1)["tasks"].to_list() == [1] * both.filter(pl.col("parts") == 1).height
    assert both["tasks"].max() >= 3, "the long-form groups are written by several tasks"
