"""The pipeline config: sources, stage parameters (the paper's defaults), output root, Spark master.

A YAML file or `--source NAME=LAYOUT:PATH` flags make the same PipelineConfig. Validation collects
every problem with its location (`sources[1].layout: ...`) so a user fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from omnicorpus.manifests.licences import SPEAKER_ID_POLICIES
from omnicorpus.manifests.schema import SPLITS

#: Layouts with an adapter in omnicorpus.corpus (plus `auto`, which detects one).
LAYOUTS = ("common_voice", "fleurs", "librispeech", "kaldi", "lhotse", "hf_parquet", "folder", "longform", "community")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ConfigError(ValueError):
    """An invalid config; the message lists every problem found, one per line."""

    def __init__(self, problems: list[str], origin: str = "config") -> None:
        self.problems = problems
        super().__init__(f"{origin}: " + "; ".join(problems) if len(problems) == 1 else
                         f"{origin}: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class SourceConfig:
    """One source corpus. `name` becomes the corpus name in every table."""

    name: str
    layout: str
    path: str
    license: str = "unknown"
    language: str | None = None  # default language when the source does not say
    labelled: bool = True
    # Kaldi wav.scp commands other than the decoder pipes read directly: run them (argv-split, no shell,
    # with a timeout and a size cap) only when the source says so.
    allow_commands: bool = False
    # keep the corpus's own speaker ids as speaker_source: auto (when the licence is open), keep, pseudonymise;
    # community speakers are always pseudonymised (manifests.licences)
    speaker_ids: str = "auto"


@dataclass(frozen=True)
class IngestParams:
    max_recording_seconds: float = 4 * 3600.0
    speaker_salt: str = "omnicorpus"  # pseudonymizes speaker ids; change it per deployment
    items_per_partition: int = 256
    # Kaldi wav.scp commands of sources with allow_commands: killed after this long, or past this much output
    command_timeout_seconds: float = 600.0
    command_max_bytes: int = 2 << 30


@dataclass(frozen=True)
class SegmentParams:
    """silero-vad (its hysteresis parameters, as silero names them) and the long-form cutting policy."""

    threshold: float = 0.5
    neg_threshold: float | None = None  # default threshold - 0.15 (at least 0.01), as silero
    min_speech_ms: int = 250
    min_silence_ms: int = 100
    speech_pad_ms: int = 30
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    target_seconds: float = 15.0  # merge neighbouring regions up to about this length
    max_pause_seconds: float = 3.0  # never merge across a longer pause (a segment should not carry long silences)
    batch_streams: int = 64


@dataclass(frozen=True)
class LangidParams:
    """fastText LID on transcripts. `model`: a .bin/.ftz path, `lid.176` (shipped), or null to skip LID."""

    model: str | None = "lid.176"
    min_prob: float = 0.5  # reject when another language wins with at least this probability
    min_chars: int = 25  # shorter texts are never rejected on LID alone
    check_script: bool = True


@dataclass(frozen=True)
class FilterParams:
    """The paper's filters. Speaking rate: at least 160 samples per character at 16 kHz."""

    min_seconds: float = 1 / 16000
    max_seconds: float = 50.0
    min_samples_per_char: float = 160.0
    max_clip_fraction: float = 0.01
    # Floors on the quality signals (manifests.schema.QUALITY_SIGNALS); None: measured and reported, not
    # filtered on. Narrow-band audio (telephone speech at 8 kHz: bandwidth about 4 kHz) is real speech that an
    # ASR corpus may want, so no floor is on by default.
    min_snr_db: float | None = None
    min_bandwidth_hz: float | None = None
    max_dc_offset: float | None = None
    max_silence_seconds: float | None = None
    min_speech_ratio: float | None = None


