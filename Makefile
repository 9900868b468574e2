# Two entry points: `make demo` (install + run the end-to-end demo) and `make test` (install + run tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	# Pinned CPU-capable torch first: an unpinned torch requirement pulls GBs of CUDA packages.
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -e '.[test,plot]'

demo: install
	$(BIN)/gnn-unlearn demo $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

bench: install
	$(BIN)/python benchmarks/grid.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
