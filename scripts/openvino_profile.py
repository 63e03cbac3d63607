#!/usr/bin/env python3
"""OpenVINO's own per-op profile (PERF_COUNT) of a model, summed by layer type and primitive: the
peer side of the per-op comparisons in docs/SPEED.md ("Per op against OpenVINO").

    source scripts/setup.sh && setup_python
    python scripts/openvino_profile.py MODEL.onnx [--threads 1] [--rounds 5] [--runs 20]

Each node's time is its minimum over the rounds (the last inference of each); a dynamic input
shape gets batch 1 and 224 for every other unknown dimension. For int8, pass the QDQ model that
roentgen-peers made (~/.cache/roentgen/peers/NETWORK/qdq-*/qdq.onnx).
"""
from __future__ import annotations

import argparse

import numpy as np


def node_times(model_path, threads=1, rounds=5, runs=20) -> dict:
    """{(node name, node type, primitive): ms} in execution order, each the minimum over `rounds`
    of the last of `runs` inferences' PERF_COUNT."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(model_path)
    shape = model.inputs[0].get_partial_shape()
    if not shape.is_static:
        model.reshape({model.inputs[0]: [1] + [int(str(d)) if d.is_static else 224 for d in list(shape)[1:]]})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1, "PERF_COUNT": True})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal(tuple(compiled.inputs[0].shape)).astype(np.float32)
    best = {}
    for _ in range(rounds):
        for _ in range(runs):
            request.infer({0: x})
        for p in request.profiling_info:
            key = (p.node_name, p.node_type, p.exec_type)
            best[key] = min(best.get(key, float("inf")), p.real_time.total_seconds() * 1e3)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--nodes", action="store_true", help="also every node's time, in execution order")
    a = ap.parse_args(argv)
    best = node_times(a.model, a.threads, a.rounds, a.runs)
    if a.nodes:
        for (name, node_type, exec_type), ms in best.items():
            print(f"node {name:<40} {node_type:<20} {exec_type:<30} {ms:8.3f} ms")
    by_kind = {}
    for (_, node_type, exec_type), ms in best.items():
        by_kind[(node_type, exec_type)] = by_kind.get((node_type, exec_type), 0.0) + ms
    for (node_type, exec_type), ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        if ms >= 0.005:
            print(f"{node_type:<20} {exec_type:<30} {ms:8.3f} ms")
    print(f"{'total':<51} {sum(best.values()):8.3f} ms")


if __name__ == "__main__":
    main()
