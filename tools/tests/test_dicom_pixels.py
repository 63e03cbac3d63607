"""Our DICOM reader against pydicom, on every test file pydicom (and pydicom-data, if installed) ships.

The Swift side is `roentgen dicom-dump FILE --npy OUT.npy` (a hidden debugging subcommand): the
first frame's Modality LUT output as float32, before any VOI step (docs/DICOM.md steps 1-5). The
pydicom side is `pixel_array(..., index=0, raw=True)` (stored values, no colour conversion) then
`apply_modality_lut` for monochrome images, rounded to float32. Lossless syntaxes must agree exactly.
Files we do not decode must fail with one line; unsupported transfer syntaxes must name themselves.

Run with ROENTGEN_BIN pointing at a release build, e.g. ROENTGEN_BIN=.build/release/roentgen.
"""

import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.pixels import apply_modality_lut, pixel_array  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ROENTGEN_BIN", REPO / ".build" / "release" / "roentgen"))

# What docs/DICOM.md says we decode.
SUPPORTED_SYNTAXES = {
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
}
SUPPORTED_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR"}
NOT_DICOM = {".json", ".txt", ".icc", ".gz", ".dump", ".py"}


def _test_files():
    files = [Path(f) for f in pydicom.data.get_testdata_files()]
    try:
        import pydicom_data  # noqa: F401  (pydicom-data: the large test files, when installed)
        files += [Path(f) for f in pydicom.data.get_testdata_files("**/*") if "pydicom-data" in f]
    except ImportError:
        pass
    return sorted({f for f in files if f.is_file() and f.suffix.lower() not in NOT_DICOM
                   and f.name not in ("README", "README.txt")})


FILES = _test_files()


def expectation(path):
    """('decode', reference array) when we must decode the file the way pydicom does, ('unsupported', uid)
    for a transfer syntax we refuse by name, ('error', why) when any one-line error is right."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as e:  # noqa: BLE001
            return "error", f"pydicom cannot read it: {e}"
        meta = getattr(ds, "file_meta", None)
        uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        if uid and uid not in SUPPORTED_SYNTAXES:
            return "unsupported", uid
        if "PixelData" not in ds:
            return "error", "no Pixel Data"
        if ds.get("PhotometricInterpretation") not in SUPPORTED_PHOTOMETRIC:
            return "error", f"photometric {ds.get('PhotometricInterpretation')}"
        if ds.get("BitsAllocated") not in (8, 16, 32):
            return "error", f"bits allocated {ds.get('BitsAllocated')}"
        try:
            frames = ds.get("NumberOfFrames", 1)
            int(frames)
        except (TypeError, ValueError):
            return "error", f"bad Number of Frames {frames!r}"
        try:
            stored = pixel_array(ds, index=0, raw=True)
        except Exception as e:  # noqa: BLE001
            return "error", f"pydicom cannot decode it: {e}"
        if ds.PhotometricInterpretation.startswith("MONOCHROME"):
            return "decode", np.asarray(apply_modality_lut(stored, ds)).astype(np.float32)
        return "decode", stored.astype(np.float32)


def dump(path, tmp_path):
    out = tmp_path / "pixels.npy"
    proc = subprocess.run([str(BIN), "dicom-dump", str(path), "--npy", str(out)],
                          capture_output=True, text=True, timeout=60)
    return proc, out


@pytest.mark.skipif(not BIN.exists(), reason=f"no roentgen binary at {BIN} (set ROENTGEN_BIN)")
@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(f.parents[1])) if f.parent.name != "test_files"
                                             else f.name for f in FILES])
def test_pixels_match_pydicom(path, tmp_path):
    kind, detail = expectation(path)
    proc, out = dump(path, tmp_path)
    if kind == "decode":
        assert proc.returncode == 0, proc.stderr
        ours = np.load(out)
        assert ours.shape == detail.shape
        mismatch = np.flatnonzero(ours.ravel() != detail.ravel())
        assert mismatch.size == 0, (f"{mismatch.size} of {ours.size} values differ, first at {mismatch[0]}: "
                                    f"ours {ours.ravel()[mismatch[0]]}, pydicom {detail.ravel()[mismatch[0]]}")
        return
    assert proc.returncode != 0, f"expected an error ({detail}), got {proc.stdout}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    if kind == "unsupported":
        assert f"transfer syntax {detail} (" in lines[0] and lines[0].endswith("is not supported"), lines[0]


def test_some_files_decode():
    """The comparison above is not vacuous: the syntaxes and photometrics we claim are all exercised."""
    decoded = [p for p in FILES if expectation(p)[0] == "decode"]
    assert len(decoded) >= 20
