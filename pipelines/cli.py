"""`omnicorpus`: the one command line over the library the DAGs and tests call.

Errors print as one line and exit non-zero; `--debug` shows the traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnicorpus.manifests.config import (
    ConfigError,
    PipelineConfig,
    SourceConfig,
    SourceFlags,
    config_from_flags,
    load_config,
)
from omnicorpus.pipelines.cli_cluster import cluster_app
from omnicorpus.pipelines.cli_contamination import contamination_cmd
from omnicorpus.pipelines.cli_export import export_cmd, select_cmd
from omnicorpus.pipelines.cli_options import ReleaseArg
from omnicorpus.pipelines.cli_simulate import simulate_cmd
from omnicorpus.pipelines.cli_train import tokenizer_cmd, train_cmd
from omnicorpus.pipelines.cli_transcribe import transcribe_cmd

if TYPE_CHECKING:
    from omnicorpus.pipelines.service import Published
    from omnicorpus.quality.gate import Verdict

app = typer.Typer(help="Curate multilingual speech corpora into versioned, validated training releases.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Check and show pipeline configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")
langid_app = typer.Typer(help="Language identification models.", no_args_is_help=True)
app.add_typer(langid_app, name="langid")
community_app = typer.Typer(help="Community submissions: intake with consent, and withdrawal.", no_args_is_help=True)
app.add_typer(community_app, name="community")
releases_app = typer.Typer(help="Published releases.", no_args_is_help=True)
app.add_typer(releases_app, name="releases")
app.add_typer(cluster_app, name="cluster")
app.command("simulate")(simulate_cmd)
app.command("contamination")(contamination_cmd)
app.command("transcribe")(transcribe_cmd)
app.command("train")(train_cmd)
app.command("tokenizer")(tokenizer_cmd)
app.command("select")(select_cmd)
app.command("export")(export_cmd)
CorpusOpt = Annotated[str | None, typer.Option(
    "--corpus", help="The config's community source (default: its only source of layout community).")]

# Piped output (logs, CI, Airflow) gets room for whole table cells rather than a default of 80 columns.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

ConfigArg = Annotated[Path | None, typer.Argument(help="Pipeline config (YAML); optional with --source.")]
SourceOpt = Annotated[list[str] | None, typer.Option(
    "--source", help="NAME=LAYOUT:PATH, repeatable; NAME becomes the corpus name, LAYOUT an adapter or auto.")]
LanguageOpt = Annotated[list[str] | None, typer.Option(
    "--language", help="NAME=CODE, repeatable: the language of a source's items that do not say theirs.")]
LicenseOpt = Annotated[list[str] | None, typer.Option(
    "--license", help="NAME=ID, repeatable: a source's licence (SPDX id, e.g. CC-BY-4.0).")]
UnlabelledOpt = Annotated[list[str] | None, typer.Option(
    "--unlabelled", help="NAME, repeatable: the source is audio without transcripts (self-supervised data).")]
AllowCommandsOpt = Annotated[list[str] | None, typer.Option(
    "--allow-commands", help="NAME, repeatable: run the source's Kaldi wav.scp commands that are not plain "
                             "decoders (argv-split, no shell, with a timeout).")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail (exit 1) when a source contributes nothing to the release.")]
OutOpt = Annotated[str | None, typer.Option("--out", help="Output root (overrides the config's).")]
MasterOpt = Annotated[str | None, typer.Option("--master", help="Spark master URL (default local[*]).")]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    """omnicorpus."""


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def source_flags(source: list[str] | None, language: list[str] | None = None, license: list[str] | None = None,
                 unlabelled: list[str] | None = None, allow_commands: list[str] | None = None) -> SourceFlags:
    return SourceFlags(*(tuple(v or ()) for v in (source, language, license, unlabelled, allow_commands)))


def resolve_config(config: Path | None, flags: SourceFlags, out_dir: str | None,
                   master: str | None) -> PipelineConfig:
    """The config a command means: a file, `--source` flags, or a file with flags on top."""
    base = load_config(config) if config else None
    if base is None and not flags.sources:
        raise ConfigError(["give a config file or at least one --source NAME=LAYOUT:PATH"], "command line")
    if base is not None and not flags and out_dir is None and master is None:
        return base
    return config_from_flags(flags, out_dir or (base.output if base else "out"), master, base)


#: The options every command that reads the sources takes, in this order after its own parameters.
_SOURCE_OPTIONS = (
    ("config", ConfigArg), ("source", SourceOpt), ("out_dir", OutOpt), ("master", MasterOpt),
    ("language", LanguageOpt), ("license", LicenseOpt), ("unlabelled", UnlabelledOpt),
    ("allow_commands", AllowCommandsOpt),
)


def with_sources(command: Callable[..., None]) -> Callable[..., None]:
    """A command taking `cfg` gets the config, `--source` and per-source options in its place, resolved by
    `resolve_config`. Typer reads a command's parameters from its signature, so the shared ones are spliced
    into it here once rather than spelled out in every command."""
    hints = typing.get_type_hints(command, include_extras=True)  # this module's annotations are strings
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(command).parameters.values()
           if p.name != "cfg"]
    required = [p for p in own if p.default is inspect.Parameter.empty]
    optional = [p for p in own if p.default is not inspect.Parameter.empty]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY if required else
                                inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
              for name, annotation in _SOURCE_OPTIONS]
    kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in optional]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        shared_values = {name: kwargs.pop(name) for name, _ in _SOURCE_OPTIONS}
        flags = source_flags(*(shared_values[n] for n in ("source", "language", "license", "unlabelled",
                                                          "allow_commands")))
        kwargs["cfg"] = resolve_config(shared_values["config"], flags, shared_values["out_dir"],
                                       shared_values["master"])
        command(**kwargs)

    wrapper.__signature__ = inspect.Signature([*required, *shared, *kinds])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*required, *shared, *kinds]}
    return wrapper


@app.command("sample-corpus")
def sample_corpus(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the corpus into.")],
    scale: Annotated[int, typer.Option(min=1, help="Multiplies utterances and long-form minutes.")] = 1,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
) -> None:
    """Synthesize a multilingual sample corpus (espeak-ng) in the layouts real corpora use."""
    from omnicorpus.corpus.sample_corpus import build_sample_corpus

    t0 = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("synthesizing", total=None)
        manifest = build_sample_corpus(out_dir, scale=scale, seed=seed,
                                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    hours = sum(manifest["seconds"].values()) / 3600
    out.print(f"sample corpus: {out_dir} ({len(manifest['languages'])} languages, "
              f"{len(manifest['scripts'])} scripts, {sum(manifest['items'].values())} items, {hours:.2f} h) "
              f"in {time.perf_counter() - t0:.0f} s")
    out.print(f"config: {out_dir / 'omnicorpus.yaml'}")


@config_app.command("check")
def config_check(config: Annotated[Path, typer.Argument(help="Pipeline config (YAML).")]) -> None:
    """Validate a config; print every problem, or a summary of the sources."""
    cfg = load_config(config)
    out.print(f"[green]ok[/]: {config}: {len(cfg.sources)} sources, output {cfg.output}, "
              f"spark {cfg.spark.master}, config hash {cfg.digest()}")


@config_app.command("show")
@with_sources
def config_show(cfg: PipelineConfig) -> None:
    """Print the effective config (defaults filled in) as JSON."""
    out.print_json(json.dumps(cfg.to_dict()))


@app.command("languages")
def languages(
    codes: Annotated[list[str], typer.Argument(help="Codes as sources write them: en, en_us, zh-TW, ger ...")],
    text: Annotated[str | None, typer.Option(help="A transcript, to decide the script.")] = None,
) -> None:
    """Show how source language codes map onto {ISO 639-3}_{ISO 15924}."""
    from omnicorpus.manifests.languages import language_name, to_language

    table = Table("code", "language", "name")
    for code in codes:
        lang = to_language(code, source="command line", text=text)
        table.add_row(code, lang, language_name(lang))
    out.print(table)


@langid_app.command("train")
@with_sources
def langid_train(
    cfg: PipelineConfig,
    model: Annotated[Path, typer.Option("--model", help="Where to write the model (.bin, or .ftz to quantize).")],
    holdout: Annotated[float, typer.Option(help="Share of each language held out and scored.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Decides the held-out sentences and the model.")] = 0,
) -> None:
    """Train a fastText LID model on the labelled transcripts of the sources, by declared language.

    Use it in the config as `langid: {model: PATH}`."""
    from omnicorpus.pipelines.langid import train_lid_model, training_texts

    texts, languages, skipped = training_texts(cfg)
    with err.status(f"training on {len(texts)} transcripts in {len(set(languages))} languages ..."):
        report = train_lid_model(texts, languages, model, holdout=holdout, seed=seed)
    table = Table("language", "train", "held out", "correct", "accuracy", title=f"LID model {model}")
    for lang, row in sorted(report["per_language"].items()):
        acc = "-" if row.get("accuracy") is None else f"{row['accuracy']:.2f}"
        table.add_row(lang, str(row["train"]), str(row["heldout"]), str(row["correct"]), acc)
    out.print(table)
    accuracy = "n/a (nothing held out)" if report["accuracy"] is None else f"{report['accuracy']:.3f}"
    out.print(f"held-out accuracy {accuracy} on {report['heldout']} transcripts; "
              f"{skipped} items without a usable language or transcript skipped")
    out.print(f"model: {model}")


def community_source(cfg: PipelineConfig, name: str | None) -> SourceConfig:
    sources = [s for s in cfg.sources if s.layout == "community" and (name is None or s.name == name)]
    if len(sources) != 1:
        which = f"named {name!r} " if name else ""
        raise ConfigError([f"need exactly one source {which}of layout community, found {len(sources)}"], "config")
    return sources[0]


@community_app.command("add")
def community_add(
    submission: Annotated[Path, typer.Argument(help="A submission folder, or a zip/tar archive of one.")],
    config: Annotated[Path, typer.Argument(help="Pipeline config with the community source.")],
    corpus: CorpusOpt = None,
) -> None:
    """Check a submission (metadata.csv + audio) row by row and add it to the partner's corpus.

    Unsafe archives are refused whole; rows without consent are kept for the record but never reach a
    shard; audio the corpus already holds is left out. The next run carries the rest into a release."""
    from omnicorpus.corpus.intake import add_submission
    from omnicorpus.manifests.lock import output_lock

    cfg = load_config(config)
    with output_lock(cfg.output):
        report = add_submission(submission, community_source(cfg, corpus), output_root=Path(cfg.output))
    for line in report.errors:
        err.print(f"[yellow]row[/] {escape(line)}", highlight=False)
    for line in report.duplicates:
        err.print(f"[yellow]duplicate[/] {escape(line)}", highlight=False)
    out.print(f"submission {report.submission} of {report.partner}: {report.rows} rows, {report.added} to be "
              f"released, {len(report.errors)} with problems, {len(report.duplicates)} duplicates")
    out.print(f"added: {report.destination}")


@community_app.command("withdraw")
def community_withdraw(
    config: Annotated[Path, typer.Argument(help="Pipeline config with the community source.")],
    partner: Annotated[str, typer.Option("--partner", help="The partner that submitted it.")],
    speaker: Annotated[str | None, typer.Option("--speaker", help="Speaker id as the partner gave it.")] = None,
    submission: Annotated[str | None, typer.Option("--submission", help="Submission id.")] = None,
    corpus: CorpusOpt = None,
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Record a withdrawal durably: no release made after it holds a segment of that speaker or submission."""
    from omnicorpus.corpus.withdrawals import match_withdrawal, record_withdrawal, register_path

    cfg = load_config(config)
    source = community_source(cfg, corpus)
    found = match_withdrawal(source, cfg.output, partner=partner, salt=cfg.ingest.speaker_salt, speaker=speaker,
                             submission=submission)
    if found.note:
        out.print(f"note: {escape(found.note)}", highlight=False)
    entry = record_withdrawal(cfg.output, corpus=source.name, partner=found.partner, salt=cfg.ingest.speaker_salt,
                              speaker=found.target if speaker is not None else None,
                              submission=found.target if submission is not None else None, note=note)
    out.print(f"withdrawn: {entry.kind} {escape(found.target)} of {escape(found.partner)} ({source.name}): "
              f"{found.items} recording(s) listed, {found.segments} segment(s) the next release leaves out, "
              f"{found.in_latest} of them in the latest release; recorded in {register_path(cfg.output)}",
              highlight=False)
    if found.in_latest:
        out.print("the latest release still serves them: make a release now and retract the older ones with "
                  f"`omnicorpus releases prune-withdrawn {config}`")


