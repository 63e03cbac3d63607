"""Numpy reference runtime: executes a .rtg file exactly as SPEC.md says, op by op, through the
op modules (`roentgen_tools.ops`: one `run` per op, int8 in integer arithmetic)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .. import ops as op_modules
from ..data import dicom, image
from ..fileformat import OUTPUT_SVM, ROLE_ACTIVATION, FormatError, Model, format_f32, format_f64, read_model

F32 = np.float32


def load_input(model: Model, path, window=dicom.FROM_FILE) -> np.ndarray:
    """The model's input tensor for a PNG or DICOM file (`window`: see image.read_input)."""
    return _tensor(model, image.read_input(path, window))


def _tensor(model: Model, picture: image.InputImage) -> np.ndarray:
    sp = model.input
    return picture.tensor(sp.height, sp.width, sp.channels, sp.mean, sp.std)


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


def answer(model: Model, out, p, min_confidence: float | None = None):
    """(index, uncertain) of one output (SPEC "Probabilities"): the first maximum of the output,
    skipping a REJECT class; uncertain when its probability is below the threshold or, with a
    reject class, not above the reject class's (None without probabilities)."""
    r = model.confidence.reject_class if model.confidence is not None else None
    scores = np.where(np.arange(out.size) == r, -np.inf, out) if r is not None else out
    idx = int(np.argmax(scores))
    if p is None:
        return idx, None
    uncertain = p[idx] < threshold(model, min_confidence) or (r is not None and p[idx] <= p[r])
    return idx, bool(uncertain)


def classify(model: Model, path, min_confidence: float | None = None, window=dicom.FROM_FILE) -> dict:
    """{path, label, index, uncertain, probabilities, logits} (SVM: decision_values instead of
    logits, and probabilities and uncertain only with a CONFIDENCE section), then for a DICOM file
    its header fields as `dicom`."""
    picture = image.read_input(path, window)
    out = run(model, _tensor(model, picture)).reshape(-1).astype(F32)
    p = probabilities(model, out)
    idx, uncertain = answer(model, out, p, min_confidence)
    r = {"path": os.fspath(path), "label": model.labels[idx], "index": idx}
    if p is not None:
        r["uncertain"] = uncertain
        r["probabilities"] = [np.float64(v) for v in p]
    if model.input.output_kind == OUTPUT_SVM:  # SPEC "SVM head": decision values
        r["decision_values"] = [F32(v) for v in out]
    else:
        r["logits"] = [F32(v) for v in out]
    if picture.dicom is not None:
        r["dicom"] = picture.dicom
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
    if v is None:  # a DICOM header field the file does not have
        return "null"
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


def expand_path(arg):
    """(files, problems): a file as given; a folder as image.list_images lists it. Raises
    ImageError for a folder without images, as `roentgen classify` reports it."""
    if not Path(arg).is_dir():
        return [arg], []
    found, problems = image.list_images(arg)
    if not found:
        raise image.ImageError(f"{arg}: folder has no PNG or DICOM files")
    return found, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-reference",
                                 description="Run a .rtg model in the numpy reference implementation.")
    ap.add_argument("model")
    ap.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--min-confidence", type=float, default=None, metavar="P",
                    help="report images whose top probability is below P as uncertain (default: the file's)")
    ap.add_argument("--window", metavar="C,W",
                    help="DICOM: window with this center and width instead of the file's VOI LUT")
    ap.add_argument("--full-range", action="store_true",
                    help="DICOM: map the full range of the pixel values instead of the file's window")
    args = ap.parse_args(argv)
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        ap.error("--min-confidence must be in [0, 1]")
    try:
        args.window = dicom.window_option(args.window, args.full_range)
    except ValueError as e:
        ap.error(str(e))
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

    def report(path, e):
        if args.json:
            print(json_line({"path": path, "error": str(e)}), flush=True)
        else:
            print(f"{path}: error: {e}", flush=True)

    for arg in args.images:
        try:
            paths, problems = expand_path(arg)
        except (image.ImageError, OSError) as e:
            status = 1
            report(arg, e)
            continue
        for path, message in problems:  # a DICOMDIR that cannot be read or references a missing file
            status = 1
            report(path, message)
        for path in paths:
            try:
                r = classify(model, path, args.min_confidence, args.window)
            except (image.ImageError, OSError, ValueError) as e:
                status = 1
                report(path, e)
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
