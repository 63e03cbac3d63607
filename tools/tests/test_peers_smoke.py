"""Smoke test of the speed tooling (fast): `roentgen bench --json`, the kernel variants, and
`roentgen-peers` end to end - every engine, on a tiny network whose LiteRT files are written here
(onnx2tf needs TensorFlow, which CI does not install), a network built by peer_networks, the LiteRT
check that stops a wrong conversion, and the --peer-isa cap."""
import json
import os
import platform
import subprocess
import sys

import flatbuffers
import numpy as np
import onnx
import pytest
from ai_edge_litert import schema_py_generated as tfl
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO
from test_swift_e2e import roentgen_bin
from roentgen_tools import convert, litert_convert, peer_networks
from roentgen_tools import peers
from roentgen_tools.fileformat import read_model, write_model


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


def test_bench_serve(tiny):
    """`bench --serve` answers each 'RUNS WARMUP' line with one JSON batch from the same loaded model,
    and names a malformed line and exits non-zero."""
    r = subprocess.run([str(roentgen_bin()), "bench", str(tiny / "q.rtg"), "--threads", "2", "--serve"], input="5 1\n7 0\n",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    batches = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(b["runs"], b["warmup"], b["threads"]) for b in batches] == [(5, 1, 2), (7, 0, 2)]
    assert all(b["median_ms"] > 0 and b["min_ms"] <= b["median_ms"] <= b["p99_ms"] for b in batches)
    r = subprocess.run([str(roentgen_bin()), "bench", str(tiny / "q.rtg"), "--serve"], input="5 1\nfive\n",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and len(r.stdout.splitlines()) == 1 and "'five' is not 'RUNS WARMUP'" in r.stderr


def test_every_variant_same_logits(tiny):
    """Every kernel variant this CPU runs, at 1 and 2 threads, gives the same int8 logits."""
    images = sorted((REPO / "fixtures/images").glob("*.png"))[:3]
    seen = {}
    for variant in ["portable", "avx2", "avxvnni", "vnni"]:
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


# ---- a network every engine runs: global average pool + dense, 3 x 8 x 8 -------------------------

C, K, HW = 3, 4, 8


def _tflite(path, w, b, int8=None):
    """The tiny network as LiteRT writes it (MEAN over H, W, then FULLY_CONNECTED), float32, or int8
    with int8 = (input scale, input zero, output scale, output zero)."""
    buffers, tensors = [tfl.BufferT()], []

    def tensor(name, shape, kind, data=None, quant=None):
        t = tfl.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), kind, 0
        if data is not None:
            buffers.append(tfl.BufferT())
            buffers[-1].data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            t.buffer = len(buffers) - 1
        if quant is not None:
            t.quantization = tfl.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
        tensors.append(t)
        return len(tensors) - 1

    axes = tensor("axes", [2], tfl.TensorType.INT32, np.array([1, 2], np.int32))
    if int8 is None:
        f = tfl.TensorType.FLOAT32
        x, m = tensor("input", [1, HW, HW, C], f), tensor("mean", [1, C], f)
        wt, bt, y = tensor("w", [K, C], f, w), tensor("b", [K], f, b), tensor("output", [1, K], f)
    else:
        s_in, z_in, s_out, z_out = int8
        s_w = float(np.abs(w).max() / 127)
        q = tfl.TensorType.INT8
        x, m = tensor("input", [1, HW, HW, C], q, quant=(s_in, z_in)), tensor("mean", [1, C], q, quant=(s_in, z_in))
        wt = tensor("w", [K, C], q, np.round(w / s_w).astype(np.int8), (s_w, 0))
        bt = tensor("b", [K], tfl.TensorType.INT32, np.round(b / (s_in * s_w)).astype(np.int32), (s_in * s_w, 0))
        y = tensor("output", [1, K], q, quant=(s_out, z_out))
    codes, ops = [], []
    for code, ins, out, kind, options in [
            (tfl.BuiltinOperator.MEAN, [x, axes], m, tfl.BuiltinOptions.ReducerOptions, tfl.ReducerOptionsT()),
            (tfl.BuiltinOperator.FULLY_CONNECTED, [m, wt, bt], y, tfl.BuiltinOptions.FullyConnectedOptions,
             tfl.FullyConnectedOptionsT())]:
        oc = tfl.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = code
        oc.version = 1
        codes.append(oc)
        op = tfl.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = len(ops), ins, [out]
        op.builtinOptionsType, op.builtinOptions = kind, options
        ops.append(op)
    sg = tfl.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = tensors, [x], [y], ops
    model = tfl.ModelT()
    model.version, model.subgraphs, model.operatorCodes, model.buffers = 3, [sg], codes, buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())


