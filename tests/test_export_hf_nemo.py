"""The Hugging Face and NeMo exports of a release, opened the way their users open them.

Real readers, no mocks: `datasets.load_dataset` reads the Hugging Face folder (through its card, and as bare
Parquet files) and decodes the audio with torchcodec; the NeMo manifests are resolved as NeMo's `get_full_path`
resolves them and their audio read with soundfile, as NeMo reads it. Every expectation comes from the release's
own tables and its shard tars, read here with tarfile, not through the exporters' code. Nothing goes to the
network: the Hub is off and the datasets cache is a temporary folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import yaml

from omnicorpus.manifests.export_hf import export_hf
from omnicorpus.manifests.export_nemo import export_nemo
from omnicorpus.manifests.keys import safe_component
from omnicorpus.manifests.release import open_release
from omnicorpus.manifests.schema import UTTERANCES
from omnicorpus.manifests.shard_audio import ExportError
from omnicorpus.manifests.tables import to_parquet_bytes

RATE = 16_000
SPLITS = ("train", "dev", "test")
DATA_FILE = re.compile(r"data/(train|dev|test)-(\d{5})-of-(\d{5})\.parquet")
COLUMNS = ["id", "audio", "text", "raw_text", "language", "corpus", "split", "speaker", "speaker_source", "seconds",
           "source", "start", "end", "partner"]


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def rows(release) -> list[dict]:
    """The release's utterances in its order, (shard, key)."""
    return sorted(release.table("utterances").to_pylist(), key=lambda u: (u["shard"], u["key"]))


@pytest.fixture(scope="module")
def shard_flac(release, rows) -> dict[str, bytes]:
    """key -> the FLAC member of its shard tar, read with tarfile."""
    flacs = {}
    for shard in sorted({u["shard"] for u in rows}):
        with tarfile.open(release.path / shard) as tar:
            for member in tar:
                if member.name.endswith(".flac"):
                    flacs[member.name[: -len(".flac")]] = tar.extractfile(member).read()
    return flacs


@pytest.fixture(scope="module")
def hf_datasets(tmp_path_factory):
    """`datasets`, offline, with a cache of its own: (module, cache folder)."""
    import datasets
    import huggingface_hub.constants

    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            mp.setenv(name, "1")
        mp.setenv("HF_DATASETS_CACHE", str(cache))
        # both read the environment when imported: set what they read it into as well
        mp.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield datasets, str(cache)


@pytest.fixture(scope="module")
def hf_export(release, tmp_path_factory):
    """The fixture's release exported once for Hugging Face: (folder, report, progress calls)."""
    out = tmp_path_factory.mktemp("hf") / "export"
    calls: list[tuple[int, int]] = []
    report = export_hf(release, out, progress=lambda done, total: calls.append((done, total)))
    return out, report, calls


@pytest.fixture(scope="module")
def hf_loaded(hf_export, hf_datasets):
    """`datasets.load_dataset(OUT)`: the folder as the Hub would serve it, through its card."""
    datasets, cache = hf_datasets
    return datasets.load_dataset(str(hf_export[0]), cache_dir=cache)


@pytest.fixture(scope="module")
def nemo_export(release, tmp_path_factory):
    """The fixture's release exported once for NeMo: (folder, report, progress calls)."""
    out = tmp_path_factory.mktemp("nemo") / "export"
    calls: list[tuple[int, int]] = []
    report = export_nemo(release, out, progress=lambda done, total: calls.append((done, total)))
    return out, report, calls


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".old-")))


def _copy_root(release, tmp_path: Path):
    """A copy of the release's output root (shards and release folder), opened: the fixture's is read-only."""
    root = tmp_path / "root"
    shutil.copytree(release.path.parent.parent / "shards", root / "shards")
    shutil.copytree(release.path, root / "releases" / release.path.name)
    return open_release(root / "releases" / release.path.name)


def _unlabelled(u: dict) -> bool:
    return u["text"] is None or not u["text"].strip()


# --- Hugging Face ---------------------------------------------------------------------------------------------


