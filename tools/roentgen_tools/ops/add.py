"""ADD: a + b, b of a's shape or [1, 1, 1, C] broadcast over height and width; fused clip (ReLU).
int8: requant (m_a, m_b, shift) with one common shift, one rounding of both terms."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_ADD
from ..quant.arith import clip_bounds, quantize_multipliers, requantize_sum

KIND = OP_ADD
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
    (m_a, m_b), shift = quantize_multipliers([s_a / s_y, s_b / s_y])
    lo, hi = clip_bounds(node.attrs["clip_min"], node.attrs["clip_max"], s_y, z_y)
    rq = ctx.const(node, "requant", DT_INT32, np.array([m_a, m_b, shift], np.int32))
    ctx.emit(KIND, [a, b, rq], y, dict(out_min=lo, out_max=hi))


def run(op, xs, model):
    ta, tb, ty = (model.tensors[i] for i in (op.inputs[0], op.inputs[1], op.output))
    a, b = xs[0], xs[1].reshape(tb.dims)  # [1, 1, 1, C] broadcasts over [1, H, W, C]
    if ty.dtype == DT_INT8:
        m_a, m_b, shift = (int(v) for v in xs[2])
        s = requantize_sum(a.astype(np.int64) - ta.zero_point, m_a, b.astype(np.int64) - tb.zero_point, m_b, shift)
        return np.clip(ty.zero_point + s, op.attrs["out_min"], op.attrs["out_max"]).astype(np.int8)
    y = (a + b).astype(F32)
    return np.minimum(np.maximum(y, F32(op.attrs["clip_min"])), F32(op.attrs["clip_max"]))
