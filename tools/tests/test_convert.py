"""Converter end to end on seeded random CNNs, against onnxruntime and an independent int8 model."""
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from cnn_factory import random_cnn
from conftest import REPO, trained_images
from roentgen_tools import convert
from roentgen_tools.reference import executor as reference
import roentgen_tools.fileformat as F
from roentgen_tools.fileformat import read_bytes, read_model, serialize

SEEDS = list(range(24))


def ort_probs(onnx_path, x_nhwc, has_softmax):
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x_nhwc.transpose(0, 3, 1, 2)})[0].reshape(-1)
    return out.astype(np.float64) if has_softmax else reference.softmax(out)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, calib_dir):
    """seed -> (onnx path, desc, f32 model, int8 model)"""
    d = tmp_path_factory.mktemp("cnn")
    out = {}
    for seed in SEEDS:
        model, desc = random_cnn(seed)
        p = d / f"cnn{seed}.onnx"
        p.write_bytes(model.SerializeToString())
        f32 = read_bytes(serialize(convert.convert(p, "f32")))
        q = read_bytes(serialize(convert.convert(p, "int8", calib=calib_dir)))
        out[seed] = (p, desc, f32, q)
    return out


def test_random_cnns_cover_the_feature_matrix(converted):
    text = " ".join(" ".join(d["layers"]) for _, d, _, _ in converted.values())
    for frag in ("k1", "k3", "k5", "s1", "s2", "Gemm", "MatMul+Add", "Reshape(Shape chain)", "Flatten", "relu",
                 "leaky", "none", "pool", "then"):
        assert frag in text, frag
    assert {d["channels"] for _, d, _, _ in converted.values()} == {1, 3}
    assert {d["softmax"] for _, d, _, _ in converted.values()} == {True, False}
    assert any(d["hw"][0] != d["hw"][1] for _, d, _, _ in converted.values())


@pytest.mark.parametrize("seed", SEEDS)
def test_f32_reference_matches_onnxruntime(converted, calib_dir, seed):
    p, desc, f32, _ = converted[seed]
    for img in sorted(calib_dir.glob("*.png")):
        x = reference.load_input(f32, img)
        got = reference.softmax(reference.run(f32, x))
        want = ort_probs(p, x, desc["softmax"])
        assert np.abs(got - want).max() < 1e-4, f"seed {seed} {img.name}: {desc}"


def test_int8_top1_mostly_agrees_with_float(converted, calib_dir):
    agree = total = 0
    for seed, (p, desc, f32, q) in converted.items():
        for img in sorted(calib_dir.glob("*.png")):
            x = reference.load_input(f32, img)
            agree += int(np.argmax(reference.run(f32, x)) == np.argmax(reference.run(q, x)))
            total += 1
    assert agree >= 0.8 * total, f"int8 agrees with float on only {agree}/{total} calibration images"


# ------------------------------------------------------------------ independent int8 semantics

def naive_int8(model, x):
    """SPEC integer arithmetic written out directly: int64 loops over kernel taps, Python big ints
    for the epilogue. Independent of reference.py's im2col/float64 tricks."""
    T = model.tensors
    vals = {model.input.input_tensor: x}
    for op in model.ops:
        a, y = T[op.inputs[0]], T[op.output]
        v = vals[op.inputs[0]]
        if op.kind == F.OP_QUANTIZE:
            r = np.rint(v / np.float32(y.scale)).astype(np.int64)
            out = np.clip(r + y.zero_point, -128, 127)
        elif op.kind == F.OP_MAXPOOL2D:
            _, H, W, C = a.dims
            _, OH, OW, _ = y.dims
            out = np.zeros(y.dims, np.int64)
            for oh in range(OH):
                for ow in range(OW):
                    best = None
                    for kh in range(op.kernel[0]):
                        for kw in range(op.kernel[1]):
                            ih, iw = oh * op.stride[0] - op.pads[0] + kh, ow * op.stride[1] - op.pads[1] + kw
                            if 0 <= ih < H and 0 <= iw < W:
                                best = v[0, ih, iw] if best is None else np.maximum(best, v[0, ih, iw])
                    out[0, oh, ow] = best
        else:
            w = T[op.inputs[1]].data.astype(np.int64)
            b = T[op.inputs[2]].data.astype(np.int64)
            xi = v.astype(np.int64) - a.zero_point
            if op.kind == F.OP_CONV2D:
                _, H, W, C = a.dims
                _, OH, OW, OC = y.dims
                acc = np.tile(b, (OH, OW, 1))
                for kh in range(op.kernel[0]):
                    for kw in range(op.kernel[1]):
                        for oh in range(OH):
                            for ow in range(OW):
                                ih, iw = oh * op.stride[0] - op.pads[0] + kh, ow * op.stride[1] - op.pads[1] + kw
                                if 0 <= ih < H and 0 <= iw < W:
                                    acc[oh, ow] += w[:, kh, kw, :] @ xi[0, ih, iw]
                acc = acc.reshape(-1, OC)
            else:
                acc = (w @ xi.reshape(-1) + b).reshape(1, -1)
            if y.dtype == F.DT_INT8:
                rq = T[op.inputs[3]].data.tolist()
                out = np.zeros(acc.shape, np.int64)
                for idx, s in np.ndenumerate(acc):
                    m_p, s_p, m_n, s_n = rq[idx[-1]]
                    m, sh = (m_p, s_p) if s >= 0 else (m_n, s_n)
                    out[idx] = min(127, max(-128, y.zero_point + ((int(s) * m + (1 << (sh - 1))) >> sh)))
            else:
                osc = T[op.inputs[3]].data
                out = acc.astype(np.float32) * osc
                if op.activation == F.ACT_LEAKY:
                    out = np.where(acc < 0, out * np.float32(op.alpha), out).astype(np.float32)
        vals[op.output] = np.asarray(out).reshape(y.dims)
    return vals[model.input.output_tensor]


