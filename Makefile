# Twin Lab: `make run` serves the app, `make test` runs every test. Both are idempotent.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
# pip's notes about optional local package mirrors are noise here; errors still fail the target.
QUIET  := 2>&1 | { grep -v "^WARNING: Location" || true; }
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev browser lint audit bench loadtest clean

run: install
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

test: install-dev browser audit
	$(PY) -m pytest

# Known vulnerabilities in the installed pins: live pip-audit, else the vendored advisory snapshot.
audit: install-dev
	$(PY) -m engine audit

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# pip itself is pinned too: the venv's bundled pip (23.2.1) has a known advisory (see `make audit`).
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP) pip==26.3 $(QUIET)
	$(PIP) -r requirements.txt $(QUIET)
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(PIP) -r requirements-dev.txt $(QUIET)
	@touch $@

# Debian's Chromium for the real-browser tests (never `playwright install`).
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: install-dev
	$(PY) -m ruff check .

bench: install
	$(PY) -m engine bench all --json --out bench.json

# 10 headless browser sessions on loopback cycling every page for 2 minutes (not part of `make test`).
loadtest: install-dev browser
	$(PY) -m tests.load.loadtest --users 10 --seconds 120 --out loadtest.json

clean:
	rm -rf $(VENV) .pytest_cache
