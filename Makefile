# The two commands of the README, and the helpers behind them.
#   make demo    run the main job end to end (installs what it needs, starts the local broker)
#   make test    run the whole test suite (lint, types, unit and integration tests)
# Everything installs itself: uv from PyPI (if missing), the locked Python environment, the
# Kafka jars from Maven Central on first broker start, and Java/Maven from Debian if absent.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: demo test lint pytest bench deps uv java promtool kafka-start kafka-stop clean

uv:
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv from PyPI"; $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"; }

deps: uv
	@$(UV) sync --frozen --quiet

java:
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Java 17 and Maven from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null; \
	  else echo "error: the local Kafka broker needs Java 17+ and Maven on PATH" >&2; exit 1; fi; \
	fi

# Debian's prometheus package brings promtool, used to test the alert rules and the config.
promtool:
	@if ! command -v promtool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing prometheus (promtool) from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "error: the tests need promtool (Debian package prometheus)" >&2; exit 1; fi; \
	fi

demo: deps java
	$(UV) run --frozen fraudstream demo

lint: deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports --no-cache

# lint and the tests run side by side (the checks take under a minute, the tests start with
# single-threaded unit tests and a broker starting in the background); either failing fails.
test: deps java promtool
	@$(MAKE) --no-print-directory -j2 lint pytest

pytest: deps java
	$(UV) run --frozen python -m tests.lanes

bench: deps java
	$(UV) run --frozen python bench/run_all.py

kafka-start: deps java
	$(UV) run --frozen fraudstream kafka start

kafka-stop: deps
	$(UV) run --frozen fraudstream kafka stop

clean:
	-$(UV) run --frozen fraudstream kafka stop
	rm -rf .fraudstream infra/kafka/target
