"""roentgen-convert: ONNX (or ONNX features + a linear SVM) -> .rtg, f32 or int8.

The pipeline, each step its own module:
    frontend.onnx.load        ONNX -> graph IR (NHWC, format op names)
    ir.passes.optimize        fold BatchNormalization / pads, fuse activations, ...
    svm_head.svm_graph        (approach A) cut at a layer, pool, SVM DENSE
    quant.lower.lower         IR -> f32 Model
    quant.calibration         run the f32 Model over the calibration PNGs, choose ranges
    quant.lower.lower         IR + ranges -> int8 Model (optionally with float layers)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import os
import sys
import tempfile

import numpy as np

from . import __version__
from .fileformat import (Confidence, DT_INT8, DTYPE_NAMES, OUTPUT_LOGITS, OUTPUT_SVM, ROLE_ACTIVATION, ROLE_CONSTANT, Model,
                         read_bytes, serialize, write_atomic)
from .fileformat import ops as optable
from .frontend import onnx as frontend
from .ir import passes
from .ir.graph import Graph
from .quant.calibration import (DEFAULT_PERCENTILE, METHODS as CALIB_METHODS, calibration_digest, calibration_files,
                                choose_ranges, format_report, method_params)
from .quant.bias_correction import correct_biases
from .quant.weight_rounding import WEIGHT_ROUNDINGS, round_weights
from .reference import executor as reference
from .quant.lower import lower
from . import backbones, svm_head


class ConversionError(ValueError):
    pass


def created_timestamp(created: str | None = None) -> str:
    """--created wins, then SOURCE_DATE_EPOCH (reproducible builds), then now; ISO 8601 UTC."""
    if created:
        return created
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
         else _dt.datetime.now(_dt.timezone.utc))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_graph(onnx_path) -> Graph:
    """ONNX -> the simplified, named graph (the layer names roentgen-convert prints)."""
    g = passes.optimize(frontend.load(onnx_path))
    g.assign_names()
    return g


def classifier_graph(onnx_path) -> Graph:
    g = passes.finish_classifier(passes.optimize(frontend.load(onnx_path)))
    g.assign_names()
    return g


def convert(onnx_path, precision="int8", calib=None, labels=None, mean=None, std=None, created=None,
            calib_method="minmax", percentile=DEFAULT_PERCENTILE, float_layers=(), range_scale=None,
            calib_report=None, bias_correction=True, weight_rounding="gptq") -> Model:
    """An ONNX classifier -> Model. `calib_method`: minmax | percentile | entropy. `float_layers`:
    layers kept in float32 (SPEC "Mixed precision"). `calib_report`: a list that receives the
    per-tensor ranges chosen. `range_scale` {tensor: factor} is internal (tests, see
    calibration.choose_ranges). `bias_correction`: int8 biases corrected on the calibration images
    (quant.bias_correction). `weight_rounding`: nearest | gptq (quant.weight_rounding)."""
    _check_precision(precision, calib)
    src = _read(onnx_path)
    graph = classifier_graph(onnx_path)
    prov = _provenance(src, onnx_path, precision, calib, calib_method, percentile, range_scale, created,
                       bias_correction, weight_rounding)
    return build(graph, precision, labels, mean, std, calib, calib_method, percentile, float_layers, range_scale,
                 calib_report, prov, OUTPUT_LOGITS, bias_correction, weight_rounding)


def convert_svm(features_onnx, svm_path, precision="int8", calib=None, mean=None, std=None, created=None,
                labels=None, calib_method="minmax", percentile=DEFAULT_PERCENTILE, float_layers=(),
                range_scale=None, calib_report=None, bias_correction=True, weight_rounding="gptq") -> Model:
    """Feature CNN (ONNX) + fitted SVM (.npz from `roentgen-train svm`) -> one Model whose head is
    the SVM (SPEC "SVM head"). `features_onnx` None: the SVM names an ImageNet backbone, whose
    features are exported here from its hash-checked weights (the provenance's source is then the
    weights file) with its normalization as the default mean / std."""
    _check_precision(precision, calib)
    svm = svm_head.load_svm(svm_path)
    if features_onnx is None:
        if not svm["backbone"]:
            raise ConversionError(f"{svm_path} names no backbone: give its feature model (MODEL.onnx)")
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = os.path.join(tmp, "features.onnx")
            b_mean, b_std = backbones.export_features(svm["backbone"], onnx_path, svm["size"])
            features = load_graph(onnx_path)
        src, where = _read(backbones.weights_path(svm["backbone"])), svm["backbone"]
        mean = mean if mean is not None else [b_mean]
        std = std if std is not None else [b_std]
    else:
        src, where = _read(features_onnx), features_onnx
        sha = hashlib.sha256(src).hexdigest()
        if svm["features_sha256"] and svm["features_sha256"] != sha:
            raise ConversionError(f"{svm_path} was fitted on features of another model "
                                  f"(sha256 {svm['features_sha256'][:12]}..., this is {sha[:12]}...)")
        features = load_graph(features_onnx)
    graph = svm_head.svm_graph(features, svm["layer"], svm["pool"], svm["weight"], svm["bias"])
    prov = _provenance(src, where, precision, calib, calib_method, percentile, range_scale, created,
                       bias_correction, weight_rounding)
    prov += [("head", "linear_svm"), ("svm_source", os.path.basename(os.fspath(svm_path))),
             ("svm_sha256", hashlib.sha256(_read(svm_path)).hexdigest()), ("features_layer", svm["layer"]),
             ("features_pool", svm["pool"])]
    if svm["backbone"] and features_onnx is None:
        prov += [("backbone", svm["backbone"]), ("backbone_license", backbones.get(svm["backbone"]).license)]
    labels = list(labels) if labels is not None else svm["labels"]
    return build(graph, precision, labels, mean, std, calib, calib_method, percentile, float_layers, range_scale,
                 calib_report, prov, OUTPUT_SVM, bias_correction, weight_rounding)


def build(graph, precision, labels, mean, std, calib, calib_method, percentile, float_layers, range_scale,
          calib_report, provenance, output_kind, bias_correction=True, weight_rounding="gptq") -> Model:
    """The lowering half of the pipeline: f32 Model; int8: calibrate it, then the int8 Model."""
    if labels is None:
        labels = [f"class_{i}" for i in range(graph.shape(graph.output)[-1])]
    if float_layers and precision != "int8":
        raise ConversionError("--float-layers needs --precision int8")
    f32_model = lower(graph, "f32", labels, mean, std, provenance=provenance, output_kind=output_kind)
    if precision == "f32":
        return f32_model
    # calibrate on exactly what an f32 file would hold: the model read back through the reader
    f32_read = read_bytes(serialize(f32_model))
    ranges, report = choose_ranges(f32_read, calibration_files(calib)[1], calib_method,
                                   percentile, range_scale)
    if calib_report is not None:
        calib_report.extend(report)
    model = lower(graph, "int8", labels, mean, std, ranges=ranges, float_layers=float_layers,
                  provenance=provenance, output_kind=output_kind)
    inputs = [reference.load_input(f32_read, os.fspath(p)) for p in calibration_files(calib)[1]]
    if weight_rounding == "gptq":  # before the biases: they correct what the weights leave
        round_weights(model, f32_read, inputs)
    if bias_correction:
        correct_biases(model, f32_read, inputs)
    return model


def _check_precision(precision, calib):
    if precision not in ("int8", "f32"):
        raise ConversionError(f"--precision must be int8 or f32, not {precision!r}")
    if precision == "int8" and not calib:
        raise ConversionError("--calib DIR is required for --precision int8")


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _provenance(src, path, precision, calib, method, percentile, range_scale, created, bias_correction=True,
                weight_rounding="gptq"):
    int8 = precision == "int8"
    if int8 and weight_rounding not in WEIGHT_ROUNDINGS:
        raise ConversionError(f"--weight-rounding must be one of {', '.join(WEIGHT_ROUNDINGS)}, not {weight_rounding!r}")
    if int8 and method not in CALIB_METHODS:
        method_params(method)  # raises CalibrationError naming the methods
    prov = [("precision", precision), ("source_sha256", hashlib.sha256(src).hexdigest()),
            ("calibration_digest", calibration_digest(calib) if int8 else "none"),
            ("calibration", method if int8 else "none"),
            ("converter_version", __version__), ("created", created_timestamp(created)),
            ("source", os.path.basename(os.fspath(path)))]
    if int8 and method != "minmax":  # minmax files stay as they always were
        prov.append(("calibration_params", method_params(method, percentile)))
    if int8 and range_scale:
        prov.append(("calibration_range_scale", ",".join(f"{k}={v:g}" for k, v in range_scale.items())))
    if int8:
        prov.append(("bias_correction", "empirical" if bias_correction else "none"))
        prov.append(("weight_rounding", weight_rounding))
    return prov


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        labels = [line.rstrip("\r\n") for line in f]
    while labels and labels[-1] == "":
        labels.pop()
    return labels


def _epilogue(op) -> str:
    a = op.attrs
    parts = []
    if op.kind == optable.OP_ACTIVATION:
        parts.append(optable.FUNCTION_NAMES[a["function"]].lower())
    elif "alpha" in a and a["alpha"] != 1.0:
        parts.append("relu" if a["alpha"] == 0 else f"leaky {a['alpha']:g}")
    if "clip_max" in a and op.kind != optable.OP_ACTIVATION and (a["clip_min"] != -np.inf or a["clip_max"] != np.inf):
        parts.append(f"clip {a['clip_min']:g},{a['clip_max']:g}")
    if "out_min" in a and (a["out_min"] != -128 or a["out_max"] != 127):
        parts.append(f"out {a['out_min']},{a['out_max']}")
    return " ".join(parts)


def summary(model: Model, data: bytes) -> str:
    T = model.tensors
    lines = [f"{'#':>3}  {'op':<11} {'epilogue':<14} {'inputs':<40} -> output"]
    for i, op in enumerate(model.ops):
        ins = ", ".join(f"{T[t].name}{list(T[t].dims)}" for t in op.inputs if T[t].role == ROLE_ACTIVATION)
        y = T[op.output]
        lines.append(f"{i:>3}  {optable.OP_NAMES[op.kind]:<11} {_epilogue(op):<14} {ins:<40} -> {y.name}"
                     f"{list(y.dims)} {DTYPE_NAMES[y.dtype]}")
    params = sum(int(np.prod(t.dims)) for t in T if t.role == ROLE_CONSTANT and t.name.endswith((".weight", ".bias")))
    lines.append(f"precision {model.precision}; parameters {params:,}; file {len(data):,} bytes; "
                 f"arena {model.arena_size:,} bytes; classes {len(model.labels)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-convert", description="Convert an ONNX classifier to .rtg")
    ap.add_argument("model", metavar="MODEL.onnx", nargs="?",
                    help="the ONNX classifier, or --svm's feature model (not needed when the SVM names a backbone)")
    ap.add_argument("-o", "--output", required=True, metavar="OUT.rtg")
    ap.add_argument("--precision", choices=["int8", "f32"], default="int8")
    ap.add_argument("--calib", metavar="DIR", help="calibration PNG folder (required for int8)")
    ap.add_argument("--labels", metavar="FILE", help="one label per line")
    ap.add_argument("--mean", type=float, nargs="+", metavar="M")
    ap.add_argument("--std", type=float, nargs="+", metavar="S")
    ap.add_argument("--created", help="provenance timestamp (default: SOURCE_DATE_EPOCH or now)")
    ap.add_argument("--calib-method", choices=CALIB_METHODS, default="minmax",
                    help="how activation ranges are chosen from the calibration images (default minmax)")
    ap.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE,
                    help=f"for --calib-method percentile (default {DEFAULT_PERCENTILE})")
    ap.add_argument("--float-layers", metavar="NAME,...", default="",
                    help="keep these layers in float32 inside the int8 model (SPEC \"Mixed precision\")")
    ap.add_argument("--no-bias-correction", action="store_true",
                    help="int8: keep the biases as rounded (default: corrected so each layer's mean output on the "
                         "calibration images equals the float model's)")
    ap.add_argument("--weight-rounding", choices=WEIGHT_ROUNDINGS, default="gptq",
                    help="int8: how weights are rounded to their levels: gptq (default: each row's rounding errors "
                         "are compensated on the calibration images' inputs) or nearest")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--svm", metavar="SVM.npz",
                    help="linear-SVM head from `roentgen-train svm`: MODEL is then its feature CNN (SPEC \"SVM head\")")
    ap.add_argument("--temperature", type=float, metavar="T",
                    help="calibrated temperature: probabilities = softmax(output / T) (SPEC \"CONFIDENCE\")")
    ap.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                    help="with --temperature: images whose top probability is below P are reported uncertain")
    ap.add_argument("--reject-class", metavar="LABEL",
                    help="with --temperature: the class that means \"none of the others\" (SPEC \"REJECT\")")
    args = ap.parse_args(argv)
    calib_report = []
    try:
        labels = read_labels(args.labels) if args.labels else None
        float_layers = tuple(n for n in args.float_layers.split(",") if n)
        common = dict(calib_method=args.calib_method, percentile=args.percentile, float_layers=float_layers,
                      calib_report=calib_report, bias_correction=not args.no_bias_correction,
                      weight_rounding=args.weight_rounding)
        if args.svm:
            model = convert_svm(args.model, args.svm, args.precision, args.calib, args.mean, args.std, args.created,
                                labels, **common)
        elif args.model is None:
            raise ConversionError("MODEL.onnx is required (without --svm)")
        else:
            model = convert(args.model, args.precision, args.calib, labels, args.mean, args.std, args.created, **common)
        if args.temperature is not None:
            reject = None
            if args.reject_class is not None:
                if args.reject_class not in model.labels:
                    raise ConversionError(f"--reject-class {args.reject_class!r} is not one of the labels {model.labels}")
                reject = model.labels.index(args.reject_class)
            model.confidence = Confidence(args.temperature, args.min_confidence, reject)
        elif args.min_confidence or args.reject_class is not None:
            raise ConversionError("--min-confidence and --reject-class need --temperature")
        data = serialize(model)
        read_bytes(data)  # never write what a reader would reject
        write_atomic(args.output, data)
    except (ValueError, OSError) as e:  # every error of the pipeline is a ValueError naming what is wrong
        print(f"roentgen-convert: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line, never a traceback
        print(f"roentgen-convert: error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    if not args.quiet:
        if calib_report:
            # the ranges the file uses: the int8 outputs of ops that choose their own quantization
            used = {model.tensors[o.output].name.removesuffix(".q") for o in model.ops
                    if model.tensors[o.output].dtype == DT_INT8
                    and o.kind not in (optable.OP_MAXPOOL2D, optable.OP_PAD, optable.OP_RESHAPE)}
            print(format_report(calib_report, used))
        print(summary(model, data))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
