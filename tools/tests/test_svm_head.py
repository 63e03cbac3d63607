"""SPEC "SVM head": feature CNN + linear SVM in one file (output_kind 1, decision values)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cnn_factory import export_onnx, random_cnn, write_images
from conftest import REPO
from roentgen_tools import convert, svm_head
from roentgen_tools.fileformat import (DT_FLOAT32, DT_INT8, OUTPUT_SVM, FormatError, read_bytes, read_model,
                                       serialize)
from roentgen_tools.fileformat import ops as T
from roentgen_tools.reference import executor as reference
from roentgen_tools.training.features import OnnxFeatures

CLASSES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def feat(tmp_path_factory):
    d = tmp_path_factory.mktemp("svmhead")
    model, _ = random_cnn(11)
    onnx_path = d / "features.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    graph = convert.load_graph(onnx_path)
    layer = [n.name for n in graph.nodes if len(graph.shape(n.output)) == 4][-1]
    imgs = write_images(d / "imgs", seed=4, count=12)
    return d, onnx_path, graph, layer, imgs


def _svm(d, onnx_path, graph, layer, pool, seed=0):
    k = svm_head.feature_dim(svm_head.feature_graph(graph, layer, pool))
    r = np.random.default_rng(seed)
    w, b = r.normal(0, 1, (len(CLASSES), k)), r.normal(0, 0.5, len(CLASSES))
    p = d / f"svm-{pool}-{seed}.npz"
    svm_head.save_svm(p, w, b, CLASSES, layer, pool, onnx_path, {"C": 0.1})
    return p, w, b


def _features(onnx_path, graph, layer, pool, model, imgs):
    """What roentgen-train fits the SVM on: ONNX Runtime's value of the cut layer."""
    x = np.concatenate([reference.load_input(model, i) for i in imgs])
    return OnnxFeatures(onnx_path, svm_head.feature_tensor(graph, layer)[0], pool)(x)


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


@pytest.mark.parametrize("pool", svm_head.POOLS)
def test_f32_svm_model_gives_decision_values(feat, pool):
    d, onnx_path, graph, layer, imgs = feat
    p, w, b = _svm(d, onnx_path, graph, layer, pool)
    model = read_bytes(serialize(convert.convert_svm(onnx_path, p, "f32", created="2026-01-01T00:00:00Z")))
    assert model.input.output_kind == OUTPUT_SVM
    assert model.labels == CLASSES
    assert model.tensors[model.input.output_tensor].name == "decision_values"
    last = model.ops[-1]
    assert last.kind == T.OP_DENSE and last.attrs["alpha"] == 1.0 and model.tensors[last.inputs[1]].name == "svm.weight"
    if pool != "flatten":
        gp = model.ops[-2]
        fm = model.tensors[gp.inputs[0]].dims
        assert model.tensors[gp.inputs[0]].name == layer and model.tensors[gp.output].dims == (1, 1, 1, fm[3])
        if pool == "max":
            assert gp.kind == T.OP_MAXPOOL2D and (gp.attrs["kernel_h"], gp.attrs["kernel_w"]) == fm[1:3]
        else:
            assert gp.kind == T.OP_MEAN
    else:
        assert model.tensors[last.inputs[0]].name == layer
    prov = dict(model.provenance)
    assert prov["head"] == "linear_svm" and prov["features_pool"] == pool and prov["features_layer"] == layer
    f = _features(onnx_path, graph, layer, pool, model, imgs[:4])
    for img, fi in zip(imgs[:4], f):
        dv = reference.run(model, reference.load_input(model, img)).reshape(-1)
        np.testing.assert_allclose(dv, fi @ w.T + b, rtol=1e-4, atol=1e-4 * (1 + np.abs(fi @ w.T).max()))


def test_int8_svm_model_tracks_float_with_calibration_options(feat, tmp_path):
    d, onnx_path, graph, layer, imgs = feat
    p, w, b = _svm(d, onnx_path, graph, layer, "flatten", seed=1)
    calib = tmp_path / "calib"
    write_images(calib, seed=9, count=8)
    first = graph.nodes[0].name
    m8 = read_bytes(serialize(convert.convert_svm(onnx_path, p, "int8", calib=calib, calib_method="percentile",
                                                  percentile=99.9, float_layers=(first,))))
    m32 = read_bytes(serialize(convert.convert_svm(onnx_path, p, "f32")))
    assert m8.input.output_kind == OUTPUT_SVM and m8.precision == "int8"
    prov = dict(m8.provenance)
    assert prov["calibration"] == "percentile" and prov["calibration_params"].startswith("percentile=99.9;")
    assert prov["float_layers"] == first and m8.tensors[m8.ops[0].output].dtype == DT_FLOAT32
    last = m8.ops[-1]
    assert last.kind == T.OP_DENSE
    assert m8.tensors[last.inputs[0]].dtype == DT_INT8 and m8.tensors[last.output].dtype == DT_FLOAT32
    assert m8.tensors[last.inputs[3]].name == "svm.out_scale"
    a = np.concatenate([reference.run(m8, reference.load_input(m8, i)).reshape(-1) for i in imgs])
    f = np.concatenate([reference.run(m32, reference.load_input(m32, i)).reshape(-1) for i in imgs])
    assert np.corrcoef(a, f)[0, 1] > 0.98
    assert np.abs(a - f).max() < 0.2 * np.abs(f).max()


