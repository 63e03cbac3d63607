"""MUL: a * b, b of a's shape or a [1, 1, 1, C] gate (squeeze-excite); fused clip.
int8: requant (m, shift) from M = s_a * s_b / s_y on (a - z_a) * (b - z_b)."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_MUL
from ..quant.arith import clip_bounds, requant_pair, requantize

KIND = OP_MUL
F32 = np.float32


def lower(node, ctx):
    if not ctx.int8(node):
        a, b = ctx.input(node, 0, DT_FLOAT32), ctx.input(node, 1, DT_FLOAT32)
        attrs = {k: node.attrs[k] for k in ("clip_min", "clip_max")}
        ctx.emit(KIND, [a, b], ctx.output(node, DT_FLOAT32), attrs)
        return
    a, b = ctx.input(node, 0, DT_INT8), ctx.input(node, 1, DT_INT8)
    (s_a, _), (s_b, _) = ctx.quant(a), ctx.quant(b)
    y = ctx.output(node, DT_INT8)
    s_y, z_y = ctx.quant(y)
    lo, hi = clip_bounds(node.attrs["clip_min"], node.attrs["clip_max"], s_y, z_y)
    rq = ctx.const(node, "requant", DT_INT32, np.array(requant_pair(s_a * s_b / s_y), np.int32))
    ctx.emit(KIND, [a, b, rq], y, dict(out_min=lo, out_max=hi))


def run(op, xs, model):
    ta, tb, ty = (model.tensors[i] for i in (op.inputs[0], op.inputs[1], op.output))
    a, b = xs[0], xs[1].reshape(tb.dims)
    if ty.dtype == DT_INT8:
        m, shift = (int(v) for v in xs[2])
        p = (a.astype(np.int64) - ta.zero_point) * (b.astype(np.int64) - tb.zero_point)
        y = ty.zero_point + requantize(p, m, shift)
        return np.clip(y, op.attrs["out_min"], op.attrs["out_max"]).astype(np.int8)
    y = (a * b).astype(F32)
    return np.minimum(np.maximum(y, F32(op.attrs["clip_min"])), F32(op.attrs["clip_max"]))
