"""Printed numbers (SPEC "Probabilities and printed numbers"): format_f32 / format_f64 against a
table derived by hand from the SPEC rule, and against independent implementations (Python's repr
for binary64, a digit search for binary32) on seeded random values."""
import math

import numpy as np
import pytest

from roentgen_tools.fileformat import format_f32, format_f64

F32 = np.float32
TINY32 = float(np.finfo(F32).smallest_subnormal)

F32_TABLE = [
    (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (3.0, "3.0"), (-12.5, "-12.5"), (0.001, "0.001"),
    (0.1, "0.1"), (0.3, "0.3"), (1 / 3, "0.33333334"),
    (1e-4, "0.0001"),                      # the binary32 is below 1e-4, its shortest decimal is not
    (float(np.nextafter(F32(1e-4), F32(0))), "9.999999e-05"),
    (1.5e-4, "0.00015"), (1e-5, "1.0e-05"), (-2.5e-7, "-2.5e-07"),
    (16777216.0, "16777216.0"), (16777217.0, "16777216.0"),   # rounds to binary32 first
    (123456789.0, "123456790.0"),
    (1e15, "1000000000000000.0"), (1e16, "1.0e+16"), (-2.5e17, "-2.5e+17"),
    (float(np.finfo(F32).max), "3.4028235e+38"),
    (float(np.finfo(F32).tiny), "1.1754944e-38"),              # smallest normal
    (TINY32, "1.0e-45"), (3 * TINY32, "4.0e-45"),               # subnormals
    (math.inf, "null"), (-math.inf, "null"), (math.nan, "null"),
]

F64_TABLE = [
    (0.0, "0.0"), (-0.0, "-0.0"), (0.5, "0.5"), (1 / 3, "0.3333333333333333"), (100.0, "100.0"),
    (1e-4, "0.0001"), (9.999999999999999e-05, "9.999999999999999e-05"), (2.5e-5, "2.5e-05"),
    (9999999999999998.0, "9999999999999998.0"), (1e16, "1.0e+16"), (1e100, "1.0e+100"),
    (5e-324, "5.0e-324"), (2.2250738585072014e-308, "2.2250738585072014e-308"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (float(F32(0.1)), "0.10000000149011612"), (16777216.0, "16777216.0"),
    (math.inf, "null"), (math.nan, "null"),
]


@pytest.mark.parametrize("v,text", F32_TABLE, ids=[t for _, t in F32_TABLE])
def test_f32_table(v, text):
    assert format_f32(v) == text


@pytest.mark.parametrize("v,text", F64_TABLE, ids=[t for _, t in F64_TABLE])
def test_f64_table(v, text):
    assert format_f64(v) == text


def spec_notation(neg: bool, digits: str, e: int) -> str:
    """The SPEC notation from shortest digits (no leading / trailing zeros) and exponent."""
    sign = "-" if neg else ""
    if -4 <= e < 16:
        if e >= 0:
            return sign + digits[:e + 1].ljust(e + 1, "0") + "." + (digits[e + 1:] or "0")
        return sign + "0." + "0" * (-e - 1) + digits
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'-' if e < 0 else '+'}{abs(e):02d}"


def shortest_f32_by_search(v: F32):
    """The shortest decimal that reads back to v, by trying 1..9 significant digits (the first
    precision that round-trips; among its candidates the nearest, as %e rounds)."""
    for p in range(1, 10):
        s = f"{float(v):.{p - 1}e}"
        if F32(s) == v:
            mant, exp = s.lstrip("-").split("e")
            return s.startswith("-"), mant.replace(".", "").rstrip("0") or "0", int(exp)
    raise AssertionError(v)


def test_f64_matches_python_repr_on_random_values():
    rng = np.random.default_rng(2024)
    values = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-30, 30, 2000),
                             rng.random(500), rng.random(500) * 1e-4, rng.random(500) * 1e17])
    for v in values.tolist():
        r = repr(v)  # Python prints the shortest digits with the same thresholds (e < -4 or e >= 16)
        if "e" in r:
            mant, exp = r.split("e")
            if "." not in mant:
                mant += ".0"
            r = f"{mant}e{exp[0]}{exp[1:].zfill(2)}"
        assert format_f64(v) == r, f"seed 2024: {v!r}"


def test_f32_matches_digit_search_on_random_values():
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32)
    values = [v for v in bits.view(F32) if np.isfinite(v) and v != 0]
    values += [F32(x) for x in (rng.standard_normal(1000) * 100).tolist()]
    for v in values:
        assert format_f32(v) == spec_notation(*shortest_f32_by_search(v)), f"seed 7: {float(v)!r}"


def test_round_trip():
    rng = np.random.default_rng(3)
    for v in rng.standard_normal(1000).astype(F32) * F32(1e3):
        assert F32(format_f32(v)) == v
    for v in rng.standard_normal(1000) * 1e-6:
        assert float(format_f64(v)) == v