@releases_app.command("prune-withdrawn")
def releases_prune_withdrawn(
    config: Annotated[Path, typer.Argument(help="Pipeline config (YAML).")],
    master: MasterOpt = None,
) -> None:
    """Make a release without the withdrawn recordings, then delete every older release (and the shards)
    that still serves them: no published release keeps serving a withdrawn speaker or submission."""
    from omnicorpus.pipelines.retract import prune_withdrawn
    from omnicorpus.pipelines.service import open_spark

    cfg = resolve_config(config, SourceFlags(), None, master)
    report = prune_withdrawn(cfg, open_spark(cfg))
    out.print(f"latest release {report.latest} holds none of the {report.withdrawn} withdrawn segments; "
              f"deleted {len(report.releases)} release(s) that served them"
              f"{' (' + ', '.join(report.releases) + ')' if report.releases else ''} and {len(report.shards)} "
              "shard(s) no remaining release uses")


@app.command("ingest")
@with_sources
def ingest(cfg: PipelineConfig) -> None:
    """Ingest new items of every source on Spark: 16 kHz FLAC audio store + recordings table."""
    from omnicorpus.pipelines.ingest import run_ingest
    from omnicorpus.pipelines.service import open_spark

    report = run_ingest(cfg, open_spark(cfg))
    out.print_json(json.dumps(report.as_dict()))


