"""ONNX (opset 13-17, as PyTorch exports it) -> a straight list of conv / pool / dense layers.

The runtime only knows a linear chain, so the importer walks the graph from its input, one
consumer at a time, folding BatchNormalization and activations into the conv/dense before them.
Anything it cannot represent exactly raises ImportError_ naming the node: it must never
silently produce a different model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

OPSET_MIN, OPSET_MAX = 13, 17
# Nodes that only compute constants (the x.view(x.size(0), -1) shape chain).
CONST_OPS = {"Constant", "Shape", "Gather", "Unsqueeze", "Concat", "Cast", "Squeeze", "Slice"}


class OnnxImportError(ValueError):
    pass


@dataclass
class Layer:
    kind: str                       # "conv" | "pool" | "dense"
    name: str                       # readable, e.g. "conv1"; tensors are named after it
    out_shape: tuple                # NHWC [1, H, W, C] or [1, N]
    w: np.ndarray | None = None     # conv [OC, KH, KW, IC], dense [N, K] (K in NHWC order)
    b: np.ndarray | None = None
    kernel: tuple = (0, 0)
    stride: tuple = (0, 0)
    pads: tuple = (0, 0, 0, 0)      # top, left, bottom, right
    alpha: float | None = None      # None: no activation; 0.0: ReLU; else leaky ReLU slope
    sources: list = field(default_factory=list)  # ONNX node names folded into this layer


@dataclass
class Network:
    channels: int
    height: int
    width: int
    layers: list
    input_name: str = "input"
    output_name: str = "output"


def _node_id(node) -> str:
    return f"node {node.name or '<unnamed>'!r} ({node.op_type})"


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def load(model_or_path) -> Network:
    model = model_or_path if isinstance(model_or_path, onnx.ModelProto) else onnx.load(str(model_or_path))
    return _Importer(model).run()


class _Importer:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        g = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if opset is None or not OPSET_MIN <= opset <= OPSET_MAX:
            raise OnnxImportError(f"opset {opset} is not supported (supported: {OPSET_MIN}-{OPSET_MAX})")
        for o in model.opset_import:
            if o.domain not in ("", "ai.onnx"):
                raise OnnxImportError(f"operator domain {o.domain!r} is not supported")
        self.g = g
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.producer = {}
        self.consumers = {}
        for n in g.node:
            for o in n.output:
                if o:
                    self.producer[o] = n
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.shapes = {}      # activation name -> static NCHW / [N, K] shape
        self.used = set()     # ids of nodes folded into the chain or evaluated as constants
        self.counters = {}

    # ---------------------------------------------------------------- constants
    def const(self, name, node):
        """Value of a constant input (initializer, Constant node or shape subgraph)."""
        if name in self.consts:
            return self.consts[name]
        if name in self.shapes:
            raise OnnxImportError(f"{_node_id(node)}: input {name!r} must be constant, it is an activation")
        p = self.producer.get(name)
        if p is None:
            raise OnnxImportError(f"{_node_id(node)}: input {name!r} is neither an initializer nor produced by a node")
        if p.op_type not in CONST_OPS and not (p.op_type == "Identity" and p.input[0] not in self.shapes):
            raise OnnxImportError(f"{_node_id(node)}: input {name!r} must be constant, but it comes from "
                                  f"{_node_id(p)}")
        a = _attrs(p)
        t = p.op_type
        if t == "Constant":
            if "value" not in a:
                raise OnnxImportError(f"{_node_id(p)}: only the 'value' attribute is supported")
            v = numpy_helper.to_array(a["value"])
        elif t == "Identity":  # exporters route shared weights through Identity
            v = self.const(p.input[0], p)
        elif t == "Shape":
            src = p.input[0]
            if src in self.shapes:
                shp = self.shapes[src]
            else:
                shp = self.const(src, p).shape
            v = np.asarray(shp, dtype=np.int64)
            start, end = a.get("start", 0), a.get("end", None)
            v = v[start:end]
        elif t == "Gather":
            v = np.take(self.const(p.input[0], p), self.const(p.input[1], p), axis=a.get("axis", 0))
        elif t == "Unsqueeze":
            v = self.const(p.input[0], p)
            axes = self.const(p.input[1], p) if len(p.input) > 1 else a.get("axes")
            for ax in sorted(int(x) % (v.ndim + len(axes)) for x in axes):
                v = np.expand_dims(v, ax)
        elif t == "Squeeze":
            v = self.const(p.input[0], p)
            axes = self.const(p.input[1], p) if len(p.input) > 1 and p.input[1] else None
            v = np.squeeze(v, axis=None if axes is None else tuple(int(x) for x in axes))
        elif t == "Concat":
            v = np.concatenate([np.atleast_1d(self.const(i, p)) for i in p.input], axis=a.get("axis", 0))
        elif t == "Cast":
            to = a["to"]
            v = self.const(p.input[0], p).astype(onnx.helper.tensor_dtype_to_np_dtype(to))
        elif t == "Slice":
            v = self.const(p.input[0], p)
            starts, ends = self.const(p.input[1], p), self.const(p.input[2], p)
            axes = self.const(p.input[3], p) if len(p.input) > 3 and p.input[3] else range(len(starts))
            steps = self.const(p.input[4], p) if len(p.input) > 4 and p.input[4] else [1] * len(starts)
            sl = [slice(None)] * v.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            v = v[tuple(sl)]
        else:  # pragma: no cover - CONST_OPS is exhaustive above
            raise OnnxImportError(f"{_node_id(p)}: cannot evaluate")
        self.used.add(id(p))
        self.consts[name] = v
        return v

    # ---------------------------------------------------------------- walk
    def new_name(self, kind):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{kind}{self.counters[kind]}"

    def run(self) -> Network:
        g = self.g
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise OnnxImportError(f"graph must have exactly one non-constant input, found {len(inputs)}")
        if len(g.output) != 1:
            raise OnnxImportError(f"graph must have exactly one output, found {len(g.output)}")
        inp = inputs[0]
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) != 4 or dims[0] not in (None, 1) or dims[1] not in (1, 3) \
                or not dims[2] or not dims[3]:
            raise OnnxImportError(f"input {inp.name!r}: shape {dims} is not NCHW [1 or batch, 1|3, H, W] "
                                  "with static H and W")
        if tt.elem_type != onnx.TensorProto.FLOAT:
            raise OnnxImportError(f"input {inp.name!r}: element type must be float32")
        # the g.input entries for initializers (old exporters) are not activations
        self.input_shape = (1, dims[1], dims[2], dims[3])
        cur = inp.name
        self.shapes[cur] = self.input_shape
        layers = []
        flat_from = None  # NCHW (C, H, W) of the feature map a Flatten/Reshape turned into a vector
        out_name = g.output[0].name
        ended = False
        fold = None      # conv/dense whose raw output `cur` still is (BN, bias, activation fold into it)
        pool_src = None  # conv whose output went straight into the MaxPool that produced `cur`
        while True:
            cons = [n for n in self.consumers.get(cur, []) if n.op_type != "Shape"]
            for n in self.consumers.get(cur, []):
                if n.op_type == "Shape":
                    self.used.add(id(n))
            if cur == out_name:
                if cons:
                    raise OnnxImportError(f"graph output {cur!r} is also consumed by {_node_id(cons[0])}")
                break
            if ended and cons and cons[0].op_type not in ("Identity", "Dropout"):
                raise OnnxImportError(f"{_node_id(self.softmax)}: Softmax is only supported as the final op")
            if len(cons) != 1:
                if not cons:
                    raise OnnxImportError(f"activation {cur!r} is consumed by no node and is not the graph output")
                names = ", ".join(_node_id(n) for n in cons)
                raise OnnxImportError(f"branching graph: activation {cur!r} feeds {names}; only chains are supported")
            node = cons[0]
            self.used.add(id(node))
            acts = [i for i in node.input if i and i in self.shapes]
            if len(acts) != 1 or node.input[0] != cur:
                raise OnnxImportError(f"{_node_id(node)}: must take the running activation as its first and "
                                      "only non-constant input")
            for o in node.output[1:]:
                if o and o in self.consumers or o == out_name:
                    raise OnnxImportError(f"{_node_id(node)}: secondary output {o!r} is used; not supported")
            a = _attrs(node)
            t = node.op_type
            shape = self.shapes[cur]
            new_shape = shape
            if t == "Conv":
                if len(shape) != 4:
                    raise OnnxImportError(f"{_node_id(node)}: Conv on a non-4D activation {shape}")
                layer, new_shape = self.conv(node, a, shape)
                layers.append(layer)
                fold, pool_src = layer, None
            elif t == "MaxPool":
                if len(shape) != 4:
                    raise OnnxImportError(f"{_node_id(node)}: MaxPool on a non-4D activation {shape}")
                layer, new_shape = self.pool(node, a, shape)
                layers.append(layer)
                pool_src = fold if fold is not None and fold.kind == "conv" else None
                fold = None
            elif t in ("Gemm", "MatMul"):
                if len(shape) != 2:
                    raise OnnxImportError(f"{_node_id(node)}: {t} needs a flattened [1, K] input, got {shape}; "
                                          "insert Flatten")
                layer, new_shape = self.dense(node, a, shape, flat_from)
                flat_from = None
                layers.append(layer)
                fold, pool_src = layer, None
            elif t == "Add":
                if fold is None or fold.kind != "dense" or fold.alpha is not None:
                    raise OnnxImportError(f"{_node_id(node)}: Add is only supported as the bias of a MatMul/Gemm")
                c = np.asarray(self.const(node.input[1], node), dtype=np.float64)
                n_out = fold.w.shape[0]
                if c.size not in (1, n_out):
                    raise OnnxImportError(f"{_node_id(node)}: bias of shape {c.shape} does not match {n_out} outputs")
                fold.b = (fold.b.astype(np.float64) + np.broadcast_to(c.reshape(-1), (n_out,))).astype(np.float32)
                fold.sources.append(node.name)
            elif t == "BatchNormalization":
                if fold is None or fold.alpha is not None:
                    raise OnnxImportError(f"{_node_id(node)}: BatchNormalization must directly follow a Conv, "
                                          "Gemm or MatMul")
                self.batchnorm(node, a, fold)
            elif t in ("Relu", "LeakyRelu"):
                alpha = 0.0 if t == "Relu" else float(a.get("alpha", 0.01))
                if fold is not None and fold.alpha is None:
                    fold.alpha = alpha
                    fold.sources.append(node.name)
                elif pool_src is not None and pool_src.alpha is None and alpha >= 0:
                    # max(f(a), f(b)) == f(max(a, b)) for monotone f: move the activation before the pool
                    pool_src.alpha = alpha
                    pool_src.sources.append(node.name)
                    pool_src = None
                else:
                    raise OnnxImportError(f"{_node_id(node)}: {t} must directly follow a Conv, Gemm or MatMul "
                                          "(or a MaxPool right after a Conv, with alpha >= 0)")
            elif t in ("Flatten", "Reshape"):
                if t == "Flatten":
                    if a.get("axis", 1) != 1:
                        raise OnnxImportError(f"{_node_id(node)}: Flatten axis {a.get('axis')} unsupported (only 1)")
                else:
                    target_shape = [int(v) for v in np.asarray(self.const(node.input[1], node)).reshape(-1)]
                    total = int(np.prod(shape))
                    if a.get("allowzero", 0) == 0:
                        target_shape = [shape[i] if v == 0 and i < len(shape) else v
                                        for i, v in enumerate(target_shape)]
                    if target_shape.count(-1) == 1:
                        known = int(np.prod([v for v in target_shape if v != -1]))
                        target_shape = [total // max(known, 1) if v == -1 else v for v in target_shape]
                    if target_shape != [1, total]:
                        raise OnnxImportError(f"{_node_id(node)}: Reshape to {target_shape} unsupported; only "
                                              "[N, -1] (flatten) is")
                new_shape, flat_from = self.flatten(shape, flat_from)
                if len(shape) == 4:  # a flatten of a vector is a no-op and keeps the fold target
                    fold = None
                pool_src = None
            elif t in ("Dropout", "Identity"):
                if t == "Dropout" and len(node.input) > 1 and node.input[1]:
                    self.const(node.input[1], node)  # ratio: irrelevant at inference, must be constant
                if t == "Dropout" and len(node.input) > 2 and node.input[2]:
                    if bool(np.asarray(self.const(node.input[2], node)).reshape(-1)[0]):
                        raise OnnxImportError(f"{_node_id(node)}: training_mode=True is not supported")
            elif t == "Softmax":
                axis = a.get("axis", -1)
                if len(shape) != 2 or axis not in (-1, 1):
                    raise OnnxImportError(f"{_node_id(node)}: Softmax only over the class axis of [1, N]")
                self.softmax = node
                ended = True
            else:
                raise OnnxImportError(f"{_node_id(node)}: unsupported op type {t!r}")
            nxt = node.output[0]
            self.shapes[nxt] = tuple(new_shape)
            cur = nxt
        for n in g.node:
            if id(n) not in self.used:
                raise OnnxImportError(f"{_node_id(n)}: not on the input-to-output chain (unsupported graph shape)")
        if not layers:
            raise OnnxImportError("graph has no Conv, MaxPool, Gemm or MatMul layer")
        return Network(self.input_shape[1], self.input_shape[2], self.input_shape[3], layers,
                       inp.name, out_name)

    # ---------------------------------------------------------------- layers
    def flatten(self, shape, flat_from):
        if len(shape) == 4:
            return (1, int(np.prod(shape[1:]))), tuple(shape[1:])
        return shape, flat_from

    def conv(self, node, a, shape):
        w = np.asarray(self.const(node.input[1], node), dtype=np.float32)
        if w.ndim != 4:
            raise OnnxImportError(f"{_node_id(node)}: only 2-D convolution is supported")
        oc, ic, kh, kw = w.shape
        if a.get("group", 1) != 1:
            raise OnnxImportError(f"{_node_id(node)}: group={a['group']} unsupported (only 1)")
        if ic != shape[1]:
            raise OnnxImportError(f"{_node_id(node)}: weight expects {ic} input channels, activation has {shape[1]}")
        self._check_common(node, a, (kh, kw))
        b = (np.asarray(self.const(node.input[2], node), dtype=np.float32).reshape(-1)
             if len(node.input) > 2 and node.input[2] else np.zeros(oc, np.float32))
        strides, pads = tuple(a.get("strides", (1, 1))), a.get("pads", (0, 0, 0, 0))
        pads = (pads[0], pads[1], pads[2], pads[3])  # ONNX: [top, left, bottom, right]
        oh, ow = self._out_hw(node, shape, (kh, kw), strides, pads)
        layer = Layer("conv", self.new_name("conv"), (1, oh, ow, oc), np.ascontiguousarray(w.transpose(0, 2, 3, 1)),
                      b, (kh, kw), strides, pads, None, [node.name])
        return layer, (1, oc, oh, ow)

    def pool(self, node, a, shape):
        k = tuple(a.get("kernel_shape", ()))
        if len(k) != 2:
            raise OnnxImportError(f"{_node_id(node)}: kernel_shape {k} must be 2-D")
        if a.get("ceil_mode", 0) != 0:
            raise OnnxImportError(f"{_node_id(node)}: ceil_mode={a['ceil_mode']} unsupported (only 0)")
        if a.get("storage_order", 0) != 0:
            raise OnnxImportError(f"{_node_id(node)}: storage_order={a['storage_order']} unsupported (only 0)")
        self._check_common(node, a, k)
        strides, pads = tuple(a.get("strides", (1, 1))), tuple(a.get("pads", (0, 0, 0, 0)))
        oh, ow = self._out_hw(node, shape, k, strides, pads)
        c = shape[1]
        return Layer("pool", self.new_name("pool"), (1, oh, ow, c), kernel=k, stride=strides, pads=pads,
                     sources=[node.name]), (1, c, oh, ow)

    def _check_common(self, node, a, k):
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise OnnxImportError(f"{_node_id(node)}: auto_pad={a['auto_pad']!r} unsupported (only NOTSET)")
        if any(d != 1 for d in a.get("dilations", (1, 1))):
            raise OnnxImportError(f"{_node_id(node)}: dilations={list(a['dilations'])} unsupported (only 1)")
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != tuple(k):
            raise OnnxImportError(f"{_node_id(node)}: kernel_shape {a['kernel_shape']} disagrees with weights")
        st = a.get("strides", (1, 1))
        pads = a.get("pads", (0, 0, 0, 0))
        if len(st) != 2 or min(st) < 1:
            raise OnnxImportError(f"{_node_id(node)}: strides {list(st)} unsupported")
        if len(pads) != 4 or min(pads) < 0:
            raise OnnxImportError(f"{_node_id(node)}: pads {list(pads)} unsupported")
        if pads[0] >= k[0] or pads[2] >= k[0] or pads[1] >= k[1] or pads[3] >= k[1]:
            raise OnnxImportError(f"{_node_id(node)}: pads {list(pads)} must be smaller than the kernel {list(k)}")

    def _out_hw(self, node, shape, k, s, p):
        nh = shape[2] + p[0] + p[2] - k[0]
        nw = shape[3] + p[1] + p[3] - k[1]
        if nh < 0 or nw < 0:
            raise OnnxImportError(f"{_node_id(node)}: kernel {list(k)} larger than the padded input {shape}")
        return nh // s[0] + 1, nw // s[1] + 1

    def dense(self, node, a, shape, flat_from):
        k = shape[1]
        bw = np.asarray(self.const(node.input[1], node), dtype=np.float64)
        if bw.ndim != 2:
            raise OnnxImportError(f"{_node_id(node)}: weight must be 2-D, got {bw.shape}")
        if node.op_type == "Gemm":
            if a.get("transA", 0) != 0:
                raise OnnxImportError(f"{_node_id(node)}: transA={a['transA']} unsupported (only 0)")
            w = bw if a.get("transB", 0) else bw.T            # -> [N, K]
            w = w * a.get("alpha", 1.0)
            n = w.shape[0]
            if len(node.input) > 2 and node.input[2]:
                c = np.asarray(self.const(node.input[2], node), dtype=np.float64)
                if c.size not in (1, n):
                    raise OnnxImportError(f"{_node_id(node)}: C of shape {c.shape} is not a per-output bias")
                b = np.broadcast_to(c.reshape(-1), (n,)) * a.get("beta", 1.0)
            else:
                b = np.zeros(n)
        else:
            w = bw.T
            n = w.shape[0]
            b = np.zeros(n)
        if w.shape[1] != k:
            raise OnnxImportError(f"{_node_id(node)}: weight expects {w.shape[1]} inputs, activation has {k}")
        if flat_from is not None:
            # columns come in NCHW flatten order (c*H*W + h*W + w); the runtime stores NHWC
            c_, h_, w_ = flat_from
            w = w.reshape(n, c_, h_, w_).transpose(0, 2, 3, 1).reshape(n, k)
        layer = Layer("dense", self.new_name("dense"), (1, n), np.ascontiguousarray(w, dtype=np.float32),
                      b.astype(np.float32), sources=[node.name])
        return layer, (1, n)

    def batchnorm(self, node, a, layer):
        if a.get("training_mode", 0):
            raise OnnxImportError(f"{_node_id(node)}: training_mode=1 unsupported")
        if len([o for o in node.output if o]) != 1:
            raise OnnxImportError(f"{_node_id(node)}: training outputs (running mean/var) unsupported")
        scale, bias, mean, var = (np.asarray(self.const(i, node), dtype=np.float64).reshape(-1) for i in node.input[1:5])
        n = layer.w.shape[0]
        if not all(v.size == n for v in (scale, bias, mean, var)):
            raise OnnxImportError(f"{_node_id(node)}: parameters do not have {n} channels")
        eps = float(a.get("epsilon", 1e-5))
        # BN computes in float32 in ORT: y = (x - mean) / sqrt(var + eps) * scale + bias
        f = scale / np.sqrt(var.astype(np.float32) + np.float32(eps)).astype(np.float64)
        shape = (n,) + (1,) * (layer.w.ndim - 1)
        layer.w = (layer.w.astype(np.float64) * f.reshape(shape)).astype(np.float32)
        layer.b = ((layer.b.astype(np.float64) - mean) * f + bias).astype(np.float32)
        layer.sources.append(node.name)
