"""The .rtg file format of SPEC.md version 2.1: the in-memory model, the writer, the validating
reader, the arena planner and the op table generated from ops.toml (`ops`).

    from roentgen_tools.fileformat import Model, Tensor, Op, InputSpec, read_model, write_model
"""
from . import ops
from .model import *  # noqa: F401,F403 (the constants and dataclasses are the public API)
from .model import (Confidence, FormatError, InputSpec, Model, Op, Tensor, align, bind_inputs, checksum, expand_slots,
                    signature_of)
from .numbers import format_f32, format_f64
from .planner import plan_arena
from .reader import lifetimes, read_bytes, read_model
from .writer import serialize, write_atomic, write_model

# the op table's constants (OP_*, ATTR_*, FUNCTION_*, OPS, OP_NAMES) at the package level too
globals().update({k: v for k, v in vars(ops).items() if k.isupper() and k not in globals()})

__all__ = ["ops", "Confidence", "FormatError", "InputSpec", "Model", "Op", "Tensor", "align", "bind_inputs", "checksum",
           "expand_slots", "signature_of", "format_f32", "format_f64", "plan_arena", "lifetimes", "read_bytes",
           "read_model", "serialize", "write_atomic", "write_model"]
