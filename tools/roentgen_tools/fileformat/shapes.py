"""The per-op shape rules of SPEC.md "The ops": one function per op, named after it.

Each function gets the op's field prefix (`op[3] CONV2D`), its inputs bound to the slot names of
its ops.toml signature (a Tensor, or a list of Tensors for the variadic slot), its output tensor
and its attributes (name -> int | float), and raises FormatError naming the field:
`<where>.<slot>` for an input, `<where>.output`, `<where>.attrs.<name>`, `<where>.requant.m` /
`.requant.shift` for a value of a requant table. The generic checks (signature, attribute ids,
neutral values, finiteness) are done by the reader before these run.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .model import DT_INT8, INT32_MAX, INT8_MAX, INT8_MIN, M_LIMIT, MAX_PAD, SHIFT_MAX, SHIFT_MIN, FormatError, f32_bits


def _fail(where, field, msg):
    raise FormatError(f"{where}.{field}: {msg}")


def _shape(dims) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _count(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _feature_map(where, slot, t):
    """[1, H, W, C] (batch 1 is a tensor rule)."""
    if len(t.dims) != 4:
        _fail(where, slot, f"dims {_shape(t.dims)} are not a feature map [1, H, W, C]")
    return t.dims


def _output_dims(where, y, want):
    if tuple(y.dims) != tuple(want):
        _fail(where, "output", f"dims {_shape(y.dims)} != {_shape(want)}")


def _same_quantization(where, x, y):
    """MAXPOOL2D, PAD, RESHAPE: int8 output shares the input's scale and zero point."""
    if f32_bits(y.scale) != f32_bits(x.scale) or y.zero_point != x.zero_point:
        _fail(where, "output", f"scale {y.scale!r} and zero point {y.zero_point} differ from the input's "
                               f"({x.scale!r}, {x.zero_point})")


def _at_least_one(where, a, names):
    for n in names:
        if a[n] < 1:
            _fail(where, f"attrs.{n}", f"{a[n]} < 1")


def _pads(where, a, limits):
    """limits: pad name -> exclusive upper bound."""
    for n, hi in limits.items():
        if not 0 <= a[n] < hi:
            _fail(where, f"attrs.{n}", f"{a[n]} is outside [0, {hi - 1}]")


def _flag(where, a, name):
    if a[name] not in (0, 1):
        _fail(where, f"attrs.{name}", f"{a[name]} is not 0 or 1")


