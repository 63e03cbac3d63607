"""Side-by-side latency: Roentgen vs ONNX Runtime, OpenVINO and LiteRT, on one network or several.

Each network is one ONNX model (peer_networks: the Table-2 CNN, mobilenet_v2, EfficientNet-Lite0)
with its Roentgen int8 and f32 files. From the ONNX model and the calibration images:
- ONNX Runtime int8: static QDQ, per-channel, u8 activations x s8 weights, BatchNorm folded by
  `quant_pre_process`; ONNX Runtime fp32: the ONNX model itself;
- OpenVINO int8: the same QDQ model compiled by the CPU plugin (LATENCY hint, 1 stream; its float
  parts in the plugin's default precision, bf16 on a CPU with AVX512_BF16); OpenVINO fp32: the ONNX
  model with INFERENCE_PRECISION_HINT f32;
- LiteRT fp32 and int8: .tflite files converted here by onnx2tf in a TensorFlow venv of its own
  (litert_convert), int8 = full-integer, per-channel weights, calibrated on the same tensors as ORT;
  checked against ONNX Runtime float before they are timed; run with the default XNNPACK delegate;
- Roentgen int8 and f32: one `roentgen bench --serve` process per model and thread count, kept
  for every batch as the peers' sessions are (ROENTGEN_KERNEL passes through to it).
Every engine runs the same input tensor: the fixed pattern `roentgen bench` uses. Engines are timed
in short batches, alternating engine and thread count round by round, so that a noisy shared machine
slows all of them alike, with a pause (--settle) before each batch so that the previous engine's
spin-waiting workers (ONNX Runtime's and OpenVINO's pools spin after a run) have gone idle; one table of medians per network with the ratios Roentgen / best peer,
the kernels OpenVINO compiled, and under --peer-isa which peers honour the cap.

    roentgen-peers                                   # the Table-2 CNN (fixtures/models/cnn*), fixtures/calib
    roentgen-peers --network all --rounds 3 --runs 20 --json peers.json
    ROENTGEN_KERNEL=avx2 roentgen-peers --peer-isa avx2
    roentgen-peers --onnx m.onnx --int8 m-int8.rtg --f32 m-f32.rtg   # any other network
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import peer_networks

REPO = Path(__file__).resolve().parents[2]
INT8_PEERS = ("ort-int8", "openvino-int8", "litert-int8")
FP32_PEERS = ("ort-fp32", "openvino-fp32", "litert-fp32")
ENGINES = ("roentgen-int8", "roentgen-f32") + INT8_PEERS + FP32_PEERS
# The exact int8 multiply each Roentgen variant's tiles are built on: the line scripts/isa-peak.c
# prints for it, the compiler flags that build that line, and the MACs one step does. The bound is
# measured on the machine that runs the benchmark (docs/SPEED.md "Bound"): it differs by core
# (Zen 4 runs one 512-bit vpdpbusd per cycle, Zen 5 two).
PEAK_INSTRUCTIONS = {
    "avx2": ("vpmaddwd + vpaddd (pairs)", ["-mavx2", "-mfma"], 16),
    "avxvnni": ("{vex} vpdpbusd ymm (quads)", ["-mavx2", "-mfma", "-mavxvnni"], 32),
    "vnni": ("vpdpbusd zmm (quads)", ["-mavx2", "-mfma", "-mavx512f", "-mavx512vnni"], 64),
}


def measured_peak(variant: str) -> tuple[float | None, str | None]:
    """(G exact int8 MAC/s of one core, instruction) for `variant`'s tiles, timed now by
    scripts/isa-peak.c (built with clang); (None, None) for portable or where it cannot be built."""
    if variant not in PEAK_INSTRUCTIONS or shutil.which("clang") is None or not (REPO / "scripts/isa-peak.c").is_file():
        return None, None
    line, flags, macs = PEAK_INSTRUCTIONS[variant]
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "isa-peak"
        subprocess.run(["clang", "-O2", *flags, str(REPO / "scripts/isa-peak.c"), "-o", str(exe)], check=True)
        outs = [subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout for _ in range(3)]
    rates = [float(m[1]) for out in outs for m in [re.search(re.escape(line) + r"\s+([\d.]+) G/s", out)] if m]
    if len(rates) != len(outs):
        raise SystemExit(f"roentgen-peers: scripts/isa-peak.c printed no '{line}' line:\n{outs[0]}")
    return round(max(rates) * macs, 1), line   # the best of 3: a peak, not a typical rate


CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
# What --peer-isa avx2 does per peer. Only oneDNN (inside OpenVINO's CPU plugin) has a run-time cap;
# ONNX Runtime's MLAS and XNNPACK pick kernels from CPUID with no override (no such variable in
# their shipped libraries), so they keep this CPU's best ISA.
PEER_ISA_ENV = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}


def onnx_macs(path) -> int:
    """Multiply-accumulates of the Conv and Gemm / MatMul nodes of a batch-1 model. The output shapes
    come from one ONNX Runtime run: static shape inference loses H and W behind computed pads (the
    EfficientNet export)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    m = onnx.load(str(path))
    weights = {i.name: list(i.dims) for i in m.graph.initializer}
    weights |= {n.output[0]: list(numpy_helper.to_array(n.attribute[0].t).shape) for n in m.graph.node
                if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    nodes = [n for n in m.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] in weights]
    outputs = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_empty_tensor_value_info(n.output[0]) for n in nodes if n.output[0] not in outputs)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # every node output still exists
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.zeros([d if isinstance(d, int) else 1 for d in inp.shape], np.float32)
    shapes = {o.name: y.shape for o, y in zip(sess.get_outputs(), sess.run(None, {inp.name: x}))}
    macs = 0
    for n in nodes:
        w = weights[n.input[1]]
        if n.op_type == "Conv":             # w: [OC, IC/groups, KH, KW]
            macs += int(np.prod(shapes[n.output[0]])) * int(np.prod(w[1:]))
        else:
            macs += int(np.prod(shapes[n.output[0]][:-1])) * int(np.prod(w))
    return macs


