"""Every op's numpy reference (roentgen_tools.ops.*.run) against a slow scalar loop written here
straight from SPEC "The ops" (Python ints: exact), on seeded random shapes, attributes and
requant values. Each case is also checked against the reader's shape rules (fileformat.shapes),
so it is a valid op of a file. A failure names its seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from roentgen_tools import ops as op_modules
from roentgen_tools.fileformat import (DT_FLOAT32, DT_INT8, DT_INT32, ROLE_ACTIVATION, ROLE_CONSTANT, InputSpec,
                                       Model, Op, Tensor, bind_inputs, signature_of)
from roentgen_tools.fileformat import ops as T
from roentgen_tools.fileformat import shapes
from roentgen_tools.fileformat.model import attr_applies

SEEDS = range(12)
F32 = np.float32
INF = float("inf")


# ------------------------------------------------------------------------------ building one op

class Case:
    def __init__(self, seed):
        self.r = np.random.default_rng(seed)
        self.seed = seed
        self.tensors, self.values = [], {}

    def act(self, name, dtype, dims, value=None):
        r = self.r
        if dtype == DT_INT8:
            t = Tensor(name, DT_INT8, ROLE_ACTIVATION, tuple(dims), scales=np.array([r.uniform(0.005, 0.2)], F32),
                       zero_points=np.array([int(r.integers(-128, 128))], np.int32))
            if value is None:
                value = r.integers(-128, 128, dims).astype(np.int8)
        else:
            t = Tensor(name, DT_FLOAT32, ROLE_ACTIVATION, tuple(dims))
            if value is None:
                value = r.normal(0, 2, dims).astype(F32)
        self.tensors.append(t)
        if value is not None and name != "y":
            self.values[len(self.tensors) - 1] = value
        return len(self.tensors) - 1

    def const(self, name, dtype, data, per_channel=False):
        data = np.asarray(data)
        scales = zps = None
        if per_channel:
            scales = self.r.uniform(0.001, 0.05, data.shape[0]).astype(F32)
            zps = np.zeros(data.shape[0], np.int32)
        self.tensors.append(Tensor(name, dtype, ROLE_CONSTANT, data.shape, data, scales, zps))
        return len(self.tensors) - 1

    def requant_pairs(self, n):
        """n random (m, shift) rows anywhere in SPEC's ranges."""
        m = self.r.integers(-(2**31 - 1), 2**31, n)
        s = self.r.integers(1, 63, n)
        return np.stack([m, s], 1).astype(np.int32)

    def realistic_pairs(self, n):
        """m of about 2^30, shift 25..45: what converters write (random m overflow nothing, but
        saturate almost everything)."""
        m = self.r.integers(2**29, 2**31 - 1, n)
        s = self.r.integers(25, 46, n)
        return np.stack([m, s], 1).astype(np.int32)

    def op(self, kind, inputs, output, **attrs):
        opdef = T.OPS[kind]
        y = self.tensors[output]
        full = {}
        for a in opdef.attrs:
            full[a.name] = attrs[a.name] if attr_applies(a, y.dtype) else a.neutral
        op = Op(kind, list(inputs), output, full)
        sig = signature_of(op, self.tensors)  # a valid op of a file: signature and shape rules
        bound = {k: ([self.tensors[t] for t in v] if isinstance(v, list) else self.tensors[v])
                 for k, v in bind_inputs(sig, op.inputs).items()}
        shapes.CHECKS[kind](f"seed {self.seed}", bound, y, full)
        return op

    def run(self, op):
        model = Model(InputSpec(1, 1, 1), ["a"], self.tensors, [op])
        xs = [self.values[i] if self.tensors[i].role == ROLE_ACTIVATION else self.tensors[i].data for i in op.inputs]
        y = op_modules.REGISTRY[op.kind].run(op, xs, model)
        assert tuple(y.shape) == tuple(self.tensors[op.output].dims), f"seed {self.seed}: shape"
        return y


def requantize(acc, m, shift):
    return (acc * m + (1 << (shift - 1))) >> shift