def test_feature_extractor_cut_at_its_last_node(tmp_path):
    """A network exported without a head: the SVM reads its final feature map, named by the ONNX node."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2), nn.Hardswish()).eval()
    onnx_path = export_onnx(net, tmp_path / "extractor.onnx", 1, (12, 12))
    import onnx
    last_node = onnx.load(str(onnx_path)).graph.node[-1].name
    graph = convert.load_graph(onnx_path)
    assert svm_head.find_layer(graph, last_node) is graph.nodes[-1]
    r = np.random.default_rng(2)
    w, b = r.normal(0, 1, (3, 6)), r.normal(0, 1, 3)
    p = tmp_path / "svm.npz"
    svm_head.save_svm(p, w, b, ["x", "y", "z"], last_node, "mean", onnx_path)
    m = read_bytes(serialize(convert.convert_svm(onnx_path, p, "f32")))
    imgs = write_images(tmp_path / "imgs", seed=3, count=3)
    f = _features(onnx_path, graph, last_node, "mean", m, imgs)
    for img, fi in zip(imgs, f):
        np.testing.assert_allclose(reference.run(m, reference.load_input(m, img)).reshape(-1), fi @ w.T + b,
                                   rtol=1e-4, atol=1e-5)


def test_cli_svm_without_quiet_and_reference_decision_values(feat, tmp_path):
    d, onnx_path, graph, layer, imgs = feat
    p, *_ = _svm(d, onnx_path, graph, layer, "max")
    out = tmp_path / "svm.rtg"
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(onnx_path), "--svm", str(p),
                        "-o", str(out), "--precision", "int8", "--calib", str(d / "imgs"), "--calib-method", "entropy"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "calibration (entropy)" in r.stdout and "decision_values" in r.stdout and f"wrote {out}" in r.stdout
    assert dict(read_model(out).provenance)["calibration"] == "entropy"
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(onnx_path), "--svm", str(p),
                        "-o", str(tmp_path / "f.rtg"), "--precision", "f32"], capture_output=True, text=True)
    assert r.returncode == 0 and "wrote" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(out), str(imgs[0]), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert list(j) == ["path", "label", "index", "decision_values"]
    assert len(j["decision_values"]) == len(CLASSES)
    assert j["index"] == int(np.argmax(j["decision_values"])) and j["label"] == CLASSES[j["index"]]
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(out), str(imgs[0])],
                       capture_output=True, text=True)
    assert "decision value" in r.stdout


def test_committed_svm_fixture_converts(tmp_path):
    """fixtures/models/svm.npz names its backbone (EfficientNet-Lite0 at 224, cut at conv48, mean
    pool): it converts from the .npz alone, and the f32 file's decision values are the SVM's on
    ONNX Runtime's features of the same backbone."""
    from roentgen_tools import backbones
    svm_path = REPO / "fixtures/models/svm.npz"
    svm = svm_head.load_svm(svm_path)
    assert (svm["backbone"], svm["size"], svm["layer"], svm["pool"]) == ("efficientnet-lite0", 224, "conv48", "mean")
    m = read_bytes(serialize(convert.convert_svm(None, svm_path, "f32")))
    assert m.labels == svm["labels"] and dict(m.provenance)["backbone"] == "efficientnet-lite0"
    names = [m.tensors[o.output].name for o in m.ops]
    assert names[-3:] == ["conv48", "global_mean", "decision_values"]
    onnx_path = tmp_path / "features.onnx"
    backbones.export_features("efficientnet-lite0", onnx_path, 224)
    graph = convert.load_graph(onnx_path)
    imgs = sorted((REPO / "fixtures/images").glob("*.png"))[:2]
    f = _features(onnx_path, graph, "conv48", "mean", m, imgs)
    for img, fi in zip(imgs, f):
        dv = reference.run(m, reference.load_input(m, img)).reshape(-1)
        want = fi @ svm["weight"].T + svm["bias"]
        np.testing.assert_allclose(dv, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_convert_rejects_svm_of_other_features_and_bad_layers(feat, tmp_path):
    d, onnx_path, graph, layer, _ = feat
    p, *_ = _svm(d, onnx_path, graph, layer, "flatten")
    other_model, _ = random_cnn(12)
    other = tmp_path / "other.onnx"
    other.write_bytes(other_model.SerializeToString())
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(other), "--svm", str(p),
                        "-o", str(tmp_path / "x.rtg"), "--precision", "f32"], capture_output=True, text=True)
    assert r.returncode == 1 and "fitted on features of another model" in r.stderr
    assert not (tmp_path / "x.rtg").exists()
    with pytest.raises(svm_head.SvmHeadError, match="not found; layers: "):
        svm_head.find_layer(graph, "nope")
    with pytest.raises(svm_head.SvmHeadError, match="do not fit"):
        svm_head.svm_graph(graph, layer, "flatten", np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(svm_head.SvmHeadError, match="needs a feature map"):
        svm_head.feature_graph(graph, graph.nodes[-1].name, "max")


def test_output_kind_round_trip_and_unknown_kind_rejected(feat):
    d, onnx_path, graph, layer, _ = feat
    p, *_ = _svm(d, onnx_path, graph, layer, "flatten")
    data = serialize(convert.convert_svm(onnx_path, p, "f32"))
    m = read_bytes(data)
    assert m.input.output_kind == 1
    m.input.output_kind = 2
    with pytest.raises(FormatError, match="output_kind"):
        read_bytes(serialize(m))
