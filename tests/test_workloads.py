"""Built-in networks and SCALE-Sim topologies, and `peforge run` over them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.mapper import map_grouped_conv
from models.spec import load_spec
from models.workloads import WorkloadError, load_scalesim_csv, workload

ROOT = Path(__file__).resolve().parent.parent

# Multiply-accumulates of one 224x224 inference, as published for the torchvision models.
PUBLISHED_GMACS = {"resnet18": 1.81, "mobilenetv2": 0.30, "alexnet": 0.71, "vgg16": 15.5}


@pytest.mark.parametrize("name", list(PUBLISHED_GMACS))
def test_networks_have_their_published_macs(name):
    macs = sum(layer.macs for layer in workload(name))
    assert macs / 1e9 == pytest.approx(PUBLISHED_GMACS[name], rel=0.02)


@pytest.mark.parametrize("name", list(PUBLISHED_GMACS))
def test_every_layer_maps_on_the_default_architecture(name):
    spec = load_spec(ROOT / "configs" / "default.yaml")
    for layer in workload(name):
        if layer.on_accelerator:
            assert map_grouped_conv(spec, layer.shape, layer.groups, layer.post), layer.name


def test_resnet18_shapes():
    layers = {layer.name: layer for layer in workload("resnet18")}
    conv1 = layers["conv1"].shape
    assert (conv1.c, conv1.k, conv1.r, conv1.stride, conv1.pad, conv1.p) == (3, 64, 7, 2, 3, 112)
    down = layers["layer3.0.downsample"].shape
    assert (down.c, down.k, down.r, down.stride, down.h, down.p) == (128, 256, 1, 2, 28, 14)
    assert layers["layer1.0.add"].op == "add" and layers["maxpool"].op == "maxpool"


def test_mobilenetv2_depthwise_layers_are_grouped():
    dw = [layer for layer in workload("mobilenetv2") if layer.op == "dwconv"]
    assert len(dw) == 17
    assert all(layer.groups == layer.shape.c == layer.shape.k for layer in dw)


def test_batch_multiplies_the_work():
    one = sum(layer.macs for layer in workload("alexnet"))
    four = sum(layer.macs for layer in workload("alexnet", batch=4))
    assert four == 4 * one


def test_scalesim_csv_with_trailing_commas(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n"
                    "Conv1, 30, 30, 3, 3, 8, 16, 1,\n"
                    "Conv2, 28, 28, 5, 5, 16, 32, 2,\n")
    first, second = load_scalesim_csv(path)
    assert (first.name, first.shape.p, first.shape.k) == ("Conv1", 28, 16)
    assert (second.shape.r, second.shape.stride, second.shape.p) == (5, 2, 12)


def test_scalesim_csv_errors_name_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\nConv1, 30, thirty, 3, 3, 8, 16, 1,\n")
    with pytest.raises(WorkloadError, match="line 2: IFMAP Width must be a whole number, "
                                            "not 'thirty'"):
        load_scalesim_csv(path)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "peforge.cli", *map(str, args)],
                          capture_output=True, text=True)


def test_run_resnet18_on_the_model_backend(tmp_path):
    done = run_cli("run", "--arch", ROOT / "configs" / "default.yaml", "--workload", "resnet18",
                   "--backend", "model", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["macs"] / 1e9 == pytest.approx(1.81, rel=0.01)
    assert len(report["layers"]) == 21
    assert "layer1.0.add" in report["host_ops"]
    assert {layer["mode"] for layer in report["layers"]} == {
        "dense, reduction blocks paired",
        "dense, weights resident but the last 1 of 4 filter blocks, reduction blocks paired",
        "dense, weights resident, input bands loaded ahead", "fc as 1x1 conv over 1 row",
        "taps folded, 2 segments of 7 kernel rows, packed input, weights resident, input bands "
        "loaded ahead"}
    assert "| layer | op | mode |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report-energy.png").exists()


@pytest.mark.rtl
@pytest.mark.xdist_group("tiny")
def test_run_a_scalesim_topology_on_the_rtl_backend_agrees_with_the_model(tmp_path):
    topology = tmp_path / "small.csv"
    topology.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                        "Channels, Num Filter, Strides,\n"
                        "c1, 10, 9, 3, 3, 6, 7, 1,\n"
                        "c2, 8, 7, 1, 1, 7, 5, 2,\n")
    reports = {}
    for backend in ("rtl", "model"):
        done = run_cli("run", "--arch", ROOT / "configs" / "tiny.yaml", "--workload", topology,
                       "--backend", backend, "--out", tmp_path / backend)
        assert done.returncode == 0, done.stderr
        reports[backend] = json.loads((tmp_path / backend / "report.json").read_text())
    for rtl, model in zip(reports["rtl"]["layers"], reports["model"]["layers"]):
        for name in ("cycles", "dram_bytes", "glb_accesses", "macs"):
            assert rtl[name] == model[name], (rtl["name"], name)


def test_unknown_workload_is_refused(tmp_path):
    done = run_cli("run", "--arch", ROOT / "configs" / "tiny.yaml", "--workload", "lenet",
                   "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "unknown workload 'lenet'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
