"""roentgen-fixtures: deterministic test fixtures shared with the Swift side.

Everything is derived from fixed seeds; the only time-dependent field, provenance `created`,
comes from --created or SOURCE_DATE_EPOCH and defaults to a fixed value here.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .data.image import write_png

FIXED_CREATED = "2026-01-01T00:00:00Z"
SEED = 20090101  # ImageCLEF 2009

LABELS = ["chest PA", "chest lateral", "skull AP", "hand", "foot", "knee", "hip", "pelvis", "abdomen",
          "cervical spine", "lumbar spine", "shoulder", "elbow", "wrist", "ankle", "thoracic spine",
          "forearm", "lower leg", "upper arm", "femur", "clavicle", "ribs", "sinuses", "breast"]

# Table 2: conv3x3 blocks (channels per conv), each block followed by MaxPool 3x3/2 pad 1
TABLE2_BLOCKS = [[32, 16], [64, 32], [128, 128, 64], [256, 256, 128]]
TABLE2_DENSE = [256, 256, 24]


# ------------------------------------------------------------------------------ synthetic images

def radiograph(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A radiograph-like float image in [0, 1]: dark background, soft-tissue ellipse, a few
    bright bone-like bars and blobs, film noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), 0.05 + 0.05 * rng.random())
    # soft tissue
    cy, cx = h * rng.uniform(0.35, 0.65), w * rng.uniform(0.35, 0.65)
    ry, rx = h * rng.uniform(0.25, 0.45), w * rng.uniform(0.2, 0.45)
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    img += 0.35 * np.clip(1.2 - d, 0, 1) ** 0.7
    # bones: rotated bars and round heads
    for _ in range(rng.integers(1, 5)):
        ang = rng.uniform(0, np.pi)
        by, bx = h * rng.uniform(0.2, 0.8), w * rng.uniform(0.2, 0.8)
        length, width = h * rng.uniform(0.2, 0.6), w * rng.uniform(0.03, 0.1)
        u = (xx - bx) * np.cos(ang) + (yy - by) * np.sin(ang)
        v = -(xx - bx) * np.sin(ang) + (yy - by) * np.cos(ang)
        bar = np.clip(1 - np.maximum(np.abs(u) / (length / 2), np.abs(v) / (width / 2)) ** 4, 0, 1)
        img += rng.uniform(0.3, 0.55) * bar
    for _ in range(rng.integers(0, 3)):
        by, bx, r = h * rng.uniform(0.2, 0.8), w * rng.uniform(0.2, 0.8), min(h, w) * rng.uniform(0.05, 0.15)
        img += 0.4 * np.clip(1 - ((yy - by) ** 2 + (xx - bx) ** 2) / r**2, 0, 1)
    img += rng.normal(0, 0.02, size=(h, w))
    return np.clip(img, 0, 1)


def write_images(folder: Path, seed: int, count: int, extras: bool):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        a = np.rint(radiograph(rng, 128, 128) * 255).astype(np.uint8)
        name = f"xray_{i:02d}.png"
        write_png(folder / name, a, 8)
        names.append(name)
    if extras:
        a = np.rint(radiograph(rng, 160, 200) * 65535).astype(np.uint16)  # 16-bit, 200 wide x 160 high
        write_png(folder / "xray_16bit_200x160.png", a, 16)
        g = radiograph(rng, 128, 96)  # RGB, 96 wide x 128 high, slightly tinted
        rgb = np.stack([g, g * 0.95, g * 0.9], axis=2)
        write_png(folder / "xray_rgb_96x128.png", np.rint(rgb * 255).astype(np.uint8), 8)
        names += ["xray_16bit_200x160.png", "xray_rgb_96x128.png"]
    return names


# ------------------------------------------------------------------------------ the Table-2 ONNX

def _conv_nchw(x, w, b, pad):
    """Plain numpy conv (stride 1, symmetric pad) used only to pick realistic BN statistics."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n c h w kh kw
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * kh * kw)
    y = cols @ w.reshape(oc, -1).T + b
    return y.reshape(n, h, wd, oc).transpose(0, 3, 1, 2)


def _pool_nchw(x):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return win.max(axis=(4, 5))


def _leaky(x, a=0.01):
    return np.where(x < 0, x * a, x)