def print_summary(release_path: Path) -> None:
    """The release's hours per language and corpus, as a table."""
    import polars as pl

    from omnicorpus.manifests.release import open_release

    release = open_release(release_path)
    summary = pl.DataFrame(release.table("summary"))
    counts = release.info["counts"]
    table = Table("language", "corpus", "split", "hours", "utterances", "speakers", "shards",
                  title=f"release {release.id}: {counts['utterances']} utterances, {counts['hours']:.2f} h, "
                        f"{counts['languages']} languages, {counts['rejects']} rejects")
    for row in summary.iter_rows(named=True):
        table.add_row(row["language"] or "und", row["corpus"], row["split"], f"{row['hours']:.3f}",
                      str(row["utterances"]), str(row["speakers"]), str(row["shards"]))
    out.print(table)
    by_stage = ", ".join(f"{k} {v}" for k, v in counts["rejects_by_stage"].items())
    out.print(f"rejects by stage: {by_stage or 'none'}")


@app.command("run")
@with_sources
def run(cfg: PipelineConfig, strict: StrictOpt = False) -> None:
    """Run the whole chain on Spark (ingest, curate, shard, release) and print where the release is."""
    from omnicorpus.pipelines.service import open_spark, run_all

    spark = open_spark(cfg)
    t0 = time.perf_counter()
    with err.status("running the pipeline on Spark ..."):
        report, published = run_all(cfg, spark)
    ing, cur = report.ingest, report.curate
    for src in cfg.sources:
        if src.layout == "auto":
            out.print(f"source {src.name}: layout auto detected as [bold]{ing.layouts[src.name]}[/]")
    redone = [f"{n} {what}" for n, what in ((ing.changed, "changed"), (ing.retried, "retried")) if n]
    gone = f"; {ing.gone} no longer listed, removed" if ing.gone else ""
    out.print(f"ingest: {sum(ing.listed.values())} items listed, {ing.new} new"
              f"{' (' + ', '.join(redone) + ')' if redone else ''} -> {ing.recordings} recordings, "
              f"{ing.rejects} rejects{gone}")
    out.print(f"curate: {cur.recordings} recordings -> {cur.segments} segments, {cur.rejects} rejects; "
              f"dedup of the hash groups that changed: {cur.accepted} accepted, {cur.dedup_rejects} rejects")
    print_summary(published.release.path)
    unlicensed = (published.release.info.get("licences") or {}).get("unlicensed_corpora") or []
    if unlicensed:  # flagged, not failed: a private corpus may hold unlicensed audio, a published one must not
        err.print(f"[yellow]licence:[/] corpus {', '.join(unlicensed)} holds audio with no licence (set the "
                  "source's license before publishing; release.json `licences` has the hours)")
    state = "new release" if published.new else "unchanged, latest release"
    out.print(f"{state}: [bold]{published.release.path}[/] ({time.perf_counter() - t0:.0f} s)")
    _finish(published, strict=strict)


