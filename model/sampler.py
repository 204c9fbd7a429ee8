"""The training plan over a release's manifests: which utterance rows form each batch, and where a rank is in it.

This is the sampler half of the loader (`model.data`), kept apart from the reader (`model.reader`, rows ->
tensors) the way Lhotse keeps its samplers apart from its datasets: everything here works on the manifests
(utterances.parquet: key, shard, language, corpus, split, seconds, text) and no shard is ever opened, so a
plan can be rebuilt from its state at no I/O cost.

* partitions (corpus, language) of the training split are drawn with the sampler's length-corrected
  `draw_probability` (`model.sampling`, betas from the recipe), then one utterance from the drawn
  partition: a partition's shards are streams, one is picked with replacement (in proportion to what
  it holds) and its next utterance is taken (wrapping around at its end);
* the shards of a partition are split over "slots", one slot per (DDP rank, DataLoader worker):
  with at least as many shards as slots each slot reads its own shards (shard i goes to slot
  i mod slots); with fewer, slots share a shard and split its utterances by index modulo the number
  of sharers (never more sharers than utterances, so no slot is ever without data). Every slot can
  draw every partition, so the sampler's probabilities hold on every rank and worker;
* `buffer_size` draws are planned at once, sorted by length and cut into batches whose padded total
  (batch size x longest utterance) is at most `max_seconds_per_batch`; the batches of a buffer are
  shuffled. Utterances longer than `max_utterance_seconds` (default: max_seconds_per_batch) or
  without text are never drawn;
* an epoch is a fixed number of batches (`batches_per_epoch`) on every rank, split over its workers
  (worker w of W yields batches w, w + W, ...), so uneven shard counts never leave a rank short and
  DDP never hangs;
* resuming: a slot's plan depends only on its RNG state and its stream positions. Every batch carries
  (its worker, the plan state at the start of its buffer when it is the buffer's first batch, its
  index in the buffer); `TrainSampler` keeps, per worker, what the last batch handed out carried.
  Its `state_dict()` is that plus the epoch and step; after `load_state_dict()` each worker re-plans its
  current buffer from the saved state and skips what was handed out.

Evaluation is planned here too (`eval_batches`): rows in manifest order, cut into consecutive batches.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from omnicorpus.model.manifest import read_manifest, shard_uri
from omnicorpus.model.sampling import KEYS, Betas, draw_partitions, sampling_plan

UTTERANCE_COLUMNS = ["key", "shard", "language", "corpus", "split", "seconds", "text"]


@dataclass(frozen=True)
class LoaderConfig:
    """What shapes a rank's plan (and bounds the reader's open shards). A state dict carries it, so that
    resuming under another config is seen and starts a new plan instead of continuing a wrong one."""

    max_seconds_per_batch: float = 200.0
    batches_per_epoch: int = 1000
    buffer_size: int = 512
    beta_corpus: float = 0.5
    beta_language: float = 0.5
    max_open_shards: int = 64  # the reader's, kept here so that one config covers the whole loader
    min_utterance_seconds: float = 0.0
    max_utterance_seconds: float | None = None  # None: max_seconds_per_batch
    max_batch_size: int | None = None
    split: str = "train"
    languages: tuple[str, ...] | None = None  # train on these languages only (None: all)
    labelled_only: bool = True  # False: every segment, with a transcript or not (self-supervised training)
    seed: int = 0
    # in-context training (LLM-ASR zero-shot): slots of context examples per target, each target drawing
    # 1..context_examples of them from its own language (`draw_context`); 0: none
    context_examples: int = 0

    def __post_init__(self) -> None:
        if self.languages is not None:
            object.__setattr__(self, "languages", tuple(self.languages))
        if self.max_seconds_per_batch <= 0 or self.batches_per_epoch < 1 or self.buffer_size < 1:
            raise ValueError("max_seconds_per_batch, batches_per_epoch and buffer_size must be positive")
        if self.max_open_shards < 1:
            raise ValueError("max_open_shards must be at least 1")
        if self.context_examples < 0:
            raise ValueError("context_examples is 0 (none) or more")

    @property
    def longest(self) -> float:
        m = self.max_utterance_seconds
        return self.max_seconds_per_batch if m is None else min(m, self.max_seconds_per_batch)


def split_utterances(release_dir: str | os.PathLike[str], split: str | Sequence[str],
                     languages: Sequence[str] | None = None, labelled_only: bool = True) -> pl.DataFrame:
    """Utterances of `split` (of `languages` when given; a missing language reads as `und`), those with a
    transcript only unless `labelled_only` is False (self-supervised training takes every segment; a
    missing transcript reads as ""), sorted by (shard, key) as the shards hold them."""
    splits = [split] if isinstance(split, str) else list(split)
    utts = read_manifest(release_dir, "utterances", UTTERANCE_COLUMNS)
    utts = utts.filter(pl.col("split").is_in(splits))
    if labelled_only:
        utts = utts.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    utts = utts.with_columns(pl.col("language").fill_null("und"), pl.col("text").fill_null(""))
    if languages is not None:
        utts = utts.filter(pl.col("language").is_in(list(languages)))
    return utts.sort(["shard", "key"])


@dataclass
class Utterances:
    """Utterances as compact columns, rows in (shard, key) order. Strings stay in Arrow arrays (a few
    buffers, not millions of Python objects: cheap to pickle to workers and to share after a fork)."""

    shard_uris: list[str]
    shard_of_row: np.ndarray
    shard_start: np.ndarray  # rows of shard i are shard_start[i] : shard_start[i + 1]
    seconds: np.ndarray
    key_column: pa.Array
    text_column: pa.Array
    language_column: pa.Array
    corpus_column: pa.Array

    @classmethod
    def from_frame(cls, release_dir: str | os.PathLike[str], utts: pl.DataFrame) -> Utterances:
        """`utts` sorted by shard (each shard's rows contiguous)."""
        shard_of_row = utts["shard"].rle_id().to_numpy().astype(np.int64)
        starts = np.flatnonzero(np.diff(shard_of_row, prepend=-1)) if len(utts) else np.zeros(0, np.int64)
        shard_names = utts["shard"].gather(starts).to_list() if len(utts) else []
        return cls(
            shard_uris=[shard_uri(release_dir, s) for s in shard_names],
            shard_of_row=shard_of_row,
            shard_start=np.append(starts, len(utts)).astype(np.int64),
            seconds=utts["seconds"].to_numpy().astype(np.float64),
            key_column=utts["key"].to_arrow(),
            text_column=utts["text"].to_arrow(),
            language_column=utts["language"].to_arrow(),
            corpus_column=utts["corpus"].to_arrow(),
        )

    def __len__(self) -> int:
        return len(self.seconds)

    def key(self, row: int) -> str:
        return self.key_column[row].as_py()

    def text(self, row: int) -> str:
        return self.text_column[row].as_py()

    def language(self, row: int) -> str:
        return self.language_column[row].as_py()

    def corpus(self, row: int) -> str:
        return self.corpus_column[row].as_py()

    def rows_of_shard(self, shard: int) -> np.ndarray:
        return np.arange(self.shard_start[shard], self.shard_start[shard + 1])


@dataclass
class TrainIndex:
    """The training utterances of a release and their partitions, for the planners of every slot."""

    plan: pl.DataFrame  # sampling_plan rows; the row number is the partition id
    utts: Utterances
    partition_of_row: np.ndarray
    partition_shards: list[np.ndarray]  # shard ids of each partition, sorted
    split: str = "train"
    _language_partitions: dict[str, tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)

    def shard_rows(self, shard: int) -> np.ndarray:
        """The utterance rows of a shard, in key order."""
        return self.utts.rows_of_shard(shard)

    @classmethod
    def from_release(cls, release_dir: str | os.PathLike[str], cfg: LoaderConfig) -> TrainIndex:
        utts = split_utterances(release_dir, cfg.split, cfg.languages, cfg.labelled_only).filter(
            (pl.col("seconds") >= cfg.min_utterance_seconds) & (pl.col("seconds") <= cfg.longest))
        if utts.is_empty():
            kind = "labelled " if cfg.labelled_only else ""
            raise ValueError(f"{release_dir}: no {kind}{cfg.split} utterances of at most {cfg.longest} s"
                             + (f" in {', '.join(cfg.languages)}" if cfg.languages else ""))
        plan = sampling_plan(utts, Betas(cfg.beta_corpus, cfg.beta_language), cfg.split)
        plan = plan.with_row_index("partition")
        utts = utts.join(plan.select(*KEYS, "partition"), on=KEYS, how="inner").sort(["shard", "key"])
        table = Utterances.from_frame(release_dir, utts)
        part = utts["partition"].to_numpy().astype(np.int64)
        # a shard belongs to one partition (shards are written per language, corpus, split)
        shard_partition = part[table.shard_start[:-1]]
        if len(part) and not np.array_equal(shard_partition[table.shard_of_row], part):
            raise ValueError(f"{release_dir}: a shard holds utterances of several (corpus, language) partitions")
        order = np.argsort(shard_partition, kind="stable")
        bounds = np.searchsorted(shard_partition[order], np.arange(len(plan) + 1))
        return cls(
            plan=plan,
            utts=table,
            partition_of_row=part,
            partition_shards=[order[bounds[p]:bounds[p + 1]] for p in range(len(plan))],
            split=cfg.split,
        )

    @property
    def num_partitions(self) -> int:
        return len(self.plan)

    def language_partitions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per language, its partitions and their draw probabilities within it (the sampler's, renormalized):
        where the context examples of a target of that language are drawn from."""
        if self._language_partitions is None:
            out = {}
            p = self.plan["draw_probability"].to_numpy()
            for language, idx in self.plan.with_row_index("_i").group_by("language", maintain_order=True).agg(
                    pl.col("_i")).iter_rows():
                parts = np.asarray(idx, dtype=np.int64)
                out[language] = (parts, p[parts] / p[parts].sum())
            self._language_partitions = out
        return self._language_partitions

    def partition_row(self, partition: int, u: float) -> int:
        """The utterance row at fraction `u` (in [0, 1)) of a partition's rows, in (shard, key) order, found
        through its shards' row counts (no list of the partition's rows is made)."""
        shards = self.partition_shards[partition]
        counts = np.cumsum(self.utts.shard_start[shards + 1] - self.utts.shard_start[shards])
        k = min(int(u * counts[-1]), int(counts[-1]) - 1)
        i = int(np.searchsorted(counts, k, "right"))
        return int(self.utts.shard_start[shards[i]] + k - (counts[i - 1] if i else 0))

    def partition_size(self, partition: int) -> int:
        shards = self.partition_shards[partition]
        return int((self.utts.shard_start[shards + 1] - self.utts.shard_start[shards]).sum())


def draw_context(pool: TrainIndex, languages: Sequence[str], slots: int, rng: np.random.Generator,
                 exclude: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """[len(languages), slots] rows of `pool`: the context examples of targets of these languages, drawn as
    the zero-shot recipe trains (omnilingual-facts: N slots filled by 1..N examples of the language). Per
    target: how many (uniform in 1..slots), then each example's partition among its language's by the
    sampler's probabilities and an utterance of it uniformly; the examples repeat in order to fill the slots.
    `exclude`: each target's own row in the pool (training), never its own example while its partition has
    another."""
    out = np.empty((len(languages), slots), dtype=np.int64)
    partitions = pool.language_partitions()
    for i, language in enumerate(languages):
        if language not in partitions:
            raise ValueError(f"no {pool.split} utterances of {language} to draw context examples from")
        parts, p = partitions[language]
        n = int(rng.integers(1, slots + 1))
        chosen = []
        for part, u in zip(rng.choice(parts, size=n, p=p), rng.random(n), strict=True):
            size = pool.partition_size(int(part))
            pick = pool.partition_row(int(part), u)
            if exclude is not None and pick == exclude[i] and size > 1:  # take the partition's next row
                pick = pool.partition_row(int(part), ((int(u * size) + 1) % size + 0.5) / size)
            chosen.append(pick)
        out[i] = np.resize(np.asarray(chosen, dtype=np.int64), slots)
    return out


@dataclass
class Stream:
    shard: int
    rows: np.ndarray  # utterance rows this slot reads from the shard, in order


def slot_streams(index: TrainIndex, slot: int, num_slots: int) -> list[list[Stream]]:
    """Per partition, the streams one slot reads (see the module doc for the rule)."""
    out: list[list[Stream]] = []
    for shards in index.partition_shards:
        n = len(shards)
        if n >= num_slots:
            streams = [Stream(int(s), index.shard_rows(int(s))) for s in shards[slot::num_slots]]
        else:
            j = slot % n
            sharers = len(range(j, num_slots, n))
            rows = index.shard_rows(int(shards[j]))
            modulus = min(sharers, len(rows))
            streams = [Stream(int(shards[j]), rows[(slot // n) % modulus::modulus])]
        out.append(streams)
    return out


class SlotPlanner:
    """The draws of one slot: partitions by the sampler, then the next utterance of a stream of it."""

    def __init__(self, index: TrainIndex, cfg: LoaderConfig, slot: int, num_slots: int) -> None:
        self.index, self.cfg = index, cfg
        self.streams = slot_streams(index, slot, num_slots)
        flat = [s for streams in self.streams for s in streams]
        self.stream_rows = [s.rows for s in flat]
        self.first_stream = np.cumsum([0] + [len(s) for s in self.streams])[:-1]
        self.cum_weights = [np.cumsum([len(s.rows) for s in streams], dtype=np.float64) for streams in self.streams]
        self.rng = np.random.default_rng([cfg.seed, slot])
        # the context examples' draws have a generator of their own: the targets drawn are the same with and
        # without in-context training
        self.context_rng = np.random.default_rng([cfg.seed, slot, 1]) if cfg.context_examples else None
        self.positions = np.zeros(len(flat), dtype=np.int64)

    def state(self) -> dict[str, Any]:
        state = {"rng": self.rng.bit_generator.state, "positions": self.positions.copy()}
        if self.context_rng is not None:
            state["context_rng"] = self.context_rng.bit_generator.state
        return state

    def load(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.positions = np.asarray(state["positions"], dtype=np.int64).copy()
        if self.context_rng is not None:
            self.context_rng.bit_generator.state = state["context_rng"]

    def draw_rows(self, n: int) -> np.ndarray:
        """n utterance rows: partition by draw_probability, stream with replacement, then its next row."""
        parts = draw_partitions(self.index.plan, n, self.rng)
        pick = self.rng.random(n)
        rows = np.empty(n, dtype=np.int64)
        for i, p in enumerate(parts):
            cum = self.cum_weights[p]
            k = self.first_stream[p] + (0 if len(cum) == 1 else int(np.searchsorted(cum, pick[i] * cum[-1], "right")))
            stream = self.stream_rows[k]
            rows[i] = stream[self.positions[k]]
            self.positions[k] = (self.positions[k] + 1) % len(stream)
        return rows

    def plan_buffer(self) -> list[np.ndarray]:
        """One buffer of draws, sorted by length and cut into batches (in shuffled order)."""
        rows = self.draw_rows(self.cfg.buffer_size)
        return bucket(rows, self.index.utts.seconds, self.cfg.max_seconds_per_batch, self.cfg.max_batch_size,
                      self.rng)


def bucket(rows: np.ndarray, seconds: np.ndarray, max_seconds: float, max_batch_size: int | None = None,
           rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Rows sorted by length, cut greedily into batches with batch size x longest <= max_seconds."""
    rows = rows[np.argsort(seconds[rows], kind="stable")]
    batches: list[np.ndarray] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or (i - start + 1) * seconds[rows[i]] > max_seconds or (
                max_batch_size is not None and i - start >= max_batch_size):
            batches.append(rows[start:i])
            start = i
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


@dataclass
class WorkerState:
    """Where one logical worker is: the plan state at the start of its buffer and batches handed out of it."""

    snapshot: dict[str, Any] | None = None
    emitted: int = 0

    def state_dict(self) -> dict[str, Any]:
        """Plain values: the RNG state is already a dict of ints, the positions become a list."""
        snap = None if self.snapshot is None else {
            **self.snapshot, "positions": [int(x) for x in self.snapshot["positions"]]}
        return {"snapshot": snap, "emitted": self.emitted}


class BatchPlanner:
    """The batches (as utterance rows) of one slot, with the state to resume them exactly."""

    def __init__(self, index: TrainIndex, cfg: LoaderConfig, slot: int, num_slots: int,
                 state: WorkerState | None = None) -> None:
        self.planner = SlotPlanner(index, cfg, slot, num_slots)
        self.buffer: list[np.ndarray] = []
        self.contexts: list[np.ndarray | None] = []
        self.snapshot: dict[str, Any] | None = None
        self.emitted = 0
        if state is not None and state.snapshot is not None:
            self.planner.load(state.snapshot)
            self.snapshot = self.planner.state()
            self._plan()
            self.emitted = state.emitted

    def _plan(self) -> None:
        """The next buffer and, for in-context training, its contexts (a buffer re-planned from its start state
        has the same contexts)."""
        self.buffer = self.planner.plan_buffer()
        index, rng = self.planner.index, self.planner.context_rng
        self.contexts = [None if rng is None else draw_context(
            index, [index.utts.language(int(r)) for r in rows], self.planner.cfg.context_examples, rng, exclude=rows)
            for rows in self.buffer]

    def next(self) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any] | None, int]:
        """(rows of the next batch, their context rows [rows, slots] or None, the buffer's start state when
        this is its first batch, index in buffer)."""
        fresh = None
        if self.emitted >= len(self.buffer):
            self.snapshot = self.planner.state()
            self._plan()
            self.emitted = 0
            fresh = self.snapshot
        rows, context = self.buffer[self.emitted], self.contexts[self.emitted]
        self.emitted += 1
        return rows, context, fresh, self.emitted


