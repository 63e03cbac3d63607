"""frontend.onnx + ir.passes on hand-built ONNX graphs: what the IR becomes (layer names, folds,
fusions), and errors that name the offending node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from roentgen_tools.fileformat import ops as T
from roentgen_tools.frontend.onnx import OnnxImportError, load
from roentgen_tools.ir import passes
from roentgen_tools.ir.graph import GraphError

R = np.random.default_rng(0)


def build(body, opset=17, in_shape=(1, 1, 8, 8)):
    """body(nodes, init) -> output name; wraps it into a model with input 'input'."""
    nodes, inits = [], []

    def init(name, arr, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype), name))
        return name

    out = body(nodes, init)
    nodes.append(helper.make_node("Identity", [out], ["output"], name="final_identity"))
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, None])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def graph(model, classifier=True):
    g = passes.optimize(load(model))
    if classifier:
        passes.finish_classifier(g)
    g.assign_names()
    return g


def conv(nodes, init, x, name, oc=2, ic=1, k=3, **attrs):
    attrs.setdefault("pads", [k // 2] * 4)
    g = attrs.get("group", 1)
    nodes.append(helper.make_node("Conv", [x, init(name + ".w", R.normal(size=(oc, ic // g, k, k))),
                                          init(name + ".b", R.normal(size=oc))], [name + "_out"],
                                  name=name, kernel_shape=[k, k], **attrs))
    return name + "_out"


def node(nodes, op, inputs, name, **attrs):
    nodes.append(helper.make_node(op, inputs, [name + "_out"], name=name, **attrs))
    return name + "_out"


def head(nodes, init, x, k_in, name="fc", n=3):
    f = node(nodes, "Flatten", [x], name + "_flatten", axis=1)
    return node(nodes, "Gemm", [f, init(name + ".w", R.normal(size=(n, k_in))), init(name + ".b", np.zeros(n))],
                name, transB=1)


def expect_error(model, *fragments, classifier=True):
    with pytest.raises((OnnxImportError, GraphError)) as e:
        graph(model, classifier)
    for f in fragments:
        assert f in str(e.value), str(e.value)


def ops_of(g):
    return [(n.name, n.op) for n in g.nodes]


# ------------------------------------------------------------------------------ structure

def test_chain_names_and_fused_relu():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        return head(n, i, node(n, "Relu", [x], "relu1"), 2 * 64)
    g = graph(build(body))
    assert ops_of(g) == [("conv1", "CONV2D"), ("dense1", "DENSE")]
    c = g.nodes[0]
    assert c.attrs["alpha"] == 0.0 and c.weight.shape == (2, 3, 3, 1) and c.sources == ["c1", "relu1"]
    assert g.tensor_name(g.output) == "logits" and g.tensor_name(c.output) == "conv1"


def test_residual_with_relu_after_add_and_standalone_relu_before_conv():
    """x -> relu -> conv, and the skip adds the raw x: the ReLU cannot fuse (x has two readers);
    the ReLU after the add fuses into it as a clip."""
    def body(n, i):
        x = conv(n, i, "input", "c1", oc=2)
        r = node(n, "Relu", [x], "pre_relu")
        y = conv(n, i, r, "c2", oc=2, ic=2)
        s = node(n, "Add", [y, x], "skip_add")
        return head(n, i, node(n, "Relu", [s], "post_relu"), 2 * 64)
    g = graph(build(body))
    assert ops_of(g) == [("conv1", "CONV2D"), ("relu1", "ACTIVATION"), ("conv2", "CONV2D"), ("add1", "ADD"),
                         ("dense1", "DENSE")]
    add = g.nodes[3]
    assert (add.attrs["clip_min"], add.attrs["clip_max"]) == (0.0, float("inf"))
    assert g.nodes[0].attrs["alpha"] == 1.0  # conv1 keeps its raw output for the skip


def test_depthwise_grouped_dilated_and_same_padding():
    def body(n, i):
        x = conv(n, i, "input", "c1", oc=4)
        x = conv(n, i, x, "dw", oc=4, ic=4, group=4)
        x = conv(n, i, x, "grouped", oc=4, ic=4, group=2, dilations=[2, 2], pads=[2, 2, 2, 2])
        n.append(helper.make_node("Conv", [x, i("s.w", R.normal(size=(4, 4, 3, 3)))], ["same"], name="same_upper",
                                  kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"))
        return head(n, i, "same", 4 * 4 * 4)
    g = graph(build(body))
    dw, gr, same = g.nodes[1], g.nodes[2], g.nodes[3]
    assert dw.attrs["groups"] == 4 and dw.weight.shape == (4, 3, 3, 1)
    assert gr.attrs["groups"] == 2 and gr.attrs["dilation_h"] == 2 and gr.weight.shape == (4, 3, 3, 2)
    # SAME_UPPER, 8 -> 4 with stride 2: total pad 1, the extra one at the end
    assert [same.attrs[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")] == [0, 0, 1, 1]
    assert g.shape(same.output) == (1, 4, 4, 4)


def test_batchnorm_folds_into_conv_or_stays_an_affine():
    def bn(n, i, x, name, c=2):
        return node(n, "BatchNormalization", [x, i(name + "s", R.uniform(0.5, 2, c)), i(name + "b", R.normal(size=c)),
                                              i(name + "m", R.normal(size=c)), i(name + "v", R.uniform(0.5, 2, c))], name)

    def body(n, i):
        x = bn(n, i, conv(n, i, "input", "c1"), "bn_folds")
        p = node(n, "MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
        y = bn(n, i, p, "bn_after_pool")            # no conv before it: a depthwise 1x1 conv
        return head(n, i, y, 2 * 16)
    g = graph(build(body))
    assert ops_of(g) == [("conv1", "CONV2D"), ("pool1", "MAXPOOL2D"), ("affine1", "CONV2D"), ("dense1", "DENSE")]
    assert g.nodes[0].sources == ["c1", "bn_folds"]
    aff = g.nodes[2]
    assert aff.attrs["groups"] == 2 and aff.weight.shape == (2, 1, 1, 1) and aff.attrs["kernel_h"] == 1


def test_constant_add_and_mul_fold_into_dense_and_conv():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        x = node(n, "Mul", [x, i("scale", R.uniform(1, 2, (1, 2, 1, 1)))], "scale_mul")
        x = node(n, "Add", [i("shift", R.normal(size=(2, 1, 1))), x], "shift_add")
        f = node(n, "Flatten", [x], "flat")
        mm = node(n, "MatMul", [f, i("w", R.normal(size=(128, 4)))], "mm")
        return node(n, "Add", [mm, i("bias", [1, 2, 3, 4])], "bias_add")
    g = graph(build(body))
    assert ops_of(g) == [("conv1", "CONV2D"), ("dense1", "DENSE")]
    assert g.nodes[1].bias.tolist() == [1, 2, 3, 4] and g.nodes[0].sources == ["c1", "scale_mul", "shift_add"]


def test_relu_before_maxpool_moves_into_the_conv_where_exact():
    def body(alpha):
        def b(n, i):
            x = conv(n, i, "input", "c1")
            p = node(n, "MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
            return head(n, i, node(n, "LeakyRelu", [p], "late_leaky", alpha=alpha), 32)
        return b
    g = graph(build(body(0.2)))
    assert ops_of(g) == [("conv1", "CONV2D"), ("pool1", "MAXPOOL2D"), ("dense1", "DENSE")]
    assert g.nodes[0].attrs["alpha"] == pytest.approx(0.2)
    assert g.values[g.nodes[0].output].onnx is None  # no ONNX tensor holds leaky(conv)
    g = graph(build(body(-0.5)))  # not monotone: stays after the pool
    assert ops_of(g) == [("conv1", "CONV2D"), ("pool1", "MAXPOOL2D"), ("leaky1", "ACTIVATION"), ("dense1", "DENSE")]


def test_silu_and_squeeze_excite():
    def body(n, i):
        x = conv(n, i, "input", "c1", oc=4)
        s = node(n, "Sigmoid", [x], "sig")
        x = node(n, "Mul", [x, s], "silu_mul")
        gap = node(n, "GlobalAveragePool", [x], "gap")
        gate = node(n, "HardSigmoid", [conv(n, i, gap, "se_fc", oc=4, ic=4, k=1)], "hsig", alpha=1 / 6)
        x = node(n, "Mul", [gate, x], "excite")  # the gate first: the importer puts it second
        return head(n, i, x, 4 * 64)
    g = graph(build(body))
    assert ops_of(g) == [("conv1", "CONV2D"), ("silu1", "ACTIVATION"), ("gap1", "MEAN"), ("conv2", "CONV2D"),
                         ("hardsigmoid1", "ACTIVATION"), ("mul1", "MUL"), ("dense1", "DENSE")]
    assert g.nodes[1].attrs["function"] == T.FUNCTION_SILU
    mul = g.nodes[5]
    assert g.shape(mul.inputs[0]) == (1, 8, 8, 4) and g.shape(mul.inputs[1]) == (1, 1, 1, 4)


def test_pad_folds_only_where_exact():
    def body(value, consumer, include=1):
        def b(n, i):
            pads = i("pads", [0, 0, 1, 2, 0, 0, 0, 1], np.int64)
            cv = i("cv", [value])
            p = node(n, "Pad", ["input", pads, cv], "the_pad", mode="constant")
            if consumer == "conv":
                y = conv(n, i, p, "c1", pads=[0, 0, 0, 0])
            elif consumer == "avg":
                y = node(n, "AveragePool", [p], "avg", kernel_shape=[3, 3], count_include_pad=include)
            else:
                y = node(n, "MaxPool", [p], "mp", kernel_shape=[3, 3])
            return node(n, "GlobalAveragePool", [y], "gap")
        return b
    ops = lambda g: [n.op for n in g.nodes]
    g = graph(build(body(0.0, "conv")))
    assert ops(g) == ["CONV2D", "MEAN", "RESHAPE"]
    assert [g.nodes[0].attrs[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")] == [1, 2, 0, 1]
    assert ops(graph(build(body(0.5, "conv")))) == ["PAD", "CONV2D", "MEAN", "RESHAPE"]
    assert ops(graph(build(body(0.0, "avg")))) == ["AVGPOOL2D", "MEAN", "RESHAPE"]
    assert ops(graph(build(body(0.0, "avg", include=0)))) == ["PAD", "AVGPOOL2D", "MEAN", "RESHAPE"]
    assert ops(graph(build(body(float("-inf"), "max")))) == ["MAXPOOL2D", "MEAN", "RESHAPE"]
    assert ops(graph(build(body(0.0, "max")))) == ["PAD", "MAXPOOL2D", "MEAN", "RESHAPE"]


def test_constant_chains_compute_reshape_targets_and_pads():
    """x.view(x.size(0), -1) as Shape/Gather/Unsqueeze/Concat, and TorchScript's F.pad chain
    (ConstantOfShape/Concat/Reshape/Slice/Transpose/Cast) fold to constants."""
    def body(n, i):
        x = conv(n, i, "input", "c1", pads=[0, 0, 0, 0])  # 6 x 6
        # F.pad(x, (1, 2, 0, 1)) as TorchScript writes it
        small = i("small", [1, 2, 0, 1], np.int64)
        zeros = node(n, "ConstantOfShape", [i("n4", [4], np.int64)], "cos",
                     value=numpy_helper.from_array(np.zeros(1, np.int64)))
        full = node(n, "Concat", [small, zeros], "cat8", axis=0)
        r = node(n, "Reshape", [full, i("m1_2", [-1, 2], np.int64)], "rs")
        sl = node(n, "Slice", [r, i("st", [-1], np.int64), i("en", [-(2**63)], np.int64), i("ax", [0], np.int64),
                               i("sp", [-1], np.int64)], "rev")
        tr = node(n, "Transpose", [sl], "tr", perm=[1, 0])
        flat = node(n, "Reshape", [tr, i("m1", [-1], np.int64)], "rs2")
        cast = node(n, "Cast", [flat], "cast", to=TensorProto.INT64)
        p = node(n, "Pad", [x, cast], "fpad")
        y = conv(n, i, p, "c2", ic=2, pads=[0, 0, 0, 0])
        shp = node(n, "Shape", [y], "shape")
        b = node(n, "Gather", [shp, i("zero", 0, np.int64)], "gather", axis=0)
        u = node(n, "Unsqueeze", [b, i("axes", [0], np.int64)], "unsq")
        tgt = node(n, "Concat", [u, i("minus1", [-1], np.int64)], "tgt", axis=0)
        v = node(n, "Reshape", [y, tgt], "view")
        return node(n, "Gemm", [v, i("w", R.normal(size=(3, 2 * 5 * 7)))], "g", transB=1)
    g = graph(build(body))
    c2 = g.nodes[1]
    assert [c2.attrs[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")] == [0, 1, 1, 2]
    assert ops_of(g) == [("conv1", "CONV2D"), ("conv2", "CONV2D"), ("dense1", "DENSE")]


def test_weights_as_constant_nodes_and_flatten_permutation():
    """A DENSE after the Flatten of an NCHW [C, H, W] map has its columns in NHWC order."""
    w = R.normal(size=(3, 2 * 4 * 4)).astype(np.float32)

    def body(n, i):
        n.append(helper.make_node("Constant", [], ["cw"], name="cw_node",
                                  value=numpy_helper.from_array(R.normal(size=(2, 1, 3, 3)).astype(np.float32))))
        n.append(helper.make_node("Conv", ["input", "cw"], ["c"], name="c", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                  strides=[2, 2]))
        f = node(n, "Flatten", ["c"], "fl")
        return node(n, "Gemm", [f, i("w", w)], "g", transB=1)
    d = graph(build(body)).nodes[1].weight
    C, H, W = 2, 4, 4
    for c in range(C):
        for h in range(H):
            for x in range(W):
                assert np.array_equal(d[:, h * W * C + x * C + c], w[:, c * H * W + h * W + x])


def test_reduce_mean_and_concat():
    def body(n, i):
        a = conv(n, i, "input", "ca", oc=2)
        b = conv(n, i, "input", "cb", oc=3)
        cat = node(n, "Concat", [a, b], "cat", axis=1)
        return node(n, "ReduceMean", [cat], "rm", axes=[2, 3], keepdims=0)
    g = graph(build(body, opset=17))
    assert [n.op for n in g.nodes] == ["CONV2D", "CONV2D", "CONCAT", "MEAN", "RESHAPE"]
    assert g.shape(g.output) == (1, 5)

    def body18(n, i):
        x = conv(n, i, "input", "c1", oc=2)
        return node(n, "ReduceMean", [x, i("axes", [-1, -2], np.int64)], "rm", keepdims=1)
    g = graph(build(body18, opset=18))
    assert [n.op for n in g.nodes] == ["CONV2D", "MEAN", "RESHAPE"]


def test_feature_extractor_without_head_loads():
    def body(n, i):
        return node(n, "MaxPool", [conv(n, i, "input", "c1", oc=4)], "pool", kernel_shape=[2, 2], strides=[2, 2])
    g = graph(build(body), classifier=False)
    assert ops_of(g) == [("conv1", "CONV2D"), ("pool1", "MAXPOOL2D")] and g.shape(g.output) == (1, 4, 4, 4)
    expect_error(build(body), "feature map", classifier=True)  # but it is not a classifier


# ------------------------------------------------------------------------------ errors name the node

def test_unsupported_op_names_node():
    def body(n, i):
        return head(n, i, node(n, "Elu", [conv(n, i, "input", "c1")], "my_elu"), 128)
    expect_error(build(body), "node 'my_elu' (Elu)", "unsupported op type")


def test_channel_shuffle_is_a_clear_error():
    def body(n, i):
        x = conv(n, i, "input", "c1", oc=4)
        r = node(n, "Reshape", [x, i("s5", [1, 2, 2, 8, 8], np.int64)], "shuffle_reshape")
        t = node(n, "Transpose", [r], "shuffle_transpose", perm=[0, 2, 1, 3, 4])
        return node(n, "Reshape", [t, i("s4", [1, 4, 8, 8], np.int64)], "shuffle_back")
    expect_error(build(body), "node 'shuffle_reshape' (Reshape)", "[1, 2, 2, 8, 8]")


def test_reshape_that_reorders_memory():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        return node(n, "Reshape", [x, i("shp", [1, 2, 64], np.int64)], "odd_reshape")
    expect_error(build(body), "node 'odd_reshape' (Reshape)")

    def body2(n, i):
        x = conv(n, i, "input", "c1")
        return node(n, "Reshape", [x, i("shp", [1, 8, 16], np.int64)], "reorder")
    expect_error(build(body2), "node 'reorder' (Reshape)")


@pytest.mark.parametrize("attrs,frag", [
    (dict(group=3), "group=3"), (dict(pads=[1025, 0, 0, 0]), "exceed"), (dict(auto_pad="FANCY"), "auto_pad"),
    (dict(strides=[0, 1]), "strides"),
])
def test_conv_attributes(attrs, frag):
    def body(n, i):
        a = dict(attrs)
        g = a.pop("group", 1)
        n.append(helper.make_node("Conv", ["input", i("w", R.normal(size=(2, 1, 3, 3)))], ["c"], name="bad_conv",
                                  kernel_shape=[3, 3], group=g, **a))
        return "c"
    expect_error(build(body), "node 'bad_conv' (Conv)", frag)


@pytest.mark.parametrize("attrs,frag", [(dict(storage_order=1), "storage_order"), (dict(dilations=[2, 2]), "dilations"),
                                        (dict(pads=[2, 0, 0, 0]), "smaller than the kernel")])
def test_maxpool_attributes(attrs, frag):
    def body(n, i):
        return node(n, "MaxPool", [conv(n, i, "input", "c1")], "bad_pool", kernel_shape=[2, 2], **attrs)
    expect_error(build(body), "node 'bad_pool' (MaxPool)", frag)


def test_maxpool_indices_output_used():
    def body(n, i):
        n.append(helper.make_node("MaxPool", ["input"], ["p", "idx"], name="with_indices", kernel_shape=[2, 2]))
        cast = node(n, "Cast", ["idx"], "cast_idx", to=TensorProto.FLOAT)
        return node(n, "Add", ["p", cast], "use")
    expect_error(build(body), "node 'with_indices' (MaxPool)", "secondary output")


def test_gemm_transA():
    def body(n, i):
        f = node(n, "Flatten", ["input"], "fl")
        return node(n, "Gemm", [f, i("w", R.normal(size=(64, 3)))], "bad_gemm", transA=1)
    expect_error(build(body), "node 'bad_gemm' (Gemm)", "transA")


def test_binary_ops_that_do_not_broadcast():
    def body(n, i):
        x = conv(n, i, "input", "c1")
        return head(n, i, node(n, "Add", [x, i("full", R.normal(size=(1, 2, 8, 8)))], "bad_add"), 128)
    expect_error(build(body), "node 'bad_add' (Add)", "per channel")

    def body2(n, i):
        x = conv(n, i, "input", "c1")
        return head(n, i, node(n, "Sub", [x, x], "act_sub"), 128)
    expect_error(build(body2), "node 'act_sub' (Sub)")

    def body3(n, i):
        a = conv(n, i, "input", "c1", oc=2)
        b = node(n, "MaxPool", [a], "p", kernel_shape=[2, 2], strides=[2, 2])
        return node(n, "Add", [a, b], "mismatch")
    expect_error(build(body3), "node 'mismatch' (Add)", "broadcast")


def test_concat_not_on_channels():
    def body(n, i):
        a = conv(n, i, "input", "c1")
        return node(n, "Concat", [a, a], "cat_h", axis=2)
    expect_error(build(body), "node 'cat_h' (Concat)", "axis")


def test_softmax_not_final():
    def body(n, i):
        x = head(n, i, "input", 64)
        sm = node(n, "Softmax", [x], "early_softmax", axis=1)
        return node(n, "Gemm", [sm, i("w2", R.normal(size=(2, 3)))], "after", transB=1)
    expect_error(build(body), "node 'early_softmax' (Softmax)", "final")


def test_final_softmax_is_removed():
    def body(n, i):
        return node(n, "Softmax", [head(n, i, "input", 64)], "sm", axis=-1)
    g = graph(build(body))
    assert ops_of(g) == [("dense1", "DENSE")]


def test_opset_out_of_range_and_foreign_domain():
    def body(n, i):
        return head(n, i, "input", 64)
    expect_error(build(body, opset=11), "opset 11")

    def custom(n, i):
        n.append(helper.make_node("Gelu", ["input"], ["g"], name="custom_gelu", domain="com.microsoft"))
        return head(n, i, "g", 64)
    m = build(custom)
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    expect_error(m, "node 'custom_gelu' (Gelu)", "com.microsoft")


def test_bad_input_shape():
    def body(n, i):
        return head(n, i, "input", 128)
    expect_error(build(body, in_shape=(1, 2, 8, 8)), "input 'input'")


def test_onnx_checker_accepts_builder_models():
    def body(n, i):
        return head(n, i, "input", 64)
    onnx.checker.check_model(build(body))