@pytest.mark.parametrize("seed", [0, 5, 9, 14])
def test_int8_reference_equals_naive_integer_math(converted, calib_dir, seed):
    _, desc, _, q = converted[seed]
    for img in sorted(calib_dir.glob("*.png"))[:3]:
        x = reference.load_input(q, img)
        got = reference.run(q, x)
        want = naive_int8(q, x)
        assert got.dtype == np.float32
        assert np.array_equal(got, want.astype(np.float32)), f"seed {seed}: {desc}"


# ------------------------------------------------------------------ CLI

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "roentgen_tools.convert", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_int8_and_provenance(tmp_path, small_onnx, calib_dir):
    labels = tmp_path / "labels.txt"
    model = read_bytes(serialize(convert.convert(small_onnx, "f32")))
    n = len(model.labels)
    labels.write_text("".join(f"label {i}\n" for i in range(n)))
    out = tmp_path / "m.rtg"
    r = run_cli(small_onnx, "-o", out, "--precision", "int8", "--calib", calib_dir, "--labels", labels,
                "--mean", "0.25", "--std", "0.5")
    assert r.returncode == 0, r.stderr
    assert "arena" in r.stdout and "QUANTIZE" in r.stdout and "parameters" in r.stdout
    m = read_model(out)
    prov = dict(m.provenance)
    import hashlib
    from roentgen_tools import __version__
    from roentgen_tools.quant.arith import calibration_digest
    assert prov["precision"] == "int8" and prov["calibration"] == "minmax"
    assert prov["source_sha256"] == hashlib.sha256(small_onnx.read_bytes()).hexdigest()
    assert prov["calibration_digest"] == calibration_digest(calib_dir)
    assert prov["converter_version"] == __version__
    assert prov["created"].endswith("Z") and "T" in prov["created"]
    assert m.labels == [f"label {i}" for i in range(n)]
    assert m.input.mean == (0.25,) * m.input.channels and m.input.std == (0.5,) * m.input.channels
    names = [t.name for t in m.tensors]
    assert names[0] == "input" and "input.q" in names and "logits" in names and "conv1.weight" in names


def test_cli_f32_default_labels_and_reproducible_created(tmp_path, small_onnx, monkeypatch):
    out = tmp_path / "m.rtg"
    env_epoch = "1700000000"
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.convert", str(small_onnx), "-o", str(out),
                        "--precision", "f32"], capture_output=True, text=True,
                       env={**__import__("os").environ, "SOURCE_DATE_EPOCH": env_epoch})
    assert r.returncode == 0, r.stderr
    m = read_model(out)
    assert dict(m.provenance)["created"] == "2023-11-14T22:13:20Z"
    assert dict(m.provenance)["calibration_digest"] == "none"
    assert m.labels == [f"class_{i}" for i in range(len(m.labels))]
    assert any(t.name.endswith(".im2col") for t in m.tensors)


