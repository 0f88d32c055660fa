# The two commands of the README: `make run` (the whole pipeline locally) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CES := $(BIN)/ces-stream

.PHONY: install constraints run bench bench-peer-env test test-unit fmt lint typecheck kafka-start kafka-stop topics worker schemas monitoring docs clean

install: $(VENV)/.installed

# Installs exactly the tested set (constraints.txt): faust-streaming internals are pinned there.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[test,dev]"
	touch $@

## Re-pin the tested set from the current environment (after a deliberate upgrade and a green suite).
constraints: install
	{ head -2 constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^pip=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

## The whole product locally (ces-stream run): Kafka from Maven Central jars (no Docker), topics,
## a worker, Prometheus and Alertmanager when installed, the simulator with an incident, a live view.
run: install
	$(CES) run

## The benchmark (docs/performance.md), with the Quix Streams peer.
bench: install bench-peer-env
	$(CES) bench --peer

## The peer's own venv: quixstreams 3.28.1 wants another pydantic than constraints.txt pins,
## so it is not installed next to ces-stream (the `bench` extra, in .venv-bench).
BENCH_VENV ?= .venv-bench
bench-peer-env: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q "quixstreams==3.28.1"
	touch $@

test: install
	$(BIN)/pytest -q -ra --durations=30 -n 2 --dist loadfile

## The fast inner loop: no broker, no external tool, no slow statistical check (under a minute).
test-unit: install
	$(BIN)/pytest -q -m "not integration and not external and not slow"

## Format the tree and apply the linter's safe fixes.
fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix -q .

## Formatting that changes nothing, and a clean lint (what CI runs).
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

kafka-start: install
	$(CES) kafka start

kafka-stop: install
	$(CES) kafka stop

topics: install
	$(CES) topics create

worker: install
	$(CES) worker

## Regenerate the monitoring files under deploy/ (rules, promtool tests, Alertmanager, Grafana).
monitoring: install
	$(CES) monitoring

## Regenerate the JSON Schema files from the pydantic models.
schemas: install
	$(BIN)/python -m schemas.generate

## Build the docs/ site into site/ (strict: a broken link or anchor fails).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info ces-data
