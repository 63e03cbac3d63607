"""`roentgen verify` end to end with the Swift binary (env ROENTGEN_BIN, default
.build/release/roentgen): the gate, the report folder, a deliberately damaged layer named as the
worst, and mixed float/int8 models executed by the runtime exactly as roentgen-reference does."""
import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import png
import pytest

from cnn_factory import random_cnn, write_images
from conftest import REPO
from roentgen_tools import convert
from roentgen_tools.reference import executor as reference
from roentgen_tools.fileformat import read_model, serialize, write_atomic

BIN = Path(os.environ.get("ROENTGEN_BIN", REPO / ".build" / "release" / "roentgen"))
SEED = 6          # conv1, conv2, pool1, conv3, dense1, logits; its predictions vary with the image
DAMAGED = "conv2"
CLASSES = 5


def run(*args, check=None):
    assert BIN.exists(), f"{BIN} is missing: build it (swift build -c release) or set ROENTGEN_BIN"
    r = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=600)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    write_images(d / "calib", seed=1, count=12)
    for c in range(CLASSES):
        write_images(d / "data" / f"class_{c}", seed=100 + c, count=8)
    onnx_model, _ = random_cnn(SEED, classes=CLASSES)
    src = d / "m.onnx"
    src.write_bytes(onnx_model.SerializeToString())
    out = {"dir": d, "data": d / "data"}
    variants = {
        "f32": dict(precision="f32"),
        "int8": dict(),
        "damaged": dict(range_scale={DAMAGED: 0.1}),
        "percentile": dict(calib_method="percentile", percentile=99.9),
        "mixed_first": dict(float_layers=("conv1",)),
        "mixed_last": dict(float_layers=("logits",)),
    }
    for name, kw in variants.items():
        precision = kw.pop("precision", "int8")
        m = convert.convert(src, precision, calib=d / "calib" if precision == "int8" else None,
                            created="2026-01-01T00:00:00Z", **kw)
        write_atomic(d / f"{name}.rtg", serialize(m))
        out[name] = d / f"{name}.rtg"
    return out


def verify(models, int8, *extra, check=None):
    return run("verify", "--float", models["f32"], "--int8", models[int8], *extra, check=check)


def test_healthy_model_passes_and_writes_the_report(models, tmp_path):
    report = tmp_path / "report"
    r = verify(models, "int8", models["data"], "--json", "--report", report, check=0)
    s = json.loads(r.stdout)
    for key in ("agreement", "float_accuracy", "int8_accuracy", "worst_layer", "images_per_second"):
        assert key in s
    assert s["images"] == CLASSES * 8 and s["labelled_images"] == CLASSES * 8
    assert s["agreement"] == 1.0 and s["passed"] is True
    assert s["int8_accuracy"] == s["float_accuracy"]

    files = {p.name for p in report.iterdir()}
    assert {"report.json", "confusion.png", "confusion_float.csv", "confusion_int8.csv", "agreement.csv",
            "layers.csv", "disagreements.csv"} <= files
    full = json.loads((report / "report.json").read_text())
    assert full["agreement"] == s["agreement"] and full["worst_layer"] == s["worst_layer"]
    assert [l["name"] for l in full["layers"]] == ["input.q", "conv1", "conv2", "pool1", "conv3", "dense1", "logits"]
    assert all(l["images"] == CLASSES * 8 and -100 <= l["mean_sqnr_db"] <= 100 and l["mean_cosine"] <= 1 + 1e-9
               for l in full["layers"])
    assert len(full["per_class"]) == CLASSES
    assert full["int8_model"]["provenance"]["calibration"] == "minmax"
    rows = list(csv.reader(open(report / "confusion_int8.csv")))
    assert rows[0] == ["true\\predicted"] + [f"class_{i}" for i in range(CLASSES)]
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == CLASSES * 8
    w, h, pixels, info = png.Reader(filename=str(report / "confusion.png")).read()
    assert info["planes"] == 3 and w > 300 and h > 200
    # the picture has text in it: dark pixels left of the grid (the row labels)
    img = np.array([np.asarray(row, dtype=np.uint8) for row in pixels]).reshape(h, w, 3)
    assert (img[:, :60].min(axis=2) < 80).sum() > 50


