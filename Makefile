# Self-documenting Makefile: every target has a '## comment'; `make help` lists them.
# Only Python 3.11+ and make are needed: everything else is installed into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA_STAMP := data/processed/.build-stamp
RAW_FILES  := $(shell find data/raw -type f 2>/dev/null)
BUILD_CODE := $(wildcard analysis/data/*.py)
RUN    ?= default

.DEFAULT_GOAL := help
.PHONY: help setup data run test lint bench lab kernel clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name cnfp --display-name "Python (cnfp toolkit)" >/dev/null
	$(BIN)/python -c "from analysis.plots import register_cjk_font; print('CJK font:', register_cjk_font())"
	@touch $(STAMP)

setup: $(STAMP) ## create .venv, install the project and its pinned dependencies, register the 'cnfp' kernel

$(DATA_STAMP): $(STAMP) $(RAW_FILES) $(BUILD_CODE)
	$(BIN)/python -m analysis data build

data: $(DATA_STAMP) ## build data/processed/ from data/raw/ (only when raw files or build code changed)

run: data ## set up, then run the main job on the embedded data (writes to outputs/)
	$(BIN)/python -m analysis batch --default --out outputs/$(RUN)

test: data ## set up, lint, then run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff check
	$(BIN)/ruff check .

bench: data ## run the benchmarks; numbers go to outputs/bench/ (quote them in README)
	$(BIN)/python -m benchmarks

lab: data ## open JupyterLab on the notebooks with the project's kernel
	$(BIN)/jupyter lab notebooks

kernel: $(STAMP) ## also register the 'cnfp' kernel for your user's Jupyter (outside .venv)
	$(BIN)/python -m ipykernel install --user --name cnfp --display-name "Python (cnfp toolkit)"

clean: ## remove .venv, processed data and outputs
	rm -rf $(VENV) data/processed outputs
