"""Weight rounding by GPTQ: choose each int8 weight of a CONV2D / DENSE so that the layer's sums
on the calibration images stay close to the float weights' sums, instead of rounding every weight
to its nearest level on its own.

Rounding to nearest makes each weight's error as small as it can be, but the errors of a window's
weights add up in the sum, and for the few taps of a depthwise kernel that sum is what the next
layers see. GPTQ (Frantar et al., 2022, after Optimal Brain Quantization) rounds the weights of a
row one at a time and moves the error into the row's not yet rounded weights, weighted by the
inputs' second moments H = sum p p^T over the layer's input windows p, which minimises
(w - q)^T H (w - q) greedily. The per-channel scales stay what the lowering chose, so only weight
values change: the file format and the integer arithmetic (SPEC) are untouched, and the reference
and every kernel still agree bit for bit.

The windows come from the int8 model itself, run layer by layer on the calibration images with
the weights above already rounded (so a layer also makes up for the error it receives), in units
of its input's integer steps: H is a sum of integer products, exact in float64, and the rounding
does not depend on the BLAS the converter runs on.
"""
from __future__ import annotations

import numpy as np

from .. import ops as op_modules
from ..fileformat import DT_INT8, Model
from ..fileformat.ops import OP_CONV2D, OP_DENSE
from .layerwise import layer_name, operands, run_layerwise

ROUNDED = (OP_CONV2D, OP_DENSE)
WEIGHT_ROUNDINGS = ("gptq", "nearest")  # PROVENANCE weight_rounding (SPEC "Calibration provenance")
DAMPING = 0.01  # of H's mean diagonal, added to its diagonal: keeps the inverse well conditioned (GPTQ's)
MIN_WINDOWS = 4  # per weight of a row: fewer calibration windows than this leave H's estimate too
#                  noisy to trade one weight's error for another's (the layer keeps nearest rounding)


def gptq(w: np.ndarray, gram: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    """Integer weights for w [G, OCg, K] in units of their scales (the int8 grid is the integers
    -127 .. 127) given each group's input second moments gram [G, K, K]; int8 [G, OCg, K]."""
    w = np.array(w, dtype=np.float64)
    h = np.array(gram, dtype=np.float64)
    k = h.shape[-1]
    diag = np.einsum("gkk->gk", h)
    mean = diag.mean(axis=1)
    mean[mean <= 0] = 1.0  # a group whose inputs were all zero: plain rounding
    h += (damping * mean)[:, None, None] * np.eye(k)
    # upper Cholesky factor of H^-1: row i says how w_i's error moves into w_i+1 .. w_K-1
    u = np.linalg.cholesky(np.linalg.inv(h)).transpose(0, 2, 1)
    q = np.zeros(w.shape, dtype=np.int8)
    for i in range(k):
        qi = np.clip(np.rint(w[:, :, i]), -127, 127)
        q[:, :, i] = qi
        err = (w[:, :, i] - qi) / u[:, i, i][:, None]
        w[:, :, i + 1:] -= err[:, :, None] * u[:, None, i, i + 1:]
    return q


def round_weights(model_int8: Model, model_f32: Model, inputs, damping: float = DAMPING) -> list:
    """Re-rounds `model_int8`'s int8 CONV2D / DENSE weights in place from the float weights of
    `model_f32` and `inputs` (the input tensors of the calibration images). Returns a report: one
    dict per layer (name, fraction of weights that moved off their nearest level)."""
    inputs = [np.asarray(x, np.float32) for x in inputs]
    if not inputs:
        return []
    T32 = model_f32.tensors
    f32_weight = {layer_name(T32[op.output].name): T32[op.inputs[1]].data
                  for op in model_f32.ops if op.kind in ROUNDED}
    T = model_int8.tensors
    report = []

    def round_layer(op, vals8):
        name = layer_name(T[op.output].name)
        if op.kind in ROUNDED and T[op.inputs[0]].dtype == DT_INT8 and name in f32_weight:
            report.append(_round_layer(op, model_int8, vals8, f32_weight[name], damping) | dict(layer=name))

    run_layerwise(model_int8, inputs, round_layer)
    return report


def _round_layer(op, model: Model, vals8: list, w32: np.ndarray, damping: float) -> dict:
    T = model.tensors
    wt = T[op.inputs[1]]
    mod = op_modules.REGISTRY[op.kind]
    gram = sum(mod.input_gram(op, operands(model, op, vals), model) for vals in vals8)
    windows = len(vals8) * (int(np.prod(T[op.output].dims[1:3])) if op.kind == OP_CONV2D else 1)
    if windows < MIN_WINDOWS * gram.shape[-1]:
        return dict(moved=0.0, windows=windows)
    groups, oc = gram.shape[0], wt.dims[0]
    scales = wt.scales.astype(np.float64).reshape(groups, oc // groups, 1)
    target = w32.astype(np.float64).reshape(groups, oc // groups, -1) / scales
    q = gptq(target, gram, damping)
    wt.data = q.reshape(wt.data.shape)
    return dict(moved=float(np.mean(q != np.clip(np.rint(target), -127, 127))), windows=windows)