def test_damaged_layer_is_named_worst_and_fails_the_gate(models, tmp_path):
    r = verify(models, "damaged", models["data"], "--json", "--report", tmp_path / "rep")
    assert r.returncode == 2, r.stderr
    s = json.loads(r.stdout)
    assert s["worst_layer"] == DAMAGED
    assert s["worst_layer_sqnr_drop_db"] > 20
    assert s["agreement"] < 0.99 and s["passed"] is False
    assert "verify failed" in r.stderr
    # the text summary says so too
    t = verify(models, "damaged", models["data"])
    assert t.returncode == 2
    assert any(line.split()[:1] == [DAMAGED] and "worst" in line for line in t.stdout.splitlines())
    # and a loose enough gate lets it through: the gate is the thresholds, nothing else
    verify(models, "damaged", models["data"], "--min-agreement", "0", "--max-drop", "1", check=0)


def test_healthy_model_names_a_milder_worst_layer(models):
    healthy = json.loads(verify(models, "int8", models["data"], "--json", check=0).stdout)
    damaged = json.loads(verify(models, "damaged", models["data"], "--json").stdout)
    assert healthy["worst_layer_sqnr_drop_db"] < damaged["worst_layer_sqnr_drop_db"] - 15


def test_unlabelled_csv_measures_agreement_only(models, tmp_path):
    images = sorted(models["data"].rglob("*.png"))[:10]
    listing = tmp_path / "list.csv"
    listing.write_text("path\n" + "".join(f"{os.path.relpath(p, tmp_path)}\n" for p in images))
    s = json.loads(verify(models, "int8", listing, "--json", check=0).stdout)
    assert s["images"] == 10 and s["labelled_images"] == 0
    assert s["float_accuracy"] is None and s["int8_accuracy"] is None and s["agreement"] == 1.0


def test_labelled_csv_and_label_mismatch(models, tmp_path):
    images = sorted(models["data"].rglob("*.png"))
    good = tmp_path / "good.csv"
    good.write_text("path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in images))
    s = json.loads(verify(models, "int8", good, "--json", check=0).stdout)
    assert s["labelled_images"] == len(images)
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(f"{p},{'nope' if i == 3 else p.parent.name}\n" for i, p in enumerate(images)))
    r = verify(models, "int8", bad, "--json")
    assert r.returncode == 1 and "nope" in r.stderr and "not in the models' label list" in r.stderr


def test_models_with_different_labels_are_an_error(models, tmp_path):
    r = run("verify", "--float", REPO / "fixtures/models/cnn-f32.rtg", "--int8", models["int8"], models["data"])
    assert r.returncode == 1 and "labels differ" in r.stderr


def test_calibration_provenance_in_inspect(models):
    r = run("inspect", models["percentile"], "--json", check=0)
    prov = json.loads(r.stdout)["provenance"]
    assert prov["calibration"] == "percentile"
    assert prov["calibration_params"].startswith("percentile=99.9;")


# ----------------------------------------------------------------------------------- mixed models

def _swift_logits(model, images):
    r = run("classify", model, *images, "--json", check=0)
    return [json.loads(line)["logits"] for line in r.stdout.splitlines()]


def test_mixed_float_first_layer_matches_the_reference_exactly(models):
    """conv1 runs in float32 (BLAS in Swift, float64 sums in numpy), then QUANTIZE: the rounding
    differences of the float conv vanish in the quantization, so every int8 value and the logits
    of the int8 DENSE -> f32 are bit-identical."""
    m = read_model(models["mixed_first"])
    assert m.tensors[m.ops[0].output].name == "conv1" and m.tensors[m.ops[0].output].dtype == 3
    images = sorted(models["data"].rglob("*.png"))
    got = np.array(_swift_logits(models["mixed_first"], images), dtype=np.float32)  # shortest repr -> same f32
    want = np.array([reference.run(m, reference.load_input(m, p)).reshape(-1) for p in images], dtype=np.float32)
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_mixed_float_last_layer_matches_the_reference(models):
    """The last DENSE runs in float32: equal to the reference to float rounding (SPEC "Float
    arithmetic": the summation order is BLAS's), every int8 layer before it bit-exact."""
    m = read_model(models["mixed_last"])
    images = sorted(models["data"].rglob("*.png"))
    got = np.array(_swift_logits(models["mixed_last"], images))
    want = np.array([reference.run(m, reference.load_input(m, p)).reshape(-1) for p in images], dtype=np.float64)
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def test_verify_on_a_mixed_model(models):
    s = json.loads(verify(models, "mixed_first", models["data"], "--json", "--report", models["dir"] / "mixed", check=0).stdout)
    layers = {l["name"]: l for l in json.loads((models["dir"] / "mixed" / "report.json").read_text())["layers"]}
    assert layers["conv1"]["dtype"] == "float32" and layers["conv1"]["mean_sqnr_db"] == 100  # exact
    assert layers["conv1.q"]["quantize_step"] is True and layers["conv2"]["dtype"] == "int8"
    assert s["worst_layer"] != "conv1"
