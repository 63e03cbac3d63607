"""Empirical bias correction: shift each int8 CONV2D / DENSE bias so that, over the calibration
images, the layer's mean pre-activation equals the float model's, channel by channel.

Rounding weights to int8 moves every output channel's mean by sum_k (w_q - w)[c, k] * E[x_k], and
activation clipping and rounding add their own shifts; channels do not average them out, a global
average pool passes them straight into the features, and in a deep network they add up layer after
layer. The correction is the one NNCF (OpenVINO) applies by default and Nagel et al., "Data-Free
Quantization" (2019) describe: layer by layer in file order, the int8 model is run on the images
with the biases already corrected upstream, its sums are compared with the float model's sums on
the float model's own activations, and the mean difference, in units of the bias (s_x * s_w[c]),
is subtracted from the bias. Only bias values change: the file format and the integer arithmetic
(SPEC) are untouched, and the reference and every kernel still agree bit for bit.
"""
from __future__ import annotations

import numpy as np

from .. import ops as op_modules
from ..fileformat import DT_INT8, Model
from ..fileformat.ops import OP_CONV2D, OP_DENSE
from ..reference import executor as reference
from .arith import INT32_MAX
from .layerwise import layer_name, operands, run_layerwise

CORRECTED = (OP_CONV2D, OP_DENSE)


def correct_biases(model_int8: Model, model_f32: Model, inputs) -> list:
    """Corrects `model_int8`'s int32 biases in place from `inputs` (the input tensors of the
    calibration images). Returns a report: one dict per corrected layer (name, mean |shift| in bias
    units, rms error of the mean pre-activation before, in the float model's units)."""
    inputs = [np.asarray(x, np.float32) for x in inputs]
    if not inputs:
        return []
    T32 = model_f32.tensors
    f32_ops = {layer_name(T32[op.output].name): op for op in model_f32.ops}
    # the float model's activations on every image, by tensor index
    index32 = {t.name: i for i, t in enumerate(T32)}
    f32_vals = [{index32[name]: v for name, v in reference.run(model_f32, x, record=True).items()} for x in inputs]

    T = model_int8.tensors
    report = []

    def correct(op, vals8):
        name = layer_name(T[op.output].name)
        if op.kind not in CORRECTED or T[op.inputs[0]].dtype != DT_INT8 or name not in f32_ops:
            return
        mod, op32 = op_modules.REGISTRY[op.kind], f32_ops[name]
        unit = T[op.inputs[2]].scales.astype(np.float64)  # s_x * s_w[c]
        diff = np.zeros(len(unit))
        for vals, v32 in zip(vals8, f32_vals):
            acc8 = mod.accumulator(op, operands(model_int8, op, vals), model_int8)
            acc32 = mod.accumulator(op32, operands(model_f32, op32, v32), model_f32)
            diff += (acc8.astype(np.float64) * unit - acc32).mean(axis=0)
        diff /= len(inputs)
        shift = np.rint(diff / unit).astype(np.int64)
        bias = T[op.inputs[2]]
        # as far as the SPEC's int32 bound on the sums allows (arith.check_overflow)
        room = INT32_MAX - int(np.prod(T[op.inputs[1]].dims[1:])) * 255 * 127
        corrected = np.clip(bias.data.astype(np.int64) - shift, -room, room)
        bias.data = corrected.astype(bias.data.dtype)
        report.append(dict(layer=name, mean_abs_shift=float(np.abs(shift).mean()),
                           mean_error_rms=float(np.sqrt((diff ** 2).mean()))))

    run_layerwise(model_int8, inputs, correct)
    return report
