"""The bad-file corpus of SPEC "What a reader must reject": one small valid 2.0 model, built here
with the writer, and one corrupted copy of it per reader rule, each with the field its error must
name. Both readers (Python and Swift) run the whole corpus, from `fixtures/bad/index.tsv`.

    python -m roentgen_tools.fileformat.badfiles OUT_DIR

Everything is deterministic (no random numbers, a fixed `created`), so the committed corpus can
be compared with what this module generates. A corruption of a rule the reader checks after the
checksum is re-sealed with a correct SHA-256, so it is that rule that fails.
"""
from __future__ import annotations

import copy
import struct
import sys
from pathlib import Path

import numpy as np

from . import ops
from .model import (SEC_CONFIDENCE, SEC_REJECT, Confidence, DT_FLOAT32, DT_INT8, DT_INT32, HEADER_SIZE, LABEL_RECORD, OP_HEADER,
                    OP_HEADER_FMT, PLAN_PREFIX, PLAN_RECORD, PROVENANCE_RECORD, ROLE_ACTIVATION, ROLE_CONSTANT,
                    SEC_DATA, SEC_INPUT, SEC_LABELS, SEC_OPS, SEC_PLAN, SEC_PROVENANCE, SEC_STRINGS, SEC_TENSORS,
                    SECTION_ENTRY_SIZE, SECTION_FMT, SHA_END, SHA_OFFSET, TENSOR_RECORD, InputSpec, Model, Op,
                    Tensor, checksum)
from .planner import plan_arena
from .writer import serialize

F32 = np.float32
INDEX_HEADER = "file\tfield\trule\n"


# --------------------------------------------------------------------------- the valid model

def _multiplier(M: float):
    """(m, shift) of SPEC "The rounding rule": the largest shift <= 62 with |rint(M 2^shift)| < 2^31."""
    for shift in range(62, 0, -1):
        m = round(M * 2.0**shift)
        if abs(m) < 2**31:
            return int(m), shift
    raise ValueError(M)


def _pattern(shape, k: int, lo: int = -127, hi: int = 127) -> np.ndarray:
    """Deterministic 'random-looking' integers in [lo, hi]."""
    n = int(np.prod(shape))
    v = (np.arange(n, dtype=np.int64) * (37 + 2 * k) + 11 * k) % (hi - lo + 1) + lo
    return v.reshape(shape)


def base_model() -> Model:
    """A tiny int8 DAG over an RGB 4x4 image: QUANTIZE, a grouped CONV2D (groups 3), ACTIVATION
    (a RELU table), ADD (a residual), CONCAT (variadic), MAXPOOL2D, MEAN, DENSE int8 -> f32."""
    T = []

    def tensor(name, dtype, role, dims, data=None, scale=None, zp=None):
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, F32))
            zp = np.atleast_1d(np.asarray(zp if zp is not None else np.zeros(len(scale)), np.int32))
        if data is not None:
            data = np.asarray(data, {DT_INT8: np.int8, DT_INT32: np.int32, DT_FLOAT32: F32}[dtype]).reshape(dims)
        T.append(Tensor(name, dtype, role, tuple(dims), data, scale, zp))
        return len(T) - 1

    def act(name, dims, s, z):
        return tensor(name, DT_INT8, ROLE_ACTIVATION, dims, scale=F32(s), zp=z)

    s_in, s_c1 = F32(1.0 / 255.0), F32(0.05)
    x = tensor("input", DT_FLOAT32, ROLE_ACTIVATION, (1, 4, 4, 3))
    xq = act("input.q", (1, 4, 4, 3), s_in, -128)
    # conv1: 3 groups of one input channel each (a depthwise 3x3 conv)
    w = _pattern((3, 3, 3, 1), 1)
    s_w = np.array([0.02, 0.025, 0.03], F32)
    w1 = tensor("conv1.w", DT_INT8, ROLE_CONSTANT, w.shape, w, s_w)
    b1 = tensor("conv1.b", DT_INT32, ROLE_CONSTANT, (3,), _pattern((3,), 2, -500, 500), (s_in * s_w).astype(F32))
    rows = [2 * _multiplier(float(s_in) * float(sw) / float(s_c1)) for sw in s_w]  # (m, shift) twice: no activation
    r1 = tensor("conv1.requant", DT_INT32, ROLE_CONSTANT, (3, 4), rows)
    c1 = act("conv1", (1, 4, 4, 3), s_c1, 3)
    z_relu, s_relu = -128, F32(0.03)
    table = [int(np.clip(np.rint(max(float(s_c1) * (q - 3), 0.0) / float(s_relu)) + z_relu, -128, 127))
             for q in range(-128, 128)]
    tb = tensor("relu1.table", DT_INT8, ROLE_CONSTANT, (256,), table)
    a1 = act("relu1", (1, 4, 4, 3), s_relu, z_relu)
    s_add = F32(0.06)
    shift = min(_multiplier(float(s_relu) / float(s_add))[1], _multiplier(float(s_c1) / float(s_add))[1])
    ra = tensor("add1.requant", DT_INT32, ROLE_CONSTANT, (3,),
                [round(float(s_relu) / float(s_add) * 2.0**shift), round(float(s_c1) / float(s_add) * 2.0**shift), shift])
    ad = act("add1", (1, 4, 4, 3), s_add, -20)
    s_cat = F32(0.07)
    rc = tensor("cat.requant", DT_INT32, ROLE_CONSTANT, (2, 2),
                [_multiplier(float(s_add) / float(s_cat)), _multiplier(float(s_relu) / float(s_cat))])
    ct = act("cat", (1, 4, 4, 6), s_cat, -10)
    pl = act("pool", (1, 2, 2, 6), s_cat, -10)
    s_mean = F32(0.065)
    rm = tensor("mean.requant", DT_INT32, ROLE_CONSTANT, (1, 2), [_multiplier(float(s_cat) / (4 * float(s_mean)))])
    mn = act("mean", (1, 1, 1, 6), s_mean, -12)
    fs = np.array([0.01, 0.02, 0.03], F32)
    fwi = tensor("fc.w", DT_INT8, ROLE_CONSTANT, (3, 6), _pattern((3, 6), 5), fs)
    fbi = tensor("fc.b", DT_INT32, ROLE_CONSTANT, (3,), [100, -200, 300], (s_mean * fs).astype(F32))
    fos = tensor("fc.out_scale", DT_FLOAT32, ROLE_CONSTANT, (3,), (s_mean * fs).astype(F32))
    lg = tensor("logits", DT_FLOAT32, ROLE_ACTIVATION, (1, 3))

    O = [
        Op(ops.OP_QUANTIZE, [x], xq),
        Op(ops.OP_CONV2D, [xq, w1, b1, r1], c1, dict(
            kernel_h=3, kernel_w=3, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1,
            pad_bottom=1, pad_right=1, groups=3, alpha=1.0, out_min=-128, out_max=127)),
        Op(ops.OP_ACTIVATION, [c1, tb], a1, dict(function=ops.FUNCTION_RELU, alpha=0.0, beta=0.0,
                                                  clip_min=-np.inf, clip_max=np.inf)),
        Op(ops.OP_ADD, [a1, c1, ra], ad, dict(out_min=-128, out_max=127)),
        Op(ops.OP_CONCAT, [ad, a1, rc], ct),
        Op(ops.OP_MAXPOOL2D, [ct], pl, dict(kernel_h=2, kernel_w=2, stride_h=2, stride_w=2, pad_top=0,
                                             pad_left=0, pad_bottom=0, pad_right=0, ceil_mode=0)),
        Op(ops.OP_MEAN, [pl, rm], mn),
        Op(ops.OP_DENSE, [mn, fwi, fbi, fos], lg, dict(alpha=1.0, clip_min=-np.inf, clip_max=np.inf)),
    ]
    spec = InputSpec(3, 4, 4, (0.5, 0.4, 0.3), (0.25, 0.5, 1.0), x, lg)
    prov = [("precision", "int8"), ("source_sha256", "00"), ("calibration_digest", "11"),
            ("calibration", "minmax"), ("converter_version", "badfiles"), ("created", "2026-01-01T00:00:00Z")]
    m = Model(spec, ["hand", "knee", "skull"], T, O, provenance=prov)
    m.arena_size, m.plan = plan_arena(T, O, x, lg)
    return m