def calibration_inputs(calib_dir, shape, mean, std, limit=64):
    """NCHW float32 tensors from the calibration PNGs, preprocessed (resized) as the runtime does."""
    from .data.image import to_tensor
    _, c, h, w = shape
    files = peer_networks.calibration_pngs(calib_dir)[:limit]
    return [to_tensor(str(f), h, w, c, (mean,) * c, (std,) * c).transpose(0, 3, 1, 2).copy() for f in files]


def bench_input(shape):
    """The fixed input `roentgen bench` times (Bench.swift: element i of the NHWC tensor is
    ((i * 7919) % 1000) / 1000 * 2 - 1), as NCHW float32, so every engine runs the same tensor."""
    n, c, h, w = shape
    i = np.arange(n * h * w * c, dtype=np.int64)
    nhwc = (((i * 7919) % 1000).astype(np.float32) / 1000 * 2 - 1).reshape(n, h, w, c)
    return np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))


def _digest(onnx_path, calib) -> str:
    h = hashlib.sha256(Path(onnx_path).read_bytes())
    for x in calib:
        h.update(x.tobytes())
    return h.hexdigest()[:16]


def quantize_qdq(onnx_path, calib, work: Path) -> Path:
    """Static QDQ per-channel quantization for ONNX Runtime, cached in `work` by the model's and the
    calibration tensors' hash."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    d = Path(work) / f"qdq-{_digest(onnx_path, calib)}"
    out = d / "qdq.onnx"
    if out.exists():
        return out
    d.mkdir(parents=True, exist_ok=True)
    pre = d / "pre.onnx"
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
    import onnxruntime as ort
    name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(pre), str(d / "qdq.tmp.onnx"), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    (d / "qdq.tmp.onnx").rename(out)
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


def openvino_runner(model_path, x, precision=None):
    """`precision`: INFERENCE_PRECISION_HINT (None: the plugin's default). `run.kernels`: the
    compiled model's primitives (openvino_kernels), i.e. which ISA OpenVINO really runs."""
    import openvino as ov
    core = ov.Core()
    compiled = {}

    def run(threads, runs, warmup):
        if threads not in compiled:
            config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
            if precision:
                config["INFERENCE_PRECISION_HINT"] = precision
            cm = core.compile_model(str(model_path), "CPU", config)
            run.kernels = openvino_kernels(cm)
            compiled[threads] = cm.create_infer_request()
        req = compiled[threads]
        return _time(lambda: req.infer({0: x}), runs, warmup)
    run.kernels = {}
    return run


def openvino_kernels(compiled_model) -> dict:
    """{"layer type:primitive type": nodes} of a compiled model, the ISA-specific primitives only
    (e.g. Convolution:brgconv_avx512_I8, FakeQuantize:jit_avx512_f32)."""
    counts = {}
    for op in compiled_model.get_runtime_model().get_ops():
        info = op.get_rt_info()
        kind = info["primitiveType"].astype(str) if "primitiveType" in info else ""
        if any(isa in kind for isa in ("avx", "sse", "amx", "uni")):
            key = f"{info['layerType'].astype(str)}:{kind}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def litert_runner(tflite_path, x):
    from . import litert_convert
    interps = {}

    def run(threads, runs, warmup):
        if threads not in interps:
            it = litert_convert.interpreter(tflite_path, threads)
            litert_convert.set_input(it, x)
            interps[threads] = it
        return _time(interps[threads].invoke, runs, warmup)
    return run


def roentgen_runner(binary, rtg):
    """Roentgen in one warm process per thread count (`roentgen bench --serve`, loaded once), as each
    peer keeps one session per thread count in this process: a batch is a line 'RUNS WARMUP' and
    its JSON answer. (A new process per batch paid its start-up in every batch: 10-15 % on the
    1-thread int8 medians of stop 31's Zen 5, whose batches last 60-100 ms, and up to 3x at 2 threads.)"""
    procs = {}

    def run(threads, runs, warmup):
        p = procs.get(threads)
        if p is None:
            p = procs[threads] = subprocess.Popen([str(binary), "bench", str(rtg), "--threads", str(threads), "--serve"],
                                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        p.stdin.write(f"{runs} {warmup}\n")
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"roentgen-peers: {binary} bench {rtg} --serve ended (exit {p.wait()})")
        r = json.loads(line)
        run.kernel = r.get("kernel")
        # ops the pool ran on the calling thread alone because the worker lagged (the second core was busy)
        run.solo_ops.setdefault(threads, []).append(r.get("solo_ops", 0))
        return [r["median_ms"]] * runs      # the bench's own median stands for this batch

    def close():
        for p in procs.values():
            p.stdin.close()
            p.wait(timeout=60)
    run.kernel = None
    run.solo_ops = {}
    run.close = close
    return run


def find_binary(explicit):
    for c in [explicit, os.environ.get("ROENTGEN_BIN"), REPO / ".build/release/roentgen", shutil.which("roentgen")]:
        if c and Path(c).exists():
            return Path(c)
    raise SystemExit("roentgen-peers: no roentgen binary (build it: swift build -c release, or pass --roentgen)")


def cpu_info() -> dict:
    """The CPU model name and the ISA flags that decide which kernels the engines pick."""
    import platform
    model, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"model": model or platform.machine(), "cores": os.cpu_count(), "flags": {f: f in flags for f in CPU_FLAGS}}


