"""The quality gate with real Great Expectations over the release the pipeline made of the sample corpus.

The fixture's release passes; each corruption, made in a copy of the release and its shards, fails it on
the check of the right table and column; Data Docs are written every time.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnicorpus.manifests.schema import TABLES
from omnicorpus.quality.gate import Verdict, validate_release
from omnicorpus.quality.suites import (
    CHECK_COLUMNS,
    RELEASE_TABLES,
    STAGE_TABLES,
    SuiteParams,
    build_suite,
    decode_sample,
)


def _copy_release(release_dir: Path, tmp_path: Path) -> Path:
    """`releases/<id>` and the shards it references, under a new output root in tmp_path."""
    out = tmp_path / "out"
    copy = out / "releases" / release_dir.name
    shutil.copytree(release_dir, copy)
    for rel in pq.read_table(release_dir / "shards.parquet", columns=["path"]).column("path").to_pylist():
        target = (copy / rel).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(release_dir / rel, target)
    return copy


def _rewrite(path: Path, change: Callable[[list[dict]], None]) -> None:
    """Rewrite a release table with `change` applied to its rows (schema and metadata kept)."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def _assert_docs(verdict: Verdict, docs_dir: Path) -> None:
    assert verdict.data_docs == docs_dir / "index.html"
    assert verdict.data_docs.is_file()
    assert "Great Expectations" in verdict.data_docs.read_text("utf-8")
    assert set(verdict.pages) == set(verdict.tables), "a validation page per table"
    assert all(page.is_file() and page.is_relative_to(docs_dir) for page in verdict.pages.values())
    saved = json.loads((docs_dir.parent / "verdict.json").read_text("utf-8"))
    assert saved["passed"] == verdict.passed and saved["checks"] == len(verdict.checks)


def test_suites_follow_the_contracts():
    params = SuiteParams(min_seconds=0.5, max_seconds=20.0)
    for table in RELEASE_TABLES + STAGE_TABLES:
        schema = TABLES[table]
        expectations = build_suite(table, params).expectations
        typed = {e.column for e in expectations if e.expectation_type == "expect_column_values_to_be_of_type"}
        assert typed == set(schema.names), table
        required = {e.column for e in expectations if e.expectation_type == "expect_column_values_to_not_be_null"}
        assert required == {f.name for f in schema if not f.nullable}, table
        columns = next(e for e in expectations if e.expectation_type == "expect_table_columns_to_match_set")
        assert set(columns.column_set) == set(schema.names) | set(CHECK_COLUMNS[table])
    bounds = [e for e in build_suite("utterances", params).expectations
              if e.expectation_type == "expect_column_values_to_be_between" and e.column == "seconds"]
    assert {(e.min_value, e.max_value) for e in bounds} == {(0.0, None), (0.5, 20.0)}


def test_the_release_of_the_sample_corpus_passes(pipeline_run, tmp_path):
    cfg, report = pipeline_run
    docs = tmp_path / "quality" / "data_docs"
    start = time.perf_counter()
    verdict = validate_release(report.release.path, output_root=Path(cfg.output), docs_dir=docs)
    elapsed = time.perf_counter() - start
    by_table = {t: sum(c.table == t for c in verdict.checks) for t in RELEASE_TABLES + STAGE_TABLES}
    print(f"\nquality gate: {len(verdict.checks)} checks {by_table} in {elapsed:.2f} s; docs {verdict.data_docs}")
    assert verdict.passed, [f"{c.table}.{c.column} {c.expectation}: {c.detail}" for c in verdict.failures()]
    assert verdict.release == report.release.id
    assert all(by_table.values()), by_table
    assert verdict.tables["utterances"] == report.release.info["counts"]["utterances"]
    _assert_docs(verdict, docs)
    assert (Path(cfg.output) / "quality" / report.release.id / "verdict.json").exists(), \
        "the release was validated as it was made"
    assert elapsed < 30


def _invalid_language(release: Path) -> None:
    def change(rows: list[dict]) -> None:
        rows[0]["language"] = "xx_Zzzz"
    _rewrite(release / "utterances.parquet", change)


def _negative_seconds(release: Path) -> None:
    def change(rows: list[dict]) -> None:
        rows[1]["seconds"] = -rows[1]["seconds"]
    _rewrite(release / "utterances.parquet", change)


def _flipped_byte(release: Path) -> None:
    shard = release / pq.read_table(release / "shards.parquet").column("path")[0].as_py()
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))


def _split_leak(release: Path) -> None:
    def change(rows: list[dict]) -> None:
        train = next(r for r in rows if r["split"] == "train")
        test = next(r for r in rows if r["split"] == "test")
        test["source"], test["start"], test["end"] = train["source"], train["start"], train["end"]
        test["seconds"] = train["seconds"]
    _rewrite(release / "utterances.parquet", change)


def _summary_hours(release: Path) -> None:
    def change(rows: list[dict]) -> None:
        rows[0]["hours"] += 0.01
    _rewrite(release / "summary.parquet", change)


def _missing_column(release: Path) -> None:
    path = release / "utterances.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["text"]), path)


