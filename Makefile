# Budkavle: `make run` to try it, `make test` before you push.
#
# The virtualenv is made once; the package is reinstalled only when pyproject.toml is
# newer than the stamp file that the last install left behind.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
CONCURRENCY ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := run
.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

# The test extras include the package itself, so this stamp stands for both.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
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

# Leaves .venv alone: reinstalling it is the slow part.
clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
