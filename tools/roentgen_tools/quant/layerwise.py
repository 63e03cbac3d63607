"""The int8 model run op by op on the calibration images, for the passes that adjust an op's
constants from what really reaches it (weight_rounding, then bias_correction): each op is
adjusted on its int8 inputs with every op before it already adjusted, then run."""
from __future__ import annotations

import numpy as np

from .. import ops as op_modules
from ..fileformat import ROLE_ACTIVATION, Model


def operands(model: Model, op, vals: dict) -> list:
    """The op's operands: activations from `vals` {tensor index: value}, constants from the file."""
    T = model.tensors
    return [vals[i] if T[i].role == ROLE_ACTIVATION else T[i].data for i in op.inputs]


def layer_name(name: str) -> str:
    """The layer a tensor belongs to in every precision (an int8 input's QUANTIZE output ends in .q)."""
    return name[:-2] if name.endswith(".q") else name


def run_layerwise(model_int8: Model, inputs, adjust) -> None:
    """For each op of `model_int8` in file order: `adjust(op, vals)` (which may change the op's
    constants; `vals` has one {tensor index: value} per input image, holding every tensor computed
    so far), then the op runs on every image."""
    T = model_int8.tensors
    first = model_int8.input.input_tensor
    vals8 = [{first: np.asarray(x, np.float32).reshape(T[first].dims)} for x in inputs]
    for op in model_int8.ops:
        adjust(op, vals8)
        mod = op_modules.REGISTRY[op.kind]
        for vals in vals8:
            vals[op.output] = np.asarray(mod.run(op, operands(model_int8, op, vals), model_int8)).reshape(T[op.output].dims)
