"""Calibration methods (minmax, percentile, entropy), range reporting, mixed float/int8 models."""
import numpy as np
import pytest

from cnn_factory import random_cnn
from roentgen_tools.quant import calibration
from roentgen_tools import convert
from roentgen_tools.reference import executor as reference
import roentgen_tools.fileformat as F
from roentgen_tools.fileformat import read_bytes, serialize
from roentgen_tools.fileformat import ops as T
from roentgen_tools.quant.arith import activation_params
from roentgen_tools.quant.calibration import calibration_files

SEED = 6  # conv1 k3 s2 relu, conv2 k5 s2 leaky, pool1, conv3 k1, dense1, logits; 1 channel


@pytest.fixture(scope="module")
def onnx6(tmp_path_factory):
    d = tmp_path_factory.mktemp("cal")
    model, _ = random_cnn(SEED, classes=5)
    p = d / "m.onnx"
    p.write_bytes(model.SerializeToString())
    return p


@pytest.fixture(scope="module")
def f32_6(onnx6):
    return read_bytes(serialize(convert.convert(onnx6, "f32")))


def _int8(onnx6, calib_dir, **kw):
    return read_bytes(serialize(convert.convert(onnx6, "int8", calib=calib_dir, created="2026-01-01T00:00:00Z", **kw)))


def _act_scales(model):
    return {t.name: (t.scale, t.zero_point) for t in model.tensors
            if t.role == F.ROLE_ACTIVATION and t.dtype == F.DT_INT8}


# ------------------------------------------------------------------------------------ KL search

def test_kl_threshold_clips_far_outliers():
    rng = np.random.default_rng(0)
    x = np.abs(np.concatenate([rng.normal(0, 1, 200_000), [40.0, 41.0, 42.0]]))
    h, _ = np.histogram(x, bins=2048, range=(0, x.max()))
    i = calibration.kl_threshold(h, 128)
    t = i * x.max() / 2048
    assert 2.5 < t < 15, t   # well inside the bulk's tail, far below the outliers at ~40


def test_kl_threshold_keeps_a_uniform_distribution_whole():
    h = np.full(2048, 100.0)
    assert calibration.kl_threshold(h, 255) >= 2000


# --------------------------------------------------------------------------------- each method

def test_percentile_matches_numpy(f32_6, calib_dir):
    _, files = calibration_files(calib_dir)
    ranges, report = calibration.choose_ranges(f32_6, files, "percentile", percentile=99.0)
    acts = [reference.run(f32_6, reference.load_input(f32_6, p), record=True) for p in files]
    for name in ("input", "conv2"):
        allv = np.concatenate([a[name].reshape(-1) for a in acts]).astype(np.float64)
        width = (allv.max() - allv.min()) / calibration.PERCENTILE_BINS
        lo, hi = ranges[name]
        # hi is the 99th percentile to within one bin: >= 99 % of the values lie at or below it,
        # fewer below one bin under it (and the mirror image for lo)
        assert np.mean(allv <= hi + 1e-12) >= 0.99 and np.mean(allv <= hi - 2 * width) < 0.99, name
        assert np.mean(allv >= lo - 1e-12) >= 0.99 and np.mean(allv >= lo + 2 * width) < 0.99, name
        row = next(r for r in report if r["tensor"] == name)
        assert 0.005 < row["clipped"] < 0.03  # about 1 % on each side (ties at 0 count once)
        assert row["min"] == pytest.approx(allv.min()) and row["max"] == pytest.approx(allv.max())


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_each_method_builds_a_valid_int8_model(onnx6, f32_6, calib_dir, method):
    report = []
    q = _int8(onnx6, calib_dir, calib_method=method, calib_report=report)
    prov = dict(q.provenance)
    assert prov["calibration"] == method
    if method == "minmax":
        assert "calibration_params" not in prov  # minmax files stay as they always were
    else:
        assert prov["calibration_params"] == calibration.method_params(method)
    _, files = calibration_files(calib_dir)
    minmax, _ = calibration.choose_ranges(f32_6, files, "minmax")
    by_name = {r["tensor"]: r for r in report}
    for name, (lo, hi) in minmax.items():
        r = by_name[name]
        # every method picks a sub-range of what was seen, and says how much it clips
        assert lo - 1e-9 <= r["lo"] <= r["hi"] <= hi + 1e-9, (name, r)
        assert (r["clipped"] == 0) == (method == "minmax" or (r["lo"] <= lo and r["hi"] >= hi) or r["clipped"] == 0)
    # the file uses exactly the chosen ranges
    for name, (s, z) in _act_scales(q).items():
        base = name.removesuffix(".q")
        if base in by_name and not name.startswith("pool"):
            assert (s, z) == tuple(activation_params(by_name[base]["lo"], by_name[base]["hi"])), name
    # and it still classifies like the float model on its calibration images
    agree = [int(np.argmax(reference.run(f32_6, reference.load_input(f32_6, p))))
             == int(np.argmax(reference.run(q, reference.load_input(q, p)))) for p in files]
    assert np.mean(agree) >= 0.75


