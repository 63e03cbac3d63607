"""Approach A's deployable model: a feature CNN cut at a named layer + a linear SVM head.

SPEC.md "SVM head": the SVM is one DENSE op after the feature tensor (int8 files: DENSE
int8 -> f32, so the output is the dequantized int32 decision values; f32 files: DENSE f32), and
INPUT.output_kind = 1. A global max pool ("pooled" features) is a MAXPOOL2D whose kernel is the
whole feature map. Feature standardisation is folded into the SVM weights in float64.

The fitted SVM travels from roentgen-train to roentgen-convert as an .npz (``save_svm``):
``weight`` [classes, K] and ``bias`` [classes] (float64, already folded, columns in the NHWC
order the runtime flattens), ``labels``, ``layer``, ``pool``, ``features_sha256`` and free-text
``info``.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from . import __version__
from .fileformat.rtg import OUTPUT_SVM
from .frontend.onnx_import import Layer, Network, load

F32 = np.float32
POOLS = ("flatten", "max")


class SvmHeadError(ValueError):
    pass


def layer_names(net: Network):
    return [L.name for L in net.layers]


def find_layer(net: Network, name: str) -> int:
    """A converter layer name (conv1.., pool1.., dense1.. - what `roentgen-convert` prints) or
    the name of an ONNX node folded into it (e.g. '/features/features.38/MaxPool')."""
    for i, L in enumerate(net.layers):
        if L.name == name:
            return i
    for i, L in enumerate(net.layers):
        if name in L.sources:
            return i
    raise SvmHeadError(f"layer {name!r} not found; layers: {', '.join(layer_names(net))}")


def feature_layers(net: Network, idx: int, pool: str):
    """Layers of the feature extractor: net.layers[:idx+1], plus a global max pool if asked."""
    if pool not in POOLS:
        raise SvmHeadError(f"pool must be one of {POOLS}, not {pool!r}")
    if idx >= len(net.layers) - 1:
        raise SvmHeadError(f"layer {net.layers[idx].name!r} is the classifier output; cut before it")
    layers = list(net.layers[:idx + 1])
    shape = layers[-1].out_shape
    if pool == "max":
        if len(shape) != 4:
            raise SvmHeadError(f"--pool max needs a feature map, layer {layers[-1].name!r} is a vector {shape}")
        _, h, w, c = shape
        layers.append(Layer("pool", "global_maxpool", (1, 1, 1, c), kernel=(h, w), stride=(1, 1),
                            pads=(0, 0, 0, 0), sources=["global max pool (SVM features)"]))
    return layers


def feature_dim(layers) -> int:
    return int(np.prod(layers[-1].out_shape[1:]))


def fold_scaler(coef, intercept, mean, scale):
    """SVM on standardised features z = (f - mean) / scale  ->  weights on raw features (float64):
    w' = w / scale, b' = b - sum(w * mean / scale)."""
    coef = np.asarray(coef, np.float64)
    scale = np.where(np.asarray(scale, np.float64) > 0, np.asarray(scale, np.float64), 1.0)
    w = coef / scale[None, :]
    b = np.asarray(intercept, np.float64) - w @ np.asarray(mean, np.float64)
    return w, b


def save_svm(path, weight, bias, labels, layer, pool, features_path, info=None):
    with open(features_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    np.savez(path, weight=np.asarray(weight, np.float64), bias=np.asarray(bias, np.float64),
             labels=np.array(list(labels)), layer=np.array(layer), pool=np.array(pool),
             features_sha256=np.array(sha), info=np.array(json.dumps(info or {})))


def load_svm(path):
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    for k in ("weight", "bias", "labels", "layer", "pool"):
        if k not in d:
            raise SvmHeadError(f"{path}: not an SVM file (no {k!r})")
    return {"weight": d["weight"].astype(np.float64), "bias": d["bias"].astype(np.float64),
            "labels": [str(s) for s in d["labels"]], "layer": str(d["layer"]), "pool": str(d["pool"]),
            "features_sha256": str(d.get("features_sha256", "")), "info": str(d.get("info", "{}"))}


def svm_network(net: Network, layer: str, pool: str, weight, bias) -> Network:
    idx = find_layer(net, layer)
    layers = feature_layers(net, idx, pool)
    k = feature_dim(layers)
    weight = np.asarray(weight, np.float64)
    bias = np.asarray(bias, np.float64).reshape(-1)
    if weight.ndim != 2 or weight.shape[1] != k or weight.shape[0] != bias.shape[0]:
        raise SvmHeadError(f"SVM weight {weight.shape} / bias {bias.shape} do not fit {k} features of "
                           f"layer {layer!r} ({pool})")
    if weight.shape[0] < 2:
        raise SvmHeadError("the SVM needs at least 2 classes")
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        raise SvmHeadError("SVM weights are not finite")
    head = Layer("dense", "svm", (1, weight.shape[0]), w=weight.astype(F32), b=bias.astype(F32),
                 sources=["linear SVM"])
    return Network(net.channels, net.height, net.width, layers + [head], net.input_name, "decision_values")


def _finish(model):
    model.input.output_kind = OUTPUT_SVM
    model.tensors[model.input.output_tensor].name = "decision_values"
    return model


def convert_svm(features_onnx, svm_path, precision="int8", calib=None, mean=None, std=None, created=None,
                labels=None):
    """Feature CNN (ONNX) + fitted SVM (.npz) -> one Model whose head is the SVM."""
    from .convert import ConversionError, build_model, created_timestamp
    from .fileformat.rtg import read_bytes, serialize
    from .quant.arith import calibrate, calibration_digest

    if precision not in ("int8", "f32"):
        raise ConversionError(f"--precision must be int8 or f32, not {precision!r}")
    if precision == "int8" and not calib:
        raise ConversionError("--calib DIR is required for --precision int8")
    svm = load_svm(svm_path)
    with open(features_onnx, "rb") as f:
        src = f.read()
    sha = hashlib.sha256(src).hexdigest()
    if svm["features_sha256"] and svm["features_sha256"] != sha:
        raise ConversionError(f"{svm_path} was fitted on features of another model "
                              f"(sha256 {svm['features_sha256'][:12]}..., this is {sha[:12]}...)")
    labels = list(labels) if labels is not None else svm["labels"]
    net = svm_network(load(features_onnx), svm["layer"], svm["pool"], svm["weight"], svm["bias"])
    with open(svm_path, "rb") as f:
        svm_sha = hashlib.sha256(f.read()).hexdigest()
    prov = [("precision", precision), ("source_sha256", sha),
            ("calibration_digest", calibration_digest(calib) if precision == "int8" else "none"),
            ("calibration", "minmax" if precision == "int8" else "none"),
            ("converter_version", __version__), ("created", created_timestamp(created)),
            ("source", os.path.basename(os.fspath(features_onnx))),
            ("head", "linear_svm"), ("svm_source", os.path.basename(os.fspath(svm_path))),
            ("svm_sha256", svm_sha), ("features_layer", svm["layer"]), ("features_pool", svm["pool"])]
    f32_model = _finish(build_model(net, "f32", labels, mean, std, provenance=prov))
    if precision == "f32":
        return f32_model
    ranges = calibrate(read_bytes(serialize(f32_model)), calib)
    return _finish(build_model(net, "int8", labels, mean, std, ranges=ranges, provenance=prov))