def test_load_dataset_of_the_folder_gives_the_release_split_by_split(hf_loaded, hf_datasets, rows):
    datasets, _ = hf_datasets
    assert set(hf_loaded) == set(SPLITS) == {u["split"] for u in rows}
    for split in SPLITS:
        ds = hf_loaded[split]
        expected = [u for u in rows if u["split"] == split]
        assert ds.num_rows == len(expected), split
        assert ds.column_names == COLUMNS
        audio = ds.features["audio"]
        assert isinstance(audio, datasets.Audio) and audio.sampling_rate == RATE and audio.decode
        got = ds.select_columns([c for c in COLUMNS if c != "audio"]).to_dict()
        assert got["id"] == [u["key"] for u in expected], "rows in the release's (shard, key) order"
        for column in ("text", "raw_text", "language", "corpus", "split", "speaker", "speaker_source", "source",
                       "start", "end", "partner"):
            assert got[column] == [u[column] for u in expected], (split, column)
        assert got["seconds"] == pytest.approx([u["seconds"] for u in expected], abs=1e-3)
    assert any(t is None for t in list(hf_loaded["train"]["text"])), "unlabelled audio is exported, its text null"


def test_the_audio_decodes_to_the_shard_flac(hf_loaded, hf_datasets, rows, shard_flac):
    datasets, _ = hf_datasets
    where = {}
    for split in SPLITS:
        for i, key in enumerate(list(hf_loaded[split]["id"])):
            where[key] = (split, i)
    first_of_language = {}
    for u in rows:
        first_of_language.setdefault(u["language"], u["key"])
    picked = [u["key"] for u in rows if u["split"] == "train"][:3] + sorted(first_of_language.values())
    assert len(first_of_language) > 10
    encoded = {s: hf_loaded[s].cast_column("audio", datasets.Audio(decode=False)) for s in SPLITS}
    for key in picked:
        split, i = where[key]
        stored = encoded[split][i]["audio"]
        assert stored == {"bytes": shard_flac[key], "path": f"{key}.flac"}, "the shard's FLAC, byte for byte"
        audio = hf_loaded[split][i]["audio"]
        expected, rate = sf.read(io.BytesIO(shard_flac[key]), dtype="float32")
        decoded = np.asarray(audio["array"])
        assert audio["sampling_rate"] == rate == RATE
        assert decoded.dtype.kind == "f" and decoded.shape == expected.shape == (sf.info(
            io.BytesIO(shard_flac[key])).frames,)
        np.testing.assert_allclose(decoded, expected, atol=1e-6, err_msg=key)
        assert hf_loaded[split][i]["seconds"] == len(expected) / RATE


def test_the_parquet_files_alone_carry_the_audio_feature(hf_export, hf_datasets, rows):
    datasets, cache = hf_datasets
    out, report, _ = hf_export
    data = [f for f in report["files"] if f.startswith("data/")]
    assert all(DATA_FILE.fullmatch(f) for f in data), data
    files = {s: [str(out / f) for f in data if f.startswith(f"data/{s}-")] for s in SPLITS}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=cache)
    for split in SPLITS:
        assert ds[split].features["audio"] == datasets.Audio(sampling_rate=RATE)
        assert list(ds[split]["id"]) == [u["key"] for u in rows if u["split"] == split]
    for f in data:
        meta = pq.ParquetFile(out / f).metadata
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert groups and all(n == 100 for n in groups[:-1]) and 0 < groups[-1] <= 100, (f, groups)
        assert b"huggingface" in meta.metadata and meta.metadata[b"omnicorpus_release"] == report["release"].encode()


def test_the_card_names_languages_splits_and_licence(hf_export, release, rows):
    out, _, _ = hf_export
    card = (out / "README.md").read_text("utf-8")
    front, _, body = card.removeprefix("---\n").partition("\n---\n")
    meta = yaml.safe_load(front)
    codes = {u["language"] for u in rows}
    assert meta["language"] == sorted({c.split("_")[0] for c in codes if c != "und"})
    assert all(re.fullmatch(r"[a-z]{3}", lang) for lang in meta["language"])
    assert meta["task_categories"] == ["automatic-speech-recognition"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in SPLITS]}]
    counts = Counter(u["split"] for u in rows)
    info = meta["dataset_info"]
    assert [(s["name"], s["num_examples"]) for s in info["splits"]] == [(s, counts[s]) for s in SPLITS]
    assert all(s["num_bytes"] > 0 for s in info["splits"])
    assert {"name": "audio", "dtype": {"audio": {"sampling_rate": RATE}}} in info["features"]
    recorded = {s["name"]: s.get("license") for s in release.info.get("sources", [])}
    licences = sorted({recorded[c].lower() for c in {u["corpus"] for u in rows} if recorded.get(c)})
    if all(recorded.get(u["corpus"]) for u in rows):
        assert licences and meta["license"] == (licences[0] if len(licences) == 1 else licences)
        assert "unknown" not in body.partition("## Licence")[2]
    else:
        assert "other" in meta["license"] and "unknown" in body.partition("## Licence")[2]
    assert release.id in body and release.info["schema_version"] in body
    assert all(f"`{code}`" in body for code in codes), "every full code is in the body"
    table = [line for line in body.splitlines() if line.startswith("| eng_Latn |")]
    assert len(table) == 1 and len(table[0].split("|")) == len(SPLITS) + 4


