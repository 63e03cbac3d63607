"""Approach A's deployable model: a feature CNN cut at a named layer + a linear SVM (SPEC "SVM head").

The graph is cut at a layer (a converter layer name such as `pool4`, or an ONNX node folded into
it - the graph's last node included, e.g. a feature extractor exported without a head), pruned to
what that layer needs, optionally pooled globally (`max`: a MAXPOOL2D over the whole map, `mean`:
a MEAN), and ends in one DENSE from the feature tensor (read in NHWC order) to the classes. The
lowering makes it DENSE int8 -> f32 in int8 files, and the file's output_kind is 1.

The fitted SVM travels from roentgen-train to roentgen-convert as an .npz (``save_svm``):
``weight`` [classes, K] and ``bias`` [classes] (float64, standardisation already folded, columns
in the NHWC order the DENSE reads), ``labels``, ``layer``, ``pool``, ``features_sha256``, free-text
``info``, and for an ImageNet backbone (``backbones.py``) ``backbone`` and ``size``: the features
are then re-exported from the hash-checked weights at conversion time, so the .npz is the whole
source of the model (with the pip-installed weights).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .ir.graph import INF, NO_ALPHA, Graph

F32 = np.float32
POOLS = ("flatten", "max", "mean")
OUTPUT_NAME = "decision_values"


class SvmHeadError(ValueError):
    pass


def find_layer(graph: Graph, name: str):
    try:
        return graph.find(name)
    except KeyError:
        raise SvmHeadError(f"layer {name!r} not found; layers: {', '.join(graph.layer_names())}") from None


def feature_graph(graph: Graph, layer: str, pool: str) -> Graph:
    """A copy of `graph` whose output is the feature tensor: the layer's output, or its global
    max / mean pool."""
    if pool not in POOLS:
        raise SvmHeadError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    node = find_layer(graph, layer)
    g = graph.copy()
    g.output = node.output
    g.prune()
    shape = g.shape(g.output)
    if pool != "flatten":
        if len(shape) != 4:
            raise SvmHeadError(f"--pool {pool} needs a feature map, layer {node.name!r} is a vector {list(shape)}")
        _, h, w, c = shape
        src = [f"global {pool} pool (SVM features)"]
        if pool == "max":
            attrs = dict(kernel_h=h, kernel_w=w, stride_h=1, stride_w=1, pad_top=0, pad_left=0, pad_bottom=0,
                         pad_right=0, ceil_mode=0)
            g.output = g.add("MAXPOOL2D", [g.output], (1, 1, 1, c), attrs=attrs, sources=src)
        else:
            g.output = g.add("MEAN", [g.output], (1, 1, 1, c), sources=src)
        g.nodes[-1].name = f"global_{pool}pool" if pool == "max" else "global_mean"
    return g


def feature_dim(g: Graph) -> int:
    return int(np.prod(g.shape(g.output)[1:]))


def svm_graph(graph: Graph, layer: str, pool: str, weight, bias) -> Graph:
    """The feature graph followed by the SVM's DENSE (`svm`, output `decision_values`)."""
    g = feature_graph(graph, layer, pool)
    k = feature_dim(g)
    weight = np.asarray(weight, np.float64)
    bias = np.asarray(bias, np.float64).reshape(-1)
    if weight.ndim != 2 or weight.shape[1] != k or weight.shape[0] != bias.shape[0]:
        raise SvmHeadError(f"SVM weight {weight.shape} / bias {bias.shape} do not fit {k} features of "
                           f"layer {layer!r} ({pool})")
    if weight.shape[0] < 2:
        raise SvmHeadError("the SVM needs at least 2 classes")
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        raise SvmHeadError("SVM weights are not finite")
    g.output = g.add("DENSE", [g.output], (1, weight.shape[0]), attrs=dict(alpha=NO_ALPHA, clip_min=-INF, clip_max=INF),
                     weight=weight.astype(F32), bias=bias.astype(F32), sources=["linear SVM"])
    g.nodes[-1].name = "svm"
    g.output_name = OUTPUT_NAME
    g.check()
    return g


def feature_tensor(graph: Graph, layer: str):
    """(ONNX tensor name, NCHW shape) holding the layer's output in the source model, for
    extracting training features with ONNX Runtime."""
    node = find_layer(graph, layer)
    v = graph.values[node.output]
    if v.onnx is None:
        raise SvmHeadError(f"layer {node.name!r} has no equivalent ONNX tensor (an activation after a max pool was "
                           "moved before it); cut at the pool instead")
    s = v.shape
    return v.onnx, ((1, s[3], s[1], s[2]) if len(s) == 4 else tuple(s))


def fold_scaler(coef, intercept, mean, scale):
    """SVM on standardised features z = (f - mean) / scale  ->  weights on raw features (float64):
    w' = w / scale, b' = b - sum(w * mean / scale)."""
    coef = np.asarray(coef, np.float64)
    scale = np.where(np.asarray(scale, np.float64) > 0, np.asarray(scale, np.float64), 1.0)
    w = coef / scale[None, :]
    b = np.asarray(intercept, np.float64) - w @ np.asarray(mean, np.float64)
    return w, b


def save_svm(path, weight, bias, labels, layer, pool, features_path, info=None, backbone="", size=0):
    with open(features_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    np.savez(path, weight=np.asarray(weight, np.float64), bias=np.asarray(bias, np.float64),
             labels=np.array(list(labels)), layer=np.array(layer), pool=np.array(pool),
             features_sha256=np.array(sha), info=np.array(json.dumps(info or {})),
             backbone=np.array(backbone), size=np.array(int(size)))


def load_svm(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise SvmHeadError(f"{path}: not an SVM file ({e})") from None
    for k in ("weight", "bias", "labels", "layer", "pool"):
        if k not in d:
            raise SvmHeadError(f"{path}: not an SVM file (no {k!r})")
    return {"weight": d["weight"].astype(np.float64), "bias": d["bias"].astype(np.float64),
            "labels": [str(s) for s in d["labels"]], "layer": str(d["layer"]), "pool": str(d["pool"]),
            "features_sha256": str(d.get("features_sha256", "")), "info": str(d.get("info", "{}")),
            "backbone": str(d.get("backbone", "")), "size": int(d.get("size", 0))}
