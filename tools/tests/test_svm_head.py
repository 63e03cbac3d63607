"""SPEC "SVM head": feature CNN + linear SVM in one file (output_kind 1, decision values)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cnn_factory import random_cnn, write_images
import roentgen_tools.fileformat as F
from roentgen_tools.reference import executor as reference
from roentgen_tools import svm_head
from roentgen_tools.fileformat import OP_DENSE, OP_MAXPOOL2D, OUTPUT_SVM, read_bytes, serialize
from roentgen_tools.frontend.onnx_import import load

CLASSES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def feat(tmp_path_factory):
    d = tmp_path_factory.mktemp("svmhead")
    model, _ = random_cnn(11)
    onnx_path = d / "features.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    net = load(onnx_path)
    idx = max(i for i, L in enumerate(net.layers) if L.kind in ("conv", "pool"))
    imgs = write_images(d / "imgs", seed=4, count=12)
    return d, onnx_path, net, net.layers[idx].name, imgs


def _svm(d, onnx_path, net, layer, pool, seed=0):
    layers = svm_head.feature_layers(net, svm_head.find_layer(net, layer), pool)
    k = svm_head.feature_dim(layers)
    r = np.random.default_rng(seed)
    w, b = r.normal(0, 1, (len(CLASSES), k)), r.normal(0, 0.5, len(CLASSES))
    p = d / f"svm-{pool}.npz"
    svm_head.save_svm(p, w, b, CLASSES, layer, pool, onnx_path, {"C": 0.1})
    return p, layers, w, b


def _features(layers, model, img):
    from roentgen_tools.training.models import NetworkRunner
    x = reference.load_input(model, img)
    return NetworkRunner(layers)(x).reshape(-1).astype(np.float64)


def test_fold_scaler_equals_sklearn_pipeline():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    r = np.random.default_rng(0)
    x = r.normal(3, [1, 5, 0.1, 2, 7], (120, 5))
    x[:, 2] = 1.5  # a constant feature: scale 0 must not divide by zero
    y = (x[:, 0] + x[:, 1] / 5 > 3.2).astype(int) + (x[:, 3] > 3)
    sc = StandardScaler().fit(x)
    clf = LinearSVC(C=1.0, dual="auto").fit(sc.transform(x), y)
    w, b = svm_head.fold_scaler(clf.coef_, clf.intercept_, sc.mean_, sc.scale_)
    np.testing.assert_allclose(x @ w.T + b, clf.decision_function(sc.transform(x)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pool", ["flatten", "max"])
def test_f32_svm_model_gives_decision_values(feat, pool):
    d, onnx_path, net, layer, imgs = feat
    p, layers, w, b = _svm(d, onnx_path, net, layer, pool)
    model = read_bytes(serialize(svm_head.convert_svm(onnx_path, p, "f32", created="2026-01-01T00:00:00Z")))
    assert model.input.output_kind == OUTPUT_SVM
    assert model.labels == CLASSES
    assert model.tensors[model.input.output_tensor].name == "decision_values"
    last = model.ops[-1]
    assert last.kind == OP_DENSE and last.activation == 0
    if pool == "max":
        gp = model.ops[-2]
        fm = model.tensors[gp.inputs[0]].dims
        assert gp.kind == OP_MAXPOOL2D and gp.kernel == (fm[1], fm[2]) and gp.stride == (1, 1)
        assert model.tensors[gp.output].dims == (1, 1, 1, fm[3])
    prov = dict(model.provenance)
    assert prov["head"] == "linear_svm" and prov["features_pool"] == pool and prov["features_layer"] == layer
    for img in imgs[:4]:
        dv = reference.run(model, reference.load_input(model, img)).reshape(-1)
        f = _features(layers, model, img)
        np.testing.assert_allclose(dv, f @ w.T + b, rtol=1e-4, atol=1e-3 * (1 + np.abs(f @ w.T).max()))


def test_int8_svm_model_tracks_float(feat, tmp_path):
    d, onnx_path, net, layer, imgs = feat
    p, layers, w, b = _svm(d, onnx_path, net, layer, "flatten", seed=1)
    calib = tmp_path / "calib"
    write_images(calib, seed=9, count=8)
    m8 = read_bytes(serialize(svm_head.convert_svm(onnx_path, p, "int8", calib=calib)))
    m32 = read_bytes(serialize(svm_head.convert_svm(onnx_path, p, "f32")))
    assert m8.input.output_kind == OUTPUT_SVM and m8.precision == "int8"
    last = m8.ops[-1]
    assert last.kind == OP_DENSE
    assert m8.tensors[last.inputs[0]].dtype == F.DT_INT8 and m8.tensors[last.output].dtype == F.DT_FLOAT32
    assert m8.tensors[last.inputs[3]].name == "svm.out_scale"
    a = np.concatenate([reference.run(m8, reference.load_input(m8, i)).reshape(-1) for i in imgs])
    f = np.concatenate([reference.run(m32, reference.load_input(m32, i)).reshape(-1) for i in imgs])
    assert np.corrcoef(a, f)[0, 1] > 0.98
    assert np.abs(a - f).max() < 0.2 * np.abs(f).max()


def test_reference_cli_reports_decision_values(feat, tmp_path):
    d, onnx_path, net, layer, imgs = feat
    p, *_ = _svm(d, onnx_path, net, layer, "max")
    out = tmp_path / "svm.rtg"
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(onnx_path), "--svm", str(p),
                        "-o", str(out), "--precision", "int8", "--calib", str(d / "imgs"), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(out), str(imgs[0]), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert set(j) == {"path", "label", "index", "decision_values"}
    assert len(j["decision_values"]) == len(CLASSES)
    assert j["index"] == int(np.argmax(j["decision_values"])) and j["label"] == CLASSES[j["index"]]
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(out), str(imgs[0])],
                       capture_output=True, text=True)
    assert "decision value" in r.stdout


def test_convert_rejects_svm_of_other_features_and_bad_layers(feat, tmp_path):
    d, onnx_path, net, layer, _ = feat
    p, *_ = _svm(d, onnx_path, net, layer, "flatten")
    other_model, _ = random_cnn(12)
    other = tmp_path / "other.onnx"
    other.write_bytes(other_model.SerializeToString())
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(other), "--svm", str(p),
                        "-o", str(tmp_path / "x.rtg"), "--precision", "f32"], capture_output=True, text=True)
    assert r.returncode == 1 and "fitted on features of another model" in r.stderr
    assert not (tmp_path / "x.rtg").exists()
    with pytest.raises(svm_head.SvmHeadError, match="not found; layers: "):
        svm_head.find_layer(net, "nope")
    with pytest.raises(svm_head.SvmHeadError, match="classifier output"):
        svm_head.feature_layers(net, len(net.layers) - 1, "flatten")
    with pytest.raises(svm_head.SvmHeadError, match="do not fit"):
        svm_head.svm_network(net, layer, "flatten", np.zeros((3, 5)), np.zeros(3))


def test_output_kind_round_trip_and_unknown_kind_rejected(feat):
    d, onnx_path, net, layer, _ = feat
    p, *_ = _svm(d, onnx_path, net, layer, "flatten")
    data = bytearray(serialize(svm_head.convert_svm(onnx_path, p, "f32")))
    assert read_bytes(bytes(data)).input.output_kind == 1
    m = read_bytes(bytes(data))
    m.input.output_kind = 2
    with pytest.raises(F.FormatError, match="output_kind"):
        read_bytes(serialize(m))
