"""End to end against the Swift runtime: `roentgen classify --json MODEL PATHS...`.

int8: the Swift logits must equal the numpy reference's bit for bit (as float32).
f32: the Swift probabilities must be within 1e-4 of onnxruntime.
SVM head (int8): the Swift decision values must equal the reference's bit for bit.
Models: the committed trained ones (fixtures/models/cnn*, svm*) and seeded random CNNs.
This test never skips: a missing binary is a failure (build it with `swift build -c release`).
"""
import functools
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from cnn_factory import random_cnn
from conftest import REPO, TRAINED, trained_images
from roentgen_tools import convert
from roentgen_tools.reference import executor as reference
from roentgen_tools.fileformat import read_model, write_model

E2E_SEEDS = [101, 202, 303, 404, 505, 606]
REQUIRED = {"path", "label", "index", "probabilities", "logits", "latency_ms"}


def roentgen_bin() -> Path:
    p = Path(os.environ.get("ROENTGEN_BIN", ".build/release/roentgen"))
    if not p.is_absolute():
        p = REPO / p
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(f"Swift binary not found at {p}: run `swift build -c release` in {REPO} "
                    "or set ROENTGEN_BIN", pytrace=False)
    return p


def swift_classify(model_path, paths, expect_ok=True, extra=(), rows_expected=None):
    cmd = [str(roentgen_bin()), "classify", "--json", *extra, str(model_path), *map(str, paths)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if expect_ok:
        assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}"
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    n = len(paths) if rows_expected is None else rows_expected
    assert len(rows) == n, f"expected {n} JSON lines, got {len(rows)}:\n{r.stdout}\n{r.stderr}"
    return rows, r


@functools.lru_cache(maxsize=4)
def ort_session(onnx_path):
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    has_softmax = any(n.op_type == "Softmax" for n in __import__("onnx").load(str(onnx_path)).graph.node)
    return sess, has_softmax


def ort_probs(onnx_path, x_nhwc):
    sess, has_softmax = ort_session(str(onnx_path))
    out = sess.run(None, {sess.get_inputs()[0].name: x_nhwc.transpose(0, 3, 1, 2)})[0].reshape(-1)
    return out.astype(np.float64) if has_softmax else reference.softmax(out)


def check_pair(tag, onnx_path, int8_path, f32_path, images):
    q, f = read_model(int8_path), read_model(f32_path)
    rows, _ = swift_classify(int8_path, images)
    for img, row in zip(images, rows):
        assert REQUIRED <= set(row), f"{tag}: missing keys {REQUIRED - set(row)} in {row}"
        assert row["path"] == str(img), f"{tag}: path {row['path']!r} != {str(img)!r}"
        want = reference.classify(q, img)
        got = np.asarray(row["logits"], dtype=np.float64).astype(np.float32)
        exp = np.asarray(want["logits"], dtype=np.float64).astype(np.float32)
        assert got.shape == exp.shape and np.array_equal(got, exp), (
            f"{tag} int8 {img}: Swift logits differ from the reference at "
            f"{np.flatnonzero(got != exp).tolist()}: {got} vs {exp}")
        assert row["index"] == want["index"] and row["label"] == want["label"], f"{tag} int8 {img}"
        assert np.abs(np.asarray(row["probabilities"]) - want["probabilities"]).max() < 1e-12, f"{tag} {img}"
        assert row["uncertain"] == want["uncertain"], f"{tag} {img}"
    rows, _ = swift_classify(f32_path, images)
    for img, row in zip(images, rows):
        assert REQUIRED <= set(row), f"{tag}: missing keys in {row}"
        want = ort_probs(onnx_path, reference.load_input(f, img))
        if f.confidence is not None:   # softmax(l / T) = p^(1/T), renormalized
            want = want ** (1.0 / f.confidence.temperature)
            want /= want.sum()
        got = np.asarray(row["probabilities"], dtype=np.float64)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4, (
            f"{tag} f32 {img}: max |Swift - onnxruntime| = {np.abs(got - want).max():.3g}")


