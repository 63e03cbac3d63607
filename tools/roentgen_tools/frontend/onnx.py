"""ONNX as PyTorch exports it (TorchScript and dynamo exporters, opsets 13-20) -> the graph IR.

One handler per ONNX op type (`HANDLERS`) for nodes that compute on the activation, and one
evaluator per op type (`CONSTANT_OPS`) for nodes whose inputs are all constant: exporters compute
'same' padding, reshape targets and the like with Shape / Gather / Concat / ... chains, which are
folded here with the static shapes of the activations.

The IR is NHWC: a 4-D ONNX activation [1, C, H, W] is the IR value [1, H, W, C], a 2-D [1, N] stays
[1, N]. Anything that cannot be represented exactly fails with `node 'NAME' (OpType): ...`; the
importer must never silently produce a different model.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..fileformat import ops
from ..ir.graph import INF, NO_ALPHA, Graph

OPSET_MIN, OPSET_MAX = 13, 20
MAX_CONV_PAD = 1024
F32 = np.float32


class OnnxImportError(ValueError):
    pass


def node_id(node) -> str:
    return f"node {node.name or '<unnamed>'!r} ({node.op_type})"


def attributes(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def load(model_or_path) -> Graph:
    """An ONNX model (path or ModelProto) -> Graph (not yet simplified: see ir.passes.optimize)."""
    if isinstance(model_or_path, onnx.ModelProto):
        model = model_or_path
    else:
        try:
            model = onnx.load(str(model_or_path))
        except FileNotFoundError:
            raise OnnxImportError(f"{model_or_path}: no such file") from None
        except Exception as e:  # protobuf DecodeError and friends
            raise OnnxImportError(f"{model_or_path}: not a readable ONNX model ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())})") from None
    return _Importer(model).run()


# =============================================================================== constants

def _np_dtype(to):
    return onnx.helper.tensor_dtype_to_np_dtype(int(to))


def _int_list(v):
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _axes(imp, node, a, k=1):
    """Axes from input k (opset >= 13 for Squeeze / Unsqueeze, 18 for Reduce*) or the attribute."""
    if len(node.input) > k and node.input[k]:
        return _int_list(imp.const(node.input[k], node))
    return list(a["axes"]) if "axes" in a else None


def _c_shape(imp, node, a):
    return np.asarray(imp.shape_of(node.input[0]), np.int64)


def _c_constant(imp, node, a):
    if "value" in a:
        return numpy_helper.to_array(a["value"])
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                    ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dt)
    raise OnnxImportError(f"{node_id(node)}: only value / value_float(s) / value_int(s) constants are supported")


def _c_slice(imp, node, a, x):
    starts, ends = _int_list(imp.const(node.input[1], node)), _int_list(imp.const(node.input[2], node))
    axes = _int_list(imp.const(node.input[3], node)) if len(node.input) > 3 and node.input[3] else range(len(starts))
    steps = _int_list(imp.const(node.input[4], node)) if len(node.input) > 4 and node.input[4] else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        sl[ax % x.ndim] = slice(s, e, st)  # numpy clamps out-of-range starts / ends like ONNX
    return x[tuple(sl)]


def _c_reshape(imp, node, a, x, shape):
    target = _int_list(shape)
    if not a.get("allowzero", 0):
        target = [x.shape[i] if t == 0 else t for i, t in enumerate(target)]
    return x.reshape(target)


def _c_unsqueeze(imp, node, a, x):
    axes = _axes(imp, node, a)
    out_rank = x.ndim + len(axes)
    for ax in sorted(ax % out_rank for ax in axes):
        x = np.expand_dims(x, ax)
    return x


def _c_squeeze(imp, node, a, x):
    axes = _axes(imp, node, a)
    return np.squeeze(x, axis=None if axes is None else tuple(ax % x.ndim for ax in axes))


def _c_div(imp, node, a, x, y):
    if np.issubdtype(x.dtype, np.integer):
        return (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))).astype(x.dtype)  # C truncation
    return (x / y).astype(x.dtype)


def _c_range(imp, node, a, start, limit, delta):
    return np.arange(start.item(), limit.item(), delta.item()).astype(start.dtype)


def _c_constant_of_shape(imp, node, a, shape):
    v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    return np.full(_int_list(shape), v.reshape(-1)[0], dtype=v.dtype)


def _reduce(fn):
    def f(imp, node, a, x, *rest):
        axes = _axes(imp, node, a)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.ndim))
        return fn(x, axis=tuple(ax % x.ndim for ax in axes), keepdims=keep).astype(x.dtype)
    return f


def _same_dtype(fn):
    return lambda imp, node, a, x, *ys: np.asarray(fn(x, *ys)).astype(x.dtype)


# op type -> evaluator(importer, node, attributes, *input values) for all-constant nodes
CONSTANT_OPS = {
    "Constant": lambda imp, node, a: _c_constant(imp, node, a),
    "Identity": lambda imp, node, a, x: x,
    "Cast": lambda imp, node, a, x: x.astype(_np_dtype(a["to"])),
    "CastLike": lambda imp, node, a, x, like: x.astype(like.dtype),
    "Shape": lambda imp, node, a, x: np.asarray(x.shape, np.int64)[a.get("start", 0):a.get("end", None)],
    "Size": lambda imp, node, a, x: np.asarray(x.size, np.int64),
    "Gather": lambda imp, node, a, x, idx: np.take(x, idx.astype(np.int64), axis=a.get("axis", 0)),
    "ConstantOfShape": _c_constant_of_shape,
    "Slice": lambda imp, node, a, x, *rest: _c_slice(imp, node, a, x),
    "Concat": lambda imp, node, a, *xs: np.concatenate([np.atleast_1d(x) for x in xs], axis=a["axis"]),
    "Transpose": lambda imp, node, a, x: np.transpose(x, a.get("perm")),
    "Unsqueeze": lambda imp, node, a, x, *rest: _c_unsqueeze(imp, node, a, x),
    "Squeeze": lambda imp, node, a, x, *rest: _c_squeeze(imp, node, a, x),
    "Reshape": _c_reshape,
    "Flatten": lambda imp, node, a, x: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1),
    "Expand": lambda imp, node, a, x, shape: x * np.ones(_int_list(shape), x.dtype),
    "Range": _c_range,
    "Add": _same_dtype(np.add), "Sub": _same_dtype(np.subtract), "Mul": _same_dtype(np.multiply),
    "Div": _c_div, "Pow": _same_dtype(np.power), "Neg": _same_dtype(np.negative), "Abs": _same_dtype(np.abs),
    "Sqrt": _same_dtype(np.sqrt), "Floor": _same_dtype(np.floor), "Ceil": _same_dtype(np.ceil),
    "Reciprocal": _same_dtype(np.reciprocal),
    "Max": lambda imp, node, a, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)).astype(xs[0].dtype),
    "Min": lambda imp, node, a, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)).astype(xs[0].dtype),
    "Equal": lambda imp, node, a, x, y: np.equal(x, y), "Less": lambda imp, node, a, x, y: np.less(x, y),
    "Greater": lambda imp, node, a, x, y: np.greater(x, y), "Not": lambda imp, node, a, x: np.logical_not(x),
    "And": lambda imp, node, a, x, y: np.logical_and(x, y), "Or": lambda imp, node, a, x, y: np.logical_or(x, y),
    "Where": lambda imp, node, a, c, x, y: np.where(c, x, y),
    "ReduceProd": _reduce(np.prod), "ReduceSum": _reduce(np.sum), "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
}


# =============================================================================== the importer

class _Importer:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if self.opset is None or not OPSET_MIN <= self.opset <= OPSET_MAX:
            raise OnnxImportError(f"opset {self.opset} is not supported (supported: {OPSET_MIN}-{OPSET_MAX})")
        self.g = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.acts = {}          # ONNX tensor name -> IR value name
        self.softmaxed = {}     # ONNX tensor name -> the Softmax node that produced it

    # ------------------------------------------------------------------ inputs of a node
    def const(self, name, node):
        if name in self.consts:
            return self.consts[name]
        if name in self.acts:
            raise OnnxImportError(f"{node_id(node)}: input {name!r} must be a constant, it is computed from the image")
        raise OnnxImportError(f"{node_id(node)}: input {name!r} is neither an initializer nor computed by an "
                              "earlier node")

    def value(self, name, node) -> str:
        if name in self.softmaxed:
            sm = self.softmaxed[name]
            raise OnnxImportError(f"{node_id(sm)}: Softmax is only supported as the final op (its output feeds "
                                  f"{node_id(node)})")
        return self.acts[name]

    def onnx_shape(self, v: str) -> tuple:
        """The ONNX (NCHW) shape of IR value v."""
        s = self.ir.shape(v)
        return (1, s[3], s[1], s[2]) if len(s) == 4 else tuple(s)

    def shape_of(self, name):
        return self.onnx_shape(self.acts[name])

    # ------------------------------------------------------------------ walk
    def run(self) -> Graph:
        g = self.g
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise OnnxImportError(f"graph must have exactly one non-constant input, found {len(inputs)}")
        if len(g.output) != 1:
            raise OnnxImportError(f"graph must have exactly one output, found {len(g.output)}")
        inp = inputs[0]
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) != 4 or dims[0] not in (None, 1) or dims[1] not in (1, 3) or not dims[2] or not dims[3]:
            raise OnnxImportError(f"input {inp.name!r}: shape {dims} is not NCHW [1 or batch, 1|3, H, W] "
                                  "with static H and W")
        if tt.elem_type != onnx.TensorProto.FLOAT:
            raise OnnxImportError(f"input {inp.name!r}: element type must be float32")
        self.ir = Graph(dims[1], dims[2], dims[3], input_name=inp.name)
        self.acts[inp.name] = inp.name
        for node in g.node:
            self.visit(node)
        out = g.output[0].name
        if out not in self.acts:
            raise OnnxImportError(f"graph output {out!r} does not depend on the input image")
        self.ir.output = self.acts[out]
        self.ir.prune()
        self.ir.check()
        return self.ir

    def visit(self, node):
        if node.domain not in ("", "ai.onnx"):
            raise OnnxImportError(f"{node_id(node)}: operator domain {node.domain!r} is not supported")
        present = [i for i in node.input if i]
        a = attributes(node)
        if not any(i in self.acts for i in present):
            fn = CONSTANT_OPS.get(node.op_type)
            if fn is None:
                raise OnnxImportError(f"{node_id(node)}: cannot evaluate op type {node.op_type!r} on constants")
            try:
                v = fn(self, node, a, *[self.const(i, node) if i else None for i in node.input])
            except OnnxImportError:
                raise
            except Exception as e:
                raise OnnxImportError(f"{node_id(node)}: constant evaluation failed: {e}") from None
            self.consts[node.output[0]] = np.asarray(v)
            return
        if node.op_type == "Shape":  # of an activation: its static shape (batch 1)
            s = np.asarray(self.shape_of(node.input[0]), np.int64)
            self.consts[node.output[0]] = s[a.get("start", 0):a.get("end", None)]
            return
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise OnnxImportError(f"{node_id(node)}: unsupported op type {node.op_type!r}")
        for o in node.output[1:]:
            if o and (any(o in n.input for n in self.g.node) or o in [x.name for x in self.g.output]):
                raise OnnxImportError(f"{node_id(node)}: its secondary output {o!r} is used; not supported")
        out = handler(self, node, a)
        if out is not None:
            self.acts[node.output[0]] = out

    # ------------------------------------------------------------------ helpers for handlers
    def x4(self, node, k=0):
        """The 4-D activation input k: (IR value, (1, C, H, W))."""
        v = self.value(node.input[k], node)
        s = self.onnx_shape(v)
        if len(s) != 4:
            raise OnnxImportError(f"{node_id(node)}: needs a feature map [N, C, H, W], got {list(s)}")
        return v, s

    def add(self, node, op, inputs, shape, **kw):
        kw.setdefault("onnx", node.output[0])
        return self.ir.add(op, inputs, shape, sources=[node.name or node.op_type], **kw)

    def alias(self, node):
        """The output is the input (Dropout, Identity, a Cast to float): a Softmax mark follows it."""
        src = node.input[0]
        if src in self.softmaxed:
            self.softmaxed[node.output[0]] = self.softmaxed[src]
        return self.acts[src]

    def activation(self, node, function, alpha=0.0, beta=0.0, clip_min=-INF, clip_max=INF):
        v = self.value(node.input[0], node)
        val = self.ir.values[v]
        return self.add(node, "ACTIVATION", [v], val.shape, nchw_flat=val.nchw_flat,
                        attrs=dict(function=function, alpha=float(alpha), beta=float(beta),
                                   clip_min=float(clip_min), clip_max=float(clip_max)))

    def reshape_to(self, node, v, target):
        """A reshape of IR value v to the ONNX shape `target`. Allowed where the NHWC storage does
        not change the meaning: between shapes whose NCHW and NHWC orders agree ([1, C] and
        [1, C, 1, 1], ...), and the flatten of a feature map to [1, C*H*W] (a DENSE reading it
        permutes its columns)."""
        src = self.onnx_shape(v)
        val = self.ir.values[v]
        target = tuple(int(t) for t in target)
        if int(np.prod(target)) != int(np.prod(src)):
            raise OnnxImportError(f"{node_id(node)}: cannot reshape {list(src)} to {list(target)}")
        if target == src:
            return v
        if len(target) not in (2, 4) or target[0] != 1:
            raise OnnxImportError(f"{node_id(node)}: reshape of {list(src)} to {list(target)} is not supported "
                                  "(only [1, K] vectors and [1, C, H, W] feature maps)")

        def plain(s, flat):  # NCHW order == NHWC order
            return (len(s) == 2 and flat is None) or (len(s) == 4 and (s[1] == 1 or s[2] * s[3] == 1))

        if plain(src, val.nchw_flat) and plain(target, None):
            shape = (1, target[2], target[3], target[1]) if len(target) == 4 else target
            return self.add(node, "RESHAPE", [v], shape)
        if len(src) == 4 and target == (1, src[1] * src[2] * src[3]):
            return self.add(node, "RESHAPE", [v], target, nchw_flat=src[1:])
        if len(src) == 2 and val.nchw_flat is not None and target == (1,) + tuple(val.nchw_flat):
            c, h, w = val.nchw_flat
            return self.add(node, "RESHAPE", [v], (1, h, w, c))
        raise OnnxImportError(f"{node_id(node)}: reshape of {list(src)} to {list(target)} changes the order of "
                              "the elements in memory (the runtime stores NHWC); only a flatten to [N, -1] "
                              "and reshapes between [1, C] and [1, C, 1, 1] are supported")


# =============================================================================== geometry

def _window_pads(node, a, hw, k, strides, dilations):
    """(top, left, bottom, right) from `pads` or `auto_pad`."""
    mode = _text(a.get("auto_pad", "NOTSET"))
    if mode == "NOTSET":
        p = list(a.get("pads", (0, 0, 0, 0)))
        if len(p) != 4:
            raise OnnxImportError(f"{node_id(node)}: pads {p} must have 4 values (2-D)")
        if min(p) < 0:
            raise OnnxImportError(f"{node_id(node)}: negative pads {p} are not supported")
        return p[0], p[1], p[2], p[3]
    if mode == "VALID":
        return 0, 0, 0, 0
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise OnnxImportError(f"{node_id(node)}: auto_pad={mode!r} is not supported")
    begin, end = [], []
    for size, kk, s, d in zip(hw, k, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (kk - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if mode == "SAME_UPPER" else large)
        end.append(large if mode == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def window_output(size, k, s, d, p0, p1, ceil_mode) -> int | None:
    """SPEC "Window geometry" for one axis; None if the kernel is larger than the padded input."""
    span, keff = size + p0 + p1, d * (k - 1) + 1
    if span < keff:
        return None
    if ceil_mode:
        o = -(-(span - keff) // s) + 1
        if (o - 1) * s >= size + p0:
            o -= 1
        return o
    return (span - keff) // s + 1


def _window(node, a, shape, k, pool):
    """Common attributes of Conv / MaxPool / AveragePool -> (attrs, OH, OW)."""
    _, _, h, w = shape
    if len(k) != 2:
        raise OnnxImportError(f"{node_id(node)}: kernel {list(k)} is not 2-D")
    strides = tuple(a.get("strides", (1, 1)))
    dil = tuple(a.get("dilations", (1, 1)))
    if len(strides) != 2 or min(strides) < 1:
        raise OnnxImportError(f"{node_id(node)}: strides {list(strides)} are not supported")
    if len(dil) != 2 or min(dil) < 1:
        raise OnnxImportError(f"{node_id(node)}: dilations {list(dil)} are not supported")
    if pool and dil != (1, 1):
        raise OnnxImportError(f"{node_id(node)}: dilations={list(dil)} are not supported for pools (only 1)")
    pt, pl, pb, pr = _window_pads(node, a, (h, w), k, strides, dil)
    ceil_mode = int(a.get("ceil_mode", 0)) if pool else 0
    if pool and (pt >= k[0] or pb >= k[0] or pl >= k[1] or pr >= k[1]):
        raise OnnxImportError(f"{node_id(node)}: pads {[pt, pl, pb, pr]} must be smaller than the kernel {list(k)}")
    if not pool and max(pt, pl, pb, pr) > MAX_CONV_PAD:
        raise OnnxImportError(f"{node_id(node)}: pads {[pt, pl, pb, pr]} exceed {MAX_CONV_PAD}")
    oh = window_output(h, k[0], strides[0], dil[0], pt, pb, ceil_mode)
    ow = window_output(w, k[1], strides[1], dil[1], pl, pr, ceil_mode)
    if oh is None or ow is None:
        raise OnnxImportError(f"{node_id(node)}: kernel {list(k)} is larger than the padded input {[h, w]}")
    attrs = dict(kernel_h=int(k[0]), kernel_w=int(k[1]), stride_h=int(strides[0]), stride_w=int(strides[1]),
                 pad_top=int(pt), pad_left=int(pl), pad_bottom=int(pb), pad_right=int(pr))
    if pool:
        attrs["ceil_mode"] = ceil_mode
    else:
        attrs.update(dilation_h=int(dil[0]), dilation_w=int(dil[1]))
    return attrs, oh, ow


# =============================================================================== handlers

def h_conv(imp, node, a):
    x, (_, c, h, w) = imp.x4(node)
    wt = np.asarray(imp.const(node.input[1], node), dtype=np.float32)
    if wt.ndim != 4:
        raise OnnxImportError(f"{node_id(node)}: only 2-D convolution is supported (weight {list(wt.shape)})")
    oc, icg, kh, kw = wt.shape
    groups = int(a.get("group", 1))
    if groups < 1 or icg * groups != c or oc % groups:
        raise OnnxImportError(f"{node_id(node)}: weight {list(wt.shape)} with group={groups} does not fit "
                              f"{c} input channels")
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != (kh, kw):
        raise OnnxImportError(f"{node_id(node)}: kernel_shape {list(a['kernel_shape'])} disagrees with the weight")
    attrs, oh, ow = _window(node, a, (1, c, h, w), (kh, kw), pool=False)
    b = (np.asarray(imp.const(node.input[2], node), dtype=np.float32).reshape(-1)
         if len(node.input) > 2 and node.input[2] else np.zeros(oc, np.float32))
    if b.shape != (oc,):
        raise OnnxImportError(f"{node_id(node)}: bias of shape {list(b.shape)} for {oc} output channels")
    attrs.update(groups=groups, alpha=NO_ALPHA, clip_min=-INF, clip_max=INF)
    return imp.add(node, "CONV2D", [x], (1, oh, ow, oc), attrs=attrs,
                   weight=np.ascontiguousarray(wt.transpose(0, 2, 3, 1)), bias=b)


def _pool(op):
    def handler(imp, node, a):
        x, (_, c, h, w) = imp.x4(node)
        if a.get("storage_order", 0) != 0:
            raise OnnxImportError(f"{node_id(node)}: storage_order={a['storage_order']} is not supported (only 0)")
        attrs, oh, ow = _window(node, a, (1, c, h, w), tuple(a.get("kernel_shape", ())), pool=True)
        if op == "AVGPOOL2D":
            attrs["count_include_pad"] = int(a.get("count_include_pad", 0))
        return imp.add(node, op, [x], (1, oh, ow, c), attrs=attrs)
    return handler


def h_global_average_pool(imp, node, a):
    x, (_, c, _, _) = imp.x4(node)
    return imp.add(node, "MEAN", [x], (1, 1, 1, c))


def h_reduce_mean(imp, node, a):
    x, (_, c, _, _) = imp.x4(node)
    axes = _axes(imp, node, a)
    if not axes or sorted(ax % 4 for ax in axes) != [2, 3]:
        raise OnnxImportError(f"{node_id(node)}: ReduceMean over axes {axes} is not supported (only H and W: [2, 3])")
    if a.get("keepdims", 1):
        return imp.add(node, "MEAN", [x], (1, 1, 1, c))
    y = imp.add(node, "MEAN", [x], (1, 1, 1, c), onnx=None)
    return imp.ir.add("RESHAPE", [y], (1, c), sources=[node.name or node.op_type], onnx=node.output[0])


def _binary(kind):
    """Add / Mul / Sub of two activations (same shape, or a [1, C, 1, 1] broadcast) or of an
    activation and a constant (a per-channel affine, folded into the producer later)."""
    def handler(imp, node, a):
        names = list(node.input[:2])
        acts = [n in imp.acts for n in names]
        if all(acts):
            if kind == "Sub":
                raise OnnxImportError(f"{node_id(node)}: Sub of two activations is not supported")
            va, vb = imp.value(names[0], node), imp.value(names[1], node)
            sa, sb = imp.onnx_shape(va), imp.onnx_shape(vb)
            if sa != sb and len(sb) == 4 and len(sa) == 4 and sa[1] == sb[1] and sa[2] * sa[3] == 1:
                va, vb, sa, sb = vb, va, sb, sa  # the broadcast operand second (both ops commute)
            ok = sa == sb or (len(sa) == 4 and sb == (1, sa[1], 1, 1))
            if not ok:
                raise OnnxImportError(f"{node_id(node)}: shapes {list(sa)} and {list(sb)} are neither equal nor a "
                                      "[1, C, 1, 1] broadcast")
            for v in (va, vb):
                if imp.ir.values[v].nchw_flat is not None:
                    raise OnnxImportError(f"{node_id(node)}: operand is a flattened feature map (stored in NHWC order)")
            op = "ADD" if kind == "Add" else "MUL"
            return imp.add(node, op, [va, vb], imp.ir.shape(va), attrs=dict(clip_min=-INF, clip_max=INF))
        k = acts.index(True)
        if kind == "Sub" and k == 1:
            raise OnnxImportError(f"{node_id(node)}: constant minus activation is not supported")
        v = imp.value(names[k], node)
        cst = np.asarray(imp.const(names[1 - k], node), dtype=np.float64)
        per = _per_channel(imp, node, v, cst)
        if kind == "Mul":
            scale, shift = per, np.zeros_like(per)
        else:
            scale, shift = np.ones_like(per), (per if kind == "Add" else -per)
        return _affine(imp, node, v, scale, shift)
    return handler


def _per_channel(imp, node, v, cst):
    """A constant that broadcasts against v as one value per channel (or per element of a vector)
    -> that vector in the IR's channel order."""
    s = imp.onnx_shape(v)
    n = s[1]
    if cst.size == 1:
        return np.full(n, cst.reshape(-1)[0])
    full = (1,) * (len(s) - cst.ndim) + cst.shape if cst.ndim <= len(s) else None
    want = (1, n) + (1,) * (len(s) - 2)
    if full is None or any(f not in (1, w) for f, w in zip(full, want)) or np.prod(full) != n:
        raise OnnxImportError(f"{node_id(node)}: constant of shape {list(cst.shape)} is not one value per channel "
                              f"of {list(s)}")
    vec = cst.reshape(-1)
    flat = imp.ir.values[v].nchw_flat
    if flat is not None:  # NCHW element order -> the NHWC order the vector is stored in
        c, h, w = flat
        vec = vec.reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
    return vec


