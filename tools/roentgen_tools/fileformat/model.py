"""The in-memory model of SPEC.md format 2.0 and the constants both the writer and the reader use.

Field order in every struct below is the order of the SPEC.md tables; keep them identical.
The op table itself (ids, signatures, attributes) is the generated `ops.py`.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import numpy as np

from . import ops
from .ops import DT_FLOAT32, DT_INT8, DT_INT32, ROLE_ACTIVATION, ROLE_CONSTANT  # noqa: F401 (re-export)

MAGIC = b"ROENTGEN"
VERSION_MAJOR = 2
VERSION_MINOR = 2
HEADER_SIZE = 128
SECTION_ENTRY_SIZE = 32
MIN_SECTIONS, MAX_SECTIONS = 8, 64
ALIGN = 64
NONE = 0xFFFFFFFF
# The checksum covers [0, 40) and [72, end): everything but the 32 digest bytes.
SHA_OFFSET = 40
SHA_END = 72

# Section kinds, in the order the writer emits them.
SEC_STRINGS, SEC_INPUT, SEC_LABELS, SEC_TENSORS, SEC_OPS, SEC_PLAN, SEC_PROVENANCE, SEC_DATA = range(1, 9)
SEC_CONFIDENCE = 9      # 2.1, optional: the calibrated temperature and the uncertainty threshold
SEC_REJECT = 10         # 2.2, optional (needs CONFIDENCE): the class that means "none of the others"
SECTION_NAMES = {1: "STRINGS", 2: "INPUT", 3: "LABELS", 4: "TENSORS", 5: "OPS", 6: "PLAN",
                 7: "PROVENANCE", 8: "DATA", 9: "CONFIDENCE", 10: "REJECT"}
REQUIRED_SECTIONS = tuple(range(SEC_STRINGS, SEC_DATA + 1))
INPUT_RECORD = 64
LABEL_RECORD = 8
TENSOR_RECORD = 64
OP_HEADER = 16          # kind, output, input_count, attr_count; then inputs and attrs
OP_INPUT = 4
OP_ATTR = 8
PLAN_PREFIX = 16
PLAN_RECORD = 16
PROVENANCE_RECORD = 16
CONFIDENCE_RECORD = 16
REJECT_RECORD = 16

DTYPE_NUMPY = {DT_INT8: np.dtype("<i1"), DT_INT32: np.dtype("<i4"), DT_FLOAT32: np.dtype("<f4")}
DTYPE_NAMES = {DT_INT8: "int8", DT_INT32: "int32", DT_FLOAT32: "float32"}
DTYPE_TOML = {DT_INT8: "int8", DT_INT32: "int32", DT_FLOAT32: "f32"}   # ops.toml's spelling
ROLE_NAMES = {ROLE_ACTIVATION: "act", ROLE_CONSTANT: "const"}

RESIZE_BILINEAR = 1
OUTPUT_LOGITS = 0
OUTPUT_SVM = 1     # the output holds linear-SVM decision values (SPEC "SVM head")
OUTPUT_KINDS = (OUTPUT_LOGITS, OUTPUT_SVM)

# SPEC "Limits"
MAX_TENSORS = 16384
MAX_OPS = 4096
MAX_ACTIVATIONS = 4096
MAX_OP_INPUTS = 256
MAX_LABELS = 65536
MAX_PROVENANCE = 1024
MAX_ARENA = 2**30
MAX_IMAGE_DIM = 16384
MAX_PAD = 1024          # CONV2D and PAD pads; pool pads are smaller than the kernel

SHIFT_MIN, SHIFT_MAX = 1, 62
M_LIMIT = 2**31 - 1
INT32_MAX = 2**31 - 1
INT8_MIN, INT8_MAX = -128, 127

REQUIRED_PROVENANCE = ("precision", "source_sha256", "calibration_digest", "calibration",
                       "converter_version", "created")

# struct layouts (little-endian), field for field as in SPEC.md
HEADER_FMT = "<8sHHIQIIQ32s56s"
SECTION_FMT = "<IIQQQ"
INPUT_FMT = "<IIII3f3fIII12s"
TENSOR_FMT = "<IIBBBBI4IQQIIQ"
OP_HEADER_FMT = "<IIII"
PLAN_PREFIX_FMT = "<QQ"
PLAN_FMT = "<IIQ"
PROVENANCE_FMT = "<IIII"
LABEL_FMT = "<II"
CONFIDENCE_FMT = "<ff8s"
REJECT_FMT = "<I12s"
assert struct.calcsize(HEADER_FMT) == HEADER_SIZE
assert struct.calcsize(SECTION_FMT) == SECTION_ENTRY_SIZE
assert struct.calcsize(INPUT_FMT) == INPUT_RECORD
assert struct.calcsize(TENSOR_FMT) == TENSOR_RECORD
assert struct.calcsize(OP_HEADER_FMT) == OP_HEADER


class FormatError(ValueError):
    """A .rtg file (or an in-memory model about to be written) violates SPEC.md.
    The message starts with the field it names (SPEC "What a reader must reject")."""


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def checksum(buf) -> bytes:
    h = hashlib.sha256()
    mv = memoryview(buf)
    h.update(mv[:SHA_OFFSET])
    h.update(mv[SHA_END:])
    return h.digest()


def f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


def bits_f32(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b & 0xFFFFFFFF))[0]


def tensor_where(i: int, name: str) -> str:
    """The field prefix of a tensor: `tensor[5] 'conv1.weight'` (name quoted verbatim)."""
    return f"tensor[{i}] '{name}'"


def op_where(i: int, kind: int) -> str:
    """The field prefix of an op: `op[3] CONV2D`."""
    return f"op[{i}] {ops.OP_NAMES[kind]}"


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
        n = 1
        for d in self.dims:
            n *= int(d)
        return n * DTYPE_NUMPY[self.dtype].itemsize

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])


@dataclass
class Op:
    kind: int                 # ops.py OP_* id
    inputs: list              # tensor indices, in signature order (variadic slots expanded)
    output: int
    attrs: dict = field(default_factory=dict)   # attribute NAME -> int | float


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
class Confidence:
    """SPEC "CONFIDENCE": probabilities are softmax(output / temperature); an image whose largest
    probability is below min_confidence is reported uncertain. SPEC "REJECT": with a reject class,
    the answer is the best other class, uncertain also when the reject class is at least as likely."""
    temperature: float
    min_confidence: float
    reject_class: int | None = None


@dataclass
class Model:
    input: InputSpec
    labels: list
    tensors: list
    ops: list
    arena_size: int = 0
    plan: dict = field(default_factory=dict)  # tensor index -> arena offset
    provenance: list = field(default_factory=list)  # [(key, value)]
    confidence: Confidence | None = None

    def tensor_index(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(name)

    @property
    def precision(self) -> str:
        return dict(self.provenance).get("precision", "")


# ------------------------------------------------------------------------------ signatures

def _slot_matches(slot, t) -> bool:
    return t.role == slot.role and t.dtype == slot.dtype


def _sig_matches(sig, inputs, tensors, out_dtype) -> bool:
    if sig.output != out_dtype:
        return False
    fixed = sum(1 for s in sig.inputs if not s.variadic)
    variadic = len(sig.inputs) != fixed
    n = len(inputs)
    if n < fixed + (1 if variadic else 0) or (not variadic and n != fixed):
        return False
    return all(_slot_matches(slot, tensors[ti]) for slot, ti in zip(expand_slots(sig, n), inputs))


def expand_slots(sig, n: int) -> list:
    """The signature's slots for an op of n inputs, the variadic slot repeated (n - fixed) times."""
    out = []
    extra = n - sum(1 for s in sig.inputs if not s.variadic)
    for s in sig.inputs:
        out.extend([s] * extra if s.variadic else [s])
    return out