@pytest.mark.parametrize(("corrupt", "table", "expectation", "column"), [
    (_invalid_language, "utterances", "expect_column_values_to_be_in_set", "language_valid"),
    (_negative_seconds, "utterances", "expect_column_values_to_be_between", "seconds"),
    (_flipped_byte, "shards", "expect_column_pair_values_to_be_equal", "sha256"),
    (_split_leak, "utterances", "expect_column_values_to_be_between", "span_splits"),
    (_summary_hours, "summary", "expect_column_values_to_be_between", "hours_error"),
    (_missing_column, "utterances", "expect_table_columns_to_match_set", None),
], ids=["invalid-language", "negative-seconds", "flipped-shard-byte", "split-leak", "summary-hours",
        "missing-column"])
def test_a_corrupted_release_fails_on_the_right_check(pipeline_run, tmp_path, corrupt, table, expectation, column):
    _, report = pipeline_run
    release = _copy_release(report.release.path, tmp_path)
    corrupt(release)
    verdict = validate_release(release)  # Data Docs in the default place: <output root>/quality/<id>/data_docs
    failed = {(c.table, c.expectation, c.column) for c in verdict.failures()}
    assert not verdict.passed
    assert (table, expectation, column) in failed, failed
    hit = next(c for c in verdict.failures() if (c.table, c.expectation, c.column) == (table, expectation, column))
    assert hit.detail, "a failure says what it saw"
    _assert_docs(verdict, tmp_path / "out" / "quality" / report.release.id / "data_docs")
    if corrupt is _flipped_byte:
        assert "../../shards/" in hit.detail  # names the shard


def test_the_stage_tables_are_validated_with_the_output_root(pipeline_run, tmp_path):
    cfg, report = pipeline_run
    out = tmp_path / "out"
    shutil.copytree(cfg.output, out)
    part = next((out / "tables" / "segments").rglob("*.parquet"))
    limit = report.release.info["params"]["filter"]["max_seconds"]

    def change(rows: list[dict]) -> None:
        rows[0]["seconds"] = limit + 1.0
    _rewrite(part, change)
    verdict = validate_release(out / "releases" / report.release.id, output_root=out)
    failed = {(c.table, c.expectation, c.column) for c in verdict.failures()}
    assert ("segments", "expect_column_values_to_be_between", "seconds") in failed, failed
    assert {c.table for c in verdict.failures()} == {"segments"}, failed
    _assert_docs(verdict, out / "quality" / report.release.id / "data_docs")


def test_a_truncated_segment_pack_fails_the_stage_checks(pipeline_run, tmp_path):
    cfg, report = pipeline_run
    out = tmp_path / "out"
    shutil.copytree(cfg.output, out)
    pack = next((out / "audio" / "segments").rglob("*.pack"))
    pack.write_bytes(pack.read_bytes()[:-1])
    verdict = validate_release(out / "releases" / report.release.id, output_root=out)
    failed = {(c.table, c.column) for c in verdict.failures()}
    assert failed == {("segments", "flac_in_pack")}, failed


def _break_a_member_behind_the_index(release: Path) -> str:
    """A FLAC member's frame damaged inside a shard, and the shard's size and SHA-256 in shards.parquet made to
    match the damaged file: what a shard written from a bad pack would look like. Returns its path."""
    import hashlib
    import tarfile

    rel = pq.read_table(release / "shards.parquet").column("path")[0].as_py()
    shard = release / rel
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".flac"))
    data = bytearray(shard.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0x10
    shard.write_bytes(bytes(data))

    def change(rows: list[dict]) -> None:
        row = next(r for r in rows if r["path"] == rel)
        row["sha256"] = hashlib.sha256(data).hexdigest()
    _rewrite(release / "shards.parquet", change)
    return rel


def test_a_member_that_does_not_decode_fails_the_gate_and_its_group_is_rebuilt(pipeline_run, tmp_path):
    from omnicorpus.manifests.layout import group_index

    cfg, report = pipeline_run
    out = tmp_path / "out"
    shutil.copytree(cfg.output, out)
    release = out / "releases" / report.release.id
    rel = _break_a_member_behind_the_index(release)
    verdict = validate_release(release, output_root=out, full=True)
    failed = {(c.table, c.column) for c in verdict.failures()}
    assert failed == {("shards", "flacs_decode")}, failed
    assert verdict.damaged_shards == [rel]
    index = group_index((release / rel).resolve().relative_to(out.resolve()).as_posix())
    assert set(verdict.rebuild) == set(index) and not any((out / i).exists() for i in index)
    assert (release / rel).is_file(), "the tar stays until the rebuild replaces it"


def test_the_decoded_sample_is_deterministic_and_bounded():
    import polars as pl

    shards = pl.DataFrame({"path": [f"s{i:04d}.tar" for i in range(1000)],
                           "sha256": [f"{(i * 7919) % 1000:064x}" for i in range(1000)]})
    sample = decode_sample(shards)
    assert len(sample) == 20 and sample == decode_sample(shards.reverse())
    assert len(decode_sample(shards.head(5))) == 5 and len(decode_sample(shards, full=True)) == 1000
