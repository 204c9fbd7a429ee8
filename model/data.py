"""The streaming loader: a release's WebDataset shards -> length-bucketed batches of decoded audio and ids.

Training (`TrainLoader`)
    Everything is planned from the manifests (utterances.parquet: key, shard, language, corpus, split,
    seconds, text), and shards are opened only to fetch what the plan drew:

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
    * the shards of a worker are read through an LRU of at most `max_open_shards / workers` open tar
      files; each open shard keeps the offsets of the members it has passed, so reads move forward
      through a shard like a stream and the number of open files stays bounded at any number of
      partitions;
    * resuming: a slot's plan depends only on its RNG state and its stream positions. Every batch carries
      (its worker, the plan state at the start of its buffer when it is the buffer's first batch, its
      index in the buffer); the loader keeps, per worker, what the last batch it handed out carried.
      `state_dict()` is that plus the epoch and step; `load_state_dict()` re-plans the current buffer
      of each worker from its saved state (manifests only, no I/O) and skips what was handed out, and
      rotates the worker ids so that the DataLoader's round robin continues where it stopped. The
      batches after a resume are the batches an uninterrupted run would have given.

Evaluation (`EvalLoader`): the dev or test utterances in manifest order (shard, key), no sampling, cut into
consecutive batches under the same max seconds; split over ranks by index modulo.

Batches are dicts: `audio` float32 [B, T] (zero padded), `audio_lengths` [B], `targets` int64 [B, S] (padded
with the blank), `target_lengths` [B], and the lists `keys`, `languages`, `corpora`, `texts`.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import soundfile as sf
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from omnicorpus.manifests.schema import SAMPLE_RATE
from omnicorpus.model.manifest import open_binary, read_manifest, shard_uri
from omnicorpus.model.sampling import KEYS, Betas, draw_partitions, sampling_plan
from omnicorpus.model.vocab import Vocab

UTTERANCE_COLUMNS = ["key", "shard", "language", "corpus", "split", "seconds", "text"]


@dataclass(frozen=True)
class LoaderConfig:
    max_seconds_per_batch: float = 200.0
    batches_per_epoch: int = 1000
    buffer_size: int = 512
    beta_corpus: float = 0.5
    beta_language: float = 0.5
    max_open_shards: int = 64
    min_utterance_seconds: float = 0.0
    max_utterance_seconds: float | None = None  # None: max_seconds_per_batch
    max_batch_size: int | None = None
    split: str = "train"
    languages: tuple[str, ...] | None = None  # train on these languages only (None: all)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.languages is not None:
            object.__setattr__(self, "languages", tuple(self.languages))
        if self.max_seconds_per_batch <= 0 or self.batches_per_epoch < 1 or self.buffer_size < 1:
            raise ValueError("max_seconds_per_batch, batches_per_epoch and buffer_size must be positive")
        if self.max_open_shards < 1:
            raise ValueError("max_open_shards must be at least 1")

    @property
    def longest(self) -> float:
        m = self.max_utterance_seconds
        return self.max_seconds_per_batch if m is None else min(m, self.max_seconds_per_batch)


def labelled_utterances(release_dir: str | os.PathLike[str], split: str | Sequence[str],
                        languages: Sequence[str] | None = None) -> pl.DataFrame:
    """Utterances of `split` that have a transcript (of `languages` when given; a missing language reads
    as `und`), sorted by (shard, key) as the shards hold them."""
    splits = [split] if isinstance(split, str) else list(split)
    utts = read_manifest(release_dir, "utterances", UTTERANCE_COLUMNS)
    utts = (utts.filter(pl.col("split").is_in(splits) & pl.col("text").is_not_null()
                        & (pl.col("text").str.strip_chars() != ""))
            .with_columns(pl.col("language").fill_null("und")))
    if languages is not None:
        utts = utts.filter(pl.col("language").is_in(list(languages)))
    return utts.sort(["shard", "key"])


# --- the plan: manifests only ---------------------------------------------------------------------


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

    def shard_rows(self, shard: int) -> np.ndarray:
        """The utterance rows of a shard, in key order."""
        return self.utts.rows_of_shard(shard)

    @classmethod
    def from_release(cls, release_dir: str | os.PathLike[str], cfg: LoaderConfig) -> TrainIndex:
        utts = labelled_utterances(release_dir, cfg.split, cfg.languages).filter(
            (pl.col("seconds") >= cfg.min_utterance_seconds) & (pl.col("seconds") <= cfg.longest))
        if utts.is_empty():
            raise ValueError(f"{release_dir}: no labelled {cfg.split} utterances of at most {cfg.longest} s"
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
        )

    @property
    def num_partitions(self) -> int:
        return len(self.plan)


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
        self.positions = np.zeros(len(flat), dtype=np.int64)

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "positions": self.positions.copy()}

    def load(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.positions = np.asarray(state["positions"], dtype=np.int64).copy()

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


class BatchPlanner:
    """The batches (as utterance rows) of one slot, with the state to resume them exactly."""

    def __init__(self, index: TrainIndex, cfg: LoaderConfig, slot: int, num_slots: int,
                 state: WorkerState | None = None) -> None:
        self.planner = SlotPlanner(index, cfg, slot, num_slots)
        self.buffer: list[np.ndarray] = []
        self.snapshot: dict[str, Any] | None = None
        self.emitted = 0
        if state is not None and state.snapshot is not None:
            self.planner.load(state.snapshot)
            self.snapshot = self.planner.state()
            self.buffer = self.planner.plan_buffer()
            self.emitted = state.emitted

    def next(self) -> tuple[np.ndarray, dict[str, Any] | None, int]:
        """(rows of the next batch, the buffer's start state when this is its first batch, index in buffer)."""
        fresh = None
        if self.emitted >= len(self.buffer):
            self.snapshot = self.planner.state()
            self.buffer = self.planner.plan_buffer()
            self.emitted = 0
            fresh = self.snapshot
        rows = self.buffer[self.emitted]
        self.emitted += 1
        return rows, fresh, self.emitted


# --- the I/O: shards opened only for what was drawn ------------------------------------------------


class ShardReader:
    """One open tar file; remembers where the members it has passed start, reads forward like a stream."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.file = open_binary(uri)
        self.tar = tarfile.open(fileobj=self.file, mode="r:")  # noqa: SIM115
        self.offsets: dict[str, tuple[int, int]] = {}
        self.done = False

    def read(self, name: str) -> bytes:
        while name not in self.offsets and not self.done:
            info = self.tar.next()
            if info is None:
                self.done = True
            elif info.isfile():
                self.offsets[info.name] = (info.offset_data, info.size)
        self.tar.members = []  # type: ignore[attr-defined]  # the offsets above are all we keep of the headers
        if name not in self.offsets:
            raise KeyError(f"{self.uri} has no member {name} (manifest and shard disagree)")
        offset, size = self.offsets[name]
        self.file.seek(offset)
        return self.file.read(size)

    def close(self) -> None:
        self.tar.close()
        self.file.close()


class ShardCache:
    """An LRU of at most `capacity` open shards."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.readers: OrderedDict[str, ShardReader] = OrderedDict()
        self.opened = 0  # shards opened so far (a reopened evicted shard counts again)
        self.max_open = 0

    def get(self, uri: str) -> ShardReader:
        reader = self.readers.get(uri)
        if reader is not None:
            self.readers.move_to_end(uri)
            return reader
        while len(self.readers) >= self.capacity:
            self.readers.popitem(last=False)[1].close()
        reader = self.readers[uri] = ShardReader(uri)
        self.opened += 1
        self.max_open = max(self.max_open, len(self.readers))
        return reader

    def close(self) -> None:
        while self.readers:
            self.readers.popitem(last=False)[1].close()


def decode_flac(data: bytes) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"expected {SAMPLE_RATE} Hz mono FLAC, got {rate} Hz, shape {audio.shape}")
    return audio