def _affine(imp, node, v, scale, shift):
    val = imp.ir.values[v]
    return imp.add(node, "CONV2D" if len(val.shape) == 4 else "DENSE", [v], val.shape,
                   affine=(np.asarray(scale, np.float64), np.asarray(shift, np.float64)), nchw_flat=val.nchw_flat)


def h_batchnorm(imp, node, a):
    if a.get("training_mode", 0):
        raise OnnxImportError(f"{node_id(node)}: training_mode=1 is not supported")
    v = imp.value(node.input[0], node)
    n = imp.onnx_shape(v)[1]
    scale, bias, mean, var = (np.asarray(imp.const(i, node), np.float64).reshape(-1) for i in node.input[1:5])
    if not all(p.size == n for p in (scale, bias, mean, var)):
        raise OnnxImportError(f"{node_id(node)}: parameters do not have {n} channels")
    eps = float(a.get("epsilon", 1e-5))
    # ORT computes sqrt(var + eps) in float32
    f = scale / np.sqrt(var.astype(np.float32) + np.float32(eps)).astype(np.float64)
    if imp.ir.values[v].nchw_flat is not None:
        raise OnnxImportError(f"{node_id(node)}: BatchNormalization of a flattened feature map is not supported")
    return _affine(imp, node, v, f, bias - mean * f)


