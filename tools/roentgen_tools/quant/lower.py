"""Graph IR -> a fileformat Model: f32, int8, or int8 with some layers kept in float32 (SPEC
"Mixed precision").

Every node is lowered by its op module (`ops.BY_NAME[node.op].lower(node, ctx)`) through the
`Lowering` context below, which names the tensors, quantizes activations with their calibrated
ranges and inserts a QUANTIZE / DEQUANTIZE once per activation wherever a value is needed in the
other precision. A node's output tensor is named after its layer (`conv1`, `add3`, ...) in every
precision; the graph input is `input` (`input.q` quantized), the output `logits` (an int8 op
writing it names its tensor `logits.q` and a DEQUANTIZE gives `logits`).
"""
from __future__ import annotations

import numpy as np

from .. import ops as op_modules
from ..fileformat import (DT_FLOAT32, DT_INT8, OUTPUT_LOGITS, ROLE_ACTIVATION, ROLE_CONSTANT, InputSpec, Model,
                          Op, Tensor, plan_arena)
from ..fileformat import ops as optable
from ..fileformat.model import attr_applies
from ..ir.graph import Graph
from .arith import activation_params

F32 = np.float32
# ops whose int8 output keeps its input's scale and zero point: they keep their input's precision
# unless they are named float themselves
KEEPS_QUANTIZATION = ("MAXPOOL2D", "PAD", "RESHAPE")


class LoweringError(ValueError):
    pass


def lower(graph: Graph, precision: str, labels, mean=(0.0,), std=(1.0,), ranges=None, float_layers=(),
          provenance=(), output_kind: int = OUTPUT_LOGITS) -> Model:
    """`ranges` {tensor name of the f32 model: (lo, hi)} from calibration (int8 only);
    `float_layers`: layer names kept in float32 in an int8 file (`logits` names the output's layer)."""
    if precision not in ("int8", "f32"):
        raise LoweringError(f"precision must be int8 or f32, not {precision!r}")
    if precision == "int8" and ranges is None:
        raise LoweringError("an int8 model needs calibrated ranges")
    float_set = _float_layers(graph, precision, float_layers)
    ctx = Lowering(graph, precision, ranges or {}, float_set)
    for node in graph.nodes:
        op_modules.BY_NAME[node.op].lower(node, ctx)
    out = ctx.final_output()
    n = ctx.tensors[out].dims[-1]
    if len(labels) != n:
        raise LoweringError(f"{len(labels)} labels for {n} classes")
    if len(set(labels)) != len(labels) or any(not lbl for lbl in labels):
        raise LoweringError("labels must be non-empty and unique")
    c = graph.channels
    spec = InputSpec(c, graph.height, graph.width, _per_channel(mean, c, "mean", 0.0),
                     _per_channel(std, c, "std", 1.0), ctx.input_tensor, out, output_kind=output_kind)
    prov = list(provenance)
    if float_set:
        prov.append(("float_layers", ",".join(n.name for n in graph.nodes if n.name in float_set)))
    model = Model(spec, list(labels), ctx.tensors, ctx.ops, provenance=prov)
    model.arena_size, model.plan = plan_arena(ctx.tensors, ctx.ops, ctx.input_tensor, out)
    return model


def _float_layers(graph, precision, names):
    names = [n for n in (names or ()) if n]
    if not names:
        return set()
    if precision != "int8":
        raise LoweringError("--float-layers needs --precision int8")
    layers = graph.layer_names()
    out_layer = graph.producer(graph.output).name
    chosen = {out_layer if n == graph.output_name else n for n in names}
    unknown = sorted(chosen - set(layers))
    if unknown:
        raise LoweringError(f"--float-layers: no layer named {', '.join(unknown)} (layers: {', '.join(layers)}, "
                            f"{graph.output_name})")
    return chosen


def _per_channel(values, channels, what, default):
    if values is None:
        return tuple([default] * channels)
    v = [float(x) for x in values]
    if len(v) == 1:
        v = v * channels
    if len(v) != channels:
        raise LoweringError(f"--{what}: give 1 or {channels} values, got {len(v)}")
    for x in v:
        if not np.isfinite(F32(x)) or (what == "std" and not F32(x) > 0):
            raise LoweringError(f"--{what}: {x} must be finite{' and > 0' if what == 'std' else ''}")
    return tuple(float(F32(x)) for x in v)