@pytest.fixture(scope="module")
def gap(tmp_path_factory, calib_dir):
    """The tiny network: ONNX, Roentgen int8 / f32, and its weights."""
    d = tmp_path_factory.mktemp("gap")
    rng = np.random.default_rng(0)
    w, b = rng.normal(0, 1, (K, C)).astype(np.float32), rng.normal(0, 0.1, K).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["output"], transB=1)]
    g = helper.make_graph(nodes, "gap", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, C, HW, HW])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, K])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "gap.onnx")
    write_model(convert.convert(d / "gap.onnx", "int8", calib=calib_dir, created="2026-01-01T00:00:00Z"), d / "q.rtg")
    write_model(convert.convert(d / "gap.onnx", "f32"), d / "f.rtg")
    return {"dir": d, "w": w, "b": b, "args": ["--onnx", d / "gap.onnx", "--int8", d / "q.rtg", "--f32", d / "f.rtg",
                                               "--calib", calib_dir, "--roentgen", roentgen_bin()]}


def _seed_litert(gap, calib_dir, work, w, monkeypatch):
    """Puts LiteRT files of weights `w` where litert_convert.convert looks for the tiny network's
    conversion, as onnx2tf would have written them (a miss fails at once: no TensorFlow here)."""
    monkeypatch.setattr(litert_convert, "ensure_tf_venv", lambda **_: pytest.fail("LiteRT cache miss"))
    calib = peers.calibration_inputs(calib_dir, [1, C, HW, HW], 0.0, 1.0)
    out = litert_convert.cache_dir(gap["dir"] / "gap.onnx", calib, work / "gap")
    out.mkdir(parents=True)
    y = np.concatenate([x.mean((2, 3)) @ w.T + gap["b"] for x in calib])
    s_out = float(y.max() - y.min()) / 255
    _tflite(out / "fp32.tflite", w, gap["b"])
    _tflite(out / "int8.tflite", w, gap["b"], (1 / 255, -128, s_out, int(round(-128 - y.min() / s_out))))
    (out / "versions.json").write_text(json.dumps({"onnx2tf": "test", "tensorflow": "test"}))


def _args(*extra):
    return [str(a) for a in extra] + ["--threads", "1", "2", "--rounds", "1", "--runs", "2", "--warmup", "1"]


