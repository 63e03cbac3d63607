"""DENSE: a fully connected layer over the input read as a flat NHWC vector (SPEC DENSE).

int8 -> int8 ends in the CONV2D int8 epilogue; int8 -> f32 (the logits of a classifier, the
decision values of an SVM head: the graph output) is `f32(acc) * out_scale[n]`, then the f32
epilogue. Sums in float64 as in conv2d (exact for int8)."""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_DENSE
from ..quant.arith import requant_rows
from .conv2d import (f32_epilogue, f32_epilogue_attrs, float_weights, int8_epilogue, int8_epilogue_attrs,
                     quantized_weights)

KIND = OP_DENSE
F32 = np.float32


def lower(node, ctx):
    if not ctx.int8(node):
        x = ctx.input(node, 0, DT_FLOAT32)
        w, b = float_weights(node, ctx)
        ctx.emit(KIND, [x, w, b], ctx.output(node, DT_FLOAT32), f32_epilogue_attrs(node))
        return
    x = ctx.input(node, 0, DT_INT8)
    s_x, _ = ctx.quant(x)
    w, b, s_w = quantized_weights(node, ctx, s_x)
    if ctx.is_output(node):  # int8 -> f32: out_scale = f32(s_x * s_w[n])
        osc = ctx.const(node, "out_scale", DT_FLOAT32, (s_x * s_w.astype(np.float64)).astype(F32))
        ctx.emit(KIND, [x, w, b, osc], ctx.output(node, DT_FLOAT32), f32_epilogue_attrs(node))
        return
    y = ctx.output(node, DT_INT8)
    s_y, z_y = ctx.quant(y)
    rq = ctx.const(node, "requant", DT_INT32, requant_rows(s_x, s_w, s_y, node.attrs["alpha"]))
    ctx.emit(KIND, [x, w, b, rq], y, int8_epilogue_attrs(node, s_y, z_y))


def accumulator(op, xs, model) -> np.ndarray:
    """The sums before the epilogue, bias included, [1, N] (see conv2d.accumulator)."""
    tx = model.tensors[op.inputs[0]]
    x, w, b = xs[0], xs[1], xs[2]
    n = w.shape[0]
    if tx.dtype == DT_INT8:
        xi = x.reshape(1, -1).astype(np.float64) - tx.zero_point  # exact: see conv2d
        return (xi @ w.reshape(n, -1).astype(np.float64).T).astype(np.int64) + b.astype(np.int64)
    return x.reshape(1, -1).astype(np.float64) @ w.reshape(n, -1).astype(np.float64).T + b.astype(np.float64)


def input_gram(op, xs, model) -> np.ndarray:
    """x x^T of the input vector, [1, K, K] float64 (see conv2d.input_gram)."""
    tx = model.tensors[op.inputs[0]]
    x = xs[0].reshape(1, -1).astype(np.float64) - (tx.zero_point if tx.dtype == DT_INT8 else 0)
    return (x.T @ x)[None]


def run(op, xs, model):
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    acc = accumulator(op, xs, model)
    if tx.dtype != DT_INT8:
        y = f32_epilogue(acc.astype(F32), op.attrs)
    elif ty.dtype == DT_INT8:
        y = int8_epilogue(acc, xs[3], ty.zero_point, op.attrs["out_min"], op.attrs["out_max"])
    else:
        y = f32_epilogue(acc.astype(F32) * xs[3].astype(F32), op.attrs)
    return y.reshape(ty.dims)
