"""Greedy arena planner of SPEC "PLAN" (tflite-micro GreedyMemoryPlanner style).

Largest tensor first; each goes to the lowest 64-aligned offset where it does not overlap any
already placed tensor whose lifetime intersects its own. Lifetimes are exactly the ones the
reader recomputes (format.lifetimes), so a plan we write always verifies.
"""
from __future__ import annotations

from ..fileformat.rtg import ALIGN, ROLE_ACTIVATION, align, lifetimes


def plan_arena(tensors, ops, input_tensor: int, output_tensor: int):
    """Returns (arena_size, {tensor index: offset})."""
    lt = lifetimes(tensors, ops, input_tensor, output_tensor)
    acts = [i for i, t in enumerate(tensors) if t.role == ROLE_ACTIVATION]
    # ties broken by first use then index so the plan is deterministic
    order = sorted(acts, key=lambda i: (-tensors[i].nbytes, lt[i][0], i))
    placed = {}
    for i in order:
        first, last = lt[i]
        size = tensors[i].nbytes
        busy = sorted((placed[j], placed[j] + tensors[j].nbytes) for j in placed
                      if lt[j][0] <= last and first <= lt[j][1])
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, align(end, ALIGN))
        placed[i] = offset
    arena = align(max((placed[i] + tensors[i].nbytes for i in placed), default=0), ALIGN)
    return arena, placed
