# launchwatch — two commands for a newcomer: `make demo` and `make test`.
# Both create or reuse .venv/ and install what they need (apt packages too, as root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_PACKAGES := postgresql-15-postgis-3 chromium
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck web sysdeps venv services-up services-down clean

sysdeps:  ## apt packages (PostGIS, Chromium); skipped when already present
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip setuptools wheel
	$(PY) -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(shell find web/src web/index.html -type f 2>/dev/null)
	cd web && npm run build

web: web/dist/index.html

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

test: sysdeps venv web lint typecheck  ## the whole test suite, real services started by fixtures
	cd web && npm run lint && npm run typecheck && npm test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: sysdeps venv web  ## the main job end to end on embedded defaults
	$(PY) -m deploy.demo

services-up: venv
	$(PY) -m deploy.local up

services-down: venv
	$(PY) -m deploy.local down

clean:
	rm -rf .local/data .local/services web/dist