def bind_inputs(sig, inputs) -> dict:
    """slot name -> tensor index, or a list of tensor indices for the variadic slot."""
    bound = {}
    for slot, ti in zip(expand_slots(sig, len(inputs)), inputs):
        if slot.variadic:
            bound.setdefault(slot.name, []).append(ti)
        else:
            bound[slot.name] = ti
    return bound


def describe_inputs(inputs, tensors) -> str:
    return ", ".join(f"{ROLE_NAMES.get(tensors[ti].role, '?')}:{DTYPE_TOML.get(tensors[ti].dtype, '?')}"
                     for ti in inputs)


def signature_of(op: Op, tensors, where: str | None = None) -> ops.Signature:
    """The one signature of ops.toml that `op` matches (input count, every input's role and
    dtype, the output's dtype), or FormatError naming `<where>.signature` (default: the op's name)."""
    opdef = ops.OPS.get(op.kind)
    if opdef is None:
        raise FormatError(f"{where or 'op'}.kind: {op.kind} is not an op of ops.toml")
    where = where or opdef.name
    for ti in list(op.inputs) + [op.output]:
        if not 0 <= ti < len(tensors):
            raise FormatError(f"{where}.signature: tensor index {ti} out of range")
    out_dtype = tensors[op.output].dtype
    matches = [s for s in opdef.signatures if _sig_matches(s, op.inputs, tensors, out_dtype)]
    if len(matches) != 1:
        raise FormatError(f"{where}.signature: ({describe_inputs(op.inputs, tensors)}) -> "
                          f"{DTYPE_TOML.get(out_dtype, '?')} matches "
                          f"{'no' if not matches else 'more than one'} signature of ops.toml")
    return matches[0]


def attr_applies(attr: ops.Attr, out_dtype: int) -> bool:
    return attr.applies == "all" or attr.applies == {DT_INT8: "int8", DT_FLOAT32: "f32"}.get(out_dtype)


# f32 attributes may be this infinity (the neutral value they have wherever they are neutral)
NEUTRAL_INFINITY = {a.id: a.neutral for d in ops.OPS.values() for a in d.attrs
                    if a.type == "f32" and a.neutral is not None and abs(a.neutral) == float("inf")}


# `from .model import *` (the package's __init__): the constants, the dataclasses and the helpers
__all__ = sorted([n for n in dir() if n.isupper() and not n.startswith("_")]
                 + ["FormatError", "Tensor", "Op", "InputSpec", "Model", "align", "checksum", "f32_bits",
                    "bits_f32", "tensor_where", "op_where", "expand_slots", "bind_inputs", "signature_of",
                    "attr_applies", "describe_inputs"])
