"""roentgen-convert: ONNX -> .rtg (int8 or f32)."""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import os
import sys

import numpy as np

from . import __version__
from .quant.calibration import (METHODS as CALIB_METHODS, DEFAULT_PERCENTILE, CalibrationError, choose_ranges, format_report,
                          method_params)
from .fileformat import (ACT_LEAKY, ACT_NONE, DT_FLOAT32, DT_INT8, DT_INT32, DTYPE_NAMES, NONE, OP_CONV2D,
                     OP_DENSE, OP_DEQUANTIZE, OP_MAXPOOL2D, OP_NAMES, OP_QUANTIZE, ROLE_ACTIVATION, ROLE_CONSTANT,
                     FormatError, InputSpec, Model, Op, Tensor, serialize, read_bytes, write_atomic)
from .data.image import ImageError
from .frontend.onnx_import import Network, OnnxImportError, load
from .fileformat.planner import plan_arena
from .quant.arith import (QuantizationError, activation_params, calibrate, calibration_digest, calibration_files,
                       check_overflow, quantize_bias, quantize_weights, requant_rows)

F32 = np.float32


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


def _per_channel(values, channels, what, default):
    if values is None:
        return tuple([default] * channels)
    v = [float(x) for x in values]
    if len(v) == 1:
        v = v * channels
    if len(v) != channels:
        raise ConversionError(f"--{what}: give 1 or {channels} values, got {len(v)}")
    for x in v:
        if not np.isfinite(F32(x)) or (what == "std" and not F32(x) > 0):
            raise ConversionError(f"--{what}: {x} must be finite{' and > 0' if what == 'std' else ''}")
    return tuple(float(F32(x)) for x in v)


class _Builder:
    def __init__(self):
        self.tensors = []
        self.ops = []

    def add(self, name, dtype, role, dims, data=None, scales=None, zps=None):
        self.tensors.append(Tensor(name, dtype, role, tuple(int(d) for d in dims), data,
                                   None if scales is None else np.asarray(scales, dtype=F32).reshape(-1),
                                   None if zps is None else np.asarray(zps, dtype=np.int32).reshape(-1)))
        return len(self.tensors) - 1

    def op(self, kind, inputs, output, layer=None):
        inputs = tuple(inputs) + (NONE,) * (4 - len(inputs))
        o = Op(kind, inputs, output)
        if layer is not None:
            if layer.alpha is not None:
                o.activation, o.alpha = ACT_LEAKY, float(F32(layer.alpha))
            if layer.kind in ("conv", "pool"):
                o.kernel, o.stride, o.pads = tuple(layer.kernel), tuple(layer.stride), tuple(layer.pads)
        self.ops.append(o)


