"""Graph simplifications, each exact in float arithmetic (up to the rounding of folded weights).

`optimize` runs them in order:
1. fold_affine: a BatchNormalization (or a constant Add / Mul) folds into the CONV2D / DENSE
   producing its input when nothing else reads that output; otherwise it stays a per-channel
   affine (a depthwise 1x1 CONV2D; on a vector a diagonal DENSE).
2. fuse_silu: x * sigmoid(x) becomes one SILU ACTIVATION.
3. fold_pads: a zero PAD before a conv (or an avg pool counting its padding), a -inf PAD before a
   max pool, becomes the consumer's padding where that gives the same windows.
4. move_activation_before_maxpool: f(maxpool(x)) = maxpool(f(x)) for a non-decreasing f (ReLU,
   leaky ReLU with alpha >= 0, clip), so it can fuse into the op before the pool.
5. fuse_activations: ReLU / leaky ReLU / clip into the epilogue of their producer (CONV2D, DENSE;
   ADD / MUL take ReLU and clip) when it has that single consumer; else a standalone ACTIVATION.
6. drop_reshapes: a RESHAPE read only by DENSEs (which read any shape flat) or to the same shape.
Then the unused nodes are removed.
"""
from __future__ import annotations

import numpy as np

from ..fileformat import ops
from .graph import INF, NO_ALPHA, Graph, GraphError, Node

FUSABLE = (ops.FUNCTION_RELU, ops.FUNCTION_LEAKY_RELU, ops.FUNCTION_CLIP)
MAX_CONV_PAD = 1024
MAX_DIAGONAL = 4096  # an unfolded affine on a vector becomes a DENSE of N x N weights


def optimize(g: Graph) -> Graph:
    fold_affine(g)
    materialize_affine(g)
    fuse_silu(g)
    fold_pads(g)
    move_activation_before_maxpool(g)
    fuse_activations(g)
    drop_reshapes(g)
    g.prune()
    g.check()
    return g


def _single_reader(g: Graph, v: str, reader: Node) -> bool:
    """v is read once, by `reader`, and is not the graph output."""
    return g.uses(v) == 1 and v in reader.inputs


# ------------------------------------------------------------------------------ 1. affine

def fold_affine(g: Graph):
    for node in list(g.nodes):
        if node.affine is None:
            continue
        p = g.producer(node.inputs[0])
        if p is None or p.op not in ("CONV2D", "DENSE") or p.has_epilogue() or not _single_reader(g, node.inputs[0], node):
            continue
        scale, shift = node.affine
        if p.affine is not None:  # two affines in a row: compose them
            s0, t0 = p.affine
            p.affine = (s0 * scale, t0 * scale + shift)
        else:
            shape = (-1,) + (1,) * (p.weight.ndim - 1)
            p.weight = (p.weight.astype(np.float64) * scale.reshape(shape)).astype(np.float32)
            p.bias = (p.bias.astype(np.float64) * scale + shift).astype(np.float32)
        g.absorb(p, node)


def materialize_affine(g: Graph):
    """The affines that did not fold become real ops: a depthwise 1x1 CONV2D on a feature map,
    a diagonal DENSE on a vector (y = x * scale + shift, exact in float)."""
    for node in g.nodes:
        if node.affine is None or node.weight is not None:
            continue
        scale, shift = node.affine
        n = len(scale)
        if node.op == "CONV2D":
            node.weight = scale.reshape(n, 1, 1, 1).astype(np.float32)
            node.attrs = dict(kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
                              pad_top=0, pad_left=0, pad_bottom=0, pad_right=0, groups=n,
                              alpha=NO_ALPHA, clip_min=-INF, clip_max=INF)
        else:
            if n > MAX_DIAGONAL:
                raise GraphError(f"ONNX node {node.sources[0]!r}: a per-element scale / shift of a {n}-vector that "
                                 "does not follow a Gemm / MatMul cannot be folded")
            node.weight = np.diag(scale).astype(np.float32)
            node.attrs = dict(alpha=NO_ALPHA, clip_min=-INF, clip_max=INF)
        node.bias = shift.astype(np.float32)


# ------------------------------------------------------------------------------ 2. SiLU

def fuse_silu(g: Graph):
    for s in list(g.nodes):
        if s.function != ops.FUNCTION_SIGMOID:
            continue
        x = s.inputs[0]
        readers = g.consumers(s.output)
        if len(readers) != 1 or g.uses(s.output) != 1:
            continue
        m = readers[0]
        if m.op != "MUL" or sorted(m.inputs) != sorted([x, s.output]) or m.has_epilogue():
            continue
        s.attrs["function"] = ops.FUNCTION_SILU
        g.absorb(s, m)


# ------------------------------------------------------------------------------ 3. pads

