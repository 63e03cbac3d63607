"""CONV2D: grouped / depthwise / dilated 2-D convolution with a fused leaky ReLU / clip (SPEC CONV2D).

The reference uses float32 BLAS on the exact operands: an int8 product (x - z_x) * w is an integer
of at most 255 * 127, so a matmul that reduces at most 512 of them has every partial sum an
integer below 2^24 - exact in float32 whatever the summation order - and the blocks add up
exactly in float64 (the reader bounds K * 255 * 127 + max|b| < 2^31). The result equals the int64
sum bit for bit, and im2col + one matmul per block of rows (batched over groups; a broadcast
multiply per tap for depthwise) keeps resnet50 / densenet121 at 224 x 224 at seconds per image.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..fileformat import DT_FLOAT32, DT_INT8, DT_INT32
from ..fileformat.ops import OP_CONV2D
from ..quant.arith import (bias_scale_floor, check_overflow, clip_bounds, quantize_bias, quantize_weights,
                           requant_rows, requantize)
from . import window

KIND = OP_CONV2D
F32 = np.float32
GEOMETRY = ("kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w",
            "pad_top", "pad_left", "pad_bottom", "pad_right", "groups")


# ------------------------------------------------------------------------------ lowering

def quantized_weights(node, ctx, s_x: float):
    """The int8 weight (per output channel) and int32 bias tensors of a CONV2D / DENSE node whose
    input has scale s_x; returns (weight index, bias index, s_w)."""
    k = int(np.prod(node.weight.shape[1:]))
    wq, s_w = quantize_weights(node.weight, bias_scale_floor(node.bias, s_x, k))
    bq, s_b = quantize_bias(node.bias, s_x, s_w)
    check_overflow(node.name, k, bq)
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

CHUNK_BYTES = 32 << 20  # im2col buffer per block of output rows
EXACT_K = 512           # reduction length per float32 matmul for exact int8 sums: 512 * 255 * 127 < 2^24


def im2col(xp: np.ndarray, a: dict, oh: int, ow: int) -> np.ndarray:
    """[OH, OW, KH, KW, C] view of the padded input xp under every window (no copy yet)."""
    dh, dw = a["dilation_h"], a["dilation_w"]
    kh, kw = a["kernel_h"], a["kernel_w"]
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(0, 1))
    v = v[::a["stride_h"], ::a["stride_w"], :, ::dh, ::dw][:oh, :ow]
    return v.transpose(0, 1, 3, 4, 2)


def accumulate(x: np.ndarray, w: np.ndarray, a: dict, oh: int, ow: int, exact: bool) -> np.ndarray:
    """float64 sums [OH * OW, OC] of x [H, W, IC] (int8: already minus z_x; padding = 0) with
    w [OC, KH, KW, IC / groups], by matmuls over blocks of output rows. exact (int8): float32
    matmuls that each reduce at most EXACT_K products, so every partial sum is an integer below
    2^24, exact in float32 in any order; the blocks are added in float64 (exact below 2^53).
    float: float64 matmuls, so that the float32 the caller rounds to does not depend on the BLAS
    kernel the CPU selects (AVX2 and AVX-512 sgemm sum in different orders, and the converter's
    calibration would differ in the last bits from one machine to the next)."""
    dtype = np.float32 if exact else np.float64
    x, w = x.astype(dtype), w.astype(dtype)
    oc, kh, kw, icg = w.shape
    g = a["groups"]
    ocg = oc // g
    xp = window.padded(x, a, oh, ow, dtype(0), (a["dilation_h"], a["dilation_w"]))
    acc = np.zeros((oh * ow, oc))
    if g > 1 and icg == 1:  # depthwise (channel multiplier ocg): one exact product per tap
        wd = w.reshape(g, ocg, kh, kw)
        for i, j, dy, dx in window.taps(a, (a["dilation_h"], a["dilation_w"])):
            t = window.tap_view(xp, a, oh, ow, dy, dx).reshape(oh * ow, g, 1)
            acc += (t * wd[:, :, i, j]).reshape(oh * ow, oc)
        return acc
    k = kh * kw * icg
    wm = w.reshape(g, ocg, k).transpose(0, 2, 1)  # [G, K, OCg]
    step = EXACT_K if exact else k
    cols_view = im2col(xp, a, oh, ow)
    rows = max(1, CHUNK_BYTES // (x.itemsize * ow * k * g))
    for r0 in range(0, oh, rows):
        n = min(rows, oh - r0)
        p = n * ow
        cols = np.ascontiguousarray(cols_view[r0:r0 + n]).reshape(p, kh * kw, g, icg)
        cols = cols.transpose(2, 0, 1, 3).reshape(g, p, k) if g > 1 else cols.reshape(1, p, k)
        block = acc[r0 * ow:r0 * ow + p].reshape(p, g, ocg)
        for k0 in range(0, k, step):
            part = np.matmul(cols[:, :, k0:k0 + step], wm[:, k0:k0 + step])  # [G, P, OCg]
            block += part.transpose(1, 0, 2)
    return acc


def input_gram(op, xs, model) -> np.ndarray:
    """sum over output positions of p p^T, p the window under each position in weight order
    (KH, KW, IC / groups), per group: [G, K, K] float64 (quant.weight_rounding). int8 inputs are
    taken minus z_x, so the sums are of integers and exact."""
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    a = op.attrs
    _, oh, ow, _ = ty.dims
    x = xs[0][0].astype(np.float64) - (tx.zero_point if tx.dtype == DT_INT8 else 0)
    g, (kh, kw, icg) = a["groups"], model.tensors[op.inputs[1]].dims[1:]
    xp = window.padded(x, a, oh, ow, 0.0, (a["dilation_h"], a["dilation_w"]))
    cols = im2col(xp, a, oh, ow).reshape(oh * ow, kh * kw, g, icg)
    cols = cols.transpose(2, 0, 1, 3).reshape(g, oh * ow, kh * kw * icg)
    return np.matmul(cols.transpose(0, 2, 1), cols)


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


def accumulator(op, xs, model) -> np.ndarray:
    """The sums before the epilogue, bias included, [OH * OW, OC]: int64 for int8 (in units of
    s_x * s_w[c]), float64 for f32. quant.bias_correction compares the two precisions on them."""
    tx, ty = model.tensors[op.inputs[0]], model.tensors[op.output]
    x, w, b = xs[0], xs[1], xs[2]
    _, oh, ow, _ = ty.dims
    if tx.dtype == DT_INT8:
        acc = accumulate(x[0].astype(np.int32) - tx.zero_point, w, op.attrs, oh, ow, exact=True)
        return acc.astype(np.int64) + b.astype(np.int64)
    return accumulate(x[0], w, op.attrs, oh, ow, exact=False) + b.astype(np.float64)


def run(op, xs, model):
    ty = model.tensors[op.output]
    acc = accumulator(op, xs, model)
    if model.tensors[op.inputs[0]].dtype == DT_INT8:
        y = int8_epilogue(acc, xs[3], ty.zero_point, op.attrs["out_min"], op.attrs["out_max"])
    else:
        y = f32_epilogue(acc.astype(F32), op.attrs)
    return y.reshape(ty.dims)
