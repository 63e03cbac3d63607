#!/usr/bin/env python3
"""Cold start and peak memory of classifying one image: Roentgen next to ONNX Runtime, OpenVINO and
LiteRT (issue 11, "Cold start and memory").

    PYTHONPATH=tools ~/.cache/roentgen/venv/bin/python scripts/coldstart.py [--runs 10] [--cold] [--json OUT]

Every run is a fresh process that loads the model, classifies one image and exits, started by a small
C launcher (scripts/coldstart/measure.c: fork, exec, wait4): the wall time from fork to reaping, and the
child's peak RSS (ru_maxrss, what /usr/bin/time -v reports) and page faults. The engines take turns run
by run, so a busy machine slows all of them alike. Warm: every engine ran once untimed before, so its
files are in the page cache. --cold (root only): the page cache is dropped (echo 3 > /proc/sys/vm/drop_caches)
before every run - of the whole machine, so it also slows whatever else runs.

How an engine is measured (the "how" column):
  native       the process is the engine: `roentgen classify MODEL PNG`, and for each peer a small C
               program (scripts/coldstart/*.c, built here with cc into --work) on the peer's C API from
               its PyPI wheel that reads the input tensor, loads the model, runs once and prints the output.
  python net   for a peer without a usable C API: `python -c "import X; load; run once"` (python raw)
               minus a process that only imports X (python import): the median of the run-by-run
               differences of time and of peak RSS; min - min. Both raw rows are shown.
roentgen-help (`roentgen --help`: no model, no image) is what starting and exiting the binary costs.
The peers get the tensor `roentgen preprocess` writes for the image; Roentgen decodes and preprocesses
the PNG inside its time: `roentgen bench` and the split `classify --json` reports (latency_ms -
inference_ms of the same call) show how much of it that is. A native peer's output must equal its
Python binding's on the same tensor and settings, so the C program computes what the peer computes.
On disk: the executable and every shared object it loaded (ld.so's LD_DEBUG=files, so dlopen()ed
plugins count), without the C/C++ runtime every Linux has; for Python rows the wheels' objects only.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from roentgen_tools import peers  # noqa: E402
from roentgen_tools.fileformat import read_model  # noqa: E402

C_SOURCES = Path(__file__).resolve().parent / "coldstart"
SITE = Path(sysconfig.get_paths()["purelib"])
# on every Linux box already: not counted in an engine's size on disk
BASE_LIBS = ("ld-linux", "libc.so", "libm.so", "libdl.so", "librt.so", "libpthread.so", "libstdc++.so", "libgcc_s.so")
MIB = 1024 * 1024
PEER_TFLITES = "~/.cache/roentgen/peers/table2/litert-*"


@dataclass
class Engine:
    name: str
    how: str                      # "native", "python raw" or "python import"
    argv: list
    models: list = field(default_factory=list)     # the files the model is
    expect: np.ndarray | None = None    # the output it must print (its Python binding's), if known
    prints_scores: bool = True          # False: `roentgen classify` prints a label line or a JSON object
    warm: list = field(default_factory=list)
    cold: list = field(default_factory=list)
    outputs: list = field(default_factory=list)     # stdout of every run
    libs: list = field(default_factory=list)


@dataclass
class Sample:
    ms: float
    rss_kib: int
    minflt: int
    majflt: int


class Launcher:
    """Runs a command to its exit under scripts/coldstart/measure.c, which times it and reads its rusage."""

    def __init__(self, work: Path):
        self.program = build(C_SOURCES / "measure.c", work / "bin" / "measure", [])
        self.result = work / "last-run.txt"

    def run(self, argv) -> tuple[Sample, str]:
        r = subprocess.run([str(self.program), str(self.result), *map(str, argv)], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"coldstart: {' '.join(map(str, argv))} failed:\n{r.stderr}")
        ms, rss_kib, minflt, majflt, _ = self.result.read_text().split()
        return Sample(float(ms), int(rss_kib), int(minflt), int(majflt)), r.stdout


def drop_page_cache():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def loaded_objects(engine) -> list[Path]:
    """The files an engine's process runs from: its executable and the shared objects ld.so initialised."""
    err = subprocess.run(engine.argv, capture_output=True, text=True, check=True,
                         env={**os.environ, "LD_DEBUG": "files"}).stderr
    found = [Path(p).resolve() for p in re.findall(r"calling init: (\S+)", err)]
    if engine.how == "native":
        found = [Path(engine.argv[0]).resolve()] + [p for p in found if not p.name.startswith(BASE_LIBS)]
    else:
        found = [p for p in found if SITE in p.parents]   # the wheels, not the interpreter
    return sorted(set(found), key=found.index)


