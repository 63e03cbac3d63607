"""Our DICOM reader against pydicom, on every test file pydicom (and pydicom-data, if installed) ships.

The Swift side is `roentgen dicom-dump FILE --npy OUT.npy` (a hidden debugging subcommand): the
first frame's Modality LUT output as float32, before any VOI step (docs/DICOM.md steps 1-5). The
pydicom side is `pixel_array(..., index=0, raw=True)` (stored values, no colour conversion) then
`apply_modality_lut` for monochrome images, rounded to float32. Lossless syntaxes must agree exactly;
lossy ones within TOLERANCE. Files we do not decode must fail with one line; unsupported transfer
syntaxes must name themselves.

Run with ROENTGEN_BIN pointing at a release build, e.g. ROENTGEN_BIN=.build/release/roentgen.
`python tests/test_dicom_pixels.py` prints the table in docs/DICOM.md.
"""

import os
import subprocess
import warnings
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.encaps import get_frame  # noqa: E402
from pydicom.pixels import apply_modality_lut, pixel_array  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ROENTGEN_BIN", REPO / ".build" / "release" / "roentgen"))

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
JPEG2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
# What docs/DICOM.md says we decode.
SUPPORTED_SYNTAXES = {
    "1.2.840.10008.1.2", EXPLICIT_LITTLE, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5", *JPEG, *JPEG2000,
}
SUPPORTED_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR"}
JPEG2000_PHOTOMETRIC = {"YBR_RCT", "YBR_ICT"}
# Largest |ours - pydicom| allowed per lossy syntax. JPEG: pydicom decodes with pylibjpeg-libjpeg first,
# whose IDCT and chroma upsampling differ from libjpeg-turbo's (max found: 1); with its Pillow plugin
# (libjpeg-turbo too) it must be exact. Lossy JPEG 2000: both sides use OpenJPEG (max found: 0).
TOLERANCE = {"1.2.840.10008.1.2.4.50": 1, "1.2.840.10008.1.2.4.51": 1, "1.2.840.10008.1.2.4.91": 1}
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

# kind: 'decode' (reference: the array; exact: a second array that must match exactly, or None),
# 'unsupported' (detail: the UID), or 'error' (detail: why; mentions: text the one line must contain).
Expectation = namedtuple("Expectation", "kind detail tolerance exact mentions", defaults=(0, None, ()))


