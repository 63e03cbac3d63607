"""quant.arith (the rounding rule and every integer parameter derived from real scales) against
exact Python big-int / fractions math, and the tables and bounds the op modules build with it."""
import math
from fractions import Fraction

import numpy as np
import pytest

from roentgen_tools.fileformat import ops as T
from roentgen_tools.ops import activation
from roentgen_tools.quant import arith as Q


def bigint_requant(acc, m, shift):
    return (acc * m + (1 << (shift - 1))) >> shift  # Python ints: exact, arithmetic shift (floor)


@pytest.mark.parametrize("acc", [0, 1, -1, 2**31 - 1, -(2**31) + 1, -(2**31), 12345, -12345, 2**30, -(2**30)])
@pytest.mark.parametrize("m,shift", [(2**31 - 1, 62), (-(2**31 - 1), 62), (1, 1), (-1, 1), (0, 62),
                                     (1 << 30, 31), (1518500250, 38), (-7, 3), (3, 1)])
def test_requantize_matches_bigint(acc, m, shift):
    assert int(Q.requantize(acc, m, shift)) == bigint_requant(acc, m, shift)


def test_requantize_rounds_half_up():
    # acc*m / 2^shift exactly .5 -> towards +infinity, for both signs
    assert int(Q.requantize(1, 1, 1)) == 1       # 0.5 -> 1
    assert int(Q.requantize(-1, 1, 1)) == 0      # -0.5 -> 0
    assert int(Q.requantize(3, 1, 1)) == 2       # 1.5 -> 2
    assert int(Q.requantize(-3, 1, 1)) == -1     # -1.5 -> -1
    assert int(Q.requantize(5, 1, 2)) == 1       # 1.25 -> 1
    assert int(Q.requantize(-5, 1, 2)) == -1     # -1.25 -> -1


def test_requantize_vectorised_random():
    r = np.random.default_rng(0)
    acc = r.integers(-(2**31) + 1, 2**31, 5000)
    m = r.integers(-(2**31) + 1, 2**31, 5000)
    sh = r.integers(1, 63, 5000)
    got = Q.requantize(acc, m, sh)
    want = [bigint_requant(int(a), int(b), int(c)) for a, b, c in zip(acc, m, sh)]
    assert got.tolist() == want


@pytest.mark.parametrize("M", [0.5, 0.999999, 1e-3, 3.7e-5, 1e-12, 1.0, 1.5, 1000.0, 2.0**29, 0.0, -0.25, 1e-19])
def test_quantize_multiplier_rule(M):
    m, shift = Q.quantize_multiplier(M)
    assert 1 <= shift <= 62 and abs(m) < 2**31
    # m == round_half_even(M * 2^shift) and shift is the largest <= 62 that fits
    assert m == round(Fraction(M) * 2**shift)
    if shift < 62:
        assert abs(round(Fraction(M) * 2 ** (shift + 1))) >= 2**31
    if M != 0:
        assert abs(Fraction(m, 2**shift) - Fraction(M)) <= Fraction(1, 2 ** (shift + 1))


def test_quantize_multiplier_too_large():
    with pytest.raises(Q.QuantizationError, match="too large"):
        Q.quantize_multiplier(2.0**31)
    with pytest.raises(Q.QuantizationError):
        Q.quantize_multiplier(float("inf"))


def test_quantize_multipliers_share_the_largest_common_shift():
    r = np.random.default_rng(3)
    for _ in range(200):
        Ms = [float(v) for v in r.uniform(1e-4, 3.0, 2) * r.choice([1, -1], 2)]
        ms, shift = Q.quantize_multipliers(Ms)
        assert 1 <= shift <= 62 and all(abs(m) < 2**31 for m in ms)
        assert ms == [round(Fraction(M) * 2**shift) for M in Ms]
        if shift < 62:  # one more bit would overflow one of them
            assert any(abs(round(Fraction(M) * 2 ** (shift + 1))) >= 2**31 for M in Ms)
        # the shared shift is the smaller of the two separate ones
        assert shift == min(Q.quantize_multiplier(M)[1] for M in Ms)


def test_requantize_sum_is_one_rounding():
    r = np.random.default_rng(4)
    a, b = r.integers(-255, 256, 2000), r.integers(-255, 256, 2000)
    m_a, m_b = r.integers(-(2**31 - 1), 2**31, 2000), r.integers(-(2**31 - 1), 2**31, 2000)
    sh = r.integers(1, 63, 2000)
    got = Q.requantize_sum(a, m_a, b, m_b, sh).tolist()
    for i in range(2000):
        want = (int(a[i]) * int(m_a[i]) + int(b[i]) * int(m_b[i]) + (1 << (int(sh[i]) - 1))) >> int(sh[i])
        assert got[i] == want


def test_requant_rows_activations():
    s_w = np.array([0.01, 0.02], np.float32)
    none = Q.requant_rows(0.1, s_w, 0.05, 1.0)
    assert (none[:, 0] == none[:, 2]).all() and (none[:, 1] == none[:, 3]).all()
    relu = Q.requant_rows(0.1, s_w, 0.05, 0.0)
    assert (relu[:, 2] == 0).all() and (relu[:, :2] == none[:, :2]).all()
    leaky = Q.requant_rows(0.1, s_w, 0.05, 0.1)
    for oc in range(2):
        M = 0.1 * float(s_w[oc]) / 0.05
        assert (leaky[oc, 0], leaky[oc, 1]) == Q.quantize_multiplier(M)
        assert (leaky[oc, 2], leaky[oc, 3]) == Q.quantize_multiplier(float(np.float32(0.1)) * M)