# op indices of the base model
QUANT, CONV, RELU, ADD, CAT, POOL, MEAN, FC = range(8)


# ------------------------------------------------------------------------ where things are

class Layout:
    """Byte offsets of the records of a file this module wrote (it trusts the file)."""

    # field offsets inside a TENSORS record and the INPUT record (SPEC structs)
    TENSOR = dict(name_offset=0, name_length=4, dtype=8, role=9, rank=10, reserved0=11, reserved1=12,
                  dims=16, data_offset=32, data_size=40, quant_count=48, quant_axis=52, quant_offset=56)
    INPUT = dict(channels=0, height=4, width=8, resize=12, mean=16, std=28, input_tensor=40,
                 output_tensor=44, output_kind=48, reserved=52)

    def __init__(self, data: bytes):
        self.data = data
        self.sections = {}
        for i in range(8):
            kind, _, off, size, count = struct.unpack_from(SECTION_FMT, data, HEADER_SIZE + i * SECTION_ENTRY_SIZE)
            self.sections[kind] = (i, off, size, count)
        _, pos, _, n_o = self.sections[SEC_OPS]
        self.op_offsets = []
        for _ in range(n_o):
            self.op_offsets.append(pos)
            _, _, n_in, n_attr = struct.unpack_from(OP_HEADER_FMT, data, pos)
            pos += OP_HEADER + 4 * n_in + 8 * n_attr

    def entry(self, kind) -> int:
        """Offset of the section table entry of `kind`."""
        return HEADER_SIZE + self.sections[kind][0] * SECTION_ENTRY_SIZE

    def off(self, kind) -> int:
        return self.sections[kind][1]

    def tensor(self, i, name="name_offset") -> int:
        return self.off(SEC_TENSORS) + i * TENSOR_RECORD + self.TENSOR[name]

    def input(self, name) -> int:
        return self.off(SEC_INPUT) + self.INPUT[name]

    def op(self, i) -> int:
        return self.op_offsets[i]

    def op_input(self, i, j) -> int:
        return self.op_offsets[i] + OP_HEADER + 4 * j

    def op_attr(self, i, name) -> int:
        """Offset of the (id, value) pair of attribute `name` of op i."""
        kind, _, n_in, _ = struct.unpack_from(OP_HEADER_FMT, self.data, self.op_offsets[i])
        k = [a.name for a in ops.OPS[kind].attrs].index(name)
        return self.op_offsets[i] + OP_HEADER + 4 * n_in + 8 * k

    def plan(self, j) -> int:
        return self.off(SEC_PLAN) + PLAN_PREFIX + j * PLAN_RECORD

    def tensor_data(self, i) -> int:
        return struct.unpack_from("<Q", self.data, self.tensor(i, "data_offset"))[0]

    def tensor_quant(self, i) -> int:
        return struct.unpack_from("<Q", self.data, self.tensor(i, "quant_offset"))[0]


