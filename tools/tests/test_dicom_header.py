"""`roentgen classify --dicom-terms`: header_mismatch when the predicted class contradicts the DICOM
header's Body Part Examined / View Position (the terms in fixtures/models/dicom-terms.tsv).

DICOM files are written here with pydicom from held-out PNGs; each header is checked against the
class the model predicts for that very file, so the test does not depend on the model being right.
Like test_swift_e2e.py this never skips: a missing binary is a failure.
"""
import json
import subprocess

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import FIXTURES, TRAINED
from test_swift_e2e import roentgen_bin

MODEL = TRAINED / "cnn-int8.rtg"
TERMS = TRAINED / "dicom-terms.tsv"


def read_terms():
    terms = {}
    for line in TERMS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, parts, views = line.split("\t")
            terms[name] = (parts.split(","), views.split(","))
    return terms


def write_dicom(png, path, body_part=None, view=None):
    """An 8-bit MONOCHROME2 CR image of the PNG's gray levels; Window 128/256 maps them as the PNG path does."""
    gray = np.asarray(Image.open(png).convert("L"), dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.Modality = generate_uid(), "CR"
    if body_part is not None:
        ds.BodyPartExamined = body_part
    if view is not None:
        ds.ViewPosition = view
    ds.Rows, ds.Columns = gray.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.PixelData = gray.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def classify(paths, *extra, expect_ok=True):
    cmd = [str(roentgen_bin()), "classify", *extra, str(MODEL), *map(str, paths)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if expect_ok:
        assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}"
    return r


def rows(paths, *extra):
    r = classify(paths, "--json", "--dicom-terms", str(TERMS), *extra)
    return {row["path"]: row for row in map(json.loads, r.stdout.splitlines())}


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """(png, predicted label) for one confidently classified held-out image of each of 4 classes."""
    folder = tmp_path_factory.mktemp("plain")
    pngs = [sorted((FIXTURES / "heldout" / c).glob("*.png"))[0]
            for c in ("chest_pa", "chest_lateral", "tspine_ap", "abdomen_upper_ap")]
    files = [write_dicom(png, folder / f"{png.stem}.dcm") for png in pngs]
    found = rows(files)
    picked = [(png, found[str(f)]["label"]) for png, f in zip(pngs, files) if not found[str(f)]["uncertain"]]
    assert len(picked) >= 3, found
    for png, f in zip(pngs, files):  # no Body Part Examined, no View Position: nothing to compare
        assert found[str(f)]["dicom"]["header_mismatch"] is None
        assert found[str(f)]["dicom"]["header_mismatch_reason"] is None
    return picked


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")  # the lower-case, padded values on purpose
def test_agreeing_and_contradicting_headers(predicted, tmp_path):
    terms = read_terms()
    cases = {}  # path -> (expected header_mismatch, expected reason or None)
    for i, (png, label) in enumerate(predicted):
        parts, views = terms[label]
        wrong_part = "KNEE"
        wrong_view = next(v for v in ("LL", "PA", "LLO") if v not in views)
        for name, part, view, expected in [
            ("part-ok", parts[0], None, (False, None)),
            ("part-ok-case", f" {parts[-1].lower()} ", None, (False, None)),  # CS compared trimmed, case ignored
            ("view-ok", None, views[0], (False, None)),
            ("both-ok", parts[0], views[-1], (False, None)),
            ("part-wrong", wrong_part, None, (True, f"BodyPartExamined '{wrong_part}' but predicted {label}")),
            ("view-wrong", parts[0], wrong_view, (True, f"ViewPosition '{wrong_view}' but predicted {label}")),
            ("both-wrong", wrong_part, wrong_view,
             (True, f"BodyPartExamined '{wrong_part}' but predicted {label}; ViewPosition '{wrong_view}' but predicted {label}")),
            ("empty", "", "", (None, None)),
        ]:
            path = write_dicom(png, tmp_path / f"{i}-{name}.dcm", part, view)
            cases[str(path)] = expected
    found = rows(cases)
    for path, (mismatch, reason) in cases.items():
        row = found[path]
        assert not row["uncertain"]
        assert (row["dicom"]["header_mismatch"], row["dicom"]["header_mismatch_reason"]) == (mismatch, reason), path

    # Text output flags the contradiction at the end of the line, and only there.
    text = classify(cases, "--dicom-terms", str(TERMS)).stdout.splitlines()
    for line in text:
        path = line.split("\t")[0]
        reason = cases[path][1]
        assert line.endswith(f"  [header mismatch: {reason}]") if reason else "header mismatch" not in line, line


def test_uncertain_answers_claim_no_mismatch(predicted, tmp_path):
    png, label = predicted[0]
    path = write_dicom(png, tmp_path / "wrong.dcm", "KNEE", "LL")
    assert rows([path])[str(path)]["dicom"]["header_mismatch"] is True
    row = rows([path], "--min-confidence", "1")[str(path)]
    assert row["uncertain"] and row["dicom"]["header_mismatch"] is None and row["dicom"]["header_mismatch_reason"] is None


def test_without_a_terms_file_nothing_is_compared(predicted, tmp_path):
    png, _ = predicted[0]
    path = write_dicom(png, tmp_path / "wrong.dcm", "KNEE", "LL")
    row = json.loads(classify([path], "--json").stdout)
    assert row["dicom"]["body_part_examined"] == "KNEE"
    assert "header_mismatch" not in row["dicom"] and "header_mismatch_reason" not in row["dicom"]
    assert "header mismatch" not in classify([path]).stdout


@pytest.mark.parametrize("content, message", [
    ("chest_pa\tCHEST\n", "line 1: expected class<TAB>body parts<TAB>view positions, got 2 tab-separated columns"),
    ("# comment\n\nchestpa\tCHEST\tPA\n", "line 3: 'chestpa' is not one of the model's labels"),
    ("chest_pa\tCHEST\tPA\nchest_pa\tCHEST\tAP\n", "line 2: 'chest_pa' is listed twice"),
])
def test_a_bad_terms_file_is_one_line(content, message, predicted, tmp_path):
    bad = tmp_path / "terms.tsv"
    bad.write_text(content)
    png, _ = predicted[0]
    r = classify([write_dicom(png, tmp_path / "a.dcm")], "--dicom-terms", str(bad), expect_ok=False)
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"roentgen: error: {bad}: {message}"), r.stderr


def test_the_terms_cover_the_labels_and_use_defined_terms():
    labels = (TRAINED / "cnn-labels.txt").read_text().split()
    terms = read_terms()
    assert sorted(terms) == sorted(labels)  # every class checked; the SVM's reject class "other" is not listed
    views = {"AP", "PA", "LL", "RL", "LLO", "RLO", "LAO", "RAO", "LPO", "RPO"}
    for name, (parts, v) in terms.items():
        assert parts and v and set(v) <= views, name
        assert all(p == p.upper() and p.isalpha() for p in parts), name