def test_trained_model(tmp_path):
    """The shipped trained Table-2 network: cnn-int8.rtg bit-exact against the reference and
    cnn-f32.rtg within 1e-4 of onnxruntime (cnn.onnx), over fixtures/images and fixtures/heldout;
    plus a fresh conversion of cnn.onnx with the same normalisation."""
    roentgen_bin()  # fail fast, before converting
    onnx_path = TRAINED / "cnn.onnx"
    images = trained_images()
    assert len(images) == 45, len(images)
    # the committed models are what the Swift unit tests use
    check_pair("cnn (committed)", onnx_path, TRAINED / "cnn-int8.rtg", TRAINED / "cnn-f32.rtg", images)
    spec = read_model(TRAINED / "cnn-int8.rtg").input
    norm = dict(mean=list(spec.mean), std=list(spec.std))
    write_model(convert.convert(onnx_path, "int8", calib=REPO / "fixtures" / "calib", **norm), tmp_path / "t-int8.rtg")
    write_model(convert.convert(onnx_path, "f32", **norm), tmp_path / "t-f32.rtg")
    check_pair("cnn (fresh conversion)", onnx_path, tmp_path / "t-int8.rtg", tmp_path / "t-f32.rtg", images[:12])


def svm_keys_ok(model, row) -> bool:
    """SPEC "SVM head": decision values always; probabilities (and uncertain) only with CONFIDENCE."""
    calibrated = model.confidence is not None
    return "decision_values" in row and "logits" not in row and ("probabilities" in row) == calibrated \
        and ("uncertain" in row) == calibrated


def test_trained_svm_model():
    """svm-int8.rtg: `decision_values` (and probabilities over its temperature) from Swift equal
    roentgen-reference's, bit for bit (the probabilities to 1e-12); svm-f32.rtg gives the same
    kind of output."""
    images = trained_images()
    q = read_model(TRAINED / "svm-int8.rtg")
    rows, _ = swift_classify(TRAINED / "svm-int8.rtg", images)
    for img, row in zip(images, rows):
        assert row["path"] == str(img)
        assert svm_keys_ok(q, row), row
        want = reference.classify(q, img)
        if q.confidence is not None:
            assert np.abs(np.asarray(row["probabilities"]) - want["probabilities"]).max() < 1e-12, img
            assert row["uncertain"] == want["uncertain"], img
        got = np.asarray(row["decision_values"], dtype=np.float64).astype(np.float32)
        exp = np.asarray(want["decision_values"], dtype=np.float64).astype(np.float32)
        assert got.shape == exp.shape == (len(q.labels),) and np.array_equal(got, exp), (
            f"svm int8 {img}: Swift decision values differ from the reference at "
            f"{np.flatnonzero(got != exp).tolist()}: {got} vs {exp}")
        assert row["index"] == want["index"] and row["label"] == want["label"], img
    f = read_model(TRAINED / "svm-f32.rtg")
    rows, _ = swift_classify(TRAINED / "svm-f32.rtg", images[:12])
    for img, row in zip(images[:12], rows):
        assert svm_keys_ok(f, row), row
        want = reference.classify(f, img)
        got, exp = np.asarray(row["decision_values"]), np.asarray(want["decision_values"])
        assert got.shape == exp.shape and np.abs(got - exp).max() < 1e-3 * max(1.0, np.abs(exp).max()), img


@pytest.mark.parametrize("seed", E2E_SEEDS)
def test_random_cnn(tmp_path, calib_dir, seed):
    roentgen_bin()
    model, desc = random_cnn(seed)
    onnx_path = tmp_path / f"cnn{seed}.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    write_model(convert.convert(onnx_path, "int8", calib=calib_dir), tmp_path / "q.rtg")
    write_model(convert.convert(onnx_path, "f32"), tmp_path / "f.rtg")
    check_pair(f"seed {seed} ({desc})", onnx_path, tmp_path / "q.rtg", tmp_path / "f.rtg",
               sorted(calib_dir.glob("*.png")))


def test_bad_image_reported(tmp_path, calib_dir):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    good = sorted(calib_dir.glob("*.png"))[0]
    model = TRAINED / "cnn-int8.rtg"
    rows, r = swift_classify(model, [good, bad], expect_ok=False)
    assert REQUIRED <= set(rows[0]), rows[0]
    assert set(rows[1]) == {"path", "error"} and rows[1]["path"] == str(bad), rows[1]
    assert r.returncode != 0, "a failed image must give a nonzero exit status (like roentgen-reference)"