def seal(buf: bytearray) -> bytes:
    buf[SHA_OFFSET:SHA_END] = checksum(buf)
    return bytes(buf)


# --------------------------------------------------------------------------------- the corpus

class _Corpus:
    """Collects (file name, field, rule, bytes)."""

    def __init__(self):
        self.model = base_model()
        self.base = serialize(self.model)
        self.at = Layout(self.base)
        self.ti = {t.name: i for i, t in enumerate(self.model.tensors)}
        self.files = []

    def add(self, name, field, rule, data):
        assert "\t" not in field + rule and "\n" not in field + rule
        assert all(f[0] != f"{name}.rtg" for f in self.files), name
        self.files.append((f"{name}.rtg", field, rule, bytes(data)))

    def patch(self, name, field, rule, *edits, reseal=True):
        """edits: (offset, struct format, value...)"""
        buf = bytearray(self.base)
        for off, fmt, *vals in edits:
            struct.pack_into(fmt, buf, off, *vals)
        self.add(name, field, rule, seal(buf) if reseal else buf)

    def mutate(self, name, field, rule, change):
        """A change of the model (a deep copy), written by the writer (which always seals)."""
        m = copy.deepcopy(self.model)
        change(m)
        self.add(name, field, rule, serialize(m))

    def tensor_field(self, name):
        i = self.ti[name]
        return i, f"tensor[{i}] '{name}'"


