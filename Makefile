# pgshift: the README's two commands are `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9

.PHONY: demo test lint install system-deps clean demo-stop docs

# System packages: OpenSSH server (the basebackup operator's SSH path is tested against a real sshd) and Debian's
# chromium (the UI's trigger form is tested in it, driven by Playwright; no browser download).
# As root: apt-get. As a normal user: sudo -n if allowed; otherwise the tests that need them are skipped with a reason.
system-deps:
	@pkgs=""; \
	if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then pkgs="openssh-server openssh-client"; fi; \
	if [ ! -x /usr/bin/chromium ]; then pkgs="$$pkgs chromium"; fi; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  else echo "note: cannot install$$pkgs without root; the tests needing them are skipped (openssh-server: the SSH test, chromium: the browser test)"; fi; \
	fi

# The pinned requirements, then the pgshift provider itself from this checkout (editable: plugins/pgshift is what
# runs, and the apache_airflow_provider entry point registers it with Airflow as a wheel install would).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@$(VENV)/bin/uv pip install -q --native-tls --python $(PY) -r requirements-dev.txt
	@$(VENV)/bin/uv pip install -q --native-tls --python $(PY) --no-deps -e .
	@touch $(STAMP)

install: system-deps $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q --durations=25 tests

# docs/params.md is generated from the DAGs' Params (tests/test_params_doc.py fails when it is stale).
docs: $(STAMP)
	$(PY) include/scripts/params_doc.py

# C is Aurora-shaped (pgshift's role on it no superuser) unless `make demo PGSHIFT_C_PROFILE=superuser`; a state
# directory keeps the profile its C was made with (`make demo-stop` first to change it).
demo: install
	$(PY) include/scripts/demo.py

# Stops the demo's Airflow deployment, then stops and removes its clusters.
demo-stop:
	@if [ -x $(PY) ]; then $(PY) include/scripts/airflow_local.py stop && $(PY) include/scripts/pgcluster.py destroy; fi

clean: demo-stop
	rm -rf $(VENV)
