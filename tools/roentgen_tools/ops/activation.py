"""ACTIVATION: an elementwise function (ops.toml `enum function`). int8: a 256-entry table the
converter fills with clamp(rint(f(s_x * (q - z_x)) / s_y) + z_y, -128, 127) in float64, so the
op is exact by construction; f32: f in binary32, as SPEC writes it."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8
from ..fileformat import ops
from ..quant.arith import quantize_real

KIND = ops.OP_ACTIVATION
PARAMETERS = ("function", "alpha", "beta", "clip_min", "clip_max")


def function(a: dict, x: np.ndarray) -> np.ndarray:
    """f(x) of SPEC's table, every step in x's dtype (float32 for the f32 op, float64 for tables)."""
    t = x.dtype.type
    f = a["function"]
    with np.errstate(over="ignore"):
        if f == ops.FUNCTION_RELU:
            return np.maximum(x, t(0))
        if f == ops.FUNCTION_LEAKY_RELU:
            return np.where(x < 0, t(a["alpha"]) * x, x)
        if f == ops.FUNCTION_CLIP:
            return np.minimum(np.maximum(x, t(a["clip_min"])), t(a["clip_max"]))
        if f == ops.FUNCTION_HARD_SWISH:
            return x * np.minimum(np.maximum(x / t(6) + t(0.5), t(0)), t(1))
        if f == ops.FUNCTION_HARD_SIGMOID:
            return np.minimum(np.maximum(t(a["alpha"]) * x + t(a["beta"]), t(0)), t(1))
        if f == ops.FUNCTION_SIGMOID:
            return t(1) / (t(1) + np.exp(-x))
        if f == ops.FUNCTION_SILU:
            return x / (t(1) + np.exp(-x))
        if f == ops.FUNCTION_TANH:
            return np.tanh(x)
    raise ValueError(f"unknown activation function {f}")


def table(a: dict, s_x: float, z_x: int, s_y: float, z_y: int) -> np.ndarray:
    q = np.arange(-128, 128, dtype=np.float64)
    return quantize_real(function(a, float(s_x) * (q - z_x)), s_y, z_y).astype(np.int8)


def lower(node, ctx):
    attrs = {k: node.attrs[k] for k in PARAMETERS}
    if not ctx.int8(node):
        ctx.emit(KIND, [ctx.input(node, 0, DT_FLOAT32)], ctx.output(node, DT_FLOAT32), attrs)
        return
    x = ctx.input(node, 0, DT_INT8)
    y = ctx.output(node, DT_INT8)
    lut = ctx.const(node, "table", DT_INT8, table(attrs, *ctx.quant(x), *ctx.quant(y)))
    ctx.emit(KIND, [x, lut], y, attrs)


def run(op, xs, model):
    x = xs[0]
    if model.tensors[op.output].dtype == DT_INT8:
        return xs[1][x.astype(np.int64) + 128]
    return function(op.attrs, x.astype(np.float32)).astype(np.float32)