def _bn_params(rng, pre):
    """Running stats near the real batch statistics of `pre` (so the net stays well scaled),
    perturbed so BN folding is non-trivial, rounded so tiny BLAS differences cannot leak in."""
    axes = (0, 2, 3) if pre.ndim == 4 else (0,)
    mean = pre.mean(axis=axes) * rng.uniform(0.9, 1.1, pre.shape[1]) + rng.normal(0, 0.01, pre.shape[1])
    var = pre.var(axis=axes) * rng.uniform(0.8, 1.25, pre.shape[1]) + 1e-3
    gamma = rng.uniform(0.7, 1.3, pre.shape[1])
    beta = rng.normal(0.1, 0.2, pre.shape[1])
    r = lambda v: np.round(v, 4).astype(np.float32)  # noqa: E731
    return r(gamma), r(beta), r(mean), np.maximum(r(var), np.float32(1e-3))


def table2_onnx(probe_images: np.ndarray, seed: int = SEED) -> onnx.ModelProto:
    """The paper's Table-2 network as torch.onnx.export (opset 17, eval mode) would write it.
    probe_images: [N, 1, 128, 128] float32, used only to set BN running statistics."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    x_name, x = "input", probe_images.astype(np.float64)
    in_c, idx = 1, 0
    for bi, block in enumerate(TABLE2_BLOCKS):
        for oc in block:
            p = f"features.{idx}"
            w = rng.normal(0, np.sqrt(2.0 / (in_c * 9)), (oc, in_c, 3, 3)).astype(np.float32)
            b = rng.normal(0, 0.05, oc).astype(np.float32)
            pre = _conv_nchw(x, w.astype(np.float64), b.astype(np.float64), 1)
            g, be, m, v = _bn_params(rng, pre)
            tag = f"/features/features.{idx}"
            nodes.append(helper.make_node("Conv", [x_name, init(f"{p}.weight", w), init(f"{p}.bias", b)],
                                          [f"{tag}/Conv_output_0"], name=f"{tag}/Conv", dilations=[1, 1],
                                          group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
            bn = f"features.{idx + 1}"
            nodes.append(helper.make_node(
                "BatchNormalization", [f"{tag}/Conv_output_0", init(f"{bn}.weight", g), init(f"{bn}.bias", be),
                                       init(f"{bn}.running_mean", m), init(f"{bn}.running_var", v)],
                [f"/features/features.{idx + 1}/BatchNormalization_output_0"],
                name=f"/features/features.{idx + 1}/BatchNormalization", epsilon=1e-5, momentum=0.9))
            nodes.append(helper.make_node(
                "LeakyRelu", [f"/features/features.{idx + 1}/BatchNormalization_output_0"],
                [f"/features/features.{idx + 2}/LeakyRelu_output_0"],
                name=f"/features/features.{idx + 2}/LeakyRelu", alpha=0.01))
            x = _leaky((pre - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + 1e-5)
                       * g[None, :, None, None] + be[None, :, None, None])
            x_name = f"/features/features.{idx + 2}/LeakyRelu_output_0"
            in_c, idx = oc, idx + 3
        tag = f"/features/features.{idx}"
        nodes.append(helper.make_node("MaxPool", [x_name], [f"{tag}/MaxPool_output_0"], name=f"{tag}/MaxPool",
                                      ceil_mode=0, dilations=[1, 1], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[2, 2]))
        x_name, x = f"{tag}/MaxPool_output_0", _pool_nchw(x)
        idx += 1
    nodes.append(helper.make_node("Flatten", [x_name], ["/Flatten_output_0"], name="/Flatten", axis=1))
    x_name, x = "/Flatten_output_0", x.reshape(x.shape[0], -1)
    in_f, ci = x.shape[1], 0
    for li, out_f in enumerate(TABLE2_DENSE):
        p = f"classifier.{ci}"
        last = li == len(TABLE2_DENSE) - 1
        std = np.sqrt((1.0 if last else 2.0) / in_f)
        w = rng.normal(0, std, (out_f, in_f)).astype(np.float32)
        b = rng.normal(0, 0.05, out_f).astype(np.float32)
        tag = f"/classifier/classifier.{ci}"
        nodes.append(helper.make_node("Gemm", [x_name, init(f"{p}.weight", w), init(f"{p}.bias", b)],
                                      [f"{tag}/Gemm_output_0"], name=f"{tag}/Gemm", alpha=1.0, beta=1.0, transB=1))
        pre = x @ w.astype(np.float64).T + b
        x_name = f"{tag}/Gemm_output_0"
        if last:
            x = pre
            break
        g, be, m, v = _bn_params(rng, pre)
        bn = f"classifier.{ci + 1}"
        btag = f"/classifier/classifier.{ci + 1}"
        nodes.append(helper.make_node(
            "BatchNormalization", [x_name, init(f"{bn}.weight", g), init(f"{bn}.bias", be),
                                   init(f"{bn}.running_mean", m), init(f"{bn}.running_var", v)],
            [f"{btag}/BatchNormalization_output_0"], name=f"{btag}/BatchNormalization", epsilon=1e-5, momentum=0.9))
        ltag = f"/classifier/classifier.{ci + 2}"
        nodes.append(helper.make_node("LeakyRelu", [f"{btag}/BatchNormalization_output_0"],
                                      [f"{ltag}/LeakyRelu_output_0"], name=f"{ltag}/LeakyRelu", alpha=0.01))
        dtag = f"/classifier/classifier.{ci + 3}"
        ratio = f"{dtag}/Constant_output_0"
        nodes.append(helper.make_node("Constant", [], [ratio], name=f"{dtag}/Constant",
                                      value=numpy_helper.from_array(np.array(0.5, np.float32))))
        nodes.append(helper.make_node("Dropout", [f"{ltag}/LeakyRelu_output_0", ratio], [f"{dtag}/Dropout_output_0"],
                                      name=f"{dtag}/Dropout"))
        x = _leaky((pre - m) / np.sqrt(v + 1e-5) * g + be)
        x_name, in_f, ci = f"{dtag}/Dropout_output_0", out_f, ci + 4
    nodes.append(helper.make_node("Softmax", [x_name], ["output"], name="/Softmax", axis=1))
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 1, 128, 128])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", 24])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pytorch", producer_version="2.1.0")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------------------------------------ driver

def generate(out: Path, created: str = FIXED_CREATED, path_base: Path | None = None, log=print):
    from . import convert as conv
    from .data import image
    from .reference import executor as reference

    out = Path(out)
    path_base = Path(path_base) if path_base else out.resolve().parent
    models, images, calib, expected = (out / d for d in ("models", "images", "calib", "expected"))
    for d in (models, expected):
        d.mkdir(parents=True, exist_ok=True)
    img_names = write_images(images, SEED + 1, 10, extras=True)
    write_images(calib, SEED + 2, 16, extras=False)
    log(f"wrote {len(img_names)} images to {images} and 16 to {calib}")

    probe = np.stack([image.to_tensor(calib / f"xray_{i:02d}.png", 128, 128, 1)[0, :, :, 0]
                      for i in range(8)])[:, None].astype(np.float32)
    probe = (probe - np.float32(0.5)) / np.float32(0.25)  # the normalisation the fixtures use
    model = table2_onnx(probe)
    onnx_path = models / "table2.onnx"
    onnx_bytes = model.SerializeToString()
    _write_if_changed(onnx_path, onnx_bytes)
    (models / "labels.txt").write_text("".join(lbl + "\n" for lbl in LABELS), encoding="utf-8")
    log(f"wrote {onnx_path} ({len(onnx_bytes):,} bytes)")

    for precision in ("int8", "f32"):
        path = models / f"table2-{precision}.rtg"
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = conv.main([str(onnx_path), "-o", str(path), "--precision", precision, "--calib", str(calib),
                            "--labels", str(models / "labels.txt"), "--mean", "0.5", "--std", "0.25",
                            "--created", created])
        if rc != 0:
            raise RuntimeError(f"conversion to {precision} failed")
        log(buf.getvalue().strip().splitlines()[-2])
        log(f"wrote {path}")

    model_int8 = reference.read_model(models / "table2-int8.rtg")
    lines = []
    for name in sorted(img_names):
        rel = os.path.relpath(images / name, path_base).replace(os.sep, "/")
        r = reference.classify(model_int8, images / name)
        r["path"] = rel
        lines.append(reference.json_line(r))
    (expected / "table2-int8.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tops = {json.loads(line)["label"] for line in lines}
    log(f"wrote {expected / 'table2-int8.jsonl'} ({len(lines)} images, {len(tops)} distinct top-1 labels)")


def _write_if_changed(path: Path, data: bytes):
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-fixtures", description="Generate the deterministic test fixtures")
    ap.add_argument("-o", "--output", default="fixtures", help="fixtures folder (default: fixtures)")
    ap.add_argument("--created", help=f"provenance timestamp (default: SOURCE_DATE_EPOCH or {FIXED_CREATED})")
    ap.add_argument("--path-base", help="JSONL paths are relative to this (default: parent of --output)")
    args = ap.parse_args(argv)
    created = args.created
    if not created and os.environ.get("SOURCE_DATE_EPOCH"):
        from .convert import created_timestamp
        created = created_timestamp()
    try:
        generate(Path(args.output), created or FIXED_CREATED, args.path_base)
    except Exception as e:
        print(f"roentgen-fixtures: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
