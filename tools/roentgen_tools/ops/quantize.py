"""QUANTIZE (f32 -> int8) and DEQUANTIZE (int8 -> f32). The lowering inserts them where a value
is needed in the other precision (quant.lower); here is their arithmetic."""
from __future__ import annotations

import numpy as np

from ..fileformat.ops import OP_DEQUANTIZE, OP_QUANTIZE

KINDS = (OP_QUANTIZE, OP_DEQUANTIZE)
F32 = np.float32


def quantize(x: np.ndarray, s: float, z: int) -> np.ndarray:
    """clamp(rint(x / s) + z, -128, 127) with x / s one binary32 division; NaN becomes z."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r = np.rint(np.asarray(x, F32) / F32(s)).astype(np.float64)
    q = np.clip(r + z, -128, 127)
    return np.where(np.isnan(q), z, q).astype(np.int8)


def dequantize(q: np.ndarray, s: float, z: int) -> np.ndarray:
    """f32(q - z) * s, one binary32 multiplication."""
    return (q.astype(np.int32) - z).astype(F32) * F32(s)


def run(op, xs, model):
    if op.kind == OP_QUANTIZE:
        t = model.tensors[op.output]
        return quantize(xs[0], t.scale, t.zero_point)
    t = model.tensors[op.inputs[0]]
    return dequantize(xs[0], t.scale, t.zero_point)
