"""Benchmark: `omnicorpus run` end to end (CPU seconds per run and per audio hour) against its plain stage sum.

    python bench/e2e.py [--hours H] [--small-hours h] [--minutes LO HI] [--seed S] [--work DIR] [--no-cgroup]

Input: long-form 44.1 kHz stereo FLAC recordings (--minutes, default 10-30 minutes each; one shorter file
when the size is smaller), written under DIR/input/<size>/ and read as one `longform` source (unlabelled,
CC-BY-4.0, language en). Their content is the sample corpus's espeak-ng speech (its speakers, the English
UDHR sentences), laid out as its long-form writer does it: utterances at random levels with pauses of
0.3-4 s, music stretches, pink background noise, mains hum in some files, the second channel delayed,
attenuated and with noise of its own. Writing is deterministic (same sizes and seed, same files), and the
files written before with the same parameters are reused (DIR/input/<size>.json lists them).

For each of the two sizes, --small-hours (default 0.05) and --hours (default 10), in the same run:

* ours: the installed console script as a user runs it, `omnicorpus run CONFIG --out DIR/out/<size>` (the
  output emptied first; CONFIG, DIR/config/<size>.yaml, lists that one source; Spark's default master
  local[*]; the command's output goes to DIR/logs/). It must exit 0, so the quality gate passed. Its CPU
  (`run_cpu_s`) is the user+system time of every process of its tree, the JVM and Spark's Python workers
  included, counted as the kernel does when a process is reaped: `getrusage(RUSAGE_CHILDREN)` of this
  process, which holds each reaped child's time and that of the descendants it reaped, recursively. For it
  to hold the whole tree, this process makes itself the tree's child subreaper (PR_SET_CHILD_SUBREAPER):
  what a parent leaves behind (the driver does not wait for its JVM) is re-parented here and reaped here,
  after the command exits. One kind of process no rusage holds: the children of a parent that ignores
  SIGCHLD, which the kernel reaps itself and whose time it drops (Spark's Python daemon ignores SIGCHLD,
  so the workers it forks and that exit before it are lost that way). Their time is added as last
  sampled: the tree's processes are read from /proc four times a second (`autoreaped_cpu_s`; only each
  one's last quarter-second is missing). Cross-checks beside it: `cgroup_cpu_s`, where this process may
  make a CPU-accounting cgroup (root and a writable cgroup v1 cpuacct or v2 hierarchy; --no-cgroup: not
  tried), the command started in it: every process of the tree however it ended; `machine_cpu_s`, busy
  CPU of the whole machine from /proc/stat over the run (it counts whatever else runs there;
  `background_cores` is the load measured just before); `cpu_by_process`, the tree's CPU as sampled, by
  kind (the driver, the JVM, Spark's Python workers, others), and the JVM's by thread name
  (`jvm_cpu_by_thread`, the largest eight: JIT compilers, GC, task threads...). `run_wall_s` is until
  the command exits, `tree_wall_s` until its last descendant has;
* reference: the plain in-process sum of the stage costs over the same files, in this process, on one core
  (torch on one thread, no BLAS threads; time.process_time): decode each file (soundfile, float32),
  downmix to mono (the mean of the channels), resample 44.1 -> 16 kHz (soxr, quality HQ as ingest, in one
  shot), silero-vad over the 16 kHz streams batched as the segment stage batches recordings (the model the
  project ships, loaded and run by `pipelines.vad.speech_probabilities`, segment.batch_streams streams at
  once; model load and JIT warm-up are left out), and a FLAC encode of each 16 kHz mono recording
  (16-bit, soundfile into memory).

The fixed and per-hour costs are the line through the two points, cpu(hours) = fixed + per_hour x hours
(the small size must be small and the large one large for the slope to stand out of the fixed cost's
noise: a few CPU-seconds from run to run). Audio hours per CPU core-hour = hours / (CPU seconds / 3600),
at the large size, for ours and the reference; ratio_to_reference = ours / reference. Goals: a fixed cost
under 30 CPU-seconds, and at least 400 audio hours per core-hour at the large size (the default 10 h).
Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What a user's shell would give the command: the environment as it was before this process set anything.
_USER_ENV = dict(os.environ)
# One core for the reference: no BLAS/OpenMP pool beside the one thread measured (set before numpy loads).
for _key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_key, "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, fresh_dir, log, timed, work_dir  # noqa: E402

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))
RATE = 44100
CHANNELS = 2
GENERATOR = "bench/e2e.py longform input v1"
BLOCK_SECONDS = 60.0  # rendering and FLAC writing go block by block
SPEAKERS = 8  # espeak-ng speakers of the utterance pool; each reads every English UDHR sentence
MUSIC_CLIPS = 8
PR_SET_CHILD_SUBREAPER = 36
SAMPLE_S = 0.25  # seconds between samples of the run's processes
LICENSE = "CC-BY-4.0"
LANGUAGE = "en"


# -- input -------------------------------------------------------------------------------------------------


@dataclass
class Pool:
    """What recordings are assembled from, at RATE: utterances (by speaker) and music stretches."""

    utterances: list[list[np.ndarray]]
    music: list[np.ndarray]


def build_pool(seed: int) -> Pool:
    """espeak-ng speech of the sample corpus's English sentences by SPEAKERS of its speakers, and music."""
    from omnicorpus.corpus.sample_corpus import load_udhr_sentences
    from omnicorpus.corpus.sample_corpus.speech import (
        BASE_SR,
        FEMALE_VARIANTS,
        MALE_VARIANTS,
        Speaker,
        espeak,
        music,
        resample,
    )

    english = [s for s in load_udhr_sentences() if s.language == "eng_Latn"]
    rng = random.Random(f"omnicorpus-bench-e2e:{seed}:pool")
    speakers = []
    for i in range(SPEAKERS):
        gender = "male" if i % 2 == 0 else "female"
        variant = rng.choice(MALE_VARIANTS if gender == "male" else FEMALE_VARIANTS)
        speakers.append(Speaker(f"e2e{i}", "eng_Latn", english[0].espeak_voice, variant, rng.randint(30, 70),
                                rng.randint(140, 188), gender))
    utterances: list[list[np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="omnicorpus-bench-e2e-") as tmp:
        for k, speaker in enumerate(speakers):
            said = [espeak(speaker.say(rng, s.text), Path(tmp), f"s{k}u{j}") for j, s in enumerate(english)]
            utterances.append([resample(x / np.max(np.abs(x)), BASE_SR, RATE).astype(np.float32) for x in said])
    nprng = np.random.default_rng(rng.getrandbits(63))
    clips = [resample(music(nprng, rng.uniform(3.0, 8.0), 1.0), BASE_SR, RATE).astype(np.float32)
             for _ in range(MUSIC_CLIPS)]
    return Pool(utterances, clips)


def plan_lengths(seconds: float, minutes: tuple[float, float], rng: random.Random) -> list[int]:
    """Frames of each recording: about `minutes` long each, together exactly `seconds` (rounded to a frame)."""
    lo, hi = minutes[0] * 60, minutes[1] * 60
    n = max(1, round(seconds / ((lo + hi) / 2)))
    weights = [rng.uniform(lo, hi) for _ in range(n)]
    total = round(seconds * RATE)
    frames = [int(total * w / sum(weights)) for w in weights]
    frames[-1] += total - sum(frames)
    return frames


def render_mono(frames: int, pool: Pool, rng: random.Random) -> np.ndarray:
    """One recording's speech and music at RATE: as the sample corpus's LongformJob lays them out."""
    x = np.zeros(frames, dtype=np.float32)
    speakers = rng.sample(range(len(pool.utterances)), rng.randint(1, 3))
    t = int(rng.uniform(0.5, 2.0) * RATE)
    music_at = rng.uniform(0.25, 0.7) * frames  # at least one music stretch per file
    spoken = False
    while t < frames:
        if music_at <= t or (spoken and rng.random() < 0.08):
            music_at = float("inf")
            piece = pool.music[rng.randrange(len(pool.music))] * rng.uniform(0.15, 0.35)
        else:
            said = pool.utterances[speakers[rng.randrange(len(speakers))]]
            piece = said[rng.randrange(len(said))] * rng.uniform(0.35, 0.85)
            spoken = True
        n = min(len(piece), frames - t)
        x[t:t + n] = piece[:n]
        t += len(piece)
        t += int((rng.uniform(0.3, 1.2) if rng.random() < 0.7 else rng.uniform(1.2, 4.0)) * RATE)
    return x


def write_recording(path: Path, frames: int, pool: Pool, seed: int) -> None:
    """44.1 kHz stereo 16-bit FLAC of one recording (written under a temporary name, then renamed)."""
    from omnicorpus.corpus.sample_corpus.speech import pcm16, pink, white

    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    mono = render_mono(frames, pool, rng)
    noise_db = rng.uniform(-50, -40)
    hum = rng.choice([50.0, 60.0]) if rng.random() < 0.5 else None
    delay, gain = rng.randrange(24), rng.uniform(0.45, 0.95)
    block = int(BLOCK_SECONDS * RATE)
    tmp = path.with_name(f".{path.name}.tmp")
    with sf.SoundFile(tmp, "w", samplerate=RATE, channels=CHANNELS, format="FLAC", subtype="PCM_16") as f:
        for a in range(0, frames, block):
            b = min(frames, a + block)
            x = mono[a:b] + pink(nprng, b - a, noise_db)
            if hum is not None:
                x = x + 10 ** (-54 / 20) * np.sin(2 * np.pi * hum * np.arange(a, b) / RATE)
            lagged = mono[max(0, a - delay):b - delay] if b > delay else np.zeros(0, np.float32)
            lagged = np.concatenate([np.zeros((b - a) - len(lagged), np.float32), lagged])
            second = (lagged + pink(nprng, b - a, noise_db)) * gain + white(nprng, b - a, -62.0)
            f.write(pcm16(np.stack([x, second], axis=1)))
    os.replace(tmp, path)


@dataclass
class Input:
    label: str
    folder: Path
    files: list[Path]
    seconds: float
    build_s: float

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def size_label(hours: float) -> str:
    return f"{hours:g}h"


def build_input(work: Path, hours: float, minutes: tuple[float, float], seed: int,
                pool: Callable[[], Pool]) -> Input:
    """DIR/input/<size>/: recordings of `hours` together; reused when DIR/input/<size>.json describes them."""
    label = size_label(hours)
    folder = work / "input" / label
    marker = folder.with_name(f"{label}.json")  # beside the source folder: it holds audio only
    want = {"generator": GENERATOR, "hours": hours, "minutes": list(minutes), "seed": seed,
            "rate": RATE, "channels": CHANNELS}
    if marker.is_file():
        have = json.loads(marker.read_text("utf-8"))
        files = [folder / name for name in have.get("files", {})]
        if {k: have.get(k) for k in want} == want and files and all(p.is_file() for p in files):
            log(f"input {folder}: {len(files)} recordings, {have['seconds'] / 3600:.3f} h, reused")
            return Input(label, folder, files, have["seconds"], 0.0)
    start = time.perf_counter()
    marker.unlink(missing_ok=True)
    fresh_dir(folder)
    rng = random.Random(f"omnicorpus-bench-e2e:{seed}:{label}")
    lengths = plan_lengths(hours * 3600, minutes, rng)
    made: dict[str, int] = {}
    for i, frames in enumerate(lengths):
        path = folder / f"recording_{i + 1:04d}.flac"
        write_recording(path, frames, pool(), rng.getrandbits(63))
        made[path.name] = frames
        log(f"  {path.name}: {frames / RATE / 60:.1f} min")
    seconds = sum(made.values()) / RATE
    marker.write_text(json.dumps({**want, "files": made, "seconds": seconds}, indent=2) + "\n", "utf-8")
    took = time.perf_counter() - start
    log(f"input {folder}: {len(made)} recordings, {seconds / 3600:.3f} h of 44.1 kHz stereo FLAC "
        f"({sum(p.stat().st_size for p in folder.glob('*.flac')) / 1e6:.0f} MB), built in {took:.0f} s")
    return Input(label, folder, sorted(folder / n for n in made), seconds, took)


# -- reference: the plain in-process sum of the stage costs --------------------------------------------------


STAGES = ("decode", "downmix", "resample", "vad", "flac")


def downmix(x: np.ndarray) -> np.ndarray:
    """The mean of the channels (as two additions for stereo: numpy's mean over a 2-wide axis is 7x slower)."""
    if x.shape[1] != 2:
        return x.mean(axis=1, dtype=np.float32)
    out = x[:, 0] + x[:, 1]
    out *= 0.5
    return out


def reference(inp: Input) -> tuple[dict[str, float], float]:
    """(CPU seconds of this process per stage, wall seconds) over every file of `inp`, on one core."""
    import soxr

    from omnicorpus.manifests.config import SegmentParams
    from omnicorpus.pipelines import vad

    batch = SegmentParams().batch_streams
    cpu = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def clock(stage: str) -> Iterator[None]:
        c0 = time.process_time()
        yield
        cpu[stage] += time.process_time() - c0

    wall0 = time.perf_counter()
    for g in range(0, len(inp.files), batch):
        streams: list[np.ndarray] = []
        for path in inp.files[g:g + batch]:
            with clock("decode"):
                x, _ = sf.read(path, dtype="float32", always_2d=True)
            with clock("downmix"):
                mono = downmix(x)
            del x
            with clock("resample"):
                streams.append(soxr.resample(mono, RATE, 16_000, quality="HQ"))
        with clock("vad"):
            vad.speech_probabilities(streams, batch_streams=batch)
        for stream in streams:
            with clock("flac"):
                sf.write(io.BytesIO(), stream, 16_000, format="FLAC", subtype="PCM_16")
    return cpu, time.perf_counter() - wall0


def reference_setup() -> None:
    """One torch thread, the model loaded and its JIT warmed up: outside the reference's timings."""
    import torch

    from omnicorpus.pipelines import vad

    vad._model()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    vad.speech_probabilities([(rng.standard_normal(3 * 16_000) * 0.1).astype(np.float32) for _ in range(4)])


# -- ours: the console script, with the CPU of its whole process tree ----------------------------------------


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (and reaped, so counted, here)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


TICK = os.sysconf("SC_CLK_TCK")
SIGCHLD_BIT = 1 << (signal.SIGCHLD - 1)


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / TICK


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Proc:
    """What /proc/<pid>/stat says of one process: its parent, start time, own CPU and its reaped children's."""

    pid: int
    ppid: int
    start: int
    cpu: float
    children_cpu: float


def _processes() -> dict[int, Proc]:
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()  # the fields after "(comm)": state is rest[0]
        pid = int(entry.name)
        out[pid] = Proc(pid, int(rest[1]), int(rest[19]), (int(rest[11]) + int(rest[12])) / TICK,
                        (int(rest[13]) + int(rest[14])) / TICK)
    return out


def _threads(pid: int) -> list[tuple[int, str, float]]:
    """(thread id, name with digits as N, user+system seconds) of each thread of `pid`."""
    out: list[tuple[int, str, float]] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        name = re.sub(r"\d+", "N", raw[raw.find("(") + 1:raw.rfind(")")])
        rest = raw[raw.rfind(")") + 2:].split()
        out.append((int(tid), name, (int(rest[11]) + int(rest[12])) / TICK))
    return out


def _ignores_sigchld(pid: int) -> bool:
    """Whether `pid` ignores SIGCHLD: then the kernel reaps its children itself and their CPU is in nobody's
    RUSAGE_CHILDREN (Spark's Python daemon does this to the workers it forks)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & SIGCHLD_BIT)
    except (OSError, ValueError):
        pass
    return False


def _kind(pid: int, driver: int) -> str:
    if pid == driver:
        return "driver"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    cmd = b" ".join(argv).decode(errors="replace")
    if argv and argv[0].endswith(b"java"):
        return "jvm"
    if "pyspark.daemon" in cmd or "pyspark.worker" in cmd or "pyspark/daemon" in cmd:
        return "python_workers"
    return "other"


@dataclass
class TreeSampler:
    """This process's descendants, sampled from /proc: the last seen state of each, its kind, and whether its
    parent ignored SIGCHLD then. Keyed by (pid, start time)."""

    driver: int
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)
    kinds: dict[tuple[int, int], str] = field(default_factory=dict)
    autoreaped: dict[tuple[int, int], bool] = field(default_factory=dict)
    threads: dict[tuple[int, int, int], tuple[str, float]] = field(default_factory=dict)  # the JVMs' threads

    def sample(self) -> None:
        me = os.getpid()
        procs = _processes()
        ignoring: dict[int, bool] = {}
        for pid, p in procs.items():
            up, hops = p.ppid, 0
            while up not in (me, 0, 1) and up in procs and hops < 64:
                up, hops = procs[up].ppid, hops + 1
            if up != me:
                continue
            key = (pid, p.start)
            if self.kinds.get(key, "other") == "other":  # a launcher script may since have become the JVM
                self.kinds[key] = _kind(pid, self.driver)
            if p.ppid not in ignoring:
                ignoring[p.ppid] = p.ppid != me and _ignores_sigchld(p.ppid)
            self.seen[key] = p
            self.autoreaped[key] = ignoring[p.ppid]
            if self.kinds[key] == "jvm":
                for tid, name, cpu in _threads(pid):
                    self.threads[(pid, p.start, tid)] = (name, cpu)

    def by_kind(self) -> dict[str, float]:
        out = dict.fromkeys(("driver", "jvm", "python_workers", "other"), 0.0)
        for key, p in self.seen.items():
            out[self.kinds[key]] += p.cpu
        return {k: round(v, 2) for k, v in out.items()}

    def jvm_threads(self, top: int = 8) -> dict[str, float]:
        """The JVMs' CPU by thread name (digits as N: "C2 CompilerThreN", "GC Thread#N"), the largest first."""
        out: dict[str, float] = {}
        for name, cpu in self.threads.values():
            out[name] = out.get(name, 0.0) + cpu
        return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])[:top]}

    def lost_to_autoreap(self, reaped_here: set[int]) -> tuple[int, float]:
        """(processes, CPU seconds as last sampled, theirs and their reaped children's) of the descendants that
        the kernel reaped for a parent that ignored SIGCHLD: what RUSAGE_CHILDREN cannot hold."""
        lost = [p for key, p in self.seen.items() if self.autoreaped[key] and p.pid not in reaped_here]
        return len(lost), sum(p.cpu + p.children_cpu for p in lost)


