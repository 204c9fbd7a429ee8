"""Data contracts: every table documented, versioned, and round-tripping through Parquet unchanged."""

from __future__ import annotations

import pyarrow as pa
import pytest

from omnicorpus.manifests import schema
from omnicorpus.manifests.keys import item_id, row_uri, segment_id, speaker_pseudonym, split_row_uri
from omnicorpus.manifests.tables import SchemaError, conform, read_table, to_parquet_bytes, write_table

EXPECTED = {"source_items", "recordings", "ingested", "segments", "rejects", "shards", "utterances", "summary"}


def _example_value(field: pa.Field, i: int):
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}-ü€"
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_integer(t):
        return i * 7
    if pa.types.is_floating(t):
        return i * 0.25
    if pa.types.is_struct(t):
        return {f.name: _example_value(f, i) for f in t}
    if pa.types.is_binary(t):
        return bytes([i]) * 4 + b"\x00\xff"
    raise AssertionError(f"no example for {t}")


def test_every_table_is_there_documented_and_versioned():
    assert set(schema.TABLES) == EXPECTED
    for name, s in schema.TABLES.items():
        assert s.metadata[b"schema_version"].decode() == schema.SCHEMA_VERSION
        undocumented = [f.name for f in s if not (f.metadata or {}).get(b"doc")]
        assert not undocumented, f"{name}: columns without documentation {undocumented}"
        assert len(set(s.names)) == len(s.names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_round_trip_through_parquet(tmp_path, name):
    s = schema.TABLES[name]
    rows = [{f.name: _example_value(f, i) for f in s} for i in range(5)]
    rows.append({f.name: (_example_value(f, 9) if not f.nullable else None) for f in s})
    table = conform(rows, s)
    path = tmp_path / f"{name}.parquet"
    write_table(table, path, s)
    back = read_table(path, s)
    assert back.schema.equals(s, check_metadata=False)
    assert back.to_pylist() == table.to_pylist()
    assert to_parquet_bytes(table, s) == to_parquet_bytes(back, s), "same rows must give the same bytes"


def test_conform_refuses_unknown_and_missing_columns():
    with pytest.raises(SchemaError, match="unknown columns"):
        conform([{"key": "a", "stage": "x", "reason": "y", "corpus": "c", "source_uri": "u", "typo": 1}],
                schema.REJECTS)
    missing = "missing required column\\(s\\) 'corpus', 'source_uri', 'stage', 'reason'"
    with pytest.raises(SchemaError, match=missing):
        conform(pa.table({"key": ["a"]}), schema.REJECTS)


def test_conform_fills_absent_nullable_columns_and_orders_them():
    t = conform(pa.table({"reason": ["duplicate"], "stage": ["dedup"], "key": ["k"],
                          "corpus": ["cv"], "source_uri": ["/a.wav"]}), schema.REJECTS)
    assert t.column_names == schema.REJECTS.names
    assert t.column("detail").null_count == 1


def test_read_of_a_missing_table_is_empty(tmp_path):
    assert read_table(tmp_path / "nothing", schema.SEGMENTS).num_rows == 0


def test_keys_are_stable_and_safe_for_webdataset():
    a = item_id("cv", "/data/clips/a.mp3")
    assert a == item_id("cv", "/data/clips/a.mp3")
    assert a != item_id("cv2", "/data/clips/a.mp3")
    assert a != item_id("cv", "/data/clips/a.mp3", 0.0, 1.5)
    for key in (a, segment_id(a, 3), item_id("my.corpus/x", "/a.b/c.wav")):
        assert "." not in key and "/" not in key
    assert split_row_uri(row_uri("/d/train-0.parquet", 12)) == ("/d/train-0.parquet", 12)
    assert split_row_uri("/d/x.wav") == ("/d/x.wav", None)


def test_speaker_pseudonyms_depend_on_the_salt():
    p = speaker_pseudonym("cv", "client-1", "salt-a")
    assert p == speaker_pseudonym("cv", "client-1", "salt-a")
    assert p != speaker_pseudonym("cv", "client-1", "salt-b")
    assert "client-1" not in p
    assert speaker_pseudonym("cv", None, "s") is None
