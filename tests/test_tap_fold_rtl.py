"""Few-channel convolutions with their taps folded into the array rows (models/tap_fold.py,
pyhdl/tap_fold_loop.py) on the Verilator-simulated RTL, one kernel row a block (streamed) or
several (from the line buffer), taller ones with each tile's band loaded ahead: bit for bit
against the golden model, every counter and the cycles equal to the analytical model."""

import numpy as np
import pytest

from models.golden import conv_output_size, operand_range
from models.mapper import ConvShape, MappingError, PostProcess, map_conv
from models.perf import model_counters, predict_counters, predict_cycles
from models.tap_fold import foldable
from testbench.jobs import Job
from testbench.runner import SimulationModel

pytestmark = pytest.mark.rtl

ARCHS = ("tiny", "fold-8x4", "fold-12x4")
KERNELS = (3, 5, 7, 11)
STRIDES = (1, 2, 4)
DRAWS = 8
"""Random folded layers per configuration, half with blocks of several kernel rows where
the line buffer holds them."""
AHEAD_DRAWS = 4
"""Random folded layers per configuration whose bands load ahead (several tiles an image),
half of them with blocks of several kernel rows where the line buffer holds them."""


def shape_of(job):
    (n, c, h, w), (k, _, r, s) = job.inputs.shape, job.weights.shape
    return ConvShape(n, c, h, w, k, r, s, job.stride, job.pad, job.pad_value)


def post_of(job):
    return PostProcess(job.bias is not None, job.requant, job.relu)


