# Quick start: `make run` (set-up, then berth's main job) and `make test` (set-up, then the suite).
# Set-up is idempotent and cheap when already done: apt runs only for missing packages, pip only
# when pyproject.toml changed since the last install.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := crun runc conmon busybox-static tini docker-registry skopeo umoci iproute2 chromium chromium-driver docker-compose postgresql
INSTALLED := $(VENV)/.installed

.PHONY: setup apt cgroups venv run test lint bench bench-peers clean

setup: apt cgroups venv

# crun refuses the hybrid cgroup layout while its v2 hierarchy holds controllers
# (ADR/0040): each is bound to a v1 hierarchy of its own. Idempotent; nothing on a pure
# v1 or pure v2 host. (cgroupfs files have no size: `test -s` would say empty.)
cgroups:
	@unified=/sys/fs/cgroup/unified; \
	if mountpoint -q $$unified 2>/dev/null && [ -n "$$(cat $$unified/cgroup.controllers)" ]; then \
	  for c in $$(cat $$unified/cgroup.controllers); do \
	    mkdir -p /sys/fs/cgroup/$$c; \
	    if mountpoint -q /sys/fs/cgroup/$$c || mount -t cgroup -o $$c cgroup /sys/fs/cgroup/$$c; then \
	      echo "cgroup controller $$c bound to /sys/fs/cgroup/$$c (v1) for crun"; \
	    else \
	      echo "cgroup controller $$c stays in cgroup v2: berthd will use runc (ADR/0040)"; \
	    fi; \
	  done; \
	fi

# $(call apt_install,PACKAGES): apt-get install those of PACKAGES not installed yet.
define apt_install
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
	    --no-install-recommends $$missing >/dev/null; \
	fi
endef

apt:
	$(call apt_install,$(APT_PACKAGES))
	@# docker-registry's package starts a system service on :5000; berth's tests start their own.
	@systemctl disable --now docker-registry >/dev/null 2>&1 || true

# berth's import names are links to the design's folders (IMPORTS/berth/domain -> domain,
# ...), and the editable install's .pth names IMPORTS instead of running setuptools' import
# hook: imports resolve like any site-packages' and the sources stay the worktree's. The
# bytecode is compiled here so that it is read even when writing it is disabled (ADR/0042).
IMPORTS := .imports

venv: $(INSTALLED)
	@mkdir -p $(IMPORTS)/berth
	@for d in domain adapters runtime; do ln -sfn ../../$$d $(IMPORTS)/berth/$$d; done
	@purelib=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  for pth in $$purelib/__editable__.berth-*.pth; do echo "$(CURDIR)/$(IMPORTS)" > $$pth; done
	@$(BIN)/python -m compileall -q -j 0 domain adapters runtime

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

run: setup
	@$(BIN)/python -m berth.runtime.demo

# Most of the suite waits on processes (runc, conmon, berthd, the docker CLI): three workers
# keep two cores busy (ADR/0047).
TEST_WORKERS ?= 3

test: setup lint
	@$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

lint: setup
	@$(BIN)/ruff check --quiet domain adapters runtime tests bench
	@MYPYPATH=$(IMPORTS) $(BIN)/mypy -p berth.domain -p berth.adapters -p berth.runtime

bench: setup
	$(BIN)/python bench/event_store.py

# The peers bench/peers.py measures berth against: Debian's dockerd and podman. The suite
# does not need them. Their units are masked before they are installed, so that no
# system-wide dockerd ever starts (its bridge and iptables rules would reach the tests):
# the bench starts its own, on a private root and socket.
PEER_PACKAGES := docker.io podman
PEER_UNITS := docker.service docker.socket containerd.service podman.service podman.socket \
	podman-auto-update.service podman-auto-update.timer podman-restart.service \
	podman-clean-transient.service

bench-peers: setup
	@systemctl mask $(PEER_UNITS) >/dev/null 2>&1 || true
	$(call apt_install,$(PEER_PACKAGES))
	@systemctl disable --now $(PEER_UNITS) >/dev/null 2>&1 || true
	$(BIN)/python bench/peers.py

clean:
	rm -rf $(VENV) $(IMPORTS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
