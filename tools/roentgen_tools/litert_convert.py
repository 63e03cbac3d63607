"""ONNX -> LiteRT (.tflite) for `roentgen-peers`, float32 and full-integer int8, with onnx2tf.

onnx2tf needs TensorFlow, which pins numpy and protobuf differently from the tools venv, so it lives
in a venv of its own (``~/.cache/roentgen/tf-venv``, or $ROENTGEN_TF_VENV), created on first use and
called by subprocess; this file is also the script that runs there (it imports nothing from
roentgen_tools at the top level). The int8 model is calibrated on the same tensors as ONNX Runtime's
QDQ model (passed as NHWC float32, already normalized): per-channel int8 weights, int8 activations,
int8 input and output (onnx2tf's ``model_full_integer_quant.tflite``).

    python -m roentgen_tools.litert_convert --setup        # creates / updates the tf-venv only
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

TF_VENV = Path(os.environ.get("ROENTGEN_TF_VENV", Path.home() / ".cache/roentgen/tf-venv"))
# onnx2tf 1.29.24 pins its whole stack (tensorflow 2.19.0, tf-keras, onnx 1.19.1, onnxsim, numpy 1.26.4,
# ...); it is the newest onnx2tf pip offers for Python 3.11 (2.x requires a newer Python).
TF_REQUIREMENTS = ["onnx2tf==1.29.24"]


def ensure_tf_venv(venv: Path = TF_VENV, log=print) -> Path:
    """The tf-venv's python, creating the venv and installing TF_REQUIREMENTS when they changed."""
    py = venv / "bin/python"
    stamp = venv / (".requirements-" + hashlib.sha256("\n".join(TF_REQUIREMENTS).encode()).hexdigest()[:16])
    if stamp.exists():
        return py
    if not py.exists():
        log(f"litert: creating {venv}")
        subprocess.run([_system_python(), "-m", "venv", str(venv)], check=True)
    log(f"litert: installing {' '.join(TF_REQUIREMENTS)} into {venv} (about 2.6 GB, once)")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *TF_REQUIREMENTS], check=True)
    stamp.touch()
    return py


def _system_python() -> str:
    # the interpreter the current venv was made from, so the tf-venv gets the same Python
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def _nhwc(calib_nchw):
    return np.concatenate([x.transpose(0, 2, 3, 1) for x in calib_nchw]).astype(np.float32)


def cache_dir(onnx_path, calib_nchw, work) -> Path:
    """Where convert() keeps the files of this model and these calibration tensors: keyed by both,
    the pinned converter and the code that runs it (_worker)."""
    import inspect
    key = hashlib.sha256(Path(onnx_path).read_bytes() + _nhwc(calib_nchw).tobytes()
                         + "\n".join(TF_REQUIREMENTS).encode() + inspect.getsource(_worker).encode()).hexdigest()[:16]
    return Path(work) / f"litert-{key}"


def convert(onnx_path, calib_nchw, work: Path, log=print) -> dict:
    """{"fp32": path, "int8": path, "versions": path} of the LiteRT models of `onnx_path`, int8 calibrated on
    `calib_nchw` (the float32 NCHW tensors ONNX Runtime is calibrated on), cached in cache_dir()."""
    out = cache_dir(onnx_path, calib_nchw, work)
    files = {"fp32": out / "fp32.tflite", "int8": out / "int8.tflite", "versions": out / "versions.json"}
    if all(f.exists() for f in files.values()):
        return files
    py = ensure_tf_venv(log=log)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "calib.npy", _nhwc(calib_nchw))
    log(f"litert: converting {onnx_path} with onnx2tf (float32 and full-integer int8, {len(calib_nchw)} calibration inputs)")
    # the tf-venv must not see the tools venv's packages; TF's C++ logging is noise here; onnx2tf
    # runs the tf-venv's `onnxsim` from PATH
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": f"{py.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(py), str(Path(__file__).resolve()), "--worker", str(Path(onnx_path).resolve()), str(tmp)],
                       cwd=tmp, env=env, capture_output=True, text=True)
    (tmp / "onnx2tf.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [f"exit {r.returncode}"]
        raise SystemExit(f"roentgen-peers: onnx2tf failed on {onnx_path}: {tail[0]} (log: {tmp / 'onnx2tf.log'})")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp / "tf-fp32/model_float32.tflite", files["fp32"])
    shutil.copy(tmp / "tf-int8/model_full_integer_quant.tflite", files["int8"])
    for name in ("onnx2tf.log", "versions.json"):
        shutil.copy(tmp / name, out / name)
    shutil.rmtree(tmp)
    return files


