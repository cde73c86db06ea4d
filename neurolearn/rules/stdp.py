"""Pair-based STDP, trace form: one definition gives the float update and the learning-engine program.

Float (per step, all-to-all pairs): ``x = exp(-1/tau_plus) x + pre``, ``y = exp(-1/tau_minus) y + post``
(traces read after this step's decay and spike), then ``dw = a_plus * post * x - a_minus * pre * y``.
On chip: ``dw = S+ * y0 * x1 - S- * x0 * y1`` with x1 = impulse * x, y1 = impulse * y (7-bit traces)
and S = weight_scale * a / impulse rounded to Lava's ``m * 2^e`` (m 1..7, after the hidden shift).

    rule = STDP(a_plus=0.01, a_minus=0.012, tau_plus=20, tau_minus=20)
    chip = rule.chip_rule(weight_scale=100)       # 100 weight units per float unit
    dw = rule.update(pre, post)                   # (n_post, n_pre) float, pre/post (steps, n) 0/1

"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.rules.engine_numbers import (TRACE_MAX, exp_trace, product_literal, relative, trace_impulse, trace_tau,
                                       truncation_notes)
from neurolearn.ir.program import ChipRule, LearningProgram


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP: amplitudes in float weight units per pair at zero lag, time constants in steps."""

    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0

    def __post_init__(self):
        for name in ("a_plus", "a_minus"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"STDP: {name} = {v}; allowed >= 0 (finite)")
        if self.a_plus == 0 and self.a_minus == 0:
            raise ValueError("STDP: a_plus = a_minus = 0; at least one must be > 0")
        for name in ("tau_plus", "tau_minus"):
            if not getattr(self, name) > 0:
                raise ValueError(f"STDP: {name} = {getattr(self, name)} steps; allowed > 0")

    def update(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Total float weight change (n_post, n_pre) for spikes pre (steps, n_pre), post (steps, n_post)."""
        pre, post = np.asarray(pre, float), np.asarray(post, float)
        x, y = exp_trace(pre, self.tau_plus), exp_trace(post, self.tau_minus)
        return self.a_plus * post.T @ x - self.a_minus * y.T @ pre

    def chip_rule(self, weight_scale: float, impulse: float = 16.0, rng_seed: int = 0) -> ChipRule:
        """The program for weights ``w_int = weight_scale * w`` and traces of ``impulse`` units per spike."""
        return self._chip(weight_scale, impulse, rng_seed)[0]

    def realized(self, weight_scale: float, impulse: float = 16.0) -> "STDP":
        """The float rule the program implements exactly (amplitudes and taus as rounded on chip)."""
        return self._chip(weight_scale, impulse, 0)[1]

    def _chip(self, weight_scale: float, impulse: float, rng_seed: int) -> tuple[ChipRule, "STDP"]:
        if not (math.isfinite(weight_scale) and weight_scale > 0):
            raise RuleError(f"STDP: weight_scale = {weight_scale}; allowed > 0 (weight units per float unit)")
        imp = trace_impulse("STDP impulse", impulse)
        taus = {n: trace_tau(f"STDP {n}", getattr(self, n)) for n in ("tau_plus", "tau_minus")}
        terms, approx, real = [], [], {}
        for name, dep, fac in (("a_plus", "y0", "x1"), ("a_minus", "x0", "y1")):
            a = getattr(self, name)
            if a == 0:
                real[name] = 0.0
                continue
            lit, s = product_literal(f"STDP {name}", a, weight_scale * a / imp, (fac,))
            terms.append(f"{'-' if name == 'a_minus' else '+'} {lit} * {dep} * {fac}")
            real[name] = s * imp / weight_scale
            if real[name] != a:
                approx.append(f"{name} = {a:g} -> {real[name]:.6g} ({relative(real[name], a)}): scale {lit} "
                              f"per {fac} unit")
        for name, tau in taus.items():
            if tau != getattr(self, name):
                approx.append(f"{name} = {getattr(self, name):g} -> {tau} steps (Lava's integer tau, "
                              f"{relative(tau, getattr(self, name))})")
        approx.append(f"traces saturate at {TRACE_MAX} units = {TRACE_MAX / imp:.3g} spikes' worth (impulse {imp:g})")
        approx.append("trace decays and weight changes round stochastically (unbiased; Lava's seeded streams)")
        prog = LearningProgram(dw=" ".join(terms).lstrip("+ "), x1_impulse=imp, x1_tau=taus["tau_plus"],
                               y1_impulse=imp, y1_tau=taus["tau_minus"], t_epoch=1, rng_seed=rng_seed)
        approx += truncation_notes(prog, weight_scale)
        chip = ChipRule(prog, float_update="dw = a_plus * post * x - a_minus * pre * y; x, y: pre/post spike "
                        "traces (tau_plus, tau_minus steps, +1 per spike) after this step's decay and spike",
                        approximations=tuple(approx))
        return chip, STDP(real["a_plus"], real["a_minus"], float(taus["tau_plus"]), float(taus["tau_minus"]))