def test_minmax_through_the_report_path_gives_the_same_file(onnx6, calib_dir):
    a = serialize(convert.convert(onnx6, "int8", calib=calib_dir, created="2026-01-01T00:00:00Z"))
    b = serialize(convert.convert(onnx6, "int8", calib=calib_dir, created="2026-01-01T00:00:00Z",
                                  calib_method="minmax", calib_report=[]))
    assert a == b


def test_unknown_method_and_bad_percentile_are_errors(onnx6, calib_dir):
    with pytest.raises(calibration.CalibrationError):
        convert.convert(onnx6, "int8", calib=calib_dir, calib_method="mse")
    with pytest.raises(calibration.CalibrationError):
        convert.convert(onnx6, "int8", calib=calib_dir, calib_method="percentile", percentile=30)


def test_range_scale_damages_only_that_layer(onnx6, calib_dir):
    good = _act_scales(_int8(onnx6, calib_dir))
    bad_model = _int8(onnx6, calib_dir, range_scale={"conv2": 0.1})
    bad = _act_scales(bad_model)
    assert dict(bad_model.provenance)["calibration_range_scale"] == "conv2=0.1"
    for name in good:
        if name in ("conv2", "pool1"):  # pool1 shares conv2's quantization
            assert bad[name][0] == pytest.approx(good[name][0] * 0.1, rel=1e-3)
        else:
            assert bad[name] == good[name], name


def test_cli_reports_the_chosen_ranges(onnx6, calib_dir, tmp_path, capsys):
    out = tmp_path / "m.rtg"
    rc = convert.main([str(onnx6), "-o", str(out), "--calib", str(calib_dir), "--calib-method", "percentile",
                       "--percentile", "99.9", "--created", "2026-01-01T00:00:00Z"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "calibration (percentile)" in text and "conv2" in text and "clipped" in text
    prov = dict(F.read_model(out).provenance)
    assert prov["calibration"] == "percentile" and prov["calibration_params"].startswith("percentile=99.9;")


# ----------------------------------------------------------------------------------- mixed models

def _kinds(model):
    ts = model.tensors
    return [(T.OP_NAMES[o.kind], ts[o.output].name, "int8" if ts[o.output].dtype == F.DT_INT8 else "f32")
            for o in model.ops]


def test_float_first_layer(onnx6, f32_6, calib_dir):
    m = _int8(onnx6, calib_dir, float_layers=("conv1",))
    assert _kinds(m)[:3] == [("CONV2D", "conv1", "f32"), ("QUANTIZE", "conv1.q", "int8"), ("CONV2D", "conv2", "int8")]
    assert _kinds(m)[-1] == ("DENSE", "logits", "f32")
    conv1 = m.ops[0]
    assert [m.tensors[i].dtype for i in conv1.inputs] == [F.DT_FLOAT32] * 3  # source weights, unquantized
    assert dict(m.provenance)["float_layers"] == "conv1"
    # conv1 is bit-identical to the float model's conv1
    x = reference.load_input(m, next(calib_dir.glob("*.png")))
    a, b = reference.run(m, x, record=True), reference.run(f32_6, x, record=True)
    assert np.array_equal(a["conv1"], b["conv1"])


def test_float_last_layer(onnx6, calib_dir):
    m = _int8(onnx6, calib_dir, float_layers=("logits",))
    k = _kinds(m)
    assert k[-2:] == [("DEQUANTIZE", "dense1.dq", "f32"), ("DENSE", "logits", "f32")]
    assert k[0] == ("QUANTIZE", "input.q", "int8")
    dense = m.ops[-1]
    assert m.tensors[dense.inputs[1]].dtype == F.DT_FLOAT32


def test_float_middle_layer_has_quantize_and_dequantize(onnx6, calib_dir):
    k = _kinds(_int8(onnx6, calib_dir, float_layers=("conv2",)))
    i = k.index(("CONV2D", "conv2", "f32"))
    assert k[i - 1] == ("DEQUANTIZE", "conv1.dq", "f32")
    assert k[i + 1] == ("MAXPOOL2D", "pool1", "f32")  # a pool keeps its input's precision
    assert k[i + 2] == ("QUANTIZE", "pool1.q", "int8")


def test_float_layers_errors(onnx6, calib_dir):
    with pytest.raises(ValueError, match="no layer named nope"):
        convert.convert(onnx6, "int8", calib=calib_dir, float_layers=("nope",))