@pytest.mark.parametrize("case", ["no_calib", "bad_op", "labels", "mean", "missing", "corrupt"])
def test_cli_errors_leave_nothing(tmp_path, small_onnx, calib_dir, case):
    out = tmp_path / "out.rtg"
    args = [small_onnx, "-o", out, "--precision", "int8", "--calib", calib_dir]
    if case == "no_calib":
        args = [small_onnx, "-o", out, "--precision", "int8"]
        frag = "--calib"
    elif case == "bad_op":
        import onnx
        m = onnx.load(str(small_onnx))
        node = next(n for n in m.graph.node if n.op_type == "Conv")
        node.op_type, node.name = "ConvTranspose", "the_bad_node"
        bad = tmp_path / "bad.onnx"
        onnx.save(m, str(bad))
        args[0] = bad
        frag = "the_bad_node"
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
        frag = "error"
    r = run_cli(*args)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roentgen-convert: error: ") and frag in lines[0], r.stderr
    assert list(tmp_path.glob("*.rtg")) == [] and not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_reference_cli_json_and_bad_image(tmp_path, small_int8, calib_dir):
    mp = tmp_path / "m.rtg"
    F.write_model(small_int8, mp)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG nope")
    img = sorted(calib_dir.glob("*.png"))[0]
    r = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(mp), str(img), str(bad), str(calib_dir),
                        "--json"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 2 + len(list(calib_dir.glob("*.png")))
    assert rows[1]["path"] == str(bad) and "error" in rows[1] and "bad.png" in rows[1]["error"]
    ok = rows[0]
    assert set(ok) == {"path", "label", "index", "probabilities", "logits"}
    assert ok["label"] == small_int8.labels[ok["index"]]
    assert abs(sum(ok["probabilities"]) - 1) < 1e-9
    logits = reference.run(small_int8, reference.load_input(small_int8, img)).reshape(-1)
    assert ok["logits"] == [float(v) for v in logits]
    assert rows[2:] and all(row["path"].startswith(str(calib_dir)) for row in rows[2:])
    r2 = subprocess.run([sys.executable, "-m", "roentgen_tools.reference.executor", str(mp), str(img)], capture_output=True,
                        text=True)
    assert r2.returncode == 0 and ok["label"] in r2.stdout


# ------------------------------------------------------------------ the Table-2 fixtures

FIXTURES = REPO / "fixtures"


def test_trained_cnn_fixture_arena_and_expected_output():
    """The committed trained Table-2 network (11 DRR classes) and its expected reference output."""
    q = read_model(FIXTURES / "models" / "cnn-int8.rtg")
    assert q.arena_size <= 1 << 20, q.arena_size
    labels = (FIXTURES / "models" / "cnn-labels.txt").read_text().split()
    assert list(q.labels) == labels and len(labels) == 11
    conv_ops = [op for op in q.ops if op.kind == F.OP_CONV2D]
    assert len(conv_ops) == 10 and sum(op.kind == F.OP_MAXPOOL2D for op in q.ops) == 4
    assert sum(op.kind == F.OP_DENSE for op in q.ops) == 3
    rows = [json.loads(line) for line in (FIXTURES / "expected" / "cnn-int8.jsonl").read_text().splitlines()]
    assert [r["path"] for r in rows] == [p.relative_to(REPO).as_posix() for p in trained_images()]
    heldout = [r for r in rows if r["path"].startswith("fixtures/heldout/")]
    assert len(heldout) == 33 and len(rows) == 45
    for row in rows[:2] + rows[10:12] + heldout[::11]:  # 8-bit, 16-bit, RGB and held-out DRRs
        got = reference.classify(q, REPO / row["path"])
        assert got["logits"] == row["logits"] and got["index"] == row["index"], row["path"]
    assert len({r["index"] for r in rows}) >= 3  # logits are not degenerate
    # a trained model: most held-out DRRs are classified as the folder they sit in
    assert sum(r["label"] == r["path"].split("/")[2] for r in heldout) >= len(heldout) // 2


def test_trained_cnn_f32_fixture_matches_onnxruntime():
    f = read_model(FIXTURES / "models" / "cnn-f32.rtg")
    for img in sorted((FIXTURES / "images").glob("*.png"))[-3:] + sorted((FIXTURES / "heldout").rglob("*.png"))[:1]:
        x = reference.load_input(f, img)  # 16-bit, RGB, one 8-bit and one held-out DRR
        got = reference.softmax(reference.run(f, x))
        want = ort_probs(FIXTURES / "models" / "cnn.onnx", x, True)
        assert np.abs(got - want).max() < 1e-4, img.name


def test_generated_table2_fixture(table2_fixture):
    """The untrained Table-2 fixture `roentgen-fixtures` makes (generated per session, not committed)."""
    q = read_model(table2_fixture / "models" / "table2-int8.rtg")
    assert q.arena_size <= 1 << 20, q.arena_size
    assert len(q.labels) == 24 and q.labels[0] == "chest PA"
    assert sum(op.kind == F.OP_CONV2D for op in q.ops) == 10 and sum(op.kind == F.OP_MAXPOOL2D for op in q.ops) == 4
    assert sum(op.kind == F.OP_DENSE for op in q.ops) == 3
    lines = (table2_fixture / "expected" / "table2-int8.jsonl").read_text().splitlines()
    for line in lines[:2]:
        row = json.loads(line)
        got = reference.classify(q, table2_fixture.parent / row["path"])
        assert got["logits"] == row["logits"] and got["index"] == row["index"]
    assert len({json.loads(line)["index"] for line in lines}) >= 3  # logits are not degenerate
    f = read_model(table2_fixture / "models" / "table2-f32.rtg")
    img = sorted((table2_fixture / "images").glob("*.png"))[-1]
    x = reference.load_input(f, img)
    want = ort_probs(table2_fixture / "models" / "table2.onnx", x, True)
    assert np.abs(reference.softmax(reference.run(f, x)) - want).max() < 1e-4
