"""Fitting float rules to the learning engine's numbers: scale literals, trace taus and impulses,
third-factor full scales, and the notes that report what each rounding costs. Shared by the rule
objects (burstprop, STDP, BTSP, dendritic balance).
"""
from __future__ import annotations

import math

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.ir.program import IMPULSE_FRACTION_BITS, TAU_RANGE, TRACE_BITS, LearningProgram, product_shift

TRACE_MAX = 2**TRACE_BITS - 1      # 127: a trace's largest value
EXPONENTS = range(-7, 9)           # Lava's scale exponent after normalisation
MANTISSAS = range(1, 8)            # |m| of a scale written as a literal (m = -8 Lava folds to -4 * 2^(e+1))
MAX_SCALE_ERROR = 0.125            # beyond this the nearest scale is refused (the target is out of range)
Y_FULL_MIN = 8                     # smallest full scale (trace units at 1) a third factor may be given
SCALE_TOLERANCE = 0.005            # a third factor's full scale is lowered from 127 until the scale is this exact


def product_literal(name: str, value: float, scale: float, factors: tuple[str, ...]) -> tuple[str, float]:
    """The literal ``m*2^e`` whose product scale ``m * 2^(e - shift)`` is nearest ``scale`` (> 0; weight
    units per unit product of ``factors``), and that scale. RuleError naming ``name = value`` if no
    literal comes within 12.5% (the scale is outside Lava's range for this product)."""
    shift = product_shift(factors)
    best = min(((m, e) for m in MANTISSAS for e in EXPONENTS),
               key=lambda me: (abs(me[0] * 2.0 ** (me[1] - shift) - scale), me[1]))
    got = best[0] * 2.0 ** (best[1] - shift)
    if not scale > 0 or abs(got - scale) > MAX_SCALE_ERROR * scale:
        lo, hi = 2.0 ** (EXPONENTS[0] - shift), MANTISSAS[-1] * 2.0 ** (EXPONENTS[-1] - shift)
        raise RuleError(f"{name} = {value:g}: needs {scale:.3g} weight units per unit of {'*'.join(factors)}; "
                        f"the nearest Lava scale (m*2^e, m 1..7, {lo:.3g}..{hi:.3g}) is {got:.3g}, "
                        f"{100 * abs(got / scale - 1):.0f}% off (> {100 * MAX_SCALE_ERROR:g}%)")
    return f"{best[0]}*2^{best[1]}", got


def trace_tau(name: str, tau_steps: float) -> int:
    """Lava's integer trace tau (steps) nearest ``tau_steps``; RuleError outside 1..255 steps."""
    tau = round(tau_steps) if math.isfinite(tau_steps) else -1
    if not TAU_RANGE[0] < tau <= TAU_RANGE[1]:
        raise RuleError(f"{name} = {tau_steps:g} steps; Lava's trace tau is 8-bit: allowed 0.5..255.5 steps")
    return tau


def trace_impulse(name: str, value: float) -> float:
    """``value`` (trace units) rounded to Lava's impulse grid 2^-8; RuleError outside (0, 255]."""
    q = round(value * 2**IMPULSE_FRACTION_BITS) / 2**IMPULSE_FRACTION_BITS if math.isfinite(value) else 0
    if not 0 < q <= 255:
        raise RuleError(f"{name} = {value:g} trace units; allowed 2^-8..255 (8-bit impulse)")
    return q


def exp_trace(spikes: np.ndarray, tau: float, impulse: float = 1.0, clip: float | None = None) -> np.ndarray:
    """Per step ``z = exp(-1/tau) z + impulse * spike`` (then ``min(z, clip)``) for spikes (steps, n)."""
    s = np.asarray(spikes, dtype=float)
    out, z, keep = np.empty_like(s), np.zeros(s.shape[1:]), math.exp(-1.0 / tau)
    for t in range(len(s)):
        z = keep * z + impulse * s[t]
        if clip is not None:
            z = np.minimum(z, clip)
        out[t] = z
    return out


def truncation_notes(program: LearningProgram, weight_scale: float) -> list[str]:
    """One line per product whose hidden shift truncates: Lava floors ``term * m >> shift``, a bias of
    up to -2^e weight units (toward -inf) in every epoch in which the product is non-zero."""
    out = []
    for target, products in program.products.items():
        for p in products:
            if p.shift:
                q = 2.0 ** p.exponent
                out.append(f"{target} product {p.dependency}*{'*'.join(f.var for f in p.factors)} drops its lowest "
                           f"{p.shift} bits toward -inf: a bias of up to -{q:g} weight units (-{q / weight_scale:.3g} "
                           "float) per epoch in which it is non-zero")
    return out


def relative(got: float, want: float) -> str:
    """``got`` vs ``want`` as a signed relative error in percent."""
    return f"{100 * (got - want) / want:+.2f}%"


def fit_third_factor(name: str, value: float, coefficient: float, factors: tuple[str, ...]):
    """Full scale Y (trace units at 1; Y_FULL_MIN..127, largest first) of a third factor and the product
    literal whose scale ``coefficient / Y`` it makes exact within SCALE_TOLERANCE (else the best found)."""
    best = None
    for full in range(TRACE_MAX, Y_FULL_MIN - 1, -1):
        try:
            lit, got = product_literal(name, value, coefficient / full, factors)
        except RuleError:
            continue
        err = abs(got * full / coefficient - 1)
        if best is None or err < best[3]:
            best = (full, lit, got, err)
        if err <= SCALE_TOLERANCE:
            break
    if best is None:
        shift = product_shift(factors)
        lo, hi = 2.0 ** (EXPONENTS[0] - shift), MANTISSAS[-1] * 2.0 ** (EXPONENTS[-1] - shift)
        raise RuleError(f"{name} = {value:g}: needs {coefficient / TRACE_MAX:.3g}..{coefficient / Y_FULL_MIN:.3g} "
                        f"weight units per unit of {'*'.join(factors)} (third-factor full scale {TRACE_MAX}.."
                        f"{Y_FULL_MIN}); Lava's scales for this product are {lo:.3g}..{hi:.3g}: change dt or "
                        "weight_scale")
    return best[:3]