def build(source: Path, out: Path, flags: list) -> Path:
    """cc SOURCE -> OUT, again only when the source or the command changed."""
    cmd = ["cc", "-O2", "-Wall", "-o", str(out), str(source), *flags]
    stamp = out.with_suffix(".cmd")
    fresh = out.exists() and stamp.exists() and stamp.read_text() == " ".join(cmd) \
        and out.stat().st_mtime >= source.stat().st_mtime
    if not fresh:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(cmd, check=True)
        stamp.write_text(" ".join(cmd))
    return out


def ort_program(work: Path) -> Path:
    import onnxruntime
    capi = Path(onnxruntime.__file__).parent / "capi"
    lib = next(capi.glob("libonnxruntime.so.*"))
    # the wheel's file is named libonnxruntime.so.1.32.0, its soname is libonnxruntime.so.1
    link = work / "lib" / "libonnxruntime.so.1"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != lib.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(lib)
    return build(C_SOURCES / "ort_run.c", work / "bin" / "ort_run", [f"-L{link.parent}", "-l:libonnxruntime.so.1",
                                                                     f"-Wl,-rpath,{link.parent}"])


def openvino_program(work: Path) -> Path:
    import openvino
    pkg = Path(openvino.__file__).parent
    lib = next((pkg / "libs").glob("libopenvino_c.so.*"))
    # DT_RPATH, not RUNPATH: libopenvino_c finds libopenvino and its plugins only through the executable's
    flags = [f"-I{pkg / 'include'}", f"-L{lib.parent}", f"-l:{lib.name}", f"-Wl,--disable-new-dtags,-rpath,{lib.parent}"]
    return build(C_SOURCES / "ov_run.c", work / "bin" / "ov_run", flags)


def openvino_ir(qdq: Path, work: Path) -> Path:
    """The QDQ model in OpenVINO's own format (what a deployment would ship), cached by mtime."""
    import openvino as ov
    xml = work / "ir" / "qdq.xml"
    if not xml.exists() or xml.stat().st_mtime < qdq.stat().st_mtime:
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(ov.Core().read_model(str(qdq)), str(xml), compress_to_fp16=False)
    return xml


ORT_PYTHON = """import numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = {threads}; so.inter_op_num_threads = 1
s = ort.InferenceSession({model!r}, so, providers=["CPUExecutionProvider"])
x = np.fromfile({tensor!r}, np.float32).reshape({shape})
print(" ".join(map(repr, s.run(None, {{{name!r}: x}})[0].ravel().tolist())))"""

LITERT_PYTHON = """import numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path={model!r}, num_threads={threads}); it.allocate_tensors()
d, o = it.get_input_details()[0], it.get_output_details()[0]
x = np.fromfile({tensor!r}, np.float32).reshape({shape})
if list(d["shape"])[-1] == x.shape[1]:
    x = x.transpose(0, 2, 3, 1)        # an NHWC model
if d["dtype"] != np.float32:
    s, z = d["quantization"]; i = np.iinfo(d["dtype"]); x = np.clip(np.round(x / s) + z, i.min, i.max)
it.set_tensor(d["index"], x.astype(d["dtype"])); it.invoke()
y = it.get_tensor(o["index"]).astype(np.float32)
if o["dtype"] != np.float32:
    y = (y - o["quantization"][1]) * o["quantization"][0]
print(" ".join(map(repr, y.ravel().tolist())))"""


def python_pair(name, package, code) -> list[Engine]:
    py = sys.executable
    return [Engine(name, "python raw", [py, "-c", code]),
            Engine(name, "python import", [py, "-c", f"import numpy, {package}"])]


def top1(engine, labels):
    """The class the engine chose: the largest score it printed, or `roentgen classify --json`'s label."""
    text = engine.outputs[0].strip()
    if engine.prints_scores:
        return labels[int(np.argmax(np.array(text.split(), dtype=np.float64)))] if text else None
    return json.loads(text)["label"] if text.startswith("{") else None


