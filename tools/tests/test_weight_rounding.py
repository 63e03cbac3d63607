"""GPTQ weight rounding (quant.weight_rounding, SPEC "Calibration provenance"): the algorithm on
synthetic rows, and the trained CNN converted both ways."""
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, TRAINED, trained_images
from roentgen_tools import convert
from roentgen_tools.fileformat import read_bytes, serialize
from roentgen_tools.quant.weight_rounding import gptq
from roentgen_tools.reference import executor as reference

CREATED = "2026-12-01T00:00:00Z"


def objective(w, q, gram):
    """(w - q)^T H (w - q) per row: the error of the row's sums over the inputs H came from."""
    e = w - q
    return np.einsum("gok,gkl,gol->go", e, gram, e)


def test_uncorrelated_inputs_of_equal_power_give_nearest_rounding():
    """H = c I: no weight's error can be made up by another's, so GPTQ is plain rounding."""
    rng = np.random.default_rng(1)
    w = rng.uniform(-127, 127, (3, 5, 9))
    gram = np.broadcast_to(7.0 * np.eye(9), (3, 9, 9))
    assert np.array_equal(gptq(w, gram), np.clip(np.rint(w), -127, 127).astype(np.int8))


def test_correlated_inputs_lower_the_sum_error_and_stay_on_the_int8_grid():
    rng = np.random.default_rng(2)
    k = 25
    # windows of a smooth image: neighbouring taps see almost the same value, with a mean
    base = rng.normal(3.0, 1.0, (4000, 1)) + 0.3 * rng.normal(size=(4000, k))
    gram = (base.T @ base)[None].repeat(4, axis=0)
    w = rng.normal(0, 30, (4, 16, k))
    w[0, 0, 0] = 200.0  # beyond the grid: clamped
    q = gptq(w, gram)
    assert q.dtype == np.int8 and q.min() >= -127 and q.max() <= 127
    nearest = np.clip(np.rint(w), -127, 127)
    assert objective(w, q, gram).sum() < 0.3 * objective(w, nearest, gram).sum()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The trained CNN in f32 and, without bias correction (so only the rounding differs), int8
    rounded both ways on 2 calibration DRRs per class."""
    calib = tmp_path_factory.mktemp("calib22")
    for cls in sorted(p for p in (FIXTURES / "calib-drr").iterdir() if p.is_dir()):
        (calib / cls.name).mkdir()
        for p in sorted(cls.glob("*.png"))[:2]:
            shutil.copy(p, calib / cls.name)
    labels = convert.read_labels(TRAINED / "cnn-labels.txt")
    out = {"f32": read_bytes(serialize(convert.convert(TRAINED / "cnn.onnx", "f32", labels=labels, created=CREATED)))}
    for rounding in ("nearest", "gptq"):
        m = convert.convert(TRAINED / "cnn.onnx", "int8", calib=calib, labels=labels, created=CREATED,
                            bias_correction=False, weight_rounding=rounding)
        out[rounding] = read_bytes(serialize(m))
    return out


def test_only_weights_and_provenance_change(models):
    a, b = models["nearest"], models["gptq"]
    changed = set()
    for ta, tb in zip(a.tensors, b.tensors, strict=True):
        assert ta.name == tb.name and ta.dims == tb.dims
        if ta.scales is not None:
            assert np.array_equal(ta.scales, tb.scales), ta.name  # the scales stay the lowering's
        if ta.data is not None and not np.array_equal(ta.data, tb.data):
            changed.add(ta.name)
    assert changed and all(n.endswith(".weight") for n in changed)
    assert dict(a.provenance)["weight_rounding"] == "nearest"
    assert dict(b.provenance)["weight_rounding"] == "gptq"


def test_gptq_logits_are_closer_to_float_on_images_not_used_for_it(models):
    files = [p for p in trained_images() if "heldout" in str(p)]
    m32 = models["f32"]
    f = np.array([reference.run(m32, reference.load_input(m32, str(p))) for p in files])
    err = {}
    for rounding in ("nearest", "gptq"):
        m8 = models[rounding]
        q = np.array([reference.run(m8, reference.load_input(m8, str(p))) for p in files])
        err[rounding] = np.sqrt(((q - f) ** 2).mean())
    assert err["gptq"] < err["nearest"]


def test_an_unknown_rounding_is_refused():
    with pytest.raises(convert.ConversionError, match="--weight-rounding"):
        convert.convert(TRAINED / "cnn.onnx", "int8", calib=FIXTURES / "calib-drr", weight_rounding="stochastic")