@dataclass(frozen=True)
class DedupParams:
    """Near-duplicate audio (pipelines.fingerprint, pipelines.near_duplicates); exact copies are always found.

    `min_similarity`: measured on sox-made copies of the sample corpus (MP3 at 32 kbit/s, Opus at 16 kbit/s,
    8 kHz, -9 dB, trimmed, padded; `python bench/near_duplicates.py`): 317 of 320 copies score 0.12 or more (the
    lowest, an Opus copy, 0.078), and no pair of different recordings does (the highest, 0.102).
    `max_bucket`: an index bucket with more segments than this is a sound too common to pair on (silence, a
    station's jingle) and pairs nothing."""

    near_duplicates: bool = True
    min_similarity: float = 0.12
    max_bucket: int = 200


@dataclass(frozen=True)
class ContaminationParams:
    """Evaluation sets a release must not train on (pipelines.contamination): train segments matching one of
    their items, by normalized transcript (at least `min_chars` long, in the same language) or by audio
    fingerprint (`min_similarity`, the near-duplicate rule), become rejects (reason `contamination`).
    `eval`: corpus folders a layout reads (FLEURS, Common Voice, ...) or releases; relative paths resolve
    against the config's folder. `splits`: the eval sets' splits that count."""

    eval: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("dev", "test")
    min_chars: int = 15
    min_similarity: float = 0.12


@dataclass(frozen=True)
class ShardParams:
    target_bytes: int = 1 << 30
    # A (language, corpus, split) group of more FLAC bytes than this is written by several Spark tasks, each
    # a part of it picked by a hash of the segment key: the largest languages neither hold one task for
    # hours nor need their whole group in one worker's memory.
    task_bytes: int = 16 << 30


@dataclass(frozen=True)
class SparkParams:
    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineConfig:
    sources: tuple[SourceConfig, ...]
    output: str = "out"
    spark: SparkParams = field(default_factory=SparkParams)
    ingest: IngestParams = field(default_factory=IngestParams)
    segment: SegmentParams = field(default_factory=SegmentParams)
    langid: LangidParams = field(default_factory=LangidParams)
    filter: FilterParams = field(default_factory=FilterParams)
    dedup: DedupParams = field(default_factory=DedupParams)
    contamination: ContaminationParams = field(default_factory=ContaminationParams)
    shard: ShardParams = field(default_factory=ShardParams)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (tuples as lists), as release.json and `config show` write them and read back."""
        d = dataclasses.asdict(self)
        d["sources"] = [dataclasses.asdict(s) for s in self.sources]
        return json.loads(json.dumps(d))

    def digest(self) -> str:
        """Hash of everything that changes what the pipeline writes (not where it writes it)."""
        d = self.to_dict()
        d.pop("output")
        d.pop("spark")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def stage_params(self) -> dict[str, Any]:
        """The stage parameters alone (what release.json records, and what the quality gate checks)."""
        d = self.to_dict()
        for key in ("output", "spark", "sources"):
            d.pop(key)
        return d

    def stages_digest(self) -> str:
        """Hash of the stage parameters alone: what a shard's content depends on besides its segments.
        Adding a source leaves it unchanged, so the shards of other corpora are kept."""
        params = self.stage_params()
        params["shard"].pop("task_bytes")  # it decides which segments share a shard, and those are hashed anyway
        params.pop("contamination")  # it decides which segments are sharded, and those are hashed
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


_SECTIONS: dict[str, type] = {
    "ingest": IngestParams, "segment": SegmentParams, "langid": LangidParams,
    "filter": FilterParams, "dedup": DedupParams, "contamination": ContaminationParams, "shard": ShardParams,
}


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    """Instance of dataclass `cls` from a mapping, type-checked field by field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping, got {type(data).__name__}")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            problems.append(f"{where}.{key}: unknown key{_suggest(str(key), fields)}")
            continue
        expected = fields[key].type
        ok = _type_ok(value, str(expected))
        if not ok:
            problems.append(f"{where}.{key}: expected {expected}, got {value!r}")
            continue
        kwargs[key] = float(value) if "float" in str(expected) and isinstance(value, int) else value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is absent
        problems.append(f"{where}: {exc}")
        return None