def check_output(engine):
    if engine.expect is None:
        return
    got = np.array(engine.outputs[0].split(), dtype=np.float64)
    if got.shape != engine.expect.shape or np.max(np.abs(got - engine.expect)) > 1e-5:
        raise SystemExit(f"coldstart: {engine.name} ({engine.how}) printed {got}, its Python binding gives "
                         f"{engine.expect}: the program does not compute what the peer computes")


def timing(samples) -> dict | None:
    ms = [x.ms for x in samples]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "runs_ms": ms} if ms else None


def mib(paths) -> float:
    return sum(p.stat().st_size for p in paths) / MIB


def engine_row(e: Engine, labels) -> dict:
    rss = [x.rss_kib / 1024 for x in e.warm]
    return {"engine": e.name, "how": e.how, "warm": timing(e.warm), "cold": timing(e.cold),
            "peak_rss_mib": statistics.median(rss), "peak_rss_mib_max": max(rss),
            "minor_faults": statistics.median(x.minflt for x in e.warm),
            "major_faults_cold": statistics.median(x.majflt for x in e.cold) if e.cold else None,
            "on_disk_mib": mib(e.libs), "files": [{"path": str(p), "bytes": p.stat().st_size} for p in e.libs],
            "model_mib": mib(e.models) if e.models else None, "top1": top1(e, labels), "argv": list(map(str, e.argv))}


def net_row(raw: Engine, base: Engine, labels) -> dict:
    """A Python peer less its import baseline. The two ran back to back in every round, so the medians are
    of the run-by-run differences (a slow moment of the machine hits both); the minimum is min - min."""
    def net(a, b):
        return {"median_ms": statistics.median(x.ms - y.ms for x, y in zip(a, b)),
                "min_ms": min(x.ms for x in a) - min(y.ms for y in b)} if a else None
    return {"engine": raw.name, "how": "python net", "warm": net(raw.warm, base.warm), "cold": net(raw.cold, base.cold),
            "peak_rss_mib": statistics.median((x.rss_kib - y.rss_kib) / 1024 for x, y in zip(raw.warm, base.warm)),
            "on_disk_mib": mib(raw.libs), "model_mib": mib(raw.models), "top1": top1(raw, labels)}


def rows(engines: list[Engine], labels) -> list[dict]:
    """One row per engine; after a Python peer's raw and import rows, their difference."""
    out = []
    for i, e in enumerate(engines):
        out.append(engine_row(e, labels))
        if e.how == "python import":
            out.append(net_row(engines[i - 1], e, labels))
    return out


def number(value, width):
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


def print_table(table, cold):
    head = f"{'engine':<22}{'how':<15}{'median ms':>10}{'min ms':>9}"
    head += f"{'cold med':>10}{'cold min':>10}" if cold else ""
    head += f"{'peak RSS MiB':>14}{'on disk MiB':>13}{'model MiB':>11}  top-1"
    print(head)
    print("-" * len(head))
    for r in table:
        line = f"{r['engine']:<22}{r['how']:<15}{r['warm']['median_ms']:>10.1f}{r['warm']['min_ms']:>9.1f}"
        if cold:
            line += f"{r['cold']['median_ms']:>10.1f}{r['cold']['min_ms']:>10.1f}"
        line += number(r["peak_rss_mib"], 14) + number(r["on_disk_mib"], 13) + number(r["model_mib"], 11)
        print(line + f"  {r['top1'] or '-'}")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def roentgen_decode_share(binary, engine, image, threads) -> dict:
    """How much of Roentgen's time is PNG decode + preprocessing, which the peers are spared: the split of
    the one classify call of each --json run (latency_ms covers decode to probabilities, inference_ms the
    model), and `roentgen bench`'s warm in-process medians (end to end and inference timed separately, so
    their difference is noisier)."""
    calls = [json.loads(out) for out in engine.outputs]
    b = json.loads(subprocess.run([str(binary), "bench", str(engine.models[0]), "--image", str(image), "--runs", "50",
                                   "--warmup", "5", "--threads", str(threads), "--json"],
                                  check=True, capture_output=True, text=True).stdout)
    return {"model": str(engine.models[0]), "kernel": b["kernel"],
            "first_call_latency_ms": statistics.median(c["latency_ms"] for c in calls),
            "first_call_decode_ms": statistics.median(c["latency_ms"] - c["inference_ms"] for c in calls),
            "bench_inference_median_ms": b["median_ms"], "bench_e2e_median_ms": b["e2e_median_ms"]}