def clamp(v, lo, hi):
    return min(max(v, lo), hi)


def out_size(size, k, s, d, p0, p1, ceil_mode):
    keff = d * (k - 1) + 1
    if ceil_mode:
        o = math.ceil((size + p0 + p1 - keff) / s) + 1
        if (o - 1) * s >= size + p0:
            o -= 1
        return o
    return (size + p0 + p1 - keff) // s + 1


def window_attrs(r, h, w, pool, ceil_mode=0):
    kh, kw = int(r.integers(1, min(h, 4) + 1)), int(r.integers(1, min(w, 4) + 1))
    a = dict(kernel_h=kh, kernel_w=kw, stride_h=int(r.integers(1, 4)), stride_w=int(r.integers(1, 4)),
             pad_top=int(r.integers(0, kh)), pad_left=int(r.integers(0, kw)),
             pad_bottom=int(r.integers(0, kh)), pad_right=int(r.integers(0, kw)))
    if pool:
        a["ceil_mode"] = ceil_mode
    return a


# ------------------------------------------------------------------------------ CONV2D, DENSE

@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_int8(seed):
    c = Case(seed)
    r = c.r
    groups = int(r.choice([1, 2, 3]))
    depthwise = r.random() < 0.3
    icg = 1 if depthwise else int(r.integers(1, 4))
    ic = icg * groups * (int(r.integers(2, 4)) if depthwise else 1)
    groups = ic if depthwise else groups
    icg = ic // groups
    oc = groups * int(r.integers(1, 3))
    h, w = int(r.integers(3, 9)), int(r.integers(3, 9))
    kh, kw = int(r.integers(1, 4)), int(r.integers(1, 4))
    dh, dw = int(r.integers(1, 3)), int(r.integers(1, 3))
    a = dict(kernel_h=kh, kernel_w=kw, stride_h=int(r.integers(1, 3)), stride_w=int(r.integers(1, 3)),
             dilation_h=dh, dilation_w=dw, pad_top=int(r.integers(0, 3)), pad_left=int(r.integers(0, 3)),
             pad_bottom=int(r.integers(0, 3)), pad_right=int(r.integers(0, 3)), groups=groups, alpha=0.25)
    if h + a["pad_top"] + a["pad_bottom"] < dh * (kh - 1) + 1 or w + a["pad_left"] + a["pad_right"] < dw * (kw - 1) + 1:
        a["dilation_h"] = a["dilation_w"] = dh = dw = 1
        a["kernel_h"] = a["kernel_w"] = kh = kw = 1
    oh = out_size(h, kh, a["stride_h"], dh, a["pad_top"], a["pad_bottom"], 0)
    ow = out_size(w, kw, a["stride_w"], dw, a["pad_left"], a["pad_right"], 0)
    lo, hi = sorted(int(v) for v in r.integers(-128, 128, 2))
    a.update(out_min=lo if r.random() < 0.5 else -128, out_max=hi if r.random() < 0.5 else 127)
    x = c.act("x", DT_INT8, (1, h, w, ic))
    wq = c.const("w", DT_INT8, r.integers(-127, 128, (oc, kh, kw, icg)).astype(np.int8), per_channel=True)
    b = c.const("b", DT_INT32, r.integers(-(2**20), 2**20, oc).astype(np.int32), per_channel=True)
    rows = np.concatenate([c.realistic_pairs(oc), c.realistic_pairs(oc)], 1)
    rows[r.random(oc) < 0.3, 2] = 0  # ReLU channels
    rq = c.const("rq", DT_INT32, rows)
    y = c.act("y", DT_INT8, (1, oh, ow, oc))
    op = c.op(T.OP_CONV2D, [x, wq, b, rq], y, **a)
    got = c.run(op)
    X, W, B, R = c.values[x].tolist(), c.tensors[wq].data.tolist(), c.tensors[b].data.tolist(), rows.tolist()
    zx, zy = c.tensors[x].zero_point, c.tensors[y].zero_point
    ocg = oc // groups
    for oh_ in range(oh):
        for ow_ in range(ow):
            for o in range(oc):
                g = o // ocg
                acc = B[o]
                for i in range(kh):
                    for j in range(kw):
                        ih = oh_ * a["stride_h"] - a["pad_top"] + i * dh
                        iw = ow_ * a["stride_w"] - a["pad_left"] + j * dw
                        if 0 <= ih < h and 0 <= iw < w:
                            for k in range(icg):
                                acc += (X[0][ih][iw][g * icg + k] - zx) * W[o][i][j][k]
                m, s = (R[o][0], R[o][1]) if acc >= 0 else (R[o][2], R[o][3])
                want = clamp(zy + requantize(acc, m, s), a["out_min"], a["out_max"])
                assert got[0, oh_, ow_, o] == want, f"seed {seed}: CONV2D at {(oh_, ow_, o)}"


