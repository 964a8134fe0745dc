# Quick start: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench bench-large console clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leumund demo

# One worker per core: each has its own temporary files and PostgreSQL database.
test: $(STAMP)
	$(BIN)/pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check bot adapters storage tests
	$(BIN)/ruff format --check bot adapters storage tests
	$(BIN)/mypy --strict bot adapters storage

console: $(STAMP)
	$(BIN)/leumund console

bench: $(STAMP)
	$(BIN)/python -m bot.bench

bench-large: $(STAMP)
	$(BIN)/python -m bot.bench --large

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
