"""`peforge run` on real inputs: the quantized digits CNN on its held-out images
(`run_digits`), and any ONNX graph with its own weights (`run_graph`: `--inputs`, and the
Fashion-MNIST CNN).

Every accelerator layer runs once for the whole batch of images.  On the RTL each layer takes
the RTL's own output of the layer before (the host pools and flattens in between), and each
is checked against the golden model on the same input, so the RTL accuracy is measured, not
assumed; the end-to-end logits are compared with the golden model's too.
"""

import functools

import numpy as np

from models import digits
from models.workloads import with_batch
from testbench.jobs import Job

from .errors import MismatchError, UserError
from .network import Progress, Simulator, predicted_counters
from .report import layer_entry, layer_mode


def _job(step, x):
    layer, post = step.layer, step.layer.post
    extra = {"bias": step.bias, "requant": post.requant, "relu": post.relu}
    if layer.op == "fc":
        return Job(layer.name, "fc", x, step.weights, **extra)
    return Job(layer.name, "conv", x, step.weights, stride=layer.shape.stride,
               pad=layer.shape.pad, groups=layer.groups, **extra)


DIGITS_WEIGHTS = {"digits": digits.WEIGHTS_PATH, "digits-2to4": digits.PRUNED_WEIGHTS_PATH}
"""The digits workloads: the dense network, and the same pruned to 2:4 (docs/sparsity.md)."""


def run_digits(spec, backend, table, images=None, log=print, workload="digits"):
    """(report entries, host-op names, accuracy, images run) of the held-out digits on
    `backend` with the weights of `workload` (DIGITS_WEIGHTS); `images` limits the run to the
    first that many held-out images."""
    split = digits.dataset()
    count = len(split.test_y) if images is None else images
    if not 1 <= count <= len(split.test_y):
        raise UserError(f"--images must be from 1 to {len(split.test_y)}, not {count}")
    pixels, labels = split.test_x[:count], split.test_y[:count]
    params = digits.load_params(DIGITS_WEIGHTS[workload])
    network = digits.quantized_network(params)

    def golden(step, x):
        return digits.golden_layer(step, x, spec.acc_bits, spec.operand_bits)

    float_logits, _ = digits.float_forward(params, pixels)
    golden_logits = digits.run_int8(network, pixels, golden)
    accuracy = {"float": digits.accuracy(float_logits, labels),
                "int8_golden": digits.accuracy(golden_logits, labels)}
    layers = with_batch(digits.layers(network), count)
    accelerated = [layer for layer in layers if layer.on_accelerator]
    weights = [step.weights for step in network if isinstance(step, digits.QuantizedLayer)]
    predictions = [predicted_counters(spec, layer, w) for layer, w in zip(accelerated, weights)]
    counters = predictions
    if backend == "rtl":
        counters = []
        simulator = Simulator(spec, log)
        progress = Progress([layer.name for layer in accelerated],
                            [p["cycles"] for p in predictions])

        def on_rtl(step, x):
            index = len(counters)
            progress.start(index)
            result = simulator.run(_job(step, x))
            counters.append(result.counters)
            progress.finish(index, result.counters["cycles"], ", matches the golden model")
            return result.output

        with simulator:
            rtl_logits = digits.run_int8(network, pixels, on_rtl)
        if not np.array_equal(rtl_logits, golden_logits):
            raise MismatchError("the RTL's logits differ from the golden model's")
        accuracy["int8_rtl"] = digits.accuracy(rtl_logits, labels)
    entries = [layer_entry(spec, layer.name, layer.op, c, table, layer.macs,
                           layer.post.requant is not None, layer_mode(spec, layer))
               for layer, c in zip(accelerated, counters)]
    host_ops = [layer.name for layer in layers if not layer.on_accelerator]
    return entries, host_ops, accuracy, count


GOLDEN_CHUNK = 1000
"""Images per pass of the float and golden runs (bounds their memory)."""
RTL_CHUNK = 500
"""Images per RTL simulation of a layer (bounds the DRAM image each simulation loads)."""


def check_inputs(graph, array, what):
    """`array` as the graph's input takes it: its dtype and every fixed dimension."""
    expected = [d if d else "N" for d in graph.input_shape]
    if array.dtype != np.dtype(graph.input_dtype) or array.ndim != len(expected) or any(
            d and d != got for d, got in zip(graph.input_shape[1:], array.shape[1:])):
        raise UserError(f"{what}: {array.dtype} {list(array.shape)} does not fit the graph's "
                        f"input {graph.input_name!r}, {np.dtype(graph.input_dtype)} {expected}")
    if len(array) == 0:
        raise UserError(f"{what}: no inputs (shape {list(array.shape)})")
    return array


def check_labels(labels, count):
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"--labels: expected a vector of integer classes, not {labels.dtype} "
                        f"{list(labels.shape)}")
    if len(labels) != count:
        raise UserError(f"--labels: {len(labels)} labels for {count} inputs")
    return labels


