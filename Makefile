# Quick start: `make run` (set-up, then berth's main job) and `make test` (set-up, then the suite).
# Set-up is idempotent and cheap when already done: apt runs only for missing packages, pip only
# when pyproject.toml changed since the last install.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := runc conmon busybox-static tini docker-registry skopeo umoci iproute2 chromium chromium-driver docker-compose postgresql
INSTALLED := $(VENV)/.installed

.PHONY: setup apt venv run test lint bench clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# docker-registry's package starts a system service on :5000; berth's tests start their own.
	@systemctl disable --now docker-registry >/dev/null 2>&1 || true

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

run: setup
	@$(BIN)/python -m berth.runtime.demo

test: setup lint
	@$(BIN)/python -m pytest -q -p no:cacheprovider

# mypy resolves `berth.*` through a folder of links, because the editable install maps
# the design's folders with an import hook that mypy cannot follow (ADR/0001).
TYPECHECK := .typecheck

lint: setup
	@$(BIN)/ruff check --quiet domain adapters runtime tests bench
	@mkdir -p $(TYPECHECK)/berth
	@for d in domain adapters runtime; do ln -sfn ../../$$d $(TYPECHECK)/berth/$$d; done
	@MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p berth.domain -p berth.adapters -p berth.runtime

bench: setup
	$(BIN)/python bench/event_store.py

clean:
	rm -rf $(VENV) $(TYPECHECK) .pytest_cache .mypy_cache .ruff_cache .hypothesis
