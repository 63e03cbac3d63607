"""The Swift runtime reads a DICOMDIR as the index of its folder tree (`roentgen classify` and
`roentgen verify` on folders), on pydicom's dicomdirtests media; and `verify` reads DICOM data sets.

Like test_swift_e2e.py this never skips: a missing binary is a failure.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from conftest import FIXTURES, TRAINED
from test_dicom_header import write_dicom
from test_swift_e2e import roentgen_bin

MEDIA = Path(pydicom.data.get_testdata_file("DICOMDIR")).parent  # dicomdirtests
MODEL = TRAINED / "cnn-int8.rtg"


def copy_tree(src: Path, dst: Path, rename=lambda n: n):
    for p in sorted(src.rglob("*")):
        target = dst.joinpath(*map(rename, p.relative_to(src).parts))
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)


def classify(*paths):
    r = subprocess.run([str(roentgen_bin()), "classify", "--json", str(MODEL), *map(str, paths)],
                       capture_output=True, text=True, timeout=600)
    return [json.loads(line) for line in r.stdout.splitlines()], r


def image_references(dicomdir: Path) -> list[Path]:
    """pydicom's reading: the Referenced File ID of every IMAGE record, under the DICOMDIR's folder."""
    ds = pydicom.dcmread(dicomdir)
    return [dicomdir.parent.joinpath(*r.ReferencedFileID) for r in ds.DirectoryRecordSequence
            if r.DirectoryRecordType == "IMAGE"]


def test_the_media_are_listed_as_by_content_plus_the_index(tmp_path):
    media = tmp_path / "media"
    copy_tree(MEDIA, media)
    indexes = {media / "DICOMDIR", media / "TINY_ALPHA" / "DICOMDIR"}
    everything = sorted(os.fspath(p) for p in media.rglob("*")
                        if p.is_file() and p not in indexes and p.name not in ("README", "README.txt"))
    rows, r = classify(media)
    assert [row["path"] for row in rows] == everything
    for index in indexes:
        assert {os.fspath(p) for p in image_references(index)} <= set(everything)
        assert len(image_references(index)) in (31, 50)
    assert not any(str(i) in r.stderr for i in indexes) and not any(row.get("path") in map(str, indexes) for row in rows)


@pytest.mark.parametrize("index", ["DICOMDIR", "DICOMDIR-implicit", "DICOMDIR-bigEnd"])
def test_a_copy_with_lower_case_names_is_found_through_the_index(index, tmp_path):
    """The 31 images of the DICOMDIR, copied with lower-case names: one is removed, one made
    unrecognisable. The removed one is one error line naming the DICOMDIR and the path; the
    unrecognisable one is listed (content alone would skip it), so reading it reports it; every
    other image is classified."""
    lower = tmp_path / "copied"
    copy_tree(MEDIA, lower, rename=str.lower)
    for p in lower.glob("dicomdir*"):
        p.unlink()
    shutil.rmtree(lower / "tiny_alpha")
    shutil.copyfile(MEDIA / index, lower / "DICOMDIR")
    references = image_references(MEDIA / "DICOMDIR")
    assert len(references) == 31
    copies = [lower.joinpath(*(part.lower() for part in p.relative_to(MEDIA).parts)) for p in references]
    gone, unrecognisable = copies[0], copies[1]
    gone.unlink()
    unrecognisable.write_bytes(b"\0" * 200)

    rows, r = classify(lower)
    assert r.returncode == 1
    by_path = {row["path"]: row for row in rows}
    problem = by_path.pop(str(lower / "DICOMDIR"))
    assert problem["error"].startswith(f"references {gone.relative_to(lower).as_posix().upper()}, which does not exist")
    assert by_path[str(unrecognisable)]["error"] == "neither a PNG nor a DICOM file"
    assert sorted(by_path) == sorted(map(str, copies[1:]))
    assert all("label" in row for p, row in by_path.items() if p != str(unrecognisable))

    (lower / "DICOMDIR").unlink()  # without the index, content alone finds neither
    rows, _ = classify(lower)
    assert {row["path"] for row in rows} == {str(p) for p in copies[2:]}


def test_a_bad_dicomdir_is_one_line_and_the_rest_is_classified(tmp_path):
    root = tmp_path / "data"
    copy_tree(MEDIA / "TINY_ALPHA", root / "chest")
    (root / "hand").mkdir()
    (root / "hand" / "DICOMDIR").write_bytes(b"DICM" * 10)
    shutil.copyfile(FIXTURES / "images" / "xray_00.png", root / "hand" / "a.png")
    ds = pydicom.dcmread(root / "chest" / "DICOMDIR")
    record = next(r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r)
    with pytest.warns(UserWarning, match="Invalid value for VR CS"):
        record.ReferencedFileID = ["..", "ESCAPE"]
    ds.save_as(root / "chest" / "DICOMDIR")

    rows, r = classify(root)
    assert r.returncode == 1
    errors = {row["path"]: row["error"] for row in rows if "error" in row}
    assert errors[str(root / "chest" / "DICOMDIR")] == "(0004,1500) Referenced File ID '../ESCAPE' is not a path inside its folder"
    assert str(root / "hand" / "DICOMDIR") in errors
    # The rest is still listed: a.png, and TINY_ALPHA's 50 files (found by content; they hold no pixel data).
    assert [row["path"] for row in rows if "label" in row] == [str(root / "hand" / "a.png")]
    images = [p for p in errors if "/chest/PT000000/" in p]
    assert len(images) == 50 and all(errors[p].startswith("(7FE0,0010) Pixel Data: missing") for p in images)


def verify(data):
    r = subprocess.run([str(roentgen_bin()), "verify", "--float", str(TRAINED / "cnn-f32.rtg"), "--int8", str(MODEL),
                        "--json", "--no-layers", "--min-agreement", "0", "--max-drop", "1", str(data)],
                       capture_output=True, text=True, timeout=600)
    return (json.loads(r.stdout) if r.stdout.strip() else None), r


def test_verify_reads_dicom_class_folders_like_the_pngs(tmp_path):
    """The same held-out images as PNGs and as DICOM files without extension (window 128/256, which
    maps the gray levels as the PNG path does): the same accuracies and agreement. A DICOMDIR whose
    files are missing is one error line per missing file and exit status 1; the images still count."""
    pngs, dicoms = tmp_path / "png", tmp_path / "dicom"
    for c in ("chest_pa", "chest_lateral", "tspine_ap"):
        (pngs / c).mkdir(parents=True)
        (dicoms / c).mkdir(parents=True)
        for i, png in enumerate(sorted((FIXTURES / "heldout" / c).glob("*.png"))[:3]):
            shutil.copyfile(png, pngs / c / png.name)
            write_dicom(png, dicoms / c / f"IM{i:06d}")
    expected, r = verify(pngs)
    assert r.returncode == 0, r.stderr
    got, r = verify(dicoms)
    assert r.returncode == 0, r.stderr
    keys = ("images", "labelled_images", "unreadable_images", "float_accuracy", "int8_accuracy", "agreement")
    assert [got[k] for k in keys] == [expected[k] for k in keys] and got["images"] == 9

    shutil.copyfile(MEDIA / "DICOMDIR", dicoms / "chest_pa" / "DICOMDIR")
    got, r = verify(dicoms)
    assert r.returncode == 1 and got["images"] == 9
    lines = r.stderr.splitlines()
    assert len(lines) == 31 and all(line.startswith(f"roentgen: error: {dicoms}/chest_pa/DICOMDIR: references ") for line in lines)
