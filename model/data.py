"""The streaming loader: a release's WebDataset shards -> length-bucketed batches of decoded audio and ids.

The loaders here are what users build; each is a plan over the manifests (`model.sampler`: which utterance
rows form each batch, and the state to resume it) read through the shards (`model.reader`: rows -> tensors,
and the batch format). Keeping the two apart means a resume re-plans from metadata alone and reads only
what is still to be handed out.

Training (`TrainLoader`): `batches_per_epoch` length-bucketed batches of sampled utterances on every rank
(the drawing, slot and epoch rules are the sampler's). Each DataLoader worker runs one slot's plan and reads
its shards; the batches come back to the loader's process with a marker that the loader (a `TrainSampler`) records, so
`state_dict()` is exactly what the trainer has seen. `load_state_dict()` re-plans the current buffer of each
worker from its saved state (manifests only, no I/O), skips what was handed out, and rotates the worker ids
so that the DataLoader's round robin continues where it stopped: the batches after a resume are the batches
an uninterrupted run would have given.

Evaluation (`EvalLoader`): the dev or test utterances in manifest order (shard, key), no sampling, cut into
consecutive batches under the same max seconds; split over ranks by index modulo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from omnicorpus.model.reader import ShardCache, fetch_batch, fetch_context
from omnicorpus.model.sampler import (
    LoaderConfig,
    TrainIndex,
    TrainSampler,
    Utterances,
    WorkerState,
    draw_context,
    eval_batches,
    split_utterances,
    worker_plan,
)
from omnicorpus.model.vocab import Vocab

# --- training: the dataset each worker runs, and the loader the trainer iterates ------------------


class TrainStream(IterableDataset):
    """The batches of one rank for the rest of an epoch; each DataLoader worker runs one slot of it.

    Physical worker p plays logical worker (p + step_in_epoch) mod W, so that after a resume the
    DataLoader's round robin (worker 0 first) continues with the worker whose turn it was.
    """

    def __init__(self, index: TrainIndex, vocab: Vocab | None, cfg: LoaderConfig, rank: int, world_size: int,
                 num_workers: int, states: dict[int, WorkerState], step_in_epoch: int) -> None:
        super().__init__()
        self.index, self.vocab, self.cfg = index, vocab, cfg
        self.rank, self.world_size, self.workers = rank, world_size, max(1, num_workers)
        self.states, self.step_in_epoch = states, step_in_epoch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        physical = info.id if info is not None else 0
        if info is not None and info.num_workers != self.workers:
            raise RuntimeError(f"TrainStream made for {self.workers} workers runs in {info.num_workers}")
        yield from self.iter_worker((physical + self.step_in_epoch) % self.workers)

    def iter_worker(self, logical: int) -> Iterator[dict[str, Any]]:
        plan = worker_plan(self.index, self.cfg, self.rank, self.world_size, self.workers, logical,
                           self.step_in_epoch, self.states.get(logical))
        cache = ShardCache(self.cfg.max_open_shards // self.workers)
        try:
            for rows, context, marker in plan:
                batch = fetch_batch(self.index.utts, rows, cache, self.vocab)
                if context is not None:
                    batch.update(fetch_context(self.index.utts, context, cache, self.vocab))
                batch["loader"] = marker
                yield batch
        finally:
            cache.close()


class TrainLoader(TrainSampler):
    """Iterate it for one epoch (`batches_per_epoch` batches on every rank); state_dict() resumes exactly.

    It is the rank's TrainSampler (the plan, its counters and state dict) that also reads what it plans,
    so what the trainer resumes from is the state of the batches it was handed.
    rank / world_size default to torch.distributed's when it is initialised (else 0 / 1); pass them to
    simulate ranks. num_workers > 0 reads through a DataLoader with that many worker processes.
    """

    def __init__(self, release_dir: str | os.PathLike[str], vocab: Vocab | None, cfg: LoaderConfig | None = None, *,
                 rank: int | None = None, world_size: int | None = None, num_workers: int = 0,
                 prefetch_factor: int = 2, index: TrainIndex | None = None) -> None:
        cfg = cfg or LoaderConfig()
        if rank is None or world_size is None:
            dist_rank, dist_world = _dist_layout()
            rank = dist_rank if rank is None else rank
            world_size = dist_world if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        super().__init__(index or TrainIndex.from_release(release_dir, cfg), cfg, rank, world_size, num_workers)
        self.release_dir, self.vocab = os.fspath(release_dir), vocab
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor

    def dataset(self) -> TrainStream:
        return TrainStream(self.index, self.vocab, self.cfg, self.rank, self.world_size, self.num_workers,
                           self.worker_states(), self.step_in_epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The rest of the current epoch."""
        ds = self.dataset()
        source: Any = ds
        if self.num_workers > 0:
            source = DataLoader(ds, batch_size=None, num_workers=self.num_workers,
                                prefetch_factor=self.prefetch_factor, persistent_workers=False)
        for batch in source:
            self.record(batch.pop("loader"))
            yield batch


def _dist_layout() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# --- evaluation: dev / test in order ---------------------------------------------------------------


class EvalLoader:
    """The labelled utterances of `split` (every one with `labelled_only=False`) in manifest order, cut into
    consecutive batches of at most `max_seconds_per_batch` padded seconds (an utterance longer than that goes
    alone); rank r of R takes utterances r, r + R, ... (so every utterance is scored exactly once over all
    ranks).

    `context` (pool, slots): each batch also carries `slots` context examples per utterance drawn from the
    pool (a TrainIndex of training utterances; `model.sampler.draw_context`, never the utterance itself), the
    same examples on every pass (an RNG seeded by `seed` and the batch's number)."""

    def __init__(self, release_dir: str | os.PathLike[str], vocab: Vocab | None, split: str | Sequence[str] = "dev", *,
                 max_seconds_per_batch: float = 200.0, rank: int | None = None, world_size: int | None = None,
                 max_open_shards: int = 8, max_utterances: int | None = None,
                 languages: Sequence[str] | None = None, labelled_only: bool = True,
                 context: tuple[TrainIndex, int] | None = None, seed: int = 0) -> None:
        if rank is None or world_size is None:
            rank, world_size = _dist_layout()
        utts = split_utterances(release_dir, split, languages, labelled_only)
        if max_utterances is not None:
            utts = utts.head(max_utterances)
        self.languages = sorted(utts["language"].unique().to_list())
        self.utts = Utterances.from_frame(release_dir, utts)
        self.rows = np.arange(len(self.utts))[rank::world_size]
        self.vocab, self.max_seconds, self.max_open = vocab, max_seconds_per_batch, max_open_shards
        self.context, self.seed = context, seed
        if context is not None:  # each utterance's row in the pool (-1: not there), so it is no example of itself
            self.pool_rows = pc.fill_null(pc.index_in(self.utts.key_column, context[0].utts.key_column), -1
                                          ).to_numpy(zero_copy_only=False).astype(np.int64)

    def __len__(self) -> int:
        return len(self.batches())

    def batches(self) -> list[np.ndarray]:
        return eval_batches(self.rows, self.utts.seconds, self.max_seconds)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        cache = ShardCache(self.max_open)
        try:
            for number, rows in enumerate(self.batches()):
                batch = fetch_batch(self.utts, rows, cache, self.vocab)
                if self.context is not None:
                    pool, slots = self.context
                    examples = draw_context(pool, batch["languages"], slots, np.random.default_rng([self.seed, number]),
                                            exclude=self.pool_rows[rows])
                    batch.update(fetch_context(pool.utts, examples, cache, self.vocab))
                yield batch
        finally:
            cache.close()
