#!/usr/bin/env python3
"""torchvision's classification models end to end through Roentgen, one table.

For each model (random weights: the pretrained ones cannot be downloaded here) and input
configuration (224x224 RGB, 128x128 grayscale):
  1. build it with torchvision, re-estimate the BatchNorm statistics on the calibration images
     (random init leaves mean 0 / var 1, which makes deep nets' activations meaningless), export
     it with torch.onnx.export (TorchScript or dynamo exporter);
  2. roentgen-convert to f32 and to int8 (calibrated on --calib);
  3. run the test images through `roentgen classify --json` (Swift, both files), through
     `roentgen-reference --json` (numpy, int8 file) and through ONNX Runtime (float);
  4. print model, MACs, int8 file size, arena (activations + scratch, from `roentgen inspect`),
     exact (Swift int8 logits == reference, every image), f32 error (max |p_swift_f32 - p_ort|),
     agreement (Swift int8 top-1 == ORT float top-1).
A model whose ops are not supported is a row with the converter's one-line error.

  scripts/model_zoo.py [--models mobilenet_v2,resnet18] [--configs rgb224,gray128]
                       [--exporter torchscript|dynamo] [--images N] [--calib-images N] [--out DIR]

Needs the tools venv (scripts/setup.sh: setup_python) with torchvision, and the release binary.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from roentgen_tools.peer_networks import build, export, nchw as _nchw

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50", "resnext50_32x4d",
          "efficientnet_b0", "regnet_y_400mf", "mnasnet1_0", "squeezenet1_1", "googlenet", "densenet121",
          "shufflenet_v2_x1_0"]
CONFIGS = {"rgb224": (3, 224), "gray128": (1, 128)}


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def macs_of(rtg: Path) -> int:
    from roentgen_tools.fileformat import ops as O, read_model
    m = read_model(rtg)
    total = 0
    for op in m.ops:
        if op.kind in (O.OP_CONV2D, O.OP_DENSE):
            w = m.tensors[op.inputs[1]]
            y = m.tensors[op.output]
            pixels = int(np.prod(y.dims[1:-1])) if len(y.dims) == 4 else 1
            total += pixels * int(np.prod(w.dims))
    return total


def one(name, cfg, args, calib, images, binary, out):
    channels, size = CONFIGS[cfg]
    tag = f"{name}-{cfg}"
    row = {"model": name, "config": cfg}
    t0 = time.time()
    try:
        model = build(name, channels, calib[:args.calib_images], size)
    except Exception as e:  # noqa: BLE001 - a row, not a crash
        row["error"] = f"torchvision: {type(e).__name__}: {e}"
        return row
    onnx_path = out / f"{tag}.onnx"
    try:
        export(model, onnx_path, channels, size, args.exporter)
    except Exception as e:  # noqa: BLE001
        row["error"] = f"export: {type(e).__name__}: {str(e).splitlines()[0]}"
        return row
    calib_dir = out / "calib"
    f32, int8 = out / f"{tag}-f32.rtg", out / f"{tag}-int8.rtg"
    for prec, path in (("f32", f32), ("int8", int8)):
        extra = ["--calib", calib_dir] if prec == "int8" else []
        r = run(["roentgen-convert", onnx_path, "-o", path, "--precision", prec, "-q", *extra])
        if r.returncode != 0:
            row["error"] = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"roentgen-convert exit {r.returncode}"
            return row
    row["macs"] = macs_of(int8)
    row["file_bytes"] = int8.stat().st_size
    insp = run([binary, "inspect", int8, "--json"])
    row["arena_bytes"] = json.loads(insp.stdout).get("arena_bytes") if insp.returncode == 0 else None
    insp32 = run([binary, "inspect", f32, "--json"])
    row["arena_f32_bytes"] = json.loads(insp32.stdout).get("arena_bytes") if insp32.returncode == 0 else None
    imgs = [str(p) for p in images[:args.images]]
    s8 = jsonl(run([binary, "classify", int8, *imgs, "--json"]).stdout)
    s32 = jsonl(run([binary, "classify", f32, *imgs, "--json"]).stdout)
    ref = jsonl(run(["roentgen-reference", int8, *imgs, "--json"]).stdout)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    exact, agree, err = 0, 0, 0.0
    n = len(imgs)
    for i, p in enumerate(imgs):
        logits = sess.run(None, {in_name: _nchw(p, channels, size)[None]})[0].reshape(-1).astype(np.float64)
        e = np.exp(logits - logits.max())
        p_ort = e / e.sum()
        if i < len(s8) and i < len(ref) and "logits" in s8[i] and "logits" in ref[i]:
            a = np.asarray(s8[i]["logits"], np.float32)
            b = np.asarray(ref[i]["logits"], np.float32)
            exact += int(a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)))
            agree += int(int(np.argmax(a)) == int(np.argmax(p_ort)))
        if i < len(s32) and "probabilities" in s32[i]:
            err = max(err, float(np.max(np.abs(np.asarray(s32[i]["probabilities"]) - p_ort))))
        else:
            err = float("nan")
    row.update(images=n, exact=exact, agreement=agree, f32_error=err, seconds=round(time.time() - t0, 1))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--configs", default="rgb224,gray128")
    ap.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript")
    ap.add_argument("--images", type=int, default=12, help="test images (fixtures/heldout, then fixtures/images)")
    ap.add_argument("--calib-images", type=int, default=16, help="calibration images (fixtures/calib-drr)")
    ap.add_argument("--out", default=str(ROOT / "out" / "zoo"))
    ap.add_argument("--binary", default=os.environ.get("ROENTGEN_BIN", str(ROOT / ".build" / "release" / "roentgen")))
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "calib").mkdir(parents=True, exist_ok=True)
    calib = sorted((ROOT / "fixtures" / "calib-drr").rglob("*.png"))
    # a spread of classes: every 4th image of the class-sorted list
    calib = calib[::max(1, len(calib) // args.calib_images)][:args.calib_images]
    for p in (out / "calib").glob("*.png"):
        p.unlink()
    for i, p in enumerate(calib):
        (out / "calib" / f"{i:02d}.png").write_bytes(p.read_bytes())
    images = sorted((ROOT / "fixtures" / "heldout").rglob("*.png"))[::2] + sorted((ROOT / "fixtures" / "images").glob("*.png"))
    rows = []
    hdr = f"{'model':<20} {'input':<8} {'MMACs':>8} {'int8 file':>10} {'arena int8':>11} {'arena f32':>10} {'exact':>7} {'f32 err':>9} {'agree':>7}"
    print(hdr, flush=True)
    for name in args.models.split(","):
        for cfg in args.configs.split(","):
            r = one(name, cfg, args, calib, images, args.binary, out)
            rows.append(r)
            if "error" in r:
                print(f"{name:<20} {cfg:<8} {r['error']}", flush=True)
                continue
            mb = lambda b: f"{b / 2**20:.2f} MiB" if b else "?"  # noqa: E731
            print(f"{name:<20} {cfg:<8} {r['macs'] / 1e6:>8.1f} {mb(r['file_bytes']):>10} {mb(r['arena_bytes']):>11} "
                  f"{mb(r['arena_f32_bytes']):>10} {r['exact']:>3}/{r['images']:<3} {r['f32_error']:>9.1e} "
                  f"{r['agreement']:>3}/{r['images']:<3}", flush=True)
    (out / "zoo.json").write_text(json.dumps(rows, indent=1))
    return 0 if all("error" not in r and r["exact"] == r["images"] for r in rows if r["model"] != "shufflenet_v2_x1_0") else 1


if __name__ == "__main__":
    sys.exit(main())
