"""Side-by-side latency: Roentgen vs ONNX Runtime, OpenVINO (and LiteRT when a .tflite exists).

One ONNX model and its calibration images are quantized for ONNX Runtime (static, QDQ, per-channel,
u8 activations x s8 weights, BatchNorm folded by `quant_pre_process`); OpenVINO compiles that same
QDQ model (its CPU plugin executes QDQ as int8). ONNX Runtime also runs the fp32 model. Roentgen
runs its int8 and f32 .rtg files through `roentgen bench --json`. Every engine is timed in short
batches, alternating engine and thread count round by round, so that a noisy shared machine slows
all of them alike; the table shows the median over all timed runs and the ratio Roentgen / best peer.

    roentgen-peers                       # defaults: fixtures/models/cnn.onnx (trained Table-2), fixtures/calib, ...
    roentgen-peers --threads 1 2 --rounds 7 --runs 40 --json peers.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def onnx_macs(path) -> int:
    """Multiply-accumulates of the Conv and Gemm nodes of a batch-1 model (shapes inferred)."""
    import onnx
    from onnx import shape_inference
    m = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {}
    for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in v.type.tensor_type.shape.dim]
        shapes[v.name] = dims
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    macs = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits[n.input[1]]           # [OC, IC/groups, KH, KW]
            out = shapes.get(n.output[0])
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            w = inits.get(n.input[1])
            if w is not None:
                macs += int(np.prod(w))
    return macs


def calibration_inputs(calib_dir, shape, mean, std, limit=64):
    """NCHW float32 tensors from the calibration PNGs, preprocessed as the runtime does."""
    from .data.image import to_tensor
    _, c, h, w = shape
    files = sorted(p for p in Path(calib_dir).rglob("*.png"))[:limit]
    if not files:
        raise SystemExit(f"roentgen-peers: no PNG files under {calib_dir}")
    return [to_tensor(str(f), h, w, c, (mean,) * c, (std,) * c).transpose(0, 3, 1, 2).copy() for f in files]


def quantize_qdq(onnx_path, calib, work: Path) -> Path:
    """Static QDQ per-channel quantization for ONNX Runtime (cached by source mtime)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    work.mkdir(parents=True, exist_ok=True)
    pre, out = work / "pre.onnx", work / "qdq.onnx"
    if out.exists() and out.stat().st_mtime > Path(onnx_path).stat().st_mtime:
        return out
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
    import onnxruntime as ort
    name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


# ---- runners: each returns a callable(threads, runs, warmup) -> list of latencies in ms ----------