@app.command("curate")
@with_sources
def curate_cmd(cfg: PipelineConfig) -> None:
    """Segment, identify language, normalize, filter and dedup what ingest wrote."""
    from omnicorpus.pipelines.curate import curate
    from omnicorpus.pipelines.service import open_spark

    report = curate(cfg, open_spark(cfg))
    out.print_json(json.dumps(report.as_dict()))


@app.command("release")
@with_sources
def release_cmd(cfg: PipelineConfig, strict: StrictOpt = False) -> None:
    """Shard what curate accepted and publish it as a new release (when anything changed)."""
    from omnicorpus.pipelines.service import open_spark, publish

    published = publish(cfg, open_spark(cfg))
    print_summary(published.release.path)
    out.print(f"{'new release' if published.new else 'unchanged, latest release'}: [bold]{published.release.path}[/]")
    _finish(published, strict=strict)


def print_verdict(verdict: Verdict) -> None:
    checks = len(verdict.checks)
    if verdict.passed:
        out.print(f"quality gate: [bold green]passed[/] ({checks} checks)")
    else:
        out.print(f"quality gate: [bold red]FAILED[/] ({len(verdict.failures())} of {checks} checks)")
        for check in verdict.failures()[:20]:
            out.print(f"  - {escape(check.table)}.{escape(check.column or '*')}: {escape(check.expectation)}: "
                      f"{escape(check.detail)}", highlight=False)
    if verdict.damaged_shards:
        out.print(f"damaged shards: {len(verdict.damaged_shards)} ({escape(', '.join(verdict.damaged_shards[:5]))}"
                  f"{', ...' if len(verdict.damaged_shards) > 5 else ''}); "
                  + ("the next run rebuilds them from their segments" if verdict.rebuild else
                     "not under this output root's shards/: not rebuilt"), highlight=False)
    if verdict.data_docs:
        out.print(f"data docs: {verdict.data_docs}")


