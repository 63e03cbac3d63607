"""Numpy reference runtime: executes a .rtg file exactly as SPEC.md says, op by op, through the
op modules (`roentgen_tools.ops`: one `run` per op, int8 in integer arithmetic)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .. import ops as op_modules
from ..data import image
from ..fileformat import OUTPUT_SVM, ROLE_ACTIVATION, FormatError, Model, format_f32, format_f64, read_model

F32 = np.float32


def load_input(model: Model, path) -> np.ndarray:
    sp = model.input
    return image.to_tensor(path, sp.height, sp.width, sp.channels, sp.mean, sp.std)


def run(model: Model, x: np.ndarray, record: bool = False):
    """Runs the ops in file order. Returns the output tensor (f32 [1, classes]), or with
    record=True a dict {tensor name: value} of every activation."""
    T = model.tensors
    vals = {model.input.input_tensor: np.asarray(x, dtype=F32).reshape(T[model.input.input_tensor].dims)}
    for op in model.ops:
        xs = [vals[i] if T[i].role == ROLE_ACTIVATION else T[i].data for i in op.inputs]
        y = op_modules.REGISTRY[op.kind].run(op, xs, model)
        t = T[op.output]
        vals[op.output] = np.asarray(y).reshape(t.dims)
    if record:
        return {T[i].name: v for i, v in vals.items()}
    return vals[model.input.output_tensor]


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """SPEC "Probabilities": float64, `exp((l_i - max l) / T) / sum_j exp((l_j - max l) / T)`."""
    l = np.asarray(logits, dtype=np.float64).reshape(-1)
    e = np.exp((l - l.max()) / np.float64(temperature))
    return e / e.sum()


def probabilities(model: Model, out):
    """The model's probabilities of one output (SPEC "CONFIDENCE"): softmax of the output over the
    file's temperature; an SVM without a CONFIDENCE section has none (None)."""
    if model.confidence is not None:
        return softmax(out, model.confidence.temperature)
    return None if model.input.output_kind == OUTPUT_SVM else softmax(out)


def threshold(model: Model, min_confidence: float | None = None) -> float:
    """The uncertainty threshold: the caller's, else the file's, else 0 (never uncertain)."""
    if min_confidence is not None:
        return float(min_confidence)
    return float(model.confidence.min_confidence) if model.confidence is not None else 0.0


def classify(model: Model, path, min_confidence: float | None = None) -> dict:
    """{path, label, index, uncertain, probabilities, logits} (SVM: decision_values instead of
    logits, and probabilities and uncertain only with a CONFIDENCE section)."""
    out = run(model, load_input(model, path)).reshape(-1).astype(F32)
    idx = int(np.argmax(out))  # first maximum of the (bit-exact) output
    r = {"path": os.fspath(path), "label": model.labels[idx], "index": idx}
    p = probabilities(model, out)
    if p is not None:
        r["uncertain"] = bool(p[idx] < threshold(model, min_confidence))
        r["probabilities"] = [np.float64(v) for v in p]
    if model.input.output_kind == OUTPUT_SVM:  # SPEC "SVM head": decision values
        r["decision_values"] = [F32(v) for v in out]
    else:
        r["logits"] = [F32(v) for v in out]
    return r


def _quote(s: str) -> str:
    """A JSON string as `roentgen classify --json` writes it: UTF-8 kept, only ", \\ and control
    characters escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _json_value(v) -> str:
    if isinstance(v, str):
        return _quote(v)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, np.float32):
        return format_f32(v)
    if isinstance(v, (float, np.float64)):
        return format_f64(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_json_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_quote(k)}: {_json_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as JSON")


def json_line(result: dict) -> str:
    """One object per line in key order; f32 values (logits, decision values) and f64 values
    (probabilities) as SPEC "Probabilities and printed numbers" prints them, the same text as
    the Swift runtime's."""
    return _json_value(result)


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
    ap.add_argument("--min-confidence", type=float, default=None, metavar="P",
                    help="report images whose top probability is below P as uncertain (default: the file's)")
    args = ap.parse_args(argv)
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        ap.error("--min-confidence must be in [0, 1]")
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
            r = classify(model, path, args.min_confidence)
        except (image.ImageError, OSError, ValueError) as e:
            status = 1
            msg = str(e)
            if args.json:
                print(json_line({"path": path, "error": msg}), flush=True)
            else:
                print(f"{path}: error: {msg}", flush=True)
            continue
        if args.json:
            print(json_line(r), flush=True)
        elif "probabilities" not in r:
            print(f"{path}: {r['label']} (decision value {float(r['decision_values'][r['index']]):.3f})", flush=True)
        else:
            guess = f"{r['label']} ({float(r['probabilities'][r['index']]) * 100:.1f}%)"
            print(f"{path}: " + (f"uncertain, best guess {guess}" if r["uncertain"] else guess), flush=True)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