def test_a_release_without_licences_is_other_and_says_unknown(release, tmp_path):
    copy = _copy_root(release, tmp_path)
    info = json.loads((copy.path / "release.json").read_text("utf-8"))
    for source in info.get("sources", []):
        source.pop("license", None)  # as releases made before licences were recorded
    (copy.path / "release.json").write_text(json.dumps(info), "utf-8")
    out = tmp_path / "hf"
    export_hf(open_release(copy.path), out)
    front, _, body = (out / "README.md").read_text("utf-8").removeprefix("---\n").partition("\n---\n")
    assert yaml.safe_load(front)["license"] == "other"
    licence = body.partition("## Licence")[2]
    assert "unknown" in licence and all(f"`{c}`: unknown" in licence for c in {"cv", "fleurs"})


def test_the_report_says_what_was_written(hf_export, rows):
    out, report, calls = hf_export
    assert report["format"] == "hf" and report["path"] == str(out) and report["utterances"] == len(rows)
    assert report["files"] == sorted(_files(out)) and "README.md" in report["files"]
    assert report["bytes"] == sum((out / f).stat().st_size for f in report["files"])
    assert calls == [(i, len(rows)) for i in range(1, len(rows) + 1)]
    hours = sum(h for by_lang in report["hours"].values() for h in by_lang.values())
    assert hours == pytest.approx(sum(u["seconds"] for u in rows) / 3600, abs=1e-6)
    assert list(report["hours"]) == list(SPLITS)
    assert _leftovers(out.parent) == []


def test_files_roll_over_at_the_size_limit(release, hf_export, hf_datasets, tmp_path):
    datasets, cache = hf_datasets
    out, _, _ = hf_export
    limit = 1_000_000
    small = export_hf(release, tmp_path / "small", max_file_bytes=limit)
    data = [f for f in small["files"] if f.startswith("data/")]
    for split in SPLITS:
        names = [f for f in data if f.startswith(f"data/{split}-")]
        assert len(names) > 1, split
        assert names == [f"data/{split}-{i:05d}-of-{len(names):05d}.parquet" for i in range(len(names))]
    for f in data:
        meta = pq.ParquetFile(tmp_path / "small" / f).metadata
        assert (tmp_path / "small" / f).stat().st_size <= limit + 64_000 or meta.num_rows == 1, f
    ds = datasets.load_dataset(str(tmp_path / "small"), cache_dir=cache)
    big = datasets.load_dataset(str(out), cache_dir=cache)
    for split in SPLITS:
        assert ds[split].data.table.equals(big[split].data.table), "the same rows, however the files are cut"


# --- NeMo -----------------------------------------------------------------------------------------------------


