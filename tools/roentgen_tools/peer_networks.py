"""The networks `roentgen-peers` times, each as one ONNX model and its Roentgen int8 and f32 files.

- ``table2``: the shipped trained Table-2 CNN (fixtures/models/cnn.onnx, cnn-{int8,f32}.rtg).
- ``mobilenet_v2``: torchvision's, 224x224 RGB, random weights (seeded; no pretrained weights can be
  downloaded here) with the BatchNorm statistics re-estimated on the calibration images, exported
  with the classic exporter.
- ``efficientnet-lite0``: approach A's ImageNet backbone, 224x224 grayscale, as the shipped SVM model
  uses it (backbones.export_features: features after global average pooling, no SVM head).

The built networks live in ``WORK/networks/NAME-KEY/`` where KEY hashes what they are made from (the
calibration PNGs, the torch / torchvision versions and the tools package's source), so they are
built once and rebuilt when any of those change. Both .rtg files come from `roentgen-convert`, the
int8 one calibrated on the same PNG folder the peers are calibrated on.

`build`, `export` and `nchw` are also scripts/model_zoo.py's.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CREATED = "2026-01-01T00:00:00Z"  # a fixed provenance time: the same inputs give the same .rtg bytes
# tools modules that do not shape the built files (editing them must not rebuild the networks)
_NOT_SOURCES = {"peers.py", "litert_convert.py"}


@dataclass(frozen=True)
class Network:
    name: str
    onnx: Path
    int8: Path
    f32: Path


@dataclass(frozen=True)
class Spec:
    """A network built here: torchvision model `model` (source "torchvision") or the backbones.py
    feature extractor `model` (source "backbone"), `channels` x `size` x `size` input."""
    name: str
    source: str
    model: str
    channels: int
    size: int


SPECS = {"mobilenet_v2": Spec("mobilenet_v2", "torchvision", "mobilenet_v2", 3, 224),
         "efficientnet-lite0": Spec("efficientnet-lite0", "backbone", "efficientnet-lite0", 1, 224)}
NETWORKS = ("table2", *SPECS)


def build(name: str, channels: int, calib: list, size: int):
    """torchvision model `name` with seeded random weights and BatchNorm statistics of the PNGs
    `calib` (a `channels`-channel stem, `size` x `size`), in eval mode."""
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    if channels == 1:
        _to_grayscale(model)
    # BatchNorm statistics of these images (cumulative average), so activations have real ranges
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(calib), 8):
            model(torch.from_numpy(np.stack([nchw(p, channels, size) for p in calib[i:i + 8]])))
    return model.eval()


def _to_grayscale(model):
    """The stem conv takes 1 channel: its weights summed over RGB (what a gray image replicated to
    RGB would see)."""
    import torch

    for parent in model.modules():
        for cname, child in parent.named_children():
            if isinstance(child, torch.nn.Conv2d) and child.in_channels == 3:
                new = torch.nn.Conv2d(1, child.out_channels, child.kernel_size, child.stride, child.padding,
                                      child.dilation, 1, child.bias is not None)
                with torch.no_grad():
                    new.weight.copy_(child.weight.sum(dim=1, keepdim=True))
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, cname, new)
                return
    raise RuntimeError("no 3-channel stem conv found")


def nchw(path, channels, size):
    """One PNG as the runtime preprocesses it (mean 0, std 1): float32 [channels, size, size]."""
    from .data import image
    x = image.to_tensor(str(path), size, size, channels, [0.0] * channels, [1.0] * channels)
    return np.ascontiguousarray(x[0].transpose(2, 0, 1), dtype=np.float32)


def export(model, path: Path, channels: int, size: int, exporter: str):
    import torch
    x = torch.zeros(1, channels, size, size)
    torch.onnx.export(model, (x,), str(path), dynamo=exporter == "dynamo", input_names=["input"], output_names=["logits"])


def calibration_pngs(calib_dir) -> list[Path]:
    files = sorted(Path(calib_dir).rglob("*.png"))
    if not files:
        raise SystemExit(f"roentgen-peers: no PNG files under {calib_dir}")
    return files


def source_key(spec: Spec, calib_dir) -> str:
    """What a built network is made from: its spec, the calibration PNGs, torch / torchvision and
    the tools package's source."""
    import torch
    import torchvision
    h = hashlib.sha256(f"{spec}\n{torch.__version__}\n{torchvision.__version__}\n".encode())
    for p in calibration_pngs(calib_dir):
        h.update(p.read_bytes())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        if p.name not in _NOT_SOURCES:
            h.update(str(p.relative_to(pkg)).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def assets(name: str, calib_dir, work, log=print) -> Network:
    """The files of network `name` (one of NETWORKS), built into `work` if they are not there yet."""
    if name == "table2":
        return Network("table2", REPO / "fixtures/models/cnn.onnx", REPO / "fixtures/models/cnn-int8.rtg",
                       REPO / "fixtures/models/cnn-f32.rtg")
    if name not in SPECS:
        raise SystemExit(f"roentgen-peers: unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return build_network(SPECS[name], calib_dir, work, log)


def build_network(spec: Spec, calib_dir, work, log=print) -> Network:
    """ONNX, int8 and f32 files of `spec` in WORK/networks/NAME-KEY, built unless they are there."""
    out = Path(work) / "networks" / f"{spec.name}-{source_key(spec, calib_dir)}"
    net = Network(spec.name, out / "model.onnx", out / "int8.rtg", out / "f32.rtg")
    if out.is_dir():
        return net
    log(f"roentgen-peers: building {spec.name} into {out}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mean, std = _export(spec, tmp / "model.onnx", calibration_pngs(calib_dir))
    for precision in ("int8", "f32"):
        _convert(tmp / "model.onnx", tmp / f"{precision}.rtg", precision, calib_dir, mean, std)
    tmp.rename(out)  # a half-built folder is never taken for a built one
    return net


def _export(spec: Spec, path: Path, calib: list) -> tuple[float, float]:
    """Writes the network as ONNX; returns the input (mean, std) its .rtg files carry."""
    if spec.source == "torchvision":
        export(build(spec.model, spec.channels, calib, spec.size), path, spec.channels, spec.size, "torchscript")
        return 0.0, 1.0
    from . import backbones
    if spec.channels != 1:
        raise SystemExit(f"roentgen-peers: backbone {spec.model} takes 1 channel, not {spec.channels}")
    with contextlib.redirect_stdout(sys.stderr):   # the model package prints while loading; stdout is for tables
        return backbones.export_features(spec.model, path, spec.size)
def _convert(onnx_path: Path, out: Path, precision: str, calib_dir, mean: float, std: float):
    from . import convert
    args = [str(onnx_path), "-o", str(out), "--precision", precision, "--mean", str(mean), "--std", str(std),
            "--created", CREATED, "-q"]
    if convert.main(args + (["--calib", str(calib_dir)] if precision == "int8" else [])) != 0:
        raise SystemExit(f"roentgen-peers: roentgen-convert could not convert {onnx_path} to {precision} "
                         "(its error is above)")
