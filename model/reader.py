"""The reader half of the loader (`model.data`): the utterance rows a plan drew (`model.sampler`) -> a batch of
tensors. Shards are opened only for what was drawn, and nothing here decides what is read or in which order.

The shards of a worker are read through an LRU of at most `max_open_shards / workers` open tar files; each
open shard keeps the offsets of the members it has passed, so reads move forward through a shard like a
stream and the number of open files stays bounded at any number of partitions.

Batches are dicts: `audio` float32 [B, T] (zero padded), `audio_lengths` [B], `targets` int64 [B, S] (padded
with the blank), `target_lengths` [B], and the lists `keys`, `languages`, `corpora`, `texts`.
"""

from __future__ import annotations

import io
import tarfile
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import soundfile as sf
import torch

from omnicorpus.manifests.schema import SAMPLE_RATE
from omnicorpus.model.manifest import open_binary
from omnicorpus.model.sampler import Utterances
from omnicorpus.model.vocab import Vocab


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


def fetch_batch(utts: Utterances, rows: Sequence[int] | np.ndarray, cache: ShardCache, vocab: Vocab | None
                ) -> dict[str, Any]:
    """Read and decode the utterances of `rows` (in row order: forward through each shard) into a batch;
    without a vocabulary (self-supervised training) the targets are empty."""
    rs = [int(r) for r in rows]
    audio = {r: decode_flac(cache.get(utts.shard_uris[utts.shard_of_row[r]]).read(utts.key(r) + ".flac"))
             for r in sorted(rs)}
    texts = [utts.text(r) for r in rs]
    return collate([audio[r] for r in rs], [vocab.encode(t) if vocab is not None else [] for t in texts],
                   keys=[utts.key(r) for r in rs], languages=[utts.language(r) for r in rs],
                   corpora=[utts.corpus(r) for r in rs], texts=texts)


def fetch_context(utts: Utterances, context: np.ndarray, cache: ShardCache, vocab: Vocab | None) -> dict[str, Any]:
    """The context examples of a batch (`context`: [targets, slots] utterance rows, `model.sampler.draw_context`)
    as `context_*` entries: audio and targets of the targets' examples flattened target by target (rows
    b * slots ... b * slots + slots - 1 are target b's), and the number of slots."""
    examples = fetch_batch(utts, context.reshape(-1), cache, vocab)
    return {"context_audio": examples["audio"], "context_audio_lengths": examples["audio_lengths"],
            "context_targets": examples["targets"], "context_target_lengths": examples["target_lengths"],
            "context_keys": examples["keys"], "context_texts": examples["texts"], "context_slots": context.shape[1]}
