"""The converter end to end: seeded random torch DAG networks exported by both PyTorch exporters
(TorchScript and dynamo) and seeded ONNX chains, against ONNX Runtime (f32) and the float model
(int8, mixed precision); the CLI; the Table-2 fixtures."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnn_factory import DAG_BLOCKS, DAG_HEADS, export_onnx, random_cnn, random_dag
from conftest import REPO, trained_images
from roentgen_tools import __version__, convert
from roentgen_tools.fileformat import (DT_FLOAT32, DT_INT8, ROLE_ACTIVATION, read_bytes, read_model, serialize,
                                       write_model)
from roentgen_tools.fileformat import ops as T
from roentgen_tools.quant.calibration import calibration_digest
from roentgen_tools.reference import executor as reference

TS_SEEDS = list(range(11)) + [12, 13]  # TorchScript exports (fast)
DYNAMO_SEEDS = [0, 10, 13]            # dynamo exports (a few seconds each)
CHAIN_SEEDS = [0, 5, 9, 14, 17]   # onnx.helper chains: Gemm / MatMul+Add / Softmax / Shape chains / BN1d


def ort_logits(onnx_path, x_nhwc):
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x_nhwc.transpose(0, 3, 1, 2)})[0].reshape(-1)


def f32(p, **kw):
    return read_bytes(serialize(convert.convert(p, "f32", **kw)))


@pytest.fixture(scope="module")
def dags(tmp_path_factory, calib_dir):
    """(seed, exporter) -> (onnx path, desc, f32 model, int8 model)"""
    d = tmp_path_factory.mktemp("dag")
    out = {}
    for exporter, seeds in (("torchscript", TS_SEEDS), ("dynamo", DYNAMO_SEEDS)):
        for seed in seeds:
            net, desc = random_dag(seed)
            p = export_onnx(net, d / f"dag{seed}-{exporter}.onnx", desc["channels"], desc["hw"], exporter)
            q = read_bytes(serialize(convert.convert(p, "int8", calib=calib_dir)))
            out[(seed, exporter)] = (p, desc, f32(p), q)
    return out


def test_dags_cover_the_feature_matrix(dags):
    blocks = {b for _, d, _, _ in dags.values() for b in d["blocks"]}
    assert blocks == set(DAG_BLOCKS), set(DAG_BLOCKS) - blocks
    assert {d["head"] for _, d, _, _ in dags.values()} == set(DAG_HEADS)
    assert {d["channels"] for _, d, _, _ in dags.values()} == {1, 3}
    opsets = {onnx.load(str(p)).opset_import[0].version for p, _, _, _ in dags.values()}
    assert opsets <= set(range(13, 21)), opsets
    kinds = {T.OP_NAMES[o.kind] for _, _, _, q in dags.values() for o in q.ops}
    assert kinds == set(T.OP_NAMES.values()), kinds  # DEQUANTIZE: after the int8 global pool of conv_gap
    functions = {o.attrs["function"] for _, _, m, _ in dags.values() for o in m.ops if o.kind == T.OP_ACTIVATION}
    assert {T.FUNCTION_HARD_SWISH, T.FUNCTION_SILU, T.FUNCTION_TANH, T.FUNCTION_SIGMOID,
            T.FUNCTION_HARD_SIGMOID} <= functions


@pytest.mark.parametrize("key", [(s, "torchscript") for s in TS_SEEDS] + [(s, "dynamo") for s in DYNAMO_SEEDS],
                         ids=lambda k: f"{k[1]}-{k[0]}")
def test_f32_reference_matches_onnxruntime(dags, calib_dir, key):
    p, desc, m, _ = dags[key]
    for img in sorted(calib_dir.glob("*.png"))[:4]:
        x = reference.load_input(m, img)
        got = reference.run(m, x).reshape(-1).astype(np.float64)
        want = ort_logits(p, x).astype(np.float64)
        assert np.abs(got - want).max() <= 1e-4 * max(np.abs(want).max(), 1e-6), f"{key} {img.name}: {desc}"
        assert np.abs(reference.softmax(got) - reference.softmax(want)).max() < 1e-4, f"{key} {img.name}"


def test_both_exporters_give_the_same_layers(dags):
    for seed in DYNAMO_SEEDS:
        a, b = dags[(seed, "torchscript")][3], dags[(seed, "dynamo")][3]
        layers = lambda m: [(T.OP_NAMES[o.kind], m.tensors[o.output].name, m.tensors[o.output].dims) for o in m.ops]
        assert layers(a) == layers(b), f"seed {seed}"


def test_int8_top1_mostly_agrees_with_float(dags, calib_dir):
    agree = total = 0
    for key, (_, _, m, q) in dags.items():
        for img in sorted(calib_dir.glob("*.png")):
            x = reference.load_input(m, img)
            agree += int(np.argmax(reference.run(m, x)) == np.argmax(reference.run(q, x)))
            total += 1
    assert agree >= 0.8 * total, f"int8 agrees with float on only {agree}/{total} calibration images"


def test_every_int8_layer_tracks_its_float_layer(dags, calib_dir):
    """Layer by layer, the dequantized int8 tensor stays within a few percent of the same tensor
    of the f32 file (a wrong scale, zero point or requant table in any op's lowering shows here)."""
    img = sorted(calib_dir.glob("*.png"))[1]
    for key, (_, _, m, q) in dags.items():
        x = reference.load_input(m, img)
        a, b = reference.run(q, x, record=True), reference.run(m, x, record=True)
        for t in q.tensors:
            if t.role != ROLE_ACTIVATION or t.dtype != DT_INT8 or t.name.removesuffix(".q") not in b:
                continue
            want = b[t.name.removesuffix(".q")].astype(np.float64)
            got = (a[t.name].astype(np.float64) - t.zero_point) * t.scale
            span = max(want.max() - want.min(), 1e-6)
            assert np.abs(got - want).max() <= 0.1 * span + 2 * t.scale, f"{key}: {t.name}"
            assert np.mean(np.abs(got - want)) <= 0.02 * span + t.scale, f"{key}: {t.name}"


def test_layer_outputs_have_the_same_names_in_every_precision(dags):
    _, _, m, q = dags[(2, "torchscript")]
    names = lambda model: {model.tensors[o.output].name for o in model.ops}
    assert names(m) - {"logits"} <= names(q)
    assert q.tensors[q.input.output_tensor].name == m.tensors[m.input.output_tensor].name == "logits"


@pytest.mark.parametrize("seed", CHAIN_SEEDS)
def test_chain_f32_matches_onnxruntime(tmp_path, calib_dir, seed):
    model, desc = random_cnn(seed)
    p = tmp_path / "chain.onnx"
    p.write_bytes(model.SerializeToString())
    m = f32(p)
    for img in sorted(calib_dir.glob("*.png"))[:3]:
        x = reference.load_input(m, img)
        want = ort_logits(p, x)
        want = want if desc["softmax"] else reference.softmax(want)
        assert np.abs(reference.softmax(reference.run(m, x)) - want).max() < 1e-4, f"seed {seed}: {desc}"


# ------------------------------------------------------------------------------ mixed precision

@pytest.fixture(scope="module")
def mixed(tmp_path_factory, calib_dir):
    net, desc = random_dag(42, blocks=["residual", "concat", "squeeze_excite", "maxpool"])
    p = export_onnx(net, tmp_path_factory.mktemp("mixed") / "m.onnx", desc["channels"], desc["hw"])
    return p, f32(p)


def _int8(p, calib_dir, **kw):
    return read_bytes(serialize(convert.convert(p, "int8", calib=calib_dir, created="2026-01-01T00:00:00Z", **kw)))


def _kinds(m):
    T_ = m.tensors
    return [(T.OP_NAMES[o.kind], T_[o.output].name, "int8" if T_[o.output].dtype == DT_INT8 else "f32") for o in m.ops]


def test_mixed_precision_inserts_one_conversion_per_activation(mixed, calib_dir):
    p, m32 = mixed
    layers = [m32.tensors[o.output].name for o in m32.ops]
    assert layers[:4] == ["conv1", "conv2", "conv3", "add1"], layers
    floats = ("conv1", "add1", "concat1", "logits")
    q = _int8(p, calib_dir, float_layers=floats)
    k = _kinds(q)
    by_name = {name: (op, dt) for op, name, dt in k}
    for name in floats:
        assert by_name[name][1] == "f32", name
    for name in ("conv2", "conv3", "mul1"):
        assert by_name[name][1] == "int8", name
    # conv1 is float, so the input is never quantized; conv1 is read by conv2 (int8) and add1 (f32)
    assert "input.q" not in by_name and k[0] == ("CONV2D", "conv1", "f32")
    assert by_name["conv1.q"] == ("QUANTIZE", "int8")
    # every conversion is of an existing tensor, once
    converted = [name for op, name, _ in k if op in ("QUANTIZE", "DEQUANTIZE")]
    assert len(converted) == len(set(converted))
    for name in converted:
        assert name.rsplit(".", 1)[0] in by_name or name.rsplit(".", 1)[0] == "input"
    # a QUANTIZE takes the calibrated range of the float tensor it converts
    conv1q = next(t for t in q.tensors if t.name == "conv1.q")
    plain = _int8(p, calib_dir)
    assert (conv1q.scale, conv1q.zero_point) == next((t.scale, t.zero_point) for t in plain.tensors if t.name == "conv1")
    logits_layer = m32.tensors[m32.ops[-1].inputs[1]].name.split(".")[0]  # e.g. dense2.weight
    assert dict(q.provenance)["float_layers"] == f"conv1,add1,concat1,{logits_layer}"
    assert q.tensors[q.input.output_tensor].dtype == DT_FLOAT32 and k[-1][:2] == ("DENSE", "logits")
    # the float first layer is bit-identical to the f32 model's, and the whole model tracks it
    x = reference.load_input(q, next(calib_dir.glob("*.png")))
    a, b = reference.run(q, x, record=True), reference.run(m32, x, record=True)
    assert np.array_equal(a["conv1"], b["conv1"])
    assert np.corrcoef(a["logits"].reshape(-1), b["logits"].reshape(-1))[0, 1] > 0.95


def test_mixed_precision_keeping_ops_follow_their_input(mixed, calib_dir):
    p, m32 = mixed
    pool = next(m32.tensors[o.output].name for o in m32.ops if o.kind == T.OP_MAXPOOL2D)
    before = m32.tensors[next(o for o in m32.ops if o.kind == T.OP_MAXPOOL2D).inputs[0]].name
    k = {name: dt for _, name, dt in _kinds(_int8(p, calib_dir, float_layers=(before,)))}
    assert k[before] == "f32" and k[pool] == "f32"  # a max pool keeps its input's precision
    k = {name: dt for _, name, dt in _kinds(_int8(p, calib_dir, float_layers=(pool,)))}
    assert k[before] == "int8" and k[pool] == "f32" and k[f"{before}.dq"] == "f32"


def test_float_layers_errors(mixed, calib_dir):
    p, _ = mixed
    with pytest.raises(ValueError, match="no layer named nope"):
        convert.convert(p, "int8", calib=calib_dir, float_layers=("nope",))
    with pytest.raises(ValueError, match="needs --precision int8"):
        convert.convert(p, "f32", float_layers=("conv1",))


# ------------------------------------------------------------------------------ unsupported models

def test_channel_shuffle_fails_naming_the_node(tmp_path):
    import torch
    from torch import nn

    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            y = self.conv(x)
            y = y.view(1, 2, 2, 8, 8).transpose(1, 2).reshape(1, 4, 8, 8)
            return self.fc(torch.flatten(y, 1))

    p = export_onnx(Shuffle().eval(), tmp_path / "shuffle.onnx", 1, (8, 8))
    with pytest.raises(ValueError) as e:
        convert.convert(p, "f32")
    assert "(Reshape)" in str(e.value) and "node '" in str(e.value) and "[1, 2, 2, 8, 8]" in str(e.value)


# ------------------------------------------------------------------ CLI

def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "roentgen_tools.convert", *map(str, args)], capture_output=True,
                          text=True, env=env)


