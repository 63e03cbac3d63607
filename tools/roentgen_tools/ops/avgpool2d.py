"""AVGPOOL2D: the average over each window's taps inside the input; the divisor c counts the
padding (count_include_pad = 1, PyTorch's rule: not the extra taps of ceil_mode) or not.
int8: one requant row per divisor, row c - 1 from M = s_x / (c * s_y)."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_AVGPOOL2D
from ..quant.arith import requant_pair, requantize
from . import window

KIND = OP_AVGPOOL2D
F32 = np.float32
WINDOW = ("kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top", "pad_left", "pad_bottom", "pad_right",
          "ceil_mode", "count_include_pad")


def lower(node, ctx):
    attrs = {k: node.attrs[k] for k in WINDOW}
    if not ctx.int8(node):
        ctx.emit(KIND, [ctx.input(node, 0, DT_FLOAT32)], ctx.output(node, DT_FLOAT32), attrs)
        return
    x = ctx.input(node, 0, DT_INT8)
    s_x, _ = ctx.quant(x)
    y = ctx.output(node, DT_INT8)
    s_y, _ = ctx.quant(y)
    taps = attrs["kernel_h"] * attrs["kernel_w"]
    rows = np.array([requant_pair(s_x / (c * s_y)) for c in range(1, taps + 1)], np.int32)
    ctx.emit(KIND, [x, ctx.const(node, "requant", DT_INT32, rows)], y, attrs)


def divisors(a: dict, h: int, w: int, oh: int, ow: int) -> np.ndarray:
    """c [OH, OW, 1] of every output position."""
    inc = bool(a["count_include_pad"])
    ch = window.counts(h, a["kernel_h"], a["stride_h"], a["pad_top"], a["pad_bottom"], oh, inc)
    cw = window.counts(w, a["kernel_w"], a["stride_w"], a["pad_left"], a["pad_right"], ow, inc)
    return (ch[:, None] * cw[None, :])[:, :, None]


def run(op, xs, model):
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    a = op.attrs
    _, h, w, _ = tx.dims
    _, oh, ow, _ = ty.dims
    int8 = tx.dtype == DT_INT8
    x = xs[0][0].astype(np.float64) - (tx.zero_point if int8 else 0)
    xp = window.padded(x, a, oh, ow, 0.0)
    acc = np.zeros((oh, ow, x.shape[2]))
    for _, _, dy, dx in window.taps(a):
        acc += window.tap_view(xp, a, oh, ow, dy, dx)
    c = divisors(a, h, w, oh, ow)
    if int8:
        rq = xs[1].astype(np.int64)
        y = ty.zero_point + requantize(acc.astype(np.int64), rq[c - 1, 0], rq[c - 1, 1])
        return np.clip(y, -128, 127).astype(np.int8).reshape(ty.dims)
    return (acc.astype(F32) / c.astype(F32)).reshape(ty.dims)
