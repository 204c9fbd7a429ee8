"""The pipeline config: the paper's defaults, one message per problem, and the --source flag form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnicorpus.manifests.config import (
    ConfigError,
    FilterParams,
    SourceFlags,
    config_from_flags,
    load_config,
    parse_source_flag,
)


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cv").mkdir(exist_ok=True)
    (tmp_path / "long").mkdir(exist_ok=True)
    path = tmp_path / "omnicorpus.yaml"
    path.write_text(text)
    return path


def test_a_good_config_gets_the_papers_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, """
sources:
  - {name: cv, layout: common_voice, path: cv, license: CC0-1.0}
  - {name: radio, layout: longform, path: long, labelled: false, language: sw}
output: out
filter: {max_seconds: 40}
"""))
    assert [s.name for s in cfg.sources] == ["cv", "radio"]
    assert cfg.sources[0].path == str((tmp_path / "cv").resolve()), "paths resolve against the file"
    assert cfg.output == str((tmp_path / "out").resolve())
    assert cfg.filter.max_seconds == 40.0
    assert cfg.filter.min_samples_per_char == 160.0, "at most 100 characters per second at 16 kHz"
    assert FilterParams().max_seconds == 50.0
    assert cfg.segment.max_seconds == 30.0 and cfg.segment.min_seconds == 1.0
    assert cfg.spark.master == "local[*]"


def test_a_file_uri_output_is_the_local_folder_it_names(tmp_path):
    """`output: file:///...` is the same root as the plain path (same digest, same checks): the gate and the
    report, which read local files, get a path; a file URI of a system folder is refused like the path."""
    out = tmp_path / "out dir"
    as_uri = load_config(_write(tmp_path, f"""
sources: [{{name: cv, layout: common_voice, path: cv}}]
output: {out.as_uri()}
"""))
    as_path = load_config(_write(tmp_path, f"""
sources: [{{name: cv, layout: common_voice, path: cv}}]
output: {out}
"""))
    assert as_uri.output == as_path.output == str(out)
    assert as_uri.digest() == as_path.digest()
    for bad, message in (("file:///etc/omnicorpus", "lies in the system folder tree of /etc"),
                         ("file://elsewhere/data/out", "is no local file URI")):
        with pytest.raises(ConfigError, match=message):
            load_config(_write(tmp_path, f"sources: [{{name: cv, layout: common_voice, path: cv}}]\noutput: {bad}\n"))


def test_every_problem_is_reported_with_its_place(tmp_path):
    path = _write(tmp_path, """
sources:
  - {name: cv, layout: comon_voice, path: cv}
  - {name: Bad Name, layout: longform, path: nowhere}
  - {name: cv, layout: fleurs, path: cv, language: xx-XX}
  - {layout: kaldi}
segmnt: {}
filter: {max_seconds: "long", min_secs: 1}
""")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "sources[0] (cv).layout: 'comon_voice' is not a layout (did you mean 'common_voice'?)" in text
    assert "sources[1] (Bad Name).name" in text
    assert "sources[1] (Bad Name).path" in text and "does not exist" in text
    assert "sources[2] (cv).language: unknown language code 'xx-XX'" in text
    assert "sources[3]: missing required key(s) name, path" in text
    assert "segmnt: unknown key (did you mean 'segment'?)" in text
    assert "filter.max_seconds: expected float, got 'long'" in text
    assert "filter.min_secs: unknown key (did you mean 'min_seconds'?)" in text
    assert "sources: name 'cv' is used twice" in text


def test_inconsistent_values_are_refused(tmp_path):
    path = _write(tmp_path, """
sources: [{name: cv, layout: common_voice, path: cv}]
segment: {min_seconds: 20, target_seconds: 15, max_seconds: 30}
""")
    with pytest.raises(ConfigError, match="min_seconds < target_seconds"):
        load_config(path)


def test_not_yaml_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "sources: [unclosed"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(_write(tmp_path, "- just a list"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_the_same_run_from_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cv").mkdir()
    cfg = config_from_flags(SourceFlags(sources=("cv=common_voice:cv", "radio=longform:cv")), "out",
                            "spark://host:7077")
    assert [(s.name, s.layout, s.labelled) for s in cfg.sources] == [
        ("cv", "common_voice", True), ("radio", "longform", False)]
    assert cfg.spark.master == "spark://host:7077"
    assert cfg.output == str(tmp_path / "out")
    with pytest.raises(ConfigError, match="expected NAME=LAYOUT:PATH"):
        parse_source_flag("cv:common_voice")


def test_config_check_from_the_command_line(tmp_path):
    good = _write(tmp_path, "sources: [{name: cv, layout: common_voice, path: cv}]\n")
    run = subprocess.run([sys.executable, "-m", "omnicorpus.pipelines.cli", "config", "check", str(good)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout and "1 sources" in run.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: cv, layout: nope, path: cv}]\n")
    run = subprocess.run([sys.executable, "-m", "omnicorpus.pipelines.cli", "config", "check", str(bad)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "'nope' is not a layout" in run.stderr
    assert "Traceback" not in run.stderr


def test_every_stage_parameter_is_settable_from_yaml_and_shown(tmp_path):
    """Each parameter is defined once, in manifests.config: a YAML file can set every one of them (here each to
    a value other than its default) and `omnicorpus config show` prints what it was set to."""
    import dataclasses
    import json

    import yaml

    from omnicorpus.manifests.config import PipelineConfig

    (tmp_path / "cv").mkdir()
    changed: dict[str, dict] = {}
    for group in dataclasses.fields(PipelineConfig):
        if group.name in ("sources", "output"):
            continue
        for param in dataclasses.fields(group.default_factory()):  # type: ignore[misc]
            default = getattr(group.default_factory(), param.name)  # type: ignore[misc]
            if isinstance(default, bool):
                value: object = not default
            elif isinstance(default, int):
                value = default + 1
            elif isinstance(default, float):
                value = default * 0.9 if param.name.endswith("threshold") else default * 1.1
            elif isinstance(default, str):
                value = default if param.name == "master" else default + "x"
            elif default is None and "threshold" in param.name:
                value = 0.3
            elif default is None and param.name.endswith(("_db", "seconds")):
                value = 5.0
            else:
                continue
            changed.setdefault(group.name, {})[param.name] = value
    assert "max_pause_seconds" in changed["segment"], "the pause VAD merging honours is a setting"
    config = tmp_path / "omnicorpus.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"name": "cv", "layout": "common_voice", "path": "cv"}],
                                      "output": "out", **changed}))
    shown = subprocess.run([str(Path(sys.executable).with_name("omnicorpus")), "config", "show", str(config)],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    effective = json.loads(shown.stdout)
    for group, params in changed.items():
        for name, value in params.items():
            assert effective[group][name] == value, (group, name)