def h_concat(imp, node, a):
    vs = []
    for name in node.input:
        if name not in imp.acts:
            raise OnnxImportError(f"{node_id(node)}: input {name!r} is a constant; only activations are concatenated")
        vs.append(imp.value(name, node))
    shapes = [imp.onnx_shape(v) for v in vs]
    rank = len(shapes[0])
    if int(a.get("axis", 0)) % rank != 1:
        raise OnnxImportError(f"{node_id(node)}: concatenation along axis {a.get('axis')} is not supported "
                              "(only channels, axis 1)")
    for s, v in zip(shapes, vs):
        if len(s) != rank or s[:1] + s[2:] != shapes[0][:1] + shapes[0][2:]:
            raise OnnxImportError(f"{node_id(node)}: inputs {[list(x) for x in shapes]} differ beyond the channels")
        if imp.ir.values[v].nchw_flat is not None:
            raise OnnxImportError(f"{node_id(node)}: input is a flattened feature map (stored in NHWC order)")
    shape = list(imp.ir.shape(vs[0]))
    shape[-1] = sum(s[1] for s in shapes)
    return imp.add(node, "CONCAT", vs, shape)


def h_relu(imp, node, a):
    return imp.activation(node, ops.FUNCTION_RELU)


def h_leaky(imp, node, a):
    return imp.activation(node, ops.FUNCTION_LEAKY_RELU, alpha=float(F32(a.get("alpha", 0.01))))