def collate(audio: list[np.ndarray], targets: list[list[int]], **lists: list[Any]) -> dict[str, Any]:
    """Zero-padded float32 audio [B, T] and blank-padded targets [B, S] with their lengths (padding is done
    in numpy: a torch slice assignment per row goes through the intra-op thread pool, much slower here)."""
    lengths = np.array([len(a) for a in audio], dtype=np.int64)
    batch = np.zeros((len(audio), int(lengths.max()) if len(audio) else 0), dtype=np.float32)
    for i, a in enumerate(audio):
        batch[i, : len(a)] = a
    target_lengths = np.array([len(t) for t in targets], dtype=np.int64)
    padded = np.zeros((len(targets), max(1, int(target_lengths.max()) if targets else 1)), dtype=np.int64)
    for i, t in enumerate(targets):
        padded[i, : len(t)] = t
    return {"audio": torch.from_numpy(batch), "audio_lengths": torch.from_numpy(lengths),
            "targets": torch.from_numpy(padded), "target_lengths": torch.from_numpy(target_lengths), **lists}


def fetch_batch(utts: Utterances, rows: Sequence[int] | np.ndarray, cache: ShardCache, vocab: Vocab
                ) -> dict[str, Any]:
    """Read and decode the utterances of `rows` (in row order: forward through each shard) into a batch."""
    rs = [int(r) for r in rows]
    audio = {r: decode_flac(cache.get(utts.shard_uris[utts.shard_of_row[r]]).read(utts.key(r) + ".flac"))
             for r in sorted(rs)}
    texts = [utts.text(r) for r in rs]
    return collate([audio[r] for r in rs], [vocab.encode(t) for t in texts],
                   keys=[utts.key(r) for r in rs], languages=[utts.language(r) for r in rs],
                   corpora=[utts.corpus(r) for r in rs], texts=texts)


