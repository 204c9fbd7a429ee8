"""Listing and planning at scale: the jobs list a source with one Spark task per manifest file (or data dir) and
plan the ingest with joins on the executors, so the driver's memory does not grow with the corpus, and each step's
cost grows linearly with the items.

The scale tests list a synthetic NeMo corpus (JSON-lines manifests as NeMo's scripts write them, split over many
`train_manifest_NNN.json` files; metadata only, the audio files do not exist) through `list_on_spark` and the
ingest step's own plan (`ingest_work`), one size after the other in a driver process of their own (after a
warm-up run over a small corpus), whose peak resident memory (`ru_maxrss` after each size: the Python driver,
not the JVM, which is a process of its own) and time per step they measure. The test measures 250,000 and
2,000,000 items (marked slow: minutes; `make test` runs it); `python tests/test_scale_listing.py 250000
1000000 2000000` prints the figures of any sizes.

The small tests hold the Spark listing and plan to the driver's (`list_all`, `plan_ingest`): the same items,
versions, counts, ignored files and errors, the same merge of an item several manifests list.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from omnicorpus.corpus.listing import Listing, merge_repeats
from omnicorpus.manifests.config import PipelineConfig, SourceConfig

#: Lines per manifest file: a corpus of N items is N / LINES_PER_MANIFEST files, each a listing task.
LINES_PER_MANIFEST = 31_250
#: The sizes the scale test measures (2M items: minutes), and those `python tests/test_scale_listing.py` prints.
LARGE = (250_000, 2_000_000)
SIZES = (250_000, 1_000_000, 2_000_000)


def write_nemo_corpus(root: Path, items: int, per_file: int = LINES_PER_MANIFEST) -> Path:
    """`items` NeMo manifest lines over train_manifest_NNN.json files, as NeMo's manifest scripts write them (one
    json.dumps object per line: audio_filepath, duration, text, lang); audio paths relative, files absent."""
    root.mkdir(parents=True, exist_ok=True)
    for first in range(0, items, per_file):
        lines = [json.dumps({"audio_filepath": f"audio/{i // 1000:05d}/utt{i:08d}.wav",
                             "duration": round(1 + (i % 997) / 100, 2),
                             "text": f"utterance number {i} of the synthetic corpus", "lang": "en",
                             "speaker": f"spk{i % 5000}"})
                 for i in range(first, min(items, first + per_file))]
        (root / f"train_manifest_{first // per_file:03d}.json").write_text("\n".join(lines) + "\n")
    return root


def _config(source: Path, out: Path, name: str = "nemo") -> PipelineConfig:
    return PipelineConfig(sources=(SourceConfig(name=name, layout="auto", path=str(source), language="en",
                                                license="CC-BY-4.0"),), output=str(out))


def _steps(spark: Any, source: Path, out: Path) -> dict[str, Any]:
    """List, plan, record the plan's items as ingested (as the ingest step does once it has ingested them), plan
    again: seconds per step and what each found."""
    from omnicorpus.pipelines.engine import commit_increment
    from omnicorpus.pipelines.ingest import ingest_work, list_on_spark, record_ingested

    cfg = _config(source, out)
    seconds = {}
    t = time.perf_counter()
    listed = list_on_spark(cfg, spark)
    seconds["list"] = time.perf_counter() - t
    t = time.perf_counter()
    work, _ = ingest_work(spark, cfg.output, listed)
    seconds["plan"] = time.perf_counter() - t
    assert work is not None
    todo = work.rows
    t = time.perf_counter()
    record_ingested(todo.rows, todo.count, cfg.output, "scale000000000001")
    commit_increment(cfg.output, "scale000000000001", {"stage": "ingest", "items": todo.count})
    todo.unpersist()
    seconds["record"] = time.perf_counter() - t
    t = time.perf_counter()
    again, stale = ingest_work(spark, cfg.output, listed)
    seconds["replan"] = time.perf_counter() - t
    listed.unpersist()
    return {"listed": listed.counts, "planned": todo.count, "keys": list(work.keys), "again": again is not None,
            "stale": len(stale.ids), "seconds": seconds}


def drive(warmup: str, out: str, sources: list[str]) -> list[dict[str, Any]]:
    """The driver of scale runs, a process of its own: the steps over a small corpus first (untimed: Spark and
    its Python workers start), then over each source in turn, the driver's peak memory after each."""
    from omnicorpus.pipelines.spark import spark_session

    spark = spark_session("local[2]", {"spark.sql.shuffle.partitions": "8"})
    _steps(spark, Path(warmup), Path(out) / "warmup")
    results = [{"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}]
    for n, source in enumerate(sources):
        result = _steps(spark, Path(source), Path(out) / f"run{n}")
        results.append({**result, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    spark.stop()
    return results


def measure(workdir: Path, sizes: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    """Scale runs of these item counts, in this order, in one driver subprocess (after a warm-up run, whose
    result is under 0): per size, seconds per step and the driver's peak memory once it is done."""
    sources = [str(write_nemo_corpus(workdir / f"nemo{n}", n)) for n in sizes]
    warmup = write_nemo_corpus(workdir / "warmup", 2000, per_file=1000)
    done = subprocess.run([sys.executable, __file__, "--drive", str(warmup), str(workdir / "out"), *sources],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    warm, *results = json.loads(done.stdout.strip().splitlines()[-1])
    for items, result in zip(sizes, results, strict=True):
        assert result["listed"] == {"nemo": items} and result["planned"] == items
        assert not result["again"] and result["stale"] == 0, "a second plan over what is recorded finds work"
        result["items"] = items
    return {0: warm, **dict(zip(sizes, results, strict=True))}


def _bounded_and_linear(small: dict[str, Any], big: dict[str, Any]) -> None:
    ratio = big["items"] / small["items"]
    # the driver holds no items: its peak is that of a Spark driver, whatever the corpus
    assert big["peak_mib"] < 1.3 * small["peak_mib"], (small, big)
    for step in ("list", "plan", "record", "replan"):  # no step grows faster than the items (JVM warm-up aside)
        assert big["seconds"][step] < 1.25 * ratio * max(small["seconds"][step], 1.0), (step, small, big)
    total = sum(big["seconds"].values()) / sum(small["seconds"].values())
    assert total < 1.25 * ratio, (small, big)


@pytest.mark.slow
def test_the_driver_stays_bounded_and_each_step_linear_at_two_million_items(tmp_path):
    runs = measure(tmp_path, LARGE)
    _bounded_and_linear(runs[LARGE[0]], runs[LARGE[1]])


# --- the Spark listing and plan are the driver's -----------------------------------------------------------

def _wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)


def _lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _nemo(audio: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"audio_filepath": audio, "duration": 0.2, "text": text, **extra}


def _rows(table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r["item_id"])


def _spark_rows(df) -> list[dict[str, Any]]:
    return sorted((r.asDict(recursive=True) for r in df.collect()), key=lambda r: r["item_id"])


def _same_listing(cfg: PipelineConfig, spark) -> None:
    from omnicorpus.pipelines.sources import list_all, list_on_spark

    driver, frame = list_all(cfg), list_on_spark(cfg, spark)
    try:
        assert _spark_rows(frame.items) == _rows(driver.items)
        assert (frame.counts, frame.layouts, frame.ignored) == (driver.counts, driver.layouts, driver.ignored)
    finally:
        frame.unpersist()


def test_items_that_several_manifests_list_merge_as_one_listing_merges_them(tmp_path, spark):
    """A folder of NeMo manifests, each a task: the same file in two of them is one item (the first listing wins,
    its meta counts them all; listings that disagree on the split make a listing_error), as the driver lists."""
    root = tmp_path / "nemo"
    for name in ("a", "b", "c", "d"):
        _wav(root / "audio" / f"{name}.wav")
    _lines(root / "train_manifest_0.json", [_nemo("audio/a.wav", "alpha"), _nemo("audio/b.wav", "beta"),
                                            _nemo("audio/b.wav", "beta"), _nemo("audio/missing.wav", "gone")])
    _lines(root / "train_manifest_1.json", [_nemo("audio/b.wav", "beta"), _nemo("audio/c.wav", "gamma"),
                                            _nemo("audio/missing.wav", "other")])
    _lines(root / "dev_manifest.json", [_nemo("audio/c.wav", "gamma"), _nemo("audio/d.wav", "delta")])
    (root / "notes.pdf").write_bytes(b"%PDF")
    cfg = _config(root, tmp_path / "out")
    _same_listing(cfg, spark)
    from omnicorpus.pipelines.sources import list_all

    rows = {r["raw_text"]: r for r in list_all(cfg).items.to_pylist()}
    assert json.loads(rows["beta"]["meta"])["listed_times"] == 3 and rows["beta"]["listing_error"] is None
    assert "listed 2 times" in rows["gamma"]["listing_error"]["detail"]  # train and dev
    assert rows["gone"]["listing_error"]["reason"] == "missing_file"  # its own problem stays the one said


def test_kaldi_data_dirs_list_as_tasks_of_their_own(tmp_path, spark):
    root = tmp_path / "s5" / "data"
    _wav(tmp_path / "s5" / "wav" / "r1.wav")
    _wav(tmp_path / "s5" / "wav" / "r2.wav")
    for split, recordings in (("train", ("r1", "r2")), ("dev", ("r2",))):
        d = root / split
        d.mkdir(parents=True)
        (d / "wav.scp").write_text("".join(f"{r} wav/{r}.wav\n" for r in recordings))
        (d / "text").write_text("".join(f"{r} words of {r}\n" for r in recordings))
        (d / "utt2spk").write_text("".join(f"{r} spk\n" for r in recordings))
        (d / "extra.txt").write_text("not a kaldi file\n")
    _same_listing(_config(root, tmp_path / "out", name="kaldi"), spark)


def test_the_sample_corpus_lists_the_same_on_spark(sample_corpus, spark, tmp_path):
    from omnicorpus.manifests.config import load_config

    cfg = dataclasses.replace(load_config(sample_corpus / "omnicorpus.yaml"), output=str(tmp_path / "out"))
    _same_listing(cfg, spark)


def test_a_source_that_cannot_be_listed_fails_as_on_the_driver(tmp_path, spark):
    from omnicorpus.pipelines.sources import list_all, list_on_spark

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.md").write_text("no audio here")
    cfg = PipelineConfig(sources=(SourceConfig(name="e", layout="folder", path=str(empty)),),
                         output=str(tmp_path / "out"))
    with pytest.raises(ValueError) as on_driver:
        list_all(cfg)
    with pytest.raises(ValueError) as on_spark:  # raised in a Spark task, said as the adapter said it
        list_on_spark(cfg, spark)
    assert str(on_spark.value) == str(on_driver.value) and "has no audio files" in str(on_spark.value)


def test_the_repeats_of_a_part_merge_with_those_of_the_others_as_in_one_listing(tmp_path):
    """merge_repeats over the part tables of two Listings gives what one Listing of both gives: repeats within
    and across parts, agreeing or not, a first listing with a problem of its own, meta that is not UTF-8."""
    source = SourceConfig(name="s", layout="folder", path=str(tmp_path), license="CC0-1.0")
    bad = "caf\udce9"  # a byte that is no UTF-8, as the lenient readers keep it
    adds = [
        [("x.wav", "one", "train", None, {"line": 1}), ("y.wav", "why", "train", None, {"id": bad}),
         ("x.wav", "one", "train", None, {"line": 2}), ("z.wav", "zed", "dev", "missing", {"line": 3})],
        [("y.wav", "why", "train", None, {"line": 1}), ("x.wav", "one", "dev", None, {"line": 2}),
         ("z.wav", "zed", "test", None, {"line": 3}), ("w.wav", "double", "train", None, None)],
    ]
    whole = Listing(source, "folder")
    parts = [Listing(source, "folder") for _ in adds]
    for listing, rows in [*((whole, r) for r in adds), *zip(parts, adds, strict=True)]:
        for name, text, split, problem, meta in rows:
            error = {"reason": "missing_file", "detail": "not there"} if problem else None
            listing.add(str(tmp_path / name), raw_text=text, split=split, listing_error=error, meta=meta)
    tables = [p.part_table() for p in parts]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for table in tables:
        for row in table.to_pylist():
            by_id.setdefault(row["item_id"], []).append(row)
    merged = [merge_repeats(rows) if len(rows) > 1 else {k: rows[0][k] for k in whole.table().column_names}
              for rows in by_id.values()]
    assert sorted(merged, key=lambda r: r["item_id"]) == _rows(whole.table())


def test_the_plan_on_spark_is_the_plan_on_the_driver(tmp_path, spark):
    """After an ingest, a transcript changed, a line replaced by another file's, and an empty file filled: the
    ingest run's plan (joins on the executors) takes what the driver's plan takes, and removes what it removes."""
    from omnicorpus.pipelines.ingest import list_all, plan_ingest, run_ingest

    root = tmp_path / "nemo"
    for name in ("a", "b", "c"):
        _wav(root / "audio" / f"{name}.wav")
    (root / "audio" / "late.wav").touch()  # empty when first ingested: an empty_file reject, retried once filled
    manifest = root / "train_manifest.json"
    _lines(manifest, [_nemo("audio/a.wav", "alpha"), _nemo("audio/b.wav", "beta"), _nemo("audio/c.wav", "gamma"),
                      _nemo("audio/late.wav", "late")])
    cfg = _config(root, tmp_path / "out")
    first = run_ingest(cfg, spark)
    assert (first.new, first.recordings, first.rejects) == (4, 3, 1)
    _lines(manifest, [_nemo("audio/a.wav", "alpha, changed"), _nemo("audio/d.wav", "delta"),
                      _nemo("audio/c.wav", "gamma"), _nemo("audio/late.wav", "late")])
    _wav(root / "audio" / "d.wav")
    _wav(root / "audio" / "late.wav")
    expected = plan_ingest(cfg.output, list_all(cfg))
    assert (expected.changed, expected.retried, expected.gone, expected.new.num_rows) == (1, 1, 1, 3)
    second = run_ingest(cfg, spark)
    assert (second.changed, second.retried, second.gone, second.new) == (1, 1, 1, 3)
    assert second.recordings == 3 and second.rejects == 0
    third = run_ingest(cfg, spark)
    assert third.increment is None and third.new == 0
    assert plan_ingest(cfg.output, list_all(cfg)).new.num_rows == 0


def main(argv: list[str]) -> None:
    if argv[:1] == ["--drive"]:
        print(json.dumps(drive(argv[1], argv[2], argv[3:])))
        return
    import tempfile

    sizes = tuple(map(int, argv)) or SIZES
    with tempfile.TemporaryDirectory() as tmp:
        runs = measure(Path(tmp), sizes)
        print(f"driver peak RSS after Spark started and a warm-up run: {runs[0]['peak_mib']:.0f} MiB")
        for items in sizes:
            result = runs[items]
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items())
            total = sum(result["seconds"].values())
            print(f"{items:>9} items: driver peak RSS {result['peak_mib']:.0f} MiB; {steps}; {total:.1f} s in all, "
                  f"{1e6 * total / items:.1f} us/item")


if __name__ == "__main__":
    os.environ.setdefault("OMNICORPUS_NO_UI", "1")
    main(sys.argv[1:])
