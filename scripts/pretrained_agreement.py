#!/usr/bin/env python3
"""int8 vs float agreement on a network with REAL trained weights: EfficientNet-Lite0's ImageNet
classifier (the approach-A backbone, training/backbones.py), which the model zoo's random-weight
rows cannot show.

    source scripts/setup.sh && setup_python && build_release
    python scripts/pretrained_agreement.py [--out DIR]

The whole 1000-class classifier at 224x224 RGB with its own normalization in the input spec is
exported to ONNX, converted to f32 and int8 (calibrated on scikit-image's texture and document
photos: brick, grass, gravel, coins, moon, page, text, clock_motion, logo, color) and run on the
other photos of scikit-image's data folder (none of them in the calibration set) by the Swift
runtime, the numpy reference and ONNX Runtime. Prints, per photo, ORT's float top-1 and the int8
top-1, and the totals: exact (Swift int8 == reference bit for bit), f32 error (max |p_swift -
p_ort|), top-1 agreement, and how often the int8 top-1 is in ORT's top 5.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CALIB = ["brick.png", "grass.png", "gravel.png", "coins.png", "moon.png", "page.png", "text.png",
         "clock_motion.png", "logo.png", "color.png"]
TEST = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png", "horse.png", "hubble_deep_field.jpg",
        "retina.jpg", "motorcycle_left.png", "ihc.png", "cell.png", "chessboard_RGB.png", "phantom.png"]


def run(cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "out" / "pretrained"))
    ap.add_argument("--binary", default=os.environ.get("ROENTGEN_BIN", str(ROOT / ".build" / "release" / "roentgen")))
    args = ap.parse_args(argv)
    import onnxruntime as ort
    import png
    import torch
    from skimage import data as skdata
    from skimage.io import imread
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    from roentgen_tools.data import image
    from roentgen_tools import backbones

    out = Path(args.out)
    (out / "calib").mkdir(parents=True, exist_ok=True)
    (out / "photos").mkdir(exist_ok=True)
    folder = Path(skdata.__file__).parent

    def as_png(name, dst):   # 8-bit RGB PNG of a scikit-image photo (gray replicated)
        a = imread(folder / name)
        a = np.repeat(a[..., None], 3, 2) if a.ndim == 2 else a[..., :3]
        if a.dtype != np.uint8:
            a = (255 * (a.astype(np.float64) / max(1, a.max()))).astype(np.uint8)
        png.from_array(a.reshape(a.shape[0], -1), "RGB").save(str(dst))
        return dst
    for n in CALIB:
        as_png(n, out / "calib" / (Path(n).stem + ".png"))
    photos = [as_png(n, out / "photos" / (Path(n).stem + ".png")) for n in TEST]

    b = backbones.get("efficientnet-lite0")
    net = backbones.imagenet_model(b.name)
    onnx_path = out / "lite0-imagenet.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(onnx_path), dynamo=False, input_names=["input"],
                      output_names=["logits"])
    norm = ["--mean", *[str(b.mean)] * 3, "--std", *[str(b.std)] * 3]
    f32, int8 = out / "lite0-f32.rtg", out / "lite0-int8.rtg"
    for prec, path in (("f32", f32), ("int8", int8)):
        extra = ["--calib", out / "calib"] if prec == "int8" else []
        r = run(["roentgen-convert", onnx_path, "-o", path, "--precision", prec, "-q", *norm, *extra])
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1

    def rows(cmd):
        return [json.loads(line) for line in run(cmd).stdout.splitlines() if line.startswith("{")]
    s8 = rows([args.binary, "classify", "--json", int8, *photos])
    s32 = rows([args.binary, "classify", "--json", f32, *photos])
    ref = rows(["roentgen-reference", "--json", int8, *photos])
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    exact = agree = top5 = 0
    err = 0.0
    print(f"{'photo':<22} {'ORT float top-1':<28} {'Roentgen int8 top-1':<28}")
    for p, a, c, r in zip(photos, s8, s32, ref):
        x = image.to_tensor(str(p), 224, 224, 3, [b.mean] * 3, [b.std] * 3)[0].transpose(2, 0, 1)[None]
        logits = sess.run(None, {"input": np.ascontiguousarray(x, np.float32)})[0].reshape(-1).astype(np.float64)
        pr = np.exp(logits - logits.max())
        pr /= pr.sum()
        exact += np.array_equal(np.asarray(a["logits"], np.float32), np.asarray(r["logits"], np.float32))
        err = max(err, float(np.abs(np.asarray(c["probabilities"]) - pr).max()))
        agree += a["index"] == int(pr.argmax())
        top5 += a["index"] in np.argsort(-pr)[:5]
        print(f"{p.stem:<22} {_IMAGENET_CATEGORIES[int(pr.argmax())]:<22} {pr.max():.2f}  "
              f"{_IMAGENET_CATEGORIES[a['index']]:<22} {a['probability']:.2f}")
    n = len(photos)
    print(f"exact {exact}/{n}, f32 error {err:.1e}, int8 top-1 == float top-1 {agree}/{n}, int8 top-1 in float top-5 "
          f"{top5}/{n}")
    return 0 if exact == n else 1


if __name__ == "__main__":
    sys.exit(main())