@pytest.mark.parametrize("seed", SEEDS)
def test_dense_int8_to_int8_and_to_f32(seed):
    c = Case(seed)
    r = c.r
    dims = (1, int(r.integers(1, 4)), int(r.integers(1, 4)), int(r.integers(1, 6))) if r.random() < 0.5 \
        else (1, int(r.integers(1, 40)))
    k, n = int(np.prod(dims)), int(r.integers(1, 8))
    x = c.act("x", DT_INT8, dims)
    wq = c.const("w", DT_INT8, r.integers(-127, 128, (n, k)).astype(np.int8), per_channel=True)
    b = c.const("b", DT_INT32, r.integers(-(2**20), 2**20, n).astype(np.int32), per_channel=True)
    rows = np.concatenate([c.requant_pairs(n), c.requant_pairs(n)], 1)
    rq = c.const("rq", DT_INT32, rows)
    y8 = c.act("y", DT_INT8, (1, n))
    got8 = c.run(c.op(T.OP_DENSE, [x, wq, b, rq], y8, alpha=1.0, out_min=-128, out_max=127))
    osc = c.const("out_scale", DT_FLOAT32, r.uniform(1e-4, 1e-2, n).astype(F32))
    y32 = c.act("y", DT_FLOAT32, (1, n))
    alpha, lo, hi = float(F32(r.uniform(0, 0.5))), float(F32(r.uniform(-50, 0))), float(F32(r.uniform(0, 50)))
    got32 = c.run(c.op(T.OP_DENSE, [x, wq, b, osc], y32, alpha=alpha, clip_min=lo, clip_max=hi))
    X = (c.values[x].reshape(-1).astype(np.int64) - c.tensors[x].zero_point).tolist()
    W, B = c.tensors[wq].data.tolist(), c.tensors[b].data.tolist()
    zy = c.tensors[y8].zero_point
    for j in range(n):
        acc = B[j] + sum(X[i] * W[j][i] for i in range(k))
        m, s = (rows[j, 0], rows[j, 1]) if acc >= 0 else (rows[j, 2], rows[j, 3])
        assert got8[0, j] == clamp(zy + requantize(acc, int(m), int(s)), -128, 127), f"seed {seed}: DENSE int8 {j}"
        v = F32(acc) * c.tensors[osc].data[j]
        v = v * F32(alpha) if v < 0 else v
        v = min(max(v, F32(lo)), F32(hi))
        assert got32[0, j] == v, f"seed {seed}: DENSE int8 -> f32 {j}"


