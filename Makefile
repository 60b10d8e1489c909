# camscan: two commands do all the set-up on a fresh Debian machine (as root):
#   make demo   - bootstrap, then camscan's main job
#   make test   - bootstrap, then lint, type-check and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests and the lab use: iproute2 (namespaces), nmap (peer scanner and --engine nmap),
# snmpd/snmp (real SNMP agent in the lab, snmpget as an independent client), procps (pgrep), openssl,
# postgresql (the store's tests run a throwaway cluster on a Unix socket), util-linux (runuser),
# tcpdump (a lab test checks on the wire that nothing leaves the scope), chromium and chromium-driver (the HTML
# report and survey are tested in headless Chromium, driven by Selenium through Debian's chromedriver).
APT_PACKAGES := iproute2 nmap snmpd snmp procps openssl ca-certificates python3-venv postgresql util-linux tcpdump chromium chromium-driver

.PHONY: bootstrap system venv demo test lint typecheck unit clean

bootstrap: system venv

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: missing system packages:$$missing (run as root to install them)"; fi; \
	fi
	@# Debian's snmpd package starts a system agent on install; camscan only runs its own agents in lab namespaces.
	@-systemctl disable --now snmpd >/dev/null 2>&1 || true
	@# Debian's postgresql package starts a cluster on install; the tests start their own throwaway one.
	@-systemctl disable --now postgresql >/dev/null 2>&1 || true
	@# Labs of hundreds of namespaces share the kernel's neighbour table and backlog queue: give them room
	@# (local kernel settings only; nothing is sent anywhere).
	@-if [ "$$(id -u)" = 0 ]; then sysctl -qw net.ipv4.neigh.default.gc_thresh1=4096 \
	  net.ipv4.neigh.default.gc_thresh2=16384 net.ipv4.neigh.default.gc_thresh3=32768 \
	  net.core.netdev_max_backlog=10000 >/dev/null 2>&1 || true; fi

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# setuptools too: the venv's own is older than pyproject.toml's build requirement, and the packaging test
	@# builds the wheel with it (no build isolation)
	$(BIN)/pip install -q --upgrade pip setuptools >/dev/null
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

demo: bootstrap
	@bash examples/demo.sh

lint: venv
	$(BIN)/ruff check scanner tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

test: bootstrap lint typecheck
	$(BIN)/camscan fingerprints check
	$(BIN)/pytest -q -ra

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
