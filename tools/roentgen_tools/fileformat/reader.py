"""The validating reader of SPEC.md format 2.0: bytes -> Model, or FormatError naming the field.

It enforces every rule of SPEC "What a reader must reject", in this order (the Swift reader
follows the same order, so one defect gives the same field in both):
header (SPEC's order), section table, PLAN prefix (arena_size sizes the activations), TENSORS,
INPUT, LABELS, OPS (each op: record, generic table checks, graph, shape rules), the graph as a
whole, PLAN entries and the overlap of live activations, PROVENANCE.
Counts are checked against SPEC "Limits" before anything they size is allocated.
"""
from __future__ import annotations

import bisect
import math
import struct

import numpy as np

from . import ops, shapes
from .model import (DT_FLOAT32, DT_INT8, DT_INT32, DTYPE_TOML, DTYPE_NUMPY, HEADER_FMT, HEADER_SIZE,
                    INPUT_FMT, INPUT_RECORD, LABEL_FMT, LABEL_RECORD, MAGIC, MAX_ACTIVATIONS, MAX_ARENA,
                    MAX_IMAGE_DIM, MAX_LABELS, MAX_OP_INPUTS, MAX_OPS, MAX_PROVENANCE, MAX_SECTIONS,
                    MAX_TENSORS, MIN_SECTIONS, NEUTRAL_INFINITY, OP_ATTR, OP_HEADER, OP_HEADER_FMT, OP_INPUT,
                    OUTPUT_KINDS, PLAN_FMT, PLAN_PREFIX, PLAN_PREFIX_FMT, PLAN_RECORD, PROVENANCE_FMT,
                    PROVENANCE_RECORD, REQUIRED_PROVENANCE, REQUIRED_SECTIONS, SEC_CONFIDENCE, CONFIDENCE_FMT, CONFIDENCE_RECORD, SEC_REJECT, REJECT_FMT, REJECT_RECORD,
                    Confidence, RESIZE_BILINEAR, ROLE_ACTIVATION, ROLE_CONSTANT,
                    SEC_DATA, SEC_INPUT, SEC_LABELS, SEC_OPS, SEC_PLAN, SEC_PROVENANCE, SEC_STRINGS,
                    SEC_TENSORS, SECTION_ENTRY_SIZE, SECTION_FMT, SECTION_NAMES,
                    TENSOR_FMT, TENSOR_RECORD, VERSION_MAJOR, VERSION_MINOR, ALIGN, FormatError, InputSpec,
                    Model, Op, Tensor, attr_applies, bind_inputs, bits_f32, checksum, f32_bits, op_where,
                    signature_of, tensor_where)

# the most records of each section kind (SPEC "Limits"); PLAN has one entry per activation
COUNT_LIMITS = {SEC_LABELS: MAX_LABELS, SEC_TENSORS: MAX_TENSORS, SEC_OPS: MAX_OPS,
                SEC_PLAN: MAX_ACTIVATIONS, SEC_PROVENANCE: MAX_PROVENANCE}


def read_model(path) -> Model:
    with open(path, "rb") as f:
        data = f.read()
    return read_bytes(data)


def read_bytes(data) -> Model:
    """Parses and validates a whole file; raises FormatError whose message starts with the field."""
    return _Reader(bytes(data)).read()


def lifetimes(tensors, ops, input_tensor: int, output_tensor: int) -> dict:
    """SPEC PLAN liveness of every activation: {tensor: (first op, last op)}, inclusive. From the
    op that writes it (the graph input: op 0) to the last op that reads it (the graph output: the
    last op). An activation no op reads lives during the op that writes it."""
    lt = {}
    for oi, op in enumerate(ops):
        lt.setdefault(op.output, [oi, oi])
    lt[input_tensor] = [0, 0]
    for oi, op in enumerate(ops):
        for ti in op.inputs:
            if tensors[ti].role == ROLE_ACTIVATION:
                span = lt.setdefault(ti, [oi, oi])
                span[1] = max(span[1], oi)
    span = lt.setdefault(output_tensor, [0, 0])
    span[1] = max(span[1], len(ops) - 1, 0)
    return {k: tuple(v) for k, v in lt.items()}