def test_cli_int8_and_provenance(tmp_path, small_onnx, calib_dir):
    labels = tmp_path / "labels.txt"
    n = len(f32(small_onnx).labels)
    labels.write_text("".join(f"label {i}\n" for i in range(n)))
    out = tmp_path / "m.rtg"
    r = run_cli(small_onnx, "-o", out, "--precision", "int8", "--calib", calib_dir, "--labels", labels,
                "--mean", "0.25", "--std", "0.5")
    assert r.returncode == 0, r.stderr
    assert "arena" in r.stdout and "QUANTIZE" in r.stdout and "parameters" in r.stdout
    assert "calibration (minmax)" in r.stdout
    m = read_model(out)
    prov = dict(m.provenance)
    assert prov["precision"] == "int8" and prov["calibration"] == "minmax" and "calibration_params" not in prov
    assert prov["source_sha256"] == hashlib.sha256(small_onnx.read_bytes()).hexdigest()
    assert prov["calibration_digest"] == calibration_digest(calib_dir)
    assert prov["converter_version"] == __version__
    assert prov["created"].endswith("Z") and "T" in prov["created"]
    assert m.labels == [f"label {i}" for i in range(n)]
    assert m.input.mean == (0.25,) * m.input.channels and m.input.std == (0.5,) * m.input.channels
    names = [t.name for t in m.tensors]
    assert names[0] == "input" and "input.q" in names and "logits" in names and "conv1.weight" in names