def h_clip(imp, node, a):
    lo, hi = a.get("min", -INF), a.get("max", INF)
    if len(node.input) > 1 and node.input[1]:
        lo = float(np.asarray(imp.const(node.input[1], node)).reshape(-1)[0])
    if len(node.input) > 2 and node.input[2]:
        hi = float(np.asarray(imp.const(node.input[2], node)).reshape(-1)[0])
    lo, hi = float(F32(lo)), float(F32(hi))
    if not lo <= hi:
        raise OnnxImportError(f"{node_id(node)}: min {lo} > max {hi}")
    return imp.activation(node, ops.FUNCTION_CLIP, clip_min=lo, clip_max=hi)


def h_hard_sigmoid(imp, node, a):
    return imp.activation(node, ops.FUNCTION_HARD_SIGMOID, alpha=float(F32(a.get("alpha", 0.2))),
                          beta=float(F32(a.get("beta", 0.5))))


def _simple_activation(function):
    return lambda imp, node, a: imp.activation(node, function)


def h_pad(imp, node, a):
    x, shape = imp.x4(node)
    mode = _text(a.get("mode", "constant"))
    if mode != "constant":
        raise OnnxImportError(f"{node_id(node)}: mode {mode!r} is not supported (only constant)")
    pads = _int_list(imp.const(node.input[1], node))
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        cv = np.asarray(imp.const(node.input[2], node)).reshape(-1)
        value = float(cv[0]) if cv.size else 0.0
    axes = list(range(4))
    if len(node.input) > 3 and node.input[3]:
        axes = [ax % 4 for ax in _int_list(imp.const(node.input[3], node))]
    if len(pads) != 2 * len(axes):
        raise OnnxImportError(f"{node_id(node)}: {len(pads)} pads for {len(axes)} axes")
    begin, end = [0] * 4, [0] * 4
    for i, ax in enumerate(axes):
        begin[ax], end[ax] = pads[i], pads[i + len(axes)]
    if begin[:2] != [0, 0] or end[:2] != [0, 0]:
        raise OnnxImportError(f"{node_id(node)}: pads {pads} pad the batch or channel axis (only H and W)")
    if min(begin + end) < 0 or max(begin + end) > MAX_CONV_PAD:
        raise OnnxImportError(f"{node_id(node)}: pads {pads} must be in [0, {MAX_CONV_PAD}]")
    _, c, h, w = shape
    attrs = dict(pad_top=begin[2], pad_left=begin[3], pad_bottom=end[2], pad_right=end[3], value=float(F32(value)))
    return imp.add(node, "PAD", [x], (1, h + begin[2] + end[2], w + begin[3] + end[3], c), attrs=attrs)


