"""The quantization arithmetic of SPEC "The ops": the one rounding rule and everything that
derives integer parameters from real scales. Every op module calls these; none retypes a rule.

All scales that go into the file are rounded to binary32 first, and every derived quantity (bias,
requant multiplier, table entry) is computed from those stored values in float64, so the file is
self-consistent no matter who reads it.
"""
from __future__ import annotations

import numpy as np

from ..fileformat import INT32_MAX, M_LIMIT, SHIFT_MAX, SHIFT_MIN

F32 = np.float32


class QuantizationError(ValueError):
    pass


# ------------------------------------------------------------------------------- the rounding rule

def requantize(acc, m, shift):
    """SPEC's single rounding rule, in int64: (acc * m + 2^(shift-1)) >> shift (arithmetic)."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (acc * m + (np.int64(1) << (shift - 1))) >> shift


def requantize_sum(a, m_a, b, m_b, shift):
    """ADD's one rounding of two scaled terms: (a * m_a + b * m_b + 2^(shift-1)) >> shift, in int64
    (|sum| < 2^41)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    shift = np.int64(shift)
    return (a * np.int64(m_a) + b * np.int64(m_b) + (np.int64(1) << (shift - 1))) >> shift


def quantize_multiplier(M: float):
    """m / 2^shift ~ M: shift is the largest value <= 62 with |rint(M * 2^shift)| < 2^31,
    m = rint(M * 2^shift) in float64, half to even (SPEC). Raises if shift would be < 1."""
    m, shift = quantize_multipliers([M])
    return m[0], shift


def quantize_multipliers(Ms):
    """Several multipliers with ONE common shift (ADD's (m_a, m_b, shift)): the largest shift
    <= 62 at which every |rint(M * 2^shift)| < 2^31."""
    Ms = [float(M) for M in Ms]
    for M in Ms:
        if not np.isfinite(M):
            raise QuantizationError(f"requantization multiplier {M} is not finite")
    for shift in range(SHIFT_MAX, SHIFT_MIN - 1, -1):
        ms = [round(M * 2.0**shift) for M in Ms]  # Python round on a float: half to even; exact
        if all(abs(m) < 2**31 for m in ms):
            return [int(m) for m in ms], shift
    raise QuantizationError(f"requantization multiplier {max(Ms, key=abs)} is too large (needs shift < 1)")


def requant_pair(M: float) -> list:
    """One (m, shift) row of AVGPOOL2D / MEAN / MUL / CONCAT."""
    m, shift = quantize_multiplier(M)
    return [m, shift]


# ------------------------------------------------------------------------------- activations

def activation_params(lo: float, hi: float):
    """Asymmetric int8: range widened to contain 0, s = (max - min) / 255, z = rint(-128 - min / s)."""
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


def quantize_real(v, s: float, z: int):
    """Real value(s) -> int8 level(s) of scale s and zero point z, in float64:
    clamp(rint(v / s) + z, -128, 127). Infinities clamp to the ends (an unbounded clip)."""
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.rint(np.asarray(v, dtype=np.float64) / float(s)) + z
    return np.clip(q, -128, 127).astype(np.int64)


def clip_bounds(clip_min: float, clip_max: float, s_y: float, z_y: int):
    """A fused clip of an int8 op: out_min = clamp(z_y + rint(clip_min / s_y), -128, 127), out_max
    likewise (SPEC CONV2D)."""
    return int(quantize_real(clip_min, s_y, z_y)), int(quantize_real(clip_max, s_y, z_y))


# ------------------------------------------------------------------------------- weights and bias

def weight_scales(w: np.ndarray, floor=None) -> np.ndarray:
    """Per output channel (axis 0): s_w = max|w| / 127 as f32 (an all-zero channel gets 1.0),
    at least `floor` (see bias_scale_floor)."""
    m = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).max(axis=1)
    s = (m / 127.0).astype(F32)
    s[(m == 0) | ~(s > 0)] = F32(1.0)  # zero channel, or a max so small it underflows f32
    if floor is not None:
        s = np.maximum(s, np.asarray(floor, F32))
    return s


def bias_scale_floor(b: np.ndarray, s_x: float, k: int) -> np.ndarray:
    """The smallest f32 s_w per channel at which the int32 bias rint(b / (s_x * s_w)) leaves room
    for the K products: |b_q| <= 2^31 - 1 - K * 255 * 127 (SPEC's accumulator bound). Only a bias
    that is huge next to what the input can contribute (an almost constant input: a tiny s_x)
    needs it; its weights then get coarser levels, which cannot matter next to that bias."""
    limit = INT32_MAX - k * 255 * 127
    if limit <= 0:
        raise QuantizationError(f"K = {k} products may overflow int32 (K * 255 * 127 > 2^31 - 1)")
    need = np.abs(b.astype(np.float64)) / (float(s_x) * limit)
    s = need.astype(F32)
    return np.where(s.astype(np.float64) < need, np.nextafter(s, F32(np.inf)), s).astype(F32)


def quantize_weights(w: np.ndarray, floor=None):
    """Symmetric int8 per channel: q = clamp(rint(w / s_w), -127, 127) (half to even)."""
    s = weight_scales(w, floor)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(np.rint(w.astype(np.float64) / s.astype(np.float64).reshape(shape)), -127, 127)
    return q.astype(np.int8), s


def quantize_bias(b: np.ndarray, s_x: float, s_w: np.ndarray):
    """int32 bias = rint(b / (s_x * s_w)) (half to even), and its f32 scales s_x * s_w."""
    scale = float(s_x) * s_w.astype(np.float64)
    q = np.rint(b.astype(np.float64) / scale)
    if np.any(np.abs(q) > INT32_MAX):
        raise QuantizationError("bias does not fit in int32")
    return q.astype(np.int32), scale.astype(F32)


def requant_rows(s_x: float, s_w: np.ndarray, s_y: float, alpha: float = 1.0):
    """CONV2D / DENSE int32 [OC, 4] rows (m_pos, shift_pos, m_neg, shift_neg): M = s_x * s_w / s_y,
    the negative side from alpha * M (alpha = 1: no activation, the same pair; 0: ReLU, m = 0)."""
    rows = np.zeros((len(s_w), 4), dtype=np.int64)
    alpha = float(F32(alpha))
    for oc, sw in enumerate(s_w.astype(np.float64)):
        M = float(s_x) * sw / float(s_y)
        m_pos, sh_pos = quantize_multiplier(M)
        m_neg, sh_neg = (m_pos, sh_pos) if alpha == 1.0 else quantize_multiplier(alpha * M)
        rows[oc] = (m_pos, sh_pos, m_neg, sh_neg)
    assert np.all(np.abs(rows[:, [0, 2]]) <= M_LIMIT)
    return rows.astype(np.int32)


def check_overflow(name: str, k: int, bias_q: np.ndarray):
    """SPEC: K * 255 * 127 + max|b| <= 2^31 - 1 keeps every CONV2D / DENSE sum exact in int32."""
    worst = k * 255 * 127 + int(np.max(np.abs(bias_q.astype(np.int64)), initial=0))
    if worst > INT32_MAX:
        raise QuantizationError(f"layer {name!r}: int32 accumulator may overflow (K*255*127 + max|b| = "
                                f"{worst} > 2^31-1)")