def test_cli_f32_default_labels_and_reproducible_created(tmp_path, small_onnx):
    out = tmp_path / "m.rtg"
    r = run_cli(small_onnx, "-o", out, "--precision", "f32", env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stderr
    m = read_model(out)
    assert dict(m.provenance)["created"] == "2023-11-14T22:13:20Z"
    assert dict(m.provenance)["calibration_digest"] == "none"
    assert m.labels == [f"class_{i}" for i in range(len(m.labels))]
    assert all(t.dtype == DT_FLOAT32 for t in m.tensors)


@pytest.mark.parametrize("case", ["no_calib", "bad_op", "labels", "mean", "missing", "corrupt"])
def test_cli_errors_leave_nothing(tmp_path, small_onnx, calib_dir, case, capsys):
    out = tmp_path / "out.rtg"
    args = [small_onnx, "-o", out, "--precision", "int8", "--calib", calib_dir]
    if case == "no_calib":
        args = [small_onnx, "-o", out, "--precision", "int8"]
        frag = "--calib"
    elif case == "bad_op":
        m = onnx.load(str(small_onnx))
        node = next(n for n in m.graph.node if n.op_type == "Conv")
        node.op_type, node.name = "ConvTranspose", "the_bad_node"
        bad = tmp_path / "bad.onnx"
        onnx.save(m, str(bad))
        args[0] = bad
        frag = "node 'the_bad_node' (ConvTranspose)"
    elif case == "labels":
        lf = tmp_path / "l.txt"
        lf.write_text("only\n")
        args += ["--labels", lf]
        frag = "labels"
    elif case == "mean":
        args += ["--mean", "0.1", "0.2"]
        frag = "--mean"
    elif case == "missing":
        args[0] = tmp_path / "nope.onnx"
        frag = "nope.onnx"
    else:
        c = tmp_path / "corrupt.onnx"
        c.write_bytes(b"\x08\x07garbage" * 10)
        args[0] = c
        frag = "corrupt.onnx"
    assert convert.main([str(a) for a in args]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roentgen-convert: error: ") and frag in lines[0], err
    assert list(tmp_path.glob("*.rtg")) == [] and not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_reference_cli_json_and_bad_image(tmp_path, small_int8, calib_dir):
    mp = tmp_path / "m.rtg"
    write_model(small_int8, mp)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG nope")
    img = sorted(calib_dir.glob("*.png"))[0]
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(mp), str(img), str(bad),
                        str(calib_dir), "--json"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2 + len(list(calib_dir.glob("*.png")))
    assert rows[1]["path"] == str(bad) and "error" in rows[1] and "bad.png" in rows[1]["error"]
    ok = rows[0]
    assert list(ok) == ["path", "label", "index", "uncertain", "probabilities", "logits"]
    assert ok["uncertain"] is False  # no CONFIDENCE section: threshold 0
    assert ok["label"] == small_int8.labels[ok["index"]]
    assert abs(sum(ok["probabilities"]) - 1) < 1e-9
    # the text is SPEC's: every logit the shortest decimal of its binary32 value
    logits = reference.run(small_int8, reference.load_input(small_int8, img)).reshape(-1)
    want = reference.json_line(reference.classify(small_int8, img))
    assert lines[0] == want and [np.float32(v) for v in ok["logits"]] == list(logits)
    from roentgen_tools.fileformat import format_f32
    assert lines[0].endswith("\"logits\": [" + ", ".join(format_f32(v) for v in logits) + "]}")
    assert rows[2:] and all(row["path"].startswith(str(calib_dir)) for row in rows[2:])
    r2 = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(mp), str(img)],
                        capture_output=True, text=True)
    assert r2.returncode == 0 and ok["label"] in r2.stdout