def _fail(msg: str):
    raise FormatError(msg)


def _dims(d) -> str:
    return "[" + ", ".join(str(x) for x in d) + "]"


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def read(self) -> Model:
        self.header()
        self.section_table()
        self.plan_prefix()
        self.tensors_section()
        self.input_section()
        self.labels_section()
        self.ops_section()
        self.graph()
        self.plan_entries()
        self.provenance_section()
        self.confidence_section()
        return Model(self.spec, self.labels, self.tensors, self.ops, self.arena_size, self.plan, self.provenance,
                     self.confidence)

    # ------------------------------------------------------------------------------- header
    def header(self):
        data, n = self.data, self.n
        if n < HEADER_SIZE:
            _fail(f"header: the file is {n} bytes, shorter than the 128-byte header")
        (magic, vmaj, vmin, hsize, fsize, nsec, flags, sto, sha, reserved) = struct.unpack_from(HEADER_FMT, data, 0)
        if magic != MAGIC:
            _fail(f"header.magic: {magic!r} is not 'ROENTGEN'")
        if vmaj != VERSION_MAJOR:
            if vmaj == 1:
                _fail(f"header.version_major: format 1.{vmin} is no longer supported: re-convert the model "
                      f"from its source with roentgen-convert 2.x")
            if vmaj > VERSION_MAJOR:
                _fail(f"header.version_major: format {vmaj}.{vmin} is newer than this runtime "
                      f"({VERSION_MAJOR}.{VERSION_MINOR})")
            _fail(f"header.version_major: format {vmaj}.{vmin} is not supported")
        if hsize != HEADER_SIZE:
            _fail(f"header.header_size: {hsize} != 128")
        if fsize != n:
            _fail(f"header.file_size: {fsize} != the actual length {n}")
        if checksum(data) != sha:
            _fail("header.sha256: checksum mismatch (the file is damaged)")
        if flags != 0:
            _fail(f"header.flags: {flags} is not 0")
        if not MIN_SECTIONS <= nsec <= MAX_SECTIONS:
            _fail(f"header.section_count: {nsec} is outside {MIN_SECTIONS}..{MAX_SECTIONS}")
        if sto != HEADER_SIZE:
            _fail(f"header.section_table_offset: {sto} != 128")
        if reserved != bytes(len(reserved)):
            _fail("header.reserved: not zero")
        self.table_end = HEADER_SIZE + nsec * SECTION_ENTRY_SIZE
        if self.table_end > n:
            _fail(f"header.section_count: the table of {nsec} sections [128, {self.table_end}) runs past "
                  f"the end of the file ({n} bytes)")
        self.nsec = nsec

    # ------------------------------------------------------------------------ section table
    def section_table(self):
        self.sections = {}  # kind -> (table index, offset, size, count)
        spans = []
        for i in range(self.nsec):
            kind, res, off, size, count = struct.unpack_from(SECTION_FMT, self.data, HEADER_SIZE + i * SECTION_ENTRY_SIZE)
            w = f"section[{i}]"
            if res:
                _fail(f"{w}.reserved: {res} is not 0")
            if off % ALIGN:
                _fail(f"{w}.offset: {off} is not 64-aligned")
            if off < self.table_end:
                _fail(f"{w}.offset: {off} overlaps the header or the section table (which end at {self.table_end})")
            if off + size > self.n:
                _fail(f"{w}.size: [{off}, {off + size}) is outside the file ({self.n} bytes)")
            for j, (o2, e2) in enumerate(spans):
                if off < e2 and o2 < off + size:
                    _fail(f"{w}.offset: [{off}, {off + size}) overlaps section[{j}] [{o2}, {e2})")
            spans.append((off, off + size))
            name = SECTION_NAMES.get(kind)
            if name is None:
                continue  # a 2.x reader skips kinds it does not know
            if kind in self.sections:
                _fail(f"{w}.kind: a second {name} section (the first is section[{self.sections[kind][0]}])")
            if kind == SEC_INPUT and count != 1:
                _fail(f"{w}.count: INPUT count {count} != 1")
            if kind in (SEC_CONFIDENCE, SEC_REJECT) and count != 1:
                _fail(f"{w}.count: {name} count {count} != 1")
            if kind == SEC_DATA and count != 0:
                _fail(f"{w}.count: DATA count {count} != 0")
            if kind in COUNT_LIMITS and count > COUNT_LIMITS[kind]:
                _fail(f"{w}.count: {count} {name} records, more than the limit {COUNT_LIMITS[kind]}")
            expected = {SEC_STRINGS: count, SEC_INPUT: INPUT_RECORD, SEC_LABELS: LABEL_RECORD * count,
                        SEC_TENSORS: TENSOR_RECORD * count, SEC_PLAN: PLAN_PREFIX + PLAN_RECORD * count,
                        SEC_PROVENANCE: PROVENANCE_RECORD * count, SEC_CONFIDENCE: CONFIDENCE_RECORD,
                        SEC_REJECT: REJECT_RECORD}.get(kind)
            if expected is not None and size != expected:
                _fail(f"{w}.size: {size} does not match its count {count} (a {name} section of {count} is {expected} bytes)")
            self.sections[kind] = (i, off, size, count)
        for kind in REQUIRED_SECTIONS:
            name = SECTION_NAMES[kind]
            if kind not in self.sections:
                _fail(f"section {name}: missing")
        _, self.s_off, self.s_size, _ = self.sections[SEC_STRINGS]
        _, self.d_off, self.d_size, _ = self.sections[SEC_DATA]

    def string(self, off, length, what) -> str:
        if off < self.s_off or off + length > self.s_off + self.s_size:
            _fail(f"{what}: the string [{off}, {off + length}) is outside STRINGS "
                  f"[{self.s_off}, {self.s_off + self.s_size})")
        try:
            return self.data[off:off + length].decode("utf-8")
        except UnicodeDecodeError:
            _fail(f"{what}: the string is not valid UTF-8")

    def in_data(self, off, size, what):
        if off % ALIGN:
            _fail(f"{what}: {off} is not 64-aligned")
        if off < self.d_off or off + size > self.d_off + self.d_size:
            _fail(f"{what}: [{off}, {off + size}) is outside DATA [{self.d_off}, {self.d_off + self.d_size})")

    # ---------------------------------------------------------------------------------- plan
    def plan_prefix(self):
        _, p_off, _, _ = self.sections[SEC_PLAN]
        arena_size, res = struct.unpack_from(PLAN_PREFIX_FMT, self.data, p_off)
        if arena_size % ALIGN:
            _fail(f"plan.arena_size: {arena_size} is not a multiple of 64")
        if arena_size > MAX_ARENA:
            _fail(f"plan.arena_size: {arena_size} is above the limit 2^30")
        if res:
            _fail(f"plan.reserved: {res} is not 0")
        self.arena_size = arena_size

    # ------------------------------------------------------------------------------- tensors
    def tensors_section(self):
        _, t_off, _, n_t = self.sections[SEC_TENSORS]
        self.tensors = []
        names = {}
        n_act = 0
        for i in range(n_t):
            (no, nl, dtype, role, rank, r0, r1, d0, d1, d2, d3, doff, dsize, qc, qa, qoff) = \
                struct.unpack_from(TENSOR_FMT, self.data, t_off + i * TENSOR_RECORD)
            name = self.string(no, nl, f"tensor[{i}].name")
            if not name:
                _fail(f"tensor[{i}].name: empty")
            if name in names:
                _fail(f"tensor[{i}].name: '{name}' is also the name of tensor[{names[name]}]")
            names[name] = i
            w = tensor_where(i, name)
            if dtype not in DTYPE_NUMPY:
                _fail(f"{w}.dtype: {dtype} is not 1 (int8), 2 (int32) or 3 (f32)")
            if role not in (ROLE_ACTIVATION, ROLE_CONSTANT):
                _fail(f"{w}.role: {role} is not 0 (activation) or 1 (constant)")
            if not 1 <= rank <= 4:
                _fail(f"{w}.rank: {rank} is outside 1..4")
            if r0 or r1:
                _fail(f"{w}.reserved: not zero")
            alld = (d0, d1, d2, d3)
            for j in range(4):
                if j < rank and alld[j] == 0:
                    _fail(f"{w}.dims[{j}]: 0 (every dimension is >= 1)")
                if j >= rank and alld[j] != 0:
                    _fail(f"{w}.dims[{j}]: {alld[j]} beyond rank {rank} (must be 0)")
            dims = alld[:rank]
            count = 1
            for d in dims:
                count *= d
            nbytes = count * DTYPE_NUMPY[dtype].itemsize
            if nbytes >= 2**64:
                _fail(f"{w}.dims: the product of {_dims(dims)} x {DTYPE_NUMPY[dtype].itemsize} bytes overflows 64 bits")
            if dsize != nbytes:
                _fail(f"{w}.data_size: {dsize} != product(dims) * sizeof(dtype) = {nbytes}")
            arr = None
            if role == ROLE_ACTIVATION:
                n_act += 1
                if n_act > MAX_ACTIVATIONS:
                    _fail(f"{w}.role: more than {MAX_ACTIVATIONS} activations")
                if dtype == DT_INT32:
                    _fail(f"{w}.dtype: an int32 activation (activations are int8 or f32)")
                if dims[0] != 1:
                    _fail(f"{w}.dims[0]: batch {dims[0]} != 1")
                if doff != 0:
                    _fail(f"{w}.data_offset: {doff}, but an activation has no data (0)")
                if dsize > self.arena_size:
                    _fail(f"{w}.data_size: {dsize} bytes, more than arena_size {self.arena_size}")
            else:
                self.in_data(doff, dsize, f"{w}.data_offset")
                arr = np.frombuffer(self.data, dtype=DTYPE_NUMPY[dtype], count=count, offset=doff).reshape(dims)
            scales, zps = self.quantization(w, dtype, role, dims, qc, qa, qoff)
            if dtype == DT_INT8 and role == ROLE_CONSTANT and qc:  # an int8 weight
                low = arr.reshape(-1) == -128
                if low.any():
                    _fail(f"{w}.data: int8 weight -128 at element {int(np.argmax(low))} (weights are in [-127, 127])")
            self.tensors.append(Tensor(name, dtype, role, tuple(int(d) for d in dims), arr, scales, zps, qa))
        self.n_act = n_act

    def quantization(self, w, dtype, role, dims, qc, qa, qoff):
        """SPEC TENSORS table: int8 activations per tensor, int8 / int32 constants none or per
        dims[0] (weights and biases, checked per op), f32 none."""
        if dtype == DT_INT8 and role == ROLE_ACTIVATION:
            allowed = (1,)
        elif dtype == DT_FLOAT32:
            allowed = (0,)
        else:
            allowed = (0, dims[0])
        if qc not in allowed:
            _fail(f"{w}.quant_count: {qc}; a {DTYPE_TOML[dtype]} {'activation' if role == ROLE_ACTIVATION else 'constant'} "
                  f"has {' or '.join(str(a) for a in allowed)}")
        if qa != 0:
            _fail(f"{w}.quant_axis: {qa} != 0")
        if qc == 0:
            if qoff != 0:
                _fail(f"{w}.quant_offset: {qoff} without quantization (must be 0)")
            return None, None
        self.in_data(qoff, qc * 8, f"{w}.quant_offset")
        scales = np.frombuffer(self.data, dtype="<f4", count=qc, offset=qoff)
        zps = np.frombuffer(self.data, dtype="<i4", count=qc, offset=qoff + 4 * qc)
        bad = ~(np.isfinite(scales) & (scales > 0))
        if bad.any():
            k = int(np.argmax(bad))
            _fail(f"{w}.scales[{k}]: {float(scales[k])!r} is not finite and > 0")
        if role == ROLE_ACTIVATION:
            bad = (zps < -128) | (zps > 127)
            if bad.any():
                k = int(np.argmax(bad))
                _fail(f"{w}.zero_points[{k}]: {int(zps[k])} is outside [-128, 127]")
        else:
            bad = zps != 0
            if bad.any():
                k = int(np.argmax(bad))
                _fail(f"{w}.zero_points[{k}]: {int(zps[k])}; weights and biases have zero point 0")
        return scales, zps

    # --------------------------------------------------------------------------------- input
    def input_section(self):
        (ch, h, wd, resize, m0, m1, m2, s0, s1, s2, in_t, out_t, okind, res) = \
            struct.unpack_from(INPUT_FMT, self.data, self.sections[SEC_INPUT][1])
        if ch not in (1, 3):
            _fail(f"input.channels: {ch} is not 1 or 3")
        if not 1 <= h <= MAX_IMAGE_DIM:
            _fail(f"input.height: {h} is outside 1..{MAX_IMAGE_DIM}")
        if not 1 <= wd <= MAX_IMAGE_DIM:
            _fail(f"input.width: {wd} is outside 1..{MAX_IMAGE_DIM}")
        if resize != RESIZE_BILINEAR:
            _fail(f"input.resize: {resize} is not 1 (bilinear)")
        mean, std = (m0, m1, m2), (s0, s1, s2)
        for c in range(3):
            if c < ch and not math.isfinite(mean[c]):
                _fail(f"input.mean[{c}]: {mean[c]!r} is not finite")
            if c >= ch and mean[c] != 0:
                _fail(f"input.mean[{c}]: {mean[c]!r} beyond the {ch} channel(s) must be 0")
        for c in range(3):
            if c < ch and not (math.isfinite(std[c]) and std[c] > 0):
                _fail(f"input.std[{c}]: {std[c]!r} is not finite and > 0")
            if c >= ch and std[c] != 1:
                _fail(f"input.std[{c}]: {std[c]!r} beyond the {ch} channel(s) must be 1")
        n_t = len(self.tensors)
        for what, ti in (("input.input_tensor", in_t), ("input.output_tensor", out_t)):
            if ti >= n_t:
                _fail(f"{what}: tensor index {ti} is out of range ({n_t} tensors)")
            t = self.tensors[ti]
            if t.role != ROLE_ACTIVATION or t.dtype != DT_FLOAT32:
                _fail(f"{what}: '{t.name}' is not an f32 activation")
        if self.tensors[in_t].dims != (1, h, wd, ch):
            _fail(f"input.input_tensor: dims {_dims(self.tensors[in_t].dims)} != {_dims((1, h, wd, ch))}")
        if len(self.tensors[out_t].dims) != 2:
            _fail(f"input.output_tensor: dims {_dims(self.tensors[out_t].dims)} are not [1, classes]")
        if okind not in OUTPUT_KINDS:
            _fail(f"input.output_kind: {okind} is not 0 (logits) or 1 (SVM decision values)")
        if res != bytes(len(res)):
            _fail("input.reserved: not zero")
        self.spec = InputSpec(ch, h, wd, mean[:ch], std[:ch], in_t, out_t, resize, okind)

    # -------------------------------------------------------------------------------- labels
    def labels_section(self):
        _, l_off, _, n_l = self.sections[SEC_LABELS]
        self.labels = []
        seen = {}
        for i in range(n_l):
            lo, ll = struct.unpack_from(LABEL_FMT, self.data, l_off + i * LABEL_RECORD)
            lbl = self.string(lo, ll, f"label[{i}]")
            if not lbl:
                _fail(f"label[{i}]: empty")
            if lbl in seen:
                _fail(f"label[{i}]: '{lbl}' repeats label[{seen[lbl]}]")
            seen[lbl] = i
            self.labels.append(lbl)
        classes = self.tensors[self.spec.output_tensor].dims[-1]
        if n_l != classes:
            _fail(f"labels.count: {n_l} labels for the output's {classes} classes")

    # ----------------------------------------------------------------------------------- ops
    def ops_section(self):
        o_i, o_off, o_size, n_o = self.sections[SEC_OPS]
        data, tensors, n_t = self.data, self.tensors, len(self.tensors)
        in_t = self.spec.input_tensor
        end = o_off + o_size
        pos = o_off
        self.ops = []
        self.writers = {}
        self.read_by = set()

        def past_end(i):
            _fail(f"section[{o_i}].size: OPS is {o_size} bytes, but op[{i}] runs past its end")

        for i in range(n_o):
            if pos + OP_HEADER > end:
                past_end(i)
            kind, out, n_in, n_attr = struct.unpack_from(OP_HEADER_FMT, data, pos)
            opdef = ops.OPS.get(kind)
            if opdef is None:
                _fail(f"op[{i}].kind: {kind} is not an op of ops.toml")
            w = op_where(i, kind)
            if not 1 <= n_in <= MAX_OP_INPUTS:
                _fail(f"{w}.input_count: {n_in} is outside 1..{MAX_OP_INPUTS}")
            if n_attr != len(opdef.attrs):
                _fail(f"{w}.attr_count: {n_attr} != {len(opdef.attrs)}, the attributes ops.toml lists for {opdef.name}")
            size = OP_HEADER + OP_INPUT * n_in + OP_ATTR * n_attr
            if pos + size > end:
                past_end(i)
            inputs = list(struct.unpack_from(f"<{n_in}I", data, pos + OP_HEADER))
            words = struct.unpack_from(f"<{2 * n_attr}I", data, pos + OP_HEADER + OP_INPUT * n_in)
            pos += size
            for j, ti in enumerate(inputs):
                if ti >= n_t:
                    _fail(f"{w}.inputs[{j}]: tensor index {ti} is out of range ({n_t} tensors)")
            if out >= n_t:
                _fail(f"{w}.output: tensor index {out} is out of range ({n_t} tensors)")
            for k, a in enumerate(opdef.attrs):
                if words[2 * k] != a.id:
                    _fail(f"{w}.attrs[{k}].id: {words[2 * k]} where ops.toml has {a.id} ({a.name})")
            y = tensors[out]
            if y.role != ROLE_ACTIVATION:
                _fail(f"{w}.output: '{y.name}' is a constant")
            op = Op(kind, inputs, out, {})
            sig = signature_of(op, tensors, w)
            op.attrs = self.attributes(w, opdef, [words[2 * k + 1] for k in range(n_attr)], y.dtype)
            # the graph: ops run in file order, a topological order of a DAG
            if out == in_t:
                _fail(f"{w}.output: '{y.name}' is the graph input")
            if out in self.writers:
                _fail(f"{w}.output: '{y.name}' is already written by op[{self.writers[out]}]")
            for j, ti in enumerate(inputs):
                t = tensors[ti]
                if t.role == ROLE_ACTIVATION and ti != in_t and ti not in self.writers:
                    if ti == out:
                        _fail(f"{w}.inputs[{j}]: reads its own output '{t.name}'")
                    _fail(f"{w}.inputs[{j}]: reads '{t.name}' before any op writes it")
            self.writers[out] = i
            self.read_by.update(inputs)
            bound = {k: ([tensors[t] for t in v] if isinstance(v, list) else tensors[v])
                     for k, v in bind_inputs(sig, inputs).items()}
            shapes.CHECKS[kind](w, bound, y, op.attrs)
            self.ops.append(op)
        if pos != end:
            _fail(f"section[{o_i}].size: {o_size} != {pos - o_off}, the sum of the {n_o} op records' sizes")

    def attributes(self, w, opdef, values, out_dtype) -> dict:
        """Decodes the attribute values: neutral where they do not apply, finite f32 (or a
        neutral infinity), clip_min <= clip_max, out_min <= out_max in [-128, 127]."""
        attrs = {}
        for a, bits in zip(opdef.attrs, values):
            v = bits_f32(bits) if a.type == "f32" else (bits - 2**32 if bits >= 2**31 else bits)
            if not attr_applies(a, out_dtype):
                neutral_bits = f32_bits(a.neutral) if a.type == "f32" else a.neutral & 0xFFFFFFFF
                if bits != neutral_bits:
                    _fail(f"{w}.attrs.{a.name}: {v!r} does not apply to a {DTYPE_TOML[out_dtype]} output "
                          f"and must hold its neutral value {a.neutral!r}")
            elif a.type == "f32" and not math.isfinite(v) and NEUTRAL_INFINITY.get(a.id) != v:
                _fail(f"{w}.attrs.{a.name}: {v!r} is not finite")
            attrs[a.name] = v
        if "clip_min" in attrs and not attrs["clip_min"] <= attrs["clip_max"]:
            _fail(f"{w}.attrs.clip_min: {attrs['clip_min']!r} > clip_max {attrs['clip_max']!r}")
        if "out_min" in attrs:
            for n in ("out_min", "out_max"):
                if not -128 <= attrs[n] <= 127:
                    _fail(f"{w}.attrs.{n}: {attrs[n]} is outside [-128, 127]")
            if attrs["out_min"] > attrs["out_max"]:
                _fail(f"{w}.attrs.out_min: {attrs['out_min']} > out_max {attrs['out_max']}")
        return attrs

    def graph(self):
        out_t = self.spec.output_tensor
        if out_t not in self.writers:
            _fail(f"input.output_tensor: '{self.tensors[out_t].name}' is written by no op")
        for ti, t in enumerate(self.tensors):
            if t.role == ROLE_ACTIVATION and ti != out_t and ti not in self.read_by:
                _fail(f"{tensor_where(ti, t.name)}: an activation no op reads that is not the graph output")

    # ------------------------------------------------------------------------------ plan
    def plan_entries(self):
        _, p_off, _, n_p = self.sections[SEC_PLAN]
        tensors, n_t = self.tensors, len(self.tensors)
        plan = {}
        prev = -1
        for j in range(n_p):
            ti, res, off = struct.unpack_from(PLAN_FMT, self.data, p_off + PLAN_PREFIX + j * PLAN_RECORD)
            w = f"plan[{j}]"
            if ti >= n_t or tensors[ti].role != ROLE_ACTIVATION:
                _fail(f"{w}.tensor: {ti} is not an activation")
            if ti == prev:
                _fail(f"{w}.tensor: '{tensors[ti].name}' has a second entry")
            if ti < prev:
                _fail(f"{w}.tensor: {ti} after {prev} (entries are in increasing tensor order)")
            prev = ti
            if res:
                _fail(f"{w}.reserved: {res} is not 0")
            if off % ALIGN:
                _fail(f"{w}.offset: {off} is not 64-aligned")
            if off + tensors[ti].nbytes > self.arena_size:
                _fail(f"{w}.offset: '{tensors[ti].name}' [{off}, {off + tensors[ti].nbytes}) ends beyond "
                      f"arena_size {self.arena_size}")
            plan[ti] = (off, j)
        if n_p != self.n_act:
            first = next(ti for ti, t in enumerate(tensors) if t.role == ROLE_ACTIVATION and ti not in plan)
            _fail(f"plan.count: {n_p} entries for {self.n_act} activations ('{tensors[first].name}' has none)")
        self.check_overlap(plan)
        self.plan = {ti: off for ti, (off, _) in plan.items()}

    def check_overlap(self, plan):
        """No two activations live at the same time share a byte. A sweep over the ops: at op t the
        activations whose life ended are dropped, then those born at t are added in tensor order,
        each checked against its neighbours in the offset-sorted list of the live ones (which are
        disjoint, so a neighbour is the only place an overlap can be)."""
        tensors = self.tensors
        lt = lifetimes(tensors, self.ops, self.spec.input_tensor, self.spec.output_tensor)
        births = sorted((lt[ti][0], ti) for ti in plan)
        live = []     # sorted [(offset, end, tensor)]
        ends = []     # sorted [(last op, tensor)] of the live ones, to drop them
        for first, ti in births:
            while ends and ends[0][0] < first:
                last, tj = ends.pop(0)
                live.remove((plan[tj][0], plan[tj][0] + tensors[tj].nbytes, tj))
            off = plan[ti][0]
            item = (off, off + tensors[ti].nbytes, ti)
            k = bisect.bisect_left(live, item)
            for other in live[max(k - 1, 0):k + 1]:
                if other[0] < item[1] and item[0] < other[1]:
                    tj = other[2]
                    _fail(f"plan[{plan[ti][1]}].offset: '{tensors[ti].name}' [{item[0]}, {item[1]}) shares bytes "
                          f"with '{tensors[tj].name}' [{other[0]}, {other[1]}), live at the same time (op {first})")
            live.insert(k, item)
            bisect.insort(ends, (lt[ti][1], ti))

    # ----------------------------------------------------------------------------- provenance
    def provenance_section(self):
        _, v_off, _, n_v = self.sections[SEC_PROVENANCE]
        self.provenance = []
        seen = {}
        for i in range(n_v):
            ko, kl, vo, vl = struct.unpack_from(PROVENANCE_FMT, self.data, v_off + i * PROVENANCE_RECORD)
            key = self.string(ko, kl, f"provenance[{i}].key")
            if not key:
                _fail(f"provenance[{i}].key: empty")
            if key in seen:
                _fail(f"provenance[{i}].key: '{key}' repeats provenance[{seen[key]}]")
            seen[key] = i
            self.provenance.append((key, self.string(vo, vl, f"provenance[{i}].value")))
        for key in REQUIRED_PROVENANCE:
            if key not in seen:
                _fail(f"provenance.{key}: the required key is missing")

    # ----------------------------------------------------------------------------- confidence
    def confidence_section(self):
        self.confidence = None
        if SEC_CONFIDENCE not in self.sections:
            if SEC_REJECT in self.sections:
                _fail(f"section[{self.sections[SEC_REJECT][0]}].kind: a REJECT section without a CONFIDENCE section")
            return
        _, c_off, _, _ = self.sections[SEC_CONFIDENCE]
        t, m, res = struct.unpack_from(CONFIDENCE_FMT, self.data, c_off)
        if not (math.isfinite(t) and t > 0):
            _fail(f"confidence.temperature: {t!r} is not finite and > 0")
        if not (math.isfinite(m) and 0 <= m < 1):
            _fail(f"confidence.min_confidence: {m!r} is not in [0, 1)")
        if res != bytes(len(res)):
            _fail("confidence.reserved: not zero")
        self.confidence = Confidence(t, m, self.reject_class())

    def reject_class(self):
        if SEC_REJECT not in self.sections:
            return None
        _, r_off, _, _ = self.sections[SEC_REJECT]
        cls, res = struct.unpack_from(REJECT_FMT, self.data, r_off)
        if len(self.labels) < 2:
            _fail(f"reject.class: a reject class needs at least 2 classes (the model has {len(self.labels)})")
        if cls >= len(self.labels):
            _fail(f"reject.class: {cls} is not a class (the model has {len(self.labels)})")
        if res != bytes(len(res)):
            _fail("reject.reserved: not zero")
        return cls