def h_flatten(imp, node, a):
    v = imp.value(node.input[0], node)
    s = imp.onnx_shape(v)
    axis = int(a.get("axis", 1))
    axis = axis + len(s) if axis < 0 else axis
    if axis not in (0, 1):  # batch 1: [1, C*H*W] either way
        raise OnnxImportError(f"{node_id(node)}: Flatten axis {a.get('axis')} is not supported (only 1)")
    return imp.reshape_to(node, v, (1, int(np.prod(s))))


def h_reshape(imp, node, a):
    v = imp.value(node.input[0], node)
    s = imp.onnx_shape(v)
    target = _int_list(imp.const(node.input[1], node))
    if not a.get("allowzero", 0):
        target = [s[i] if t == 0 and i < len(s) else t for i, t in enumerate(target)]
    if target.count(-1) == 1:
        known = int(np.prod([t for t in target if t != -1]))
        target = [int(np.prod(s)) // max(known, 1) if t == -1 else t for t in target]
    return imp.reshape_to(node, v, target)


def h_squeeze(imp, node, a):
    v = imp.value(node.input[0], node)
    s = imp.onnx_shape(v)
    axes = _axes(imp, node, a)
    axes = [ax % len(s) for ax in axes] if axes is not None else [i for i, d in enumerate(s) if d == 1]
    if 0 in axes:
        axes.remove(0)  # batch 1 stays
    return imp.reshape_to(node, v, [d for i, d in enumerate(s) if i not in axes])


def h_unsqueeze(imp, node, a):
    v = imp.value(node.input[0], node)
    s = list(imp.onnx_shape(v))
    axes = _axes(imp, node, a)
    rank = len(s) + len(axes)
    for ax in sorted(ax % rank for ax in axes):
        s.insert(ax, 1)
    return imp.reshape_to(node, v, s)


def _dense(imp, node, v, w, b):
    """A DENSE over vector v with weight w [N, K] (K in ONNX order) and bias b [N], float64."""
    val = imp.ir.values[v]
    s = imp.onnx_shape(v)
    if len(s) != 2:
        raise OnnxImportError(f"{node_id(node)}: needs a vector [1, K] input, got {list(s)}; insert a Flatten")
    n, k = w.shape
    if k != s[1]:
        raise OnnxImportError(f"{node_id(node)}: weight expects {k} inputs, the activation has {s[1]}")
    if val.nchw_flat is not None:  # columns in NCHW flatten order (c*H*W + h*W + w); stored NHWC
        c, h, ww = val.nchw_flat
        w = w.reshape(n, c, h, ww).transpose(0, 2, 3, 1).reshape(n, k)
    return imp.add(node, "DENSE", [v], (1, n), attrs=dict(alpha=NO_ALPHA, clip_min=-INF, clip_max=INF),
                   weight=np.ascontiguousarray(w, dtype=np.float32), bias=np.asarray(b, np.float64).astype(np.float32))


def h_gemm(imp, node, a):
    v = imp.value(node.input[0], node)
    if a.get("transA", 0):
        raise OnnxImportError(f"{node_id(node)}: transA={a['transA']} is not supported (only 0)")
    bw = np.asarray(imp.const(node.input[1], node), dtype=np.float64)
    if bw.ndim != 2:
        raise OnnxImportError(f"{node_id(node)}: weight must be 2-D, got {list(bw.shape)}")
    w = (bw if a.get("transB", 0) else bw.T) * float(a.get("alpha", 1.0))
    n = w.shape[0]
    b = np.zeros(n)
    if len(node.input) > 2 and node.input[2]:
        c = np.asarray(imp.const(node.input[2], node), dtype=np.float64)
        if c.size not in (1, n):
            raise OnnxImportError(f"{node_id(node)}: C of shape {list(c.shape)} is not a per-output bias")
        b = np.broadcast_to(c.reshape(-1), (n,)) * float(a.get("beta", 1.0))
    return _dense(imp, node, v, w, b)


def h_matmul(imp, node, a):
    if node.input[1] in imp.acts:
        raise OnnxImportError(f"{node_id(node)}: MatMul of two activations is not supported")
    v = imp.value(node.input[0], node)
    bw = np.asarray(imp.const(node.input[1], node), dtype=np.float64)
    if bw.ndim != 2:
        raise OnnxImportError(f"{node_id(node)}: weight must be 2-D, got {list(bw.shape)}")
    return _dense(imp, node, v, bw.T, np.zeros(bw.shape[1]))


def h_softmax(imp, node, a):
    v = imp.value(node.input[0], node)
    s = imp.onnx_shape(v)
    if len(s) != 2 or int(a.get("axis", -1)) not in (-1, 1):
        raise OnnxImportError(f"{node_id(node)}: Softmax only over the class axis of [1, N]")
    imp.softmaxed[node.output[0]] = node
    return v


def h_dropout(imp, node, a):
    if len(node.input) > 2 and node.input[2]:
        if bool(np.asarray(imp.const(node.input[2], node)).reshape(-1)[0]):
            raise OnnxImportError(f"{node_id(node)}: training_mode=True is not supported")
    return imp.alias(node)


def h_cast(imp, node, a):
    if int(a["to"]) != onnx.TensorProto.FLOAT:
        raise OnnxImportError(f"{node_id(node)}: cast of an activation to {onnx.TensorProto.DataType.Name(a['to'])}")
    return imp.alias(node)


HANDLERS = {
    "Conv": h_conv,
    "MaxPool": _pool("MAXPOOL2D"),
    "AveragePool": _pool("AVGPOOL2D"),
    "GlobalAveragePool": h_global_average_pool,
    "ReduceMean": h_reduce_mean,
    "Add": _binary("Add"),
    "Sub": _binary("Sub"),
    "Mul": _binary("Mul"),
    "Concat": h_concat,
    "BatchNormalization": h_batchnorm,
    "Relu": h_relu,
    "LeakyRelu": h_leaky,
    "Clip": h_clip,
    "HardSwish": _simple_activation(ops.FUNCTION_HARD_SWISH),
    "HardSigmoid": h_hard_sigmoid,
    "Sigmoid": _simple_activation(ops.FUNCTION_SIGMOID),
    "Tanh": _simple_activation(ops.FUNCTION_TANH),
    "Pad": h_pad,
    "Flatten": h_flatten,
    "Reshape": h_reshape,
    "Squeeze": h_squeeze,
    "Unsqueeze": h_unsqueeze,
    "Gemm": h_gemm,
    "MatMul": h_matmul,
    "Softmax": h_softmax,
    "Dropout": h_dropout,
    "Identity": lambda imp, node, a: imp.alias(node),
    "Cast": h_cast,
}