def test_clip_bounds_and_quantize_real():
    s, z = 0.05, -10
    assert Q.clip_bounds(0.0, 6.0, s, z) == (-10, -10 + 120)
    assert Q.clip_bounds(-math.inf, math.inf, s, z) == (-128, 127)  # an unbounded clip is no clip
    assert Q.clip_bounds(0.0, 100.0, s, z) == (-10, 127)             # saturates
    q = Q.quantize_real(np.array([0.125, -0.125, 0.375, 1e9, -1e9]), 0.25, 0)
    assert q.tolist() == [0, 0, 2, 127, -128]  # 0.5 -> 0, -0.5 -> 0, 1.5 -> 2: half to even


@pytest.mark.parametrize("function", sorted(T.FUNCTION_NAMES), ids=lambda f: T.FUNCTION_NAMES[f])
def test_activation_table_is_spec_formula_in_float64(function):
    """table[q + 128] = clamp(rint(f(s_x * (q - z_x)) / s_y) + z_y, -128, 127), f in float64."""
    a = dict(function=function, alpha=0.0, beta=0.0, clip_min=-math.inf, clip_max=math.inf)
    if function == T.FUNCTION_LEAKY_RELU:
        a["alpha"] = 0.1
    if function == T.FUNCTION_CLIP:
        a["clip_min"], a["clip_max"] = 0.0, 6.0
    if function == T.FUNCTION_HARD_SIGMOID:
        a["alpha"], a["beta"] = 0.2, 0.5
    s_x, z_x, s_y, z_y = 0.0625, 7, 0.03, -100
    f = {T.FUNCTION_RELU: lambda v: max(v, 0.0), T.FUNCTION_LEAKY_RELU: lambda v: 0.1 * v if v < 0 else v,
         T.FUNCTION_CLIP: lambda v: min(max(v, 0.0), 6.0),
         T.FUNCTION_HARD_SWISH: lambda v: v * min(max(v / 6 + 0.5, 0.0), 1.0),
         T.FUNCTION_HARD_SIGMOID: lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0),
         T.FUNCTION_SIGMOID: lambda v: 1 / (1 + math.exp(-v)), T.FUNCTION_SILU: lambda v: v / (1 + math.exp(-v)),
         T.FUNCTION_TANH: math.tanh}[function]
    table = activation.table(a, s_x, z_x, s_y, z_y)
    assert table.dtype == np.int8 and table.shape == (256,)
    for q in range(-128, 128):
        y = f(s_x * (q - z_x)) / s_y
        assert table[q + 128] == min(max(round(y) + z_y, -128), 127), (q, y)


def test_weight_quantization():
    w = np.array([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-2.54, 1.27, 0.01]], np.float32)
    q, s = Q.quantize_weights(w)
    assert s.dtype == np.float32 and s[1] == 1.0  # zero channel -> scale 1
    assert s[0] == np.float32(1.0 / 127) and s[2] == np.float32(2.54 / 127)
    assert q[0].tolist() == [127, round(-0.5 / float(s[0])), round(0.25 / float(s[0]))]
    assert q[1].tolist() == [0, 0, 0]
    assert q[2, 0] == -127 and np.abs(q).max() <= 127
    # half to even: 0.5 / (1/127) ... choose a value exactly at .5 of the f32 scale
    w2 = np.array([[127.0, 2.5, -2.5, 3.5]], np.float32)
    q2, s2 = Q.quantize_weights(w2)
    assert s2[0] == 1.0 and q2[0].tolist() == [127, 2, -2, 4]


def test_activation_params():
    s, z = Q.activation_params(-1.0, 3.0)
    assert s == np.float32(4.0 / 255) and z == round(-128 + 1.0 / float(s))
    s, z = Q.activation_params(0.5, 2.0)  # range extended to include 0
    assert s == np.float32(2.0 / 255) and z == -128
    s, z = Q.activation_params(-4.0, -1.0)
    assert s == np.float32(4.0 / 255) and z == 127
    s, z = Q.activation_params(0.0, 0.0)  # degenerate: scale stays finite and positive
    assert s > 0 and np.isfinite(s) and -128 <= z <= 127
    with pytest.raises(Q.QuantizationError):
        Q.activation_params(-1e300, 1e300)


def test_bias_and_overflow():
    b = np.array([0.1, -0.2, 0.0])
    s_w = np.array([0.01, 0.02, 1.0], np.float32)
    q, sc = Q.quantize_bias(b, 0.5, s_w)
    assert q.tolist() == [round(0.1 / (0.5 * float(s_w[0]))), round(-0.2 / (0.5 * float(s_w[1]))), 0]
    assert sc.dtype == np.float32
    Q.check_overflow("ok", 100, q)
    with pytest.raises(Q.QuantizationError, match="'big'.*overflow"):
        Q.check_overflow("big", 66400, np.array([5], np.int32))


def test_bias_scale_floor_keeps_a_huge_bias_in_int32():
    """An input that is almost constant (tiny s_x) next to a real bias: the weight scale is raised
    just enough that the bias fits beside the K products."""
    w = np.array([[0.5, -0.25, 0.125], [0.01, 0.02, 0.03]], np.float32)
    b = np.array([3.0, 1e-9])
    s_x, k = 1e-12, 3
    floor = Q.bias_scale_floor(b, s_x, k)
    q, s_w = Q.quantize_weights(w, floor)
    assert s_w[0] > np.float32(0.5 / 127) and s_w[1] == np.float32(0.03 / 127)  # only channel 0 is raised
    bq, _ = Q.quantize_bias(b, s_x, s_w)
    assert abs(int(bq[0])) <= 2**31 - 1 - k * 255 * 127 < abs(round(3.0 / (s_x * float(np.float32(0.5 / 127)))))
    Q.check_overflow("ok", k, bq)
    with pytest.raises(Q.QuantizationError, match="overflow"):
        Q.bias_scale_floor(b, s_x, 66400)
