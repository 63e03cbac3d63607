"""Format 2.0 writer and reader: round trip of every op kind and signature, every attribute type,
variadic inputs; the writer fills neutral attributes; the reader rejects each rule (the rules the
bad-file corpus cannot express with its one model are here; test_bad_corpus runs the corpus).
"""
import struct
import time

import numpy as np
import pytest

import roentgen_tools.fileformat as F
from roentgen_tools.fileformat import (DT_FLOAT32, DT_INT8, DT_INT32, ROLE_ACTIVATION, ROLE_CONSTANT, FormatError,
                                       InputSpec, Model, Op, Tensor, badfiles, ops, plan_arena, read_bytes,
                                       serialize, signature_of, write_model)

F32 = np.float32
PROVENANCE = [("precision", "int8"), ("source_sha256", "ab"), ("calibration_digest", "cd"), ("calibration", "minmax"),
              ("converter_version", "test"), ("created", "2026-01-01T00:00:00Z")]


class G:
    """A model under construction: an f32 input [1, H, W, C], tensors and ops added by hand."""

    def __init__(self, h=4, w=4, c=3):
        self.t, self.o = [], []
        self.shape = (h, w, c)
        self.x = self.f32("input", (1, h, w, c))

    def add(self, tensor):
        self.t.append(tensor)
        return len(self.t) - 1

    def f32(self, name, dims):
        return self.add(Tensor(name, DT_FLOAT32, ROLE_ACTIVATION, tuple(dims)))

    def i8(self, name, dims, s=0.05, z=0):
        return self.add(Tensor(name, DT_INT8, ROLE_ACTIVATION, tuple(dims), None, np.array([s], F32),
                               np.array([z], np.int32)))

    def const(self, name, dtype, data, scales=None):
        data = np.asarray(data, {DT_INT8: np.int8, DT_INT32: np.int32, DT_FLOAT32: F32}[dtype])
        zps = None if scales is None else np.zeros(len(scales), np.int32)
        return self.add(Tensor(name, dtype, ROLE_CONSTANT, data.shape, data,
                               None if scales is None else np.asarray(scales, F32), zps))

    def weight(self, name, dims):
        data = (np.arange(int(np.prod(dims))) % 255 - 127).reshape(dims)
        return self.const(name, DT_INT8, data, np.full(dims[0], 0.01, F32))

    def bias(self, name, n):
        return self.const(name, DT_INT32, np.arange(n) * 7 - 3, np.full(n, 0.0005, F32))

    def requant(self, name, rows, cols=2):
        """A requant table of `rows` (m = 2^30, shift = 30) pairs per row."""
        return self.const(name, DT_INT32, np.tile([2**30, 30], (rows, cols // 2)) if cols % 2 == 0
                          else [2**30, 2**30, 30][:cols])

    def op(self, kind, inputs, out, **attrs):
        self.o.append(Op(kind, list(inputs), out, attrs))
        return out

    def q(self):
        """The quantized input."""
        return self.op(ops.OP_QUANTIZE, [self.x], self.i8("input.q", (1,) + self.shape, 1 / 255, -128))

    def model(self, out):
        """Ends the graph at `out`: DEQUANTIZE if int8, RESHAPE to [1, N] if not a vector."""
        y = self.t[out]
        if y.dtype == DT_INT8:
            out = self.op(ops.OP_DEQUANTIZE, [out], self.f32(f"{y.name}.dq", y.dims))
        y = self.t[out]
        if len(y.dims) != 2:
            out = self.op(ops.OP_RESHAPE, [out], self.f32(f"{y.name}.flat", (1, int(np.prod(y.dims)))))
        h, w, c = self.shape
        spec = InputSpec(c, h, w, (0.0,) * c, (1.0,) * c, self.x, out)
        m = Model(spec, [f"class{i}" for i in range(self.t[out].dims[1])], self.t, self.o, provenance=list(PROVENANCE))
        m.arena_size, m.plan = plan_arena(self.t, self.o, self.x, out)
        return m


WINDOW = dict(kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, pad_top=0, pad_left=0, pad_bottom=0, pad_right=0)
CONV = dict(WINDOW, dilation_h=1, dilation_w=1, groups=1, alpha=1.0)
POOL = dict(WINDOW, ceil_mode=0)


def case_quantize(g):
    return g.q()


def case_dequantize(g):
    return g.op(ops.OP_DEQUANTIZE, [g.q()], g.f32("dq", (1, 4, 4, 3)))


def case_conv2d_int8(g):
    # grouped (3 groups of 2 output channels), dilated, asymmetric pads, stride (1, 2), fused clip
    a = dict(CONV, kernel_h=3, kernel_w=3, stride_w=2, dilation_h=2, dilation_w=2, pad_top=2, pad_left=1,
             pad_bottom=0, pad_right=3, groups=3, alpha=0.1, out_min=-100, out_max=90)
    return g.op(ops.OP_CONV2D, [g.q(), g.weight("w", (6, 3, 3, 1)), g.bias("b", 6), g.requant("rq", 6, 4)],
                g.i8("conv", (1, 2, 2, 6)), **a)


def case_conv2d_f32(g):
    return g.op(ops.OP_CONV2D, [g.x, g.const("w", DT_FLOAT32, np.ones((2, 1, 1, 3))), g.const("b", DT_FLOAT32, [0.5, -1])],
                g.f32("conv", (1, 4, 4, 2)), **dict(CONV, alpha=0.0, clip_min=-1.0, clip_max=6.0))


def case_maxpool2d_int8(g):
    q = g.q()  # kernel 3 stride 2 over 4: 1 window without ceil_mode, 2 with it
    return g.op(ops.OP_MAXPOOL2D, [q], g.i8("pool", (1, 2, 2, 3), 1 / 255, -128),
                **dict(POOL, kernel_h=3, kernel_w=3, stride_h=2, stride_w=2, ceil_mode=1))


def case_maxpool2d_f32(g):
    return g.op(ops.OP_MAXPOOL2D, [g.x], g.f32("pool", (1, 3, 3, 3)),
                **dict(POOL, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1))


def case_dense_int8(g):
    return g.op(ops.OP_DENSE, [g.q(), g.weight("w", (5, 48)), g.bias("b", 5), g.requant("rq", 5, 4)], g.i8("fc", (1, 5)),
                alpha=1.0, out_min=-128, out_max=127)


def case_dense_int8_f32(g):
    return g.op(ops.OP_DENSE, [g.q(), g.weight("w", (5, 48)), g.bias("b", 5), g.const("os", DT_FLOAT32, np.full(5, 0.001))],
                g.f32("logits", (1, 5)), alpha=1.0, clip_min=-np.inf, clip_max=10.0)


def case_dense_f32(g):
    return g.op(ops.OP_DENSE, [g.x, g.const("w", DT_FLOAT32, np.ones((4, 48))), g.const("b", DT_FLOAT32, np.zeros(4))],
                g.f32("logits", (1, 4)), alpha=0.25, clip_min=-np.inf, clip_max=np.inf)


def case_avgpool2d_int8(g):
    return g.op(ops.OP_AVGPOOL2D, [g.q(), g.requant("rq", 4)], g.i8("avg", (1, 5, 5, 3)),
                **dict(POOL, kernel_h=2, kernel_w=2, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1, count_include_pad=1))


def case_avgpool2d_f32(g):
    return g.op(ops.OP_AVGPOOL2D, [g.x], g.f32("avg", (1, 2, 2, 3)),
                **dict(POOL, kernel_h=3, kernel_w=3, stride_h=3, stride_w=3, ceil_mode=1, count_include_pad=0))


def case_mean_int8(g):
    return g.op(ops.OP_MEAN, [g.q(), g.requant("rq", 1)], g.i8("mean", (1, 1, 1, 3)))


def case_mean_f32(g):
    return g.op(ops.OP_MEAN, [g.x], g.f32("mean", (1, 1, 1, 3)))


def case_add_int8(g):
    # a feature map plus a [1, 1, 1, C] broadcast
    q = g.q()
    m = g.op(ops.OP_MEAN, [q, g.requant("rqm", 1)], g.i8("mean", (1, 1, 1, 3)))
    return g.op(ops.OP_ADD, [q, m, g.requant("rq", 1, 3)], g.i8("add", (1, 4, 4, 3)), out_min=-128, out_max=127)


def case_add_f32(g):
    return g.op(ops.OP_ADD, [g.x, g.x], g.f32("add", (1, 4, 4, 3)), clip_min=0.0, clip_max=np.inf)


def case_mul_int8(g):
    q = g.q()
    return g.op(ops.OP_MUL, [q, q, g.const("rq", DT_INT32, [2**30, 40])], g.i8("mul", (1, 4, 4, 3)), out_min=-128, out_max=127)


def case_mul_f32(g):
    m = g.op(ops.OP_MEAN, [g.x], g.f32("gate", (1, 1, 1, 3)))
    return g.op(ops.OP_MUL, [g.x, m], g.f32("mul", (1, 4, 4, 3)), clip_min=-np.inf, clip_max=np.inf)


def case_concat_int8(g):
    q = g.q()
    a = g.op(ops.OP_MAXPOOL2D, [q], g.i8("p", (1, 4, 4, 3), 1 / 255, -128), **POOL)
    return g.op(ops.OP_CONCAT, [q, a, q, g.requant("rq", 3)], g.i8("cat", (1, 4, 4, 9)))


def case_concat_f32(g):
    return g.op(ops.OP_CONCAT, [g.x], g.f32("cat", (1, 4, 4, 3)))


def case_activation_int8(g):
    table = np.arange(256) - 128  # holds -128: a table is not a weight
    return g.op(ops.OP_ACTIVATION, [g.q(), g.const("table", DT_INT8, table)], g.i8("act", (1, 4, 4, 3)),
                function=ops.FUNCTION_SILU, alpha=0.0, beta=0.0, clip_min=-np.inf, clip_max=np.inf)


def case_activation_f32(g):
    a = g.op(ops.OP_ACTIVATION, [g.x], g.f32("hs", (1, 4, 4, 3)), function=ops.FUNCTION_HARD_SIGMOID,
             alpha=0.2, beta=0.5, clip_min=-np.inf, clip_max=np.inf)
    b = g.op(ops.OP_ACTIVATION, [a], g.f32("clip", (1, 4, 4, 3)), function=ops.FUNCTION_CLIP,
             alpha=0.0, beta=0.0, clip_min=-np.inf, clip_max=6.0)
    return g.op(ops.OP_ACTIVATION, [b], g.f32("leaky", (1, 4, 4, 3)), function=ops.FUNCTION_LEAKY_RELU,
                alpha=0.01, beta=0.0, clip_min=-np.inf, clip_max=np.inf)


def case_pad_int8(g):
    return g.op(ops.OP_PAD, [g.q()], g.i8("pad", (1, 7, 5, 3), 1 / 255, -128),
                pad_top=1, pad_left=0, pad_bottom=2, pad_right=1, value_q=-3)


def case_pad_f32(g):
    return g.op(ops.OP_PAD, [g.x], g.f32("pad", (1, 4, 6, 3)), pad_top=0, pad_left=2, pad_bottom=0, pad_right=0, value=-0.5)


def case_reshape_int8(g):
    return g.op(ops.OP_RESHAPE, [g.q()], g.i8("flat", (1, 48), 1 / 255, -128))


def case_reshape_f32(g):
    return g.op(ops.OP_RESHAPE, [g.x], g.f32("r", (1, 2, 24)))


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def build(case):
    g = G()
    return g.model(CASES[case](g))


def expected_attrs(op, tensors):
    """The op's attributes as the reader returns them: every one, neutral where not given."""
    out = {}
    for a in ops.OPS[op.kind].attrs:
        v = op.attrs.get(a.name, a.neutral)
        out[a.name] = float(F32(v)) if a.type == "f32" else int(v)
    return out


def rejects(model_or_bytes, field):
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else serialize(model_or_bytes)
    with pytest.raises(FormatError) as e:
        read_bytes(data)
    assert str(e.value).startswith(field + ": "), str(e.value)
    return str(e.value)


# ------------------------------------------------------------------------------ round trips

def test_every_op_kind_and_signature_has_a_case():
    covered = set()
    for case in CASES:
        m = build(case)
        for op in m.ops:
            sig = signature_of(op, m.tensors)
            covered.add((op.kind, ops.OPS[op.kind].signatures.index(sig)))
    want = {(k, i) for k, d in ops.OPS.items() for i in range(len(d.signatures))}
    assert want <= covered, sorted(want - covered)


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case):
    m = build(case)
    data = serialize(m)
    back = read_bytes(data)
    assert serialize(back) == data  # byte-identical after a read / write cycle
    assert [(o.kind, o.inputs, o.output) for o in back.ops] == [(o.kind, o.inputs, o.output) for o in m.ops]
    for got, op in zip(back.ops, m.ops):
        assert got.attrs == expected_attrs(op, m.tensors)  # every attribute, neutral where omitted
        assert list(got.attrs) == [a.name for a in ops.OPS[op.kind].attrs]  # in ops.toml's order
        assert all(type(v) is (float if a.type == "f32" else int)
                   for a, v in zip(ops.OPS[op.kind].attrs, got.attrs.values()))
    for a, b in zip(back.tensors, m.tensors):
        assert (a.name, a.dtype, a.role, a.dims) == (b.name, b.dtype, b.role, b.dims)
        if b.data is not None:
            assert np.array_equal(a.data, b.data) and a.data.dtype == F.DTYPE_NUMPY[a.dtype]
        if b.scales is not None:
            assert np.array_equal(a.scales, b.scales) and np.array_equal(a.zero_points, b.zero_points)
    assert back.plan == m.plan and back.arena_size == m.arena_size
    assert back.labels == m.labels and back.provenance == m.provenance and back.precision == "int8"
    assert back.input == m.input and back.confidence == m.confidence


def test_layout_of_a_file():
    data = serialize(build("conv2d_int8"))
    magic, vmaj, vmin, hsize, fsize, nsec, flags, sto = struct.unpack_from("<8sHHIQIIQ", data, 0)
    assert (magic, vmaj, vmin, hsize, fsize, nsec, flags, sto) == (b"ROENTGEN", 2, 2, 128, len(data), 8, 0, 128)
    assert data[72:128] == bytes(56)
    import hashlib
    assert data[40:72] == hashlib.sha256(data[:40] + data[72:]).digest()
    at = badfiles.Layout(data)
    assert [at.sections[k][0] for k in range(1, 9)] == list(range(8))
    assert all(off % 64 == 0 for _, off, _, _ in at.sections.values())
    # OPS: variable-length records, 16 + 4 * inputs + 8 * attributes bytes each
    _, off, size, count = at.sections[F.SEC_OPS]
    sizes = [b - a for a, b in zip(at.op_offsets, at.op_offsets[1:] + [off + size])]
    assert sizes == [16 + 4 * 1, 16 + 4 * 4 + 8 * 16, 16 + 4 * 1, 16 + 4 * 1]  # QUANTIZE CONV2D DEQUANTIZE RESHAPE
    conv = at.op_offsets[1]
    assert struct.unpack_from("<4I", data, conv) == (ops.OP_CONV2D, 5, 4, 16)
    ids = [struct.unpack_from("<I", data, conv + 32 + 8 * k)[0] for k in range(16)]
    assert ids == [a.id for a in ops.OPS[ops.OP_CONV2D].attrs]
    clip_min = struct.unpack_from("<f", data, conv + 32 + 8 * 12 + 4)[0]
    assert clip_min == -np.inf  # filled with its neutral: not given for an int8 output


def test_variadic_inputs_expand_in_order():
    m = build("concat_int8")
    op = next(o for o in m.ops if o.kind == ops.OP_CONCAT)
    sig = signature_of(op, m.tensors)
    bound = F.bind_inputs(sig, op.inputs)
    assert bound["x"] == op.inputs[:3] and bound["requant"] == op.inputs[3]
    assert [s.name for s in F.expand_slots(sig, 4)] == ["x", "x", "x", "requant"]


# ------------------------------------------------------------------------------ the writer

def test_writer_requires_applying_attributes():
    g = G()
    q = g.q()
    attrs = dict(POOL)
    del attrs["ceil_mode"]  # applies to every output dtype
    g.op(ops.OP_MAXPOOL2D, [q], g.i8("p", (1, 4, 4, 3), 1 / 255, -128), **attrs)
    with pytest.raises(FormatError, match=r"^op\[1\] MAXPOOL2D\.attrs\.ceil_mode: missing"):
        serialize(g.model(len(g.t) - 1))


def test_writer_rejects_unknown_attribute_kind_and_types():
    m = build("dense_f32")
    m.ops[0].attrs["groups"] = 1
    with pytest.raises(FormatError, match=r"^op\[0\] DENSE\.attrs\.groups: DENSE has no attribute"):
        serialize(m)
    m = build("pad_int8")
    m.ops[1].attrs["value_q"] = 1.5
    with pytest.raises(FormatError, match=r"^op\[1\] PAD\.attrs\.value_q: 1\.5 is not an integer"):
        serialize(m)
    m = build("pad_f32")
    m.ops[0].attrs["value"] = 1e300
    with pytest.raises(FormatError, match=r"^op\[0\] PAD\.attrs\.value: .* is not an f32"):
        serialize(m)
    m = build("mean_f32")
    m.ops[0].kind = 77
    with pytest.raises(FormatError, match=r"^op\[0\]\.kind: 77"):
        serialize(m)


def test_write_model_reads_back_and_is_atomic(tmp_path):
    p = tmp_path / "m.rtg"
    data = write_model(build("add_int8"), p)
    assert p.read_bytes() == data
    assert [x.name for x in tmp_path.iterdir()] == ["m.rtg"]
    bad = build("add_int8")
    bad.ops[2].attrs["out_min"] = 500  # serializes, but the reader rejects it
    with pytest.raises(FormatError, match="out_min"):
        write_model(bad, tmp_path / "bad.rtg")
    assert [x.name for x in tmp_path.iterdir()] == ["m.rtg"]  # nothing left behind


def test_signature_of():
    m = build("dense_int8_f32")
    op = m.ops[1]
    assert signature_of(op, m.tensors) == ops.OPS[ops.OP_DENSE].signatures[1]
    op.inputs[3] = op.inputs[2]  # an int32 bias where out_scale (f32) belongs
    with pytest.raises(FormatError, match=r"^DENSE\.signature: \(act:int8, const:int8, const:int32, const:int32\) -> f32"):
        signature_of(op, m.tensors)
    with pytest.raises(FormatError, match=r"^op\[1\] DENSE\.signature: "):
        signature_of(op, m.tensors, "op[1] DENSE")


# ------------------------------------------------------------------------------ the reader

def test_newer_minor_version_accepted():
    buf = bytearray(serialize(build("mean_int8")))
    struct.pack_into("<H", buf, 10, 7)
    assert read_bytes(badfiles.seal(buf)).ops


def with_extra_section(data: bytes, kind: int) -> bytes:
    """The file with a 9th section of an unknown kind: everything after the table moves by 64 bytes."""
    at = badfiles.Layout(data)
    shift = 64
    buf = bytearray(data[:384]) + bytearray(shift) + bytearray(data[384:])
    struct.pack_into("<I", buf, 24, 9)
    for i in range(8):
        e = 128 + 32 * i
        struct.pack_into("<Q", buf, e + 8, struct.unpack_from("<Q", buf, e + 8)[0] + shift)
    buf += bytes(-len(buf) % 64)  # the extra section is 64-aligned like every section
    end = len(buf)
    struct.pack_into("<IIQQQ", buf, 128 + 32 * 8, kind, 0, end, 5, 5)
    buf += b"extra"
    struct.pack_into("<Q", buf, 16, len(buf))

    def move(off, fmt="<I"):
        struct.pack_into(fmt, buf, off + shift, struct.unpack_from(fmt, buf, off + shift)[0] + shift)
    for kind_, rec, fields in ((F.SEC_LABELS, 8, (0,)), (F.SEC_PROVENANCE, 16, (0, 8)), (F.SEC_TENSORS, 64, (0,))):
        _, off, _, count = at.sections[kind_]
        for r in range(count):
            for fo in fields:
                move(off + r * rec + fo)
    _, off, _, count = at.sections[F.SEC_TENSORS]
    for r in range(count):
        for fo in (32, 56):
            if struct.unpack_from("<Q", data, off + r * 64 + fo)[0]:
                move(off + r * 64 + fo, "<Q")
    return badfiles.seal(buf)


def test_unknown_section_kind_is_skipped():
    data = serialize(build("add_int8"))
    assert serialize(read_bytes(with_extra_section(data, 42))) == data
    # ... but it still obeys the rules of every section
    bad = bytearray(with_extra_section(data, 42))
    struct.pack_into("<Q", bad, 128 + 32 * 8 + 8, 384 + 64)  # on top of STRINGS
    rejects(badfiles.seal(bad), "section[8].offset")


def test_reject_more_than_4096_activations():
    g = G(1, 1, 1)
    prev = g.x
    for i in range(4096):
        prev = g.op(ops.OP_RESHAPE, [prev], g.f32(f"r{i}", (1, 1)))
    m = g.model(prev)
    m.plan.pop(0)  # keep PLAN within its limit, so the tensor count is what fails
    rejects(m, "tensor[4096] 'r4095'.role")


def test_4096_activations_read_fast():
    g = G(1, 1, 1)
    prev = g.x
    for i in range(4095):
        prev = g.op(ops.OP_RESHAPE, [prev], g.f32(f"r{i}", (1, 1)))
    data = serialize(g.model(prev))
    t0 = time.perf_counter()
    m = read_bytes(data)
    assert len(m.plan) == 4096 and time.perf_counter() - t0 < 10


def test_reject_concat_dims():
    g = G()
    q = g.q()
    m_ = g.op(ops.OP_MEAN, [q, g.requant("rqm", 1)], g.i8("mean", (1, 1, 1, 3)))
    g.op(ops.OP_CONCAT, [q, m_, g.requant("rq", 2)], g.i8("cat", (1, 4, 4, 6)))
    rejects(g.model(len(g.t) - 1), "op[2] CONCAT.x[1]")
    g = G()
    q = g.q()
    flat = g.op(ops.OP_RESHAPE, [q], g.i8("flat", (1, 48), 1 / 255, -128))
    g.op(ops.OP_CONCAT, [q, flat, g.requant("rq", 2)], g.i8("cat", (1, 4, 4, 6)))
    rejects(g.model(len(g.t) - 1), "op[2] CONCAT.x[1]")  # another rank


def test_reject_add_mul_broadcast():
    g = G()
    q = g.q()
    m_ = g.op(ops.OP_MEAN, [q, g.requant("rqm", 1)], g.i8("mean", (1, 1, 1, 3)))
    g.op(ops.OP_ADD, [m_, q, g.requant("rq", 1, 3)], g.i8("add", (1, 1, 1, 3)), out_min=-128, out_max=127)
    rejects(g.model(len(g.t) - 1), "op[2] ADD.b")  # b may broadcast, a may not
    m = build("mul_f32")
    m.tensors[m.ops[1].output].dims = (1, 4, 4, 2)  # the RESHAPE after it disagrees too, but MUL is first
    rejects(m, "op[1] MUL.output")
    m = build("mul_int8")
    m.tensors[m.ops[1].inputs[2]].data = np.array([2**30, 40, 1], np.int32)
    m.tensors[m.ops[1].inputs[2]].dims = (3,)
    rejects(m, "op[1] MUL.requant")


def test_reject_accumulator_bounds():
    # AVGPOOL2D: KH * KW * 255 > 2^31 - 1; MEAN: H * W * 255 > 2^31 - 1 (no data: activations are free)
    g = G(3000, 3000, 1)
    q = g.q()
    g.op(ops.OP_AVGPOOL2D, [q, g.requant("rq", 1)], g.i8("avg", (1, 1, 1, 1)),
         **dict(POOL, kernel_h=3000, kernel_w=3000, count_include_pad=0))
    rejects(g.model(len(g.t) - 1), "op[1] AVGPOOL2D.attrs.kernel_h")
    g = G(3000, 3000, 1)
    g.op(ops.OP_MEAN, [g.q(), g.requant("rq", 1)], g.i8("mean", (1, 1, 1, 1)))
    rejects(g.model(len(g.t) - 1), "op[1] MEAN.x")
    g = G(2000, 2000, 1)  # 2000 * 2000 * 255 fits: accepted
    g.op(ops.OP_MEAN, [g.q(), g.requant("rq", 1)], g.i8("mean", (1, 1, 1, 1)))
    read_bytes(serialize(g.model(len(g.t) - 1)))


def test_reject_avgpool_requant_rows():
    m = build("avgpool2d_int8")
    rq = m.tensors[m.ops[1].inputs[1]]
    rq.data, rq.dims = rq.data[:3], (3, 2)
    rejects(m, "op[1] AVGPOOL2D.requant")


def test_reject_pad_rules():
    m = build("pad_int8")
    m.ops[1].attrs["value_q"] = 128
    rejects(m, "op[1] PAD.attrs.value_q")
    m = build("pad_int8")
    m.ops[1].attrs["pad_top"] = 1025
    rejects(m, "op[1] PAD.attrs.pad_top")
    m = build("pad_int8")
    m.tensors[m.ops[1].output].zero_points = np.array([0], np.int32)
    rejects(m, "op[1] PAD.output")  # shares the input's zero point
    m = build("pad_f32")
    m.ops[0].attrs["pad_left"] = 1
    rejects(m, "op[0] PAD.output")
    m = build("pad_f32")
    m.ops[0].attrs["value"] = np.inf
    rejects(m, "op[0] PAD.attrs.value")
    m = build("pad_int8")
    m.ops[1].attrs["value"] = -0.0  # neutral is +0.0: the same bits, not an equal value
    rejects(m, "op[1] PAD.attrs.value")


def test_reject_reshape_quantize_rules():
    m = build("reshape_int8")
    m.tensors[m.ops[1].output].dims = (1, 47)
    rejects(m, "op[1] RESHAPE.output")
    m = build("reshape_int8")
    m.tensors[m.ops[1].output].scales = np.array([0.5], F32)
    rejects(m, "op[1] RESHAPE.output")
    m = build("quantize")
    m.tensors[m.ops[0].output].dims = (1, 4, 3, 4)
    rejects(m, "op[0] QUANTIZE.output")


def test_reject_activation_rules():
    m = build("activation_int8")
    tb = m.tensors[m.ops[1].inputs[1]]
    tb.scales, tb.zero_points = np.ones(256, F32), np.zeros(256, np.int32)  # a table is not quantized
    msg = rejects(m, f"tensor[{m.ops[1].inputs[1]}] 'table'.data")  # ...and then -128 makes it a bad weight first
    assert "-128" in msg
    tb.data = np.clip(tb.data, -127, 127).astype(np.int8)
    rejects(m, "op[1] ACTIVATION.table")
    m = build("activation_f32")
    m.ops[1].attrs["clip_min"] = 7.0
    rejects(m, "op[1] ACTIVATION.attrs.clip_min")  # CLIP: clip_min > clip_max
    m = build("activation_f32")
    m.ops[0].attrs["clip_max"] = 6.0
    rejects(m, "op[0] ACTIVATION.attrs.clip_max")  # HARD_SIGMOID does not use clip_max
    m = build("activation_f32")
    m.ops[2].attrs["beta"] = 1.0
    rejects(m, "op[2] ACTIVATION.attrs.beta")  # LEAKY_RELU does not use beta
    m = build("activation_int8")
    m.ops[1].attrs["alpha"] = -0.0
    rejects(m, "op[1] ACTIVATION.attrs.alpha")  # unused parameters are exactly +0.0


def test_reject_dense_rules():
    m = build("dense_int8")
    b = m.tensors[m.ops[1].inputs[2]]
    b.data, b.dims, b.scales, b.zero_points = b.data[:4], (4,), b.scales[:4], b.zero_points[:4]
    rejects(m, "op[1] DENSE.b")
    m = build("dense_int8")
    rq = m.tensors[m.ops[1].inputs[3]]
    rq.data, rq.dims = rq.data.reshape(10, 2), (10, 2)
    rejects(m, "op[1] DENSE.requant")
    m = build("dense_int8")
    m.tensors[m.ops[1].inputs[3]].data[4, 3] = 0
    rejects(m, "op[1] DENSE.requant.shift")
    m = build("dense_int8_f32")
    m.tensors[m.ops[1].inputs[1]].scales = None
    m.tensors[m.ops[1].inputs[1]].zero_points = None
    rejects(m, "op[1] DENSE.w")


def test_requant_reports_first_bad_value_in_row_major_order():
    m = build("conv2d_int8")
    rq = m.tensors[m.ops[1].inputs[3]].data
    rq[3, 3] = 0          # a shift, later
    rq[2, 0] = -2**31     # an m, earlier
    msg = rejects(m, "op[1] CONV2D.requant.m")
    assert "row 2 column 0" in msg


def test_conv_geometry_rules():
    m = build("conv2d_int8")
    m.ops[1].attrs["pad_right"] = 2  # (4 + 1 + 2 - 5) // 2 + 1 = 2: the same output, still valid
    read_bytes(serialize(m))
    m.ops[1].attrs["pad_right"] = 0  # (4 + 1 - 5) // 2 + 1 = 1
    rejects(m, "op[1] CONV2D.output")


def test_maxpool_ceil_mode_last_window_rule():
    # ceil_mode drops a last window that would start in the bottom padding (PyTorch's rule):
    # H 4, kernel 2, stride 2, pad_bottom 1: ceil((4 + 1 - 2) / 2) + 1 = 3, but window 2 starts at 4 >= H
    g = G()
    q = g.q()
    g.op(ops.OP_MAXPOOL2D, [q], g.i8("p", (1, 2, 2, 3), 1 / 255, -128),
         **dict(POOL, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2, pad_bottom=1, pad_right=1, ceil_mode=1))
    m = g.model(len(g.t) - 1)
    read_bytes(serialize(m))
    m.tensors[m.ops[1].output].dims = (1, 3, 3, 3)
    rejects(m, "op[1] MAXPOOL2D.output")


def test_activation_limit_checked_before_the_rest():
    # an activation's data_size above arena_size is rejected at the tensor, before any op
    m = build("mean_f32")
    m.arena_size = 64
    rejects(m, "tensor[0] 'input'.data_size")


# ------------------------------------------------------------------------------ robustness

def test_random_corruptions_never_crash():
    """Any byte changed (and the file re-sealed) is either still valid or a FormatError - never
    another exception. Seeded; the seed and position are in the failure message."""
    base = serialize(badfiles.base_model())
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for _ in range(700):
            buf = bytearray(base)
            pos = int(rng.integers(0, len(buf)))
            buf[pos] = int(rng.integers(0, 256))
            if rng.random() < 0.3:  # sometimes a second byte, e.g. the high byte of a field
                buf[int(rng.integers(128, len(buf)))] = 0xFF
            try:
                read_bytes(badfiles.seal(buf))
            except FormatError:
                pass
            except Exception as e:  # noqa: BLE001 - the point of the test
                raise AssertionError(f"seed {seed}, byte {pos}: {type(e).__name__}: {e}") from e



def test_truncations_never_crash():
    base = serialize(badfiles.base_model())
    for n in list(range(0, 200, 7)) + list(range(200, len(base), 61)):
        buf = bytearray(base[:n])
        if n >= 128:
            struct.pack_into("<Q", buf, 16, n)
            badfiles.seal(buf)
        with pytest.raises(FormatError):
            read_bytes(bytes(buf))


def test_confidence_section_round_trips_and_is_optional():
    """CONFIDENCE (2.1) is written before DATA only when the model has one (9 sections then), and
    reads back as binary32; a file without it reads as uncalibrated."""
    m = build("conv2d_int8")
    plain = serialize(m)
    assert read_bytes(plain).confidence is None
    m.confidence = F.Confidence(1.75, 0.3)
    data = serialize(m)
    nsec = struct.unpack_from("<I", data, 24)[0]
    kinds = [struct.unpack_from("<I", data, 128 + 32 * i)[0] for i in range(nsec)]
    assert kinds == [1, 2, 3, 4, 5, 6, 7, 9, 8]
    c = read_bytes(data).confidence
    assert c.temperature == 1.75 and c.min_confidence == float(np.float32(0.3))
