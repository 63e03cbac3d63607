"""SPEC "Window geometry", shared by CONV2D, MAXPOOL2D and AVGPOOL2D: the taps of each output
position, and the input padded so that every tap of every window is an array index."""
from __future__ import annotations

import numpy as np


def taps(a: dict, dilation: tuple = (1, 1)):
    """(kh, kw, row offset, column offset) of every kernel tap."""
    for kh in range(a["kernel_h"]):
        for kw in range(a["kernel_w"]):
            yield kh, kw, kh * dilation[0], kw * dilation[1]


def padded(x: np.ndarray, a: dict, oh: int, ow: int, fill, dilation: tuple = (1, 1)) -> np.ndarray:
    """x [H, W, C] placed at (pad_top, pad_left) of an array just large enough for the windows of
    an [oh, ow] output (ceil_mode windows may reach past pad_bottom / pad_right); `fill` elsewhere."""
    h, w, c = x.shape
    rows = (oh - 1) * a["stride_h"] + dilation[0] * (a["kernel_h"] - 1) + 1
    cols = (ow - 1) * a["stride_w"] + dilation[1] * (a["kernel_w"] - 1) + 1
    pt, pl = a["pad_top"], a["pad_left"]
    out = np.full((max(rows, pt + h), max(cols, pl + w), c), fill, dtype=x.dtype)
    out[pt:pt + h, pl:pl + w] = x
    return out[:rows, :cols]


def tap_view(xp: np.ndarray, a: dict, oh: int, ow: int, dy: int, dx: int, row0: int = 0) -> np.ndarray:
    """The [oh, ow, C] input values under tap offset (dy, dx) of the windows of output rows
    row0 .. row0 + oh - 1."""
    sh, sw = a["stride_h"], a["stride_w"]
    y0 = dy + row0 * sh
    return xp[y0:y0 + (oh - 1) * sh + 1:sh, dx:dx + (ow - 1) * sw + 1:sw]


def counts(size: int, k: int, stride: int, pad0: int, pad1: int, out: int, include_pad: bool) -> np.ndarray:
    """Per output position along one axis: how many of its k taps lie inside the input
    ([0, size)) or, with include_pad, inside the padded extent [-pad0, size + pad1)."""
    lo, hi = (-pad0, size + pad1) if include_pad else (0, size)
    start = np.arange(out) * stride - pad0
    return np.clip(np.minimum(start + k, hi) - np.maximum(start, lo), 0, k)
