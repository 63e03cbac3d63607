"""CONCAT along the channel (last) axis. int8: every input keeps its own scale and is requantized
to the output's, row i = (m_i, shift_i) from M_i = s_i / s_y (M = 1, z_i = z_y: a plain copy)."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_CONCAT
from ..quant.arith import requant_pair, requantize

KIND = OP_CONCAT


def lower(node, ctx):
    n = len(node.inputs)
    if not ctx.int8(node):
        xs = [ctx.input(node, i, DT_FLOAT32) for i in range(n)]
        ctx.emit(KIND, xs, ctx.output(node, DT_FLOAT32), {})
        return
    xs = [ctx.input(node, i, DT_INT8) for i in range(n)]
    y = ctx.output(node, DT_INT8)
    s_y, _ = ctx.quant(y)
    rows = np.array([requant_pair(ctx.quant(x)[0] / s_y) for x in xs], np.int32)
    ctx.emit(KIND, xs + [ctx.const(node, "requant", DT_INT32, rows)], y, {})


def run(op, xs, model):
    ty = model.tensors[op.output]
    if ty.dtype != DT_INT8:
        return np.concatenate(xs, axis=-1)
    rows = xs[-1].astype(np.int64)
    parts = []
    for i, x in enumerate(xs[:-1]):
        z = model.tensors[op.inputs[i]].zero_point
        parts.append(ty.zero_point + requantize(x.astype(np.int64) - z, rows[i, 0], rows[i, 1]))
    return np.clip(np.concatenate(parts, axis=-1), -128, 127).astype(np.int8)