# ------------------------------------------------------------------ the Table-2 fixtures

FIXTURES = REPO / "fixtures"


def test_trained_cnn_fixture_arena_and_expected_output():
    """The committed trained Table-2 network (11 DRR classes) and its expected reference output."""
    q = read_model(FIXTURES / "models" / "cnn-int8.rtg")
    assert q.arena_size <= 1 << 20, q.arena_size
    labels = (FIXTURES / "models" / "cnn-labels.txt").read_text().split()
    assert list(q.labels) == labels and len(labels) == 11
    assert sum(op.kind == T.OP_CONV2D for op in q.ops) == 10 and sum(op.kind == T.OP_MAXPOOL2D for op in q.ops) == 4
    assert sum(op.kind == T.OP_DENSE for op in q.ops) == 3
    rows = [json.loads(line) for line in (FIXTURES / "expected" / "cnn-int8.jsonl").read_text().splitlines()]
    assert [r["path"] for r in rows] == [p.relative_to(REPO).as_posix() for p in trained_images()]
    heldout = [r for r in rows if r["path"].startswith("fixtures/heldout/")]
    assert len(heldout) == 33 and len(rows) == 45
    for row in rows[:2] + rows[10:12] + heldout[::11]:  # 8-bit, 16-bit, RGB and held-out DRRs
        got = reference.classify(q, REPO / row["path"])
        assert got["logits"] == [np.float32(v) for v in row["logits"]] and got["index"] == row["index"], row["path"]
    assert len({r["index"] for r in rows}) >= 3  # logits are not degenerate
    # a trained model: most held-out DRRs are classified as the folder they sit in
    assert sum(r["label"] == r["path"].split("/")[2] for r in heldout) >= len(heldout) // 2