def corpus() -> list:
    """[(file name, field, rule, bytes)], in a fixed order."""
    c = _Corpus()
    at, base, ti = c.at, c.base, c.ti
    P, M = c.patch, c.mutate
    sec = at.sections

    # ---- header, in the reader's order; before the checksum nothing is re-sealed
    c.add("header-short", "header", "a file shorter than the 128-byte header", base[:100])
    # a reader checks magic, version and header_size before file_size: these files are only the header
    def H(name, field, rule, *edits):
        buf = bytearray(base[:HEADER_SIZE])
        for off, fmt, *vals in edits:
            struct.pack_into(fmt, buf, off, *vals)
        c.add(name, field, rule + " (the file is cut after its header)", buf)
    H("header-magic", "header.magic", "wrong magic", (0, "8s", b"ROENTGEM"))
    H("header-version-1", "header.version_major", "a format 1.0 file: re-convert it with roentgen-convert 2.x", (8, "<HH", 1, 0))
    H("header-version-3", "header.version_major", "a newer major version than this runtime", (8, "<HH", 3, 0))
    H("header-version-0", "header.version_major", "version_major 0", (8, "<HH", 0, 9))
    H("header-header-size", "header.header_size", "header_size != 128", (12, "<I", 64))
    c.add("header-file-size", "header.file_size", "file_size != the actual length (bytes appended)", base + bytes(64))
    buf = bytearray(base)
    buf[at.tensor_data(ti["fc.w"])] ^= 0x01
    c.add("header-checksum", "header.sha256", "one bit of a weight flipped: checksum mismatch", buf)
    P("header-flags", "header.flags", "nonzero flags", (28, "<I", 1))
    P("header-section-count-low", "header.section_count", "section_count 7 (< 8)", (24, "<I", 7))
    P("header-section-count-high", "header.section_count", "section_count 65 (> 64)", (24, "<I", 65))
    P("header-section-table-offset", "header.section_table_offset", "section_table_offset != 128", (32, "<Q", 192))
    P("header-reserved", "header.reserved", "a nonzero reserved header byte", (100, "B", 1))

    # ---- section table
    e = at.entry
    P("section-reserved", "section[1].reserved", "a nonzero reserved field of a section entry", (e(SEC_INPUT) + 4, "<I", 1))
    P("section-unaligned", "section[4].offset", "a section offset that is not 64-aligned", (e(SEC_OPS) + 8, "<Q", at.off(SEC_OPS) + 8))
    P("section-over-table", "section[0].offset", "a section overlapping the header and section table", (e(SEC_STRINGS) + 8, "<Q", 128))
    P("section-outside-file", "section[7].size", "a section running past the end of the file",
      (e(SEC_DATA) + 16, "<Q", sec[SEC_DATA][2] + 64))
    P("section-overlap", "section[6].offset", "two sections overlapping", (e(SEC_PROVENANCE) + 8, "<Q", at.off(SEC_TENSORS)))
    P("section-size", "section[2].size", "a section size that does not match its count", (e(SEC_LABELS) + 16, "<Q", 32))
    P("section-missing", "section PROVENANCE", "a missing section kind (PROVENANCE's entry has unknown kind 99, which is skipped)",
      (e(SEC_PROVENANCE), "<I", 99))
    P("section-repeated", "section[6].kind", "a section kind that appears twice", (e(SEC_PROVENANCE), "<I", SEC_OPS))
    P("section-input-count", "section[1].count", "INPUT count != 1", (e(SEC_INPUT) + 24, "<Q", 2))
    P("section-data-count", "section[7].count", "DATA count != 0", (e(SEC_DATA) + 24, "<Q", 1))
    P("limit-tensors", "section[3].count", "more than 16384 tensors", (e(SEC_TENSORS) + 24, "<Q", 16385))
    P("limit-ops", "section[4].count", "more than 4096 ops", (e(SEC_OPS) + 24, "<Q", 4097))
    P("limit-labels", "section[2].count", "more than 65536 labels", (e(SEC_LABELS) + 24, "<Q", 65537))
    P("limit-provenance", "section[6].count", "more than 1024 provenance entries", (e(SEC_PROVENANCE) + 24, "<Q", 1025))
    P("limit-plan", "section[5].count", "more than 4096 plan entries (activations)", (e(SEC_PLAN) + 24, "<Q", 4097))
    p0 = at.off(SEC_PLAN)
    P("limit-arena", "plan.arena_size", "arena_size above 2^30", (p0, "<Q", 2**30 + 64))
    P("plan-arena-unaligned", "plan.arena_size", "arena_size not a multiple of 64", (p0, "<Q", c.model.arena_size + 8))
    P("plan-reserved", "plan.reserved", "nonzero reserved field of the PLAN prefix", (p0 + 8, "<Q", 1))

    # ---- strings
    s0 = at.off(SEC_STRINGS)
    P("string-outside", "tensor[0].name", "a string outside STRINGS", (at.tensor(0), "<I", at.off(SEC_INPUT)))
    P("string-utf8", "label[0]", "a string that is not valid UTF-8", (s0, "B", 0xFF))
    P("tensor-name-empty", "tensor[2].name", "an empty tensor name", (at.tensor(2, "name_length"), "<I", 0))
    ref = struct.unpack_from("<II", base, at.tensor(2))
    P("tensor-name-repeated", "tensor[3].name", "a repeated tensor name", (at.tensor(3), "<II", *ref))
    lab = at.off(SEC_LABELS)
    P("label-empty", "label[1]", "an empty label", (lab + LABEL_RECORD + 4, "<I", 0))
    P("label-repeated", "label[2]", "a repeated label", (lab + 2 * LABEL_RECORD, "<II", *struct.unpack_from("<II", base, lab)))
    pv = at.off(SEC_PROVENANCE)
    P("provenance-key-empty", "provenance[1].key", "an empty provenance key", (pv + PROVENANCE_RECORD + 4, "<I", 0))
    P("provenance-key-repeated", "provenance[2].key", "a repeated provenance key",
      (pv + 2 * PROVENANCE_RECORD, "<II", *struct.unpack_from("<II", base, pv)))
    P("provenance-value-outside", "provenance[0].value", "a provenance value outside STRINGS",
      (pv + 8, "<I", at.off(SEC_DATA)))
    M("provenance-required", "provenance.calibration_digest", "a required provenance key missing",
      lambda m: m.provenance.pop(2))

    # ---- tensors
    i, w = c.tensor_field("conv1.w")
    T = at.tensor
    P("tensor-dtype", f"{w}.dtype", "an unknown dtype", (T(i, "dtype"), "B", 4))
    P("tensor-role", f"{w}.role", "an unknown role", (T(i, "role"), "B", 2))
    P("tensor-rank-0", f"{w}.rank", "rank 0", (T(i, "rank"), "B", 0))
    P("tensor-rank-5", f"{w}.rank", "rank 5", (T(i, "rank"), "B", 5))
    P("tensor-reserved", f"{w}.reserved", "a nonzero reserved field of a tensor", (T(i, "reserved1"), "<I", 1))
    P("tensor-zero-dim", f"{w}.dims[1]", "a zero dimension", (T(i, "dims") + 4, "<I", 0))
    ib, wb = c.tensor_field("conv1.b")
    P("tensor-dim-beyond-rank", f"{wb}.dims[1]", "a nonzero dimension beyond the rank", (T(ib, "dims") + 4, "<I", 4))
    ic, wc = c.tensor_field("conv1")
    P("tensor-dims-overflow", f"{wc}.dims", "a dimension product that overflows 64 bits",
      (T(ic, "dims"), "<4I", 1, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
    P("tensor-data-size", f"{w}.data_size", "data_size != product(dims) * sizeof(dtype)", (T(i, "data_size"), "<Q", 37))
    P("tensor-data-outside", f"{w}.data_offset", "constant data outside DATA", (T(i, "data_offset"), "<Q", at.off(SEC_PLAN)))
    P("tensor-data-unaligned", f"{w}.data_offset", "constant data not 64-aligned", (T(i, "data_offset"), "<Q", at.tensor_data(i) + 4))
    P("tensor-activation-data-offset", f"{wc}.data_offset", "an activation with a data_offset",
      (T(ic, "data_offset"), "<Q", at.tensor_data(i)))
    il, wl = c.tensor_field("logits")
    P("tensor-activation-too-big", f"{wl}.data_size", "an activation larger than arena_size",
      (T(il, "dims"), "<4I", 1, 100000, 0, 0), (T(il, "data_size"), "<Q", 400000))
    P("tensor-int32-activation", f"{wc}.dtype", "an int32 activation",
      (T(ic, "dtype"), "B", DT_INT32), (T(ic, "data_size"), "<Q", 4 * 48))
    P("tensor-batch", f"{wl}.dims[0]", "an activation whose batch is not 1",
      (T(il, "dims"), "<I", 2), (T(il, "data_size"), "<Q", 24))
    iq, wq = c.tensor_field("input.q")
    P("tensor-quant-count-activation", f"{wq}.quant_count", "an int8 activation without per-tensor quantization",
      (T(iq, "quant_count"), "<I", 0), (T(iq, "quant_offset"), "<Q", 0))
    P("tensor-quant-count-weight", f"{w}.quant_count", "a weight whose quant_count is neither 0 nor dims[0]",
      (T(i, "quant_count"), "<I", 2))
    ix, wx = c.tensor_field("input")
    P("tensor-quant-count-f32", f"{wx}.quant_count", "an f32 tensor with quantization",
      (T(ix, "quant_count"), "<I", 1), (T(ix, "quant_offset"), "<Q", at.tensor_quant(iq)))
    P("tensor-quant-axis", f"{w}.quant_axis", "quant_axis != 0", (T(i, "quant_axis"), "<I", 1))
    P("tensor-quant-offset-unaligned", f"{w}.quant_offset", "a quantization block not 64-aligned",
      (T(i, "quant_offset"), "<Q", at.tensor_quant(i) + 8))
    P("tensor-quant-offset-without", f"{wx}.quant_offset", "a quant_offset without quantization",
      (T(ix, "quant_offset"), "<Q", at.tensor_quant(iq)))
    P("tensor-scale-infinite", f"{w}.scales[1]", "a non-finite scale", (at.tensor_quant(i) + 4, "<f", float("inf")))
    P("tensor-scale-zero", f"{wq}.scales[0]", "a scale that is not > 0", (at.tensor_quant(iq), "<f", 0.0))
    P("tensor-scale-nan", f"{wb}.scales[2]", "a NaN scale of a bias", (at.tensor_quant(ib) + 8, "<I", 0x7FC00000))
    P("tensor-zero-point-range", f"{wq}.zero_points[0]", "an activation zero point outside [-128, 127]",
      (at.tensor_quant(iq) + 4, "<i", 128))
    P("tensor-zero-point-weight", f"{w}.zero_points[2]", "a nonzero zero point of a weight",
      (at.tensor_quant(i) + 12 + 8, "<i", 1))
    P("tensor-weight-minus-128", f"{w}.data", "an int8 weight of -128", (at.tensor_data(i) + 5, "b", -128))

    # ---- input
    I = at.input
    P("input-channels", "input.channels", "channels not 1 or 3", (I("channels"), "<I", 2))
    P("input-height-zero", "input.height", "height 0", (I("height"), "<I", 0))
    P("input-width-large", "input.width", "width > 16384", (I("width"), "<I", 16385))
    P("input-resize", "input.resize", "resize not 1", (I("resize"), "<I", 0))
    P("input-mean-nan", "input.mean[0]", "a mean that is not finite", (I("mean"), "<I", 0x7FC00000))
    P("input-mean-unused", "input.mean[1]", "a mean slot beyond the channels that is not 0 (channels 1 in an RGB model)",
      (I("channels"), "<I", 1))
    P("input-std-zero", "input.std[0]", "a std that is not > 0", (I("std"), "<f", 0.0))
    P("input-std-unused", "input.std[1]", "a std slot beyond the channels that is not 1 (channels 1, unused means 0)",
      (I("channels"), "<I", 1), (I("mean") + 4, "<2f", 0.0, 0.0))
    P("input-tensor-range", "input.input_tensor", "input tensor index out of range", (I("input_tensor"), "<I", 1000))
    P("input-tensor-int8", "input.input_tensor", "an input tensor that is not f32", (I("input_tensor"), "<I", iq))
    P("input-tensor-shape", "input.input_tensor", "an input tensor whose shape is not [1, height, width, channels]",
      (I("height"), "<I", 5))
    P("output-tensor-constant", "input.output_tensor", "an output tensor that is not an activation",
      (I("output_tensor"), "<I", ti["fc.out_scale"]))
    P("output-tensor-shape", "input.output_tensor", "an output tensor that is not [1, classes]", (I("output_tensor"), "<I", ix))
    P("input-output-kind", "input.output_kind", "an unknown output_kind", (I("output_kind"), "<I", 2))
    P("input-reserved", "input.reserved", "a nonzero reserved byte of INPUT", (I("reserved") + 11, "B", 1))
    M("labels-count", "labels.count", "label count != the output's classes", lambda m: m.labels.pop())

    # ---- ops: records and the table
    def W(i):
        return f"op[{i}] {ops.OP_NAMES[c.model.ops[i].kind]}"

    def attr(i, name, value, fmt="<i"):
        return (at.op_attr(i, name) + 4, fmt, value)

    so = e(SEC_OPS)
    P("ops-size", "section[4].size", "an OPS size smaller than the sum of its records' sizes (the last runs past it)",
      (so + 16, "<Q", sec[SEC_OPS][2] - 4))
    P("ops-size-extra", "section[4].size", "an OPS size larger than the sum of its records' sizes",
      (so + 16, "<Q", sec[SEC_OPS][2] + 8))
    P("op-kind", f"op[{RELU}].kind", "an unknown op kind", (at.op(RELU), "<I", 99))
    P("op-input-count-zero", f"{W(QUANT)}.input_count", "input_count 0", (at.op(QUANT) + 8, "<I", 0))
    P("op-input-count-large", f"{W(CAT)}.input_count", "input_count > 256", (at.op(CAT) + 8, "<I", 257))
    P("op-attr-count", f"{W(CONV)}.attr_count", "attr_count != the number of attributes of ops.toml",
      (at.op(CONV) + 12, "<I", 15))
    P("op-attr-id", f"{W(CONV)}.attrs[10].id", "an attribute id that is not ops.toml's (groups' slot holds ceil_mode)",
      (at.op_attr(CONV, "groups"), "<I", ops.ATTR_CEIL_MODE))
    P("op-attr-order", f"{W(CONV)}.attrs[0].id", "attributes out of order (kernel_w before kernel_h)",
      (at.op_attr(CONV, "kernel_h"), "<I", ops.ATTR_KERNEL_W), (at.op_attr(CONV, "kernel_w"), "<I", ops.ATTR_KERNEL_H))
    P("op-input-range", f"{W(ADD)}.inputs[1]", "an input tensor index out of range", (at.op_input(ADD, 1), "<I", 5000))
    P("op-output-range", f"{W(ADD)}.output", "an output tensor index out of range", (at.op(ADD) + 4, "<I", 5000))
    P("op-output-constant", f"{W(QUANT)}.output", "an op writing a constant", (at.op(QUANT) + 4, "<I", ti["conv1.w"]))
    P("op-signature", f"{W(CONV)}.signature", "no matching signature (an f32 input to an int8 conv)",
      (at.op_input(CONV, 0), "<I", ix))
    P("op-signature-concat", f"{W(CAT)}.signature", "a variadic CONCAT with an f32 input among int8 ones",
      (at.op_input(CAT, 1), "<I", ix))
    P("op-attr-not-neutral-f32", f"{W(CONV)}.attrs.clip_min",
      "a non-applying f32 attribute (of an int8 output) that is not neutral", attr(CONV, "clip_min", 0.0, "<f"))
    P("op-attr-not-neutral-i32", f"{W(FC)}.attrs.out_min",
      "a non-applying i32 attribute (of an f32 output) that is not neutral", attr(FC, "out_min", -100))
    P("op-attr-nan", f"{W(CONV)}.attrs.alpha", "a NaN f32 attribute", attr(CONV, "alpha", 0x7FC00000, "<I"))
    P("op-attr-infinite", f"{W(FC)}.attrs.alpha", "an infinite f32 attribute that is not a neutral infinity",
      attr(FC, "alpha", float("inf"), "<f"))
    P("op-attr-wrong-infinity", f"{W(FC)}.attrs.clip_max", "clip_max = -inf (only +inf is its neutral infinity)",
      attr(FC, "clip_max", float("-inf"), "<f"))
    P("op-clip-order", f"{W(FC)}.attrs.clip_min", "clip_min > clip_max",
      attr(FC, "clip_min", 1.0, "<f"), attr(FC, "clip_max", 0.0, "<f"))
    P("op-out-min-max", f"{W(CONV)}.attrs.out_min", "out_min > out_max", attr(CONV, "out_min", 100), attr(CONV, "out_max", 50))
    P("op-out-max-range", f"{W(CONV)}.attrs.out_max", "out_max outside [-128, 127]", attr(CONV, "out_max", 200))

    # ---- ops: shape rules
    P("conv-stride-zero", f"{W(CONV)}.attrs.stride_h", "a stride < 1", attr(CONV, "stride_h", 0))
    P("conv-dilation-zero", f"{W(CONV)}.attrs.dilation_w", "a dilation < 1", attr(CONV, "dilation_w", 0))
    P("conv-kernel-mismatch", f"{W(CONV)}.w", "kernel_h that disagrees with the weight's dims", attr(CONV, "kernel_h", 2))
    P("conv-pad-large", f"{W(CONV)}.attrs.pad_top", "a CONV2D pad > 1024", attr(CONV, "pad_top", 1025))
    P("conv-pad-negative", f"{W(CONV)}.attrs.pad_left", "a negative pad", attr(CONV, "pad_left", -1))
    P("conv-groups-zero", f"{W(CONV)}.attrs.groups", "groups < 1", attr(CONV, "groups", 0))
    P("conv-groups-divide", f"{W(CONV)}.attrs.groups", "groups that does not divide the channels", attr(CONV, "groups", 2))
    P("conv-groups-weight", f"{W(CONV)}.w", "a weight whose last dim is not IC / groups (groups 1)", attr(CONV, "groups", 1))
    P("conv-output-shape", f"{W(CONV)}.output", "an output shape that disagrees with the window geometry (stride 2)",
      attr(CONV, "stride_h", 2))
    P("conv-dilated-kernel", f"{W(CONV)}.attrs.kernel_h", "a dilated kernel larger than the padded input",
      attr(CONV, "dilation_h", 3))
    ir = ti["conv1.requant"]
    rq = at.tensor_data(ir)
    P("conv-requant-shift-large", f"{W(CONV)}.requant.shift", "a shift > 62", (rq + 4 * (2 * 4 + 1), "<i", 63))
    P("conv-requant-m", f"{W(CONV)}.requant.m", "m = -2^31", (rq + 4 * (1 * 4 + 2), "<i", -2**31))
    P("conv-requant-shape", f"{W(CONV)}.requant", "a requant table of the wrong shape", (T(ir, "dims"), "<2I", 6, 2))
    P("conv-overflow", f"{W(CONV)}.w", "a possible int32 overflow (K * 255 * 127 + max|b| > 2^31 - 1)",
      (at.tensor_data(ib), "<i", 2**31 - 1))
    M("conv-weight-per-tensor", f"{W(CONV)}.w", "an int8 conv weight without per-channel quantization",
      lambda m: setattr(m.tensors[i], "scales", None))
    M("conv-requant-quantized", f"{W(CONV)}.requant", "a requant table with quantization",
      lambda m: (setattr(m.tensors[ir], "scales", np.ones(3, F32)), setattr(m.tensors[ir], "zero_points", np.zeros(3, np.int32))))
    P("activation-function", f"{W(RELU)}.attrs.function", "an unknown activation function", attr(RELU, "function", 9))
    P("activation-unused-alpha", f"{W(RELU)}.attrs.alpha", "a RELU with a nonzero alpha (unused parameters are 0)",
      attr(RELU, "alpha", 0.5, "<f"))
    it = ti["relu1.table"]
    P("activation-table-shape", f"{W(RELU)}.table", "a LUT table that is not [256]",
      (T(it, "dims"), "<I", 128), (T(it, "data_size"), "<Q", 128))
    ia = ti["add1.requant"]
    P("add-requant-shift-zero", f"{W(ADD)}.requant.shift", "a shift < 1", (at.tensor_data(ia) + 8, "<i", 0))
    ict = ti["cat.requant"]
    P("concat-requant-shape", f"{W(CAT)}.requant", "a variadic CONCAT whose requant table has the wrong number of rows",
      (T(ict, "dims"), "<2I", 1, 4))
    P("concat-requant-shift", f"{W(CAT)}.requant.shift", "a variadic CONCAT with a shift > 62 in its second row",
      (at.tensor_data(ict) + 12, "<i", 70))
    P("concat-output-shape", f"{W(CAT)}.output", "a CONCAT output whose channels are not the sum of its inputs'",
      (T(ti["cat"], "dims") + 12, "<I", 5), (T(ti["cat"], "data_size"), "<Q", 80))
    P("maxpool-kernel-zero", f"{W(POOL)}.attrs.kernel_w", "a kernel < 1", attr(POOL, "kernel_w", 0))
    P("maxpool-pad-kernel", f"{W(POOL)}.attrs.pad_bottom", "a pool pad not smaller than the kernel", attr(POOL, "pad_bottom", 2))
    P("maxpool-ceil-mode", f"{W(POOL)}.attrs.ceil_mode", "ceil_mode not 0 or 1", attr(POOL, "ceil_mode", 2))
    P("maxpool-geometry", f"{W(POOL)}.output", "kernel 3 without ceil_mode gives 1x1, not the 2x2 output (ceil_mode would)",
      attr(POOL, "kernel_h", 3), attr(POOL, "kernel_w", 3))
    P("maxpool-quantization", f"{W(POOL)}.output", "a MAXPOOL2D output that does not share the input's zero point",
      (at.tensor_quant(ti["pool"]) + 4, "<i", -9))
    P("mean-requant-m", f"{W(MEAN)}.requant.m", "m = -2^31", (at.tensor_data(ti["mean.requant"]), "<i", -2**31))
    P("mean-output-shape", f"{W(MEAN)}.output", "a MEAN output that is not [1, 1, 1, C]",
      (T(ti["mean"], "dims"), "<4I", 1, 1, 1, 3), (T(ti["mean"], "data_size"), "<Q", 3))
    ifw = ti["fc.w"]
    P("dense-weight-shape", f"{W(FC)}.w", "a DENSE weight whose columns are not the input's elements",
      (T(ifw, "rank"), "B", 3), (T(ifw, "dims"), "<3I", 3, 2, 3))
    io = ti["fc.out_scale"]
    P("dense-out-scale-zero", f"{W(FC)}.out_scale", "an out_scale that is not > 0", (at.tensor_data(io) + 4, "<f", 0.0))
    P("dense-out-scale-infinite", f"{W(FC)}.out_scale", "a non-finite out_scale", (at.tensor_data(io), "<f", float("inf")))

    # ---- the graph
    P("graph-written-twice", f"{W(RELU)}.output", "an activation written by two ops", (at.op(RELU) + 4, "<I", ic))
    P("graph-writes-input", f"{W(FC)}.output", "an op writing the graph input", (at.op(FC) + 4, "<I", ix))
    P("graph-own-output", f"{W(ADD)}.inputs[1]", "an op reading its own output", (at.op_input(ADD, 1), "<I", ti["add1"]))
    P("graph-read-before-write", f"{W(CONV)}.inputs[0]", "an op reading an activation a later op writes",
      (at.op_input(CONV, 0), "<I", ti["relu1"]))
    P("graph-unread", f"tensor[{ti['add1']}] 'add1'", "an activation no op reads that is not the graph output",
      (at.op_input(CAT, 0), "<I", ti["relu1"]))

    def orphan_output(m):
        m.tensors.append(Tensor("orphan", DT_FLOAT32, ROLE_ACTIVATION, (1, 3)))
        m.input.output_tensor = len(m.tensors) - 1
        m.arena_size, m.plan = plan_arena(m.tensors, m.ops, m.input.input_tensor, m.input.output_tensor)
    M("graph-output-unwritten", "input.output_tensor", "a graph output written by no op", orphan_output)

    def spare(m):
        m.tensors.append(Tensor("spare", DT_FLOAT32, ROLE_ACTIVATION, (1, 3)))
        m.arena_size, m.plan = plan_arena(m.tensors, m.ops, m.input.input_tensor, m.input.output_tensor)
    M("graph-spare-activation", f"tensor[{len(c.model.tensors)}] 'spare'", "an activation no op writes or reads", spare)

    # ---- plan entries
    acts = sorted(c.model.plan)
    pe = at.plan

    def entry(j):
        return struct.unpack_from("<IIQ", base, pe(j))
    P("plan-order", "plan[2].tensor", "plan entries out of tensor order", (pe(1), "<IIQ", *entry(2)), (pe(2), "<IIQ", *entry(1)))
    P("plan-duplicate", "plan[2].tensor", "a duplicated plan entry", (pe(2), "<IIQ", *entry(1)))
    P("plan-constant", "plan[1].tensor", "a plan entry for a constant", (pe(1), "<I", ti["conv1.w"]))
    P("plan-entry-reserved", "plan[3].reserved", "a nonzero reserved field of a plan entry", (pe(3) + 4, "<I", 1))
    P("plan-unaligned", "plan[3].offset", "an activation offset that is not 64-aligned", (pe(3) + 8, "<Q", entry(3)[2] + 8))
    P("plan-outside-arena", "plan[3].offset", "an activation ending beyond arena_size", (pe(3) + 8, "<Q", c.model.arena_size))
    M("plan-missing", "plan.count", "an activation without a plan entry", lambda m: m.plan.pop(ti["add1"]))
    # add1 (written by op 4) over relu1 (read by op 4): both live at op 4
    j_add = acts.index(ti["add1"])
    P("plan-overlap", f"plan[{j_add}].offset", "two activations live at the same time sharing bytes",
      (pe(j_add) + 8, "<Q", c.model.plan[ti["relu1"]]))

    # ---- confidence (2.1): the base model with a CONFIDENCE section (section[7], before DATA)
    def confident(t, p):
        return lambda m: setattr(m, "confidence", Confidence(t, p))
    M("confidence-temperature-zero", "confidence.temperature", "a temperature of 0", confident(0.0, 0.5))
    M("confidence-temperature-nan", "confidence.temperature", "a temperature that is NaN", confident(float("nan"), 0.5))
    M("confidence-min-one", "confidence.min_confidence", "min_confidence 1 (never confident)", confident(1.5, 1.0))
    M("confidence-min-negative", "confidence.min_confidence", "a negative min_confidence", confident(1.5, -0.25))
    m = copy.deepcopy(c.model)
    m.confidence = Confidence(1.5, 0.5)
    good = serialize(m)
    entry7 = HEADER_SIZE + 7 * SECTION_ENTRY_SIZE
    kind7, _, off7, _, _ = struct.unpack_from(SECTION_FMT, good, entry7)
    assert kind7 == SEC_CONFIDENCE

    def C(name, field, rule, *edits):
        buf = bytearray(good)
        for off, fmt, *vals in edits:
            struct.pack_into(fmt, buf, off, *vals)
        c.add(name, field, rule, seal(buf))
    C("confidence-reserved", "confidence.reserved", "a nonzero reserved byte of CONFIDENCE", (off7 + 12, "<B", 1))
    C("confidence-count", "section[7].count", "a CONFIDENCE count of 2", (entry7 + 24, "<Q", 2))
    C("confidence-size", "section[7].size", "a CONFIDENCE section of 32 bytes", (entry7 + 16, "<Q", 32))

    # ---- reject (2.2): CONFIDENCE (section[7]) and REJECT (section[8]) before DATA
    m = copy.deepcopy(c.model)
    m.confidence = Confidence(1.5, 0.5, 0)
    good = serialize(m)
    entry8 = HEADER_SIZE + 8 * SECTION_ENTRY_SIZE
    kind8, _, off8, _, _ = struct.unpack_from(SECTION_FMT, good, entry8)
    assert kind8 == SEC_REJECT
    classes = len(m.labels)
    C("reject-class-outside", "reject.class", "a reject class that is not a class", (off8, "<I", classes))
    C("reject-reserved", "reject.reserved", "a nonzero reserved byte of REJECT", (off8 + 9, "<B", 1))
    C("reject-count", "section[8].count", "a REJECT count of 0", (entry8 + 24, "<Q", 0))
    C("reject-without-confidence", "section[8].kind", "a REJECT section without CONFIDENCE",
      (entry7, "<I", 1000))  # CONFIDENCE becomes an unknown kind, which readers skip
    return c.files


def write_corpus(out_dir) -> list:
    """Writes every corpus file and index.tsv into out_dir (files of an older corpus that are no
    longer in it are removed, so the folder is exactly the corpus)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = corpus()
    names = {f[0] for f in files}
    for old in out.glob("*.rtg"):
        if old.name not in names:
            old.unlink()
    for name, _, _, data in files:
        (out / name).write_bytes(data)
    (out / "index.tsv").write_text(index_text(files))
    return files


def index_text(files) -> str:
    return INDEX_HEADER + "".join(f"{name}\t{field}\t{rule}\n" for name, field, rule, _ in files)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m roentgen_tools.fileformat.badfiles OUT_DIR", file=sys.stderr)
        return 2
    files = write_corpus(argv[0])
    print(f"wrote {len(files)} bad files and index.tsv to {argv[0]} ({sum(len(f[3]) for f in files)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
