# peforge: `make sim` sets up and runs the main job, `make test` runs the regression.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARCH   ?= configs/default.yaml
OUT    ?= results

.PHONY: setup sim test test-fast verilog lint bench clean

# A fresh virtual environment with the project and its pinned dependencies.
$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/installed

# The main job: the example fully-connected layer on the default 16x16 architecture's RTL.
sim: setup
	mkdir -p $(OUT)
	$(BIN)/peforge layer --arch $(ARCH) --op fc \
		--inputs examples/fc_inputs.npy --weights examples/fc_weights.npy \
		--out $(OUT)/fc_outputs.npy --report $(OUT)/fc_report.json

# The verification regression: Amaranth-simulator unit tests and Verilator RTL tests.
test: setup
	$(BIN)/pytest -n 2 --dist loadgroup

# Only the tests that need no Verilator build.
test-fast: setup
	$(BIN)/pytest -m "not rtl"

verilog: setup
	$(BIN)/peforge export --arch $(ARCH) --out hdl

lint: setup
	$(BIN)/peforge lint --arch $(ARCH)

bench: setup
	$(BIN)/python benchmarks/sim_speed.py

clean:
	rm -rf build $(OUT)