def jpeg_precision(frame):
    """Sample precision from the first SOF marker of a JPEG codestream (None if there is none)."""
    i = 2  # after SOI
    while i + 4 < len(frame) and frame[i] == 0xFF:
        marker = frame[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return frame[i + 4]
        i += 2 + int.from_bytes(frame[i + 2:i + 4], "big")
    return None


def reference(ds, **options):
    stored = pixel_array(ds, index=0, raw=True, **options)
    if ds.PhotometricInterpretation.startswith("MONOCHROME"):
        return np.asarray(apply_modality_lut(stored, ds)).astype(np.float32)
    return stored.astype(np.float32)


def expectation(path):
    """What our reader must do with the file, judged from what pydicom finds in it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as e:  # noqa: BLE001
            return Expectation("error", f"pydicom cannot read it: {e}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = getattr(ds, "file_meta", None)
        uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        if uid and uid not in SUPPORTED_SYNTAXES:
            return Expectation("unsupported", uid)
        if "PixelData" not in ds:
            return Expectation("error", "no Pixel Data")
        photometric = ds.get("PhotometricInterpretation")
        if photometric not in SUPPORTED_PHOTOMETRIC and not (uid in JPEG2000 and photometric in JPEG2000_PHOTOMETRIC):
            return Expectation("error", f"photometric {photometric}")
        if ds.get("BitsAllocated") not in (1, 8, 16, 32):
            return Expectation("error", f"bits allocated {ds.get('BitsAllocated')}")
        try:
            frames = ds.get("NumberOfFrames", 1)
            frames = int(frames)
        except (TypeError, ValueError):
            return Expectation("error", f"bad Number of Frames {frames!r}")
        if uid in JPEG:
            precision = jpeg_precision(get_frame(ds.PixelData, 0, number_of_frames=frames))
            if precision != 8:
                return Expectation("error", f"{precision}-bit JPEG", mentions=(f"transfer syntax {uid} (", "12-bit JPEG"))
        try:
            decoded = reference(ds)
        except Exception as e:  # noqa: BLE001
            return Expectation("error", f"pydicom cannot decode it: {e}")
        exact = reference(ds, decoding_plugin="pillow") if uid in JPEG else None
        return Expectation("decode", decoded, TOLERANCE.get(uid, 0), exact)


def dump(path, out):
    return subprocess.run([str(BIN), "dicom-dump", str(path), "--npy", str(out)],
                          capture_output=True, text=True, timeout=60)


def max_difference(ours, theirs):
    return float(np.max(np.abs(ours.astype(np.float64) - theirs))) if ours.size else 0.0


@pytest.mark.skipif(not BIN.exists(), reason=f"no roentgen binary at {BIN} (set ROENTGEN_BIN)")
@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(f.parents[1])) if f.parent.name != "test_files"
                                             else f.name for f in FILES])
def test_pixels_match_pydicom(path, tmp_path):
    expected = expectation(path)
    out = tmp_path / "pixels.npy"
    proc = dump(path, out)
    if expected.kind == "decode":
        assert proc.returncode == 0, proc.stderr
        ours = np.load(out)
        assert ours.shape == expected.detail.shape
        if expected.tolerance:
            assert max_difference(ours, expected.detail) <= expected.tolerance
        else:
            mismatch = np.flatnonzero(ours.ravel() != expected.detail.ravel())
            assert mismatch.size == 0, (f"{mismatch.size} of {ours.size} values differ, first at {mismatch[0]}: "
                                        f"ours {ours.ravel()[mismatch[0]]}, pydicom {expected.detail.ravel()[mismatch[0]]}")
        if expected.exact is not None:
            assert np.array_equal(ours, expected.exact), "differs from pydicom's Pillow (libjpeg-turbo) decoding"
        return
    assert proc.returncode != 0, f"expected an error ({expected.detail}), got {proc.stdout}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    for text in expected.mentions:
        assert text in lines[0], lines[0]
    if expected.kind == "unsupported":
        assert f"transfer syntax {expected.detail} (" in lines[0] and lines[0].endswith("is not supported"), lines[0]


def test_some_files_decode():
    """The comparison above is not vacuous: the syntaxes and photometrics we claim are all exercised."""
    decoded = []
    for p in FILES:
        if expectation(p).kind == "decode":
            ds = pydicom.dcmread(p, force=True, stop_before_pixels=True)
            decoded.append((str(ds.file_meta.get("TransferSyntaxUID", "")), ds.PhotometricInterpretation, ds.BitsAllocated))
    assert len(decoded) >= 20
    syntaxes = {s for s, _, _ in decoded}
    assert SUPPORTED_SYNTAXES - {"1.2.840.10008.1.2.4.51"} <= syntaxes  # pydicom's .51 files are all 12-bit
    assert {"YBR_FULL_422", "YBR_RCT", "PALETTE COLOR", "MONOCHROME1"} <= {p for _, p, _ in decoded}
    assert 1 in {b for _, _, b in decoded}


def table():
    """The file table of docs/DICOM.md (dicomdirtests grouped by what they have in common)."""
    import tempfile

    rows, groups = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in FILES:
            expected = expectation(path)
            proc = dump(path, Path(tmp) / "pixels.npy")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            meta = getattr(ds, "file_meta", None)
            uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
            bits = f"{ds.get('BitsAllocated', '-')}/{ds.get('BitsStored', '-')}"
            if ds.get("PixelRepresentation") == 1:
                bits += " signed"
            if expected.kind == "unsupported":
                result = "unsupported syntax"
            elif proc.returncode != 0:
                result = "error: " + proc.stderr.strip().split(f"{path}: ", 1)[-1][:120]
            elif expected.tolerance:
                worst = max_difference(np.load(Path(tmp) / "pixels.npy"), expected.detail)
                result = f"decoded, max abs difference {worst:g} from pydicom"
                if expected.exact is not None:
                    result += " (equal to its Pillow plugin)"
            else:
                result = "decoded, equal to pydicom"
            cells = (uid or "(none)", ds.get("PhotometricInterpretation", "-"), bits, result)
            if path.parent.name == "dicomdirtests" or "dicomdirtests" in path.parts:
                groups.setdefault(cells, []).append(path.name)
            else:
                rows.append((path.name, *cells))
    for cells, names in groups.items():
        unique = sorted(set(names))
        shown = ", ".join(unique[:3]) + (", ..." if len(unique) > 3 else "")
        rows.append((f"dicomdirtests: {len(names)} files ({shown})", *cells))
    lines = ["| file | transfer syntax | photometric | bits (allocated/stored) | result |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
