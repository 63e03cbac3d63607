"""Smoke test of both training approaches on a tiny generated DRR set: a few steps each, then
conversion to .rtg and classification with the numpy reference. Full training is not run here."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import sklearn  # noqa: F401  training needs torch and scikit-learn (tools/requirements.txt): fail, never skip
import torch  # noqa: F401

from roentgen_tools.data import ctdata

from roentgen_tools.data import drr

from roentgen_tools.reference import executor as reference

from roentgen_tools.training import train
from roentgen_tools.fileformat import OUTPUT_LOGITS, OUTPUT_SVM, read_model

CLASSES = ["chest_pa", "chest_lateral", "sternum_oblique"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    try:
        drr.get_model()
    except ctdata.CTDataError as e:
        pytest.fail(f"CT data unavailable: {e}")
    d = tmp_path_factory.mktemp("drr_smoke")
    drr.generate(d, seed=77, per_class=8, size=64, classes=CLASSES, workers=1)
    return d


@pytest.fixture(scope="module")
def cnn_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn")
    args = [str(data), "-o", str(out), "--batch-size", "8", "--max-steps", "2", "--calib-per-class", "1",
            "--val-fraction", "0.25", "--threads", "2"]
    assert train.main(["cnn", *args, "--epochs", "1"]) == 0
    return out, args


def test_cnn_outputs_and_metrics(cnn_run, capsys):
    out, _ = cnn_run
    for f in ("model.onnx", "model-int8.rtg", "model-f32.rtg", "labels.txt", "metrics.json", "confusion.csv",
              "report.txt", "history.csv", "split.csv", "checkpoint.pt", "best.pt", "metrics-int8.json"):
        assert (out / f).is_file(), f
    assert (out / "labels.txt").read_text().split() == sorted(CLASSES)
    m = json.loads((out / "metrics.json").read_text())
    assert m["approach"] == "cnn" and m["images"] == 6 and 0 <= m["accuracy"] <= 1
    assert set(m["recall"]) == set(CLASSES) and np.array(m["confusion"]).sum() == 6
    assert "int8_accuracy" in m
    with open(out / "split.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(r["split"] == "heldout" for r in rows) == 6 and len(rows) == 24
    assert len(list((out / "calib").glob("*.png"))) == 3


def test_cnn_resume_continues(cnn_run):
    out, args = cnn_run
    assert train.main(["cnn", *args, "--epochs", "2", "--resume", "--no-convert"]) == 0
    with open(out / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]


def test_cnn_model_classifies(cnn_run, data):
    out, _ = cnn_run
    img = next((data / "chest_pa").glob("*.png"))
    for precision in ("int8", "f32"):
        model = read_model(out / f"model-{precision}.rtg")
        assert model.input.output_kind == OUTPUT_LOGITS and model.labels == sorted(CLASSES)
        r = reference.classify(model, img)
        assert r["label"] in CLASSES and abs(sum(r["probabilities"]) - 1) < 1e-9


def test_svm_on_cnn_features(cnn_run, data, tmp_path):
    cnn_out, _ = cnn_run
    out = tmp_path / "svm"
    assert train.main(["svm", str(data), "--features", str(cnn_out / "model.onnx"), "--layer", "pool4",
                       "--pool", "max", "-o", str(out), "--C", "0.01", "1", "--folds", "2",
                       "--calib-per-class", "1", "--val-fraction", "0.25"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["approach"] == "svm" and m["C"] in (0.01, 1.0) and m["pool"] == "max"
    assert len(m["cv_accuracy"]) == 2 and "int8_accuracy" in m
    model = read_model(out / "model-int8.rtg")
    assert model.input.output_kind == OUTPUT_SVM and model.labels == sorted(CLASSES)
    img = next((data / "sternum_oblique").glob("*.png"))
    r = reference.classify(model, img)
    assert set(r) == {"path", "label", "index", "uncertain", "probabilities", "decision_values"}  # calibrated
    assert len(r["decision_values"]) == 3 and abs(sum(r["probabilities"]) - 1) < 1e-9
    # the f32 file's decision values are the SVM's, computed from the features by numpy
    from roentgen_tools.svm_head import load_svm
    svm = load_svm(out / "svm.npz")
    f32 = read_model(out / "model-f32.rtg")
    acts = reference.run(f32, reference.load_input(f32, img), record=True)
    feats = acts[f32.tensors[f32.ops[-1].inputs[0]].name].reshape(-1).astype(np.float64)
    np.testing.assert_allclose(acts["decision_values"].reshape(-1), svm["weight"] @ feats + svm["bias"],
                               rtol=1e-4, atol=1e-4)


def test_eval_command(cnn_run, data, capsys):
    out, _ = cnn_run
    assert train.main(["eval", str(out / "model.onnx"), str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert train.main(["eval", str(out / "model-int8.rtg"), str(data), "--json", str(out / "e.json")]) == 0
    assert json.loads((out / "e.json").read_text())["images"] == 24


def test_bad_data_is_an_error_not_a_crash(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("path,label\nnothing.png,a\n")
    assert train.main(["cnn", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "no usable images" in capsys.readouterr().err


def test_svm_on_the_imagenet_backbone(data, tmp_path):
    """Approach A as in the paper: EfficientNet-Lite0 (ImageNet weights, fetched by set-up, hash
    checked) cut at its global average pool, a linear SVM with C by cross-validation, the fitted
    temperature, one file; Swift's int8 decision values equal the reference's bit for bit."""
    from test_swift_e2e import swift_classify
    from roentgen_tools import backbones
    from roentgen_tools.data import ood
    out = tmp_path / "svm-lite0"
    ood.generate(tmp_path / "ood", seed=77, count=12, size=64)
    assert train.main(["svm", str(data), "--backbone", "efficientnet-lite0", "--size", "96", "-o", str(out),
                       "--C", "0.1", "1", "--folds", "2", "--calib-per-class", "1", "--val-fraction", "0.25",
                       "--reject-data", str(tmp_path / "ood"), "--skip-int8-eval"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["backbone"] == "efficientnet-lite0" and m["size"] == 96 and m["layer"] == "reshape1"
    assert m["confidence"]["temperature"] > 0 and 0 <= m["confidence"]["min_confidence"] < 1
    b = backbones.get("efficientnet-lite0")
    for precision in ("int8", "f32"):
        model = read_model(out / f"model-{precision}.rtg")
        assert model.input.output_kind == OUTPUT_SVM and model.labels == sorted(CLASSES + [ood.REJECT_LABEL])
        assert model.confidence.reject_class == model.labels.index(ood.REJECT_LABEL)
        assert (model.input.channels, model.input.height, model.input.width) == (1, 96, 96)
        assert np.float32(model.input.mean[0]) == np.float32(b.mean) and np.float32(model.input.std[0]) == np.float32(b.std)
        assert model.confidence.temperature == np.float32(m["confidence"]["temperature"])
        assert dict(model.provenance)["features_layer"] == "reshape1"
    # the .npz is the whole source: roentgen-convert re-exports the backbone from its weights
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", "--svm", str(out / "svm.npz"), "-o",
                        str(out / "again.rtg"), "--precision", "f32", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    again, f32 = read_model(out / "again.rtg"), read_model(out / "model-f32.rtg")
    assert [t.name for t in again.tensors] == [t.name for t in f32.tensors]
    assert all(np.array_equal(a.data, b.data) for a, b in zip(again.tensors, f32.tensors) if a.data is not None)
    prov = dict(again.provenance)
    assert prov["backbone"] == "efficientnet-lite0" and prov["source_sha256"] == b.weights_sha256
    q = read_model(out / "model-int8.rtg")
    images = sorted(data.glob("*/*.png"))[:4] + sorted((tmp_path / "ood").glob("*/*.png"))[:2]
    rows, _ = swift_classify(out / "model-int8.rtg", images)
    for img, row in zip(images, rows):
        want = reference.classify(q, img)
        assert [np.float32(v) for v in row["decision_values"]] == list(want["decision_values"]), img
        assert row["uncertain"] == want["uncertain"] and row["label"] == want["label"]


def test_backbone_is_the_imagenet_one(capsys):
    """The weights classify scikit-image's cat, coffee and rocket photos as ImageNet says."""
    assert train.main(["check-backbone", "efficientnet-lite0"]) == 0
    out = capsys.readouterr().out
    assert "ok   chelsea.png" in out and "ok   coffee.png" in out and "the ImageNet weights" in out