def _window(where, x, a, dilation, ceil_mode):
    """SPEC "Window geometry": (OH, OW)."""
    _, H, W, _ = x.dims
    out = []
    for size, k, s, d, p0, p1, kname in ((H, a["kernel_h"], a["stride_h"], dilation[0], a["pad_top"], a["pad_bottom"], "kernel_h"),
                                         (W, a["kernel_w"], a["stride_w"], dilation[1], a["pad_left"], a["pad_right"], "kernel_w")):
        span = size + p0 + p1
        k_eff = d * (k - 1) + 1
        if span < k_eff:
            _fail(where, f"attrs.{kname}", f"the kernel spans {k_eff} positions, more than the padded input's {span}")
        if ceil_mode:
            o = -(-(span - k_eff) // s) + 1
            if (o - 1) * s >= size + p0:  # the last window must start inside the input or its top padding
                o -= 1
        else:
            o = (span - k_eff) // s + 1
        out.append(o)
    return tuple(out)


def _no_quantization(where, slot, t):
    if t.quant_count:
        _fail(where, slot, f"'{t.name}' has quantization (quant_count {t.quant_count}); a table has none")


def _table(where, slot, t, dims):
    _no_quantization(where, slot, t)
    if tuple(t.dims) != tuple(dims):
        _fail(where, slot, f"dims {_shape(t.dims)} != {_shape(dims)}")


def _requant(where, r, dims, m_cols, shift_cols):
    """A requant table: int32 of `dims`, whose last axis holds `m` in m_cols and `shift` in
    shift_cols. The first bad value in row-major order is reported."""
    _table(where, "requant", r, dims)
    rows = r.data.astype(np.int64).reshape(-1, dims[-1])
    bad = np.zeros(rows.shape, dtype=bool)
    for c in m_cols:
        bad[:, c] = np.abs(rows[:, c]) > M_LIMIT
    for c in shift_cols:
        bad[:, c] = (rows[:, c] < SHIFT_MIN) | (rows[:, c] > SHIFT_MAX)
    if bad.any():
        flat = int(np.argmax(bad.reshape(-1)))
        row, col = divmod(flat, dims[-1])
        v = int(rows[row, col])
        if col in m_cols:
            _fail(where, "requant.m", f"row {row} column {col}: m = {v} is outside [-(2^31 - 1), 2^31 - 1]")
        _fail(where, "requant.shift", f"row {row} column {col}: shift = {v} is outside [{SHIFT_MIN}, {SHIFT_MAX}]")


def _per_channel(where, slot, t, n):
    if t.quant_count != n:
        _fail(where, slot, f"'{t.name}' needs per-channel quantization (quant_count {t.quant_count} != {n})")


def _accumulator(where, k, b):
    """CONV2D / DENSE: every int32 sum is exact when K * 255 * 127 + max|b| <= 2^31 - 1."""
    bmax = int(np.max(np.abs(b.data.astype(np.int64)))) if b.data.size else 0
    bound = k * 255 * 127 + bmax
    if bound > INT32_MAX:
        _fail(where, "w", f"possible int32 overflow: K * 255 * 127 + max|b| = {bound} > 2^31 - 1 (K = {k})")


# ------------------------------------------------------------------------------------- the ops

def quantize(where, b, y, a):
    _output_dims(where, y, b["x"].dims)


def dequantize(where, b, y, a):
    _output_dims(where, y, b["x"].dims)


def conv2d(where, b, y, a):
    x, w, bias = b["x"], b["w"], b["b"]
    _at_least_one(where, a, ("kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w"))
    _pads(where, a, {n: MAX_PAD + 1 for n in ("pad_top", "pad_left", "pad_bottom", "pad_right")})
    if a["groups"] < 1:
        _fail(where, "attrs.groups", f"{a['groups']} < 1")
    _, _, _, ic = _feature_map(where, "x", x)
    if len(w.dims) != 4:
        _fail(where, "w", f"dims {_shape(w.dims)} are not [OC, KH, KW, IC / groups]")
    oc, kh, kw, wic = w.dims
    if (kh, kw) != (a["kernel_h"], a["kernel_w"]):
        _fail(where, "w", f"dims {_shape(w.dims)} disagree with the kernel {a['kernel_h']}x{a['kernel_w']}")
    g = a["groups"]
    if ic % g or oc % g:
        _fail(where, "attrs.groups", f"{g} does not divide the input channels {ic} and output channels {oc}")
    if wic != ic // g:
        _fail(where, "w", f"dims {_shape(w.dims)}: the last dim is not IC / groups = {ic // g}")
    if tuple(bias.dims) != (oc,):
        _fail(where, "b", f"dims {_shape(bias.dims)} != {_shape((oc,))}")
    oh, ow = _window(where, x, a, (a["dilation_h"], a["dilation_w"]), 0)
    _output_dims(where, y, (1, oh, ow, oc))
    if x.dtype == DT_INT8:
        _per_channel(where, "w", w, oc)
        _per_channel(where, "b", bias, oc)
        _accumulator(where, kh * kw * wic, bias)
        _requant(where, b["requant"], (oc, 4), (0, 2), (1, 3))


def _pool(where, b, y, a):
    x = b["x"]
    _at_least_one(where, a, ("kernel_h", "kernel_w", "stride_h", "stride_w"))
    _pads(where, a, {"pad_top": a["kernel_h"], "pad_left": a["kernel_w"],
                     "pad_bottom": a["kernel_h"], "pad_right": a["kernel_w"]})
    _flag(where, a, "ceil_mode")
    if "count_include_pad" in a:
        _flag(where, a, "count_include_pad")
    _, _, _, c = _feature_map(where, "x", x)
    oh, ow = _window(where, x, a, (1, 1), a["ceil_mode"])
    _output_dims(where, y, (1, oh, ow, c))


def maxpool2d(where, b, y, a):
    _pool(where, b, y, a)
    if y.dtype == DT_INT8:
        _same_quantization(where, b["x"], y)


def dense(where, b, y, a):
    x, w, bias = b["x"], b["w"], b["b"]
    k = _count(x.dims)
    if len(w.dims) != 2 or w.dims[1] != k:
        _fail(where, "w", f"dims {_shape(w.dims)} are not [N, {k}] (K = the input's {k} elements)")
    n = w.dims[0]
    if tuple(bias.dims) != (n,):
        _fail(where, "b", f"dims {_shape(bias.dims)} != {_shape((n,))}")
    _output_dims(where, y, (1, n))
    if x.dtype == DT_INT8:
        _per_channel(where, "w", w, n)
        _per_channel(where, "b", bias, n)
        _accumulator(where, k, bias)
        if "requant" in b:
            _requant(where, b["requant"], (n, 4), (0, 2), (1, 3))
        else:
            s = b["out_scale"]
            _table(where, "out_scale", s, (n,))
            bad = ~(np.isfinite(s.data) & (s.data > 0))
            if bad.any():
                j = int(np.argmax(bad))
                _fail(where, "out_scale", f"element {j} = {float(s.data[j])!r} is not finite and > 0")


def avgpool2d(where, b, y, a):
    _pool(where, b, y, a)
    if y.dtype == DT_INT8:
        taps = a["kernel_h"] * a["kernel_w"]
        if taps * 255 > INT32_MAX:
            _fail(where, "attrs.kernel_h", f"possible int32 overflow: KH * KW * 255 = {taps * 255} > 2^31 - 1")
        _requant(where, b["requant"], (taps, 2), (0,), (1,))


def mean(where, b, y, a):
    _, h, w, c = _feature_map(where, "x", b["x"])
    _output_dims(where, y, (1, 1, 1, c))
    if y.dtype == DT_INT8:
        if h * w * 255 > INT32_MAX:
            _fail(where, "x", f"possible int32 overflow: H * W * 255 = {h * w * 255} > 2^31 - 1")
        _requant(where, b["requant"], (1, 2), (0,), (1,))


def _broadcast(where, b, y):
    """ADD, MUL: b of a's shape, or [1, 1, 1, C] over a feature map [1, H, W, C]."""
    ad, bd = tuple(b["a"].dims), tuple(b["b"].dims)
    if bd != ad and not (len(ad) == 4 and bd == (1, 1, 1, ad[3])):
        _fail(where, "b", f"dims {_shape(bd)} are neither a's {_shape(ad)} nor [1, 1, 1, C]")
    _output_dims(where, y, ad)


def add(where, b, y, a):
    _broadcast(where, b, y)
    if y.dtype == DT_INT8:
        _requant(where, b["requant"], (3,), (0, 1), (2,))


def mul(where, b, y, a):
    _broadcast(where, b, y)
    if y.dtype == DT_INT8:
        _requant(where, b["requant"], (2,), (0,), (1,))


def concat(where, b, y, a):
    xs = b["x"]
    first = tuple(xs[0].dims)
    for i, x in enumerate(xs):
        d = tuple(x.dims)
        if len(d) != len(first) or d[:-1] != first[:-1]:
            _fail(where, f"x[{i}]", f"dims {_shape(d)} do not agree with x[0]'s {_shape(first)} except the last")
    _output_dims(where, y, first[:-1] + (sum(x.dims[-1] for x in xs),))
    if y.dtype == DT_INT8:
        _requant(where, b["requant"], (len(xs), 2), (0,), (1,))


# ACTIVATION: the parameters each function reads; the others hold 0 (alpha, beta) or -inf / inf.
FUNCTION_PARAMETERS = {
    ops.FUNCTION_RELU: (),
    ops.FUNCTION_LEAKY_RELU: ("alpha",),
    ops.FUNCTION_CLIP: ("clip_min", "clip_max"),
    ops.FUNCTION_HARD_SWISH: (),
    ops.FUNCTION_HARD_SIGMOID: ("alpha", "beta"),
    ops.FUNCTION_SIGMOID: (),
    ops.FUNCTION_SILU: (),
    ops.FUNCTION_TANH: (),
}
UNUSED_PARAMETER = {"alpha": 0.0, "beta": 0.0, "clip_min": -math.inf, "clip_max": math.inf}


def activation(where, b, y, a):
    f = a["function"]
    if f not in FUNCTION_PARAMETERS:
        _fail(where, "attrs.function", f"{f} is not a function of ops.toml")
    for name, unused in UNUSED_PARAMETER.items():
        if name not in FUNCTION_PARAMETERS[f] and f32_bits(a[name]) != f32_bits(unused):
            _fail(where, f"attrs.{name}", f"{a[name]!r}: {ops.FUNCTION_NAMES[f]} does not use it, so it is {unused!r}")
    _output_dims(where, y, b["x"].dims)
    if y.dtype == DT_INT8:
        _table(where, "table", b["table"], (256,))


def pad(where, b, y, a):
    x = b["x"]
    _pads(where, a, {n: MAX_PAD + 1 for n in ("pad_top", "pad_left", "pad_bottom", "pad_right")})
    if y.dtype == DT_INT8 and not INT8_MIN <= a["value_q"] <= INT8_MAX:
        _fail(where, "attrs.value_q", f"{a['value_q']} is outside [-128, 127]")
    _, h, w, c = _feature_map(where, "x", x)
    _output_dims(where, y, (1, a["pad_top"] + h + a["pad_bottom"], a["pad_left"] + w + a["pad_right"], c))
    if y.dtype == DT_INT8:
        _same_quantization(where, x, y)


def reshape(where, b, y, a):
    x = b["x"]
    if _count(y.dims) != _count(x.dims):
        _fail(where, "output", f"dims {_shape(y.dims)} hold {_count(y.dims)} elements, the input {_shape(x.dims)} {_count(x.dims)}")
    if y.dtype == DT_INT8:
        _same_quantization(where, x, y)


CHECKS = {
    ops.OP_QUANTIZE: quantize,
    ops.OP_DEQUANTIZE: dequantize,
    ops.OP_CONV2D: conv2d,
    ops.OP_MAXPOOL2D: maxpool2d,
    ops.OP_DENSE: dense,
    ops.OP_AVGPOOL2D: avgpool2d,
    ops.OP_MEAN: mean,
    ops.OP_ADD: add,
    ops.OP_MUL: mul,
    ops.OP_CONCAT: concat,
    ops.OP_ACTIVATION: activation,
    ops.OP_PAD: pad,
    ops.OP_RESHAPE: reshape,
}
assert set(CHECKS) == set(ops.OPS), "every op of ops.toml needs its shape rules"