def test_nemo_manifests_resolve_to_the_audio_nemo_reads(nemo_export, rows, shard_flac):
    out, report, calls = nemo_export
    labelled = [u for u in rows if not _unlabelled(u)]
    assert sorted(p.name for p in out.iterdir()) == ["audio", *sorted(f"{s}_manifest.json" for s in SPLITS)]
    assert report["files"] == sorted(f"{s}_manifest.json" for s in SPLITS)
    lines = 0
    for split in SPLITS:
        manifest = out / f"{split}_manifest.json"
        entries = [json.loads(line) for line in manifest.read_text("utf-8").splitlines()]
        expected = [u for u in labelled if u["split"] == split]
        assert [e["key"] for e in entries] == [u["key"] for u in expected], "in the release's (shard, key) order"
        for e, u in zip(entries, expected, strict=True):
            own_id = ["speaker_source"] if u["speaker_source"] is not None else []  # the corpus's id, where allowed
            assert list(e) == ["audio_filepath", "duration", "text", "lang", "corpus", "speaker", "key", *own_id]
            assert e.get("speaker_source") == u["speaker_source"]
            assert (e["text"], e["lang"], e["corpus"], e["speaker"]) == (u["text"], u["language"], u["corpus"],
                                                                        u["speaker"])
            path = e["audio_filepath"]
            assert not os.path.isabs(path) and "/" in path and len(path) < 255
            resolved = manifest.parent / path  # NeMo's get_full_path: relative to the manifest's folder
            assert resolved.is_file() and resolved.read_bytes() == shard_flac[u["key"]]
            info = sf.info(str(resolved))
            assert (info.samplerate, info.channels, info.format) == (RATE, 1, "FLAC")
            assert abs(info.frames / RATE - e["duration"]) < 1e-6
            assert e["duration"] == pytest.approx(u["seconds"], abs=1e-3)
        lines += len(entries)
    assert len(list((out / "audio").rglob("*.flac"))) == lines == report["utterances"] == report["audio_files"]
    unlabelled = sum(map(_unlabelled, rows))
    assert unlabelled > 0, "the sample corpus has unlabelled long-form audio"
    assert report["skipped"] == unlabelled and report["skipped_by_reason"] == {"unlabelled": unlabelled}
    assert lines + report["skipped"] == len(rows)
    assert report["bytes"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert calls == [(i, lines) for i in range(1, lines + 1)]
    assert report["format"] == "nemo" and report["path"] == str(out) and _leftovers(out.parent) == []


def test_nemo_text_survives_as_utf8(nemo_export):
    out, _, _ = nemo_export
    raw = b"".join((out / f"{s}_manifest.json").read_bytes() for s in SPLITS)
    assert b"\\u" not in raw, "ensure_ascii=False: no escapes"
    assert any(b > 0x7F for b in raw), "the sample's Hindi, Arabic, ... transcripts are there as UTF-8"


# --- both -----------------------------------------------------------------------------------------------------


def test_exporting_again_gives_the_same_bytes(release, hf_export, nemo_export, tmp_path):
    for export, (out, report, _) in ((export_hf, hf_export), (export_nemo, nemo_export)):
        before = _files(out)
        again = export(release, tmp_path / export.__name__)
        assert _files(tmp_path / export.__name__) == before, export.__name__
        assert {k: v for k, v in again.items() if k != "path"} == {k: v for k, v in report.items() if k != "path"}
        export(release, tmp_path / export.__name__)  # over an earlier export: replaced whole
        assert _files(tmp_path / export.__name__) == before, export.__name__
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("export", [export_hf, export_nemo], ids=["hf", "nemo"])
def test_a_corrupted_shard_stops_the_export_and_leaves_the_last_one(release, export, tmp_path):
    copy = _copy_root(release, tmp_path)
    target = tmp_path / "exports" / "export"
    export(copy, target)
    before = _files(target)
    shard = copy.path / copy.table("shards").column("path")[0].as_py()
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # in the tar's end blocks: every sample still reads, the bytes differ
    shard.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="SHA-256"):
        export(copy, target)
    assert _files(target) == before, "the earlier export is untouched"
    assert _leftovers(target.parent) == [], "no temporary folder is left"


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "..", "a\\b", "a\0b", "x/../y", None])
def test_safe_component_rejects_what_is_no_single_file_name(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        safe_component(bad, "key")


def test_safe_component_takes_our_identifiers():
    for name in ("eng_Latn", "fleurs-e3cc43940c3da4b74c862486-0000", "train", "common_voice.v2"):
        assert safe_component(name, "key") == name


@pytest.mark.parametrize("export", [export_hf, export_nemo], ids=["hf", "nemo"])
@pytest.mark.parametrize("column,value", [("key", "../../escape"), ("split", "a/b"), ("corpus", ".hidden")])
def test_an_identifier_that_is_no_file_name_fails_the_export(release, export, column, value, tmp_path):
    copy = _copy_root(release, tmp_path)
    utts = copy.table("utterances").to_pylist()
    victim = next(u for u in utts if not _unlabelled(u))  # NeMo checks only what it exports
    victim[column] = value
    (copy.path / "utterances.parquet").write_bytes(to_parquet_bytes(_table(utts), UTTERANCES))
    target = tmp_path / "exports" / "export"
    if export is export_hf and column == "corpus":  # the corpus names no Hugging Face file: exported as it is
        export(copy, target)
        return
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        export(copy, target)
    assert not target.parent.exists(), "checked before anything is written"


def _table(rows: list[dict]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=UTTERANCES)