# ------------------------------------------------------------------------------ pools

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [DT_INT8, DT_FLOAT32])
def test_maxpool2d(seed, dtype):
    c = Case(seed)
    r = c.r
    h, w, ch = int(r.integers(2, 10)), int(r.integers(2, 10)), int(r.integers(1, 4))
    a = window_attrs(r, h, w, pool=True, ceil_mode=int(r.integers(0, 2)))
    oh = out_size(h, a["kernel_h"], a["stride_h"], 1, a["pad_top"], a["pad_bottom"], a["ceil_mode"])
    ow = out_size(w, a["kernel_w"], a["stride_w"], 1, a["pad_left"], a["pad_right"], a["ceil_mode"])
    x = c.act("x", dtype, (1, h, w, ch))
    y = c.act("y", dtype, (1, oh, ow, ch))
    if dtype == DT_INT8:
        c.tensors[y].scales, c.tensors[y].zero_points = c.tensors[x].scales, c.tensors[x].zero_points
    got = c.run(c.op(T.OP_MAXPOOL2D, [x], y, **a))
    X = c.values[x]
    for i in range(oh):
        for j in range(ow):
            for k in range(ch):
                taps = [X[0, ih, iw, k] for ih in range(i * a["stride_h"] - a["pad_top"], i * a["stride_h"] - a["pad_top"] + a["kernel_h"])
                        for iw in range(j * a["stride_w"] - a["pad_left"], j * a["stride_w"] - a["pad_left"] + a["kernel_w"])
                        if 0 <= ih < h and 0 <= iw < w]
                assert got[0, i, j, k] == max(taps), f"seed {seed}: MAXPOOL2D at {(i, j, k)} {a}"


def _avg_taps(a, h, w, i, j):
    """(taps inside the input, divisor c) of output (i, j), SPEC AVGPOOL2D."""
    inside, counted = [], 0
    for kh in range(a["kernel_h"]):
        for kw in range(a["kernel_w"]):
            ih = i * a["stride_h"] - a["pad_top"] + kh
            iw = j * a["stride_w"] - a["pad_left"] + kw
            if 0 <= ih < h and 0 <= iw < w:
                inside.append((ih, iw))
            if a["count_include_pad"]:
                counted += (-a["pad_top"] <= ih < h + a["pad_bottom"]) and (-a["pad_left"] <= iw < w + a["pad_right"])
    return inside, (counted if a["count_include_pad"] else len(inside))


@pytest.mark.parametrize("seed", SEEDS)
def test_avgpool2d(seed):
    c = Case(seed)
    r = c.r
    h, w, ch = int(r.integers(2, 10)), int(r.integers(2, 10)), int(r.integers(1, 4))
    a = window_attrs(r, h, w, pool=True, ceil_mode=int(r.integers(0, 2)))
    a["count_include_pad"] = int(r.integers(0, 2))
    oh = out_size(h, a["kernel_h"], a["stride_h"], 1, a["pad_top"], a["pad_bottom"], a["ceil_mode"])
    ow = out_size(w, a["kernel_w"], a["stride_w"], 1, a["pad_left"], a["pad_right"], a["ceil_mode"])
    taps = a["kernel_h"] * a["kernel_w"]
    x8, y8 = c.act("x", DT_INT8, (1, h, w, ch)), c.act("y", DT_INT8, (1, oh, ow, ch))
    rows = c.requant_pairs(taps)
    rq = c.const("rq", DT_INT32, rows)
    got8 = c.run(c.op(T.OP_AVGPOOL2D, [x8, rq], y8, **a))
    x32, y32 = c.act("x", DT_FLOAT32, (1, h, w, ch)), c.act("y", DT_FLOAT32, (1, oh, ow, ch))
    got32 = c.run(c.op(T.OP_AVGPOOL2D, [x32], y32, **a))
    X8, X32 = c.values[x8].astype(np.int64), c.values[x32].astype(np.float64)
    zx, zy = c.tensors[x8].zero_point, c.tensors[y8].zero_point
    for i in range(oh):
        for j in range(ow):
            inside, cnt = _avg_taps(a, h, w, i, j)
            assert 1 <= cnt <= taps
            for k in range(ch):
                acc = sum(int(X8[0, p, q, k]) - zx for p, q in inside)
                m, s = int(rows[cnt - 1, 0]), int(rows[cnt - 1, 1])
                assert got8[0, i, j, k] == clamp(zy + requantize(acc, m, s), -128, 127), f"seed {seed}: AVGPOOL2D int8"
                want = F32(sum(X32[0, p, q, k] for p, q in inside)) / F32(cnt)
                assert abs(float(got32[0, i, j, k]) - float(want)) <= 1e-6 * (1 + abs(float(want))), f"seed {seed}: f32"