class Lowering:
    """What an op module's `lower` uses: the tensors of its inputs in the dtype it needs, named
    constants and outputs, the scale and zero point of an int8 tensor, and `emit`."""

    def __init__(self, graph: Graph, precision: str, ranges: dict, float_set: set):
        self.graph = graph
        self.precision = precision
        self.ranges = ranges
        self.tensors = []
        self.ops = []
        self.file = {}   # (IR value, dtype) -> tensor index
        self.input_tensor = self._tensor("input", DT_FLOAT32, ROLE_ACTIVATION, graph.shape(graph.input))
        self.file[(graph.input, DT_FLOAT32)] = self.input_tensor
        self.int8_nodes = set()
        if precision == "int8":
            runs_int8 = {graph.input: True}  # a keeping op right after the input runs int8
            for n in graph.nodes:
                if n.name in float_set:
                    i8 = False
                elif n.op in KEEPS_QUANTIZATION:
                    i8 = runs_int8[n.inputs[0]]
                else:
                    i8 = True
                runs_int8[n.output] = i8
                if i8:
                    self.int8_nodes.add(id(n))
            self.ranges = self._shared_ranges(ranges)

    # ------------------------------------------------------------------ for op modules
    def int8(self, node) -> bool:
        return id(node) in self.int8_nodes

    def is_output(self, node) -> bool:
        return node.output == self.graph.output

    def dims(self, t: int) -> tuple:
        return self.tensors[t].dims

    def quant(self, t: int):
        """(scale, zero point) of int8 tensor t, the scale as the float64 of its binary32."""
        x = self.tensors[t]
        return float(x.scales[0]), int(x.zero_points[0])

    def input(self, node, i: int, dtype: int) -> int:
        """The tensor of the node's i-th input in `dtype`, converting it (once per value) if needed."""
        v = node.inputs[i]
        key = (v, dtype)
        if key in self.file:
            return self.file[key]
        other = self.file.get((v, DT_INT8 if dtype == DT_FLOAT32 else DT_FLOAT32))
        if other is None:
            raise LoweringError(f"{node.describe()}: input {v!r} has no tensor yet")
        name = self.graph.tensor_name(v)
        if dtype == DT_INT8:
            t = self._tensor(f"{name}.q", DT_INT8, ROLE_ACTIVATION, self.tensors[other].dims, quant=self.range_quant(name))
            self.emit(optable.OP_QUANTIZE, [other], t, {})
        else:
            t = self._tensor(f"{name}.dq", DT_FLOAT32, ROLE_ACTIVATION, self.tensors[other].dims)
            self.emit(optable.OP_DEQUANTIZE, [other], t, {})
        self.file[key] = t
        return t

    def range_quant(self, name: str):
        if name not in self.ranges:
            raise LoweringError(f"no calibrated range for tensor {name!r}")
        s, z = activation_params(*self.ranges[name])
        return float(s), int(z)

    def output(self, node, dtype: int, quant=None) -> int:
        """The node's output tensor: named after the layer; int8 with `quant` (scale, zero point)
        or, by default, with the calibrated range of the same tensor of the f32 model."""
        name = self.graph.tensor_name(node.output)
        fname = f"{name}.q" if node.output == self.graph.output and dtype == DT_INT8 else name
        if dtype == DT_INT8 and quant is None:
            quant = self.range_quant(name)
        t = self._tensor(fname, dtype, ROLE_ACTIVATION, self.graph.shape(node.output), quant=quant)
        self.file[(node.output, dtype)] = t
        return t

    def const(self, node, suffix: str, dtype: int, data, scales=None, zero_points=None) -> int:
        data = np.asarray(data)
        return self._tensor(f"{node.name}.{suffix}", dtype, ROLE_CONSTANT, data.shape, data=data,
                            scales=scales, zero_points=zero_points)

    def emit(self, kind: int, inputs, output: int, attrs: dict):
        """An op record with every attribute of ops.toml: those that do not apply to the output's
        dtype hold their neutral value, so the in-memory model equals the one read back."""
        opdef = optable.OPS[kind]
        out_dtype = self.tensors[output].dtype
        full = {}
        for a in opdef.attrs:
            if a.name in attrs and attr_applies(a, out_dtype):
                v = attrs[a.name]
            elif not attr_applies(a, out_dtype):
                v = a.neutral
            else:
                raise LoweringError(f"{opdef.name}: attribute {a.name} missing")
            full[a.name] = int(v) if a.type == "i32" else float(F32(v))
        self.ops.append(Op(kind, list(inputs), output, full))

    # ------------------------------------------------------------------ internals
    def _shared_ranges(self, ranges: dict) -> dict:
        """An int8 PAD shares its input's scale and zero point, so that quantization must hold the
        pad value too: the range of the tensor it pads (through any MAXPOOL2D / RESHAPE between,
        which share it as well) is widened to contain the value."""
        g = self.graph
        ranges = dict(ranges)
        for n in g.nodes:
            if id(n) not in self.int8_nodes or n.op != "PAD" or not np.isfinite(n.attrs["value"]):
                continue
            root = n.inputs[0]
            while g.producer(root) is not None and g.producer(root).op in KEEPS_QUANTIZATION \
                    and id(g.producer(root)) in self.int8_nodes:
                root = g.producer(root).inputs[0]
            name, v = g.tensor_name(root), n.attrs["value"]
            if name in ranges:
                ranges[name] = (min(ranges[name][0], v), max(ranges[name][1], v))
        return ranges

    def _tensor(self, name, dtype, role, dims, data=None, quant=None, scales=None, zero_points=None) -> int:
        if quant is not None:
            scales, zero_points = [quant[0]], [quant[1]]
        self.tensors.append(Tensor(name, dtype, role, tuple(int(d) for d in dims),
                                   None if data is None else np.ascontiguousarray(data),
                                   None if scales is None else np.asarray(scales, F32).reshape(-1),
                                   None if zero_points is None else np.asarray(zero_points, np.int32).reshape(-1)))
        return len(self.tensors) - 1

    def final_output(self) -> int:
        """The f32 [1, classes] output tensor (a DEQUANTIZE after an int8 last op)."""
        g = self.graph
        t = self.file.get((g.output, DT_FLOAT32))
        if t is None:
            q = self.file[(g.output, DT_INT8)]
            t = self._tensor(g.output_name, DT_FLOAT32, ROLE_ACTIVATION, self.tensors[q].dims)
            self.emit(optable.OP_DEQUANTIZE, [q], t, {})
        dims = self.tensors[t].dims
        if len(dims) != 2:
            raise LoweringError(f"the output {g.output_name!r} is {list(dims)}, not [1, classes]")
        return t
