"""The paper's heavy augmentation (Menkovski et al.: resizing and cropping, rotation, translation,
shearing, stretching, horizontal flipping where the mirror image is the same class), on batches
of the runtime's input tensors."""
from __future__ import annotations

import math

from ..data.datasets import DatasetError


def augment(xb, yb, flip_ok, gen, strength=1.0):
    """The paper's augmentations on a batch [N, 1, H, W]: resizing and cropping (zoom), rotation,
    translation, shearing, stretching (anisotropic scale), and horizontal flipping for the
    classes in which a mirror image is the same class (flip_ok[class])."""
    import torch
    import torch.nn.functional as F
    n = xb.shape[0]

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=gen)
    s = strength
    zoom = torch.exp(u(-0.15 * s, 0.10 * s))           # <1 zooms in (crop), >1 zooms out
    stretch = torch.exp(u(-0.08 * s, 0.08 * s))
    rot = u(-10 * s, 10 * s) * math.pi / 180
    shear = u(-0.10 * s, 0.10 * s)
    tx, ty = u(-0.16 * s, 0.16 * s), u(-0.16 * s, 0.16 * s)
    flip = (torch.rand(n, generator=gen) < 0.5) & flip_ok[yb]
    sx = zoom * stretch * torch.where(flip, -1.0, 1.0)
    sy = zoom / stretch
    c, si = torch.cos(rot), torch.sin(rot)
    # output -> input coordinates: R(rot) @ Shear @ diag(sx, sy)
    a11 = c * sx
    a12 = c * shear * sy - si * sy
    a21 = si * sx
    a22 = si * shear * sy + c * sy
    theta = torch.stack([torch.stack([a11, a12, tx], 1), torch.stack([a21, a22, ty], 1)], 1)
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, mode="bilinear", padding_mode="border", align_corners=False)


def flip_classes(spec, labels):
    """'auto': classes whose name contains 'lateral' (a mirrored lateral is still a lateral); 'none';
    or a comma-separated list of class names."""
    if spec in (None, "", "none"):
        return set()
    if spec == "auto":
        return {lab for lab in labels if "lateral" in lab.lower()}
    if spec == "all":
        return set(labels)
    names = {s.strip() for s in spec.split(",") if s.strip()}
    bad = names - set(labels)
    if bad:
        raise DatasetError(f"--hflip: unknown classes {sorted(bad)}")
    return names
