"""Seeded random small CNNs built with onnx.helper in the shape torch.onnx.export produces."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from roentgen_tools.data.image import write_png
from roentgen_tools.fixtures import radiograph


class _G:
    def __init__(self, rng):
        self.rng = rng
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"/{base}_{self.n}"

    def init(self, name, arr, dtype=np.float32):
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def node(self, op, inputs, n_out=1, **attrs):
        nm = self.name(op)
        outs = [f"{nm}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=nm, **attrs))
        return outs[0]

    def bn(self, x, c):
        r = self.rng
        p = self.name("bn")
        return self.node("BatchNormalization",
                         [x, self.init(p + ".w", r.uniform(0.5, 1.5, c)), self.init(p + ".b", r.normal(0, 0.2, c)),
                          self.init(p + ".m", r.normal(0, 0.3, c)), self.init(p + ".v", r.uniform(0.3, 2.0, c))],
                         epsilon=float(r.choice([1e-5, 1e-3])))

    def act(self, x, kind):
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "leaky":
            return self.node("LeakyRelu", [x], alpha=float(np.round(self.rng.uniform(0.01, 0.3), 3)))
        return x


def random_cnn(seed: int, classes: int | None = None):
    """Returns (onnx.ModelProto, description dict)."""
    r = np.random.default_rng(seed)
    g = _G(r)
    c = int(r.choice([1, 3]))
    h, w = int(r.integers(14, 40)), int(r.integers(14, 40))
    opset = int(r.integers(13, 18))
    desc = {"seed": seed, "channels": c, "hw": (h, w), "opset": opset, "layers": []}
    x = "input"
    shape = [c, h, w]
    for _ in range(int(r.integers(1, 4))):
        k = int(r.choice([1, 3, 5]))
        if k > min(shape[1], shape[2]):
            k = 1
        s = int(r.choice([1, 2]))
        pads = [int(r.integers(0, k)) for _ in range(4)] if k > 1 else [0, 0, 0, 0]
        oc = int(r.integers(2, 9))
        p = g.name("conv")
        inputs = [x, g.init(p + ".weight", r.normal(0, np.sqrt(2.0 / (shape[0] * k * k)), (oc, shape[0], k, k)))]
        if r.random() < 0.8:
            inputs.append(g.init(p + ".bias", r.normal(0, 0.1, oc)))
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=pads)
        if r.random() < 0.5:
            attrs.update(dilations=[1, 1], group=1)
        x = g.node("Conv", inputs, **attrs)
        oh = (shape[1] + pads[0] + pads[2] - k) // s + 1
        ow = (shape[2] + pads[1] + pads[3] - k) // s + 1
        shape = [oc, oh, ow]
        if r.random() < 0.5:
            x = g.bn(x, oc)
        act = str(r.choice(["relu", "leaky", "none"]))
        pool = min(oh, ow) >= 3 and r.random() < 0.5
        act_after_pool = pool and act != "none" and r.random() < 0.5
        if not act_after_pool:
            x = g.act(x, act)
        desc["layers"].append(f"conv k{k} s{s} p{pads} oc{oc} {act}")
        if pool:
            pk = int(r.choice([2, 3]))
            ps = int(r.choice([1, 2]))
            pp = [int(r.integers(0, pk)) for _ in range(4)]
            x = g.node("MaxPool", [x], kernel_shape=[pk, pk], strides=[ps, ps], pads=pp, ceil_mode=0)
            shape = [shape[0], (shape[1] + pp[0] + pp[2] - pk) // ps + 1, (shape[2] + pp[1] + pp[3] - pk) // ps + 1]
            desc["layers"].append(f"pool k{pk} s{ps} p{pp}" + (f" then {act}" if act_after_pool else ""))
            if act_after_pool:
                x = g.act(x, "relu" if act == "relu" else "leaky")
    k_in = int(np.prod(shape))
    if r.random() < 0.5:
        x = g.node("Flatten", [x], axis=1)
        desc["layers"].append("Flatten")
    else:  # x.view(x.size(0), -1)
        shp = g.node("Shape", [x])
        idx = g.node("Constant", [], value=numpy_helper.from_array(np.array(0, np.int64)))
        n = g.node("Gather", [shp, idx], axis=0)
        if opset >= 13:
            n = g.node("Unsqueeze", [n, g.init(g.name("axes"), [0], np.int64)])
        neg = g.node("Constant", [], value=numpy_helper.from_array(np.array([-1], np.int64)))
        cat = g.node("Concat", [n, neg], axis=0)
        x = g.node("Reshape", [x, cat])
        desc["layers"].append("Reshape(Shape chain)")
    n_dense = int(r.integers(1, 3))
    classes = classes or int(r.integers(3, 11))
    for i in range(n_dense):
        last = i == n_dense - 1
        n_out = classes if last else int(r.integers(4, 17))
        p = g.name("fc")
        wt = r.normal(0, np.sqrt(2.0 / k_in), (n_out, k_in))
        bias = r.normal(0, 0.1, n_out)
        if r.random() < 0.5:
            x = g.node("Gemm", [x, g.init(p + ".weight", wt), g.init(p + ".bias", bias)], alpha=1.0, beta=1.0, transB=1)
            kind = "Gemm"
        else:
            x = g.node("MatMul", [x, g.init(p + ".weight", wt.T)])
            x = g.node("Add", [x, g.init(p + ".bias", bias)])
            kind = "MatMul+Add"
        act = "none"
        if not last:
            if r.random() < 0.5:
                x = g.bn(x, n_out)
            act = str(r.choice(["relu", "leaky", "none"]))
            x = g.act(x, act)
            if r.random() < 0.5:
                x = g.node("Dropout", [x])
        desc["layers"].append(f"{kind} {k_in}->{n_out} {act}")
        k_in = n_out
    softmax = bool(r.random() < 0.5)
    if softmax:
        x = g.node("Softmax", [x], axis=int(r.choice([1, -1])))
    g.nodes.append(helper.make_node("Identity", [x], ["output"], name="/out"))
    desc["softmax"] = softmax
    batch = 1 if r.random() < 0.5 else "batch"
    graph = helper.make_graph(g.nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, c, h, w])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, classes])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, desc


def write_images(folder, seed, count, sizes=((32, 32), (40, 28), (24, 36))):
    """Radiograph-like PNGs of mixed sizes / kinds for calibration and comparisons."""
    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        hh, ww = sizes[i % len(sizes)]
        img = radiograph(r, hh, ww)
        p = folder / f"img_{i:02d}.png"
        if i % 4 == 3:
            write_png(p, np.rint(np.stack([img, img * 0.9, img * 0.8], 2) * 255).astype(np.uint8), 8)
        elif i % 4 == 2:
            write_png(p, np.rint(img * 65535).astype(np.uint16), 16)
        else:
            write_png(p, np.rint(img * 255).astype(np.uint8), 8)
        paths.append(p)
    return paths