@pytest.mark.parametrize("seed", SEEDS)
def test_mean(seed):
    c = Case(seed)
    r = c.r
    h, w, ch = int(r.integers(1, 9)), int(r.integers(1, 9)), int(r.integers(1, 5))
    x, y = c.act("x", DT_INT8, (1, h, w, ch)), c.act("y", DT_INT8, (1, 1, 1, ch))
    rows = c.requant_pairs(1)
    got = c.run(c.op(T.OP_MEAN, [x, c.const("rq", DT_INT32, rows)], y))
    X, zx, zy = c.values[x].astype(np.int64), c.tensors[x].zero_point, c.tensors[y].zero_point
    for k in range(ch):
        acc = sum(int(X[0, i, j, k]) - zx for i in range(h) for j in range(w))
        assert got[0, 0, 0, k] == clamp(zy + requantize(acc, int(rows[0, 0]), int(rows[0, 1])), -128, 127), f"seed {seed}"


# ------------------------------------------------------------------------------ elementwise

def _binary_case(c, kind):
    r = c.r
    dims = (1, int(r.integers(1, 5)), int(r.integers(1, 5)), int(r.integers(1, 5)))
    bdims = (1, 1, 1, dims[3]) if r.random() < 0.5 else dims
    a, b = c.act("a", DT_INT8, dims), c.act("b", DT_INT8, bdims)
    y = c.act("y", DT_INT8, dims)
    if kind == T.OP_ADD:
        m = c.r.integers(-(2**31 - 1), 2**31, 2)
        rows = np.array([m[0], m[1], c.r.integers(1, 63)], np.int32)
    else:
        rows = c.requant_pairs(1).reshape(-1)
    lo, hi = sorted(int(v) for v in r.integers(-128, 128, 2))
    op = c.op(kind, [a, b, c.const("rq", DT_INT32, rows)], y, out_min=lo, out_max=hi)
    return c.run(op), a, b, y, rows, lo, hi, dims


@pytest.mark.parametrize("seed", SEEDS)
def test_add_int8(seed):
    c = Case(seed)
    got, a, b, y, rows, lo, hi, dims = _binary_case(c, T.OP_ADD)
    A, B = c.values[a].astype(np.int64), c.values[b].astype(np.int64)
    za, zb, zy = (c.tensors[t].zero_point for t in (a, b, y))
    m_a, m_b, s = (int(v) for v in rows)
    for idx in np.ndindex(*dims):
        bv = int(B[(0, 0, 0, idx[3])]) if B.shape != A.shape else int(B[idx])
        v = ((int(A[idx]) - za) * m_a + (bv - zb) * m_b + (1 << (s - 1))) >> s
        assert got[idx] == clamp(zy + v, lo, hi), f"seed {seed}: ADD at {idx}"


@pytest.mark.parametrize("seed", SEEDS)
def test_mul_int8(seed):
    c = Case(seed)
    got, a, b, y, rows, lo, hi, dims = _binary_case(c, T.OP_MUL)
    A, B = c.values[a].astype(np.int64), c.values[b].astype(np.int64)
    za, zb, zy = (c.tensors[t].zero_point for t in (a, b, y))
    for idx in np.ndindex(*dims):
        bv = int(B[(0, 0, 0, idx[3])]) if B.shape != A.shape else int(B[idx])
        v = requantize((int(A[idx]) - za) * (bv - zb), int(rows[0]), int(rows[1]))
        assert got[idx] == clamp(zy + v, lo, hi), f"seed {seed}: MUL at {idx}"


