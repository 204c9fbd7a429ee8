"""A Spark standalone cluster on this machine, from the installed pyspark: one master and N workers on
loopback, for running the same jobs as local mode on a real cluster manager (`omnicorpus cluster up`,
`omnicorpus run ... --master spark://127.0.0.1:7077`, `omnicorpus cluster down`).

The pyspark wheel ships `bin/spark-class` but not Spark's `sbin/start-master.sh` / `start-worker.sh`; those
scripts only daemonize the same two classes, `org.apache.spark.deploy.master.Master` and
`org.apache.spark.deploy.worker.Worker`, which are started here directly, each in a session of its own, so
that `down` stops each JVM and whatever it started (executors, Python workers) by process group. Every
process binds to 127.0.0.1 (`SPARK_LOCAL_IP`; Spark's web UIs otherwise listen on every interface without
authentication). Executors run the venv's Python: the driver sends its own interpreter (PYSPARK_PYTHON).

The cluster's state (master URL, process ids, logs, worker folders) lives in a folder, by default
`~/.omnicorpus/cluster` or `$OMNICORPUS_CLUSTER_DIR`; `up` refuses while a cluster recorded there runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnicorpus.manifests import storage

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"


class ClusterError(RuntimeError):
    """The cluster could not be started, or is not in the state asked for; one line."""


@dataclass(frozen=True)
class Cluster:
    master: str  # spark://127.0.0.1:<port>
    web_ui: str  # the master's web UI (its /json/ says which workers are alive)
    pids: list[int] = field(default_factory=list)  # master first, then the workers
    state_dir: str = ""
    workers: int = 0
    cores: int = 0
    memory: str = ""


def default_state_dir() -> Path:
    return Path(os.environ.get("OMNICORPUS_CLUSTER_DIR") or Path.home() / ".omnicorpus" / "cluster")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(_spark_home()),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOG_DIR": str(state_dir / "logs"),
        "PYSPARK_PYTHON": sys.executable,
        # a daemon's JVM needs little; executors get theirs from the application (spark.executor.memory)
        "SPARK_DAEMON_MEMORY": os.environ.get("OMNICORPUS_SPARK_DAEMON_MEMORY", "512m"),
    })
    return env


def _launch(args: list[str], state_dir: Path, log_name: str) -> subprocess.Popen[bytes]:
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / log_name, "ab") as log:
        return subprocess.Popen([str(_spark_home() / "bin" / "spark-class"), *args], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env(state_dir),
                                start_new_session=True)


def _alive_workers(web_ui: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{web_ui}/json/", timeout=2) as reply:
            return int(json.load(reply).get("aliveworkers", 0))
    except (OSError, ValueError):
        return None


def _wait(what: str, ready: Callable[[], bool], procs: list[subprocess.Popen[bytes]], state_dir: Path,
          timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise ClusterError(f"{what}: a Spark process exited with {dead[0].returncode} while starting "
                               f"(see {state_dir / 'logs'})")
        time.sleep(0.25)
    raise ClusterError(f"{what}: not ready after {timeout_s:.0f} s (see {state_dir / 'logs'})")


def read_state(state_dir: str | os.PathLike[str] | None = None) -> Cluster | None:
    """The cluster recorded in a state folder (running or not), or None."""
    path = Path(state_dir or default_state_dir()) / STATE_FILE
    if not path.exists():
        return None
    return Cluster(**json.loads(path.read_text("utf-8")))


def _alive(pid: int, group: bool = False) -> bool:
    """Whether a process (or, with `group`, any process of its group) still runs; a child of this process
    that has exited is reaped first, so that it does not count as running."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_cluster(workers: int = 2, cores: int = 1, memory: str = "1g", *, port: int | None = None,
                  state_dir: str | os.PathLike[str] | None = None, timeout_s: float = 120.0) -> Cluster:
    """Start a master and `workers` workers of `cores` cores and `memory` each; returns once the master counts
    every worker alive. On any failure everything started is stopped again."""
    if workers < 1 or cores < 1:
        raise ClusterError(f"a cluster needs at least one worker of one core (asked: {workers} x {cores})")
    folder = Path(state_dir or default_state_dir()).absolute()
    existing = read_state(folder)
    if existing is not None and any(_alive(pid) for pid in existing.pids):
        raise ClusterError(f"a cluster recorded in {folder} is running ({existing.master}): "
                           f"`omnicorpus cluster down` first")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    web_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_launch(["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                              "--webui-port", str(web_port)], folder, "master.log"))
        web_ui = f"http://{HOST}:{web_port}"
        _wait("master", lambda: _alive_workers(web_ui) is not None, procs, folder, timeout_s)
        master = f"spark://{HOST}:{port}"
        for i in range(workers):
            work = folder / f"worker-{i}"
            work.mkdir(exist_ok=True)
            procs.append(_launch(["org.apache.spark.deploy.worker.Worker", "--host", HOST, "--cores", str(cores),
                                  "--memory", memory, "--work-dir", str(work), "--webui-port", str(free_port()),
                                  master], folder, f"worker-{i}.log"))
        _wait(f"{workers} worker(s)", lambda: (_alive_workers(web_ui) or 0) >= workers, procs, folder, timeout_s)
    except BaseException:
        _stop_pids([p.pid for p in procs])
        raise
    cluster = Cluster(master, web_ui, [p.pid for p in procs], str(folder), workers, cores, memory)
    storage.write_bytes_atomic(folder / STATE_FILE, (json.dumps(asdict(cluster), indent=2) + "\n").encode())
    return cluster


def _stop_pids(pids: list[int], grace_s: float = 15.0) -> int:
    """SIGTERM each process's group (the JVM and what it started), SIGKILL what is left after `grace_s`;
    the number of groups that were running."""
    running = [pid for pid in pids if _alive(pid)]
    for pid in reversed(running):  # workers before the master
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for pid in running:
        while time.monotonic() < deadline and _alive(pid, group=True):
            time.sleep(0.1)
        if _alive(pid, group=True):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        _alive(pid)  # reaps it
    return len(running)


def stop_cluster(state_dir: str | os.PathLike[str] | None = None) -> int:
    """Stop the cluster recorded in a state folder: how many of its processes were running (0: none was)."""
    folder = Path(state_dir or default_state_dir())
    cluster = read_state(folder)
    if cluster is None:
        return 0
    stopped = _stop_pids(cluster.pids)
    (folder / STATE_FILE).unlink(missing_ok=True)
    return stopped


def cluster_status(state_dir: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """What the state folder records and what runs of it: master URL, processes alive, workers the master
    counts alive."""
    cluster = read_state(state_dir)
    if cluster is None:
        return {"running": False}
    alive = [pid for pid in cluster.pids if _alive(pid)]
    return {"running": bool(alive), "master": cluster.master, "web_ui": cluster.web_ui,
            "processes": len(alive), "workers": cluster.workers, "cores": cluster.cores,
            "alive_workers": _alive_workers(cluster.web_ui) if alive else 0}