# ---- in the tools venv: run and check the converted files (ai-edge-litert) -------------------------

FP32_MAX_REL_ERROR = 1e-3   # max |LiteRT fp32 - ORT float| / max |ORT float| over the calibration inputs
INT8_MIN_CORRELATION = 0.9  # mean Pearson correlation of LiteRT int8 outputs with ORT float's


def interpreter(path, threads: int, default_delegates: bool = True):
    """A LiteRT interpreter of `path`, tensors allocated; `default_delegates=False` runs the builtin
    kernels without the XNNPACK delegate."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    kind = OpResolverType.AUTO if default_delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def set_input(it, x_nchw) -> None:
    """Feeds an NCHW float32 tensor: NHWC (onnx2tf's layout), quantized for an int8 input."""
    d = it.get_input_details()[0]
    x = x_nchw.transpose(0, 2, 3, 1)
    if d["dtype"] != np.float32:
        scale, zero = d["quantization"]
        info = np.iinfo(d["dtype"])
        x = np.clip(np.round(x / scale) + zero, info.min, info.max)
    it.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))


def output(it):
    """The first output as float32 (dequantized for an int8 output)."""
    d = it.get_output_details()[0]
    y = it.get_tensor(d["index"]).astype(np.float32)
    if d["dtype"] != np.float32:
        scale, zero = d["quantization"]
        y = (y - zero) * scale
    return y


def compare(outputs, reference) -> dict:
    """Outputs of one engine vs ORT float's on the same inputs: relative max error, top-1 agreement,
    mean Pearson correlation."""
    y = np.stack([o.reshape(-1) for o in outputs]).astype(np.float64)
    r = np.stack([o.reshape(-1) for o in reference]).astype(np.float64)
    if y.shape != r.shape:
        return {"shape": list(y.shape), "reference_shape": list(r.shape), "rel_error": float("inf"), "top1": 0,
                "correlation": 0.0, "inputs": len(r)}
    yc, rc = y - y.mean(1, keepdims=True), r - r.mean(1, keepdims=True)
    corr = (yc * rc).sum(1) / np.maximum(np.linalg.norm(yc, axis=1) * np.linalg.norm(rc, axis=1), 1e-30)
    return {"rel_error": float(np.abs(y - r).max() / max(np.abs(r).max(), 1e-30)),
            "top1": int((y.argmax(1) == r.argmax(1)).sum()), "correlation": float(corr.mean()), "inputs": len(r)}