@pytest.mark.parametrize("seed", SEEDS)
def test_concat_int8(seed):
    c = Case(seed)
    r = c.r
    n = int(r.integers(1, 4))
    base = (1, int(r.integers(1, 4)), int(r.integers(1, 4)))
    chans = [int(r.integers(1, 4)) for _ in range(n)]
    xs = [c.act(f"x{i}", DT_INT8, base + (k,)) for i, k in enumerate(chans)]
    y = c.act("y", DT_INT8, base + (sum(chans),))
    rows = c.realistic_pairs(n)
    rows[0] = (2**30, 30)  # M = 1: a copy when the zero points agree
    got = c.run(c.op(T.OP_CONCAT, xs + [c.const("rq", DT_INT32, rows)], y))
    zy = c.tensors[y].zero_point
    off = 0
    for i, t in enumerate(xs):
        X, zx = c.values[t].astype(np.int64), c.tensors[t].zero_point
        for idx in np.ndindex(*X.shape):
            want = clamp(zy + requantize(int(X[idx]) - zx, int(rows[i, 0]), int(rows[i, 1])), -128, 127)
            assert got[idx[:3] + (off + idx[3],)] == want, f"seed {seed}: CONCAT input {i} at {idx}"
        off += chans[i]


@pytest.mark.parametrize("seed", SEEDS)
def test_activation_pad_reshape_int8(seed):
    c = Case(seed)
    r = c.r
    dims = (1, int(r.integers(1, 5)), int(r.integers(1, 5)), int(r.integers(1, 4)))
    x = c.act("x", DT_INT8, dims)
    y = c.act("y", DT_INT8, dims)
    lut = r.integers(-128, 128, 256).astype(np.int8)
    got = c.run(c.op(T.OP_ACTIVATION, [x, c.const("table", DT_INT8, lut)], y, function=T.FUNCTION_TANH,
                     alpha=0.0, beta=0.0, clip_min=-INF, clip_max=INF))
    for idx in np.ndindex(*dims):
        assert got[idx] == lut[int(c.values[x][idx]) + 128], f"seed {seed}: ACTIVATION"
    pads = dict(pad_top=int(r.integers(0, 3)), pad_left=int(r.integers(0, 3)), pad_bottom=int(r.integers(0, 3)),
                pad_right=int(r.integers(0, 3)))
    pdims = (1, dims[1] + pads["pad_top"] + pads["pad_bottom"], dims[2] + pads["pad_left"] + pads["pad_right"], dims[3])
    yp = c.act("y", DT_INT8, pdims)
    c.tensors[yp].scales, c.tensors[yp].zero_points = c.tensors[x].scales, c.tensors[x].zero_points
    vq = int(r.integers(-128, 128))
    got = c.run(c.op(T.OP_PAD, [x], yp, value_q=vq, **pads))
    for idx in np.ndindex(*pdims):
        ih, iw = idx[1] - pads["pad_top"], idx[2] - pads["pad_left"]
        inside = 0 <= ih < dims[1] and 0 <= iw < dims[2]
        assert got[idx] == (c.values[x][0, ih, iw, idx[3]] if inside else vq), f"seed {seed}: PAD at {idx}"
    yr = c.act("y", DT_INT8, (1, int(np.prod(dims))))
    c.tensors[yr].scales, c.tensors[yr].zero_points = c.tensors[x].scales, c.tensors[x].zero_points
    got = c.run(c.op(T.OP_RESHAPE, [x], yr))
    assert got.reshape(-1).tolist() == c.values[x].reshape(-1).tolist(), f"seed {seed}: RESHAPE"


# ------------------------------------------------------------------------------ QUANTIZE, DEQUANTIZE