# Graphs of format 2.0, each block family at least once, both exporters: the Swift runtime must
# equal the numpy reference bit for bit (int8) and ONNX Runtime to 1e-4 (f32).
DAG_CASES = [
    (11, "torchscript", ("residual", "inverted", "squeeze_excite")),
    (12, "dynamo", ("concat", "avgpool", "maxpool")),
    (13, "torchscript", ("grouped_dilated", "activations", "relu_skip")),
    (14, "dynamo", ("pad_conv", "affine", "residual")),
]


@pytest.mark.parametrize("seed,exporter,blocks", DAG_CASES)
def test_random_dag(tmp_path, calib_dir, seed, exporter, blocks):
    from cnn_factory import export_onnx, random_dag
    roentgen_bin()
    net, desc = random_dag(seed, blocks=blocks)
    onnx_path = export_onnx(net, tmp_path / f"dag{seed}.onnx", desc["channels"], desc["hw"], exporter)
    write_model(convert.convert(onnx_path, "int8", calib=calib_dir), tmp_path / "q.rtg")
    write_model(convert.convert(onnx_path, "f32"), tmp_path / "f.rtg")
    check_pair(f"dag seed {seed} {exporter} ({desc})", onnx_path, tmp_path / "q.rtg", tmp_path / "f.rtg",
               sorted(calib_dir.glob("*.png"))[:6])


def test_confidence_section(tmp_path):
    """A CONFIDENCE section (SPEC 2.1): Swift's probabilities are the softmax over the temperature
    (1e-12 of the reference's), `uncertain` is the reference's, `--min-confidence` overrides the
    file's threshold (0: nothing uncertain, 0.999: everything), and an SVM gets probabilities."""
    from roentgen_tools.fileformat import Confidence
    images = trained_images()[:10]
    for name in ("cnn-int8.rtg", "svm-int8.rtg"):
        m = read_model(TRAINED / name)
        want0 = [reference.classify(m, img) for img in images]
        scores = np.array([w.get("logits", w.get("decision_values")) for w in want0], np.float64)
        # a temperature and threshold that make some images uncertain and some not
        t = float(np.float32(np.std(scores) + 0.5))
        tops = sorted(reference.softmax(row, t).max() for row in scores)
        m.confidence = Confidence(t, float(np.float32((tops[4] + tops[5]) / 2)))
        path = tmp_path / f"conf-{name}"
        write_model(m, path)
        m = read_model(path)
        rows, _ = swift_classify(path, images)
        flags = []
        for img, row in zip(images, rows):
            want = reference.classify(m, img)
            assert list(want) == ["path", "label", "index", "uncertain", "probabilities",
                                  "decision_values" if "svm" in name else "logits"], want
            assert np.abs(np.asarray(row["probabilities"]) - want["probabilities"]).max() < 1e-12, (name, img)
            assert abs(row["probability"] - want["probabilities"][want["index"]]) < 1e-12
            assert row["uncertain"] == want["uncertain"], (name, img, row["probability"], m.confidence)
            flags.append(row["uncertain"])
        assert True in flags and False in flags, (name, flags, tops)
        rows, _ = swift_classify(path, images, extra=("--min-confidence", "0"))
        assert not any(r["uncertain"] for r in rows)
        rows, _ = swift_classify(path, images, extra=("--min-confidence", "0.999"))
        assert all(r["uncertain"] for r in rows)
        text = subprocess.run([str(roentgen_bin()), "classify", "--min-confidence", "0.999", str(path), str(images[0])],
                              capture_output=True, text=True, timeout=120)
        assert text.returncode == 0 and "\tuncertain (best guess " in text.stdout, text.stdout
        info = json.loads(subprocess.run([str(roentgen_bin()), "inspect", "--json", str(path)], capture_output=True,
                                         text=True, timeout=120).stdout)
        assert info["format_version"] == "2.2" and info["confidence"]["temperature"] == np.float32(t)


