"""Roentgen's DICOM rendering against DCMTK's, on a fast subset of scripts/dcmtk_compare.py's files
(docs/DICOM.md "Compared with DCMTK" has the method, the full table and why they differ).

Each file is rendered by `roentgen preprocess` through an identity model of the image's own size
(no resize, mean 0, std 1: the tensor is the [0, 1] rendering) and by dcm2pnm / dcmj2pnm (16-bit
PGM/PPM), with the file's window, a `--window C,W` override and `--full-range` for monochrome files.

Tolerances, in [0, 1] units, from what DCMTK does (measured on DCMTK 3.6.7; see the doc):
  * QUANTUM = 1/65535 (+ 1e-6): DCMTK writes 0..65535 and truncates, so a rendering both sides
    compute alike differs by one 16-bit step plus Roentgen's float32 rounding (measured max: 1.002
    steps, 0.0039 of an 8-bit level, on 67 of the 85 files both render).
  * A non-integer Rescale Slope / Intercept: DCMTK truncates every modality value to an integer
    before the VOI step (Roentgen, pydicom and PS3.3 C.11.1 keep it real), which moves a pixel by
    at most 1 modality unit, and a min-max window's ends by 1 unit each: at most 2 / (W - 1) for a
    window of width W (measured on the MONOCHROME1 CR: 0.089 levels of a 0.19 bound).
  * YCbCr in JPEG: dcmj2pnm's libjpeg converts to RGB and rounds to 8 bits; Roentgen keeps the
    unrounded value (measured: Roentgen rounded to 8 bits equals DCMTK exactly), so 0.5/255.
Never skipped: without DCMTK (scripts/setup.sh installs the Debian package `dcmtk`) or the Swift
binary (ROENTGEN_BIN) the tests that need them fail, naming what is missing.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_swift_e2e import roentgen_bin

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import dcmtk_compare as dc  # noqa: E402

QUANTUM = 1 / 65535
ROUNDED_8BIT = 0.5 / 255
# pydicom's files: 16-bit signed with a window (explicit LE, RLE, big endian), a rescaled CT without a
# window (min-max), 16/12 with a window and overlays, MONOCHROME1 12-bit CR with a non-integer rescale,
# deflate, 1-bit, palette, RGB 8-bit, RGB 16-bit RLE, YBR_FULL in JPEG.
PYDICOM_SUBSET = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "CT_small.dcm",
                  "examples_overlay.dcm", "dicomdirtests/77654033/CR1/6154", "image_dfl.dcm", "liver_1frame.dcm",
                  "examples_palette.dcm", "examples_rgb_color.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_jpeg_dcmtk.dcm"]
# test_dicom_tools.py's synthetic files for what pydicom's lack: a VOI LUT Sequence, MONOCHROME1 with
# High Bit 15 and a window, SIGMOID.
SYNTHETIC_SUBSET = ["voi_lut_16bit", "high_bit_15_monochrome1", "sigmoid"]


def require_dcmtk():
    if missing := dc.missing_dcmtk():
        pytest.fail(f"DCMTK is not installed ({', '.join(missing)} not found): scripts/setup.sh installs the "
                    "Debian package `dcmtk` (or: apt-get install dcmtk)", pytrace=False)


def pydicom_file(name: str) -> Path:
    found = [f for f in dc.FILES if dc.matches(f, [name])]
    assert len(found) == 1, f"{name}: {len(found)} pydicom test files match"
    return found[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return dc.IdentityModels(tmp_path_factory.mktemp("identity-models"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    paths = {p.name: p for p in dc.synthetic_files(tmp_path_factory.mktemp("synthetic"))}
    assert set(SYNTHETIC_SUBSET) <= set(paths), f"test_dicom_tools.py's SYNTHETIC lacks {set(SYNTHETIC_SUBSET) - set(paths)}"
    return paths


def tolerance(header: dc.Header, result: dc.Result) -> float:
    """The largest |Roentgen - DCMTK| in [0, 1] units this rendering may have (module docstring)."""
    tol = QUANTUM
    if header.monochrome and not header.integral_rescale:
        assert result.width is not None, "a rescaled file rendered through a VOI LUT: no bound known"
        tol += 2 / max(result.width - 1, 1)
    if header.syntax in dc.JPEG and header.photometric.startswith("YBR"):
        tol += ROUNDED_8BIT
    return tol + 1e-6  # float32 output and float64 arithmetic


def check(path: Path, models, tmp_path):
    require_dcmtk()
    report = dc.compare_file(path, roentgen_bin(), models, tmp_path)
    h = report.header
    expected_modes = ["file"] if not h.monochrome else ["file", "window", "full"]
    assert [r.mode for r in report.results] == expected_modes
    problems = []
    for r in report.results:
        if not r.compared:
            problems.append(f"{r.mode} ({r.roentgen} / {r.dcmtk}): {r.error}")
            continue
        tol = tolerance(h, r)
        if r.max_levels / dc.LEVEL > tol:
            problems.append(f"{r.mode} ({r.roentgen} / {r.dcmtk}): max |Roentgen - DCMTK| {r.max_levels:.4f} "
                            f"8-bit levels, allowed {tol * dc.LEVEL:.4f}")
    assert not problems, f"{path.name} ({h.syntax}, {h.photometric}, {h.bits}): " + "; ".join(problems)


@pytest.mark.parametrize("name", PYDICOM_SUBSET)
def test_pydicom_file_renders_like_dcmtk(name, models, tmp_path):
    check(pydicom_file(name), models, tmp_path)


@pytest.mark.parametrize("name", SYNTHETIC_SUBSET)
def test_synthetic_file_renders_like_dcmtk(name, synthetic, models, tmp_path):
    check(synthetic[name], models, tmp_path)


@pytest.mark.parametrize("name", ["MR_small.dcm", "examples_palette.dcm"])
def test_identity_model_tensor_is_the_rendering(name, models, tmp_path):
    """The method's premise: `preprocess` through an identity model gives the reader's finished [0, 1]
    image (`dicom-dump --image-npy`) bit for bit, so no resize or normalisation enters the comparison."""
    path = pydicom_file(name)
    h = dc.read_header(path)
    model = models.get(1 if h.monochrome else 3, h.rows, h.columns)
    ours, err = dc.roentgen_render(roentgen_bin(), model, path, tmp_path, [])
    assert err is None, err
    out = tmp_path / "image.npy"
    proc = subprocess.run([str(roentgen_bin()), "dicom-dump", str(path), "--image-npy", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    image = np.load(out)
    assert image.dtype == np.float32 and ours.dtype == np.float32
    assert np.array_equal(ours, image)


def test_subset_covers_what_the_issue_names(synthetic):
    """MONOCHROME1, signed, 12/16 bits with a window, RLE, big endian, palette, RGB, a VOI LUT."""
    headers = ([dc.read_header(pydicom_file(n)) for n in PYDICOM_SUBSET]
               + [dc.read_header(synthetic[n]) for n in SYNTHETIC_SUBSET])
    photometrics = {h.photometric for h in headers}
    assert {"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL"} <= photometrics
    assert any(h.bits.endswith("signed") and h.window for h in headers)
    assert any(h.bits.startswith("16/12") and h.window for h in headers)
    syntaxes = {h.syntax for h in headers}
    assert {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50"} <= syntaxes
    assert any(h.has_voi_lut for h in headers)
    assert any(h.monochrome and not h.integral_rescale for h in headers)