def peer_tflites() -> list[Path]:
    """roentgen-peers' LiteRT conversions of the Table-2 network (its newest), if it made any."""
    dirs = sorted(Path(PEER_TFLITES).expanduser().parent.glob("litert-*"), key=lambda d: d.stat().st_mtime)
    return sorted(dirs[-1].glob("*.tflite")) if dirs else []


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fx = ROOT / "fixtures"
    ap.add_argument("--roentgen", default=None,
                    help="roentgen binary (default: $ROENTGEN_BIN, .build/release/roentgen)")
    ap.add_argument("--int8", default=fx / "models/cnn-int8.rtg", type=Path)
    ap.add_argument("--f32", default=fx / "models/cnn-f32.rtg", type=Path)
    ap.add_argument("--onnx", default=fx / "models/cnn.onnx", type=Path, help="the same network, for the peers")
    ap.add_argument("--calib", default=fx / "calib", type=Path, help="calibration images of the peers' int8 model")
    ap.add_argument("--image", default=fx / "images/xray_00.png", type=Path)
    ap.add_argument("--tflite", nargs="*", type=Path, default=peer_tflites(),
                    help=f"LiteRT models of the same network (default: the newest {PEER_TFLITES}/*.tflite)")
    ap.add_argument("--engines", nargs="+", default=None, help="a subset of the engine names (default: all)")
    ap.add_argument("--runs", type=int, default=10, help="timed warm runs of each engine")
    ap.add_argument("--cold-runs", type=int, default=10, help="timed cold runs of each engine (with --cold)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="also time runs with the page cache dropped (root)")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache/roentgen/coldstart",
                    help="built programs, the peers' models and the input tensor")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)
    import onnxruntime as ort

    binary = peers.find_binary(a.roentgen).resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    spec = read_model(a.int8)
    labels = spec.labels
    t = str(a.threads)

    # the peers' input: Roentgen's own preprocessed tensor (NHWC), as NCHW for the ONNX model
    npy = a.work / "input.npy"
    subprocess.run([str(binary), "preprocess", str(a.int8), str(a.image), "--npy", str(npy)], check=True,
                   capture_output=True)
    x = np.ascontiguousarray(np.load(npy).transpose(0, 3, 1, 2), dtype=np.float32)
    tensor = a.work / "input.f32"
    x.tofile(tensor)
    dims = [str(d) for d in x.shape]

    def want(name):
        return a.engines is None or name in a.engines

    engines = []
    if want("roentgen-help"):    # no model, no image: what starting and exiting the binary costs
        engines.append(Engine("roentgen-help", "native", [str(binary), "--help"], prints_scores=False))
    for name, model, extra in [("roentgen-int8", a.int8, []), ("roentgen-int8-json", a.int8, ["--json"]),
                               ("roentgen-f32", a.f32, []), ("roentgen-f32-json", a.f32, ["--json"])]:
        if want(name):
            engines.append(Engine(name, "native", [str(binary), "classify", *extra, "--threads", t, str(model),
                                                   str(a.image)], [model], prints_scores=False))

    session = ort.InferenceSession(str(a.onnx), providers=["CPUExecutionProvider"])
    in_name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name

    def ort_output(model):
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
        s = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        return s.run(None, {in_name: x})[0].ravel()

    versions = {"onnxruntime": ort.__version__, "python": sys.version.split()[0],
                "cc": subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]}
    qdq = None
    if any(want(n) for n in ("ort-int8", "ort-int8-python", "openvino-int8", "openvino-int8-ir")):
        calib = peers.calibration_inputs(a.calib, list(x.shape), spec.input.mean[0], spec.input.std[0])
        qdq = peers.quantize_qdq(a.onnx, calib, a.work / "qdq")
    for name, model in [("ort-int8", qdq), ("ort-fp32", a.onnx)]:
        if want(name):
            engines.append(Engine(name, "native", [str(ort_program(a.work)), str(model), str(tensor), in_name, out_name,
                                                   t, *dims], [model], ort_output(model)))
    if want("ort-int8-python"):
        code = ORT_PYTHON.format(threads=a.threads, model=str(qdq), tensor=str(tensor), shape=tuple(x.shape),
                                 name=in_name)
        pair = python_pair("ort-int8-python", "onnxruntime", code)
        pair[0].models, pair[0].expect = [qdq], ort_output(qdq)
        engines += pair
    openvino_engines = [n for n in ("openvino-int8", "openvino-int8-ir") if want(n)]
    try:
        import openvino as ov
    except ImportError:
        ov = None
        if openvino_engines:
            print("coldstart: openvino is not installed (pip install openvino): skipped", file=sys.stderr)
    if ov and openvino_engines:
        versions["openvino"] = ov.__version__
        config = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        for name in openvino_engines:
            xml = openvino_ir(qdq, a.work)
            models = [qdq] if name == "openvino-int8" else [xml, xml.with_suffix(".bin")]
            request = ov.Core().compile_model(str(models[0]), "CPU", config).create_infer_request()
            engines.append(Engine(name, "native", [str(openvino_program(a.work)), str(models[0]), str(tensor), t,
                                                   *dims], models, request.infer({0: x})[0].ravel()))
    # LiteRT's wheel has a C API (libLiteRt.so) but no header for it, and unlike ORT's no frozen table to
    # declare by hand: measured through Python
    for tflite in a.tflite:
        name = f"litert-{tflite.stem}-python"
        if want(name):
            versions["ai-edge-litert"] = importlib.metadata.version("ai-edge-litert")
            code = LITERT_PYTHON.format(threads=a.threads, model=str(tflite), tensor=str(tensor), shape=tuple(x.shape))
            pair = python_pair(name, "ai_edge_litert.interpreter", code)
            pair[0].models = [tflite]
            engines += pair
    if not a.tflite:
        print(f"coldstart: no .tflite in {PEER_TFLITES} (roentgen-peers converts them) or --tflite: "
              "LiteRT not measured", file=sys.stderr)
    missing = set(a.engines or []) - {e.name for e in engines}
    if missing:
        print(f"coldstart: no such engine here: {' '.join(sorted(missing))}", file=sys.stderr)
    if not engines:
        raise SystemExit("coldstart: no engine selected")

    launcher = Launcher(a.work)
    load_before = os.getloadavg()[0]
    for e in engines:                      # untimed: fills the page cache, checks the output, finds the files
        e.outputs.append(launcher.run(e.argv)[1])
        check_output(e)
        e.libs = loaded_objects(e)
    floor = [launcher.run(["/bin/true"])[0] for _ in range(a.runs)]
    for cold, runs in [(False, a.runs), (True, a.cold_runs if a.cold else 0)]:
        for r in range(runs):
            for e in (engines if r % 2 == 0 else engines[::-1]):
                if cold:
                    drop_page_cache()
                sample, out = launcher.run(e.argv)
                (e.cold if cold else e.warm).append(sample)
                e.outputs.append(out)

    table = rows(engines, labels)
    decode = [roentgen_decode_share(binary, e, a.image, a.threads) for e in engines if e.name.startswith("roentgen")
              and e.name.endswith("-json")]
    result = {"cpu": cpu_model(), "image": str(a.image), "threads": a.threads, "runs": a.runs,
              "cold_runs": a.cold_runs if a.cold else 0,
              "roentgen": {"binary": str(binary), "sha256": hashlib.sha256(binary.read_bytes()).hexdigest()[:16]},
              "versions": versions, "floor_ms": statistics.median(s.ms for s in floor),
              "load_average": [load_before, os.getloadavg()[0]], "roentgen_decode": decode, "rows": table}

    print(f"\ncold start of classifying {a.image.name} (load + first inference, process start to exit), "
          f"{a.threads} thread{'s' if a.threads > 1 else ''}, median of {a.runs} runs each, engines alternating; "
          f"page cache warm" + (f", and cold: dropped before each of {a.cold_runs} more runs" if a.cold else ""))
    print(f"CPU {result['cpu']}; load average {load_before:.1f} before, {result['load_average'][1]:.1f} after; "
          f"roentgen {binary} (sha256 {result['roentgen']['sha256']}); "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print_table(table, a.cold)
    print(f"fork + exec + exit floor (/bin/true, same launcher): {result['floor_ms']:.2f} ms")
    for d in decode:
        print(f"Roentgen {Path(d['model']).name} ({d['kernel']}) PNG decode + preprocessing: "
              f"{d['first_call_decode_ms']:.2f} ms of the first classify call's {d['first_call_latency_ms']:.2f} ms "
              f"(--json runs, median); bench, warm: end to end {d['bench_e2e_median_ms']:.2f} ms vs inference "
              f"{d['bench_inference_median_ms']:.2f} ms")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
