"""PAD: constant padding of height and width. int8 keeps the input's scale and zero point; the
pad value becomes value_q = clamp(z + rint(value / s), -128, 127) on those levels."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8
from ..fileformat.ops import OP_PAD
from ..quant.arith import quantize_real

KIND = OP_PAD
SIDES = ("pad_top", "pad_left", "pad_bottom", "pad_right")


class PadError(ValueError):
    pass


def lower(node, ctx):
    v = node.attrs["value"]
    if not np.isfinite(v):
        raise PadError(f"layer {node.describe()}: pad value {v} is not finite (a -inf pad only folds into a max pool)")
    attrs = {k: node.attrs[k] for k in SIDES}
    if not ctx.int8(node):
        ctx.emit(KIND, [ctx.input(node, 0, DT_FLOAT32)], ctx.output(node, DT_FLOAT32), {**attrs, "value": v})
        return
    x = ctx.input(node, 0, DT_INT8)
    s, z = ctx.quant(x)
    ctx.emit(KIND, [x], ctx.output(node, DT_INT8, quant=(s, z)), {**attrs, "value_q": int(quantize_real(v, s, z))})


def run(op, xs, model):
    a = op.attrs
    ty = model.tensors[op.output]
    fill = a["value_q"] if ty.dtype == DT_INT8 else np.float32(a["value"])
    widths = ((0, 0), (a["pad_top"], a["pad_bottom"]), (a["pad_left"], a["pad_right"]), (0, 0))
    return np.pad(xs[0], widths, constant_values=fill)