def test_trained_cnn_converts_and_matches_onnxruntime():
    f = f32(FIXTURES / "models" / "cnn.onnx", mean=[0.5], std=[0.25])
    for img in sorted((FIXTURES / "images").glob("*.png"))[-3:] + sorted((FIXTURES / "heldout").rglob("*.png"))[:1]:
        x = reference.load_input(f, img)  # 16-bit, RGB, one 8-bit and one held-out DRR
        got = reference.softmax(reference.run(f, x))
        want = ort_logits(FIXTURES / "models" / "cnn.onnx", x)  # the graph ends in its Softmax
        assert np.abs(got - want).max() < 1e-4, img.name


def test_generated_table2_fixture(table2_fixture):
    """The untrained Table-2 fixture `roentgen-fixtures` makes (generated per session, not committed)."""
    q = read_model(table2_fixture / "models" / "table2-int8.rtg")
    assert q.arena_size <= 1 << 20, q.arena_size
    assert len(q.labels) == 24 and q.labels[0] == "chest PA"
    assert sum(op.kind == T.OP_CONV2D for op in q.ops) == 10 and sum(op.kind == T.OP_MAXPOOL2D for op in q.ops) == 4
    assert sum(op.kind == T.OP_DENSE for op in q.ops) == 3
    lines = (table2_fixture / "expected" / "table2-int8.jsonl").read_text().splitlines()
    for line in lines[:2]:
        row = json.loads(line)
        got = reference.classify(q, table2_fixture.parent / row["path"])
        assert reference.json_line({**got, "path": row["path"]}) == line
    assert len({json.loads(line)["index"] for line in lines}) >= 3  # logits are not degenerate
    f = read_model(table2_fixture / "models" / "table2-f32.rtg")
    img = sorted((table2_fixture / "images").glob("*.png"))[-1]
    x = reference.load_input(f, img)
    want = ort_logits(table2_fixture / "models" / "table2.onnx", x)
    assert np.abs(reference.softmax(reference.run(f, x)) - want).max() < 1e-4
    assert all(t.role != ROLE_ACTIVATION or t.dtype in (DT_INT8, DT_FLOAT32) for t in q.tensors)
