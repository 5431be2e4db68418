# Budkavle: `make run` to try it, `make test` before you push.
#
# Every install comes from the lock files, which pin every package with its hashes:
#   requirements.txt       what the service runs on (make run, the Dockerfile)
#   requirements-test.txt  the same pins plus the test and lint tools (make test, CI)
# pyproject.toml keeps the honest ranges; `make lock` resolves them anew into both files.
# The virtualenv is made once and synced again whenever a lock file is newer than the stamp
# file that the last install left behind.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
CONCURRENCY ?=
PYTEST_ARGS ?=
# The resolver that writes the locks; pinned so that two people locking get the same file.
UV     := uv==0.13.8
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command "make lock"

# --require-hashes: a package whose bytes differ from the lock is refused, not installed.
# The project itself is then built with the locked setuptools, without build isolation,
# so nothing unpinned is fetched for it either.
PIP_SYNC = $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r
INSTALL_SELF = $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .

.DEFAULT_GOAL := run
.PHONY: run test lint bench chaos lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(PIP_SYNC) requirements.txt
	$(INSTALL_SELF)
	touch $@

# The test lock holds every runtime pin too, so this stamp stands for both.
$(VENV)/.installed-test: requirements-test.txt pyproject.toml | $(BIN)/python
	$(PIP_SYNC) requirements-test.txt
	$(INSTALL_SELF)
	touch $(VENV)/.installed $@

# exec: Ctrl-C and SIGTERM reach `budkavle serve` itself, which stops web, worker and Redis.
run: $(VENV)/.installed
	exec $(BIN)/budkavle serve --host $(HOST) --port $(PORT) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY))

test: $(VENV)/.installed-test
	bash scripts/test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(VENV)/.installed-test
	@if [ -f bench/run.sh ]; then \
		PATH="$(CURDIR)/$(BIN):$$PATH" bash bench/run.sh; \
	else \
		echo "bench/run.sh does not exist yet: no benchmarks to run"; \
	fi

# The fault suite: every scenario on SQLite and PostgreSQL, about an hour; a table at the
# end. CHAOS_ARGS="--db sqlite burst" runs one. Needs redis-server and PostgreSQL's
# binaries (the servers it starts are its own, on free ports).
CHAOS_ARGS ?=
chaos: $(VENV)/.installed-test
	$(BIN)/python -m chaos.run $(CHAOS_ARGS)

# Resolves pyproject.toml's ranges to the newest releases that fit. The runtime lock is
# written first and constrains the test lock, so both name the same version of every
# package they share. Commit the result on its own, after `make test` passes on it.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(UV)
	$(BIN)/uv pip compile $(LOCK_FLAGS) --upgrade pyproject.toml --group build \
		-o requirements.txt
	$(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml --group build --extra test \
		-c requirements.txt -o requirements-test.txt

# Leaves .venv alone: reinstalling it is the slow part.
clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
