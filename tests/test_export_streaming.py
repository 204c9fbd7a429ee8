"""Exports stream: the release's rows are read a batch at a time and its shards one at a time, never whole.

The memory an export takes, measured on releases of 50k and 250k utterances, is in `bench/export.py`; here, on
a small release of three shards, what makes it bounded: audio comes out of the first shard before the rows of
the second are read, and a manifest out of shard order is refused rather than read whole to sort it.
"""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from omnicorpus.manifests import shard_audio
from omnicorpus.manifests.release import build_release, open_release
from omnicorpus.manifests.schema import REJECTS, UTTERANCES
from omnicorpus.manifests.shard_audio import ExportError, release_audio, utterance_count, utterance_rows
from omnicorpus.manifests.tables import to_parquet_bytes

ROWS_PER_SHARD = 4


@pytest.fixture
def three_shards(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(800, np.int16), 16000, format="FLAC", subtype="PCM_16")
    shards, rows = [], []
    for number, split in enumerate(("train", "dev", "test")):
        path = f"shards/eng_Latn/tiny/{split}/s-{number:06d}.tar"
        keys = [f"tiny-{number}{i:03d}-0000" for i in range(ROWS_PER_SHARD)]
        (tmp_path / path).parent.mkdir(parents=True)
        with tarfile.open(tmp_path / path, "w") as tar:
            for key in keys:
                info = tarfile.TarInfo(f"{key}.flac")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
        data = (tmp_path / path).read_bytes()
        shards.append({"path": path, "language": "eng_Latn", "corpus": "tiny", "split": split, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest(), "num_samples": len(keys)})
        rows += [{"key": k, "shard": path, "language": "eng_Latn", "corpus": "tiny", "split": split,
                  "seconds": 0.05, "text": "a b c"} for k in keys]
    release, _ = build_release(str(tmp_path), pa.Table.from_pylist(shards), pa.Table.from_pylist(rows),
                               REJECTS.empty_table(), config_hash="streaming")
    return release


def test_audio_of_the_first_shard_comes_before_the_next_shards_rows_are_read(three_shards, monkeypatch):
    monkeypatch.setattr(shard_audio, "ROW_BATCH", 2)  # batches smaller than a shard
    read = []

    def counted():
        for row in utterance_rows(three_shards, ["text"]):
            read.append(row["key"])
            yield row

    pairs = release_audio(three_shards, counted())
    first, audio = next(pairs)
    assert audio.samples == 800 and first["key"] == read[0]
    assert len(read) == ROWS_PER_SHARD + 1, "one shard's rows and the row that ends it, not the release's"
    assert len([first, *(row for row, _ in pairs)]) == utterance_count(three_shards) == 3 * ROWS_PER_SHARD


def test_a_manifest_out_of_shard_order_is_refused_not_sorted_in_memory(three_shards):
    table = three_shards.table("utterances")
    backwards = table.take(list(range(table.num_rows - 1, -1, -1)))
    (three_shards.path / "utterances.parquet").write_bytes(to_parquet_bytes(backwards, UTTERANCES))
    with pytest.raises(ExportError, match="not in shard order"):
        list(utterance_rows(open_release(three_shards.path), []))


def test_rows_of_one_shard_that_come_back_later_are_refused(three_shards):
    rows = list(utterance_rows(three_shards, []))
    with pytest.raises(ExportError, match="not together"):
        list(release_audio(three_shards, [*rows, rows[0]]))
