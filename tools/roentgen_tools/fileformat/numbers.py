"""Floats printed for JSON (SPEC "Probabilities and printed numbers"), identical in Python and
Swift: the shortest decimal that reads back to the same binary32 (format_f32) or binary64
(format_f64) value, in one notation:

    plain digits with at least one digit after the point when the shortest decimal's exponent e
    (v = d.ddd x 10^e) is in [-4, 16): 0.001, -12.5, 3.0, 16777216.0
    else one digit, the point, at least one more digit, e, a sign, at least two exponent digits:
    1.0e-05, -2.5e+17, 1.0e+16
    zero: 0.0 / -0.0; not finite: null (JSON has no NaN or infinity)

The choice of notation is made on the shortest decimal, not the binary value: the binary32
nearest 1e-4 is slightly below it, yet it prints as 0.0001.
"""
from __future__ import annotations

import math

import numpy as np


def _shortest(v) -> tuple:
    """(negative, digits without leading/trailing zeros, exponent of the first digit) of the
    shortest decimal that round-trips in v's own precision (numpy's Dragon4, unique=True)."""
    s = np.format_float_scientific(v, unique=True, trim="-", exp_digits=1)
    neg = s.startswith("-")
    mant, exp = s.lstrip("-").split("e")
    digits = mant.replace(".", "").rstrip("0") or "0"
    return neg, digits, int(exp)


def _render(v) -> str:
    x = float(v)
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    neg, digits, e = _shortest(v)
    sign = "-" if neg else ""
    if -4 <= e < 16:
        if e >= 0:
            whole = digits[:e + 1].ljust(e + 1, "0")
            frac = digits[e + 1:] or "0"
        else:
            whole, frac = "0", "0" * (-e - 1) + digits
        return f"{sign}{whole}.{frac}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'-' if e < 0 else '+'}{abs(e):02d}"


def format_f32(v) -> str:
    """A binary32 value (a logit, a decision value) as SPEC prints it."""
    with np.errstate(over="ignore"):
        return _render(np.float32(v))


def format_f64(v) -> str:
    """A binary64 value (a probability) as SPEC prints it."""
    return _render(np.float64(v))
