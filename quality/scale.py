"""How the gate and the report read a release too large to hold its utterances in memory.

A release of the paper's size (4.3M hours) has about a billion utterances and some 300k shards. Its
summary (one row per language, corpus and split) and its shards manifest are small enough to read whole,
and every total the gate and the report need can be taken from them. The utterances are read whole up to
`WHOLE_UTTERANCES` rows (release.json counts them); above that, only the utterances of a deterministic
sample of shards (`utterance_sample`: `SAMPLE_SHARDS` shards, the first by SHA-256, so a different sample
for different content), read with a filter on the shard column that Parquet's row-group statistics prune
(utterances.parquet is sorted by shard). What is checked on a sample is said where it is shown.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicorpus.manifests import storage

#: A release with more utterances than this (release.json `counts.utterances`) is read through a sample.
WHOLE_UTTERANCES = 5_000_000
#: Shards whose utterances are read when sampling.
SAMPLE_SHARDS = 200


@dataclass(frozen=True)
class UtteranceScope:
    """Which utterances a reader takes: all of them (`shards` None) or those of these shards."""

    shards: frozenset[str] | None
    of_shards: int  # shards in the release

    @property
    def sampled(self) -> bool:
        return self.shards is not None

    def describe(self) -> str:
        if self.shards is None:
            return "all utterances"
        return f"the utterances of a sample of {len(self.shards):,} of {self.of_shards:,} shards"


def utterance_sample(paths: Sequence[str | None], digests: Sequence[str | None], n: int = SAMPLE_SHARDS
                     ) -> frozenset[str]:
    """The first `n` shard paths ordered by their SHA-256 (then path)."""
    pairs = sorted((d or "", p) for d, p in zip(digests, paths, strict=True) if p is not None)
    return frozenset(p for _, p in pairs[:n])


def utterance_scope(info: dict[str, Any], shards: pa.Table) -> UtteranceScope:
    """All utterances for a release of up to WHOLE_UTTERANCES, else those of a sample of its shards."""
    counted = int((info.get("counts") or {}).get("utterances") or 0)
    if counted <= WHOLE_UTTERANCES or "path" not in shards.column_names:
        return UtteranceScope(None, shards.num_rows)
    digests = shards.column("sha256").to_pylist() if "sha256" in shards.column_names else [None] * shards.num_rows
    return UtteranceScope(utterance_sample(shards.column("path").to_pylist(), digests), shards.num_rows)


def read_utterances(uri: str | os.PathLike[str], scope: UtteranceScope, columns: list[str] | None = None
                    ) -> pa.Table:
    """utterances.parquet as written (a local path or a storage URI), whole or the rows of the scope's shards."""
    fs, path = storage.resolve(uri)
    if scope.shards is None:
        return pq.read_table(path, columns=columns, filesystem=fs)
    wanted = pa.array(sorted(scope.shards), pa.string())
    return pq.read_table(path, columns=columns, filters=pc.field("shard").isin(wanted), filesystem=fs)
