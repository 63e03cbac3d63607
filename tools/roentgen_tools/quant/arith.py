"""Quantization arithmetic of SPEC "Integer arithmetic" and min/max calibration.

All scales that go into the file are rounded to binary32 first and every derived quantity
(bias, requant multiplier) is computed from those stored values in float64, so the file is
self-consistent no matter who reads it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..fileformat.rtg import INT32_MAX, M_LIMIT, SHIFT_MAX, SHIFT_MIN

F32 = np.float32


class QuantizationError(ValueError):
    pass


def weight_scales(w: np.ndarray) -> np.ndarray:
    """Per output channel (axis 0): s_w = max|w| / 127 as f32; an all-zero channel gets 1.0."""
    m = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).max(axis=1)
    s = (m / 127.0).astype(F32)
    s[(m == 0) | ~(s > 0)] = F32(1.0)  # zero channel, or a max so small it underflows f32
    return s


def quantize_weights(w: np.ndarray):
    """Symmetric int8 per channel: q = clamp(rint(w / s_w), -127, 127) (half to even)."""
    s = weight_scales(w)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(np.rint(w.astype(np.float64) / s.astype(np.float64).reshape(shape)), -127, 127)
    return q.astype(np.int8), s


def activation_params(lo: float, hi: float):
    """Asymmetric int8: range widened to contain 0, s = (max - min) / 255, z = round(-128 - min/s)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    s64 = (hi - lo) / 255.0
    with np.errstate(over="ignore"):
        fits = np.isfinite(s64) and np.isfinite(F32(s64))
    if not fits:
        raise QuantizationError(f"activation range [{lo}, {hi}] gives a non-finite scale")
    s = F32(s64)
    if s == 0:
        # constant-zero activation: any positive scale is exact; a range so narrow it underflows
        # binary32 gets the smallest normal scale instead
        s = F32(1.0) if hi == lo else np.finfo(F32).tiny
    z = int(np.clip(np.rint(-128.0 - lo / float(s)), -128, 127))
    return s, z


def quantize_multiplier(M: float):
    """m / 2^shift ~ M: shift is the largest value <= 62 with |round(M * 2^shift)| < 2^31,
    m = round(M * 2^shift) in float64 with half to even (SPEC). Raises if shift would be < 1."""
    M = float(M)
    if not np.isfinite(M):
        raise QuantizationError(f"requantization multiplier {M} is not finite")
    for shift in range(SHIFT_MAX, SHIFT_MIN - 1, -1):
        m = round(M * 2.0**shift)  # Python round on float: half to even; M * 2^k is exact
        if abs(m) < 2**31:
            return int(m), shift
    raise QuantizationError(f"requantization multiplier {M} is too large (needs shift < 1)")


def requant_rows(s_x: float, s_w: np.ndarray, s_y: float, alpha):
    """int32 [OC, 4] rows (m_pos, shift_pos, m_neg, shift_neg) of SPEC."""
    rows = np.zeros((len(s_w), 4), dtype=np.int64)
    for oc, sw in enumerate(s_w.astype(np.float64)):
        M = float(s_x) * sw / float(s_y)
        m_pos, sh_pos = quantize_multiplier(M)
        if alpha is None:
            m_neg, sh_neg = m_pos, sh_pos
        else:
            m_neg, sh_neg = quantize_multiplier(float(alpha) * M)  # ReLU: m = 0 (shift 62)
        rows[oc] = (m_pos, sh_pos, m_neg, sh_neg)
    assert np.all(np.abs(rows[:, [0, 2]]) <= M_LIMIT)
    return rows.astype(np.int32)


def quantize_bias(b: np.ndarray, s_x: float, s_w: np.ndarray):
    """int32 bias = round(b / (s_x * s_w)) (half to even), and its f32 scales s_x * s_w."""
    scale = float(s_x) * s_w.astype(np.float64)
    q = np.rint(b.astype(np.float64) / scale)
    if np.any(np.abs(q) > INT32_MAX):
        raise QuantizationError("bias does not fit in int32")
    return q.astype(np.int32), scale.astype(F32)


def requantize(acc, m, shift):
    """SPEC's single rounding rule, in int64: (acc * m + 2^(shift-1)) >> shift (arithmetic)."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (acc * m + (np.int64(1) << (shift - 1))) >> shift


def check_overflow(name: str, k: int, bias_q: np.ndarray):
    worst = k * 255 * 127 + int(np.max(np.abs(bias_q.astype(np.int64)), initial=0))
    if worst > INT32_MAX:
        raise QuantizationError(f"layer {name!r}: int32 accumulator may overflow (K*255*127 + max|b| = "
                                f"{worst} > 2^31-1)")


# ----------------------------------------------------------------------------------- calibration

def calibration_files(folder):
    """All PNGs under folder, recursively, sorted by relative POSIX path."""
    root = Path(folder)
    if not root.is_dir():
        raise QuantizationError(f"calibration folder {folder!s} does not exist")
    files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".png"),
                   key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise QuantizationError(f"calibration folder {folder!s} holds no .png files")
    return root, files


def calibration_digest(folder) -> str:
    """SHA-256 over, for each PNG in sorted relative-path order: path (UTF-8), NUL, file bytes."""
    root, files = calibration_files(folder)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8"))
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def calibrate(model_f32, folder):
    """Runs the f32 model (same preprocessing as image.py) over every calibration PNG; returns
    {activation tensor name: (min, max)} over all images (method "minmax")."""
    from ..reference import executor as reference  # late import: reference imports this module

    _, files = calibration_files(folder)
    ranges = {}
    for p in files:
        acts = reference.run(model_f32, reference.load_input(model_f32, os.fspath(p)), record=True)
        for name, v in acts.items():
            lo, hi = float(np.min(v)), float(np.max(v))
            if name in ranges:
                lo, hi = min(lo, ranges[name][0]), max(hi, ranges[name][1])
            ranges[name] = (lo, hi)
    return ranges
