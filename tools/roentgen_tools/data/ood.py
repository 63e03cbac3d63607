"""Synthetic out-of-domain images: what an anatomy classifier must learn to reject.

A folder of these trains the reject class (`roentgen-train svm DATA --reject-data DIR`, SPEC
"REJECT"): images that reach a radiograph classifier by mistake and are not radiographs of a
trained class. Every kind is made from nothing but the seed and, for the tomographic slices, the
one CT the DRRs come from - never from the real test set (docs/REAL_TEST_SET.md):

- `ct`: an axial, coronal or sagittal slice of the CT, in a soft-tissue, lung or bone window;
- `mr`: a CT slice through a non-monotone tone curve (fat and fluid bright, bone dark, as MR
  shows them), a smooth coil-bias field and Rician noise;
- `us`: an ultrasound sector: speckle (Rayleigh) over smooth echogenic structures, depth
  attenuation, black outside the fan, sometimes a colour-Doppler blob (RGB);
- `nm`: a nuclear-medicine planar scan: low-count Poisson blobs along a body outline;
- `photo`: dead-leaves images (occluding discs with power-law radii, the classic model of natural
  image statistics), grey or colour, sometimes textured;
- `noise`: 1/f noise and smooth gradients, grey or colour.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import png

from . import ctdata

KINDS = ("ct", "mr", "us", "nm", "photo", "noise")
REJECT_LABEL = "other"


def _norm(a):
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def _resize(a, size):
    """Bilinear resize of a 2-D array to size x size (gathers only)."""
    h, w = a.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0 = np.minimum(ys.astype(np.int64), max(h - 2, 0))
    x0 = np.minimum(xs.astype(np.int64), max(w - 2, 0))
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bot = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def _smooth_field(rng, size, cells):
    """A smooth random field in [0, 1]: a cells x cells grid of uniform values, upsampled."""
    return _norm(_resize(rng.random((cells, cells)), size))


def _pink_noise(rng, size, beta):
    """Noise with a 1/f^beta amplitude spectrum, normalised to [0, 1]."""
    f = np.fft.fftfreq(size)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1.0
    spec = (rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))) / r ** beta
    return _norm(np.real(np.fft.ifft2(spec)))


class _Slices:
    """Slices of the CT volume in linear attenuation (mu), loaded once per process."""
    volume = None

    @classmethod
    def get(cls):
        if cls.volume is None:
            cls.volume = ctdata.load_volume()["mu"]
        return cls.volume

    @classmethod
    def slice(cls, rng):
        mu = cls.get()
        axis = int(rng.integers(3))
        lo, hi = int(0.15 * mu.shape[axis]), int(0.85 * mu.shape[axis])
        s = np.take(mu, int(rng.integers(lo, hi)), axis=axis).astype(np.float64)
        if axis != 0:
            s = s[::-1]  # superior up for coronal and sagittal slices
        return s / ctdata.MU_WATER - 1.0  # ~ HU / 1000


def _square(rng, a, size):
    """A random square crop (60-100 % of the short side) resized to size."""
    h, w = a.shape[:2]
    side = int(min(h, w) * rng.uniform(0.6, 1.0))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = a[y:y + side, x:x + side]
    if crop.ndim == 2:
        return _resize(crop, size)
    return np.stack([_resize(crop[..., c], size) for c in range(crop.shape[2])], axis=-1)


def ct_slice(rng, size):
    hu = _Slices.slice(rng) * 1000.0
    centre, width = [(40, 400), (-600, 1500), (400, 1800)][int(rng.integers(3))]
    img = np.clip((hu - (centre - width / 2)) / width, 0, 1)
    return _square(rng, img, size)


def mr_slice(rng, size):
    h = _square(rng, _Slices.slice(rng), size)  # ~ HU / 1000: air -1, fat -0.1, water 0, bone > 0.2
    # non-monotone: fat and fluid bright, muscle grey, bone and air dark
    peaks = rng.uniform(0.5, 1.0, 3)
    img = (peaks[0] * np.exp(-((h + 0.1) / 0.05) ** 2) + 0.6 * peaks[1] * np.exp(-(h / 0.03) ** 2)
           + 0.4 * peaks[2] * np.exp(-((h - 0.05) / 0.04) ** 2))
    img = img * (0.6 + 0.8 * _smooth_field(rng, size, 4))  # receive-coil bias
    sigma = rng.uniform(0.01, 0.05)
    img = np.hypot(img + rng.normal(0, sigma, img.shape), rng.normal(0, sigma, img.shape))
    return _norm(img)


def ultrasound(rng, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    apex = (-size * rng.uniform(0.0, 0.2), size / 2 + rng.uniform(-0.1, 0.1) * size)
    r = np.hypot(yy - apex[0], xx - apex[1])
    ang = np.arctan2(xx - apex[1], yy - apex[0])
    half = np.radians(rng.uniform(30, 45))
    fan = (np.abs(ang) < half) & (r < size * rng.uniform(0.85, 1.05))
    structure = 0.3 + 0.7 * _smooth_field(rng, size, int(rng.integers(4, 10)))
    speckle = rng.rayleigh(1.0, (size, size))
    speckle = _resize(_resize(speckle, size // 2), size)  # speckle grains a few pixels across
    img = structure * speckle * np.exp(-r / size * rng.uniform(0.5, 2.0))
    img = np.where(fan, _norm(img) ** 0.7, 0.0)
    if rng.random() < 0.35:
        cy, cx = rng.uniform(0.3, 0.7) * size, rng.uniform(0.35, 0.65) * size
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size * 0.06) ** 2)) > 0.4
        red = rng.random() < 0.5
        rgb = np.repeat(img[..., None], 3, axis=-1)
        rgb[blob & fan] = [0.9, 0.1, 0.1] if red else [0.1, 0.2, 0.9]
        return rgb
    return img


def nuclear(rng, size):
    h, w = 64, 32  # a low-resolution planar camera
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    counts = np.zeros((h, w))
    spine_x = w / 2 + rng.uniform(-1, 1)
    for _ in range(int(rng.integers(15, 40))):  # skeleton- or organ-like uptake along the body
        cy, cx = rng.uniform(2, h - 2), spine_x + rng.normal(0, w / 5)
        s = rng.uniform(0.8, 3.0)
        counts += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    counts += 0.05 * (np.abs(xx - spine_x) < w * 0.3)
    img = rng.poisson(counts / counts.max() * rng.uniform(10, 60)).astype(np.float64)
    img = _norm(img)
    img = np.pad(img, ((0, 0), (16, 16)))  # square field, the body in the middle
    img = _resize(img, size)
    return 1.0 - img if rng.random() < 0.6 else img  # often shown dark-on-white


def dead_leaves(rng, size):
    colour = rng.random() < 0.6
    img = np.zeros((size, size, 3 if colour else 1))
    filled = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(4000):
        if filled.all():
            break
        r = size * 0.01 / max(rng.random(), 1e-3) ** (1 / 2.0)  # power-law radii
        r = min(r, size * 0.5)
        cy, cx = rng.uniform(0, size), rng.uniform(0, size)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & ~filled
        if disc.any():
            img[disc] = rng.random(img.shape[2])
            filled |= disc
    if rng.random() < 0.5:  # texture inside the leaves
        img = img * (0.8 + 0.4 * _pink_noise(rng, size, 1.0))[..., None]
    img = np.clip(img, 0, 1)
    return img if colour else img[..., 0]


def noise(rng, size):
    if rng.random() < 0.5:
        channels = [_pink_noise(rng, size, rng.uniform(0.8, 2.0)) for _ in range(3 if rng.random() < 0.5 else 1)]
    else:
        yy, xx = np.mgrid[0:size, 0:size] / size
        a, b = rng.normal(size=2)
        channels = [_norm(a * yy + b * xx + 0.3 * _smooth_field(rng, size, 3))]
    img = np.stack(channels, axis=-1) if len(channels) == 3 else channels[0]
    return img


RENDERERS = {"ct": ct_slice, "mr": mr_slice, "us": ultrasound, "nm": nuclear, "photo": dead_leaves,
             "noise": noise}


def render(kind: str, seed: int, index: int, size: int = 256) -> np.ndarray:
    """One image in [0, 1], H x W (grey) or H x W x 3; the same (kind, seed, index) gives the same
    image."""
    rng = np.random.default_rng([seed, KINDS.index(kind), index])
    img = RENDERERS[kind](rng, size)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return np.clip(img, 0.0, 1.0)


def write_png(path, img):
    v = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    grey = v.ndim == 2
    rows = v if grey else v.reshape(v.shape[0], -1)
    with open(path, "wb") as f:
        png.Writer(width=v.shape[1], height=v.shape[0], greyscale=grey, bitdepth=8,
                   compression=6).write(f, rows.tolist())


def generate(out, seed: int, count: int, size: int = 256):
    """Write `count` images (the kinds in turn) to out/other/ and out/labels.csv (label `other`)."""
    out = Path(out)
    (out / REJECT_LABEL).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        name = f"{REJECT_LABEL}/{kind}_{seed}_{i}.png"
        write_png(os.fspath(out / name), render(kind, seed, i, size))
        rows.append((name, REJECT_LABEL))
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label"])
        w.writerows(rows)
    return rows
