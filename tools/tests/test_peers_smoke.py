"""Smoke test of the speed tooling (fast): `roentgen bench --json`, the kernel variants, and
`roentgen-peers` end to end on a tiny random CNN with one short round."""
import json
import os
import platform
import subprocess

import pytest

from conftest import REPO
from test_swift_e2e import roentgen_bin
from roentgen_tools import convert
from roentgen_tools import peers
from roentgen_tools.fileformat import write_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, small_onnx, small_int8):
    d = tmp_path_factory.mktemp("peers")
    write_model(small_int8, d / "q.rtg")
    write_model(convert.convert(small_onnx, "f32"), d / "f.rtg")
    return d


def run(args, env=None):
    r = subprocess.run([str(roentgen_bin()), *map(str, args)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_bench_json(tiny):
    for model, threads in [("q.rtg", 1), ("q.rtg", 2), ("f.rtg", 2)]:
        out = json.loads(run(["bench", tiny / model, "--threads", threads, "--runs", 5, "--warmup", 1, "--json"]))
        for key in ("median_ms", "p99_ms", "min_ms", "p90_ms", "threads", "kernel", "arena_bytes", "peak_rss_bytes"):
            assert key in out, key
        assert out["threads"] == threads and out["median_ms"] > 0


def test_every_variant_same_logits(tiny):
    """Every kernel variant this CPU runs, at 1 and 2 threads, gives the same int8 logits."""
    images = sorted((REPO / "fixtures/images").glob("*.png"))[:3]
    seen = {}
    for variant in ["portable", "avx2", "vnni"]:
        for threads in (1, 2):
            r = subprocess.run([str(roentgen_bin()), "classify", "--json", "--threads", str(threads), str(tiny / "q.rtg"),
                                *map(str, images)], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "ROENTGEN_KERNEL": variant})
            assert r.returncode == 0, r.stderr
            if "cannot run it" in r.stderr:
                continue                      # this CPU lacks the variant (it fell back)
            seen[(variant, threads)] = [json.loads(line)["logits"] for line in r.stdout.splitlines()]
    variants = {v for v, _ in seen}
    # an x86-64 CPU with AVX2 runs at least portable and avx2: otherwise this compares one variant with itself
    assert len(variants) >= 2 or platform.machine() != "x86_64", f"only {variants} ran"
    first = next(iter(seen.values()))
    for k, v in seen.items():
        assert v == first, k


def test_peers_one_round(tiny, small_onnx, calib_dir, tmp_path):
    out = tmp_path / "peers.json"
    res = peers.run(["--onnx", str(small_onnx), "--calib", str(calib_dir), "--int8", str(tiny / "q.rtg"),
                      "--f32", str(tiny / "f.rtg"), "--roentgen", str(roentgen_bin()), "--threads", "1", "--rounds", "1",
                      "--runs", "2", "--warmup", "1", "--mean", "0", "--std", "1",
                      "--engines", "roentgen-int8", "roentgen-f32", "ort-int8", "ort-fp32", "--work", str(tmp_path / "w"),
                      "--json", str(out)])
    assert res["macs"] > 0
    assert set(res["medians_ms"]) == {"roentgen-int8", "roentgen-f32", "ort-int8", "ort-fp32"}
    assert "int8_vs_best_peer" in res["ratios"] and "f32_vs_ort_fp32" in res["ratios"]
    assert json.loads(out.read_text())["macs"] == res["macs"]


def test_table2_macs(table2_fixture):
    """The trained cnn.onnx is the Table-2 network: 724.1 M MACs, like the generated untrained one."""
    assert abs(peers.onnx_macs(REPO / "fixtures/models/cnn.onnx") / 1e6 - 724.1) < 0.1
    assert abs(peers.onnx_macs(table2_fixture / "models/table2.onnx") / 1e6 - 724.1) < 0.1
