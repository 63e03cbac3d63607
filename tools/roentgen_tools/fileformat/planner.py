"""Greedy arena planner of SPEC "PLAN" (tflite-micro GreedyMemoryPlanner style).

Largest activation first (ties: earlier first op, then lower tensor index); each goes to the
lowest 64-aligned offset where it overlaps no already placed activation whose lifetime
intersects its own. The lifetimes are exactly the ones the reader checks (reader.lifetimes),
so a plan we write always verifies.
"""
from __future__ import annotations

import numpy as np

from .model import ALIGN, ROLE_ACTIVATION, align
from .reader import lifetimes


def plan_arena(tensors, ops, input_tensor: int, output_tensor: int):
    """Returns (arena_size, {tensor index: offset}) for every activation."""
    lt = lifetimes(tensors, ops, input_tensor, output_tensor)
    acts = [i for i, t in enumerate(tensors) if t.role == ROLE_ACTIVATION]
    for i in acts:
        lt.setdefault(i, (0, 0))  # an activation no op touches (the reader rejects such a graph)
    order = sorted(acts, key=lambda i: (-tensors[i].nbytes, lt[i][0], i))
    # the placed activations as arrays, so "which placed ones are live with this one" is one
    # vectorised comparison instead of a Python loop over all of them
    n = len(order)
    first = np.empty(n, np.int64)
    last = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    placed = {}
    for k, i in enumerate(order):
        f, l = lt[i]
        size = tensors[i].nbytes
        live = (first[:k] <= l) & (f <= last[:k])
        busy = sorted(zip(start[:k][live].tolist(), end[:k][live].tolist()))
        offset = 0
        for s, e in busy:
            if offset + size <= s:
                break
            offset = max(offset, align(e, ALIGN))
        placed[i] = offset
        first[k], last[k], start[k], end[k] = f, l, offset, offset + size
    arena = align(int(end.max()) if n else 0, ALIGN)
    return arena, dict(sorted(placed.items()))
