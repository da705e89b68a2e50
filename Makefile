# Two commands on a fresh Debian/Ubuntu machine, as root:
#   make run    the TUI: type the article's commands and watch the union filesystem
#   make test   lint, types and the tests on real containers
# Each installs on first use what it needs: apt packages, then the venv.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3 python3-venv runc busybox-static skopeo umoci iproute2 procps tmux tini chromium docker-registry docker.io
STAMP := $(VENV)/.installed

.PHONY: run demo test deps venv constraints lint pytest bench screenshots clean-venv

run: deps $(STAMP)
	$(VENV)/bin/layerlab tui

demo: deps $(STAMP)
	bash scripts/article-demo.sh

test: deps $(STAMP) lint pytest

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(STAMP)

# The versions the suite passed with (constraints.txt), within pyproject.toml's ranges: a
# machine set up today installs what was tested, not whatever was released last night.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test]'
	@# Byte-compile once: the CLI's start-up is benchmarked, and PYTHONDONTWRITEBYTECODE
	@# environments would otherwise compile every module on every command.
	$(PY) -m compileall -q app/layerlab >/dev/null
	touch $(STAMP)

# After a deliberate upgrade (README, Development): pin what the venv has, then `make test`.
constraints:
	{ echo "# What the suite passed with; \`make constraints\` rewrites it (README, Development)."; \
	  $(VENV)/bin/pip freeze --all --exclude-editable | grep -v '^setuptools=='; } > constraints.txt

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests bench scripts
	$(VENV)/bin/ruff format --check app tests bench scripts
	$(VENV)/bin/mypy

# Two workers (pytest-xdist), one a CPU of a 2-CPU machine: a test waits on runc, a container
# or the TUI about half of its time. Each test has its own store root, each worker its own
# fork server; worksteal evens out the long TUI plays.
pytest: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist worksteal

bench: deps $(STAMP)
	$(PY) bench/bench_run.py
	$(PY) bench/bench_layers.py
	$(PY) bench/bench_build.py
	$(PY) bench/bench_docker_pull.py
	$(PY) bench/bench_registry.py

screenshots: deps $(STAMP)
	$(PY) scripts/screenshots.py

clean-venv:
	rm -rf $(VENV)
