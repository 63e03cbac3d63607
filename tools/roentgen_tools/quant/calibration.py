"""Activation ranges for int8 calibration: run the f32 model (the numpy reference, same
preprocessing as the runtime) over every calibration image (PNG or DICOM, found as
``image.list_images`` finds them), record every activation, and choose,
per activation tensor, the real range [lo, hi] that ``arith.activation_params`` turns into a scale
and zero point (it widens the range to contain 0):

- ``minmax``: the smallest and largest value seen.
- ``percentile``: lo / hi = the (100 - p)-th / p-th percentile of all values of the tensor over all
  images (p = 99.99 by default), from a 16384-bin histogram over [min, max]; so a few outliers are
  clipped instead of stretching the scale for everyone.
- ``entropy``: the KL-divergence threshold search of TensorRT's / ncnn's int8 calibrators, done
  per side because our int8 activations are asymmetric: a 2048-bin histogram of the positive values
  over [0, max] (and one of |negative values| over [0, -min]; exact zeros are left out, 0 is always
  exactly representable); for every candidate threshold T (bins i = L .. 2048) the clipped
  distribution P (outliers added to the last bin) is compared with its quantization Q to L levels,
  and the T with the smallest KL(P || Q) wins. L is that side's share of the 255 steps,
  ``round(255 * max / (max - min))`` (so 255 after a ReLU); a side with fewer than 16 levels (the
  small negative side of a leaky ReLU) keeps its observed extreme.

Every method returns the chosen ranges and a per-tensor report (observed min/max, chosen range,
fraction of calibration values clipped by it).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..data import image
from ..reference import executor as reference

METHODS = ("minmax", "percentile", "entropy")
DEFAULT_PERCENTILE = 99.99
PERCENTILE_BINS = 16384
ENTROPY_BINS = 2048
ENTROPY_MIN_LEVELS = 16


class CalibrationError(ValueError):
    pass


def calibration_files(folder):
    """All PNG and DICOM images under folder, recursively, sorted by relative POSIX path."""
    root = Path(folder)
    if not root.is_dir():
        raise CalibrationError(f"calibration folder {folder!s} does not exist")
    found, problems = image.list_images(root)
    if problems:  # a DICOMDIR that cannot be read or references a missing file: the set is not what it says
        raise CalibrationError("; ".join(f"{path}: {message}" for path, message in problems))
    if not found:
        raise CalibrationError(f"calibration folder {folder!s} holds no PNG or DICOM images")
    return root, [Path(p) for p in found]


def calibration_digest(folder) -> str:
    """SHA-256 over, for each image in sorted relative-path order: path (UTF-8), NUL, file bytes."""
    root, files = calibration_files(folder)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8"))
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def calibrate(model_f32, folder):
    """{activation tensor name: (min, max)} over every calibration image of `folder` (minmax)."""
    ranges, _ = choose_ranges(model_f32, calibration_files(folder)[1], "minmax")
    return ranges


def method_params(method: str, percentile: float = DEFAULT_PERCENTILE) -> str:
    """The provenance value ``calibration_params`` for a method: ``key=value`` pairs joined by ';'."""
    if method == "minmax":
        return "none"
    if method == "percentile":
        return f"percentile={percentile:g};bins={PERCENTILE_BINS}"
    if method == "entropy":
        return f"bins={ENTROPY_BINS};per_side=1;levels=255*side/(max-min);min_levels={ENTROPY_MIN_LEVELS};zeros=excluded"
    raise CalibrationError(f"unknown calibration method {method!r} (use one of {', '.join(METHODS)})")


def _activations(model_f32, files):
    for p in files:
        yield reference.run(model_f32, reference.load_input(model_f32, os.fspath(p)), record=True)


def kl_threshold(hist: np.ndarray, levels: int) -> int:
    """Index i (number of bins kept, levels <= i <= len(hist)) minimising KL(P || Q), as in
    TensorRT's / ncnn's calibrator. ``hist`` counts |x| in equal bins from 0."""
    hist = np.asarray(hist, dtype=np.float64)
    n = len(hist)
    if n <= levels or hist.sum() == 0:
        return n
    best_i, best_kl = n, np.inf
    total_tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # total_tail[i] = sum hist[i:]
    for i in range(levels, n + 1):
        p = hist[:i].copy()
        p[i - 1] += total_tail[i]           # outliers clipped into the last kept bin
        nonzero = hist[:i] > 0
        # Q: merge the i bins into `levels` groups, spread each group's mass over its nonzero bins
        edges = (np.arange(levels + 1) * i) // levels
        group = np.repeat(np.arange(levels), np.diff(edges))
        mass = np.bincount(group, weights=hist[:i], minlength=levels)
        count = np.bincount(group, weights=nonzero.astype(np.float64), minlength=levels)
        q = np.where(nonzero, mass[group] / np.maximum(count[group], 1), 0.0)
        ps, qs = p.sum(), q.sum()
        if ps == 0 or qs == 0:
            continue
        p /= ps
        q /= qs
        m = p > 0
        # a bin with p > 0 and q == 0 (only the last bin, which got the outliers): smooth
        qm = np.maximum(q[m], 1e-12)
        kl = float(np.sum(p[m] * np.log(p[m] / qm)))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i


def choose_ranges(model_f32, files, method: str = "minmax", percentile: float = DEFAULT_PERCENTILE,
                  range_scale: dict | None = None):
    """Returns (ranges {tensor name: (lo, hi)}, report [dict per tensor]).

    ``range_scale`` {tensor name: factor} multiplies a tensor's chosen range by factor after
    calibration. Internal: tests use it to build a deliberately damaged model (e.g. 0.1 cuts a
    layer's range to a tenth) through the normal quantizer, so requant multipliers stay consistent.
    """
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r} (use one of {', '.join(METHODS)})")
    if method == "percentile" and not 50.0 < float(percentile) <= 100.0:
        raise CalibrationError(f"--percentile must be in (50, 100], not {percentile}")
    files = list(files)
    lo_seen, hi_seen, count = {}, {}, {}
    for acts in _activations(model_f32, files):
        for name, v in acts.items():
            lo, hi = float(np.min(v)), float(np.max(v))
            lo_seen[name] = min(lo, lo_seen.get(name, lo))
            hi_seen[name] = max(hi, hi_seen.get(name, hi))
            count[name] = count.get(name, 0) + v.size
    names = list(lo_seen)
    ranges = {n: (lo_seen[n], hi_seen[n]) for n in names}
    clipped = {n: 0.0 for n in names}
    if method != "minmax":
        hists = {}
        for acts in _activations(model_f32, files):  # second pass: histograms over the known extent
            for name, v in acts.items():
                lo, hi = lo_seen[name], hi_seen[name]
                if hi <= lo:
                    continue
                x = v.reshape(-1).astype(np.float64)
                if method == "percentile":
                    h, _ = np.histogram(x, bins=PERCENTILE_BINS, range=(lo, hi))
                else:
                    pos, _ = np.histogram(x[x > 0], bins=ENTROPY_BINS, range=(0.0, max(hi, 1e-30)))
                    neg, _ = np.histogram(-x[x < 0], bins=ENTROPY_BINS, range=(0.0, max(-lo, 1e-30)))
                    h = np.stack([pos, neg])
                hists[name] = hists.get(name, 0) + h
        for name, h in hists.items():
            lo, hi = lo_seen[name], hi_seen[name]
            if method == "percentile":
                cdf = np.cumsum(h) / h.sum()
                width = (hi - lo) / PERCENTILE_BINS
                q = float(percentile) / 100.0
                top = int(np.searchsorted(cdf, q, side="left"))          # first bin with cdf >= q
                bottom = int(np.searchsorted(cdf, 1.0 - q, side="right"))  # first bin with cdf > 1-q
                new_hi = min(hi, lo + (min(top, PERCENTILE_BINS - 1) + 1) * width)
                new_lo = max(lo, lo + bottom * width)
                if new_lo >= new_hi:
                    new_lo, new_hi = lo, hi
            else:
                span = max(hi, 0.0) - min(lo, 0.0)
                new_lo, new_hi = lo, hi
                for side, extreme in ((0, hi), (1, -lo)):
                    levels = int(round(255 * extreme / span)) if extreme > 0 else 0
                    if levels < ENTROPY_MIN_LEVELS:
                        continue
                    t = kl_threshold(h[side], levels) * extreme / ENTROPY_BINS
                    if side == 0:
                        new_hi = min(hi, t)
                    else:
                        new_lo = max(lo, -t)
            ranges[name] = (new_lo, new_hi)
    if range_scale:
        for name, f in range_scale.items():
            if name not in ranges:
                raise CalibrationError(f"range_scale: no activation named {name!r}")
            lo, hi = ranges[name]
            ranges[name] = (lo * float(f), hi * float(f))
    if method != "minmax" or range_scale:
        # fraction of calibration values outside the chosen range: a third pass only for reporting
        outside = {n: 0 for n in names}
        for acts in _activations(model_f32, files):
            for name, v in acts.items():
                lo, hi = ranges[name]
                lo, hi = min(lo, 0.0), max(hi, 0.0)
                outside[name] += int(np.count_nonzero((v < lo) | (v > hi)))
        clipped = {n: outside[n] / count[n] for n in names}
    report = [{"tensor": n, "method": method, "min": lo_seen[n], "max": hi_seen[n],
               "lo": ranges[n][0], "hi": ranges[n][1], "clipped": clipped[n]} for n in names]
    return ranges, report


def format_report(report, used=None) -> str:
    """A table of the chosen ranges; `used` (tensor names) limits it to the ranges the model uses."""
    rows = [r for r in report if used is None or r["tensor"] in used]
    if not rows:
        return ""
    w = max(len("tensor"), *(len(r["tensor"]) for r in rows))
    lines = [f"calibration ({rows[0]['method']}): {'tensor':<{w}}  {'observed min':>13} {'observed max':>13}  "
             f"{'chosen lo':>11} {'chosen hi':>11}  clipped"]
    pad = " " * len(f"calibration ({rows[0]['method']}): ")
    for r in rows:
        lines.append(f"{pad}{r['tensor']:<{w}}  {r['min']:>13.6g} {r['max']:>13.6g}  {r['lo']:>11.6g} {r['hi']:>11.6g}  "
                     f"{r['clipped'] * 100:.4f} %")
    return "\n".join(lines)