@pytest.mark.parametrize("seed", SEEDS)
def test_quantize_dequantize(seed):
    c = Case(seed)
    r = c.r
    n = 64
    v = (r.normal(0, 3, n) * r.choice([1, 100], n)).astype(F32)
    v[:3] = [np.nan, np.inf, -np.inf]
    s = c.tensors
    x = c.act("x", DT_FLOAT32, (1, n), value=v.reshape(1, n))
    y = c.act("y", DT_INT8, (1, n))
    sy, zy = s[y].scales[0], int(s[y].zero_points[0])
    v[3] = F32(2.5) * sy  # a tie: rint rounds half to even
    got = c.run(c.op(T.OP_QUANTIZE, [x], y))
    for i in range(n):
        q = F32(v[i]) / sy  # one binary32 division
        want = zy if math.isnan(q) else clamp((round(float(q)) if math.isfinite(q) else
                                                (10**9 if q > 0 else -10**9)) + zy, -128, 127)
        assert got[0, i] == want, f"seed {seed}: QUANTIZE {v[i]!r}"
    q8 = c.act("x", DT_INT8, (1, n))
    yd = c.act("y", DT_FLOAT32, (1, n))
    got = c.run(c.op(T.OP_DEQUANTIZE, [q8], yd))
    sx, zx = s[q8].scales[0], int(s[q8].zero_points[0])
    for i in range(n):
        assert got[0, i] == F32(int(c.values[q8][0, i]) - zx) * sx, f"seed {seed}: DEQUANTIZE"


# ------------------------------------------------------------------------------ f32 elementwise

FUNCTIONS = [T.FUNCTION_RELU, T.FUNCTION_LEAKY_RELU, T.FUNCTION_CLIP, T.FUNCTION_HARD_SWISH, T.FUNCTION_HARD_SIGMOID,
             T.FUNCTION_SIGMOID, T.FUNCTION_SILU, T.FUNCTION_TANH]


@pytest.mark.parametrize("function", FUNCTIONS, ids=[T.FUNCTION_NAMES[f] for f in FUNCTIONS])
def test_activation_f32_formulas(function):
    """SPEC's table, one binary32 operation at a time (exp and tanh: numpy's float32, to rounding)."""
    c = Case(int(function))
    x = c.act("x", DT_FLOAT32, (1, 200))
    y = c.act("y", DT_FLOAT32, (1, 200))
    p = dict(alpha=0.0, beta=0.0, clip_min=-INF, clip_max=INF)
    if function == T.FUNCTION_LEAKY_RELU:
        p["alpha"] = float(F32(0.1))
    if function == T.FUNCTION_CLIP:
        p["clip_min"], p["clip_max"] = -1.0, 6.0
    if function == T.FUNCTION_HARD_SIGMOID:
        p["alpha"], p["beta"] = float(F32(1 / 6)), 0.5
    got = c.run(c.op(T.OP_ACTIVATION, [x], y, function=function, **p))
    for v, g in zip(c.values[x].reshape(-1), got.reshape(-1)):
        v = F32(v)
        one, zero = F32(1), F32(0)
        want = {
            T.FUNCTION_RELU: lambda: max(v, zero),
            T.FUNCTION_LEAKY_RELU: lambda: F32(p["alpha"]) * v if v < 0 else v,
            T.FUNCTION_CLIP: lambda: min(max(v, F32(-1)), F32(6)),
            T.FUNCTION_HARD_SWISH: lambda: v * min(max(v / F32(6) + F32(0.5), zero), one),
            T.FUNCTION_HARD_SIGMOID: lambda: min(max(F32(p["alpha"]) * v + F32(0.5), zero), one),
            T.FUNCTION_SIGMOID: lambda: one / (one + np.exp(-v)),
            T.FUNCTION_SILU: lambda: v / (one + np.exp(-v)),
            T.FUNCTION_TANH: lambda: np.tanh(v),
        }[function]()
        assert g == F32(want), (T.FUNCTION_NAMES[function], v)


