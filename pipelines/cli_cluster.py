"""`omnicorpus cluster up|down|status`: a Spark standalone cluster on this machine (see pipelines.cluster)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

cluster_app = typer.Typer(help="A Spark standalone cluster on this machine (loopback), from the installed pyspark.",
                          no_args_is_help=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
StateOpt = Annotated[Path | None, typer.Option(
    "--state", help="The cluster's state folder (default $OMNICORPUS_CLUSTER_DIR or ~/.omnicorpus/cluster).")]


@cluster_app.command("up")
def cluster_up(
    workers: Annotated[int, typer.Option(help="Workers to start.")] = 2,
    cores: Annotated[int, typer.Option(help="Cores each worker offers.")] = 1,
    memory: Annotated[str, typer.Option(help="Memory each worker offers to executors (Spark's 1g, 4g, ...).")] = "1g",
    port: Annotated[int, typer.Option(help="The master's port.")] = 7077,
    state: StateOpt = None,
) -> None:
    """Start a master and workers on 127.0.0.1; prints the master URL for `--master`."""
    from omnicorpus.pipelines.cluster import ClusterError, start_cluster

    try:
        cluster = start_cluster(workers, cores, memory, port=port, state_dir=state)
    except ClusterError as exc:
        err.print(f"[bold red]error[/]: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"master {cluster.master} with {workers} worker(s) of {cores} core(s), {memory}; "
              f"web UI {cluster.web_ui}", highlight=False, markup=False)
    out.print(cluster.master, highlight=False, markup=False)


@cluster_app.command("down")
def cluster_down(state: StateOpt = None) -> None:
    """Stop the cluster's master and workers (and whatever they started)."""
    from omnicorpus.pipelines.cluster import stop_cluster

    stopped = stop_cluster(state)
    out.print(f"stopped {stopped} Spark process(es)" if stopped else "no cluster was running")


@cluster_app.command("status")
def cluster_status_cmd(state: StateOpt = None) -> None:
    """Print what runs of the recorded cluster, as JSON."""
    from omnicorpus.pipelines.cluster import cluster_status

    out.print_json(json.dumps(cluster_status(state)))
