# peforge: `make sim` sets up and runs the main job, `make test` runs the regression.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARCH   ?= configs/default.yaml
OUT    ?= results

.PHONY: setup sim test test-fast regress verilog lint bench clean

# A fresh virtual environment with the project and its pinned dependencies.
$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m models.hwlib
	touch $@

setup: $(VENV)/installed

# The main job: the quantized digits CNN on the default 16x16 architecture's RTL, all 360
# held-out images batched through every layer and checked against the golden model, with
# the float / int8 / RTL accuracies and the seven-metric report in $(OUT)/digits.
sim: setup
	$(BIN)/peforge run --arch $(ARCH) --workload digits --backend rtl --out $(OUT)/digits

# The verification regression: Amaranth-simulator unit tests and Verilator RTL tests.
test: setup
	$(BIN)/pytest -n 2 --dist loadgroup

# The random regression at any size: about N layers over ARCHS random architectures drawn
# from SEED (layers per architecture: N / ARCHS, rounded up), as Dask tasks of a few layers of
# one architecture each: on the scheduler at SCHEDULER (tcp://HOST:PORT) if given, else on a
# local cluster of this machine's cores.  A failure prints its seeds, the command reproducing
# it alone and its waveform; the merged coverage comes at the end.  `make test` runs the
# regression at its small default size through pytest instead.  COVER=1 chooses the
# architectures for coverage (testbench/arch_cover.py) instead of taking them as drawn; PLAN=1
# prints the coverage the run would reach, from the draws alone, in seconds.
N         ?= 1000
ARCHS     ?= 20
SEED      ?= 1
SCHEDULER ?=
COVER     ?=
PLAN      ?=
regress: setup
	$(BIN)/python -m testbench.campaign --seed $(SEED) --archs $(ARCHS) \
		--layers $$(( ($(N) + $(ARCHS) - 1) / $(ARCHS) )) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
		$(if $(COVER),--cover) $(if $(PLAN),--plan)

# Only the tests that need no Verilator build.
test-fast: setup
	$(BIN)/pytest -m "not rtl"

verilog: setup
	$(BIN)/peforge export --arch $(ARCH) --out hdl

# Verilator -Wall, a latch-free Yosys synthesis, and the critical path and fmax (synthesis/).
lint: setup
	$(BIN)/peforge lint --arch $(ARCH)

bench: setup
	$(BIN)/python benchmarks/sim_speed.py

clean:
	rm -rf build $(OUT)
