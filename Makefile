# Set-up and everyday commands. `make run` and `make test` create .venv and install on first use.
# make test: one pytest worker per core (pytest-xdist), each test file on one worker (its module fixtures built
# once); the trained models the files share are built once for all workers (tests/conftest.py built_once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/lstm-vision-tui $(ARGS)

test: install
	$(BIN)/ruff check lstm_vision app tests benchmarks
	$(BIN)/ruff format --check lstm_vision app tests benchmarks
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=30 $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/throughput.py $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