def worker_batches(batches_per_epoch: int, step_in_epoch: int, logical: int, workers: int) -> int:
    """Batches logical worker `logical` still yields this epoch: steps j in [step, B) with j mod W == it."""
    first = step_in_epoch + (logical - step_in_epoch) % workers
    return len(range(first, batches_per_epoch, workers))


def worker_plan(index: TrainIndex, cfg: LoaderConfig, rank: int, world_size: int, workers: int, logical: int,
                step_in_epoch: int, state: WorkerState | None
                ) -> Iterator[tuple[np.ndarray, np.ndarray | None, dict[str, Any]]]:
    """The rest of the epoch of logical worker `logical` (of `workers`) on `rank`: each batch's rows, its
    context rows (in-context training) and the marker that travels with it back to the process holding the
    TrainSampler (`TrainSampler.record`)."""
    count = worker_batches(cfg.batches_per_epoch, step_in_epoch, logical, workers)
    planner = BatchPlanner(index, cfg, rank * workers + logical, world_size * workers, state)
    for _ in range(count):
        rows, context, fresh, emitted = planner.next()
        yield rows, context, {"worker": logical, "snapshot": fresh, "emitted": emitted}


class TrainSampler:
    """Where one rank is in its plan: epoch and step counters and, per logical worker, what the last batch
    handed out carried. Only the process that hands batches to the trainer holds it (DataLoader workers
    plan on copies of its worker states), so its state is what the trainer has actually seen. An epoch
    is `len()` batches on every rank."""

    def __init__(self, index: TrainIndex, cfg: LoaderConfig, rank: int, world_size: int, num_workers: int
                 ) -> None:
        self.index, self.cfg = index, cfg
        self.rank, self.world_size, self.workers = rank, world_size, max(1, num_workers)
        self.epoch = self.step = self.step_in_epoch = 0
        self.states: dict[int, WorkerState] = {}

    def __len__(self) -> int:
        return self.cfg.batches_per_epoch

    def worker_states(self) -> dict[int, WorkerState]:
        """A copy of the worker states: the planners that start from them must not move ours."""
        return {k: WorkerState(v.snapshot, v.emitted) for k, v in self.states.items()}

    def record(self, marker: dict[str, Any]) -> None:
        """A batch was handed out with this marker (`worker_plan`): keep it and advance the counters."""
        state = self.states.setdefault(marker["worker"], WorkerState())
        if marker["snapshot"] is not None:
            state.snapshot = marker["snapshot"]
        state.emitted = marker["emitted"]
        self.step += 1
        self.step_in_epoch += 1
        if self.step_in_epoch == self.cfg.batches_per_epoch:
            self.epoch, self.step_in_epoch = self.epoch + 1, 0

    def layout(self) -> list[int]:
        return [self.rank, self.world_size, self.workers]

    def state_dict(self) -> dict[str, Any]:
        """Plain Python values only (loads with torch.load(weights_only=True) and JSON)."""
        workers = {str(k): v.state_dict() for k, v in sorted(self.states.items())}
        return {"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
                "layout": self.layout(), "config": self._config_json(), "workers": workers}

    def _config_json(self) -> dict[str, Any]:
        config = json.loads(json.dumps(asdict(self.cfg)))
        if not config["context_examples"]:  # as state dicts from before in-context training have it
            del config["context_examples"]
        return config

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume where `state` was taken. With another rank layout or loader config the plan cannot be
        continued exactly: the step counters are kept and every slot starts afresh from a seed mixed
        with the step (a warning says so)."""
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        same = (list(state["layout"]) == self.layout()
                and json.loads(json.dumps(state.get("config"))) == self._config_json())
        if same:
            self.states = {int(k): WorkerState(v["snapshot"], v["emitted"]) for k, v in state["workers"].items()}
            return
        warnings.warn("loader state from another layout or config: the plan restarts from a new seed",
                      stacklevel=2)
        self.cfg = replace(self.cfg, seed=int(self.cfg.seed) * 1_000_003 + int(self.step))
        self.states = {}


def eval_batches(rows: np.ndarray, seconds: np.ndarray, max_seconds: float) -> list[np.ndarray]:
    """`rows` in their order, cut into consecutive batches of at most `max_seconds` padded seconds (an
    utterance longer than that goes alone): evaluation scores every row once, so nothing is drawn."""
    out: list[np.ndarray] = []
    start, longest = 0, 0.0
    for i, r in enumerate(rows):
        longest_with = max(longest, seconds[r])
        if i > start and (i - start + 1) * longest_with > max_seconds:
            out.append(rows[start:i])
            start, longest_with = i, seconds[r]
        longest = longest_with
    if start < len(rows):
        out.append(rows[start:])
    return out