def test_peers_every_engine(gap, calib_dir, tmp_path, capsys, monkeypatch):
    _seed_litert(gap, calib_dir, tmp_path, gap["w"], monkeypatch)
    out = tmp_path / "peers.json"
    res = peers.run(_args(*gap["args"], "--work", tmp_path, "--json", out))
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    net = res["networks"]["gap"]
    assert set(net["medians_ms"]) == set(peers.ENGINES)
    assert all(v > 0 for e in net["medians_ms"].values() for v in (e["1"], e["2"]))
    for key, pool in (("int8", peers.INT8_PEERS), ("f32", peers.FP32_PEERS)):
        assert set(net["ratios"][f"{key}_vs_best_peer"]) == {"1", "2"}
        assert set(net["ratios"][f"{key}_best_peer"].values()) <= set(pool)
    # the conversion check ran and passed: fp32 equal up to rounding, int8 close
    check = net["litert_check"]
    assert check["litert-fp32"]["rel_error"] < 1e-5 and check["litert-fp32"]["top1"] == check["litert-fp32"]["inputs"]
    assert check["litert-int8"]["correlation"] > 0.99 and check["ort-int8"]["inputs"] == check["litert-int8"]["inputs"]
    assert all(p["delegate_partitions"] >= 1 for p in net["litert_xnnpack"].values())   # XNNPACK took the graph
    assert net["roentgen_kernel"]["roentgen-int8"] and net["openvino_kernels"]["openvino-int8"]
    # the bound is that of the int8 kernel that ran (vpmaddwd on avx2, vpdpbusd on vnni, none on portable)
    variant = net["roentgen_kernel"]["roentgen-int8"].split()[0]
    bound = net["measured_bound"]
    if variant in peers.PEAK_INSTRUCTIONS:
        assert bound["instruction"] == peers.PEAK_INSTRUCTIONS[variant][0] and bound["gmacs_per_core"] > 10, bound
    else:
        assert bound == {"gmacs_per_core": None, "instruction": None}
    # each Roentgen batch's count of ops run without the worker, per thread count
    for e in ("roentgen-int8", "roentgen-f32"):
        solo = net["roentgen_solo_ops"][e]
        assert set(solo) == {"1", "2"} and all(len(v) == res["rounds"] and min(v) >= 0 for v in solo.values())
        assert not any(solo["1"])            # one thread has no worker to lag
    assert net["macs"] == K * C
    assert set(res["cpu"]["flags"]) == set(peers.CPU_FLAGS) and res["cpu"]["model"]
    assert res["versions"]["ai-edge-litert"] and res["versions"]["openvino"] and res["versions"]["onnx2tf"] == "test"
    table = capsys.readouterr().out
    for row in ("litert-int8", "litert-fp32", "openvino-fp32", "int8 Roentgen / best peer", "f32 Roentgen / best peer",
                *([f"bound ({bound['instruction']})"] if bound["instruction"] else [])):
        assert row in table, row


def test_peers_stops_a_wrong_litert_conversion(gap, calib_dir, tmp_path, monkeypatch):
    _seed_litert(gap, calib_dir, tmp_path, -gap["w"], monkeypatch)
    with pytest.raises(SystemExit, match=r"LiteRT conversion of .*gap.onnx is wrong: litert-fp32 relative error"):
        peers.run(_args(*gap["args"], "--work", tmp_path, "--engines", "litert-int8"))


