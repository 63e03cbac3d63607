"""The writer of SPEC.md format 2.0: a Model in memory -> the bytes of a .rtg file.

`serialize` only encodes (it checks what it needs to encode: op kinds, attributes, data sizes);
`write_model` also reads the bytes back through the reader, so a file we write always loads.
"""
from __future__ import annotations

import os
import struct
import tempfile

import numpy as np

from . import ops
from .reader import read_bytes
from .model import (CONFIDENCE_FMT, CONFIDENCE_RECORD, SEC_CONFIDENCE, REJECT_FMT, REJECT_RECORD, SEC_REJECT, DTYPE_NUMPY, HEADER_FMT, HEADER_SIZE, INPUT_FMT, INPUT_RECORD, LABEL_FMT,
                    LABEL_RECORD, MAGIC, OP_ATTR, OP_HEADER, OP_HEADER_FMT, OP_INPUT, PLAN_FMT, PLAN_PREFIX,
                    PLAN_PREFIX_FMT, PLAN_RECORD, PROVENANCE_FMT, PROVENANCE_RECORD, ROLE_CONSTANT, SEC_DATA,
                    SEC_INPUT, SEC_LABELS, SEC_OPS, SEC_PLAN, SEC_PROVENANCE, SEC_STRINGS, SEC_TENSORS,
                    SECTION_ENTRY_SIZE, SECTION_FMT, SHA_END, SHA_OFFSET, TENSOR_FMT, TENSOR_RECORD,
                    VERSION_MAJOR, VERSION_MINOR, FormatError, Model, Op, align, attr_applies, checksum,
                    f32_bits, op_where)


class _Strings:
    """Deduplicating string pool for the STRINGS section."""

    def __init__(self):
        self.blob = bytearray()
        self.index = {}

    def add(self, s: str) -> tuple:
        if s not in self.index:
            b = s.encode("utf-8")
            self.index[s] = (len(self.blob), len(b))
            self.blob += b
        return self.index[s]


def attr_words(i: int, op: Op, out_dtype: int) -> list:
    """The (id, u32 value) pairs of op i in ops.toml order. Attributes that do not apply to the
    output dtype may be omitted (they get their neutral value); applying ones may not."""
    opdef = ops.OPS.get(op.kind)
    if opdef is None:
        raise FormatError(f"op[{i}].kind: {op.kind} is not an op of ops.toml")
    where = op_where(i, op.kind)
    known = {a.name for a in opdef.attrs}
    for name in op.attrs:
        if name not in known:
            raise FormatError(f"{where}.attrs.{name}: {opdef.name} has no attribute {name!r}")
    words = []
    for a in opdef.attrs:
        if a.name in op.attrs:
            v = op.attrs[a.name]
        elif not attr_applies(a, out_dtype):
            v = a.neutral
        else:
            raise FormatError(f"{where}.attrs.{a.name}: missing (it applies to this op)")
        if a.type == "i32":
            if isinstance(v, (bool, float, np.floating)) or not isinstance(v, (int, np.integer)):
                raise FormatError(f"{where}.attrs.{a.name}: {v!r} is not an integer")
            if not -2**31 <= int(v) < 2**31:
                raise FormatError(f"{where}.attrs.{a.name}: {v} does not fit i32")
            words.append((a.id, int(v) & 0xFFFFFFFF))
        else:
            try:
                words.append((a.id, f32_bits(float(v))))
            except (OverflowError, TypeError, ValueError):
                raise FormatError(f"{where}.attrs.{a.name}: {v!r} is not an f32") from None
    return words


def _op_record(i: int, op: Op, tensors) -> bytes:
    out_dtype = tensors[op.output].dtype if 0 <= op.output < len(tensors) else 0
    words = attr_words(i, op, out_dtype)
    rec = struct.pack(OP_HEADER_FMT, op.kind, op.output, len(op.inputs), len(words))
    rec += struct.pack(f"<{len(op.inputs)}I", *op.inputs)
    rec += b"".join(struct.pack("<II", k, v) for k, v in words)
    assert len(rec) == OP_HEADER + OP_INPUT * len(op.inputs) + OP_ATTR * len(words)
    return rec


