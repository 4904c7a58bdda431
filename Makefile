# Racker: set-up, demo, tests and benchmarks. `make setup` is idempotent.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Debian packages racker and its tests use (see README "What make setup installs").
DEB_PACKAGES := openipmi ipmitool dnsmasq-base ipxe ipxe-qemu ovmf qemu-system-x86 ignition \
	arp-scan nginx-light busybox udhcpc iproute2 gnupg cpio bzip2 procps openssh-client \
	openssh-server prometheus chromium chromium-driver

.PHONY: setup demo demo-destroy test lint typecheck layers unit integration e2e bench clean

setup: .setup-stamp-deb $(VENV)/.installed

.setup-stamp-deb: Makefile
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "➤ Installing Debian packages:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "➤ Installing racker into $(VENV)"
	@$(BIN)/pip install -q --upgrade pip >/dev/null
	@# The distribution was called 'racker' before (a name PyPI gives to another project); a venv
	@# set up then still holds it and its metadata in src/, claiming the same files: drop both.
	@rm -rf src/racker.egg-info
	@if $(BIN)/pip show -q racker >/dev/null 2>&1; then $(BIN)/pip uninstall -q -y racker; fi
	@$(BIN)/pip install -q -e '.[dev]'
	@touch $@

demo: setup
	@$(BIN)/python -m devtools.demo

demo-destroy: setup
	@$(BIN)/python -m devtools.demo --destroy

lint: setup
	$(BIN)/ruff check src tests bench devtools

typecheck: setup
	$(BIN)/mypy

# The layers of docs/architecture.md (contracts in pyproject.toml): a wrong import fails here.
layers: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration

e2e: setup
	$(BIN)/pytest -q tests/e2e

test: setup lint typecheck layers
	$(BIN)/pytest -q tests

bench: setup
	@for b in bench/[a-z]*.py; do m=$${b%.py}; echo "== $$m"; $(BIN)/python -m $${m/\//.} || exit 1; done

clean:
	rm -rf $(VENV) .setup-stamp-deb build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