def test_peer_isa_avx2_caps_openvino(gap, tmp_path):
    """OpenVINO compiles its oneDNN kernels for AVX2 under --peer-isa avx2 (a new process: oneDNN reads
    the cap once); in a process that loaded OpenVINO already the option is refused."""
    def kernels(*isa):
        r = subprocess.run([sys.executable, "-m", "roentgen_tools.peers",
                            *_args(*gap["args"], "--work", tmp_path, "--engines", "openvino-int8", *isa,
                                   "--json", tmp_path / "isa.json")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return json.loads((tmp_path / "isa.json").read_text())["networks"]["gap"]
    native, capped = kernels(), kernels("--peer-isa", "avx2")
    assert "peer_isa_honoured" not in native and capped["peer_isa_honoured"]["openvino-int8"].startswith(("yes", "partly"))
    native, capped = native["openvino_kernels"]["openvino-int8"], capped["openvino_kernels"]["openvino-int8"]
    assert any("avx2" in k for k in capped), capped
    if peers.cpu_info()["flags"]["avx512f"]:
        assert sum("avx512" in k for k in capped) < sum("avx512" in k for k in native), (native, capped)
    import openvino  # noqa: F401 - loaded, as after any OpenVINO run in this process
    with pytest.raises(SystemExit, match="before OpenVINO is loaded"):
        peers.run(_args(*gap["args"], "--work", tmp_path, "--engines", "openvino-int8", "--peer-isa", "avx2"))


def test_peers_bad_arguments(gap, tmp_path):
    with pytest.raises(SystemExit):
        peers.run(["--onnx", str(gap["dir"] / "gap.onnx")])         # no --int8 / --f32
    with pytest.raises(SystemExit, match=r"missing.rtg: no such file"):
        peers.run(["--onnx", str(gap["dir"] / "gap.onnx"), "--int8", str(tmp_path / "missing.rtg"),
                   "--f32", str(gap["dir"] / "f.rtg")])


def test_bench_input_is_roentgen_bench_pattern():
    """Element i of the NHWC tensor is ((i * 7919) % 1000) / 1000 * 2 - 1 in Float (Bench.swift), here NCHW."""
    x = peers.bench_input([1, 3, 5, 7])
    n, c, h, w = 0, 2, 4, 6
    i = ((n * 5 + h) * 7 + w) * 3 + c
    assert x.shape == (1, 3, 5, 7) and x.dtype == np.float32
    f = np.float32
    assert x[n, c, h, w] == f((i * 7919) % 1000) / f(1000) * f(2) - f(1)


# ---- networks built by peer_networks --------------------------------------------------------------

def test_build_network(calib_dir, tmp_path):
    """A torchvision network built like mobilenet_v2 (smaller: squeezenet1_1, gray, 32 x 32): ONNX and
    both .rtg files, rebuilt only when its sources change, the same bytes every time; and the peers
    time it."""
    spec = peer_networks.Spec("squeezenet-32", "torchvision", "squeezenet1_1", 1, 32)
    built = []
    net = peer_networks.build_network(spec, calib_dir, tmp_path / "a", log=built.append)
    assert len(built) == 1 and net.name == "squeezenet-32"
    dims = [d.dim_value for d in onnx.load(str(net.onnx)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 32, 32]
    for rtg, precision in ((net.int8, "int8"), (net.f32, "f32")):
        m = read_model(rtg)
        assert (m.precision, m.input.channels, m.input.height) == (precision, 1, 32)
    assert peer_networks.build_network(spec, calib_dir, tmp_path / "a", log=built.append) == net and len(built) == 1
    again = peer_networks.build_network(spec, calib_dir, tmp_path / "b", log=built.append)
    for a, b in ((net.onnx, again.onnx), (net.int8, again.int8), (net.f32, again.f32)):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = tmp_path / "calib"
    other.mkdir()
    for p in sorted(calib_dir.glob("*.png"))[:4]:
        (other / p.name).write_bytes(p.read_bytes())
    assert peer_networks.source_key(spec, other) != peer_networks.source_key(spec, calib_dir)

    res = peers.run(_args("--onnx", net.onnx, "--int8", net.int8, "--f32", net.f32, "--calib", calib_dir,
                          "--roentgen", roentgen_bin(), "--work", tmp_path / "w",
                          "--engines", "roentgen-int8", "roentgen-f32", "ort-int8", "openvino-int8", "openvino-fp32"))
    assert set(res["networks"]["model"]["medians_ms"]) == {"roentgen-int8", "roentgen-f32", "ort-int8", "openvino-int8",
                                                           "openvino-fp32"}


def test_unknown_network(tmp_path):
    with pytest.raises(SystemExit, match="unknown network 'resnet9'"):
        peer_networks.assets("resnet9", REPO / "fixtures/calib", tmp_path)


def test_table2_macs(table2_fixture):
    """The trained cnn.onnx is the Table-2 network: 724.1 M MACs, like the generated untrained one."""
    assert abs(peers.onnx_macs(REPO / "fixtures/models/cnn.onnx") / 1e6 - 724.1) < 0.1
    assert abs(peers.onnx_macs(table2_fixture / "models/table2.onnx") / 1e6 - 724.1) < 0.1


# ---- the TensorFlow venv (not built here: 1 GB) ----------------------------------------------------

def test_tf_venv_is_made_once(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, check):
        calls.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            (tmp_path / "bin").mkdir()
            (tmp_path / "bin/python").touch()

    monkeypatch.setattr(litert_convert.subprocess, "run", fake_run)
    py = litert_convert.ensure_tf_venv(tmp_path, log=lambda m: None)
    assert py == tmp_path / "bin/python"
    assert [c[1:3] for c in calls] == [["-m", "venv"], ["-m", "pip"], ["-m", "pip"]]
    assert calls[-1][-len(litert_convert.TF_REQUIREMENTS):] == litert_convert.TF_REQUIREMENTS
    calls.clear()
    assert litert_convert.ensure_tf_venv(tmp_path, log=lambda m: None) == py and calls == []
