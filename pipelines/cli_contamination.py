"""`omnicorpus contamination`: the train utterances of a release that an evaluation set holds (see
pipelines.contamination); `contamination.eval` in the config drops them from the releases a run makes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.table import Table

from omnicorpus.pipelines.cli_export import ListOpt, split_list
from omnicorpus.pipelines.cli_options import ReleaseArg

err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


def _train_segments(release: Any) -> pa.Table:
    """The release's train utterances as the segment rows a match reads (segment_id, split, language, text, and
    the fingerprint from the output root's accepted segments, where they are still there)."""
    from omnicorpus.manifests.release import output_root_of
    from omnicorpus.pipelines.table_store import read_columns

    utterances = release.table("utterances").select(["key", "split", "language", "text"])
    train = utterances.filter(pc.equal(utterances.column("split"), "train")).rename_columns(
        ["segment_id", "split", "language", "text"])
    prints = read_columns(output_root_of(release), "accepted", ["segment_id", "audio_fingerprint"],
                          pc.field("segment_id").isin(train.column("segment_id")))
    return train.join(prints, "segment_id", join_type="left outer").sort_by("segment_id")


def contamination_cmd(
    release: ReleaseArg,
    eval_sets: Annotated[list[Path], typer.Option(
        "--eval", help="An evaluation set: a corpus folder a layout reads (a FLEURS or Common Voice download, "
                       "...) or a release. Repeat for several.")],
    splits: Annotated[ListOpt, typer.Option(
        "--splits", help="The eval sets' splits to read (default dev,test).")] = None,
    min_chars: Annotated[int, typer.Option(min=1, help="Shorter normalized transcripts match nothing.")] = 15,
    min_similarity: Annotated[float, typer.Option(min=0.01, max=1.0, help="Fingerprint similarity that "
                                                                           "makes an audio match.")] = 0.12,
) -> None:
    """Report, per language, the train utterances of a release whose normalized transcript or audio fingerprint
    matches an item of an evaluation set. One JSON line on stdout; a table on stderr."""
    from omnicorpus.manifests.config import ContaminationParams
    from omnicorpus.manifests.release import open_release
    from omnicorpus.pipelines.contamination import build_index, contamination_report

    params = ContaminationParams(eval=tuple(str(p.resolve()) for p in eval_sets),
                                 splits=split_list(splits) or ("dev", "test"), min_chars=min_chars,
                                 min_similarity=min_similarity)
    made = open_release(release)
    index = build_index(params)
    segments = _train_segments(made)
    report = contamination_report(index, segments.to_batches())
    report = {"release": made.id, "eval": list(params.eval), "splits": list(params.splits),
              "fingerprinted": segments.num_rows - segments.column("audio_fingerprint").null_count, **report}
    table = Table("language", "train", "by transcript", "by audio", "either", title="contamination")
    for lang, counts in report["by_language"].items():
        if counts["either"]:
            table.add_row(lang, *(f"{counts[k]:,}" for k in ("train", "text", "audio", "either")))
    err.print(table)
    err.print(f"{report['either']:,} of {report['train']:,} train utterances of {made.id} match one of "
              f"{report['eval_items']:,} eval items ({report['text']:,} by transcript, {report['audio']:,} by audio); "
              f"{report['unreadable_eval_items']:,} eval items unreadable", highlight=False)
    print(json.dumps(report, ensure_ascii=False, sort_keys=True))