def print_accounting(release_path: Path) -> list[str]:
    """Per source: listed, kept, rejected by reason, hours, ignored files; the names of the sources that
    contribute nothing (each also printed as a warning)."""
    from omnicorpus.manifests.accounting import source_accounts
    from omnicorpus.manifests.release import open_release

    accounts = source_accounts(open_release(release_path))
    out.print("sources:")
    for account in accounts:
        out.print(f"  {escape(account.line())}", highlight=False)
    idle = [a.name for a in accounts if not a.contributes]
    for name in idle:
        err.print(f"[bold yellow]warning[/]: source {escape(name)} contributes nothing to the release", highlight=False)
    return idle


def _finish(published: Published, *, strict: bool = False) -> None:
    """The accounting, verdict and report of a release just published; a failed gate is a failed command, and
    so is (with --strict) a source that contributes nothing."""
    idle = print_accounting(published.release.path)
    print_verdict(published.verdict)
    out.print(f"report: [bold]{published.report}[/]")
    if not published.passed:
        raise typer.Exit(1)
    if strict and idle:
        err.print(f"[bold red]error[/]: --strict: {len(idle)} source(s) contribute nothing: {', '.join(idle)}",
                  highlight=False)
        raise typer.Exit(1)


@app.command("validate")
def validate(
    release: ReleaseArg,
    full: Annotated[bool, typer.Option("--full", help="Decode every FLAC member of every shard (by default those "
                                                      "of a deterministic sample of shards).")] = False,
    manifests_only: Annotated[bool, typer.Option(
        "--manifests-only", help="Check the release's manifests only: no shard file nor stage table is read "
                                 "(a release copied without its shards, a simulated one).")] = False,
) -> None:
    """Run the quality gate (Great Expectations suites) on a release; exits non-zero when it fails. Shards
    whose bytes fail are marked for rebuilding: the next run writes them again from their segments."""
    from omnicorpus.manifests.release import open_release, output_root_of
    from omnicorpus.quality.gate import validate_release

    made = open_release(release)
    root = None if manifests_only else output_root_of(made)
    verdict = validate_release(made.uri, output_root=root, full=full, manifests_only=manifests_only)
    print_verdict(verdict)
    if not verdict.passed:
        raise typer.Exit(1)