def _pool_output(size, k, s, p0, p1, ceil_mode):
    span = size + p0 + p1
    if ceil_mode:
        o = -(-(span - k) // s) + 1
        return o - 1 if (o - 1) * s >= size + p0 else o
    return (span - k) // s + 1


def fold_pads(g: Graph):
    for pad in list(g.nodes):
        if pad.op != "PAD":
            continue
        readers = g.consumers(pad.output)
        if len(readers) != 1 or g.uses(pad.output) != 1:
            continue
        c = readers[0]
        v = pad.attrs["value"]
        sides = ("pad_top", "pad_left", "pad_bottom", "pad_right")
        new = {k: c.attrs.get(k, 0) + pad.attrs[k] for k in sides} if c.op in ("CONV2D", "MAXPOOL2D", "AVGPOOL2D") else None
        if new is None:
            continue
        if c.op == "CONV2D":
            # conv padding is the real value 0, so a zero PAD before it is the same padding
            if v != 0.0 or max(new.values()) > MAX_CONV_PAD:
                continue
        else:
            exact = (v == 0.0 and c.op == "AVGPOOL2D" and c.attrs["count_include_pad"] == 1) or \
                    (v == -INF and c.op == "MAXPOOL2D")
            if not exact or new["pad_top"] >= c.attrs["kernel_h"] or new["pad_bottom"] >= c.attrs["kernel_h"] \
                    or new["pad_left"] >= c.attrs["kernel_w"] or new["pad_right"] >= c.attrs["kernel_w"]:
                continue
            # the same windows: the ceil_mode rule looks at the unpadded size, so check it
            _, h, w, _ = g.shape(pad.inputs[0])
            a = c.attrs
            oh = _pool_output(h, a["kernel_h"], a["stride_h"], new["pad_top"], new["pad_bottom"], a["ceil_mode"])
            ow = _pool_output(w, a["kernel_w"], a["stride_w"], new["pad_left"], new["pad_right"], a["ceil_mode"])
            if (1, oh, ow) != g.shape(c.output)[:3]:
                continue
        c.attrs.update(new)
        c.inputs = [pad.inputs[0] if i == pad.output else i for i in c.inputs]
        c.sources = pad.sources + c.sources
        g.remove(pad)


# ------------------------------------------------------------------------------ 4, 5. activations

def _can_fuse(p: Node, act: Node) -> bool:
    f = act.function
    if f not in FUSABLE:
        return False
    clip_free = p.attrs.get("clip_min", -INF) == -INF and p.attrs.get("clip_max", INF) == INF
    if p.op in ("CONV2D", "DENSE"):
        if f == ops.FUNCTION_CLIP:
            return clip_free
        return clip_free and p.attrs.get("alpha", NO_ALPHA) == NO_ALPHA
    if p.op in ("ADD", "MUL"):
        return f in (ops.FUNCTION_RELU, ops.FUNCTION_CLIP) and clip_free
    return False


def _fuse(g: Graph, p: Node, act: Node):
    f = act.function
    if f == ops.FUNCTION_CLIP:
        p.attrs["clip_min"], p.attrs["clip_max"] = act.attrs["clip_min"], act.attrs["clip_max"]
    elif p.op in ("ADD", "MUL"):  # ReLU as a clip
        p.attrs["clip_min"], p.attrs["clip_max"] = 0.0, INF
    else:
        p.attrs["alpha"] = 0.0 if f == ops.FUNCTION_RELU else act.attrs["alpha"]


def move_activation_before_maxpool(g: Graph):
    for act in list(g.nodes):
        if act.function not in FUSABLE or (act.function == ops.FUNCTION_LEAKY_RELU and act.attrs["alpha"] < 0):
            continue
        pool = g.producer(act.inputs[0])
        if pool is None or pool.op != "MAXPOOL2D" or not _single_reader(g, pool.output, act):
            continue
        p = g.producer(pool.inputs[0])
        if p is None or not _single_reader(g, pool.inputs[0], pool) or not _can_fuse(p, act):
            continue
        _fuse(g, p, act)
        p.sources.extend(act.sources)
        g.values[p.output].onnx = None  # now holds f(x): no ONNX tensor has that value
        old = pool.output
        pool.output = act.output
        g.values[act.output].producer = pool
        g.nodes.remove(act)
        g.values.pop(old, None)


def fuse_activations(g: Graph):
    for act in list(g.nodes):
        if act.op != "ACTIVATION":
            continue
        p = g.producer(act.inputs[0])
        if p is None or not _single_reader(g, act.inputs[0], act) or not _can_fuse(p, act):
            continue
        _fuse(g, p, act)
        g.absorb(p, act)


# ------------------------------------------------------------------------------ 6. reshapes

def drop_reshapes(g: Graph):
    for r in list(g.nodes):
        if r.op != "RESHAPE":
            continue
        x = r.inputs[0]
        readers = g.consumers(r.output)
        same = g.shape(x) == g.shape(r.output) and g.values[x].nchw_flat == g.values[r.output].nchw_flat
        if r.output != g.output and readers and all(n.op == "DENSE" for n in readers) or \
                (same and r.output != g.output):
            for n in readers:
                n.inputs = [x if i == r.output else i for i in n.inputs]
                n.sources = r.sources + n.sources
            g.remove(r)
        else:  # a reshape of a reshape reads the original
            p = g.producer(x)
            if p is not None and p.op == "RESHAPE":
                r.inputs = [p.inputs[0]]


# ------------------------------------------------------------------------------ classifier output

def finish_classifier(g: Graph):
    """The output of a classifier file is [1, classes]: a [1, 1, 1, N] output (a model ending in
    a global pool) gets a RESHAPE; any other feature map is an error."""
    v = g.values[g.output]
    s = v.shape
    if len(s) == 4:
        if s[1] * s[2] != 1:
            raise GraphError(f"the graph output is a feature map {list(s)} (NHWC), not [1, classes]")
        p = v.producer
        g.output = g.add("RESHAPE", [g.output], (1, s[3]), sources=list(p.sources[-1:]) if p else [],
                         onnx=v.onnx)
        v.onnx = None
    elif v.nchw_flat is not None and v.nchw_flat[0] > 1 and v.nchw_flat[1] * v.nchw_flat[2] > 1:
        raise GraphError("the graph output is a flattened feature map (its order differs in NHWC storage)")
    if g.input == g.output:
        raise GraphError("the graph computes nothing")
    return g
