"""One module per format op: `lower(node, ctx)` writes the op's tensors and record for f32 and for
int8, `run(op, xs, model)` is its numpy reference (xs: the values of op.inputs, in order).

    REGISTRY   op id -> module (roentgen_tools.reference runs files through it)
    BY_NAME    op name of an IR node -> module (roentgen_tools.quant.lower lowers through it)
"""
from ..fileformat import ops as _ops
from . import activation, add, avgpool2d, concat, conv2d, dense, maxpool2d, mean, mul, pad, quantize, reshape

REGISTRY = {m.KIND: m for m in (conv2d, dense, maxpool2d, avgpool2d, mean, add, mul, concat, activation, pad,
                                reshape)}
REGISTRY.update({k: quantize for k in quantize.KINDS})
BY_NAME = {_ops.OP_NAMES[k]: m for k, m in REGISTRY.items()}
assert set(REGISTRY) == set(_ops.OPS), "every op of ops.toml needs its module"
