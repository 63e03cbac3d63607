"""Confidence that means something (SPEC "CONFIDENCE"): temperature scaling (Guo et al. 2017) of
the model's outputs and the threshold below which `roentgen classify` reports an image uncertain.

Both are fitted on held-out images only, never on the test sets. The held-out DRRs alone are too
easy (the models are right on nearly all of them, so the best temperature would be ~0 and every
probability 1.0): they are fitted on the held-out images under the training augmentations at a
larger strength (`STRENGTH`, `COPIES` draws per image), a stand-in for the shift to real films.

- temperature T: the one that minimizes the negative log-likelihood of softmax(output / T) on
  those images (a 1-D search over log T);
- min_confidence: the `QUANTILE` quantile of the calibrated top probability on the same images,
  so about that fraction of harder-than-usual in-domain images comes out uncertain, and images the
  model has never seen anything like (low top probability) do too.
"""
from __future__ import annotations

import numpy as np

from .augment import augment

STRENGTH = 1.5
COPIES = 4
QUANTILE = 0.05
BINS = 15
T_RANGE = (1e-3, 1e3)


def softmax(scores, temperature=1.0):
    z = np.asarray(scores, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(scores, y, temperature) -> float:
    p = softmax(scores, temperature)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))))


def fit_temperature(scores, y) -> float:
    """argmin_T NLL(softmax(scores / T), y): a log-spaced scan, then golden-section refinement."""
    scores, y = np.asarray(scores, np.float64), np.asarray(y)
    grid = np.geomspace(*T_RANGE, 121)
    losses = [nll(scores, y, t) for t in grid]
    k = int(np.argmin(losses))
    lo, hi = np.log(grid[max(k - 1, 0)]), np.log(grid[min(k + 1, len(grid) - 1)])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(60):
        if nll(scores, y, np.exp(a)) < nll(scores, y, np.exp(b)):
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return float(np.float32(np.exp((lo + hi) / 2)))   # the file stores binary32


def ece(probs, y, bins=BINS) -> float:
    """Expected calibration error: sum over equal-width confidence bins of |accuracy - confidence|
    weighted by the bin's share of the images."""
    probs, y = np.asarray(probs), np.asarray(y)
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(float((pred[sel] == y[sel]).mean()) - float(conf[sel].mean()))
    return total


def threshold(probs, quantile=QUANTILE) -> float:
    return float(np.float32(min(np.quantile(np.asarray(probs).max(1), quantile), 0.999)))


def calibrate(scores, y, reject_class=None) -> dict:
    """{temperature, min_confidence, reject_class, ece_before, ece_after, nll_before, nll_after, images}.
    With a reject class the threshold is the quantile over the in-domain images only."""
    y = np.asarray(y)
    t = fit_temperature(scores, y)
    p0, p1 = softmax(scores), softmax(scores, t)
    known = y != reject_class
    return {"temperature": t, "min_confidence": threshold(p1[known]), "reject_class": reject_class,
            "ece_before": ece(p0, y), "ece_after": ece(p1, y),
            "nll_before": nll(scores, y, 1.0), "nll_after": nll(scores, y, t), "images": int(len(y)),
            "strength": STRENGTH, "copies": COPIES, "quantile": QUANTILE}


def uncertain(scores, conf) -> np.ndarray:
    """SPEC "Probabilities" for a batch: the top probability (skipping the reject class) is below
    the threshold or not above the reject class's."""
    p = softmax(scores, conf["temperature"])
    r = conf["reject_class"]
    known = np.delete(p, r, axis=1) if r is not None else p
    top = known.max(1)
    out = top < conf["min_confidence"]
    return out | (top <= p[:, r]) if r is not None else out


def heldout_answers(scores, y, conf) -> dict:
    """The fraction of held-out images reported uncertain, in-domain and of the reject class."""
    y, u = np.asarray(y), uncertain(scores, conf)
    rej = y == conf["reject_class"]
    return {"in_domain": int((~rej).sum()), "in_domain_uncertain": float(u[~rej].mean()),
            "reject": int(rej.sum()), "reject_uncertain": float(u[rej].mean()) if rej.any() else 0.0}


def augmented_copies(x_nhwc, y, flip_ok, seed):
    """COPIES augmented draws of every held-out image (train.augment at STRENGTH), [N*COPIES, H, W, 1]."""
    import torch
    gen = torch.Generator().manual_seed(seed + 9173)
    xb = torch.from_numpy(np.ascontiguousarray(x_nhwc)).permute(0, 3, 1, 2).contiguous()
    yb = torch.from_numpy(np.asarray(y))
    outs = [augment(xb, yb, flip_ok, gen, STRENGTH).permute(0, 2, 3, 1).numpy() for _ in range(COPIES)]
    return np.concatenate(outs).astype(np.float32), np.tile(np.asarray(y), COPIES)
