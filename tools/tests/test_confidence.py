"""Temperature scaling and the uncertainty threshold (training/confidence.py, SPEC "CONFIDENCE"),
and `roentgen-convert --temperature / --min-confidence`."""
import subprocess
import sys

import numpy as np
import pytest

from roentgen_tools.fileformat import read_model
from roentgen_tools.reference import executor as reference
from roentgen_tools.training import confidence


def _sample(t_true, n=4000, classes=5, seed=0):
    """Scores whose labels are drawn from softmax(scores / t_true): t_true is the right temperature."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 3, (n, classes))
    p = confidence.softmax(scores, t_true)
    y = np.array([rng.choice(classes, p=row) for row in p])
    return scores, y


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature(t_true):
    scores, y = _sample(t_true)
    t = confidence.fit_temperature(scores, y)
    assert abs(np.log(t / t_true)) < 0.1, (t, t_true)
    assert t == float(np.float32(t))   # what the file can hold


def test_calibration_lowers_ece_and_nll():
    scores, y = _sample(3.0, seed=1)   # the raw scores are over-confident by 3x
    c = confidence.calibrate(scores, y)
    assert c["nll_after"] < c["nll_before"] and c["ece_after"] < c["ece_before"] / 2, c
    top = confidence.softmax(scores, c["temperature"]).max(1)
    assert abs((top < c["min_confidence"]).mean() - confidence.QUANTILE) < 0.01


def test_ece_of_a_perfectly_calibrated_and_a_wrong_model():
    y = np.array([0, 1, 0, 1])
    assert confidence.ece(np.array([[1.0, 0.0], [0.0, 1.0]] * 2), y) == 0.0
    assert abs(confidence.ece(np.array([[0.0, 1.0], [1.0, 0.0]] * 2), y) - 1.0) < 1e-12


def test_convert_writes_the_confidence(tmp_path, small_onnx):
    trained_onnx = small_onnx
    out = tmp_path / "m.rtg"
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(trained_onnx), "-o", str(out),
                        "--precision", "f32", "--temperature", "2.5", "--min-confidence", "0.4", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = read_model(out)
    assert (m.confidence.temperature, np.float32(m.confidence.min_confidence)) == (2.5, np.float32(0.4))
    assert reference.threshold(m) == float(np.float32(0.4)) and reference.threshold(m, 0.9) == 0.9
    bad = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(trained_onnx), "-o", str(tmp_path / "x.rtg"),
                          "--precision", "f32", "--min-confidence", "0.4"], capture_output=True, text=True)
    assert bad.returncode == 1 and "--min-confidence and --reject-class need --temperature" in bad.stderr
    labels = m.labels
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(trained_onnx), "-o", str(out),
                        "--precision", "f32", "--temperature", "2.5", "--reject-class", labels[1], "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_model(out).confidence.reject_class == 1
    bad = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(trained_onnx), "-o", str(tmp_path / "x.rtg"),
                          "--precision", "f32", "--temperature", "2.5", "--reject-class", "no-such-label"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "--reject-class 'no-such-label' is not one of the labels" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(trained_onnx), "-o", str(tmp_path / "x.rtg"),
                          "--precision", "f32", "--temperature", "0"], capture_output=True, text=True)
    assert bad.returncode == 1 and "confidence.temperature" in bad.stderr, bad.stderr