def build_model(net: Network, precision: str, labels, mean=None, std=None, ranges=None,
                provenance=(), float_layers=()) -> Model:
    """Network -> Model (tensors, ops, plan). int8 needs `ranges` from calibrate().

    `float_layers` (int8 only; SPEC "Mixed precision"): names of layers kept in float32. Where the
    precision changes, a QUANTIZE (output `<tensor>.q`, range from calibration) or DEQUANTIZE
    (output `<tensor>.dq`) is inserted; layer outputs keep their names in every precision."""
    if net.layers[-1].kind != "dense":
        # SPEC: the output tensor is [1, classes] but DEQUANTIZE keeps its input's [1, H, W, C]
        # shape, so a model ending in a conv or pool has no valid output tensor in format 1.0.
        raise ConversionError(f"the last layer ({net.layers[-1].name}, from ONNX node "
                              f"{net.layers[-1].sources[0]!r}) must be a Gemm/MatMul giving [1, classes]")
    n_classes = net.layers[-1].out_shape[1]
    if len(labels) != n_classes:
        raise ConversionError(f"{len(labels)} labels for {n_classes} classes")
    if len(set(labels)) != len(labels) or any(not lbl for lbl in labels):
        raise ConversionError("labels must be non-empty and unique")
    C, H, W = net.channels, net.height, net.width
    B = _Builder()
    in_t = B.add("input", DT_FLOAT32, ROLE_ACTIVATION, (1, H, W, C))
    int8 = precision == "int8"
    float_layers = set(float_layers or ())
    if float_layers:
        names = [L.name for L in net.layers]
        unknown = sorted(float_layers - set(names) - {"logits"})
        if unknown:
            raise ConversionError(f"--float-layers: no layer named {', '.join(unknown)} (layers: {', '.join(names)})")
        if "logits" in float_layers:
            float_layers.add(net.layers[-1].name)
        if not int8:
            raise ConversionError("--float-layers needs --precision int8")
    cur, cur_name, cur_int8 = in_t, "input", False

    def to_int8():  # QUANTIZE the current f32 tensor with its calibrated range
        nonlocal cur, cur_int8, cur_s, cur_z
        s, z = activation_params(*ranges[cur_name])
        q = B.add(f"{cur_name}.q", DT_INT8, ROLE_ACTIVATION, B.tensors[cur].dims, scales=[s], zps=[z])
        B.op(OP_QUANTIZE, [cur], q)
        cur, cur_int8, cur_s, cur_z = q, True, float(s), z

    def to_f32():  # DEQUANTIZE the current int8 tensor
        nonlocal cur, cur_int8
        dq = B.add(f"{cur_name}.dq", DT_FLOAT32, ROLE_ACTIVATION, B.tensors[cur].dims)
        B.op(OP_DEQUANTIZE, [cur], dq)
        cur, cur_int8 = dq, False

    cur_s, cur_z = None, None
    for li, L in enumerate(net.layers):
        final = li == len(net.layers) - 1
        out_name = "logits" if final else L.name
        # the precision this layer runs in: pools keep their input's unless named float
        int8_layer = int8 and L.name not in float_layers and (L.kind != "pool" or cur_int8 or li == 0)
        if int8_layer and not cur_int8:
            to_int8()
        elif not int8_layer and cur_int8:
            to_f32()
        cur_name = out_name
        if L.kind == "pool":
            if int8_layer:
                out = B.add(out_name, DT_INT8, ROLE_ACTIVATION, L.out_shape, scales=[cur_s], zps=[cur_z])
            else:
                out = B.add(out_name, DT_FLOAT32, ROLE_ACTIVATION, L.out_shape)
            B.op(OP_MAXPOOL2D, [cur], out, L)
            cur = out
            continue
        kind = OP_CONV2D if L.kind == "conv" else OP_DENSE
        k = int(np.prod(L.w.shape[1:]))
        if not int8_layer:
            w = B.add(f"{L.name}.weight", DT_FLOAT32, ROLE_CONSTANT, L.w.shape, L.w.astype(F32))
            b = B.add(f"{L.name}.bias", DT_FLOAT32, ROLE_CONSTANT, L.b.shape, L.b.astype(F32))
            out = B.add(out_name, DT_FLOAT32, ROLE_ACTIVATION, L.out_shape)
            ins = [cur, w, b]
            if kind == OP_CONV2D:
                oh, ow = L.out_shape[1:3]
                ins.append(B.add(f"{L.name}.im2col", DT_FLOAT32, ROLE_ACTIVATION, (oh * ow, k)))
            B.op(kind, ins, out, L)
            cur = out
            continue
        wq, s_w = quantize_weights(L.w)
        bq, s_b = quantize_bias(L.b, cur_s, s_w)
        check_overflow(L.name, k, bq)
        w = B.add(f"{L.name}.weight", DT_INT8, ROLE_CONSTANT, L.w.shape, wq, s_w, np.zeros(len(s_w)))
        b = B.add(f"{L.name}.bias", DT_INT32, ROLE_CONSTANT, bq.shape, bq, s_b, np.zeros(len(s_b)))
        if final:  # logits: int8 -> f32, out_scale = f32(s_x * s_w[n])
            osc = B.add(f"{L.name}.out_scale", DT_FLOAT32, ROLE_CONSTANT, s_w.shape,
                        (cur_s * s_w.astype(np.float64)).astype(F32))
            out = B.add(out_name, DT_FLOAT32, ROLE_ACTIVATION, L.out_shape)
            B.op(kind, [cur, w, b, osc], out, L)
        else:
            s_y, z_y = activation_params(*ranges[L.name])
            rq = requant_rows(cur_s, s_w, float(s_y), None if L.alpha is None else float(F32(L.alpha)))
            r = B.add(f"{L.name}.requant", DT_INT32, ROLE_CONSTANT, rq.shape, rq)
            out = B.add(out_name, DT_INT8, ROLE_ACTIVATION, L.out_shape, scales=[s_y], zps=[z_y])
            B.op(kind, [cur, w, b, r], out, L)
            cur_s, cur_z = float(s_y), z_y
        cur = out
        cur_int8 = B.tensors[out].dtype == DT_INT8
    out_t = cur
    mean = _per_channel(mean, C, "mean", 0.0)
    std = _per_channel(std, C, "std", 1.0)
    spec = InputSpec(C, H, W, mean, std, in_t, out_t)
    model = Model(spec, list(labels), B.tensors, B.ops, provenance=list(provenance))
    model.arena_size, model.plan = plan_arena(B.tensors, B.ops, in_t, out_t)
    return model


