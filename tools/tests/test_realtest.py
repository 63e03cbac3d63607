"""tools/roentgen_tools/data/realtest.py: the TEST-ONLY real-image set from PyPI packages.

Runs the module as a script (the installed roentgen_tools may be an older copy), twice, with the
normal download cache, and checks labels.csv, the PNGs and that both runs give the same bytes."""
from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import png
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "roentgen_tools" / "data" / "realtest.py"
CLASSES = {
    "abdomen_upper_ap", "chest_lateral", "chest_pa", "ribs_oblique_left", "ribs_oblique_right",
    "sternum_lateral", "sternum_oblique", "tlspine_ap", "tlspine_lateral", "tspine_ap",
    "tspine_lateral",
}


def _run(out: Path) -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "-q", "-o", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert r.returncode == 0, r.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("realtest_a"), tmp_path_factory.mktemp("realtest_b")
    _run(a)
    _run(b)
    return a, b


def test_labels_and_pngs(two_runs):
    out = two_runs[0]
    with open(out / "labels.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["path", "label", "source"]
        rows = list(reader)
    assert rows and [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    for r in rows:
        label = r["label"]
        assert label in CLASSES or label.startswith(("other:", "ood:")), label
        assert r["path"].split("/")[0] == label.replace(":", "_")
        assert "==" in r["source"] and ":" in r["source"].split("==", 1)[1]
        w, h, pixels, info = png.Reader(filename=str(out / r["path"])).read()
        assert info["greyscale"] and info["bitdepth"] == 8 and info["planes"] == 1 and not info["alpha"]
        n = sum(len(row) for row in pixels)
        assert n == w * h and w >= 64 and h >= 64
    labels = [r["label"] for r in rows]
    assert "chest_pa" in labels
    assert any(lab.startswith("ood:") for lab in labels)
    # every PNG on disk is listed; the real radiographs from DICOM keep their DICOM copy
    pngs = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert pngs == {r["path"] for r in rows}
    dcms = sorted(p.stem for p in (out / "dicom").glob("*.dcm"))
    assert dcms == sorted(Path(r["path"]).stem for r in rows
                          if not r["label"].startswith("ood:") and r["source"].endswith(".dcm"))
    for p in (out / "dicom").glob("*.dcm"):
        assert p.read_bytes()[128:132] == b"DICM"


def test_deterministic(two_runs):
    a, b = two_runs
    ta, tb = _tree(a), _tree(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        assert ta[k] == tb[k], k


def test_hash_mismatch_is_one_clear_line(tmp_path):
    spec = importlib.util.spec_from_file_location("realtest_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.PACKAGES["pydicom==3.0.2"]["sha256"] = "0" * 64
    with pytest.raises(mod.RealTestError) as e:
        mod.fetch("pydicom==3.0.2", tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "SHA-256" in msg and "pydicom-3.0.2-py3-none-any.whl" in msg
    assert not (tmp_path / "pydicom-3.0.2-py3-none-any.whl").exists()
