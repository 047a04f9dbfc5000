# AlgoTrendy — `make run` and `make test` work on a fresh clone (only PyPI needed, once).
# The interpreter .venv is made from: CPython 3.11, preferring the distribution's build over one
# earlier on PATH (a pyenv or asdf shim). Distribution builds (Debian, Ubuntu, Fedora) and the
# python.org Docker images, which the Dockerfile uses, are compiled with profile-guided and link-time
# optimisation; pyenv and asdf compile without them unless told (PYTHON_CONFIGURE_OPTS=
# "--enable-optimizations --with-lto"), and on this project's benchmarks that build runs the engine
# 12-18% slower (backtest, tick-to-order; measured side by side on one machine). PYTHON=... overrides.
PYTHON  ?= $(firstword $(wildcard /usr/local/bin/python3.11 /usr/bin/python3.11) python3)
VENV    := .venv
BIN     := $(VENV)/bin
UV      := $(BIN)/uv
UV_VERSION := 0.13.8
DEPS_STAMP  := $(VENV)/.deps.stamp
BUILD_STAMP := $(VENV)/.build.stamp
NODE_STAMP  := clients/node/node_modules/.install.stamp
SOURCES_PYX := $(shell find ext -name '*.pyx' -o -name '*.pxd' 2>/dev/null)
SOURCES_PROTO := $(shell find proto -name '*.proto' 2>/dev/null)

ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test bench proto lint format build deps bytecode clean distclean annotate

## run: create .venv if needed, install pinned deps, build, start the engine on embedded defaults
# On a terminal the engine runs as the foreground job (bash job control), so Ctrl-C reaches only the
# engine, which drains and exits 0 — and make, which would otherwise re-raise SIGINT on itself, sees 0.
run: $(BUILD_STAMP) bytecode
	@if [ -t 0 ]; then \
		exec bash -mc '$(BIN)/algotrendy serve $(ARGS) & fg %1 >/dev/null'; \
	else \
		exec $(BIN)/algotrendy serve $(ARGS); \
	fi

## test: the full test suite (what .ci/run runs)
test: $(BUILD_STAMP) $(NODE_STAMP) bytecode
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: benchmarks (pytest-benchmark); JSON lands in benchmarks/results/
## (BENCH=benchmarks/test_bench_backtest.py for one file; PYTEST_ARGS for pytest options)
BENCH ?= benchmarks
bench: $(BUILD_STAMP) bytecode
	mkdir -p benchmarks/results
	$(BIN)/python -m pytest $(BENCH) -p no:randomly --benchmark-only \
		--benchmark-json=benchmarks/results/latest.json $(PYTEST_ARGS)

## proto: regenerate the gRPC Python code from proto/algotrendy/v1/*.proto
proto: $(DEPS_STAMP)
	$(BIN)/python setup.py -q build_proto

## lint: ruff (lint + format check) and the import-layering contract
lint: $(BUILD_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(DEPS_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## build: compile ext/ and generate gRPC code into the editable install
build: $(BUILD_STAMP)

## bytecode: compile our own packages' bytecode (up-to-date files are skipped: ~0.3 s)
# Installed packages are compiled once by ``uv pip sync --compile-bytecode``; our editable sources here.
# Without a .pyc every process compiles what it imports from source -- an engine start, each CLI
# call, each engine a test spawns: ~0.6 s of CPU for the engine alone, ~3 s for `backtest` (pandas,
# matplotlib) -- whenever Python cannot write its cache (PYTHONDONTWRITEBYTECODE, a read-only tree).
bytecode: $(BUILD_STAMP)
	@$(BIN)/python -m compileall -q -j 0 engine ops proto clients/python/algotrendy_sdk

## annotate: Cython HTML annotation (yellow = Python interaction) next to each .pyx
annotate: $(DEPS_STAMP)
	ALGOTRENDY_CYTHON_ANNOTATE=1 $(BIN)/python setup.py -q build_ext --inplace --force

# uv pip sync removes what the lock does not list (our own editable install too): rebuild after it.
deps: $(BUILD_STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "AlgoTrendy needs CPython 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): requirements/lock.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/lock.txt
	rm -f $(BUILD_STAMP)
	touch $@

# The SDK (clients/python) is installed beside the engine; both map algotrendy.v1 to proto/algotrendy.
$(BUILD_STAMP): $(DEPS_STAMP) setup.py pyproject.toml clients/python/setup.py clients/python/pyproject.toml $(SOURCES_PYX) $(SOURCES_PROTO)
	$(BIN)/python setup.py -q build_proto
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --reinstall -e .
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --reinstall -e clients/python
	touch $@

# clients/node: its locked npm dependencies for the Node.js client test (which never touches the
# network itself). Without npm nothing is installed; the test skips only when node is absent.
$(NODE_STAMP): clients/node/package.json clients/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd clients/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.install.stamp; \
	else \
		echo "npm not found: clients/node dependencies not installed"; \
	fi

## lock: re-resolve requirements/*.in into requirements/lock.txt (needs PyPI)
lock: $(DEPS_STAMP)
	cd requirements && ../$(UV) pip compile --quiet dev.in --python-version 3.11 -o lock.txt

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis .ruff_cache $(BUILD_STAMP)
	find ext -name '*.c' -o -name '*.so' -o -name '*.html' | xargs rm -f
	find proto/algotrendy -name '*_pb2*.py*' -o -name '__init__.py' | xargs rm -f
	find . -name __pycache__ -not -path './$(VENV)/*' | xargs rm -rf

distclean: clean
	rm -rf $(VENV) clients/node/node_modules
