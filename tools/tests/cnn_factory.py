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


# ------------------------------------------------------------------------------ torch DAG models

# every block random_dag can draw; the tests check the seeds they use cover all of them
DAG_BLOCKS = ("residual", "inverted", "squeeze_excite", "concat", "avgpool", "maxpool", "grouped_dilated",
              "activations", "relu_skip", "pad_conv", "affine")
DAG_HEADS = ("gap_flatten", "flatten_nchw", "view", "reduce_mean", "conv_gap")


def _ceil_agrees(hw, k, s, pad):
    """ONNX Runtime sizes a ceil_mode pool without PyTorch's rule that the last window starts
    inside the input or its left padding (SPEC follows PyTorch); the test models avoid the case
    where the two differ so that ORT can check them."""
    for n in hw:
        o = -(-(int(n) + 2 * pad - k) // s) + 1
        if (o - 1) * s >= int(n) + pad:
            return False
    return True


def random_dag(seed: int, classes: int | None = None, blocks=None):
    """A seeded random torch DAG network in eval mode (BatchNorm with random statistics) and its
    description: (module, {"seed", "channels", "hw", "blocks", "head", "classes"}). `blocks`
    forces the block sequence."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    r = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def bn(c):
        m = nn.BatchNorm2d(c)
        with torch.no_grad():
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.2)
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.3, 2.0)
        return m

    class Residual(nn.Module):  # conv-bn-relu-conv-bn + skip, ReLU after the add
        def __init__(self, c):
            super().__init__()
            self.a, self.b = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn_a, self.bn_b = bn(c), bn(c)

        def forward(self, x):
            return F.relu(self.bn_b(self.b(F.relu(self.bn_a(self.a(x))))) + x)

    class Inverted(nn.Module):  # pointwise expand, depthwise 3x3 (ReLU6), pointwise project (+ skip)
        def __init__(self, c, stride):
            super().__init__()
            e = 2 * c
            self.expand, self.dw = nn.Conv2d(c, e, 1), nn.Conv2d(e, e, 3, stride, 1, groups=e)
            self.project, self.stride = nn.Conv2d(e, c, 1), stride

        def forward(self, x):
            y = self.project(F.relu6(self.dw(F.relu6(self.expand(x)))))
            return y + x if self.stride == 1 else y

    class SqueezeExcite(nn.Module):  # GAP, 1x1 down (ReLU), 1x1 up, hardsigmoid gate, multiply
        def __init__(self, c):
            super().__init__()
            self.down, self.up = nn.Conv2d(c, max(2, c // 2), 1), nn.Conv2d(max(2, c // 2), c, 1)

        def forward(self, x):
            return x * F.hardsigmoid(self.up(F.relu(self.down(F.adaptive_avg_pool2d(x, 1)))))

    class Concat(nn.Module):  # branches of very different ranges, concatenated on channels
        def __init__(self, c):
            super().__init__()
            self.a, self.b = nn.Conv2d(c, c, 1), nn.Conv2d(c, c // 2 + 1, 3, padding=1)
            self.scale = float(r.choice([4.0, 0.25]))

        def forward(self, x):
            return torch.cat([F.relu(self.a(x)), self.b(x) * self.scale, x], 1)

    class AvgPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.k, self.s = int(r.choice([2, 3])), int(r.choice([1, 2]))
            self.pad = int(r.integers(0, self.k // 2 + 1))
            self.ceil, self.include = bool(r.random() < 0.6), bool(r.random() < 0.5)

        def forward(self, x):
            ceil = self.ceil and _ceil_agrees(x.shape[2:], self.k, self.s, self.pad)
            return F.avg_pool2d(x, self.k, self.s, self.pad, ceil_mode=ceil, count_include_pad=self.include)

    class MaxPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.k, self.s = int(r.choice([2, 3])), 2
            self.pad, self.ceil = int(r.integers(0, self.k // 2 + 1)), bool(r.random() < 0.6)

        def forward(self, x):
            ceil = self.ceil and _ceil_agrees(x.shape[2:], self.k, self.s, self.pad)
            return F.max_pool2d(x, self.k, self.s, self.pad, ceil_mode=ceil)

    class GroupedDilated(nn.Module):
        def __init__(self, c):
            super().__init__()
            g = int(r.choice([d for d in (2, 4) if c % d == 0] or [1]))
            d = int(r.choice([1, 2]))
            self.conv = nn.Conv2d(c, 2 * c, 3, padding=d, dilation=d, groups=g)
            self.bn = bn(2 * c)
            self.leaky = float(np.round(r.uniform(0.05, 0.3), 2))

        def forward(self, x):
            return F.leaky_relu(self.bn(self.conv(x)), self.leaky)

    class Activations(nn.Module):  # hardswish, silu, tanh, sigmoid on separate convs
        def __init__(self, c):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(2))
            self.fns = [F.hardswish, F.silu, torch.tanh, torch.sigmoid]
            r.shuffle(self.fns)

        def forward(self, x):
            return self.fns[1](self.convs[1](self.fns[0](self.convs[0](x)))) + self.fns[2](x)

    class ReluSkip(nn.Module):  # a standalone ReLU before a conv while the skip keeps the raw tensor
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return x + self.conv(F.relu(x))

    class PadConv(nn.Module):  # explicit F.pad: zeros fold into the conv, a -inf pad into a max pool,
        def __init__(self, c):  # a nonzero value stays a PAD op
            super().__init__()
            self.pads = tuple(int(v) for v in r.integers(0, 3, 4))
            self.conv, self.pointwise = nn.Conv2d(c, c, 3), nn.Conv2d(c, c, 1)
            self.maxpad = bool(r.random() < 0.5)

        def forward(self, x):
            y = self.conv(F.pad(x, self.pads))
            if self.maxpad:
                y = F.max_pool2d(F.pad(y, (1, 0, 1, 0), value=float("-inf")), 2, 1)
            return self.pointwise(F.pad(y, (1, 1, 0, 1), value=0.5))

    class Affine(nn.Module):  # BatchNorm that cannot fold (its input has two readers), scale and shift
        def __init__(self, c):
            super().__init__()
            self.bn = bn(c)
            self.scale, self.shift = float(r.uniform(0.5, 2.0)), float(r.normal(0, 0.5))

        def forward(self, x):
            return F.relu(self.bn(x)) * self.scale + self.shift + x

    c_in = int(r.choice([1, 3]))
    h, w = int(r.integers(16, 29)), int(r.integers(16, 29))
    c = int(r.choice([4, 8]))
    names = list(blocks) if blocks is not None else list(r.choice(DAG_BLOCKS, size=int(r.integers(3, 6)), replace=False))
    layers = [nn.Conv2d(c_in, c, 3, padding=1), bn(c), nn.ReLU()]
    for name in names:
        if name == "residual":
            layers.append(Residual(c))
        elif name == "inverted":
            layers.append(Inverted(c, int(r.choice([1, 2]))))
        elif name == "squeeze_excite":
            layers.append(SqueezeExcite(c))
        elif name == "concat":
            layers += [Concat(c), nn.Conv2d(2 * c + c // 2 + 1, c, 1)]
        elif name == "avgpool":
            layers.append(AvgPool())
        elif name == "maxpool":
            layers.append(MaxPool())
        elif name == "grouped_dilated":
            layers += [GroupedDilated(c), nn.Conv2d(2 * c, c, 1)]
        elif name == "activations":
            layers.append(Activations(c))
        elif name == "relu_skip":
            layers.append(ReluSkip(c))
        elif name == "pad_conv":
            layers.append(PadConv(c))
        elif name == "affine":
            layers.append(Affine(c))
    head = str(r.choice(DAG_HEADS))
    classes = classes or int(r.integers(3, 9))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            with torch.no_grad():
                hw = self.features(torch.zeros(1, c_in, h, w)).shape[2:]
            k = c if head in ("gap_flatten", "reduce_mean") else c * hw[0] * hw[1]
            self.fc1, self.fc2 = nn.Linear(k, 16), nn.Linear(16, classes)
            self.classifier = nn.Conv2d(c, classes, 1)  # conv_gap: squeezenet's head
            self.bn1 = nn.BatchNorm1d(16)
            with torch.no_grad():
                self.bn1.running_mean.normal_(0, 0.3)
                self.bn1.running_var.uniform_(0.3, 2.0)
            self.dropout = nn.Dropout(0.3)

        def forward(self, x):
            y = self.features(x)
            if head == "conv_gap":  # the output is a global pool: no DENSE at all
                return torch.flatten(F.adaptive_avg_pool2d(F.relu(self.classifier(y)), 1), 1)
            if head == "gap_flatten":
                y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
            elif head == "reduce_mean":
                y = y.mean(dim=(2, 3))
            elif head == "flatten_nchw":
                y = torch.flatten(y, 1)
            else:
                y = y.view(y.size(0), -1)
            return self.fc2(self.dropout(F.relu(self.bn1(self.fc1(y)))))

    net = Net().eval()
    return net, {"seed": seed, "channels": c_in, "hw": (h, w), "blocks": [str(b) for b in names], "head": head,
                 "classes": classes}


def export_onnx(net, path, channels: int, hw, exporter: str = "torchscript"):
    """torch.onnx.export with the TorchScript (`dynamo=False`) or the dynamo exporter, at the
    opset each writes by default."""
    import contextlib
    import io
    import warnings

    import torch
    x = torch.zeros(1, channels, *hw)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            prog = torch.onnx.export(net, (x,), input_names=["input"], output_names=["output"], dynamo=True,
                                     verbose=False)
            prog.save(str(path), external_data=False)
        else:
            torch.onnx.export(net, x, str(path), input_names=["input"], output_names=["output"], dynamo=False)
    return path
