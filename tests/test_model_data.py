"""The streaming loader over a real release (the sample corpus's): draws follow the sampler, open shards stay
bounded, every rank and worker yields the same number of batches, resuming gives the same batches,
batches respect max seconds, and the eval loader reads dev in order, each utterance once."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from omnicorpus.model.data import EvalLoader, TrainLoader, TrainStream
from omnicorpus.model.sampler import LoaderConfig, SlotPlanner, TrainIndex, slot_streams, worker_batches
from omnicorpus.model.vocab import Vocab, vocab_for_release


@pytest.fixture(scope="module")
def release(pipeline_run) -> Path:
    return Path(pipeline_run[1].release.path)


@pytest.fixture(scope="module")
def vocab(release) -> Vocab:
    return vocab_for_release(release)


def take(loader: TrainLoader, n: int) -> list[dict]:
    """n batches, across epochs (stopping mid-epoch like a trainer that hits max_steps)."""
    out: list[dict] = []
    while len(out) < n:
        for batch in loader:
            out.append(batch)
            if len(out) == n:
                break
    return out


def test_vocab_round_trips_the_training_text(release, vocab, tmp_path):
    utts = pl.read_parquet(release / "utterances.parquet")
    texts = [t for t in utts.filter(pl.col("split") == "train")["text"].to_list() if t]
    assert vocab.tokens[:6] == ("<blank>", "<unk>", "|", "<pad>", "<s>", "</s>")
    characters = vocab.tokens[vocab.specials:]
    assert list(characters) == sorted(characters) and all(len(c) == 1 for c in characters)
    for text in texts:
        assert vocab.decode(vocab.encode(text)) == " ".join(text.split())
    assert vocab.encode("a\u0378b")[1] == vocab.unk  # a character the training text never had
    vocab.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json") == vocab


def test_draws_follow_the_sampler(release):
    cfg = LoaderConfig(beta_corpus=0.5, beta_language=0.5, max_seconds_per_batch=60.0)
    index = TrainIndex.from_release(release, cfg)
    expected = index.plan["draw_probability"].to_numpy()
    assert index.num_partitions > 20
    for slot, slots in ((0, 1), (3, 4)):  # one process, and the last of 2 ranks x 2 workers
        planner = SlotPlanner(index, cfg, slot, slots)
        rows = planner.draw_rows(40_000)
        freq = np.bincount(index.partition_of_row[rows], minlength=index.num_partitions) / len(rows)
        assert np.abs(freq - expected).max() < 0.01, "partition frequencies follow draw_probability"
    uniform = TrainIndex.from_release(release, LoaderConfig(beta_corpus=0.0, beta_language=0.0))
    assert not np.allclose(uniform.plan["weight"].to_numpy(), index.plan["weight"].to_numpy())


def test_batches_hold_what_the_manifest_says(release, vocab):
    utts = pl.read_parquet(release / "utterances.parquet").filter(pl.col("split") == "train")
    by_key = {r["key"]: r for r in utts.iter_rows(named=True)}
    loader = TrainLoader(release, vocab, LoaderConfig(max_seconds_per_batch=30.0, batches_per_epoch=12,
                                                      buffer_size=32))
    seen = 0
    for batch in loader:
        assert batch["audio"].dtype == torch.float32 and batch["audio"].ndim == 2
        for i, key in enumerate(batch["keys"]):
            row = by_key[key]
            assert row["split"] == "train" and row["text"]
            assert int(batch["audio_lengths"][i]) == round(row["seconds"] * 16_000)
            assert (row["corpus"], row["language"] or "und") == (batch["corpora"][i], batch["languages"][i])
            ids = batch["targets"][i, : batch["target_lengths"][i]].tolist()
            assert vocab.decode(ids) == " ".join(row["text"].split())
            seen += 1
    assert seen > 12 and loader.epoch == 1 and loader.step == 12


def test_max_seconds_per_batch_is_respected(release, vocab):
    for max_seconds in (12.0, 45.0):
        loader = TrainLoader(release, vocab, LoaderConfig(max_seconds_per_batch=max_seconds, batches_per_epoch=40,
                                                          buffer_size=48))
        sizes = []
        for batch in loader:
            padded = len(batch["keys"]) * int(batch["audio_lengths"].max()) / 16_000
            assert padded <= max_seconds + 1e-9
            assert batch["audio"].shape[1] == int(batch["audio_lengths"].max())
            sizes.append(len(batch["keys"]))
        assert max(sizes) > 1


def _open_tars() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").endswith(".tar")
    return n


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_open_shards_stay_bounded(release, vocab):
    k = 3
    loader = TrainLoader(release, vocab, LoaderConfig(max_seconds_per_batch=40.0, batches_per_epoch=30,
                                                      buffer_size=64, max_open_shards=k,
                                                      beta_corpus=0.0, beta_language=0.0))
    utts = loader.index.utts
    row_of = {utts.key(r): r for r in range(len(utts))}
    shards, most = set(), 0
    for batch in loader:
        most = max(most, _open_tars())
        shards.update(utts.shard_of_row[row_of[key]] for key in batch["keys"])
    assert len(shards) > 3 * k, "the draws touched many more shards than may be open"
    assert 0 < most <= k
    assert _open_tars() == 0, "an epoch's end closes its shards"


def test_every_slot_has_data_even_with_fewer_shards_than_slots(release):
    cfg = LoaderConfig(max_seconds_per_batch=60.0)
    index = TrainIndex.from_release(release, cfg)
    assert max(len(s) for s in index.partition_shards) < 4, "the sample release has 1-2 shards per partition"
    for slots in (4, 32):
        for slot in range(slots):
            streams = slot_streams(index, slot, slots)
            assert all(len(s) >= 1 and all(len(x.rows) for x in s) for s in streams)
    # where a shard has as many utterances as sharers, they split it: disjoint and complete
    for p, shards in enumerate(index.partition_shards):
        rows = index.shard_rows(int(shards[0]))
        if len(shards) == 1 and len(rows) >= 4:
            got = [slot_streams(index, s, 4)[p][0].rows for s in range(4)]
            assert sorted(np.concatenate(got).tolist()) == rows.tolist()
            break
    else:
        pytest.fail("no partition with one shard of at least 4 utterances")


def test_two_ranks_two_workers_yield_the_same_number_of_batches(release, vocab):
    cfg = LoaderConfig(max_seconds_per_batch=20.0, batches_per_epoch=7, buffer_size=16)
    index = TrainIndex.from_release(release, cfg)
    counts, keys = {}, set()
    for rank in range(2):
        loader = TrainLoader(release, vocab, cfg, rank=rank, world_size=2, num_workers=2, index=index)
        for epoch in range(2):
            batches = list(loader)
            counts[rank, epoch] = len(batches)
            keys.update(k for b in batches for k in b["keys"])
        assert loader.epoch == 2 and loader.step == 14
    assert set(counts.values()) == {7}, counts
    # each (rank, worker) slot on its own: its share of the epoch, all of it non-empty
    per_slot = {}
    for rank in range(2):
        stream = TrainStream(index, vocab, cfg, rank, 2, 2, {}, 0)
        for worker in range(2):
            per_slot[rank, worker] = sum(1 for _ in stream.iter_worker(worker))
    assert per_slot == {(0, 0): 4, (0, 1): 3, (1, 0): 4, (1, 1): 3}
    assert sum(worker_batches(7, 3, w, 2) for w in range(2)) == 4


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_state_dict_gives_the_same_next_batches(release, vocab, workers):
    cfg = LoaderConfig(max_seconds_per_batch=20.0, batches_per_epoch=5, buffer_size=12, seed=7)
    first = TrainLoader(release, vocab, cfg, rank=1, world_size=2, num_workers=workers)
    take(first, 7)  # into the second epoch, mid-buffer, worker 1's turn next
    state = json.loads(json.dumps(first.state_dict()))  # plain values only
    expected = take(first, 6)
    again = TrainLoader(release, vocab, cfg, rank=1, world_size=2, num_workers=workers)
    again.load_state_dict(state)
    got = take(again, 6)
    assert [b["keys"] for b in got] == [b["keys"] for b in expected]
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a["audio"], b["audio"]) and torch.equal(a["targets"], b["targets"])
    assert again.state_dict() == first.state_dict()


def test_eval_loader_reads_each_dev_utterance_once_in_order(release, vocab):
    utts = pl.read_parquet(release / "utterances.parquet").filter(
        (pl.col("split") == "dev") & pl.col("text").is_not_null()).sort(["shard", "key"])
    seen = []
    for rank in range(2):
        loader = EvalLoader(release, vocab, "dev", max_seconds_per_batch=15.0, rank=rank, world_size=2)
        keys = [k for b in loader for k in b["keys"]]
        assert keys == utts["key"].to_list()[rank::2], "manifest order, rank r takes r, r + 2, ..."
        for b in loader:
            padded = len(b["keys"]) * int(b["audio_lengths"].max()) / 16_000
            assert padded <= 15.0 or len(b["keys"]) == 1
        seen += keys
    assert Counter(seen) == Counter(utts["key"].to_list())


def test_context_examples_are_drawn_from_the_targets_language_and_resume_exactly(release, vocab):
    """In-context training: each target gets `context_examples` slots holding 1..N examples of its own
    language (never itself where its partition has another), read as audio and text; the plan with contexts
    resumes to the same batches, and a plan without them is the plan it was before."""
    cfg = LoaderConfig(max_seconds_per_batch=20.0, batches_per_epoch=6, buffer_size=16, seed=3, context_examples=4)
    loader = TrainLoader(release, vocab, cfg)
    index = loader.index
    counts = Counter()
    for batch in take(loader, 6):
        slots = batch["context_slots"]
        assert slots == 4 and len(batch["context_keys"]) == 4 * len(batch["keys"])
        assert batch["context_audio"].shape[0] == 4 * len(batch["keys"])
        for b, (key, language) in enumerate(zip(batch["keys"], batch["languages"], strict=True)):
            examples = batch["context_keys"][b * slots:(b + 1) * slots]
            rows = [int(np.flatnonzero(np.asarray(index.utts.key_column.to_pylist()) == k)[0]) for k in examples]
            assert {index.utts.language(r) for r in rows} == {language}
            same_partition = index.partition_size(int(index.partition_of_row[rows[0]]))
            assert key not in examples or same_partition == 1
            counts[len(set(examples))] += 1
            texts = batch["context_texts"][b * slots:(b + 1) * slots]
            lengths = batch["context_target_lengths"][b * slots:(b + 1) * slots].tolist()
            assert lengths == [len(vocab.encode(t)) for t in texts]
    assert len(counts) > 1, "targets draw different numbers of examples"

    first = TrainLoader(release, vocab, cfg)
    take(first, 4)
    state = json.loads(json.dumps(first.state_dict()))
    expected = take(first, 5)
    again = TrainLoader(release, vocab, cfg)
    again.load_state_dict(state)
    assert [b["context_keys"] for b in take(again, 5)] == [b["context_keys"] for b in expected]

    plain = LoaderConfig(max_seconds_per_batch=20.0, batches_per_epoch=6, buffer_size=16, seed=3)
    without = take(TrainLoader(release, vocab, plain), 6)
    assert [b["keys"] for b in without] == [b["keys"] for b in take(TrainLoader(release, vocab, cfg), 6)]
    assert "context_audio" not in without[0]
    assert "context_examples" not in TrainLoader(release, vocab, plain).state_dict()["config"]