@pytest.mark.parametrize("seed", [0, 1])
def test_conv2d_int8_long_reductions_stay_exact(seed):
    """K = 3 * 3 * 96 = 864 extreme products: their sum passes 2^24, where float32 stops being
    exact; the reference must still equal the int64 sum (int64 einsum here)."""
    c = Case(seed)
    r = c.r
    h = w = 5
    ic, oc = 96, 4
    xv = np.where(r.random((1, h, w, ic)) < 0.9, -128, 127).astype(np.int8)
    x = c.act("x", DT_INT8, (1, h, w, ic), value=xv)
    c.tensors[x].zero_points[0] = 127  # x - z = -255 almost everywhere
    wv = np.where(r.random((oc, 3, 3, ic)) < 0.95, 127, -127).astype(np.int8)
    wq = c.const("w", DT_INT8, wv, per_channel=True)
    b = c.const("b", DT_INT32, r.integers(-5, 5, oc).astype(np.int32), per_channel=True)
    rows = np.tile(np.array([[1, 1, 1, 1]], np.int32), (oc, 1))  # y = z_y + round(acc / 2): saturates, so
    rq = c.const("rq", DT_INT32, rows)                                # compare the accumulators instead
    y = c.act("y", DT_INT8, (1, h, w, oc))
    a = dict(kernel_h=3, kernel_w=3, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1,
             pad_bottom=1, pad_right=1, groups=1, alpha=1.0, out_min=-128, out_max=127)
    c.op(T.OP_CONV2D, [x, wq, b, rq], y, **a)
    from roentgen_tools.ops import conv2d
    got = conv2d.accumulate(xv[0].astype(np.int32) - 127, wv, a, h, w, exact=True)
    xp = np.pad(xv[0].astype(np.int64) - 127, ((1, 1), (1, 1), (0, 0)))
    want = np.zeros((h, w, oc), np.int64)
    for i in range(3):
        for j in range(3):
            want += np.einsum("hwc,oc->hwo", xp[i:i + h, j:j + w], wv[:, i, j, :].astype(np.int64))
    assert np.abs(want).max() > 2**24  # the case float32 alone would get wrong
    assert np.array_equal(got.astype(np.int64).reshape(h, w, oc), want), f"seed {seed}"


# Run in a fresh process per BLAS kernel: OpenBLAS reads OPENBLAS_CORETYPE once, at load.
_BLAS_PROBE = """
import hashlib, numpy as np
from roentgen_tools.ops import conv2d
r = np.random.default_rng(7)
x = r.standard_normal((12, 12, 96)).astype(np.float32)
w = r.standard_normal((40, 3, 3, 96)).astype(np.float32)
a = dict(kernel_h=3, kernel_w=3, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1,
         pad_bottom=1, pad_right=1, groups=1)
conv = conv2d.accumulate(x, w, a, 12, 12, exact=False).astype(np.float32)
control = np.matmul(x.reshape(144, 96), w[:, 1, 1, :].T)   # a float32 sgemm: the kernel's own order
print(hashlib.sha256(conv.tobytes()).hexdigest(), hashlib.sha256(control.tobytes()).hexdigest())
"""


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="OPENBLAS_CORETYPE names x86 kernels")
def test_conv2d_f32_same_bits_whatever_blas_kernel_the_cpu_selects():
    """The converter's calibration runs the float reference, so its file must not depend on the CPU:
    AVX2 and AVX-512 sgemm kernels sum in different orders. Two x86 kernels every x86-64 CPU with
    AVX can run (Haswell: AVX2 + FMA; SandyBridge: AVX, no FMA) must give the same float32 conv
    bits, while a plain float32 sgemm (the control) shows that they really are different kernels."""
    import os
    import subprocess
    import sys
    if "avx2" not in open("/proc/cpuinfo").read():
        pytest.skip("the Haswell kernel needs AVX2")
    out = {}
    for core in ("Haswell", "SandyBridge"):
        env = dict(os.environ, OPENBLAS_CORETYPE=core, OPENBLAS_VERBOSE="2")
        p = subprocess.run([sys.executable, "-c", _BLAS_PROBE], env=env, capture_output=True, text=True, check=True)
        out[core] = p.stdout.split()[-2:]     # the probe's two hashes, its last line
        assert core.lower() in p.stderr.lower() + p.stdout.lower(), f"OpenBLAS did not take {core}: {p.stderr}"
    assert out["Haswell"][1] != out["SandyBridge"][1], "control: the two kernels gave the same float32 sgemm"
    assert out["Haswell"][0] == out["SandyBridge"][0], "float conv bits depend on the BLAS kernel"
