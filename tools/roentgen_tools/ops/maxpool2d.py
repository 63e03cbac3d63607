"""MAXPOOL2D: the maximum over each window's taps inside the input (padding taps are ignored);
int8 keeps its input's scale and zero point, so the same code serves both dtypes."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8
from ..fileformat.ops import OP_MAXPOOL2D
from . import window

KIND = OP_MAXPOOL2D
WINDOW = ("kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top", "pad_left", "pad_bottom", "pad_right",
          "ceil_mode")


def lower(node, ctx):
    dtype = DT_INT8 if ctx.int8(node) else DT_FLOAT32
    x = ctx.input(node, 0, dtype)
    y = ctx.output(node, dtype, quant=ctx.quant(x) if dtype == DT_INT8 else None)
    ctx.emit(KIND, [x], y, {k: node.attrs[k] for k in WINDOW})


def run(op, xs, model):
    ty = model.tensors[op.output]
    _, oh, ow, _ = ty.dims
    x = xs[0][0]
    xp = window.padded(x.astype(np.float64), op.attrs, oh, ow, -np.inf)  # -inf: never the maximum
    y = None
    for _, _, dy, dx in window.taps(op.attrs):
        t = window.tap_view(xp, op.attrs, oh, ow, dy, dx)
        y = t.copy() if y is None else np.maximum(y, t)
    return y.astype(x.dtype).reshape(ty.dims)