# --- training: the dataset each worker runs, and the loader the trainer iterates ------------------


def worker_batches(batches_per_epoch: int, step_in_epoch: int, logical: int, workers: int) -> int:
    """Batches logical worker `logical` still yields this epoch: steps j in [step, B) with j mod W == it."""
    first = step_in_epoch + (logical - step_in_epoch) % workers
    return len(range(first, batches_per_epoch, workers))


class TrainStream(IterableDataset):
    """The batches of one rank for the rest of an epoch; each DataLoader worker runs one slot of it.

    Physical worker p plays logical worker (p + step_in_epoch) mod W, so that after a resume the
    DataLoader's round robin (worker 0 first) continues with the worker whose turn it was.
    """

    def __init__(self, index: TrainIndex, vocab: Vocab, cfg: LoaderConfig, rank: int, world_size: int,
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
        W = self.workers
        count = worker_batches(self.cfg.batches_per_epoch, self.step_in_epoch, logical, W)
        planner = BatchPlanner(self.index, self.cfg, self.rank * W + logical, self.world_size * W,
                               self.states.get(logical))
        cache = ShardCache(self.cfg.max_open_shards // W)
        try:
            for _ in range(count):
                rows, fresh, emitted = planner.next()
                batch = fetch_batch(self.index.utts, rows, cache, self.vocab)
                batch["loader"] = {"worker": logical, "snapshot": fresh, "emitted": emitted}
                yield batch
        finally:
            cache.close()


class TrainLoader:
    """Iterate it for one epoch (`batches_per_epoch` batches on every rank); state_dict() resumes exactly.

    rank / world_size default to torch.distributed's when it is initialised (else 0 / 1); pass them to
    simulate ranks. num_workers > 0 reads through a DataLoader with that many worker processes.
    """

    def __init__(self, release_dir: str | os.PathLike[str], vocab: Vocab, cfg: LoaderConfig | None = None, *,
                 rank: int | None = None, world_size: int | None = None, num_workers: int = 0,
                 prefetch_factor: int = 2, index: TrainIndex | None = None) -> None:
        self.cfg = cfg or LoaderConfig()
        if rank is None or world_size is None:
            dist_rank, dist_world = _dist_layout()
            rank = dist_rank if rank is None else rank
            world_size = dist_world if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.release_dir, self.vocab = os.fspath(release_dir), vocab
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self.prefetch_factor = prefetch_factor
        self.index = index or TrainIndex.from_release(release_dir, self.cfg)
        self.epoch = self.step = self.step_in_epoch = 0
        self.states: dict[int, WorkerState] = {}

    def __len__(self) -> int:
        return self.cfg.batches_per_epoch

    def dataset(self) -> TrainStream:
        return TrainStream(self.index, self.vocab, self.cfg, self.rank, self.world_size, self.num_workers,
                           {k: WorkerState(v.snapshot, v.emitted) for k, v in self.states.items()},
                           self.step_in_epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The rest of the current epoch."""
        ds = self.dataset()
        source: Any = ds
        if self.num_workers > 0:
            source = DataLoader(ds, batch_size=None, num_workers=self.num_workers,
                                prefetch_factor=self.prefetch_factor, persistent_workers=False)
        for batch in source:
            meta = batch.pop("loader")
            state = self.states.setdefault(meta["worker"], WorkerState())
            if meta["snapshot"] is not None:
                state.snapshot = meta["snapshot"]
            state.emitted = meta["emitted"]
            self.step += 1
            self.step_in_epoch += 1
            if self.step_in_epoch == self.cfg.batches_per_epoch:
                self.epoch, self.step_in_epoch = self.epoch + 1, 0
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """Plain Python values only (loads with torch.load(weights_only=True) and JSON)."""
        workers = {}
        for k, v in sorted(self.states.items()):
            snap = None if v.snapshot is None else {"rng": v.snapshot["rng"],
                                                    "positions": [int(x) for x in v.snapshot["positions"]]}
            workers[str(k)] = {"snapshot": snap, "emitted": v.emitted}
        return {"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
                "layout": [self.rank, self.world_size, max(1, self.num_workers)], "config": self._config_json(),
                "workers": workers}

    def _config_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self.cfg)))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume where `state` was taken. With another rank layout or loader config the plan cannot be
        continued exactly: the step counters are kept and every slot starts afresh from a seed mixed
        with the step (a warning says so)."""
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        same = (list(state["layout"]) == [self.rank, self.world_size, max(1, self.num_workers)]
                and json.loads(json.dumps(state.get("config"))) == self._config_json())
        if same:
            self.states = {int(k): WorkerState(v["snapshot"], v["emitted"]) for k, v in state["workers"].items()}
            return
        import warnings

        warnings.warn("loader state from another layout or config: the plan restarts from a new seed",
                      stacklevel=2)
        from dataclasses import replace

        self.cfg = replace(self.cfg, seed=int(self.cfg.seed) * 1_000_003 + int(self.step))
        self.states = {}


def _dist_layout() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# --- evaluation: dev / test in order ---------------------------------------------------------------


class EvalLoader:
    """The labelled utterances of `split` in manifest order, cut into consecutive batches of at most
    `max_seconds_per_batch` padded seconds (an utterance longer than that goes alone); rank r of R takes
    utterances r, r + R, ... (so every utterance is scored exactly once over all ranks)."""

    def __init__(self, release_dir: str | os.PathLike[str], vocab: Vocab, split: str | Sequence[str] = "dev", *,
                 max_seconds_per_batch: float = 200.0, rank: int | None = None, world_size: int | None = None,
                 max_open_shards: int = 8, max_utterances: int | None = None,
                 languages: Sequence[str] | None = None) -> None:
        if rank is None or world_size is None:
            rank, world_size = _dist_layout()
        utts = labelled_utterances(release_dir, split, languages)
        if max_utterances is not None:
            utts = utts.head(max_utterances)
        self.languages = sorted(utts["language"].unique().to_list())
        self.utts = Utterances.from_frame(release_dir, utts)
        self.rows = np.arange(len(self.utts))[rank::world_size]
        self.vocab, self.max_seconds, self.max_open = vocab, max_seconds_per_batch, max_open_shards

    def __len__(self) -> int:
        return len(self.batches())

    def batches(self) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        start, longest = 0, 0.0
        for i, r in enumerate(self.rows):
            longest_with = max(longest, self.utts.seconds[r])
            if i > start and (i - start + 1) * longest_with > self.max_seconds:
                out.append(self.rows[start:i])
                start, longest_with = i, self.utts.seconds[r]
            longest = longest_with
        if start < len(self.rows):
            out.append(self.rows[start:])
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        cache = ShardCache(self.max_open)
        try:
            for rows in self.batches():
                yield fetch_batch(self.utts, rows, cache, self.vocab)
        finally:
            cache.close()
