# LLM Engine — `make run` starts the platform on embedded defaults, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 5000

.PHONY: run test venv services helm browser image-test migrate worker lint bench bench-scale clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "==> creating the virtualenv in $(VENV) and installing requirements (first run takes a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# Debian packages and services the tests need: PostgreSQL and Redis (started when not running).
services:
	@bash scripts/services.sh

helm:
	@bash scripts/install_helm.sh

# Debian Chromium for the console's browser tests (Playwright drives it; no browser download).
browser:
	@bash scripts/install_browser.sh

# Builds the Dockerfile without a Docker engine (debootstrap, buildah, podman: installed by the
# script) and runs the image as the chart does: uid 10001, read-only root, no capabilities.
image-test:
	@bash scripts/image_test.sh

migrate: venv
	@mkdir -p var
	@$(PY) manage.py migrate --noinput

run: venv
	@bash scripts/run.sh

test: venv services helm browser image-test
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: venv services
	@$(PY) bench/gateway_overhead.py

# How list, cacher and build costs grow with 10 to 10,000 endpoints (README: Scale).
bench-scale: venv services
	@$(PY) bench/scale.py

clean:
	rm -rf $(VENV) var .tools