def draw_fold_job(spec, rng, index, narrow, tall):
    """A random convolution of 1 to 4 channels that `spec` may fold, and its descriptor, or
    None: kernel KERNELS[index % 4]; `narrow`, an image of few channels and a small kernel
    whose rows fit the line buffer; `tall`, 8 to 40 rows more than the kernel, so its output
    rows take several tiles."""
    low, high = operand_range(spec.operand_bits)
    c, r = int(rng.integers(1, 5)), KERNELS[index % len(KERNELS)]
    stride, pad = int(rng.choice(STRIDES)), int(rng.integers(0, r))
    if narrow:
        c, r = int(rng.integers(1, 3)), int(rng.choice(KERNELS[:2]))
        stride, pad = int(rng.choice(STRIDES[:2])), int(rng.integers(0, min(r, 3)))
    h = int(rng.integers(r + 8, r + 41)) if tall else int(rng.integers(r, r + 9))
    w = int(rng.integers(max(r - 2 * pad, 1), (r + 3) if narrow else (r + 9)))
    n, k = int(rng.integers(1, 3)), int(rng.integers(1, 2 * spec.cols + 2))
    if conv_output_size(h, r, stride, pad) < 1 or conv_output_size(w, r, stride, pad) < 1:
        return None
    shape = ConvShape(n, c, h, w, k, r, r, stride, pad)
    if not foldable(spec, shape):
        return None
    zeros = rng.random()
    x = np.where(rng.random((n, c, h, w)) < zeros / 2, 0, rng.integers(low, high + 1, (n, c, h, w)))
    job = Job(f"fold{index}_c{c}_{r}x{r}_s{stride}_p{pad}", "conv", x,
              rng.integers(low, high + 1, (k, c, r, r)), stride=stride, pad=pad,
              pad_value=int(rng.integers(low, high + 1)) if rng.random() < 0.3 else 0)
    if rng.random() < 0.4:
        scale = high * high * c * r * r
        job.bias = rng.integers(-scale // 8, scale // 8, k)
        job.requant = (int(rng.integers(2**14, 2**15)), 14 + scale.bit_length() - 7, 0)
        job.relu = bool(rng.integers(2))
    try:
        return job, map_conv(spec, shape_of(job), post_of(job)).descriptor
    except MappingError:     # too large for the small array's buffers
        return None


def random_fold_jobs(spec, rng, count, several_rows):
    """`count` random convolutions that the mapper folds on `spec`, the first `several_rows`
    of them with blocks of several kernel rows (narrow images of few channels and small
    kernels, so that their rows fit the line buffer)."""
    jobs = []
    while len(jobs) < count:
        narrow = len(jobs) < several_rows
        drawn = draw_fold_job(spec, rng, len(jobs), narrow, tall=False)
        if drawn and drawn[1]["fold"] and (drawn[1]["fold_rows"] > 1) == narrow:
            jobs.append(drawn[0])
    return jobs


def bands_ahead_jobs(spec, rng, count, several_rows):
    """`count` random folded convolutions of images tall enough for several tiles, which the
    mapper runs with each tile's band loaded ahead (descriptor `x_half_words`), the first
    `several_rows` with blocks of several kernel rows; their strides take turns (1 and 2 for
    those, every one of STRIDES for the others)."""
    jobs = []
    while len(jobs) < count:
        narrow = len(jobs) < several_rows
        strides = STRIDES[:2] if narrow else STRIDES
        drawn = draw_fold_job(spec, rng, DRAWS + len(jobs), narrow, tall=True)
        if drawn and drawn[1]["fold"] and drawn[1]["x_half_words"] \
                and (drawn[1]["fold_rows"] > 1) == narrow \
                and drawn[0].stride == strides[len(jobs) % len(strides)]:
            jobs.append(drawn[0])
    return jobs


def several_rows_jobs(spec):
    """How many of a configuration's jobs take blocks of several kernel rows: half, where
    its line buffer holds more than one row."""
    return 4 if spec.fold_line_rows > 1 else 0


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ARCHS])
def fold_run(request, arch, tmp_path_factory):
    spec = arch(request.param)
    rng = np.random.default_rng(13 + spec.rows)
    jobs = random_fold_jobs(spec, rng, DRAWS, several_rows_jobs(spec)) \
        + bands_ahead_jobs(spec, rng, AHEAD_DRAWS, several_rows_jobs(spec) // 2)
    results = SimulationModel(spec).run(jobs, tmp_path_factory.mktemp(f"fold-{spec.name}"))
    return spec, jobs, results


def test_folded_outputs_match_golden_bit_for_bit(fold_run):
    _, jobs, results = fold_run
    for job, result in zip(jobs, results):
        np.testing.assert_array_equal(result.output, result.expected, err_msg=job.name)


def test_folded_counters_match_the_analytical_model(fold_run):
    spec, jobs, results = fold_run
    for job, result in zip(jobs, results):
        mapping = map_conv(spec, shape_of(job), post_of(job))
        predicted = predict_counters(spec, mapping)
        assert {name: result.counters[name] for name in predicted} == predicted, job.name
        assert result.counters["cycles"] == predict_cycles(spec, mapping), job.name


def test_folded_gated_macs_are_the_zero_operand_pairs(fold_run):
    """Every product of the convolution is one array MAC, gated when an operand is zero."""
    _, jobs, results = fold_run
    for job, result in zip(jobs, results):
        shape = shape_of(job)
        x = np.pad(job.inputs, ((0, 0), (0, 0), (job.pad,) * 2, (job.pad,) * 2),
                   constant_values=job.pad_value)
        windows = np.lib.stride_tricks.sliding_window_view(x, (shape.r, shape.s), axis=(2, 3))
        windows = windows[:, :, ::job.stride, ::job.stride][:, :, :shape.p, :shape.q]
        both = np.einsum("ncpqrs,kcrs->", (windows != 0).astype(np.int64),
                         (job.weights != 0).astype(np.int64))
        assert result.counters["macs"] == shape.macs, job.name
        assert result.counters["macs_gated"] == shape.macs - both, job.name


def test_draws_cover_every_kernel_and_stride(fold_run):
    spec, jobs, _ = fold_run
    shapes = [shape_of(job) for job in jobs]
    assert {s.c for s in shapes} >= {1, 2}
    assert len({s.r for s in shapes}) >= 3 and len({s.stride for s in shapes}) >= 2


def test_draws_take_several_kernel_rows_where_the_line_buffer_holds_them(fold_run):
    """Half the draws of an array with a line buffer run blocks of several kernel rows, one
    with a shorter last block at least; the others stream one kernel row a block."""
    spec, jobs, _ = fold_run
    rows = [map_conv(spec, shape_of(job), post_of(job)).descriptor for job in jobs[:DRAWS]]
    several = [d for d in rows if d["fold_rows"] > 1]
    assert len(several) == several_rows_jobs(spec)
    if spec.fold_line_rows > 1:
        assert any(d["fold_rows_last"] < d["fold_rows"] for d in several)


def test_draws_load_bands_ahead_over_several_tiles(fold_run):
    """The last draws load each tile's band ahead, over several tiles of an image, batch 2
    among them, and where the line buffer holds them with blocks of several kernel rows."""
    spec, jobs, _ = fold_run
    ahead = [map_conv(spec, shape_of(job), post_of(job)) for job in jobs[DRAWS:]]
    assert len(ahead) == AHEAD_DRAWS
    assert all(m.descriptor["x_half_words"] and m.tiles > m.shape.n for m in ahead)
    assert any(m.shape.n == 2 for m in ahead)
    assert {m.shape.stride for m in ahead} >= {1, 2}
    assert (sum(m.descriptor["fold_rows"] > 1 for m in ahead)
            == several_rows_jobs(spec) // 2)


def test_digits_conv1_takes_its_three_kernel_rows_in_one_block(arch):
    """The digits CNN's conv1 (1 channel, 3x3, 8x8 images) on the default array: one block of
    its 3 kernel rows (9 of 16 rows busy instead of 3), each weight read once, above 20 % of
    peak (14.7 % a kernel row a block: 3 of 16 rows, each output row's block restarted
    three times)."""
    spec = arch("default")
    shape = ConvShape(360, 1, 8, 8, 16, 3, 3, 1, 1)
    mapping = map_conv(spec, shape, PostProcess(True, (1 << 14, 20, 0), True))
    d = mapping.descriptor
    assert (d["fold"], d["fold_rows"], d["taps"], d["w_resident"]) == (1, 3, 1, 1)
    counters = model_counters(spec, mapping)
    assert counters["glb_weight_writes"] == shape.k
    assert shape.macs / spec.peak_macs_per_cycle / counters["cycles"] > 0.2


def test_folding_saves_cycles_and_traffic_on_resnet_conv1(arch):
    """The folded mapping of ResNet-18's conv1 against the dense one on the default array."""
    spec = arch("default")
    shape = ConvShape(1, 3, 224, 224, 64, 7, 7, 2, 3)
    folded = map_conv(spec, shape)
    assert folded.descriptor["fold"]
    counters = model_counters(spec, folded)
    assert counters["macs"] == shape.macs
    compulsory = shape.n * shape.c * shape.h * shape.w + shape.k * shape.c * shape.r * shape.s
    # Padded to a 16-byte beat per pixel, the image alone took 224 x 224 x 16 bytes.
    assert counters["dram_bytes_read"] < 2.5 * compulsory < 224 * 224 * 16
    assert shape.macs / spec.peak_macs_per_cycle / counters["cycles"] > 0.55
