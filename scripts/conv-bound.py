#!/usr/bin/env python3
"""Each int8 conv of a network: Roentgen's time, OpenVINO's time and the exact-arithmetic bound
(the conv's MACs at the core's measured s16 x s16 multiply-add rate), summed by kind (1x1,
depthwise, other). docs/SPEED.md "Stop 25" uses it to say how much of a gap is arithmetic.

    source scripts/setup.sh && setup_python
    PYTHONPATH=tools python scripts/conv-bound.py ROENTGEN.rtg OPENVINO-QDQ.onnx [--bound-gmacs G]

The bound defaults to the exact int8 MAC/s that scripts/isa-peak.c measures on this core for the
inner product of the variant ROENTGEN_KERNEL names (`roentgen_tools.peers.measured_peak`; default
avx2, whose `vpmaddwd + vpaddd` pair is 16 MACs). The
convs are paired in execution order (both engines run them in the graph's order; the count must
agree). Roentgen's time is `roentgen bench --per-op`'s median, OpenVINO's its PERF_COUNT minimum
(scripts/openvino_profile.py), both at 1 thread; OpenVINO's convs include what it fuses into them
(the residual ADDs), which Roentgen runs as ops of their own ("other ops").
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from roentgen_tools import peers                        # noqa: E402
from roentgen_tools.fileformat import ops as opdefs    # noqa: E402
from roentgen_tools.fileformat.reader import read_model   # noqa: E402


def roentgen_op_ms(binary: str, model: Path, runs: int) -> dict[int, float]:
    out = subprocess.run([binary, "bench", str(model), "--threads", "1", "--runs", str(runs), "--per-op"],
                         check=True, capture_output=True, text=True).stdout
    return {int(m[1]): float(m[2]) for m in re.finditer(r"^\s+op\s+(\d+)\s+\S+\s+\S+\s+([\d.]+) ms", out, re.M)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rtg", type=Path, help="the Roentgen int8 model")
    ap.add_argument("qdq", type=Path, help="the same network as QDQ ONNX for OpenVINO (roentgen-peers' qdq.onnx)")
    ap.add_argument("--bound-gmacs", type=float, help="exact int8 G MAC/s of one core (default: measured)")
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args(argv)
    import openvino_profile

    variant = os.environ.get("ROENTGEN_KERNEL", "avx2")
    macs_per_s = (a.bound_gmacs or peers.measured_peak(variant)[0] or 0) * 1e9
    if not macs_per_s:
        raise SystemExit(f"conv-bound: no measured bound for ROENTGEN_KERNEL={variant}; give --bound-gmacs")
    binary = os.environ.get("ROENTGEN_BIN", str(HERE.parent / ".build/release/roentgen"))
    model = read_model(a.rtg)
    ours = roentgen_op_ms(binary, a.rtg, a.runs)
    theirs = [ms for (_, node_type, _), ms in openvino_profile.node_times(str(a.qdq)).items()
              if node_type in ("Convolution", "GroupConvolution")]
    convs = [(i, op) for i, op in enumerate(model.ops) if op.kind == opdefs.OP_CONV2D]
    if len(convs) != len(theirs):
        raise SystemExit(f"{len(convs)} convs in {a.rtg}, {len(theirs)} in OpenVINO's profile of {a.qdq}")
    print(f"bound: {macs_per_s / 1e9:.1f} G exact int8 MAC/s (one core)")
    print(f"{'op':>4} {'kind':<5} {'K':>5} {'OC':>5} {'map':>8} {'Roentgen':>9} {'OpenVINO':>9} {'bound':>7}"
          f" {'G MAC/s: R':>11} {'OV':>4}")
    sums: dict[str, list[float]] = {}
    for (i, op), ov_ms in zip(convs, theirs):
        oc, kh, kw, icg = model.tensors[op.inputs[1]].dims
        y = model.tensors[op.output].dims
        macs = y[1] * y[2] * oc * kh * kw * icg
        groups = op.attrs["groups"]
        kind = "dw" if groups > 1 and groups * icg == oc else "1x1" if kh * kw == 1 else f"{kh}x{kw}"
        bound_ms = macs / macs_per_s * 1e3
        print(f"{i:4d} {kind:<5} {kh * kw * icg:5d} {oc:5d} {y[1]:>4}x{y[2]:<3} {ours[i]:9.3f} {ov_ms:9.3f}"
              f" {bound_ms:7.3f} {macs / ours[i] / 1e6:11.0f} {macs / ov_ms / 1e6:4.0f}")
        s = sums.setdefault(kind if kind in ("dw", "1x1") else "other convs", [0.0, 0.0, 0.0])
        for j, v in enumerate((ours[i], ov_ms, bound_ms)):
            s[j] += v
    for kind, (r, o, b) in sums.items():
        print(f"{kind:<12} Roentgen {r:7.3f} ms  OpenVINO {o:7.3f} ms  exact bound {b:7.3f} ms")
    rest = sum(ms for i, ms in ours.items() if model.ops[i].kind != opdefs.OP_CONV2D)
    print(f"other ops    Roentgen {rest:7.3f} ms (OpenVINO fuses or skips most of them)")


if __name__ == "__main__":
    main()
