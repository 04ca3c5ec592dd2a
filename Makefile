# Quick start: `make run` (install + open the application on an example), `make test` (install + tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, redone when pyproject.toml changes: gui = the application (Qt);
# test = the application and the test tools. The command line alone needs no extra.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

install: $(VENV)/.installed-gui

# xcal checks the system libraries Qt's window needs and prints the apt-get line for any missing.
run: $(VENV)/.installed-gui
	$(BIN)/xcal --example

# A pyqtgraph view deleted with paints pending can crash a test process (rare, GUI tests only):
# xdist restarts the worker and the crashed test, and only that, runs again.
test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 --reruns 2 --only-rerun crashed tests

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/calibration.py

clean:
	rm -rf $(VENV) build src/*.egg-info
