"""onnx_import: structure it accepts, and errors that name the offending node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from roentgen_tools.frontend.onnx_import import OnnxImportError, load

R = np.random.default_rng(0)


def build(body, opset=17, in_shape=(1, 1, 8, 8)):
    """body(nodes, init) -> output name; wraps it into a model with input 'input'."""
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    out = body(nodes, init)
    nodes.append(helper.make_node("Identity", [out], ["output"], name="final_identity"))
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, None])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def conv(nodes, init, x, name, oc=2, ic=1, k=3, **attrs):
    attrs.setdefault("pads", [1, 1, 1, 1])
    nodes.append(helper.make_node("Conv", [x, init(name + ".w", R.normal(size=(oc, ic, k, k)))], [name + "_out"],
                                  name=name, kernel_shape=[k, k], **attrs))
    return name + "_out"


def head(nodes, init, x, k_in, name="fc", n=3):
    nodes.append(helper.make_node("Flatten", [x], [name + "_flat"], name=name + "_flatten", axis=1))
    nodes.append(helper.make_node("Gemm", [name + "_flat", init(name + ".w", R.normal(size=(n, k_in))),
                                           init(name + ".b", np.zeros(n))], [name + "_out"], name=name, transB=1))
    return name + "_out"


def expect_error(model, *fragments):
    with pytest.raises(OnnxImportError) as e:
        load(model)
    for f in fragments:
        assert f in str(e.value), str(e.value)


def test_simple_chain_layers():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("Relu", [x], ["r"], name="relu1"))
        return head(n, i, "r", 2 * 64)
    net = load(build(body))
    assert [l.kind for l in net.layers] == ["conv", "dense"]
    assert [l.name for l in net.layers] == ["conv1", "dense1"]
    assert net.layers[0].alpha == 0.0 and net.layers[0].w.shape == (2, 3, 3, 1)


def test_unsupported_op_names_node():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("Sigmoid", [x], ["s"], name="my_sigmoid"))
        return head(n, i, "s", 128)
    expect_error(build(body), "my_sigmoid", "Sigmoid", "unsupported op type")


@pytest.mark.parametrize("attrs,frag", [
    (dict(group=2), "group=2"), (dict(dilations=[2, 2]), "dilations"), (dict(auto_pad="SAME_UPPER"), "auto_pad"),
    (dict(pads=[3, 0, 0, 0]), "pads"),
])
def test_conv_attributes(attrs, frag):
    def body(n, i):
        a = dict(attrs)
        ic = 1
        oc = 2
        if "group" in a:
            return conv(n, i, "input", "bad_conv", oc=2, ic=1, **a)
        x = conv(n, i, "input", "bad_conv", oc=oc, ic=ic, **a)
        return x
    expect_error(build(body), "bad_conv", "(Conv)", frag)


@pytest.mark.parametrize("attrs,frag", [(dict(ceil_mode=1), "ceil_mode"), (dict(storage_order=1), "storage_order"),
                                        (dict(dilations=[2, 2]), "dilations"), (dict(pads=[2, 0, 0, 0]), "pads")])
def test_maxpool_attributes(attrs, frag):
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("MaxPool", [x], ["p"], name="bad_pool", kernel_shape=[2, 2], **attrs))
        return "p"
    expect_error(build(body), "bad_pool", "(MaxPool)", frag)


def test_gemm_transA():
    def body(n, i):
        n.append(helper.make_node("Flatten", ["input"], ["f"], name="fl"))
        n.append(helper.make_node("Gemm", ["f", i("w", R.normal(size=(64, 3)))], ["g"], name="bad_gemm", transA=1))
        return "g"
    expect_error(build(body), "bad_gemm", "transA")


def test_branching_graph():
    def body(n, i):
        x = conv(n, i, "input", "c1", oc=1)
        y = conv(n, i, x, "c2", oc=1, ic=1)
        n.append(helper.make_node("Add", [x, y], ["sum"], name="residual_add"))
        return head(n, i, "sum", 64)
    expect_error(build(body), "branching", "c2", "residual_add")


def test_batchnorm_not_after_conv():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("MaxPool", [x], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
        n.append(helper.make_node("BatchNormalization", ["p", i("s", [1, 1]), i("b", [0, 0]), i("m", [0, 0]),
                                                         i("v", [1, 1])], ["bn"], name="stray_bn"))
        return head(n, i, "bn", 32)
    expect_error(build(body), "stray_bn", "BatchNormalization", "must directly follow")


def test_activation_not_after_conv():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("Relu", [x], ["r"], name="relu_a"))
        n.append(helper.make_node("Relu", ["r"], ["r2"], name="double_relu"))
        return head(n, i, "r2", 128)
    expect_error(build(body), "double_relu", "(Relu)")


def test_negative_leaky_after_pool_rejected_positive_moved():
    def body(alpha):
        def b(n, i):
            x = conv(n, i, "input", "c1")
            n.append(helper.make_node("MaxPool", [x], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
            n.append(helper.make_node("LeakyRelu", ["p"], ["l"], name="late_leaky", alpha=alpha))
            return head(n, i, "l", 32)
        return b
    net = load(build(body(0.2)))
    assert net.layers[0].alpha == pytest.approx(0.2) and net.layers[1].kind == "pool"
    expect_error(build(body(-0.5)), "late_leaky", "LeakyRelu")


def test_softmax_not_final():
    def body(n, i):
        x = head(n, i, "input", 64)
        n.append(helper.make_node("Softmax", [x], ["sm"], name="early_softmax", axis=1))
        n.append(helper.make_node("Gemm", ["sm", i("w2", R.normal(size=(2, 3)))], ["g2"], name="after", transB=1))
        return "g2"
    expect_error(build(body), "early_softmax", "final")


def test_opset_out_of_range():
    def body(n, i):
        return head(n, i, "input", 64)
    expect_error(build(body, opset=11), "opset 11")


def test_bad_input_shape():
    def body(n, i):
        return head(n, i, "input", 128)
    expect_error(build(body, in_shape=(1, 2, 8, 8)), "input 'input'")


def test_reshape_other_than_flatten():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        n.append(helper.make_node("Constant", [], ["shp"], name="k",
                                  value=numpy_helper.from_array(np.array([1, 2, 64], np.int64))))
        n.append(helper.make_node("Reshape", [x, "shp"], ["rs"], name="odd_reshape"))
        return "rs"
    expect_error(build(body), "odd_reshape", "Reshape")


def test_weights_as_constant_nodes_and_flatten_permutation():
    """Dense after Flatten of NCHW [C,H,W] has its columns permuted to NHWC (h*W*C + w*C + c)."""
    w = R.normal(size=(3, 2 * 4 * 4)).astype(np.float32)

    def body(n, i):
        n.append(helper.make_node("Constant", [], ["cw"], name="cw_node",
                                  value=numpy_helper.from_array(R.normal(size=(2, 1, 3, 3)).astype(np.float32))))
        n.append(helper.make_node("Conv", ["input", "cw"], ["c"], name="c", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                  strides=[2, 2]))
        n.append(helper.make_node("Flatten", ["c"], ["f"], name="fl"))
        n.append(helper.make_node("Gemm", ["f", i("w", w)], ["g"], name="g", transB=1))
        return "g"
    net = load(build(body))
    d = net.layers[1].w
    C, H, W = 2, 4, 4
    for c in range(C):
        for h in range(H):
            for x in range(W):
                assert np.array_equal(d[:, h * W * C + x * C + c], w[:, c * H * W + h * W + x])


def test_onnx_checker_accepts_builder_models():
    def body(n, i):
        return head(n, i, "input", 64)
    onnx.checker.check_model(build(body))


def test_weight_through_identity_and_matmul_add():
    def body(n, i):
        i("w_raw", R.normal(size=(1 * 64, 4)))
        n.append(helper.make_node("Identity", ["w_raw"], ["w_shared"], name="weight_identity"))
        n.append(helper.make_node("Flatten", ["input"], ["f"], name="fl"))
        n.append(helper.make_node("MatMul", ["f", "w_shared"], ["mm"], name="mm"))
        n.append(helper.make_node("Add", ["mm", i("bias", [1, 2, 3, 4])], ["add"], name="add"))
        return "add"
    net = load(build(body))
    assert net.layers[0].w.shape == (4, 64) and net.layers[0].b.tolist() == [1, 2, 3, 4]
