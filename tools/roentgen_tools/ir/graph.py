"""The converter's graph IR: a DAG of format ops over NHWC float32 values.

The frontend builds it from ONNX, `passes` simplify it (folding BatchNormalization, fusing
activations, ...), `quant.lower` turns it into a file for any precision. A node's `op` is a format
op name of ops.toml (CONV2D, DENSE, ...), its `attrs` are ops.toml attribute names with real
(float) values, and its constants are float32: conv weights OHWI [OC, KH, KW, IC / groups], dense
weights [N, K] with K in NHWC order. Integer details (scales, requant tables) only appear when
lowering.

Every node gets a readable layer name (`conv1`, `add3`, `concat2`, `gap1`, ...) from
`assign_names`; the file names a node's output tensor after it in every precision, which is how
`roentgen verify` pairs the tensors of an f32 and an int8 file.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..fileformat import ops

INF = float("inf")

# attribute values that mean "no epilogue": alpha 1 (no slope), an unbounded clip
NO_ALPHA = 1.0

# layer-name prefix per op (ACTIVATION: per function, below)
NAME_PREFIX = {"CONV2D": "conv", "DENSE": "dense", "MAXPOOL2D": "pool", "AVGPOOL2D": "avgpool", "MEAN": "gap",
               "ADD": "add", "MUL": "mul", "CONCAT": "concat", "PAD": "pad", "RESHAPE": "reshape"}
FUNCTION_PREFIX = {ops.FUNCTION_RELU: "relu", ops.FUNCTION_LEAKY_RELU: "leaky", ops.FUNCTION_CLIP: "clip",
                   ops.FUNCTION_HARD_SWISH: "hardswish", ops.FUNCTION_HARD_SIGMOID: "hardsigmoid",
                   ops.FUNCTION_SIGMOID: "sigmoid", ops.FUNCTION_SILU: "silu", ops.FUNCTION_TANH: "tanh"}
OP_NAMES = set(ops.OP_NAMES.values()) - {"QUANTIZE", "DEQUANTIZE"}


class GraphError(ValueError):
    pass


@dataclass
class Value:
    name: str                       # unique in the graph (the ONNX tensor name where there is one)
    shape: tuple                    # NHWC: [1, H, W, C] or [1, N]
    producer: "Node | None" = None  # None: the graph input
    onnx: str | None = None         # the ONNX tensor that holds exactly this value, if any
    nchw_flat: tuple | None = None  # (C, H, W): a [1, C*H*W] vector stored in NHWC order of an NCHW
    #                                 flatten (a DENSE reading it permutes its columns)


@dataclass
class Node:
    op: str                          # a format op name: CONV2D, DENSE, ...
    inputs: list                     # value names (activations only)
    output: str                      # value name
    attrs: dict = field(default_factory=dict)
    weight: np.ndarray | None = None  # float32 constants (CONV2D, DENSE)
    bias: np.ndarray | None = None
    sources: list = field(default_factory=list)  # the ONNX node names folded into this node
    name: str = ""                   # the layer name (assign_names)
    affine: tuple | None = None      # (scale, shift) per channel: a not yet folded BatchNormalization
    #                                  or constant Add / Mul (CONV2D on a map, DENSE on a vector)

    def describe(self) -> str:
        src = ", ".join(repr(s) for s in self.sources[:3]) or "no ONNX node"
        return f"{self.name or self.op} (from ONNX {src})"

    @property
    def function(self) -> int | None:
        return self.attrs.get("function") if self.op == "ACTIVATION" else None

    def has_epilogue(self) -> bool:
        """A fused activation already (slope or clip)."""
        return (self.attrs.get("alpha", NO_ALPHA) != NO_ALPHA or self.attrs.get("clip_min", -INF) != -INF
                or self.attrs.get("clip_max", INF) != INF)


class Graph:
    def __init__(self, channels: int, height: int, width: int, input_name: str = "input"):
        self.channels, self.height, self.width = channels, height, width
        self.values = {}
        self.nodes = []
        self.input = input_name
        self.values[input_name] = Value(input_name, (1, height, width, channels), None, input_name)
        self.output = None
        self.output_name = "logits"   # the file's name of the output tensor
        self._uid = 0

    # ------------------------------------------------------------------ building
    def fresh(self, base: str) -> str:
        while True:
            self._uid += 1
            name = f"{base}#{self._uid}"
            if name not in self.values:
                return name

    def add(self, op: str, inputs, shape, attrs=None, weight=None, bias=None, sources=(), onnx=None,
            out=None, nchw_flat=None, affine=None, at=None) -> str:
        """Appends (or inserts before node index `at`) a node; returns its output value's name."""
        if op not in OP_NAMES:
            raise GraphError(f"{op!r} is not a format op")
        for v in inputs:
            if v not in self.values:
                raise GraphError(f"node {op}: unknown input value {v!r}")
        out = out or self.fresh(onnx or op.lower())
        node = Node(op, list(inputs), out, dict(attrs or {}), weight, bias, list(sources), affine=affine)
        self.values[out] = Value(out, tuple(int(d) for d in shape), node, onnx, nchw_flat)
        if at is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(at, node)
        return out

    # ------------------------------------------------------------------ queries
    def shape(self, v: str) -> tuple:
        return self.values[v].shape

    def producer(self, v: str) -> Node | None:
        return self.values[v].producer

    def consumers(self, v: str) -> list:
        return [n for n in self.nodes if v in n.inputs]

    def uses(self, v: str) -> int:
        """How many reads of v: by nodes, plus one if it is the graph output."""
        return sum(n.inputs.count(v) for n in self.nodes) + (1 if v == self.output else 0)

    def node_named(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def find(self, name: str) -> Node:
        """A node by its layer name (`conv7`, what roentgen-convert prints), or by the name of an
        ONNX node folded into it (e.g. '/features/features.38/MaxPool'), or by an ONNX tensor."""
        for n in self.nodes:
            if n.name == name:
                return n
        for n in self.nodes:
            if name in n.sources:
                return n
        for n in self.nodes:
            if self.values[n.output].onnx == name:
                return n
        raise KeyError(name)

    def layer_names(self) -> list:
        return [n.name for n in self.nodes]

    def tensor_name(self, v: str) -> str:
        """The file's name of value v: `input`, the output name, or the producing layer's name."""
        if v == self.input:
            return "input"
        if v == self.output:
            return self.output_name
        return self.values[v].producer.name

    # ------------------------------------------------------------------ editing
    def replace_uses(self, old: str, new: str):
        for n in self.nodes:
            n.inputs = [new if v == old else v for v in n.inputs]
        if self.output == old:
            self.output = new

    def remove(self, node: Node):
        self.nodes.remove(node)
        if self.values.get(node.output) is not None and self.values[node.output].producer is node:
            del self.values[node.output]

    def absorb(self, keep: Node, gone: Node):
        """`gone` (whose input is keep's output) is merged into `keep`: keep now produces gone's
        output value, and keep's old output value disappears."""
        old = keep.output
        keep.output = gone.output
        self.values[gone.output].producer = keep
        keep.sources.extend(gone.sources)
        self.nodes.remove(gone)
        self.values.pop(old, None)

    def prune(self):
        """Removes every node the output does not depend on."""
        needed = {self.output}
        for n in reversed(self.nodes):
            if n.output in needed:
                needed.update(n.inputs)
        for n in [n for n in self.nodes if n.output not in needed]:
            self.remove(n)

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def assign_names(self):
        """Readable unique layer names, numbered per prefix in graph order."""
        counters = {}
        taken = set()
        for n in self.nodes:
            prefix = FUNCTION_PREFIX.get(n.function) if n.op == "ACTIVATION" else NAME_PREFIX[n.op]
            if n.affine is not None:
                prefix = "affine"
            while True:
                counters[prefix] = counters.get(prefix, 0) + 1
                name = f"{prefix}{counters[prefix]}"
                if name not in taken:
                    break
            n.name = name
            taken.add(name)

    def check(self):
        """Topological order and value bookkeeping (a pass bug must not become a wrong file)."""
        seen = {self.input}
        for n in self.nodes:
            for v in n.inputs:
                if v not in seen:
                    raise GraphError(f"{n.describe()}: reads {v!r} before it is computed")
            if self.values[n.output].producer is not n:
                raise GraphError(f"{n.describe()}: its output {n.output!r} names another producer")
            seen.add(n.output)
        if self.output not in seen:
            raise GraphError(f"the graph output {self.output!r} is computed by no node")

    def summary(self) -> str:
        lines = []
        for n in self.nodes:
            ins = ", ".join(f"{self.tensor_name(v)}{list(self.shape(v))}" for v in n.inputs)
            lines.append(f"{n.name:<12} {n.op:<10} {ins} -> {list(self.shape(n.output))}")
        return "\n".join(lines)
