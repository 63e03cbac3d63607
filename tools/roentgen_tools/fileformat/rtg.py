"""The .rtg file format of SPEC.md version 1.0: in-memory model, writer and validating reader.

Field order in every struct below is the order of the SPEC.md tables; keep them identical.
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
import tempfile
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"ROENTGEN"
VERSION_MAJOR = 1
VERSION_MINOR = 0
HEADER_SIZE = 128
SECTION_ENTRY_SIZE = 32
MAX_SECTIONS = 64
ALIGN = 64
NONE = 0xFFFFFFFF
# The checksum covers [0, 40) and [72, end): everything but the 32 digest bytes.
SHA_OFFSET = 40
SHA_END = 72

# Section kinds, in the order the writer emits them.
SEC_STRINGS, SEC_INPUT, SEC_LABELS, SEC_TENSORS, SEC_OPS, SEC_PLAN, SEC_PROVENANCE, SEC_DATA = range(1, 9)
SECTION_NAMES = {1: "STRINGS", 2: "INPUT", 3: "LABELS", 4: "TENSORS", 5: "OPS", 6: "PLAN",
                 7: "PROVENANCE", 8: "DATA"}
INPUT_RECORD = 64
LABEL_RECORD = 8
TENSOR_RECORD = 64
OP_RECORD = 64
PLAN_PREFIX = 16
PLAN_RECORD = 16
PROVENANCE_RECORD = 16

DT_INT8, DT_INT32, DT_FLOAT32 = 1, 2, 3
DTYPE_NUMPY = {DT_INT8: np.dtype("<i1"), DT_INT32: np.dtype("<i4"), DT_FLOAT32: np.dtype("<f4")}
DTYPE_NAMES = {DT_INT8: "int8", DT_INT32: "int32", DT_FLOAT32: "float32"}
ROLE_ACTIVATION, ROLE_CONSTANT = 0, 1

OP_QUANTIZE, OP_DEQUANTIZE, OP_CONV2D, OP_MAXPOOL2D, OP_DENSE = 1, 2, 3, 4, 5
OP_NAMES = {1: "QUANTIZE", 2: "DEQUANTIZE", 3: "CONV2D", 4: "MAXPOOL2D", 5: "DENSE"}
ACT_NONE, ACT_LEAKY = 0, 1
RESIZE_BILINEAR = 1
OUTPUT_LOGITS = 0
OUTPUT_SVM = 1     # the output holds linear-SVM decision values (SPEC "SVM head")

MAX_IMAGE_DIM = 16384
SHIFT_MIN, SHIFT_MAX = 1, 62
M_LIMIT = 2**31 - 1
INT32_MAX = 2**31 - 1

REQUIRED_PROVENANCE = ("precision", "source_sha256", "calibration_digest", "calibration",
                       "converter_version", "created")

# struct layouts (little-endian), field for field as in SPEC.md
HEADER_FMT = "<8sHHIQIIQ32s56s"
SECTION_FMT = "<IIQQQ"
INPUT_FMT = "<IIII3f3fIII12s"
TENSOR_FMT = "<IIBBBBI4IQQIIQ"
OP_FMT = "<IIf4II4I4I"
assert struct.calcsize(HEADER_FMT) == HEADER_SIZE
assert struct.calcsize(SECTION_FMT) == SECTION_ENTRY_SIZE
assert struct.calcsize(INPUT_FMT) == INPUT_RECORD
assert struct.calcsize(TENSOR_FMT) == TENSOR_RECORD
assert struct.calcsize(OP_FMT) == OP_RECORD


class FormatError(ValueError):
    """A .rtg file (or an in-memory model about to be written) violates SPEC.md."""


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass
class Tensor:
    name: str
    dtype: int
    role: int
    dims: tuple
    data: np.ndarray | None = None       # constants only, numpy array of DTYPE_NUMPY[dtype]
    scales: np.ndarray | None = None     # f32 [quant_count] or None
    zero_points: np.ndarray | None = None  # i32 [quant_count] or None
    quant_axis: int = 0

    @property
    def quant_count(self) -> int:
        return 0 if self.scales is None else int(len(self.scales))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.dims, dtype=np.int64)) * DTYPE_NUMPY[self.dtype].itemsize

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])


@dataclass
class Op:
    kind: int
    inputs: tuple            # 4 tensor indices, NONE where unused
    output: int
    activation: int = ACT_NONE
    alpha: float = 0.0
    kernel: tuple = (0, 0)   # (kernel_h, kernel_w)
    stride: tuple = (0, 0)   # (stride_h, stride_w)
    pads: tuple = (0, 0, 0, 0)  # (top, left, bottom, right)


@dataclass
class InputSpec:
    channels: int
    height: int
    width: int
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)
    input_tensor: int = 0
    output_tensor: int = 0
    resize: int = RESIZE_BILINEAR
    output_kind: int = OUTPUT_LOGITS


@dataclass
class Model:
    input: InputSpec
    labels: list
    tensors: list
    ops: list
    arena_size: int = 0
    plan: dict = field(default_factory=dict)  # tensor index -> arena offset
    provenance: list = field(default_factory=list)  # [(key, value)]

    def tensor_index(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(name)

    @property
    def precision(self) -> str:
        return dict(self.provenance).get("precision", "")


# ----------------------------------------------------------------------------------------- writer

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


def serialize(model: Model) -> bytes:
    """Builds the whole file in memory. Offsets inside strings are relative to STRINGS start
    until we know where that section lands, so lay sections out first, then fill in."""
    strings = _Strings()
    label_refs = [strings.add(lbl) for lbl in model.labels]
    name_refs = [strings.add(t.name) for t in model.tensors]
    prov_refs = [(strings.add(k), strings.add(v)) for k, v in model.provenance]

    n_t, n_o, n_l, n_p = len(model.tensors), len(model.ops), len(model.labels), len(model.provenance)
    sizes = {
        SEC_STRINGS: len(strings.blob),
        SEC_INPUT: INPUT_RECORD,
        SEC_LABELS: n_l * LABEL_RECORD,
        SEC_TENSORS: n_t * TENSOR_RECORD,
        SEC_OPS: n_o * OP_RECORD,
        SEC_PLAN: PLAN_PREFIX + len(model.plan) * PLAN_RECORD,
        SEC_PROVENANCE: n_p * PROVENANCE_RECORD,
    }
    counts = {SEC_STRINGS: len(strings.blob), SEC_INPUT: 1, SEC_LABELS: n_l, SEC_TENSORS: n_t,
              SEC_OPS: n_o, SEC_PLAN: len(model.plan), SEC_PROVENANCE: n_p, SEC_DATA: 0}
    offsets = {}
    pos = align(HEADER_SIZE + 8 * SECTION_ENTRY_SIZE)
    for kind in range(SEC_STRINGS, SEC_DATA):
        offsets[kind] = pos
        pos = align(pos + sizes[kind])
    data_start = pos
    offsets[SEC_DATA] = data_start

    # DATA: per tensor, its constant data then its quantization block, each 64-aligned.
    data_blocks = []  # (absolute offset, bytes)
    t_data_off, t_quant_off = [], []
    for t in model.tensors:
        d_off = 0
        if t.role == ROLE_CONSTANT:
            raw = np.ascontiguousarray(t.data, dtype=DTYPE_NUMPY[t.dtype]).tobytes()
            if len(raw) != t.nbytes:
                raise FormatError(f"tensor {t.name!r}: data has {len(raw)} bytes, dims say {t.nbytes}")
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

    # section table
    for i, kind in enumerate(range(SEC_STRINGS, SEC_DATA + 1)):
        struct.pack_into(SECTION_FMT, buf, HEADER_SIZE + i * SECTION_ENTRY_SIZE,
                         kind, 0, offsets[kind], sizes[kind], counts[kind])
    # INPUT
    sp = model.input
    mean = list(sp.mean) + [0.0] * (3 - len(sp.mean))
    std = list(sp.std) + [1.0] * (3 - len(sp.std))
    struct.pack_into(INPUT_FMT, buf, offsets[SEC_INPUT], sp.channels, sp.height, sp.width, sp.resize,
                     *mean[:3], *std[:3], sp.input_tensor, sp.output_tensor, sp.output_kind, bytes(12))
    # LABELS
    for i, ref in enumerate(label_refs):
        struct.pack_into("<II", buf, offsets[SEC_LABELS] + i * LABEL_RECORD, *sref(ref))
    # TENSORS
    for i, t in enumerate(model.tensors):
        dims = list(t.dims) + [0] * (4 - len(t.dims))
        struct.pack_into(TENSOR_FMT, buf, offsets[SEC_TENSORS] + i * TENSOR_RECORD,
                         *sref(name_refs[i]), t.dtype, t.role, len(t.dims), 0, 0, *dims,
                         t_data_off[i], t.nbytes, t.quant_count,
                         t.quant_axis if t.quant_count > 1 else 0, t_quant_off[i])
    # OPS
    for i, op in enumerate(model.ops):
        struct.pack_into(OP_FMT, buf, offsets[SEC_OPS] + i * OP_RECORD, op.kind, op.activation,
                         op.alpha, *op.inputs, op.output, *op.kernel, *op.stride, *op.pads)
    # PLAN, entries in tensor order
    p = offsets[SEC_PLAN]
    struct.pack_into("<QQ", buf, p, model.arena_size, 0)
    for j, ti in enumerate(sorted(model.plan)):
        struct.pack_into("<IIQ", buf, p + PLAN_PREFIX + j * PLAN_RECORD, ti, 0, model.plan[ti])
    # PROVENANCE
    for i, (kr, vr) in enumerate(prov_refs):
        struct.pack_into("<IIII", buf, offsets[SEC_PROVENANCE] + i * PROVENANCE_RECORD, *sref(kr), *sref(vr))
    # DATA
    for off, raw in data_blocks:
        buf[off:off + len(raw)] = raw
    # header last, then the checksum over everything but its own 32 bytes
    struct.pack_into(HEADER_FMT, buf, 0, MAGIC, VERSION_MAJOR, VERSION_MINOR, HEADER_SIZE, file_size,
                     8, 0, HEADER_SIZE, bytes(32), bytes(56))
    buf[SHA_OFFSET:SHA_END] = checksum(buf)
    return bytes(buf)


def checksum(buf) -> bytes:
    h = hashlib.sha256()
    h.update(bytes(buf[:SHA_OFFSET]))
    h.update(bytes(buf[SHA_END:]))
    return h.digest()


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
    data = serialize(model)
    read_bytes(data)  # never write a file our own reader would reject
    write_atomic(path, data)
    return data


# ----------------------------------------------------------------------------------------- reader

def read_model(path) -> Model:
    with open(path, "rb") as f:
        data = f.read()
    return read_bytes(data)


def read_bytes(data: bytes) -> Model:
    """Parses and validates a whole file; raises FormatError naming the offending field."""
    data = bytes(data)
    n = len(data)
    if n < HEADER_SIZE:
        raise FormatError(f"header: file is {n} bytes, shorter than the 128-byte header")
    (magic, vmaj, _vmin, hsize, fsize, nsec, flags, sto, sha, _res) = struct.unpack_from(HEADER_FMT, data, 0)
    if magic != MAGIC:
        raise FormatError(f"header.magic: {magic!r} is not 'ROENTGEN'")
    if vmaj > VERSION_MAJOR:
        raise FormatError(f"header.version_major: {vmaj} is newer than this runtime (1)")
    if vmaj != VERSION_MAJOR:
        raise FormatError(f"header.version_major: {vmaj} is not supported")
    if hsize != HEADER_SIZE:
        raise FormatError(f"header.header_size: {hsize} != 128")
    if fsize != n:
        raise FormatError(f"header.file_size: {fsize} != actual length {n}")
    if checksum(data) != sha:
        raise FormatError("header.sha256: checksum mismatch")
    if flags != 0:
        raise FormatError(f"header.flags: {flags} is not 0")
    if nsec > MAX_SECTIONS:
        raise FormatError(f"header.section_count: {nsec} > {MAX_SECTIONS}")
    table_end = sto + nsec * SECTION_ENTRY_SIZE
    if sto < HEADER_SIZE or table_end > n:
        raise FormatError(f"header.section_table_offset: table [{sto}, {table_end}) outside the file")

    sections = {}
    spans = []
    for i in range(nsec):
        kind, _r, off, size, count = struct.unpack_from(SECTION_FMT, data, sto + i * SECTION_ENTRY_SIZE)
        where = f"section[{i}] ({SECTION_NAMES.get(kind, f'kind {kind}')})"
        if off % ALIGN:
            raise FormatError(f"{where}.offset: {off} is not 64-aligned")
        if off < table_end:
            raise FormatError(f"{where}.offset: {off} overlaps the header or section table")
        if off + size > n:
            raise FormatError(f"{where}: [{off}, {off + size}) outside the file ({n} bytes)")
        for (o2, e2, w2) in spans:
            if off < e2 and o2 < off + size:
                raise FormatError(f"{where}: overlaps {w2}")
        spans.append((off, off + size, where))
        if kind not in SECTION_NAMES:
            continue  # a 1.x reader skips kinds it does not know
        if kind in sections:
            raise FormatError(f"{where}: repeated section kind")
        expected = {SEC_STRINGS: count, SEC_INPUT: INPUT_RECORD * count, SEC_LABELS: LABEL_RECORD * count,
                    SEC_TENSORS: TENSOR_RECORD * count, SEC_OPS: OP_RECORD * count,
                    SEC_PLAN: PLAN_PREFIX + PLAN_RECORD * count,
                    SEC_PROVENANCE: PROVENANCE_RECORD * count, SEC_DATA: size}[kind]
        if size != expected:
            raise FormatError(f"{where}.size: {size} does not match count {count} (expected {expected})")
        if kind == SEC_INPUT and count != 1:
            raise FormatError(f"{where}.count: {count} != 1")
        if kind == SEC_DATA and count != 0:
            raise FormatError(f"{where}.count: {count} != 0")
        sections[kind] = (off, size, count)
    for kind, name in SECTION_NAMES.items():
        if kind not in sections:
            raise FormatError(f"section {name}: missing")

    s_off, s_size, _ = sections[SEC_STRINGS]

    def string(off, length, what):
        if off < s_off or off + length > s_off + s_size:
            raise FormatError(f"{what}: string [{off}, {off + length}) outside STRINGS")
        try:
            return data[off:off + length].decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{what}: string is not valid UTF-8") from None

    d_off, d_size, _ = sections[SEC_DATA]

    def in_data(off, size, what):
        if off % ALIGN:
            raise FormatError(f"{what}: offset {off} is not 64-aligned")
        if off < d_off or off + size > d_off + d_size:
            raise FormatError(f"{what}: [{off}, {off + size}) outside DATA")

    # ---- tensors
    t_off, _, n_t = sections[SEC_TENSORS]
    tensors = []
    names = set()
    for i in range(n_t):
        (no, nl, dtype, role, rank, r0, r1, d0, d1, d2, d3, doff, dsize, qc, qa, qoff) = \
            struct.unpack_from(TENSOR_FMT, data, t_off + i * TENSOR_RECORD)
        name = string(no, nl, f"tensor[{i}].name")
        w = f"tensor[{i}] {name!r}"
        if not name or name in names:
            raise FormatError(f"{w}.name: empty or not unique")
        names.add(name)
        if dtype not in DTYPE_NUMPY:
            raise FormatError(f"{w}.dtype: {dtype} unknown")
        if role not in (ROLE_ACTIVATION, ROLE_CONSTANT):
            raise FormatError(f"{w}.role: {role} unknown")
        if not 1 <= rank <= 4:
            raise FormatError(f"{w}.rank: {rank} not in 1..4")
        if r0 or r1:
            raise FormatError(f"{w}.reserved: not zero")
        alld = (d0, d1, d2, d3)
        dims = alld[:rank]
        if any(d == 0 for d in dims):
            raise FormatError(f"{w}.dims: a dimension is 0")
        if any(d != 0 for d in alld[rank:]):
            raise FormatError(f"{w}.dims: dims beyond rank are not 0")
        count = 1
        for d in dims:
            count *= d
        nbytes = count * DTYPE_NUMPY[dtype].itemsize
        if nbytes >= 2**64:
            raise FormatError(f"{w}.dims: product overflows")
        if dsize != nbytes:
            raise FormatError(f"{w}.data_size: {dsize} != product(dims) * sizeof(dtype) = {nbytes}")
        arr = None
        if role == ROLE_CONSTANT:
            in_data(doff, dsize, f"{w}.data_offset")
            arr = np.frombuffer(data, dtype=DTYPE_NUMPY[dtype], count=count, offset=doff).reshape(dims)
        elif doff != 0:
            raise FormatError(f"{w}.data_offset: activation with nonzero data_offset")
        scales = zps = None
        if qc == 0:
            if qa != 0 or qoff != 0:
                raise FormatError(f"{w}.quant_axis/quant_offset: nonzero without quantization")
        else:
            if qc > 1:
                if qa >= rank or qc != dims[qa]:
                    raise FormatError(f"{w}.quant_count: {qc} != dims[quant_axis={qa}]")
            elif qa != 0:
                raise FormatError(f"{w}.quant_axis: {qa} must be 0 for per-tensor quantization")
            in_data(qoff, qc * 8, f"{w}.quant_offset")
            scales = np.frombuffer(data, dtype="<f4", count=qc, offset=qoff)
            zps = np.frombuffer(data, dtype="<i4", count=qc, offset=qoff + 4 * qc)
            if not np.all(np.isfinite(scales)) or not np.all(scales > 0):
                raise FormatError(f"{w}.scale: not finite and > 0")
            if role == ROLE_ACTIVATION:
                if np.any(zps < -128) or np.any(zps > 127):
                    raise FormatError(f"{w}.zero_point: outside [-128, 127]")
            elif np.any(zps != 0):
                raise FormatError(f"{w}.zero_point: weights and biases must have zero point 0")
        tensors.append(Tensor(name, dtype, role, tuple(int(d) for d in dims), arr, scales, zps, qa))

    # ---- input spec
    (ch, h, wd, resize, m0, m1, m2, s0, s1, s2, in_t, out_t, okind, ires) = \
        struct.unpack_from(INPUT_FMT, data, sections[SEC_INPUT][0])
    if ch not in (1, 3):
        raise FormatError(f"input.channels: {ch} is not 1 or 3")
    if not 1 <= h <= MAX_IMAGE_DIM or not 1 <= wd <= MAX_IMAGE_DIM:
        raise FormatError(f"input.height/width: {h}x{wd} outside 1..{MAX_IMAGE_DIM}")
    if resize != RESIZE_BILINEAR:
        raise FormatError(f"input.resize: {resize} unknown")
    if okind not in (OUTPUT_LOGITS, OUTPUT_SVM):
        raise FormatError(f"input.output_kind: {okind} unknown")
    mean, std = (m0, m1, m2), (s0, s1, s2)
    for c in range(3):
        if c < ch:
            if not math.isfinite(mean[c]):
                raise FormatError(f"input.mean[{c}]: not finite")
            if not (math.isfinite(std[c]) and std[c] > 0):
                raise FormatError(f"input.std[{c}]: not finite and > 0")
        elif mean[c] != 0 or std[c] != 1:
            raise FormatError(f"input.mean/std[{c}]: beyond channels must be 0 / 1")
    for what, ti in (("input.input_tensor", in_t), ("input.output_tensor", out_t)):
        if ti >= n_t:
            raise FormatError(f"{what}: index {ti} out of range")
        if tensors[ti].role != ROLE_ACTIVATION or tensors[ti].dtype != DT_FLOAT32:
            raise FormatError(f"{what}: must be an f32 activation")
    if tensors[in_t].dims != (1, h, wd, ch):
        raise FormatError(f"input.input_tensor: dims {tensors[in_t].dims} != (1, {h}, {wd}, {ch})")
    if len(tensors[out_t].dims) != 2 or tensors[out_t].dims[0] != 1:
        raise FormatError(f"input.output_tensor: dims {tensors[out_t].dims} are not [1, classes]")
    spec = InputSpec(ch, h, wd, mean[:ch], std[:ch], in_t, out_t, resize, okind)

    # ---- labels
    l_off, _, n_l = sections[SEC_LABELS]
    labels = []
    for i in range(n_l):
        lo, ll = struct.unpack_from("<II", data, l_off + i * LABEL_RECORD)
        lbl = string(lo, ll, f"label[{i}]")
        if not lbl or lbl in labels:
            raise FormatError(f"label[{i}]: empty or not unique")
        labels.append(lbl)
    if n_l != tensors[out_t].dims[-1]:
        raise FormatError(f"labels.count: {n_l} != last dimension of the output tensor {tensors[out_t].dims[-1]}")

    # ---- ops
    o_off, _, n_o = sections[SEC_OPS]
    ops = []
    for i in range(n_o):
        (kind, act, alpha, i0, i1, i2, i3, out, kh, kw, sh, sw, pt, pl, pb, pr) = \
            struct.unpack_from(OP_FMT, data, o_off + i * OP_RECORD)
        ops.append(Op(kind, (i0, i1, i2, i3), out, act, alpha, (kh, kw), (sh, sw), (pt, pl, pb, pr)))
    _validate_ops(tensors, ops, in_t, out_t)

    # ---- plan
    p_off, _, n_p = sections[SEC_PLAN]
    arena_size, _pres = struct.unpack_from("<QQ", data, p_off)
    if arena_size % ALIGN:
        raise FormatError(f"plan.arena_size: {arena_size} is not 64-aligned")
    plan = {}
    for j in range(n_p):
        ti, _r, off = struct.unpack_from("<IIQ", data, p_off + PLAN_PREFIX + j * PLAN_RECORD)
        w = f"plan[{j}]"
        if ti >= n_t or tensors[ti].role != ROLE_ACTIVATION:
            raise FormatError(f"{w}.tensor: {ti} is not an activation")
        if ti in plan:
            raise FormatError(f"{w}.tensor: {tensors[ti].name!r} duplicated")
        if off % ALIGN:
            raise FormatError(f"{w}.offset: {off} is not 64-aligned")
        if off + tensors[ti].nbytes > arena_size:
            raise FormatError(f"{w}.offset: {tensors[ti].name!r} ends beyond arena_size {arena_size}")
        plan[ti] = off
    for ti, t in enumerate(tensors):
        if t.role == ROLE_ACTIVATION and ti not in plan:
            raise FormatError(f"plan: activation {t.name!r} has no entry")
    lt = lifetimes(tensors, ops, in_t, out_t)
    acts = sorted(plan)
    for a_i, a in enumerate(acts):
        for b in acts[a_i + 1:]:
            (fa, la), (fb, lb) = lt[a], lt[b]
            if fa <= lb and fb <= la:
                if plan[a] < plan[b] + tensors[b].nbytes and plan[b] < plan[a] + tensors[a].nbytes:
                    raise FormatError(f"plan: live tensors {tensors[a].name!r} and {tensors[b].name!r} overlap")

    # ---- provenance
    v_off, _, n_v = sections[SEC_PROVENANCE]
    prov = []
    for i in range(n_v):
        ko, kl, vo, vl = struct.unpack_from("<IIII", data, v_off + i * PROVENANCE_RECORD)
        prov.append((string(ko, kl, f"provenance[{i}].key"), string(vo, vl, f"provenance[{i}].value")))
    return Model(spec, labels, tensors, ops, arena_size, plan, prov)


def lifetimes(tensors, ops, in_t, out_t) -> dict:
    """SPEC PLAN liveness: from the writing op (graph input: op 0) to the last reading op,
    inclusive; the output tensor lives to the last op."""
    lt = {}
    last = len(ops) - 1
    for oi, op in enumerate(ops):
        lt.setdefault(op.output, [oi, oi])
    lt[in_t] = [0, 0]
    for oi, op in enumerate(ops):
        for ti in op.inputs:
            if ti != NONE and tensors[ti].role == ROLE_ACTIVATION:
                # an im2col scratch is read-only-by-this-op: live for that op only
                lt.setdefault(ti, [oi, oi])
                lt[ti][1] = max(lt[ti][1], oi)
    lt[out_t][1] = max(last, 0)
    return {k: tuple(v) for k, v in lt.items()}


def _validate_ops(tensors, ops, in_t, out_t):
    n_t = len(tensors)
    produced = {in_t}
    writers = {}
    # SPEC ambiguity: the f32 CONV2D im2col scratch (inputs[3]) is an activation that no op
    # outputs. We treat it as exempt from "written by exactly one op", owned by that one op.
    scratches = set()

    def fail(i, op, msg):
        raise FormatError(f"op[{i}] {OP_NAMES.get(op.kind, op.kind)}: {msg}")

    for i, op in enumerate(ops):
        if op.kind not in OP_NAMES:
            raise FormatError(f"op[{i}].kind: {op.kind} unknown")
        for j, ti in enumerate(op.inputs):
            if ti != NONE and ti >= n_t:
                fail(i, op, f"inputs[{j}]: tensor index {ti} out of range")
        if op.output >= n_t:
            fail(i, op, f"output: tensor index {op.output} out of range")
        if op.activation not in (ACT_NONE, ACT_LEAKY):
            fail(i, op, f"activation: {op.activation} unknown")
        if not math.isfinite(op.alpha) or (op.activation == ACT_NONE and op.alpha != 0):
            fail(i, op, f"alpha: {op.alpha} invalid")
        y = tensors[op.output]
        if y.role != ROLE_ACTIVATION:
            fail(i, op, "output: not an activation")
        if op.output in writers or op.output == in_t or op.output in scratches:
            fail(i, op, f"output: {y.name!r} is written twice")
        writers[op.output] = i
        scratch_slot = 3 if (op.kind == OP_CONV2D and op.inputs[0] < n_t
                             and tensors[op.inputs[0]].dtype == DT_FLOAT32) else -1
        for j, ti in enumerate(op.inputs):
            if j == scratch_slot:
                if ti != NONE and (ti in produced or ti in scratches or ti in writers):
                    fail(i, op, f"inputs[3]: im2col scratch {tensors[ti].name!r} is also used elsewhere")
                scratches.add(ti)
                continue
            if ti != NONE and tensors[ti].role == ROLE_ACTIVATION and ti in scratches:
                fail(i, op, f"inputs[{j}]: {tensors[ti].name!r} is an im2col scratch")
            if ti != NONE and tensors[ti].role == ROLE_ACTIVATION and ti not in produced:
                fail(i, op, f"inputs[{j}]: {tensors[ti].name!r} is not produced by an earlier op")

        def need(j, dtype, role, what):
            ti = op.inputs[j]
            if ti == NONE:
                fail(i, op, f"inputs[{j}] ({what}): missing")
            t = tensors[ti]
            if t.dtype != dtype or t.role != role:
                fail(i, op, f"inputs[{j}] ({what}): {t.name!r} has wrong dtype or role")
            return t

        def unused(*js):
            for j in js:
                if op.inputs[j] != NONE:
                    fail(i, op, f"inputs[{j}]: must be None")

        def check_act_q(t, what):
            if t.quant_count != 1:
                fail(i, op, f"{what}: int8 activation {t.name!r} needs per-tensor quantization")

        spatial = op.kind in (OP_CONV2D, OP_MAXPOOL2D)
        if spatial:
            kh, kw = op.kernel
            sh, sw = op.stride
            if min(kh, kw, sh, sw) < 1:
                fail(i, op, "kernel/stride: must be >= 1")
            pt, pl, pb, pr = op.pads
            if pt >= kh or pb >= kh or pl >= kw or pr >= kw:
                fail(i, op, "pads: a pad >= its kernel size")
        elif op.kernel != (0, 0) or op.stride != (0, 0) or op.pads != (0, 0, 0, 0):
            fail(i, op, "kernel/stride/pads: must be 0")
        if op.kind in (OP_QUANTIZE, OP_DEQUANTIZE, OP_MAXPOOL2D) and op.activation != ACT_NONE:
            fail(i, op, "activation: must be none")

        def out_hw(x):
            _, H, W, _ = x.dims
            nh = H + op.pads[0] + op.pads[2] - op.kernel[0]
            nw = W + op.pads[1] + op.pads[3] - op.kernel[1]
            if nh < 0 or nw < 0:
                fail(i, op, "kernel larger than the padded input")
            return nh // op.stride[0] + 1, nw // op.stride[1] + 1

        if op.kind == OP_QUANTIZE:
            x = need(0, DT_FLOAT32, ROLE_ACTIVATION, "x")
            unused(1, 2, 3)
            if y.dtype != DT_INT8 or y.dims != x.dims:
                fail(i, op, "output: must be int8 of the input's shape")
            check_act_q(y, "output")
        elif op.kind == OP_DEQUANTIZE:
            x = need(0, DT_INT8, ROLE_ACTIVATION, "x")
            unused(1, 2, 3)
            check_act_q(x, "x")
            if y.dtype != DT_FLOAT32 or y.dims != x.dims:
                fail(i, op, "output: must be f32 of the input's shape")
        elif op.kind == OP_MAXPOOL2D:
            x = tensors[op.inputs[0]] if op.inputs[0] != NONE else None
            if x is None or x.role != ROLE_ACTIVATION or x.dtype == DT_INT32:
                fail(i, op, "inputs[0]: must be an int8 or f32 activation")
            unused(1, 2, 3)
            if len(x.dims) != 4 or x.dims[0] != 1:
                fail(i, op, "x: must be [1, H, W, C]")
            oh, ow = out_hw(x)
            if y.dims != (1, oh, ow, x.dims[3]) or y.dtype != x.dtype:
                fail(i, op, f"output: dims {y.dims} != {(1, oh, ow, x.dims[3])} or dtype differs")
            if x.dtype == DT_INT8:
                check_act_q(x, "x")
                check_act_q(y, "output")
                if x.scale != y.scale or x.zero_point != y.zero_point:
                    fail(i, op, "output: scale/zero point differ from the input's")
            elif y.quant_count:
                fail(i, op, "output: f32 tensor with quantization")
        elif op.kind in (OP_CONV2D, OP_DENSE):
            x = tensors[op.inputs[0]] if op.inputs[0] != NONE else None
            if x is None or x.role != ROLE_ACTIVATION or x.dtype not in (DT_INT8, DT_FLOAT32):
                fail(i, op, "inputs[0]: must be an int8 or f32 activation")
            is_int8 = x.dtype == DT_INT8
            wdt = DT_INT8 if is_int8 else DT_FLOAT32
            bdt = DT_INT32 if is_int8 else DT_FLOAT32
            w = need(1, wdt, ROLE_CONSTANT, "w")
            b = need(2, bdt, ROLE_CONSTANT, "b")
            if op.kind == OP_CONV2D:
                if len(x.dims) != 4 or x.dims[0] != 1:
                    fail(i, op, "x: must be [1, H, W, IC]")
                if len(w.dims) != 4 or w.dims[1:] != (op.kernel[0], op.kernel[1], x.dims[3]):
                    fail(i, op, f"w: dims {w.dims} != [OC, {op.kernel[0]}, {op.kernel[1]}, {x.dims[3]}]")
                oc = w.dims[0]
                oh, ow = out_hw(x)
                yshape = (1, oh, ow, oc)
                k = op.kernel[0] * op.kernel[1] * x.dims[3]
            else:
                k = int(np.prod(x.dims))
                if len(w.dims) != 2 or w.dims[1] != k:
                    fail(i, op, f"w: dims {w.dims} != [N, {k}]")
                oc = w.dims[0]
                yshape = (1, oc)
            if b.dims != (oc,):
                fail(i, op, f"b: dims {b.dims} != [{oc}]")
            if y.dims != yshape:
                fail(i, op, f"output: dims {y.dims} != {yshape}")
            if is_int8:
                check_act_q(x, "x")
                if w.quant_count != oc or w.quant_axis != 0:
                    fail(i, op, "w: needs per-channel quantization on axis 0")
                if b.quant_count != oc or b.quant_axis != 0:
                    fail(i, op, "b: needs per-channel quantization on axis 0")
                bmax = int(np.max(np.abs(b.data.astype(np.int64))))
                if k * 255 * 127 + bmax > INT32_MAX:
                    fail(i, op, f"possible int32 overflow: K*255*127 + max|b| = {k * 255 * 127 + bmax}")
                if y.dtype == DT_INT8:
                    check_act_q(y, "output")
                    r = need(3, DT_INT32, ROLE_CONSTANT, "requant")
                    if r.dims != (oc, 4):
                        fail(i, op, f"requant: dims {r.dims} != [{oc}, 4]")
                    rq = r.data.astype(np.int64)
                    m, s = rq[:, [0, 2]], rq[:, [1, 3]]
                    if np.any(np.abs(m) > M_LIMIT):
                        fail(i, op, "requant: m outside [-(2^31-1), 2^31-1]")
                    if np.any(s < SHIFT_MIN) or np.any(s > SHIFT_MAX):
                        fail(i, op, "requant: shift outside [1, 62]")
                elif y.dtype == DT_FLOAT32 and op.kind == OP_DENSE:
                    r = need(3, DT_FLOAT32, ROLE_CONSTANT, "out_scale")
                    if r.dims != (oc,):
                        fail(i, op, f"out_scale: dims {r.dims} != [{oc}]")
                else:
                    fail(i, op, "output: wrong dtype")
            else:
                if y.dtype != DT_FLOAT32:
                    fail(i, op, "output: must be f32")
                if op.kind == OP_CONV2D:
                    s = need(3, DT_FLOAT32, ROLE_ACTIVATION, "im2col scratch")
                    want = (yshape[1] * yshape[2], k)
                    if s.dims != want:
                        fail(i, op, f"im2col scratch: dims {s.dims} != {want}")
                else:
                    unused(3)
        produced.add(op.output)
    for ti, t in enumerate(tensors):
        if t.role == ROLE_ACTIVATION and ti != in_t and ti not in writers and ti not in scratches:
            raise FormatError(f"tensor[{ti}] {t.name!r}: activation written by no op")
    if in_t in writers:
        raise FormatError("input.input_tensor: the graph input is written by an op")