def _chunks(count, size):
    return [(first, min(first + size, count)) for first in range(0, count, size)]


def top1(outputs, labels):
    """The fraction of inputs whose largest output is their label."""
    return float(np.mean(np.argmax(outputs.reshape(len(outputs), -1), axis=1) == labels))


class _LayerCounters:
    """Each accelerator layer's counters and MACs, summed over the chunks of images."""

    def __init__(self):
        self.layers, self.counters, self.macs = {}, {}, {}

    def add(self, layer, counters):
        self.layers.setdefault(layer.name, layer)
        total = self.counters.setdefault(layer.name, {})
        for name, value in counters.items():
            total[name] = total.get(name, 0) + value
        self.macs[layer.name] = self.macs.get(layer.name, 0) + layer.macs

    def entries(self, spec, table):
        return [layer_entry(spec, name, self.layers[name].op, self.counters[name], table,
                            self.macs[name], mode=layer_mode(spec, self.layers[name]))
                for name in self.layers]


def run_graph(spec, graph, inputs, backend, table, labels=None, calibration=None,
              per_channel=True, log=print):
    """Run the ONNX `graph` with its own weights on `inputs`: float, quantized on the golden
    model and (backend rtl) on the RTL, every RTL layer checked against the golden model.
    Returns (report entries, host-op names, accuracy or None, outputs, scheme line)."""
    from models.onnx_graph import (GraphError, golden_step, plan_quantization, run_float,
                                   run_quantized, scheme)

    bits = spec.operand_bits
    try:
        steps = plan_quantization(graph, inputs[:GOLDEN_CHUNK] if calibration is None
                                  else calibration, bits, per_channel, spec.acc_bits)
    except GraphError as error:
        raise UserError(str(error)) from None
    fused = {name for step in steps.values() for name in step.skipped}
    host_ops = [node.name for node in graph.nodes if node.name not in steps
                and node.name not in fused and node.op not in
                ("QuantizeLinear", "DequantizeLinear", "Constant")]
    log(f"quantization: {scheme(graph, steps, per_channel)}")

    def golden(step, x):
        return golden_step(step, x, spec.acc_bits, bits)

    float_out, golden_out = [], []
    for first, last in _chunks(len(inputs), GOLDEN_CHUNK):
        float_out.append(run_float(graph, inputs[first:last])[0])
        golden_out.append(run_quantized(graph, steps, inputs[first:last], golden, bits)[0])
    float_out, golden_out = np.concatenate(float_out), np.concatenate(golden_out)
    counted = _LayerCounters()
    outputs = golden_out
    if backend == "model":
        predict = functools.cache(predicted_counters)
        for first, last in _chunks(len(inputs), RTL_CHUNK):
            run_quantized(graph, steps, inputs[first:last], lambda step, x: _predicted(
                spec, step, x, golden, predict, counted), bits)
    else:
        outputs = _run_rtl(spec, graph, steps, inputs, golden, counted, bits, log)
        if not np.array_equal(outputs, golden_out):
            raise MismatchError("the RTL's graph outputs differ from the golden model's")
    accuracy = None
    if labels is not None:
        accuracy = {"float": top1(float_out, labels),
                    f"int{bits}_golden": top1(golden_out, labels)}
        if backend == "rtl":
            accuracy[f"int{bits}_rtl"] = top1(outputs, labels)
    return (counted.entries(spec, table), host_ops, accuracy, outputs,
            scheme(graph, steps, per_channel))


def _predicted(spec, step, x, golden, predict, counted):
    layer = step.layer(x.shape)
    counted.add(layer, predict(spec, layer))
    return golden(step, x)


def _run_rtl(spec, graph, steps, inputs, golden, counted, bits, log):
    """The graph's outputs with every accelerator layer simulated, chunk by chunk."""
    from models.onnx_graph import run_quantized

    chunks = _chunks(len(inputs), RTL_CHUNK)
    names = [f"{name} ({first}-{last - 1})" for first, last in chunks for name in steps]
    simulator = Simulator(spec, log)
    progress = Progress(names, [0] * len(names))
    outputs = []

    def on_rtl(step, x):
        index = progress.count
        progress.start(index)
        result = simulator.run(_job_of_step(step, x))
        counted.add(step.layer(x.shape), result.counters)
        progress.finish(index, result.counters["cycles"], ", matches the golden model")
        return result.output

    with simulator:
        for first, last in chunks:
            outputs.append(run_quantized(graph, steps, inputs[first:last], on_rtl, bits)[0])
    return np.concatenate(outputs)


def _job_of_step(step, x):
    extra = {"bias": step.bias, "requant": step.requant, "relu": step.relu}
    if step.op == "fc":
        return Job(step.name, "fc", x, step.weights, **extra)
    return Job(step.name, "conv", x, step.weights, stride=step.stride, pad=step.pad,
               groups=step.groups, pad_value=step.in_quant.zero, **extra)