def _version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _missing_module(engine: str):
    """The Python package an engine needs when it is not installed, else None."""
    import importlib.util
    need = {"openvino": ("openvino", "openvino"), "litert": ("ai_edge_litert", "ai-edge-litert")}.get(engine.split("-")[0])
    return need[1] if need and importlib.util.find_spec(need[0]) is None else None


def bench_network(net, a, binary, log) -> dict:
    """Builds the peers' files of one network, checks LiteRT's, times every engine and prints the table."""
    from .fileformat import read_model
    import onnxruntime as ort
    spec = read_model(net.int8).input
    mean = spec.mean[0] if a.mean is None else a.mean
    std = spec.std[0] if a.std is None else a.std
    sess = ort.InferenceSession(str(net.onnx), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    calib = calibration_inputs(a.calib, shape, mean, std)
    x = bench_input(shape)
    macs = onnx_macs(net.onnx)
    work = Path(a.work) / net.name
    result = {"onnx": str(net.onnx), "int8": str(net.int8), "f32": str(net.f32), "input_shape": shape,
              "mean": mean, "std": std, "macs": macs, "calibration_inputs": len(calib)}

    want = []
    for e in a.engines:
        missing = _missing_module(e)
        if missing:
            log(f"roentgen-peers: {e} skipped: {missing} is not installed (pip install './tools[peers]')")
        else:
            want.append(e)
    qdq = quantize_qdq(net.onnx, calib, work) if {"ort-int8", "openvino-int8"} & set(want) else None
    files = None
    if {"litert-int8", "litert-fp32"} & set(want):
        from . import litert_convert
        files = litert_convert.convert(net.onnx, calib, work, log=log)
        log(f"{net.name}: LiteRT conversion check")
        result["litert_check"] = litert_convert.check(net.onnx, files, calib, qdq, log=log)
        result["litert_xnnpack"] = {k: litert_convert.xnnpack_probe(files[k], x) for k in ("fp32", "int8")}
        for k, p in result["litert_xnnpack"].items():
            log(f"  litert-{k:<5} XNNPACK delegate: {p['delegate_partitions']} partition(s); 1 thread "
                f"{p['xnnpack_ms']:.2f} ms with it, {p['builtin_ms']:.2f} ms with the builtin kernels alone")
        result["converter"] = json.loads(files["versions"].read_text())
    # an AVX2 CPU has no bf16: under --peer-isa avx2 OpenVINO's float parts run in f32, as they would there
    result["openvino_precision"] = {"openvino-int8": "f32" if a.peer_isa == "avx2" else None, "openvino-fp32": "f32"}
    makers = {"roentgen-int8": lambda: roentgen_runner(binary, net.int8),
              "roentgen-f32": lambda: roentgen_runner(binary, net.f32),
              "ort-int8": lambda: ort_runner(qdq, x), "ort-fp32": lambda: ort_runner(net.onnx, x),
              "openvino-int8": lambda: openvino_runner(qdq, x, result["openvino_precision"]["openvino-int8"]),
              "openvino-fp32": lambda: openvino_runner(net.onnx, x, "f32"),
              "litert-int8": lambda: litert_runner(files["int8"], x),
              "litert-fp32": lambda: litert_runner(files["fp32"], x)}
    runners = {e: makers[e]() for e in want}

    times = {(e, t): [] for e in runners for t in a.threads}
    for r in range(a.rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        for e in order:
            for t in (a.threads if r % 2 == 0 else list(reversed(a.threads))):
                time.sleep(a.settle)
                times[(e, t)] += runners[e](t, a.runs, a.warmup)
        log(f"{net.name}: round {r + 1}/{a.rounds} done")
    for e in runners:
        getattr(runners[e], "close", lambda: None)()
    med = {k: statistics.median(v) for k, v in times.items()}
    result["medians_ms"] = {e: {str(t): med[(e, t)] for t in a.threads} for e in runners}
    result["roentgen_kernel"] = {e: runners[e].kernel for e in runners if e.startswith("roentgen")}
    result["openvino_kernels"] = {e: runners[e].kernels for e in runners if e.startswith("openvino")}
    result["ratios"] = {}
    result["load_average"] = os.getloadavg()[0]

    print(f"\n{net.name}: {net.onnx}, input {'x'.join(map(str, shape[1:]))}, {macs / 1e6:.1f} M MACs, batch 1; median "
          f"latency in ms ({a.rounds} alternating rounds x {a.runs} runs; load average {result['load_average']:.1f})")
    head = f"{'engine':<30}" + "".join(f"{str(t) + ' thread' + ('s' if t > 1 else ''):>12}" for t in a.threads)
    print(head)
    print("-" * len(head))
    for e in runners:
        label = e + (f" ({runners[e].kernel})" if getattr(runners[e], "kernel", None) else "")
        print(f"{label:<30}" + "".join(f"{med[(e, t)]:>12.3f}" for t in a.threads))
    bound = {t: macs / (a.peak_gmacs * 1e9 * t) * 1e3 for t in a.threads}
    # the measured bound of the int8 kernel that ran (none for portable, or without roentgen-int8)
    kernel = (getattr(runners.get("roentgen-int8"), "kernel", None) or "").split(" ")[0]
    peak, instruction = ((a.measured_peak_gmacs, "--measured-peak-gmacs") if a.measured_peak_gmacs
                         else measured_peak(kernel))
    measured = {t: macs / (peak * 1e9 * t) * 1e3 for t in a.threads} if peak else None
    result["measured_bound"] = {"gmacs_per_core": peak, "instruction": instruction}
    print(f"{'bound (issue: 528 GMAC/s)':<30}" + "".join(f"{bound[t]:>12.3f}" for t in a.threads))
    if measured:
        print(f"{'bound (' + instruction + ')':<30}" + "".join(f"{measured[t]:>12.3f}" for t in a.threads))
    print("-" * len(head))
    for ours, pool, key in (("roentgen-int8", INT8_PEERS, "int8"), ("roentgen-f32", FP32_PEERS, "f32")):
        present = [e for e in pool if e in runners]
        if ours not in runners or not present:
            continue
        best = {t: min(present, key=lambda e: med[(e, t)]) for t in a.threads}
        ratio = {t: med[(ours, t)] / med[(best[t], t)] for t in a.threads}
        print(f"{key + ' Roentgen / best peer':<30}" + "".join(f"{ratio[t]:>12.2f}" for t in a.threads)
              + "    (best: " + ", ".join(f"{t}T {best[t]}" for t in a.threads) + ")")
        result["ratios"][f"{key}_vs_best_peer"] = {str(t): ratio[t] for t in a.threads}
        result["ratios"][f"{key}_best_peer"] = {str(t): best[t] for t in a.threads}
    for e in runners:
        for t, solo in sorted(getattr(runners[e], "solo_ops", {}).items()):
            result.setdefault("roentgen_solo_ops", {}).setdefault(e, {})[str(t)] = solo
            if t > 1 and any(solo):
                print(f"{e} {t}T: the worker lagged in {sum(1 for n in solo if n)} of {len(solo)} batches "
                      f"({sum(solo)} ops ran on one thread: the second core was busy)")
    if "roentgen-int8" in runners and measured:
        pct = {t: 100 * measured[t] / med[("roentgen-int8", t)] for t in a.threads}
        print(f"{'int8 % of measured bound':<30}" + "".join(f"{pct[t]:>11.0f}%" for t in a.threads))
        result["ratios"]["int8_percent_of_measured_bound"] = {str(t): pct[t] for t in a.threads}
    # what OpenVINO compiled (the --peer-isa check); ORT and LiteRT do not report their kernels
    for e, kernels in result["openvino_kernels"].items():
        print(f"{e + ' kernels':<30}" + ", ".join(f"{k} x{n}" for k, n in kernels.items()))
    if a.peer_isa != "native":
        # honoured or not, from what each peer reports it compiled, not from the variable being set
        honoured = {}
        for e in runners:
            if e.startswith("openvino"):
                above = {k: n for k, n in result["openvino_kernels"][e].items() if "avx512" in k or "amx" in k}
                honoured[e] = "yes" if not above else "partly, not " + ", ".join(f"{k} x{n}" for k, n in above.items())
            elif not e.startswith("roentgen"):
                honoured[e] = "no (no ISA cap exists: CPUID dispatch)"
        result["peer_isa_honoured"] = honoured
        for e, h in honoured.items():
            print(f"{e + ' honours ' + a.peer_isa:<30}{h}")
    return result


def run(argv=None) -> dict:
    """Runs the benchmark, prints one table per network and returns the figures."""
    ap = argparse.ArgumentParser(prog="roentgen-peers", description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", choices=[*peer_networks.NETWORKS, "all"], default=None,
                    help="which network (default table2: the shipped Table-2 CNN); built into --work when needed")
    ap.add_argument("--onnx", default=None, help="time this ONNX model instead of --network (with --int8 and --f32)")
    ap.add_argument("--int8", default=None, help="with --onnx: Roentgen int8 model of the same network")
    ap.add_argument("--f32", default=None, help="with --onnx: Roentgen f32 model of the same network")
    ap.add_argument("--calib", default=REPO / "fixtures/calib", help="calibration PNGs (every engine's int8 model)")
    ap.add_argument("--roentgen", default=None, help="roentgen binary (default: .build/release/roentgen, $ROENTGEN_BIN)")
    ap.add_argument("--mean", type=float, default=None, help="input normalisation (default: the int8 model's)")
    ap.add_argument("--std", type=float, default=None, help="input normalisation (default: the int8 model's)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5, help="alternation rounds")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--settle", type=float, default=0.25,
                    help="seconds of idle before each batch, for the previous engine's spinning workers to stop")
    ap.add_argument("--peak-gmacs", type=float, default=528.5,
                    help="vpdpbusd peak of one core in G int8 MAC/s (default: the issue's 724.1 M MACs / 1.37 ms)")
    ap.add_argument("--measured-peak-gmacs", type=float, default=None,
                    help="exact int8 MAC/s of one core in G (default: measured by scripts/isa-peak.c for the int8 kernel that runs)")
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    ap.add_argument("--peer-isa", choices=["native", *PEER_ISA_ENV], default="native",
                    help="cap the peers' ISA where a peer allows it (avx2: ONEDNN_MAX_CPU_ISA=AVX2 for OpenVINO; "
                         "ONNX Runtime and LiteRT have no such cap); ROENTGEN_KERNEL does it for Roentgen")
    ap.add_argument("--work", default=Path.home() / ".cache/roentgen/peers",
                    help="built networks and converted peer models (cached by their sources' hash)")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731 - progress on stderr, tables on stdout
    if a.onnx is not None:
        if a.network is not None or a.int8 is None or a.f32 is None:
            ap.error("--onnx needs --int8 and --f32, and excludes --network")
        nets = [peer_networks.Network(Path(a.onnx).stem, Path(a.onnx), Path(a.int8), Path(a.f32))]
    else:
        if a.int8 is not None or a.f32 is not None:
            ap.error("--int8 and --f32 go with --onnx")
        names = peer_networks.NETWORKS if a.network == "all" else [a.network or "table2"]
        nets = [peer_networks.assets(n, a.calib, a.work, log=log) for n in names]
    for p in [p for n in nets for p in (n.onnx, n.int8, n.f32)]:
        if not Path(p).is_file():
            raise SystemExit(f"roentgen-peers: {p}: no such file")
    if a.peer_isa != "native":
        if "openvino" in sys.modules:
            raise SystemExit("roentgen-peers: --peer-isa must be set before OpenVINO is loaded (run it in a new process)")
        os.environ.update(PEER_ISA_ENV[a.peer_isa])   # oneDNN reads it once, when OpenVINO loads
    binary = find_binary(a.roentgen)

    result = {"cpu": cpu_info(), "peer_isa": a.peer_isa, "peer_isa_env": PEER_ISA_ENV.get(a.peer_isa, {}),
              "roentgen_kernel_env": os.environ.get("ROENTGEN_KERNEL"), "threads": a.threads, "rounds": a.rounds,
              "runs": a.runs, "versions": {"onnxruntime": _version("onnxruntime"), "openvino": _version("openvino"),
                                           "ai-edge-litert": _version("ai-edge-litert")},
              "roentgen": {"binary": str(binary), "sha256": hashlib.sha256(binary.read_bytes()).hexdigest()[:16]},
              "networks": {}}
    c = result["cpu"]
    print(f"CPU: {c['model']}, {c['cores']} cores; " + " ".join(f"{f}{'+' if v else '-'}" for f, v in c["flags"].items())
          + f"; peers' ISA: {a.peer_isa}" + (f" ({', '.join(f'{k}={v}' for k, v in result['peer_isa_env'].items())})"
                                             if result["peer_isa_env"] else ""))
    for net in nets:
        result["networks"][net.name] = r = bench_network(net, a, binary, log)
        result["versions"].update(r.pop("converter", {}))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return result


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
