"""MEAN: the global average over height and width, [1, H, W, C] -> [1, 1, 1, C].
int8: one requant pair from M = s_x / (H * W * s_y)."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_MEAN
from ..quant.arith import requant_pair, requantize

KIND = OP_MEAN
F32 = np.float32


def lower(node, ctx):
    if not ctx.int8(node):
        ctx.emit(KIND, [ctx.input(node, 0, DT_FLOAT32)], ctx.output(node, DT_FLOAT32), {})
        return
    x = ctx.input(node, 0, DT_INT8)
    s_x, _ = ctx.quant(x)
    y = ctx.output(node, DT_INT8)
    s_y, _ = ctx.quant(y)
    _, h, w, _ = ctx.dims(x)
    rq = np.array([requant_pair(s_x / (h * w * s_y))], np.int32)
    ctx.emit(KIND, [x, ctx.const(node, "requant", DT_INT32, rq)], y, {})


def run(op, xs, model):
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    _, h, w, _ = tx.dims
    if tx.dtype == DT_INT8:
        acc = (xs[0].astype(np.int64) - tx.zero_point).sum(axis=(1, 2))
        m, shift = (int(v) for v in xs[1].reshape(-1))
        y = np.clip(ty.zero_point + requantize(acc, m, shift), -128, 127).astype(np.int8)
    else:
        y = xs[0].astype(np.float64).sum(axis=(1, 2)).astype(F32) / F32(h * w)
    return y.reshape(ty.dims)
