"""CONV2D: grouped / depthwise / dilated 2-D convolution with a fused leaky ReLU / clip (SPEC CONV2D).

The reference sums in float64 on the exact operands: every int8 product is at most 255 * 127 and
the reader guarantees K * 255 * 127 + max|b| < 2^31 < 2^53, so every partial sum is an exactly
representable integer whatever the summation order - the result equals the int64 sum bit for bit,
and BLAS makes it fast. One matmul per kernel tap (a batched one per group; a broadcast multiply
for depthwise) keeps resnet50 / densenet121 at 224 x 224 at a few seconds per image.
"""
from __future__ import annotations

import numpy as np

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_CONV2D
from ..quant.arith import (check_overflow, clip_bounds, quantize_bias, quantize_weights, requant_rows,
                           requantize)
from . import window

KIND = OP_CONV2D
F32 = np.float32
GEOMETRY = ("kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w",
            "pad_top", "pad_left", "pad_bottom", "pad_right", "groups")


# ------------------------------------------------------------------------------ lowering

def quantized_weights(node, ctx, s_x: float):
    """The int8 weight (per output channel) and int32 bias tensors of a CONV2D / DENSE node whose
    input has scale s_x; returns (weight index, bias index, s_w)."""
    wq, s_w = quantize_weights(node.weight)
    bq, s_b = quantize_bias(node.bias, s_x, s_w)
    check_overflow(node.name, int(np.prod(node.weight.shape[1:])), bq)
    zeros = np.zeros(len(s_w), np.int32)
    w = ctx.const(node, "weight", DT_INT8, wq, scales=s_w, zero_points=zeros)
    b = ctx.const(node, "bias", DT_INT32, bq, scales=s_b, zero_points=zeros)
    return w, b, s_w


def float_weights(node, ctx):
    return (ctx.const(node, "weight", DT_FLOAT32, node.weight.astype(F32)),
            ctx.const(node, "bias", DT_FLOAT32, node.bias.astype(F32)))


def int8_epilogue_attrs(node, s_y: float, z_y: int) -> dict:
    """alpha records the slope; a clip becomes out_min / out_max on the output's levels."""
    lo, hi = clip_bounds(node.attrs["clip_min"], node.attrs["clip_max"], s_y, z_y)
    return dict(alpha=node.attrs["alpha"], out_min=lo, out_max=hi)


def f32_epilogue_attrs(node) -> dict:
    return {k: node.attrs[k] for k in ("alpha", "clip_min", "clip_max")}


def lower(node, ctx):
    geometry = {k: node.attrs[k] for k in GEOMETRY}
    if not ctx.int8(node):
        x = ctx.input(node, 0, DT_FLOAT32)
        w, b = float_weights(node, ctx)
        ctx.emit(KIND, [x, w, b], ctx.output(node, DT_FLOAT32), {**geometry, **f32_epilogue_attrs(node)})
        return
    x = ctx.input(node, 0, DT_INT8)
    s_x, _ = ctx.quant(x)
    w, b, s_w = quantized_weights(node, ctx, s_x)
    y = ctx.output(node, DT_INT8)
    s_y, z_y = ctx.quant(y)
    rq = ctx.const(node, "requant", DT_INT32, requant_rows(s_x, s_w, s_y, node.attrs["alpha"]))
    ctx.emit(KIND, [x, w, b, rq], y, {**geometry, **int8_epilogue_attrs(node, s_y, z_y)})


# ------------------------------------------------------------------------------ reference

def accumulate(x: np.ndarray, w: np.ndarray, a: dict, oh: int, ow: int) -> np.ndarray:
    """float64 sums [OH * OW, OC] of x [H, W, IC] (already minus z_x for int8; padding = 0)
    with w [OC, KH, KW, IC / groups]."""
    oc, _, _, icg = w.shape
    g = a["groups"]
    ocg = oc // g
    dil = (a["dilation_h"], a["dilation_w"])
    xp = window.padded(x, a, oh, ow, 0.0, dil)
    p = oh * ow
    acc = np.zeros((p, oc))
    for kh, kw, dy, dx in window.taps(a, dil):
        t = window.tap_view(xp, a, oh, ow, dy, dx).reshape(p, g * icg)
        wt = w[:, kh, kw, :]
        if g == 1:
            acc += t @ wt.T
        elif icg == 1:  # depthwise (with a channel multiplier ocg)
            acc += (t[:, :, None] * wt.reshape(g, ocg)).reshape(p, oc)
        else:
            grouped = np.matmul(t.reshape(p, g, icg).transpose(1, 0, 2), wt.reshape(g, ocg, icg).transpose(0, 2, 1))
            acc += grouped.transpose(1, 0, 2).reshape(p, oc)
    return acc


def int8_epilogue(acc: np.ndarray, requant: np.ndarray, z_y: int, out_min: int, out_max: int) -> np.ndarray:
    """acc int64 [..., OC]; requant int32 [OC, 4] rows (m_pos, shift_pos, m_neg, shift_neg)."""
    rq = requant.astype(np.int64)
    neg = acc < 0
    m = np.where(neg, rq[:, 2], rq[:, 0])
    shift = np.where(neg, rq[:, 3], rq[:, 1])
    return np.clip(z_y + requantize(acc, m, shift), out_min, out_max).astype(np.int8)


def f32_epilogue(y: np.ndarray, a: dict) -> np.ndarray:
    """y < 0 ? y * alpha : y, then clamp(y, clip_min, clip_max), in binary32."""
    y = np.where(y < 0, y * F32(a["alpha"]), y).astype(F32)
    return np.minimum(np.maximum(y, F32(a["clip_min"])), F32(a["clip_max"]))


def run(op, xs, model):
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    x, w, b = xs[0], xs[1], xs[2]
    a = op.attrs
    _, oh, ow, oc = ty.dims
    if tx.dtype == DT_INT8:
        acc = accumulate(x[0].astype(np.float64) - tx.zero_point, w.astype(np.float64), a, oh, ow)
        acc = acc.astype(np.int64) + b.astype(np.int64)
        y = int8_epilogue(acc, xs[3], ty.zero_point, a["out_min"], a["out_max"])
    else:
        acc = accumulate(x[0].astype(np.float64), w.astype(np.float64), a, oh, ow) + b.astype(np.float64)
        y = f32_epilogue(acc.astype(F32), a)
    return y.reshape(ty.dims)
