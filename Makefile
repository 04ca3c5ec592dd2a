# Quick start: `make run` (install + open the application on an example), `make test` (install + tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/xcal --example

# A pyqtgraph view deleted with paints pending can crash a test process (rare, GUI tests only):
# xdist restarts the worker and the crashed test, and only that, runs again.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 --reruns 2 --only-rerun crashed tests

bench: $(STAMP)
	$(BIN)/python benchmarks/calibration.py

clean:
	rm -rf $(VENV) build src/*.egg-info