def reap_orphans(sampler: TreeSampler, timeout: float) -> tuple[set[int], list[int]]:
    """Waits for every remaining descendant (re-parented here); (pids reaped, pids left running)."""
    reaped: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped, []
        except InterruptedError:
            continue
        if pid:
            reaped.add(pid)
            continue
        if time.monotonic() > deadline:
            return reaped, [p.pid for p in _processes().values() if p.ppid == os.getpid()]
        sampler.sample()
        time.sleep(SAMPLE_S)


class CpuCgroup:
    """A CPU-accounting cgroup (v1 cpuacct, or v2) the command is started in, where this process may make one
    (root, a writable hierarchy): the CPU of every process of the tree, however it was reaped. A cross-check."""

    def __init__(self, path: Path, home: Path, v2: bool) -> None:
        self.path, self.home, self.v2 = path, home, v2

    @classmethod
    def make(cls) -> CpuCgroup | None:
        try:
            mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
            mine = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
        except OSError:
            return None
        for _dev, where, fstype, opts, *_ in mounts:
            v1 = fstype == "cgroup" and "cpuacct" in opts.split(",")
            if not v1 and fstype != "cgroup2":
                continue
            own = next((p for _, ctl, p in mine if (v1 and "cpuacct" in ctl.split(",")) or (not v1 and ctl == "")),
                       None)
            if own is None:
                continue
            path = Path(where) / f"omnicorpus-bench-e2e-{os.getpid()}"
            try:
                path.mkdir()
            except OSError:
                continue
            group = cls(path, Path(where) / own.lstrip("/"), not v1)
            try:
                group.usage_s()
                return group
            except (OSError, ValueError):
                group.remove()
        return None

    def usage_s(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def spawn(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """`start()` with this process in the group for the fork, so the child (and its tree) starts there."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        try:
            return start()
        finally:
            (self.home / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError as exc:
            log(f"WARNING: could not remove the cgroup {self.path}: {exc}")


def write_config(path: Path, inp: Input, out: Path) -> None:
    """A pipeline config as a user writes it (see `omnicorpus sample-corpus`'s omnicorpus.yaml)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# written by bench/e2e.py: {inp.hours:.3f} h of long-form 44.1 kHz stereo FLAC\n"
        "sources:\n"
        f"  - {{name: longform, layout: longform, path: {inp.folder}, license: {LICENSE}, "
        f"language: {LANGUAGE}, labelled: false}}\n"
        f"output: {out}\n", "utf-8")


def measure_background(seconds: float) -> float:
    """Cores the machine keeps busy without us, over `seconds` (what machine_cpu_s also counts)."""
    if seconds <= 0:
        return 0.0
    b0, w0 = machine_busy_s(), time.perf_counter()
    time.sleep(seconds)
    return (machine_busy_s() - b0) / (time.perf_counter() - w0)


def run_ours(work: Path, inp: Input, baseline_s: float, reap_timeout: float, use_cgroup: bool) -> dict[str, Any]:
    """`omnicorpus run` over `inp` in a fresh output root: its tree's CPU, wall time and exit code."""
    out = fresh_dir(work / "out" / inp.label)
    config = work / "config" / f"{inp.label}.yaml"
    write_config(config, inp, out)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"run-{inp.label}.log"
    env = {**_USER_ENV, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    cmd = [OMNICORPUS, "run", str(config), "--out", str(out)]
    background = measure_background(baseline_s)
    group = CpuCgroup.make() if use_cgroup else None
    with open(log_path, "wb") as logf:

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)

        group0 = group.usage_s() if group else 0.0
        cpu0, busy0, wall0 = children_cpu_s(), machine_busy_s(), time.perf_counter()
        proc = group.spawn(start) if group else start()
        sampler = TreeSampler(proc.pid)
        while proc.poll() is None:
            sampler.sample()
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - wall0
        waited = children_cpu_s() - cpu0  # what the command itself waited for (its reaped descendants)
        reaped, left = reap_orphans(sampler, reap_timeout)
        tree_wall = time.perf_counter() - wall0
        rusage, busy = children_cpu_s() - cpu0, machine_busy_s() - busy0
        group_cpu = group.usage_s() - group0 if group else None
    if group and not left:
        group.remove()
    n_lost, lost = sampler.lost_to_autoreap(reaped | {proc.pid})
    cpu = rusage + lost
    tail = log_path.read_text("utf-8", errors="replace").strip().splitlines()[-6:]
    log(f"$ {' '.join(cmd)}\n  " + "\n  ".join(tail))
    if left:
        log(f"WARNING: descendants still running {reap_timeout:.0f} s after the command exited (not counted): "
            f"{left}")
    if proc.returncode != 0:
        raise SystemExit(f"omnicorpus run exited {proc.returncode}; its output: {log_path}")
    result = {
        "hours": round(inp.hours, 4), "files": len(inp.files),
        "run_cpu_s": round(cpu, 2), "run_wall_s": round(wall, 2), "run_exit_code": proc.returncode,
        "tree_wall_s": round(tree_wall, 2),
        "rusage_children_cpu_s": round(rusage, 2), "waited_by_command_cpu_s": round(waited, 2),
        "orphans_reaped_here": len(reaped), "autoreaped": n_lost, "autoreaped_cpu_s": round(lost, 2),
        "left_running": len(left),
        "cgroup_cpu_s": None if group_cpu is None else round(group_cpu, 2),
        "machine_cpu_s": round(busy, 2), "background_cores": round(background, 3),
        "cpu_by_process": sampler.by_kind(),
        "jvm_cpu_by_thread": sampler.jvm_threads(),
    }
    log(f"ours {inp.label}: {cpu:.1f} s CPU = {rusage:.1f} s reaped (the command waited for {waited:.1f} s; "
        f"{len(reaped)} orphans reaped here) + {lost:.1f} s of {n_lost} processes the kernel reaped, as last "
        f"sampled; {wall:.1f} s wall. Cross-checks: cgroup "
        + ("n/a" if group_cpu is None else f"{group_cpu:.1f} s")
        + f", machine-wide {busy:.1f} s busy (background before: {background:.2f} cores), "
        f"sampled by process {result['cpu_by_process']}; the JVM's threads {result['jvm_cpu_by_thread']}")
    return result


# -- main ----------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="input seed (default 0)")
    ap.add_argument("--work", type=Path, default=None,
                    help="work folder; inputs written there before with the same sizes and seed are reused "
                         "(default: a temporary folder, removed at exit)")
    ap.add_argument("--hours", type=float, default=10.0, help="audio hours of the large size (default 10)")
    ap.add_argument("--small-hours", type=float, default=0.05, help="audio hours of the small size (default 0.05)")
    ap.add_argument("--minutes", type=float, nargs=2, default=(10.0, 30.0), metavar=("LO", "HI"),
                    help="length of each recording in minutes (default 10 30)")
    ap.add_argument("--baseline-s", type=float, default=3.0,
                    help="seconds of machine load measured before each run (default 3; 0: none)")
    ap.add_argument("--reap-timeout", type=float, default=60.0,
                    help="seconds to wait for the run's remaining descendants after it exits (default 60)")
    ap.add_argument("--no-cgroup", action="store_true",
                    help="do not make a CPU-accounting cgroup for the cross-check (made only where allowed)")
    args = ap.parse_args()
    if not 0 < args.small_hours < args.hours:
        ap.error("need 0 < --small-hours < --hours")
    if not 0 < args.minutes[0] <= args.minutes[1]:
        ap.error("need 0 < LO <= HI for --minutes")

    subreaper = become_subreaper()
    if not subreaper:
        log("WARNING: could not become a child subreaper: descendants the command leaves behind are not counted")
    work = work_dir(args.work)
    minutes = (args.minutes[0], args.minutes[1])
    pool_cache: list[Pool] = []

    def pool() -> Pool:
        if not pool_cache:
            built, took, _ = timed(lambda: build_pool(args.seed))
            log(f"utterance pool: {sum(map(len, built.utterances))} espeak-ng utterances, "
                f"{len(built.music)} music stretches in {took:.1f} s")
            pool_cache.append(built)
        return pool_cache[0]

    small = build_input(work, args.small_hours, minutes, args.seed, pool)
    large = build_input(work, args.hours, minutes, args.seed, pool)
    pool_cache.clear()

    reference_setup()
    refs: dict[str, tuple[dict[str, float], float]] = {}
    for inp in (small, large):
        refs[inp.label] = reference(inp)
        stages, wall = refs[inp.label]
        log(f"reference {inp.label}: {sum(stages.values()):.2f} s CPU, {wall:.2f} s wall ("
            + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()) + ")")

    runs = {inp.label: run_ours(work, inp, args.baseline_s, args.reap_timeout, not args.no_cgroup)
            for inp in (small, large)}
    for inp in (small, large):
        stages, wall = refs[inp.label]
        runs[inp.label]["reference_cpu_s"] = round(sum(stages.values()), 2)
        runs[inp.label]["reference_wall_s"] = round(wall, 2)
    s, lg = runs[small.label], runs[large.label]

    per_hour = (lg["run_cpu_s"] - s["run_cpu_s"]) / (large.hours - small.hours)
    fixed = s["run_cpu_s"] - per_hour * small.hours
    machine_per_hour = (lg["machine_cpu_s"] - s["machine_cpu_s"]) / (large.hours - small.hours)
    ref_per_hour = (lg["reference_cpu_s"] - s["reference_cpu_s"]) / (large.hours - small.hours)
    ours = large.hours / (lg["run_cpu_s"] / 3600)
    ref_stages = refs[large.label][0]
    ref = large.hours / (sum(ref_stages.values()) / 3600)
    log(f"\nomnicorpus run, CPU of the whole tree: fixed {fixed:.1f} s per run + {per_hour:.2f} s per audio hour "
        f"(machine-wide: {machine_per_hour:.2f} s per hour)\n"
        f"at {large.hours:.3f} h: ours {ours:.0f} audio h per core-hour, reference {ref:.0f} "
        f"({ref_per_hour:.2f} s per hour) -> ratio {ours / ref:.3f}\n"
        f"goals: fixed < 30 s: {fixed < 30}; >= 400 h per core-hour: {ours >= 400}")
    emit({
        "bench": "e2e",
        "ours": round(ours, 1),
        "reference": round(ref, 1),
        "ratio": round(ours / ref, 4),
        "unit": "audio hours per CPU core-hour",
        "hours": round(large.hours, 4),
        "small_hours": round(small.hours, 4),
        "small": s,
        "large": lg,
        "fixed_cpu_s": round(fixed, 2),
        "cpu_s_per_audio_hour": round(per_hour, 3),
        "machine_cpu_s_per_audio_hour": round(machine_per_hour, 3),
        "audio_hours_per_core_hour": round(ours, 1),
        "reference_audio_hours_per_core_hour": round(ref, 1),
        "reference_cpu_s_per_audio_hour": {k: round(v / large.hours, 3) for k, v in ref_stages.items()},
        "ratio_to_reference": round(ours / ref, 4),
        "fixed_under_30_cpu_s": fixed < 30,
        "over_400_h_per_core_hour": ours >= 400,
        "subreaper": subreaper,
        "cpu_cores": os.cpu_count(),
        "input_build_s": round(small.build_s + large.build_s, 1),
    })


if __name__ == "__main__":
    main()
