"""`peforge run --workload digits`: the quantized digits CNN on real held-out images.

Every accelerator layer runs once for the whole batch of images.  On the RTL each layer takes
the RTL's own output of the layer before (the host pools and flattens in between), and each
is checked against the golden model on the same input, so the RTL accuracy is measured, not
assumed; the end-to-end logits are compared with the golden model's too.
"""

import numpy as np

from models import digits
from models.workloads import with_batch
from testbench.jobs import Job

from .errors import MismatchError, UserError
from .network import Progress, Simulator, predicted_counters
from .report import layer_entry


def _job(step, x):
    layer, post = step.layer, step.layer.post
    extra = {"bias": step.bias, "requant": post.requant, "relu": post.relu}
    if layer.op == "fc":
        return Job(layer.name, "fc", x, step.weights, **extra)
    return Job(layer.name, "conv", x, step.weights, stride=layer.shape.stride,
               pad=layer.shape.pad, groups=layer.groups, **extra)


def run_digits(spec, backend, table, images=None, log=print):
    """(report entries, host-op names, accuracy, images run) of the held-out digits on
    `backend`; `images` limits the run to the first that many held-out images."""
    split = digits.dataset()
    count = len(split.test_y) if images is None else images
    if not 1 <= count <= len(split.test_y):
        raise UserError(f"--images must be from 1 to {len(split.test_y)}, not {count}")
    pixels, labels = split.test_x[:count], split.test_y[:count]
    params = digits.load_params()
    network = digits.quantized_network(params)

    def golden(step, x):
        return digits.golden_layer(step, x, spec.acc_bits, spec.operand_bits)

    float_logits, _ = digits.float_forward(params, pixels)
    golden_logits = digits.run_int8(network, pixels, golden)
    accuracy = {"float": digits.accuracy(float_logits, labels),
                "int8_golden": digits.accuracy(golden_logits, labels)}
    layers = with_batch(digits.layers(network), count)
    accelerated = [layer for layer in layers if layer.on_accelerator]
    predictions = [predicted_counters(spec, layer) for layer in accelerated]
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

        rtl_logits = digits.run_int8(network, pixels, on_rtl)
        if not np.array_equal(rtl_logits, golden_logits):
            raise MismatchError("the RTL's logits differ from the golden model's")
        accuracy["int8_rtl"] = digits.accuracy(rtl_logits, labels)
    entries = [layer_entry(spec, layer.name, layer.op, c, table, layer.macs,
                           layer.post.requant is not None)
               for layer, c in zip(accelerated, counters)]
    host_ops = [layer.name for layer in layers if not layer.on_accelerator]
    return entries, host_ops, accuracy, count