def _time(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def ort_runner(model_path, x):
    import onnxruntime as ort
    sessions = {}

    def run(threads, runs, warmup):
        if threads not in sessions:
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            s = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
            sessions[threads] = (s, {s.get_inputs()[0].name: x})
        s, feed = sessions[threads]
        return _time(lambda: s.run(None, feed), runs, warmup)
    return run


def openvino_runner(model_path, x):
    import openvino as ov
    core = ov.Core()
    compiled = {}

    def run(threads, runs, warmup):
        if threads not in compiled:
            cm = core.compile_model(str(model_path), "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                              "NUM_STREAMS": 1})
            compiled[threads] = cm.create_infer_request()
        req = compiled[threads]
        return _time(lambda: req.infer({0: x}), runs, warmup)
    return run


def litert_runner(tflite_path, x):
    from ai_edge_litert.interpreter import Interpreter
    interps = {}

    def run(threads, runs, warmup):
        if threads not in interps:
            it = Interpreter(model_path=str(tflite_path), num_threads=threads)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            xin = x.transpose(0, 2, 3, 1) if list(d["shape"])[-1] == x.shape[1] else x
            if d["dtype"] != np.float32:
                s, z = d["quantization"]
                xin = np.clip(np.round(xin / s) + z, -128, 127).astype(d["dtype"])
            it.set_tensor(d["index"], xin.astype(d["dtype"]))
            interps[threads] = it
        it = interps[threads]
        return _time(it.invoke, runs, warmup)
    return run


def roentgen_runner(binary, rtg):
    def run(threads, runs, warmup):
        out = subprocess.run([str(binary), "bench", str(rtg), "--threads", str(threads), "--runs", str(runs),
                              "--warmup", str(warmup), "--json"], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout)
        run.kernel = r.get("kernel")
        return [r["median_ms"]] * runs      # the bench's own median stands for this batch
    run.kernel = None
    return run


def find_binary(explicit):
    for c in [explicit, os.environ.get("ROENTGEN_BIN"), REPO / ".build/release/roentgen", shutil.which("roentgen")]:
        if c and Path(c).exists():
            return Path(c)
    raise SystemExit("roentgen-peers: no roentgen binary (build it: swift build -c release, or pass --roentgen)")


def run(argv=None) -> dict:
    """Runs the benchmark, prints the table and returns the figures."""
    ap = argparse.ArgumentParser(prog="roentgen-peers", description=__doc__.split("\n\n")[0])
    fx = REPO / "fixtures"
    ap.add_argument("--onnx", default=fx / "models/cnn.onnx")
    ap.add_argument("--calib", default=fx / "calib")
    ap.add_argument("--int8", default=fx / "models/cnn-int8.rtg", help="Roentgen int8 model of the same network")
    ap.add_argument("--f32", default=fx / "models/cnn-f32.rtg", help="Roentgen f32 model of the same network")
    ap.add_argument("--tflite", default=None, help="LiteRT int8 .tflite of the same network (optional)")
    ap.add_argument("--roentgen", default=None, help="roentgen binary (default: .build/release/roentgen, $ROENTGEN_BIN)")
    ap.add_argument("--mean", type=float, default=None, help="input normalisation (default: the --int8 model's)")
    ap.add_argument("--std", type=float, default=None, help="input normalisation (default: the --int8 model's)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5, help="alternation rounds")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--peak-gmacs", type=float, default=528.5,
                    help="vpdpbusd peak of one core in G int8 MAC/s (default: the issue's 724.1 M MACs / 1.37 ms)")
    ap.add_argument("--measured-peak-gmacs", type=float, default=231.0,
                    help="vpdpbusd zmm peak measured on this machine by a 24-accumulator loop (docs/SPEED.md)")
    ap.add_argument("--engines", nargs="+", default=["roentgen-int8", "roentgen-f32", "ort-int8", "ort-fp32", "openvino-int8", "litert-int8"])
    ap.add_argument("--work", default=Path.home() / ".cache/roentgen/peers")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    if a.mean is None or a.std is None:
        from .fileformat import read_model
        spec = read_model(a.int8).input
        a.mean = spec.mean[0] if a.mean is None else a.mean
        a.std = spec.std[0] if a.std is None else a.std

    import onnxruntime as ort
    sess = ort.InferenceSession(str(a.onnx), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    calib = calibration_inputs(a.calib, shape, a.mean, a.std)
    x = calib[0]
    macs = onnx_macs(a.onnx)

    runners, versions = {}, {"onnxruntime": ort.__version__}
    want = set(a.engines)
    if "ort-int8" in want or "openvino-int8" in want:
        qdq = quantize_qdq(a.onnx, calib, Path(a.work))
    if "roentgen-int8" in want:
        runners["roentgen-int8"] = roentgen_runner(find_binary(a.roentgen), a.int8)
    if "roentgen-f32" in want:
        runners["roentgen-f32"] = roentgen_runner(find_binary(a.roentgen), a.f32)
    if "ort-int8" in want:
        runners["ort-int8"] = ort_runner(qdq, x)
    if "ort-fp32" in want:
        runners["ort-fp32"] = ort_runner(a.onnx, x)
    if "openvino-int8" in want:
        try:
            import openvino
            versions["openvino"] = openvino.__version__
            runners["openvino-int8"] = openvino_runner(qdq, x)
        except ImportError:
            print("roentgen-peers: openvino not installed (pip install openvino); skipped", file=sys.stderr)
    if "litert-int8" in want and a.tflite:
        try:
            runners["litert-int8"] = litert_runner(a.tflite, x)
        except ImportError:
            print("roentgen-peers: ai-edge-litert not installed; skipped", file=sys.stderr)

    times = {(e, t): [] for e in runners for t in a.threads}
    for r in range(a.rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        for e in order:
            for t in (a.threads if r % 2 == 0 else list(reversed(a.threads))):
                times[(e, t)] += runners[e](t, a.runs, a.warmup)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in times.items() if v}
    peers_int8 = [e for e in runners if e.endswith("int8") and not e.startswith("roentgen")]
    rows, result = [], {"macs": macs, "versions": versions, "threads": a.threads, "medians_ms": {}, "ratios": {}}
    print(f"\n{a.onnx}: {macs / 1e6:.1f} M MACs, batch 1; median latency in ms "
          f"({a.rounds} alternating rounds x {a.runs} runs; load average {os.getloadavg()[0]:.1f})")
    head = f"{'engine':<28}" + "".join(f"{str(t) + ' thread' + ('s' if t > 1 else ''):>12}" for t in a.threads)
    print(head)
    print("-" * len(head))
    for e in runners:
        label = e + (f" ({runners[e].kernel})" if getattr(runners[e], "kernel", None) else "")
        print(f"{label:<28}" + "".join(f"{med[(e, t)]:>12.3f}" for t in a.threads))
        result["medians_ms"][e] = {str(t): med[(e, t)] for t in a.threads}
    bound = {t: macs / (a.peak_gmacs * 1e9 * t) * 1e3 for t in a.threads}
    measured = {t: macs / (a.measured_peak_gmacs * 1e9 * t) * 1e3 for t in a.threads}
    print(f"{'bound (issue: 528 GMAC/s)':<28}" + "".join(f"{bound[t]:>12.3f}" for t in a.threads))
    print(f"{'bound (measured peak)':<28}" + "".join(f"{measured[t]:>12.3f}" for t in a.threads))
    print("-" * len(head))
    if "roentgen-int8" in runners and peers_int8:
        best = {t: min(peers_int8, key=lambda e: med[(e, t)]) for t in a.threads}
        line = "".join(f"{med[('roentgen-int8', t)] / med[(best[t], t)]:>12.2f}" for t in a.threads)
        print(f"{'int8 Roentgen / best peer':<28}{line}    (best: " + ", ".join(f"{t}T {best[t]}" for t in a.threads) + ")")
        print(f"{'int8 % of issue bound':<28}" + "".join(f"{100 * bound[t] / med[('roentgen-int8', t)]:>11.0f}%" for t in a.threads))
        print(f"{'int8 % of measured bound':<28}" + "".join(f"{100 * measured[t] / med[('roentgen-int8', t)]:>11.0f}%" for t in a.threads))
        result["ratios"]["int8_percent_of_measured_bound"] = {str(t): 100 * measured[t] / med[("roentgen-int8", t)] for t in a.threads}
        result["ratios"]["int8_vs_best_peer"] = {str(t): med[("roentgen-int8", t)] / med[(best[t], t)] for t in a.threads}
        result["ratios"]["int8_percent_of_bound"] = {str(t): 100 * bound[t] / med[("roentgen-int8", t)] for t in a.threads}
    if "roentgen-f32" in runners and "ort-fp32" in runners:
        print(f"{'f32 Roentgen / ORT fp32':<28}" + "".join(f"{med[('roentgen-f32', t)] / med[('ort-fp32', t)]:>12.2f}" for t in a.threads))
        result["ratios"]["f32_vs_ort_fp32"] = {str(t): med[("roentgen-f32", t)] / med[("ort-fp32", t)] for t in a.threads}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return result


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
