"""Empirical bias correction (quant.bias_correction, SPEC "Calibration provenance") on the trained CNN."""
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, TRAINED, trained_images
from roentgen_tools import convert, ops
from roentgen_tools.fileformat import DT_INT8, read_bytes, serialize
from roentgen_tools.fileformat.ops import OP_CONV2D, OP_DENSE
from roentgen_tools.reference import executor as reference

CREATED = "2026-12-01T00:00:00Z"


@pytest.fixture(scope="module")
def calib11(tmp_path_factory):
    """One calibration DRR per class (keeps the test at seconds)."""
    d = tmp_path_factory.mktemp("calib11")
    for cls in sorted(p for p in (FIXTURES / "calib-drr").iterdir() if p.is_dir()):
        (d / cls.name).mkdir()
        shutil.copy(sorted(cls.glob("*.png"))[0], d / cls.name)
    return d


@pytest.fixture(scope="module")
def models(calib11):
    labels = convert.read_labels(TRAINED / "cnn-labels.txt")
    f32 = read_bytes(serialize(convert.convert(TRAINED / "cnn.onnx", "f32", labels=labels, created=CREATED)))
    out = {"f32": f32}
    for bc in (False, True):
        m = convert.convert(TRAINED / "cnn.onnx", "int8", calib=calib11, labels=labels, created=CREATED,
                            bias_correction=bc)
        out[bc] = read_bytes(serialize(m))
    return out


def layer_mean_errors(m8, m32, files):
    """{layer: (mean over images and positions of int8 sums * unit - float sums, unit)} per channel."""
    r32 = [reference.run(m32, reference.load_input(m32, str(p)), record=True) for p in files]
    r8 = [reference.run(m8, reference.load_input(m8, str(p)), record=True) for p in files]
    by_name32 = {m32.tensors[op.output].name: op for op in m32.ops}
    T = m8.tensors
    out = {}
    for op in m8.ops:
        name = T[op.output].name.removesuffix(".q")
        if op.kind not in (OP_CONV2D, OP_DENSE) or T[op.inputs[0]].dtype != DT_INT8:
            continue
        op32, mod = by_name32[name], ops.REGISTRY[op.kind]
        unit = T[op.inputs[2]].scales.astype(np.float64)
        d = 0
        for v8, v32 in zip(r8, r32):
            xs8 = [v8[T[i].name] if T[i].data is None else T[i].data for i in op.inputs]
            xs32 = [v32[m32.tensors[i].name] if m32.tensors[i].data is None else m32.tensors[i].data
                    for i in op32.inputs]
            d = d + (mod.accumulator(op, xs8, m8) * unit - mod.accumulator(op32, xs32, m32)).mean(axis=0)
        out[name] = (d / len(files), unit)
    return out


def test_each_layer_mean_error_is_within_half_a_bias_unit_on_the_calibration_images(models, calib11):
    files = sorted(calib11.rglob("*.png"))
    before = layer_mean_errors(models[False], models["f32"], files)
    after = layer_mean_errors(models[True], models["f32"], files)
    assert after.keys() == before.keys() and len(after) >= 5
    for name, (d, unit) in after.items():
        assert np.all(np.abs(d) <= 0.5 * unit * (1 + 1e-9)), name
    # not vacuous: rounded biases leave larger mean errors than that somewhere
    assert any(np.any(np.abs(d) > unit) for d, unit in before.values())


def test_only_biases_and_provenance_change(models):
    a, b = models[False], models[True]
    changed = set()
    for ta, tb in zip(a.tensors, b.tensors):
        assert ta.name == tb.name and ta.dims == tb.dims
        if ta.data is not None and not np.array_equal(ta.data, tb.data):
            changed.add(ta.name)
    assert changed and all(n.endswith(".bias") for n in changed)
    assert dict(a.provenance)["bias_correction"] == "none"
    assert dict(b.provenance)["bias_correction"] == "empirical"


def test_corrected_logits_are_closer_to_float_on_images_not_used_for_it(models):
    """On the held-out DRRs: the mean logit error per class shrinks."""
    files = [p for p in trained_images() if "heldout" in str(p)]
    m32 = models["f32"]
    f = np.array([reference.run(m32, reference.load_input(m32, str(p))) for p in files])
    err = {}
    for bc in (False, True):
        m8 = models[bc]
        q = np.array([reference.run(m8, reference.load_input(m8, str(p))) for p in files])
        err[bc] = np.sqrt(((q - f).mean(axis=0) ** 2).mean())
    assert err[True] < err[False]
