# `make test` and `make demo` each set everything up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.py setup.cfg constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[tests]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/seld-tf demo --out demo_data --figures figures

clean:
	rm -rf $(VENV) demo_data *.egg-info