def check(onnx_path, files, calib_nchw, qdq=None, log=print) -> dict:
    """LiteRT fp32 and int8 (and ORT's QDQ model `qdq`, for scale) against ONNX Runtime float on the
    calibration inputs. Prints the figures; a wrong conversion (fp32 relative error above
    FP32_MAX_REL_ERROR, int8 correlation below INT8_MIN_CORRELATION) stops the benchmark."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    reference = [sess.run(None, {name: x})[0] for x in calib_nchw]
    result = {}
    for kind in ("fp32", "int8"):
        it = interpreter(files[kind], 1)
        outs = []
        for x in calib_nchw:
            set_input(it, x)
            it.invoke()
            outs.append(output(it))
        result[f"litert-{kind}"] = compare(outs, reference)
    if qdq is not None:
        q = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
        result["ort-int8"] = compare([q.run(None, {name: x})[0] for x in calib_nchw], reference)
    for engine, c in result.items():
        log(f"  {engine:<12} vs ORT float on {c['inputs']} calibration inputs: max rel error {c['rel_error']:.2e}, "
            f"top-1 agreement {c['top1']}/{c['inputs']}, correlation {c['correlation']:.4f}")
    bad = []
    if not result["litert-fp32"]["rel_error"] <= FP32_MAX_REL_ERROR:    # `not <=`: a NaN is bad too
        bad.append(f"litert-fp32 relative error {result['litert-fp32']['rel_error']:.2e} > {FP32_MAX_REL_ERROR}")
    if not result["litert-int8"]["correlation"] >= INT8_MIN_CORRELATION:
        bad.append(f"litert-int8 correlation {result['litert-int8']['correlation']:.3f} < {INT8_MIN_CORRELATION}")
    if bad:
        raise SystemExit(f"roentgen-peers: the LiteRT conversion of {onnx_path} is wrong: {'; '.join(bad)} "
                         f"({files['int8'].parent})")
    return result


def xnnpack_probe(path, x_nchw, runs: int = 10) -> dict:
    """Does XNNPACK take the graph? The delegate partitions it made and the 1-thread median with the
    default delegates vs the builtin kernels alone."""
    import statistics
    import time
    out = {}
    for label, default in (("xnnpack", True), ("builtin", False)):
        it = interpreter(path, 1, default)
        set_input(it, x_nchw)
        it.invoke()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            it.invoke()
            times.append((time.perf_counter() - t0) * 1e3)
        out[f"{label}_ms"] = statistics.median(times)
        if default:   # each graph part XNNPACK took is one DELEGATE node (the interpreter's only report of it)
            out["delegate_partitions"] = sum(op["op_name"] == "DELEGATE" for op in it._get_ops_details())
    return out


def _worker(onnx_path: str, tmp: str) -> None:
    """Runs in the tf-venv: onnx2tf on a copy named model.onnx, calibrated on tmp/calib.npy."""
    import onnx
    import onnx2tf
    import tensorflow as tf
    tmp = Path(tmp)
    shutil.copy(onnx_path, tmp / "model.onnx")
    inp = onnx.load(str(tmp / "model.onnx")).graph.input[0]
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    calib = np.load(tmp / "calib.npy")
    channels = calib.shape[-1]
    if channels == 3:
        # onnx2tf checks an RGB model on sample images it downloads unless this file is in the working
        # directory; the calibration tensors stand in (there is no network here)
        np.save(tmp / "calibration_image_sample_data_20x128x128x3_float32.npy", calib)
    zero, one = np.zeros((1, 1, 1, channels), np.float32), np.ones((1, 1, 1, channels), np.float32)
    # A static batch-1 input shape: with a dynamic batch (even with batch_size=1) onnx2tf loses the
    # layout at EfficientNet-Lite0's residual adds.
    common = dict(input_onnx_file_path=str(tmp / "model.onnx"), non_verbose=True,
                  overwrite_input_shape=[f"{inp.name}:{','.join(map(str, dims))}"])
    # Two runs: with int8 output on, onnx2tf pads MaxPool borders with 0 instead of -inf (so the int8
    # range stays sane), which changes the float model too; the fp32 file comes from a plain run.
    onnx2tf.convert(output_folder_path=str(tmp / "tf-fp32"), **common)
    onnx2tf.convert(output_folder_path=str(tmp / "tf-int8"), output_integer_quantized_tflite=True,
                    quant_type="per-channel",
                    # the tensors are normalized already: (x - 0) / 1
                    custom_input_op_name_np_data_path=[[inp.name, str(tmp / "calib.npy"), zero, one]], **common)
    (tmp / "versions.json").write_text(json.dumps({"onnx2tf": onnx2tf.__version__, "tensorflow": tf.__version__}))


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="litert_convert", description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", action="store_true", help="create / update the tf-venv and exit")
    ap.add_argument("--worker", nargs=2, metavar=("MODEL.onnx", "DIR"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(*a.worker)
    elif a.setup:
        print(ensure_tf_venv(log=lambda m: print(m, file=sys.stderr)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
