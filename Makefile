# Fresh-machine entry points. `make demo` and `make test` create .venv and install
# everything they need first; re-running skips installation when nothing changed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch and torchvision are pinned to releases that install without a GPU toolchain;
# override TORCH to use another build (e.g. one from your Jetson's JetPack).
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[train,dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mtl-edge demo --out runs/demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_precision.py
	$(BIN)/python benchmarks/bench_runtime.py

clean:
	rm -rf $(VENV) runs
