"""RESHAPE: the same elements in the same order under the output's dims (int8: same quantization)."""
from __future__ import annotations

from ..fileformat import DT_FLOAT32, DT_INT8
from ..fileformat.ops import OP_RESHAPE

KIND = OP_RESHAPE


def lower(node, ctx):
    dtype = DT_INT8 if ctx.int8(node) else DT_FLOAT32
    x = ctx.input(node, 0, dtype)
    ctx.emit(KIND, [x], ctx.output(node, dtype, quant=ctx.quant(x) if dtype == DT_INT8 else None), {})


def run(op, xs, model):
    return xs[0].reshape(model.tensors[op.output].dims)