def test_reject_section(tmp_path):
    """A REJECT class (SPEC 2.2): Swift and the reference name the best other class and agree on
    `uncertain`, which is set whenever the reject class is at least as likely as that class."""
    from roentgen_tools.fileformat import Confidence
    images = trained_images()[:12]
    m = read_model(TRAINED / "cnn-int8.rtg")
    outs = [reference.classify(m, img) for img in images]
    # the reject class: the one most often first or second, so it wins on some images, not all
    order = [np.argsort(w["logits"])[::-1] for w in outs]
    votes = np.bincount([o[k] for o in order for k in (0, 1)], minlength=len(m.labels))
    r = int(np.argmax(votes))
    m.confidence = Confidence(1.0, 0.0, r)
    path = tmp_path / "reject.rtg"
    write_model(m, path)
    m = read_model(path)
    rows, _ = swift_classify(path, images)
    won = []
    for img, row, o in zip(images, rows, order):
        want = reference.classify(m, img)
        assert row["index"] == want["index"] != r, (img, row["index"], want["index"], r)
        assert row["index"] == next(int(i) for i in o if i != r)
        assert row["uncertain"] == want["uncertain"] == (o[0] == r), (img, row, want)
        won.append(o[0] == r)
    assert True in won and False in won, won
    info = json.loads(subprocess.run([str(roentgen_bin()), "inspect", "--json", str(path)], capture_output=True,
                                     text=True, timeout=120).stdout)
    assert info["confidence"]["reject_class"] == r


def test_dicom_inputs_are_classified(tmp_path):
    """`classify` takes DICOM files by content (no extension needed) and reports their header
    fields; a broken .dcm is one error line naming the file while the others are still classified."""
    import shutil
    from pydicom.data import get_testdata_file
    folder = tmp_path / "pacs-export"
    folder.mkdir()
    shutil.copyfile(get_testdata_file("CT_small.dcm"), folder / "IM0001")          # no extension
    shutil.copyfile(get_testdata_file("MR_small_bigendian.dcm"), folder / "IM0002")
    (folder / "broken.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:2000])
    (folder / "notes.txt").write_text("not an image")
    shutil.copyfile(trained_images()[0], folder / "film.png")
    rows, r = swift_classify(TRAINED / "cnn-int8.rtg", [folder], expect_ok=False, rows_expected=4)
    assert r.returncode == 1
    by_name = {Path(row["path"]).name: row for row in rows}
    assert sorted(by_name) == ["IM0001", "IM0002", "broken.dcm", "film.png"], rows
    assert "error" in by_name["broken.dcm"] and "ends inside" in by_name["broken.dcm"]["error"]  # truncated
    ct = by_name["IM0001"]["dicom"]
    assert ct["modality"] == "CT" and ct["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    assert ct["sop_instance_uid"].startswith("1.3.6.1.4.1.5962")
    assert by_name["IM0002"]["dicom"]["transfer_syntax_uid"] == "1.2.840.10008.1.2.2"
    assert "dicom" not in by_name["film.png"] and "label" in by_name["film.png"]
    windowed, _ = swift_classify(TRAINED / "cnn-int8.rtg", [folder / "IM0001"], extra=("--window", "40,400"))
    full, _ = swift_classify(TRAINED / "cnn-int8.rtg", [folder / "IM0001"], extra=("--full-range",))
    assert windowed[0]["logits"] != full[0]["logits"]   # the window reaches the input tensor


def test_preprocess_writes_the_input_tensor(tmp_path):
    """`roentgen preprocess MODEL IMAGE --npy OUT`: for a PNG the very bits the reference feeds the
    model (SPEC INPUT); for a DICOM the same shape, in the model's normalized range."""
    from pydicom.data import get_testdata_file
    for model in ("cnn-int8.rtg", "svm-int8.rtg"):
        m = read_model(TRAINED / model)
        for img in trained_images()[:3]:
            out = tmp_path / "x.npy"
            r = subprocess.run([str(roentgen_bin()), "preprocess", str(TRAINED / model), str(img), "--npy", str(out)],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            got, want = np.load(out), np.asarray(reference.load_input(m, img), np.float32)
            assert got.shape == (1, m.input.height, m.input.width, m.input.channels) == want.shape
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (model, img)
    out = tmp_path / "ct.npy"
    r = subprocess.run([str(roentgen_bin()), "preprocess", str(TRAINED / "cnn-int8.rtg"), get_testdata_file("CT_small.dcm"),
                        "--npy", str(out), "--window", "40,400"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ct = np.load(out)
    assert ct.shape == (1, 128, 128, 1) and 0 <= ct.min() < ct.max() <= 1
    bad = subprocess.run([str(roentgen_bin()), "preprocess", str(TRAINED / "cnn-int8.rtg"), str(tmp_path / "none.png"),
                          "--npy", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "none.png" in bad.stderr