def serialize(model: Model) -> bytes:
    """Builds the whole file in memory: sections in kind order (CONFIDENCE, when the model has one,
    before DATA), each 64-aligned, then DATA with every constant's data and every quantization
    block, 64-aligned; the header and checksum last."""
    strings = _Strings()
    label_refs = [strings.add(lbl) for lbl in model.labels]
    name_refs = [strings.add(t.name) for t in model.tensors]
    prov_refs = [(strings.add(k), strings.add(v)) for k, v in model.provenance]
    op_records = [_op_record(i, op, model.tensors) for i, op in enumerate(model.ops)]
    ops_blob = b"".join(op_records)

    n_t, n_o, n_l, n_p = len(model.tensors), len(model.ops), len(model.labels), len(model.provenance)
    sizes = {
        SEC_STRINGS: len(strings.blob),
        SEC_INPUT: INPUT_RECORD,
        SEC_LABELS: n_l * LABEL_RECORD,
        SEC_TENSORS: n_t * TENSOR_RECORD,
        SEC_OPS: len(ops_blob),
        SEC_PLAN: PLAN_PREFIX + len(model.plan) * PLAN_RECORD,
        SEC_PROVENANCE: n_p * PROVENANCE_RECORD,
        SEC_CONFIDENCE: CONFIDENCE_RECORD,
        SEC_REJECT: REJECT_RECORD,
    }
    counts = {SEC_STRINGS: len(strings.blob), SEC_INPUT: 1, SEC_LABELS: n_l, SEC_TENSORS: n_t,
              SEC_OPS: n_o, SEC_PLAN: len(model.plan), SEC_PROVENANCE: n_p, SEC_CONFIDENCE: 1, SEC_REJECT: 1, SEC_DATA: 0}
    c = model.confidence
    kinds = (list(range(SEC_STRINGS, SEC_DATA)) + ([SEC_CONFIDENCE] if c else [])
             + ([SEC_REJECT] if c and c.reject_class is not None else []) + [SEC_DATA])
    offsets = {}
    pos = align(HEADER_SIZE + len(kinds) * SECTION_ENTRY_SIZE)
    for kind in kinds[:-1]:
        offsets[kind] = pos
        pos = align(pos + sizes[kind])
    data_start = pos
    offsets[SEC_DATA] = data_start

    # DATA: per tensor, its constant data then its quantization block, each 64-aligned.
    data_blocks = []  # (absolute offset, bytes)
    t_data_off, t_quant_off = [], []
    for i, t in enumerate(model.tensors):
        d_off = 0
        if t.role == ROLE_CONSTANT:
            if t.data is None:
                raise FormatError(f"tensor[{i}] '{t.name}'.data: a constant without data")
            raw = np.ascontiguousarray(t.data, dtype=DTYPE_NUMPY[t.dtype]).tobytes()
            if len(raw) != t.nbytes:
                raise FormatError(f"tensor[{i}] '{t.name}'.data_size: data has {len(raw)} bytes, "
                                  f"dims {tuple(t.dims)} say {t.nbytes}")
            d_off = align(pos)
            data_blocks.append((d_off, raw))
            pos = d_off + len(raw)
        q_off = 0
        if t.quant_count:
            q = (np.asarray(t.scales, dtype="<f4").tobytes()
                 + np.asarray(t.zero_points, dtype="<i4").tobytes())
            q_off = align(pos)
            data_blocks.append((q_off, q))
            pos = q_off + len(q)
        t_data_off.append(d_off)
        t_quant_off.append(q_off)
    file_size = pos
    sizes[SEC_DATA] = file_size - data_start

    buf = bytearray(file_size)
    s_base = offsets[SEC_STRINGS]
    buf[s_base:s_base + len(strings.blob)] = strings.blob

    def sref(ref):
        return (s_base + ref[0], ref[1])

    for i, kind in enumerate(kinds):
        struct.pack_into(SECTION_FMT, buf, HEADER_SIZE + i * SECTION_ENTRY_SIZE,
                         kind, 0, offsets[kind], sizes[kind], counts[kind])
    sp = model.input
    mean = list(sp.mean) + [0.0] * (3 - len(sp.mean))
    std = list(sp.std) + [1.0] * (3 - len(sp.std))
    struct.pack_into(INPUT_FMT, buf, offsets[SEC_INPUT], sp.channels, sp.height, sp.width, sp.resize,
                     *mean[:3], *std[:3], sp.input_tensor, sp.output_tensor, sp.output_kind, bytes(12))
    for i, ref in enumerate(label_refs):
        struct.pack_into(LABEL_FMT, buf, offsets[SEC_LABELS] + i * LABEL_RECORD, *sref(ref))
    for i, t in enumerate(model.tensors):
        dims = [int(d) for d in t.dims] + [0] * (4 - len(t.dims))
        struct.pack_into(TENSOR_FMT, buf, offsets[SEC_TENSORS] + i * TENSOR_RECORD,
                         *sref(name_refs[i]), t.dtype, t.role, len(t.dims), 0, 0, *dims,
                         t_data_off[i], t.nbytes, t.quant_count,
                         t.quant_axis if t.quant_count > 1 else 0, t_quant_off[i])
    buf[offsets[SEC_OPS]:offsets[SEC_OPS] + len(ops_blob)] = ops_blob
    p = offsets[SEC_PLAN]
    struct.pack_into(PLAN_PREFIX_FMT, buf, p, model.arena_size, 0)
    for j, ti in enumerate(sorted(model.plan)):  # entries in increasing tensor order
        struct.pack_into(PLAN_FMT, buf, p + PLAN_PREFIX + j * PLAN_RECORD, ti, 0, model.plan[ti])
    for i, (kr, vr) in enumerate(prov_refs):
        struct.pack_into(PROVENANCE_FMT, buf, offsets[SEC_PROVENANCE] + i * PROVENANCE_RECORD,
                         *sref(kr), *sref(vr))
    if c:
        struct.pack_into(CONFIDENCE_FMT, buf, offsets[SEC_CONFIDENCE], c.temperature, c.min_confidence, bytes(8))
        if c.reject_class is not None:
            struct.pack_into(REJECT_FMT, buf, offsets[SEC_REJECT], c.reject_class, bytes(12))
    for off, raw in data_blocks:
        buf[off:off + len(raw)] = raw
    struct.pack_into(HEADER_FMT, buf, 0, MAGIC, VERSION_MAJOR, VERSION_MINOR, HEADER_SIZE, file_size,
                     len(kinds), 0, HEADER_SIZE, bytes(32), bytes(56))
    buf[SHA_OFFSET:SHA_END] = checksum(buf)
    return bytes(buf)


def write_atomic(path, data: bytes) -> None:
    """Temp file in the destination folder, then os.replace: a reader never sees half a file and a
    failed conversion leaves nothing behind."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".rtg", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_model(model: Model, path) -> bytes:
    """serialize, read back (never write a file our own reader would reject), write atomically."""
    data = serialize(model)
    read_bytes(data)
    write_atomic(path, data)
    return data
