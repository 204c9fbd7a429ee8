"""`omnicorpus select` (a curated manifest of a release) and `omnicorpus export` (a release in another
toolkit's layout)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicorpus.pipelines.cli_options import ReleaseArg

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: --format values, each with what it writes (the exporters' modules say how and why).
FORMATS = {
    "omnilingual-parquet": "the Omnilingual ASR storage layout (Hive-partitioned Parquet, FLAC bytes)",
    "lhotse": "Lhotse RecordingSet / SupervisionSet / CutSet JSONL (gz) and FLAC files",
    "lhotse-shar": "Lhotse Shar (cuts JSONL and recording tars)",
    "hf": "Hugging Face Parquet with an Audio feature and a dataset card",
    "nemo": "NeMo JSONL manifests per split and FLAC files",
}

ListOpt = list[str] | None


def split_list(values: ListOpt) -> tuple[str, ...]:
    """`--x a,b --x c` -> (a, b, c)."""
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def select_cmd(
    release: ReleaseArg,
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the selection into (replaced if a selection).")],
    languages: Annotated[ListOpt, typer.Option("--languages", help="Keep these languages (comma-separated, "
                                                                   "or repeat the option).")] = None,
    corpora: Annotated[ListOpt, typer.Option("--corpora", help="Keep these corpora.")] = None,
    splits: Annotated[ListOpt, typer.Option("--splits", help="Keep these splits (train, dev, test).")] = None,
    licences: Annotated[ListOpt, typer.Option("--licences", "--licenses",
                                              help="Keep the utterances of these licences (their own, else "
                                                   "their source's).")] = None,
    min_seconds: Annotated[float | None, typer.Option(help="Drop utterances shorter than this.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Drop utterances longer than this.")] = None,
    max_hours_per_language: Annotated[float | None, typer.Option(
        help="Cap each language's hours in each split, speakers taking turns.")] = None,
) -> None:
    """Write a curated manifest: a subset of a release that references its shards (no audio copied), records
    its query and parent, and is taken by plan, train, report and export in place of a release."""
    from omnicorpus.manifests.release import open_release
    from omnicorpus.manifests.selection import SelectionQuery, select_release

    try:
        query = SelectionQuery(languages=split_list(languages), corpora=split_list(corpora),
                               splits=split_list(splits), licences=split_list(licences), min_seconds=min_seconds,
                               max_seconds=max_seconds, max_hours_per_language=max_hours_per_language)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    parent = open_release(release)
    made, changed = select_release(parent, out_dir, query)
    counts = made.info["counts"]
    out.print(f"selection {made.id} of {parent.id} ({'written' if changed else 'unchanged'}): "
              f"{counts['utterances']:,} of {counts['parent_utterances']:,} utterances, {counts['hours']:.3f} h, "
              f"{counts['languages']} languages, {counts['corpora']} corpora, {counts['shards']} shards -> "
              f"[bold]{made.uri}[/]")
    dropped = {rule: n for rule, n in made.info["left_out"].items() if n}
    if dropped:
        out.print("left out: " + ", ".join(f"{rule} {n:,}" for rule, n in dropped.items()))


@contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback (done, total) drawing on stderr, so that stdout keeps the one JSON line."""
    with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=not err.is_terminal) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def export_cmd(
    release: ReleaseArg,
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the export into.")],
    format: Annotated[str, typer.Option("--format", help=", ".join(FORMATS))] = "omnilingual-parquet",
    audio_int8: Annotated[bool, typer.Option(
        "--audio-int8", help="omnilingual-parquet: audio_bytes as list<int8>, as Omnilingual ASR's own files "
                             "hold it (default: binary)")] = False,
    licences: Annotated[ListOpt, typer.Option("--licences", "--licenses", help=(
        "Export only the utterances of these licences (as `select --licences`, through a selection made beside "
        "OUT and removed after)"))] = None,
) -> None:
    """Export a release (or a selection) in another toolkit's layout; prints what was written as JSON."""
    from omnicorpus.manifests.release import open_release

    if format not in FORMATS:
        raise typer.BadParameter(f"unknown format {format!r}; one of: {', '.join(FORMATS)}", param_hint="--format")
    if audio_int8 and format != "omnilingual-parquet":
        raise typer.BadParameter("--audio-int8 is an option of --format omnilingual-parquet")
    made = open_release(release)
    with (licensed(made, split_list(licences), out_dir) as (chosen, selection),
          progress_bar(f"export {chosen.id} as {format}") as progress):
        result = _exporter(format)(chosen, out_dir, audio_int8=audio_int8, progress=progress)
    if selection is not None:
        result["selection"] = selection
    out.print_json(json.dumps(result, default=str))


@contextmanager
def licensed(release: Any, licences: tuple[str, ...], out_dir: Path) -> Iterator[tuple[Any, dict | None]]:
    """The release itself, or (with licences) a selection of its utterances of those licences, made in a
    temporary folder beside `out_dir` for the length of the block; with what the selection left out."""
    import shutil
    import uuid

    from omnicorpus.manifests.selection import SelectionQuery, select_release

    if not licences:
        yield release, None
        return
    folder = out_dir.absolute().parent / f".licences-{uuid.uuid4().hex}"
    try:
        chosen, _ = select_release(release, folder, SelectionQuery(licences=licences))
        yield chosen, {"id": chosen.id, "parent": release.id, "licences": list(licences),
                       "utterances": chosen.info["counts"]["utterances"],
                       "left_out": chosen.info["left_out"].get("licence", 0)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _exporter(format: str) -> Callable[..., dict[str, Any]]:
    """The export function of a format, called as f(release, out, audio_int8=..., progress=...)."""
    if format == "omnilingual-parquet":
        from omnicorpus.manifests.export import export_omnilingual

        return lambda r, o, audio_int8, progress: export_omnilingual(r, o, audio_int8=audio_int8, progress=progress)
    if format in ("lhotse", "lhotse-shar"):
        from omnicorpus.manifests.export_lhotse import export_lhotse

        return lambda r, o, audio_int8, progress: export_lhotse(r, o, shar=format == "lhotse-shar",
                                                                progress=progress)
    if format == "hf":
        from omnicorpus.manifests.export_hf import export_hf

        return lambda r, o, audio_int8, progress: export_hf(r, o, progress=progress)
    from omnicorpus.manifests.export_nemo import export_nemo

    return lambda r, o, audio_int8, progress: export_nemo(r, o, progress=progress)
