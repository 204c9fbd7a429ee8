"""Planning training steps over a release of any size: what a step reads is the shards of that step only.

`model.sampler.TrainIndex` holds every training utterance of a release in memory, which is right for a
release of millions of utterances and impossible at the paper's size (about a billion). `StepPlanner`
plans from what stays small at any size, and reads the rest per step:

* partitions (corpus, language) from the summary (`model.sampling.summary_plan`: the same beta sampler,
  length-corrected);
* the shards of a drawn partition from shards.parquet (path and num_samples), one picked in proportion to
  what it holds, and an utterance index in it;
* the utterances of the step's shards only, from utterances.parquet: it is sorted by shard, so the row
  groups whose shard statistics (min, max) can hold one of them are read, and no other.

Its state is the RNG's (`state_dict` / `load_state_dict`): a step is re-planned exactly from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicorpus.manifests import storage
from omnicorpus.model.manifest import read_manifest
from omnicorpus.model.sampling import KEYS, Betas, draw_partitions, plan_for_release


@dataclass(frozen=True)
class StepPlan:
    shards: list[str]  # distinct shards of the step (paths as the release gives them), sorted
    draws: list[tuple[str, int]]  # (shard, utterance index in the shard) of each draw, in draw order


@dataclass(frozen=True)
class StepRead:
    utterances: pl.DataFrame  # the drawn utterances, in draw order
    row_groups: int  # row groups of utterances.parquet read
    of_row_groups: int  # row groups it has


class StepPlanner:
    def __init__(self, release_dir: str | os.PathLike[str], betas: Betas | None = None, split: str = "train",
                 seed: int = 0) -> None:
        self.release_dir = os.fspath(release_dir)
        self.plan = plan_for_release(release_dir, betas or Betas(), split)
        shards = (read_manifest(release_dir, "shards", ["path", "language", "corpus", "split", "num_samples"])
                  .filter(pl.col("split") == split).with_columns(pl.col("language").fill_null("und"))
                  .sort("path"))
        parts = self.plan.select(KEYS).with_row_index("partition")
        shards = shards.join(parts, on=KEYS, how="inner").sort(["partition", "path"])
        bounds = np.searchsorted(shards["partition"].to_numpy(), np.arange(len(self.plan) + 1))
        self.paths = shards["path"].to_list()
        self.samples = shards["num_samples"].to_numpy().astype(np.int64)
        self.bounds = bounds
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def plan_step(self, draws: int) -> StepPlan:
        """`draws` utterances: a partition each by the sampler, then a shard of it by what it holds, then an
        utterance of the shard uniformly."""
        parts = draw_partitions(self.plan, draws, self.rng)
        pick, which = self.rng.random(draws), self.rng.random(draws)
        out = []
        for p, u, w in zip(parts, pick, which, strict=True):
            lo, hi = self.bounds[p], self.bounds[p + 1]
            cum = np.cumsum(self.samples[lo:hi])
            k = lo + int(np.searchsorted(cum, u * cum[-1], "right"))
            out.append((self.paths[k], int(w * self.samples[k])))
        return StepPlan(sorted({s for s, _ in out}), out)

    def read_step(self, step: StepPlan, columns: tuple[str, ...] = ("key", "shard", "seconds", "text")) -> StepRead:
        """The utterances a step drew, reading only the row groups that can hold its shards."""
        fs, path = storage.resolve(storage.join(self.release_dir, "utterances.parquet"))
        with fs.open_input_file(path) as f:
            parquet = pq.ParquetFile(f)
            meta = parquet.metadata
            col = meta.schema.to_arrow_schema().get_field_index("shard")
            wanted = step.shards
            groups = []
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(col).statistics
                if stats is None or not stats.has_min_max:
                    groups.append(g)
                    continue
                i = int(np.searchsorted(wanted, stats.min, "left"))
                if i < len(wanted) and wanted[i] <= stats.max:
                    groups.append(g)
            names = list(dict.fromkeys(["shard", "key", *columns]))
            table = parquet.read_row_groups(groups, columns=names) if groups else pa.table(
                {n: pa.array([], parquet.schema_arrow.field(n).type) for n in names})
        table = table.filter(pc.is_in(table.column("shard"), value_set=pa.array(wanted, pa.string())))
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.sort(["shard", "key"]).with_columns(pl.int_range(pl.len()).over("shard").alias("index"))
        order = pl.DataFrame({"shard": [s for s, _ in step.draws], "index": [i for _, i in step.draws]},
                             schema={"shard": pl.String, "index": pl.Int64})
        drawn = order.join(frame.with_columns(pl.col("index").cast(pl.Int64)), on=["shard", "index"], how="left",
                           maintain_order="left")
        return StepRead(drawn.select(list(dict.fromkeys(["shard", *columns]))), len(groups), meta.num_row_groups)