@app.command("report")
def report_cmd(
    release: ReleaseArg,
    html: Annotated[str | None, typer.Option("--out", help="Where to write the HTML (default: beside the "
                                                            "release's quality results).")] = None,
) -> None:
    """Write the release's static HTML quality report (opens offline) and print its path."""
    from omnicorpus.manifests.release import open_release
    from omnicorpus.quality.report import write_report

    made = open_release(release)
    out.print(f"report: [bold]{write_report(made.uri, html)}[/]")


@app.command("plan")
def plan_cmd(
    release: ReleaseArg,
    beta_corpus: Annotated[float, typer.Option(help="0 = uniform over corpora, 1 = natural hours.")] = 0.5,
    beta_language: Annotated[float, typer.Option(help="0 = uniform over a corpus's languages, 1 = natural.")] = 0.5,
) -> None:
    """Print what two-level beta sampling makes of a release's training hours, per corpus and language."""
    from omnicorpus.manifests.release import open_release
    from omnicorpus.model.sampling import Betas, plan_for_release

    made = open_release(release)
    plan = plan_for_release(made.path, Betas(beta_corpus, beta_language))
    # plain aligned columns: a release of the paper's size has thousands of partitions, which a rich Table
    # takes seconds to lay out
    rows = [(r["corpus"], r["language"], f"{r['hours']:.4f}", str(r["utterances"]), f"{r['weight']:.6f}",
             f"{r['epoch_hours']:.4f}", f"{r['upsampling']:.2f}x") for r in plan.iter_rows(named=True)]
    header = ("corpus", "language", "hours", "utterances", "weight", "epoch hours", "upsampling")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:  # names left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [f"sampling plan of {made.id}, beta_corpus {beta_corpus}, beta_language {beta_language}: "
             f"{len(rows)} partitions of the train split", line(header), *map(line, rows)]
    lines.append("weights follow hours; draws are corrected for mean utterance length so realised hours match them")
    sys.stdout.write("\n".join(lines) + "\n")


@app.command("summary")
def summary(release: Annotated[Path, typer.Argument(help="A release folder, or an output root.")]) -> None:
    """Print a release's hours per language, corpus and split."""
    print_summary(release)


#: sysexits.h's "temporary failure; the user is invited to retry": an error of the environment.
EX_TEMPFAIL = 75


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    try:
        # Without standalone mode click returns what `typer.Exit(code)` carried instead of exiting with it
        # (and a command's return value otherwise): a failed gate must not exit 0.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # a usage error (BadParameter, a missing argument): click's exceptions, which typer vendors as its own
        # copy of click, so they are known by what they carry rather than by class
        exit_code = getattr(exc, "exit_code", None)
        if isinstance(exit_code, int) and callable(getattr(exc, "show", None)):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exit_code)
        if debug:
            raise
        from omnicorpus.pipelines.stage import EnvironmentFault

        if isinstance(exc, EnvironmentFault):  # not the data's fault: a scheduler should retry later
            err.print(f"[bold red]error[/]: {escape(exc.detail)}", highlight=False)
            sys.exit(EX_TEMPFAIL)
        first, _, rest = str(exc).partition("\n")
        err.print(f"[bold red]error[/]: {escape(first)}", highlight=False)
        if rest and isinstance(exc, ConfigError):
            err.print(rest, highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
