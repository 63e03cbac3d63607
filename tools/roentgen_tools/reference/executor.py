"""Numpy reference runtime: executes a .rtg file exactly as SPEC.md says.

int8 ops are integer math in int64. The dot products use float64 matmul (BLAS) on the exact
integer operands: every product is at most 255*127 and the reader guarantees
K*255*127 + max|b| < 2^31 < 2^53, so every partial sum is an exactly representable integer in
float64 whatever the summation order - the result equals the int64 sum bit for bit, only faster.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..data import image
from ..fileformat.rtg import (ACT_LEAKY, DT_INT8, NONE, OP_CONV2D, OP_DENSE, OP_DEQUANTIZE,
                     OP_MAXPOOL2D, OP_QUANTIZE, OUTPUT_SVM, FormatError, Model, read_model)
from ..quant.arith import requantize

F32 = np.float32


def load_input(model: Model, path) -> np.ndarray:
    sp = model.input
    return image.to_tensor(path, sp.height, sp.width, sp.channels, sp.mean, sp.std)


def _im2col(x: np.ndarray, op, pad_value=0):
    """x [H, W, C] -> patches [OH, OW, KH, KW, C] with SPEC's padding (pad_value outside)."""
    kh, kw = op.kernel
    sh, sw = op.stride
    pt, pl, pb, pr = op.pads
    xp = np.pad(x, ((pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    oh = (xp.shape[0] - kh) // sh + 1
    ow = (xp.shape[1] - kw) // sw + 1
    win = sliding_window_view(xp, (kh, kw), axis=(0, 1))[::sh, ::sw][:oh, :ow]  # [OH, OW, C, KH, KW]
    return win.transpose(0, 1, 3, 4, 2)


def _epilogue(acc: np.ndarray, requant: np.ndarray, z_y: int) -> np.ndarray:
    """acc int64 [..., OC]; requant int32 [OC, 4] -> int8."""
    rq = requant.astype(np.int64)
    neg = acc < 0
    m = np.where(neg, rq[:, 2], rq[:, 0])
    shift = np.where(neg, rq[:, 3], rq[:, 1])
    y = z_y + requantize(acc, m, shift)
    return np.clip(y, -128, 127).astype(np.int8)


def _leaky(y: np.ndarray, op) -> np.ndarray:
    if op.activation == ACT_LEAKY:
        y = np.where(y < 0, y * F32(op.alpha), y).astype(F32)
    return y


def run(model: Model, x: np.ndarray, record: bool = False):
    """Executes the ops in file order. Returns the output tensor (f32 [1, classes]), or with
    record=True a dict {tensor name: value} of every activation except im2col scratches."""
    T = model.tensors
    vals = {model.input.input_tensor: np.asarray(x, dtype=F32).reshape(T[model.input.input_tensor].dims)}
    for op in model.ops:
        xin = vals[op.inputs[0]]
        tx, ty = T[op.inputs[0]], T[op.output]
        if op.kind == OP_QUANTIZE:
            s, z = F32(ty.scale), ty.zero_point
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                r = np.rint(xin / s).astype(np.float64)  # one binary32 division, then rint
            q = np.clip(r + z, -128, 127)
            y = np.where(np.isnan(q), z, q).astype(np.int8)
        elif op.kind == OP_DEQUANTIZE:
            y = (xin.astype(np.int32) - tx.zero_point).astype(F32) * F32(tx.scale)
        elif op.kind == OP_MAXPOOL2D:
            if tx.dtype == DT_INT8:
                patches = _im2col(xin[0].astype(np.int16), op, pad_value=-129)
            else:
                patches = _im2col(xin[0], op, pad_value=-np.inf)
            y = patches.max(axis=(2, 3))[None].astype(xin.dtype)
        elif op.kind in (OP_CONV2D, OP_DENSE):
            w = T[op.inputs[1]].data
            b = T[op.inputs[2]].data
            n_out = w.shape[0]
            if tx.dtype == DT_INT8:
                xi = xin.astype(np.float64) - tx.zero_point  # exact small integers
                if op.kind == OP_CONV2D:
                    cols = _im2col(xi[0], op).reshape(-1, w[0].size)  # padding = real 0 after -z_x
                else:
                    cols = xi.reshape(1, -1)
                acc = (cols @ w.reshape(n_out, -1).astype(np.float64).T).astype(np.int64) + b.astype(np.int64)
                if ty.dtype == DT_INT8:
                    y = _epilogue(acc, T[op.inputs[3]].data, ty.zero_point)
                else:  # logits: y = f32(acc) * out_scale, then alpha on negative acc
                    y = acc.astype(F32) * T[op.inputs[3]].data.astype(F32)
                    if op.activation == ACT_LEAKY:
                        y = np.where(acc < 0, y * F32(op.alpha), y).astype(F32)
            else:
                if op.kind == OP_CONV2D:
                    cols = _im2col(xin[0], op).reshape(-1, w[0].size)
                else:
                    cols = xin.reshape(1, -1)
                y = (cols.astype(np.float64) @ w.reshape(n_out, -1).astype(np.float64).T
                     + b.astype(np.float64)).astype(F32)
                y = _leaky(y, op)
            y = y.reshape(ty.dims)
        else:  # the reader already rejected unknown kinds
            raise FormatError(f"unknown op kind {op.kind}")
        vals[op.output] = y.reshape(ty.dims)
    if record:
        return {T[i].name: v for i, v in vals.items()}
    return vals[model.input.output_tensor]


def softmax(logits) -> np.ndarray:
    l = np.asarray(logits, dtype=np.float64).reshape(-1)
    e = np.exp(l - l.max())
    return e / e.sum()


def classify(model: Model, path) -> dict:
    logits = run(model, load_input(model, path)).reshape(-1)
    idx = int(np.argmax(logits))  # first maximum of the (bit-exact) logits
    if model.input.output_kind == OUTPUT_SVM:  # SPEC "SVM head": decision values, no probabilities
        return {"path": os.fspath(path), "label": model.labels[idx], "index": idx,
                "decision_values": [float(v) for v in logits.astype(F32)]}
    probs = softmax(logits)
    return {"path": os.fspath(path), "label": model.labels[idx], "index": idx,
            "probabilities": [float(p) for p in probs],
            "logits": [float(v) for v in logits.astype(F32)]}


def expand_paths(args):
    """Files as given; folders become their PNGs, recursively, sorted by relative path."""
    out = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted((q for q in p.rglob("*") if q.is_file() and q.suffix.lower() == ".png"),
                           key=lambda q: q.relative_to(p).as_posix())
            out.extend(os.path.join(a, q.relative_to(p).as_posix()) for q in found)
        else:
            out.append(a)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-reference",
                                 description="Run a .rtg model in the numpy reference implementation.")
    ap.add_argument("model")
    ap.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    try:
        model = read_model(args.model)
    except (OSError, FormatError) as e:
        print(f"roentgen-reference: error: {args.model}: {e}", file=sys.stderr)
        return 1
    try:
        return _classify_all(model, args)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _classify_all(model, args) -> int:
    status = 0
    for path in expand_paths(args.images):
        try:
            r = classify(model, path)
        except (image.ImageError, OSError, ValueError) as e:
            status = 1
            msg = str(e)
            if args.json:
                print(json.dumps({"path": path, "error": msg}), flush=True)
            else:
                print(f"{path}: error: {msg}", flush=True)
            continue
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            if "decision_values" in r:
                print(f"{path}: {r['label']} (decision value {r['decision_values'][r['index']]:.3f})", flush=True)
            else:
                p = r["probabilities"][r["index"]]
                print(f"{path}: {r['label']} ({p * 100:.1f}%)", flush=True)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