def convert(onnx_path, precision="int8", calib=None, labels=None, mean=None, std=None,
            created=None, calib_method="minmax", percentile=DEFAULT_PERCENTILE, float_layers=(),
            range_scale=None, calib_report=None) -> Model:
    """`calib_method`: minmax | percentile | entropy (calibration.py). `float_layers`: layers kept
    in float32 (SPEC "Mixed precision"). `calib_report`: a list that receives the per-tensor
    ranges chosen. `range_scale` is internal (tests): see calibration.choose_ranges."""
    if precision not in ("int8", "f32"):
        raise ConversionError(f"--precision must be int8 or f32, not {precision!r}")
    if precision == "int8" and not calib:
        raise ConversionError("--calib DIR is required for --precision int8")
    with open(onnx_path, "rb") as f:
        src = f.read()
    net = load(onnx_path)
    n_classes = net.layers[-1].out_shape[-1]
    if labels is None:
        labels = [f"class_{i}" for i in range(n_classes)]
    prov = [("precision", precision), ("source_sha256", hashlib.sha256(src).hexdigest()),
            ("calibration_digest", calibration_digest(calib) if precision == "int8" else "none"),
            ("calibration", calib_method if precision == "int8" else "none"),
            ("converter_version", __version__), ("created", created_timestamp(created)),
            ("source", os.path.basename(os.fspath(onnx_path)))]
    if precision == "int8" and (calib_method != "minmax" or float_layers or range_scale):
        # new keys only where they say something, so plain minmax files stay byte-identical
        prov.append(("calibration_params", method_params(calib_method, percentile)))
        if float_layers:
            prov.append(("float_layers", ",".join(float_layers)))
        if range_scale:
            prov.append(("calibration_range_scale", ",".join(f"{k}={v:g}" for k, v in range_scale.items())))
    f32_model = build_model(net, "f32", labels, mean, std, provenance=prov)
    if precision == "f32":
        return f32_model
    # the f32 model only needs to exist in memory to calibrate; run it through the reader's
    # checks first so calibration executes exactly what an f32 file would hold
    if calib_method == "minmax" and not range_scale and calib_report is None:
        ranges = calibrate(read_bytes(serialize(f32_model)), calib)
    else:
        ranges, report = choose_ranges(read_bytes(serialize(f32_model)), calibration_files(calib)[1],
                                       calib_method, percentile, range_scale)
        if calib_report is not None:
            calib_report.extend(report)
    return build_model(net, "int8", labels, mean, std, ranges=ranges, provenance=prov,
                       float_layers=float_layers)


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        labels = [line.rstrip("\r\n") for line in f]
    while labels and labels[-1] == "":
        labels.pop()
    return labels


def summary(model: Model, data: bytes) -> str:
    lines = [f"{'#':>3}  {'op':<11} {'act':<10} {'inputs':<42} -> output"]
    T = model.tensors
    for i, op in enumerate(model.ops):
        ins = ", ".join(f"{T[t].name}{list(T[t].dims)}" for t in op.inputs[:1] if t != NONE)
        act = "" if op.activation == ACT_NONE else ("relu" if op.alpha == 0 else f"leaky {op.alpha:g}")
        y = T[op.output]
        lines.append(f"{i:>3}  {OP_NAMES[op.kind]:<11} {act:<10} {ins:<42} -> {y.name}{list(y.dims)} "
                     f"{DTYPE_NAMES[y.dtype]}")
    params = sum(int(np.prod(t.dims)) for t in T if t.role == ROLE_CONSTANT and t.name.endswith((".weight", ".bias")))
    lines.append(f"precision {model.precision}; parameters {params:,}; file {len(data):,} bytes; "
                 f"arena {model.arena_size:,} bytes; classes {len(model.labels)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-convert", description="Convert an ONNX classifier to .rtg")
    ap.add_argument("model", metavar="MODEL.onnx")
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
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--svm", metavar="SVM.npz",
                    help="linear-SVM head from `roentgen-train svm`: MODEL is then its feature CNN (SPEC \"SVM head\")")
    args = ap.parse_args(argv)
    try:
        labels = read_labels(args.labels) if args.labels else None
        if args.svm:
            from .svm_head import convert_svm
            model = convert_svm(args.model, args.svm, args.precision, args.calib, args.mean, args.std,
                                args.created, labels)
        else:
            calib_report = [] if args.precision == "int8" else None
            float_layers = tuple(n for n in args.float_layers.split(",") if n)
            model = convert(args.model, args.precision, args.calib, labels, args.mean, args.std, args.created,
                            args.calib_method, args.percentile, float_layers, calib_report=calib_report)
        data = serialize(model)
        read_bytes(data)  # never write what a reader would reject
        write_atomic(args.output, data)
    except (ConversionError, OnnxImportError, QuantizationError, FormatError, ImageError, OSError,
            CalibrationError, ValueError) as e:
        msg = " ".join(str(e).split())
        print(f"roentgen-convert: error: {msg}", file=sys.stderr)
        return 1
    except Exception as e:  # e.g. protobuf DecodeError on a corrupt ONNX file
        print(f"roentgen-convert: error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    if not args.quiet:
        if calib_report:
            # the ranges the file uses: QUANTIZE outputs and int8 CONV2D / DENSE outputs
            used = {model.tensors[o.output].name.removesuffix(".q") for o in model.ops
                    if model.tensors[o.output].dtype == DT_INT8 and o.kind != OP_MAXPOOL2D}
            print(format_report(calib_report, used))
        print(summary(model, data))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