def _type_ok(value: Any, typ: str) -> bool:
    if value is None:
        return "None" in typ
    if typ.startswith("bool"):
        return isinstance(value, bool)
    if typ.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if typ.startswith("float"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if typ.startswith("str"):
        return isinstance(value, str)
    if typ.startswith("dict"):
        return isinstance(value, dict)
    return True


def _check_values(cfg: PipelineConfig, problems: list[str]) -> None:
    seg, flt, lid = cfg.segment, cfg.filter, cfg.langid
    if not 0 < seg.min_seconds < seg.target_seconds <= seg.max_seconds:
        problems.append("segment: need 0 < min_seconds < target_seconds <= max_seconds")
    if not 0.0 < seg.threshold < 1.0:
        problems.append("segment.threshold: must be between 0 and 1")
    if not 0 <= flt.min_seconds < flt.max_seconds:
        problems.append("filter: need 0 <= min_seconds < max_seconds")
    if flt.min_samples_per_char < 0:
        problems.append("filter.min_samples_per_char: must be >= 0")
    if not 0.0 <= flt.max_clip_fraction <= 1.0:
        problems.append("filter.max_clip_fraction: must be between 0 and 1")
    if flt.min_bandwidth_hz is not None and not 0.0 <= flt.min_bandwidth_hz <= 8000.0:
        problems.append("filter.min_bandwidth_hz: must be between 0 and 8000 (the Nyquist frequency of 16 kHz)")
    if flt.max_dc_offset is not None and not 0.0 <= flt.max_dc_offset <= 1.0:
        problems.append("filter.max_dc_offset: must be between 0 and 1")
    if flt.max_silence_seconds is not None and flt.max_silence_seconds < 0:
        problems.append("filter.max_silence_seconds: must be >= 0")
    if flt.min_speech_ratio is not None and not 0.0 <= flt.min_speech_ratio <= 1.0:
        problems.append("filter.min_speech_ratio: must be between 0 and 1")
    if not 0.0 < cfg.dedup.min_similarity <= 1.0:
        problems.append("dedup.min_similarity: must be over 0 and at most 1")
    con = cfg.contamination
    if not all(isinstance(p, str) and p for p in con.eval):
        problems.append("contamination.eval: expected a list of paths")
    if not con.splits or not set(con.splits) <= set(SPLITS):
        problems.append(f"contamination.splits: expected some of {', '.join(SPLITS)}")
    if con.min_chars < 1 or not 0.0 < con.min_similarity <= 1.0:
        problems.append("contamination: need min_chars >= 1 and 0 < min_similarity <= 1")
    if cfg.dedup.max_bucket < 2:
        problems.append("dedup.max_bucket: must be at least 2")
    if not 0.0 <= lid.min_prob <= 1.0:
        problems.append("langid.min_prob: must be between 0 and 1")
    if cfg.ingest.command_timeout_seconds <= 0 or cfg.ingest.command_max_bytes <= 0:
        problems.append("ingest: command_timeout_seconds and command_max_bytes must be positive")
    if cfg.shard.target_bytes < 1 << 16:
        problems.append("shard.target_bytes: must be at least 65536")
    if cfg.shard.task_bytes < cfg.shard.target_bytes:
        problems.append("shard.task_bytes: must be at least shard.target_bytes")


#: Folders an output root may not be (or, for the first group, lie in): the system's own.
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr")
_SYSTEM_FOLDERS = ("/", "/home", "/mnt", "/media", "/opt", "/root", "/run", "/srv", "/tmp", "/var")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _local_if_file_uri(value: str, where: str, problems: list[str]) -> str:
    """A `file://` URI as the local path it names: one spelling of a local root, so that every check (the
    system folders below) and every reader of local files (the gate, the report) sees a path."""
    if not value.startswith("file:"):
        return value
    url = urlsplit(value)
    if url.netloc not in ("", "localhost") or not url.path.startswith("/"):
        problems.append(f"{where}: {value!r} is no local file URI (file:///absolute/path)")
        return value
    return unquote(url.path)


def _check_output(cfg: PipelineConfig, problems: list[str]) -> None:
    """The output root is no system folder, lies in no source, and holds no source: a run must neither
    write where the system lives nor ingest its own output."""
    if "://" in cfg.output:
        return
    out = Path(cfg.output).resolve()
    if str(out) in _SYSTEM_FOLDERS or str(out) == str(Path.home()) or any(
            _inside(out, Path(tree)) for tree in _SYSTEM_TREES):
        problems.append(f"output: {out} is a system folder; give a folder of its own, e.g. {out / 'omnicorpus'}"
                        if str(out) in _SYSTEM_FOLDERS or str(out) == str(Path.home())
                        else f"output: {out} lies in the system folder tree of {out.parts[0]}{out.parts[1]}")
    for src in cfg.sources:
        if "://" in src.path:
            continue
        path = Path(src.path).resolve()
        if _inside(out, path):
            problems.append(f"output: {out} lies inside source {src.name} ({path}): the next run would ingest "
                            "its own output")
        elif _inside(path, out):
            problems.append(f"sources ({src.name}).path: {path} lies inside the output root {out}")


def _check_source(src: SourceConfig, where: str, problems: list[str]) -> None:
    from omnicorpus.manifests.languages import UnknownLanguageError, to_language

    if not _NAME.match(src.name):
        problems.append(f"{where}.name: {src.name!r} must be lowercase letters, digits and _ (a corpus name)")
    if src.layout not in (*LAYOUTS, "auto"):
        problems.append(f"{where}.layout: {src.layout!r} is not a layout{_suggest(src.layout, LAYOUTS)}; "
                        f"one of {', '.join(LAYOUTS)} or auto")
    if "://" not in src.path and not Path(src.path).exists():
        problems.append(f"{where}.path: {src.path} does not exist")
    if src.speaker_ids not in SPEAKER_ID_POLICIES:
        problems.append(f"{where}.speaker_ids: {src.speaker_ids!r} is not one of {', '.join(SPEAKER_ID_POLICIES)}")
    elif src.speaker_ids == "keep" and src.layout == "community":
        problems.append(f"{where}.speaker_ids: community speakers are always pseudonymised; keep is not allowed")
    if src.language is not None:
        try:
            to_language(src.language, source=src.name)
        except UnknownLanguageError as exc:
            problems.append(f"{where}.language: {exc}")


def config_from_dict(data: Any, *, base_dir: Path | None = None, origin: str = "config") -> PipelineConfig:
    """Validated config from parsed YAML; relative source paths resolve against `base_dir`."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"expected a mapping at the top, got {type(data).__name__}"], origin)
    known = {"sources", "output", "spark", *_SECTIONS}
    for key in data:
        if key not in known:
            problems.append(f"{key}: unknown key{_suggest(str(key), known)}")
    raw_sources = data.get("sources")
    sources: list[SourceConfig] = []
    if not isinstance(raw_sources, list) or not raw_sources:
        problems.append("sources: need a non-empty list of sources")
        raw_sources = []
    for i, raw in enumerate(raw_sources):
        where = f"sources[{i}]"
        if isinstance(raw, dict) and "name" in raw:
            where = f"sources[{i}] ({raw['name']})"
        if isinstance(raw, dict):
            missing = [k for k in ("name", "layout", "path") if k not in raw]
            if missing:
                problems.append(f"{where}: missing required key(s) {', '.join(missing)}")
                continue
        src = _build(SourceConfig, raw, where, problems)
        if src is None:
            continue
        if base_dir is not None and "://" not in src.path and not Path(src.path).is_absolute():
            src = dataclasses.replace(src, path=str((base_dir / src.path).resolve()))
        _check_source(src, where, problems)
        sources.append(src)
    names = [s.name for s in sources]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"sources: name {dup!r} is used twice")
    sections = {k: _build(cls, data.get(k), k, problems) for k, cls in _SECTIONS.items()}
    spark = _build(SparkParams, data.get("spark"), "spark", problems)
    output = data.get("output", "out")
    if not isinstance(output, str):
        problems.append(f"output: expected a path, got {output!r}")
        output = "out"
    output = _local_if_file_uri(output, "output", problems)
    if base_dir is not None and "://" not in output and not Path(output).is_absolute():
        output = str((base_dir / output).resolve())
    if problems:
        raise ConfigError(problems, origin)
    con = sections["contamination"]  # lists from YAML as tuples, eval paths against the config's folder
    sections["contamination"] = dataclasses.replace(
        con, splits=tuple(con.splits), eval=tuple(
            str((base_dir / p).resolve()) if base_dir is not None and isinstance(p, str) and "://" not in p
            and not Path(p).is_absolute() else p for p in con.eval))
    cfg = PipelineConfig(sources=tuple(sources), output=output, spark=spark, **sections)
    _check_values(cfg, problems)
    _check_output(cfg, problems)
    if problems:
        raise ConfigError(problems, origin)
    return cfg


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path} does not exist"], str(path))
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(path)) from exc
    return config_from_dict(data, base_dir=path.parent.resolve(), origin=str(path))


def parse_source_flag(flag: str) -> dict[str, Any]:
    """`NAME=LAYOUT:PATH` -> a source mapping (labelled unless the layout is longform)."""
    name, eq, rest = flag.partition("=")
    layout, colon, path = rest.partition(":")
    if not eq or not colon or not name or not layout or not path:
        raise ConfigError([f"--source {flag!r}: expected NAME=LAYOUT:PATH, e.g. cv=common_voice:/data/cv"],
                          "--source")
    return {"name": name, "layout": layout, "path": path, "labelled": layout != "longform"}


@dataclass(frozen=True)
class SourceFlags:
    """What the command line says of sources: `--source NAME=LAYOUT:PATH` and per-source settings
    (`--language NAME=CODE`, `--license NAME=ID`, `--unlabelled NAME`, `--allow-commands NAME`), which
    apply to the flags' sources or to a config file's."""

    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    unlabelled: tuple[str, ...] = ()
    allow_commands: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any((self.sources, self.languages, self.licenses, self.unlabelled, self.allow_commands))

    def apply(self, sources: list[dict[str, Any]], problems: list[str]) -> None:
        """Set the per-source settings on source mappings (by name); unknown names are problems."""
        by_name = {s.get("name"): s for s in sources}

        def target(flag: str, name: str) -> dict[str, Any] | None:
            if name not in by_name:
                problems.append(f"{flag} {name}: no source named {name!r}{_suggest(name, by_name)}")
                return None
            return by_name[name]

        for flag, key, values in (("--language", "language", self.languages), ("--license", "license", self.licenses)):
            for value in values:
                name, eq, setting = value.partition("=")
                if not eq or not name or not setting:
                    problems.append(f"{flag} {value!r}: expected NAME=VALUE, e.g. {flag} radio=sw")
                elif (src := target(flag, name)) is not None:
                    src[key] = setting
        for name in self.unlabelled:
            if (src := target("--unlabelled", name)) is not None:
                src["labelled"] = False
        for name in self.allow_commands:
            if (src := target("--allow-commands", name)) is not None:
                src["allow_commands"] = True


def config_from_flags(flags: SourceFlags, out: str, master: str | None = None,
                      base: PipelineConfig | None = None) -> PipelineConfig:
    """The config a `--source ... --out ... [--master ...]` command line means, on top of `base`."""
    data: dict[str, Any] = base.to_dict() if base else {}
    if flags.sources:
        data["sources"] = [parse_source_flag(s) for s in flags.sources]
    problems: list[str] = []
    flags.apply(data.get("sources") or [], problems)
    if problems:
        raise ConfigError(problems, "command line")
    data["output"] = out
    if master:
        data.setdefault("spark", {})["master"] = master
    return config_from_dict(data, base_dir=Path.cwd(), origin="command line")
