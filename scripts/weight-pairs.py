#!/usr/bin/env python3
"""How often an int8 model's weight pairs would saturate `vpmaddubsw` (u8 x s8 pairs summed to s16)
on AVX2 without VNNI: the measurement behind docs/SPEED.md "Stop 24" (why Roentgen keeps exact
`vpmaddwd` there instead of an exact `vpmaddubsw` form with a correction pass).

    source scripts/setup.sh && setup_python
    python scripts/weight-pairs.py MODEL.rtg

For u8 inputs in [0, 255] a pair (w0, w1) of consecutive input channels is exact when its positive
weights sum to at most 128 and its negative ones to at least -128 (255 * 128 < 2^15). Per CONV2D /
DENSE of groups 1: the share of pairs that are not, and the share of (8 output channels x 4 inputs)
slots - one `vpmaddubsw` of the avx2 tiles - that hold at least one such pair and so would need a
second, residual pass.
"""
import sys

import numpy as np

from roentgen_tools.fileformat.reader import read_model


def saturating_pairs(w: np.ndarray) -> np.ndarray:
    """[OC][K] int8 -> [OC][K/2] bool: pair (2i, 2i+1) can saturate for some u8 input."""
    k = w.shape[1] - w.shape[1] % 2
    a, b = w[:, 0:k:2].astype(int), w[:, 1:k:2].astype(int)
    return ((a > 0) & (b > 0) & (a + b > 128)) | ((a < 0) & (b < 0) & (a + b < -128))


def slot_share(bad: np.ndarray) -> float:
    oc, pairs = bad.shape
    padded = np.zeros(((oc + 7) // 8 * 8, (pairs + 1) // 2 * 2), bool)
    padded[:oc, :pairs] = bad
    return padded.reshape(padded.shape[0] // 8, 8, padded.shape[1] // 2, 2).any(axis=(1, 3)).mean()


def main(path: str) -> None:
    m = read_model(path)
    print(f"{'op':>4} {'OC':>6} {'K':>6} {'pairs':>8} {'slots':>8}")
    for i, op in enumerate(m.ops):
        if len(op.inputs) < 3 or op.attrs.get("groups", 1) != 1:
            continue
        t = m.tensors[op.inputs[1]]
        if t.data is None or len(t.dims) not in (2, 4) or t.nbytes != int(np.prod(t.dims)):
            continue
        w = np.frombuffer(t.data, np.int8).reshape(t.dims[0], -1)
        bad = saturating_pairs(w)
        print(f"{i:>4} {w.shape[0]:>6} {w.shape[1]:>6} {bad.mean():>7.1%} {slot_share(bad):>7.1%}")


if __name__ == "__main__":
    main(sys.argv[1])
