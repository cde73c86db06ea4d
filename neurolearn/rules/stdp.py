"""Pair-based STDP, trace form: one definition gives the float update and the learning-engine program.

Float (per step, all-to-all pairs): ``x = exp(-1/tau_plus) x + pre``, ``y = exp(-1/tau_minus) y + post``
(traces read after this step's decay and spike), then ``dw = a_plus * post * x - a_minus * pre * y``.
On chip: ``dw = S+ * y0 * x1 - S- * x0 * y1`` with x1 = impulse * x, y1 = impulse * y (7-bit traces)
and S = weight units * a / impulse rounded to Lava's ``m * 2^e`` (m 1..7, after the hidden shift).

    rule = STDP(a_plus=0.01, a_minus=0.012, tau_plus=20, tau_minus=20)
    chip = rule.chip_rule(ChipUnits(weight=100))  # 100 weight units per float unit
    w = rule.float_run(pre, post)                 # (n_post, n_pre) float, pre/post (steps, n) 0/1

"""
from __future__ import annotations

import math
from dataclasses import dataclass

from neurolearn.errors import RuleError
from neurolearn.ir.program import ChipRule, LearningProgram
from neurolearn.rules.engine_numbers import (
    TRACE_MAX,
    product_literal,
    relative,
    trace_impulse,
    trace_tau,
    truncation_notes,
)
from neurolearn.rules.plugin import ChipUnits, LearningRule, PairTraces, StepInput, param


@dataclass(frozen=True)
class STDP(LearningRule):
    """Pair-based STDP: amplitudes in float weight units per pair at zero lag, time constants in steps;
    ``impulse``: trace units per spike on chip."""

    name = "stdp"

    a_plus: float = param(0.01, "weight units per pair", ge=0)
    a_minus: float = param(0.012, "weight units per pair", ge=0)
    tau_plus: float = param(20.0, "steps", gt=0)
    tau_minus: float = param(20.0, "steps", gt=0)
    impulse: float = param(16.0, "trace units per spike (on chip)", gt=0, le=255)

    def check(self):
        if self.a_plus == 0 and self.a_minus == 0:
            raise RuleError(f"rule '{self.name}': parameters 'a_plus' = 'a_minus' = 0; at least one must be > 0")

    def init_state(self, n_pre: int, n_post: int, batch: int = 1) -> PairTraces:
        return PairTraces.zeros(n_pre, n_post, batch)

    def float_step(self, state: PairTraces, w, step: StepInput, dt: float | None = None):
        """``step``: ``pre``, ``post`` spikes. Returns (traces, dw averaged over the batch)."""
        self._require(step, "post")
        x = math.exp(-1.0 / self.tau_plus) * state.pre + step.pre
        y = math.exp(-1.0 / self.tau_minus) * state.post + step.post
        return PairTraces(x, y), (self.a_plus * step.post.T @ x - self.a_minus * y.T @ step.pre) / len(x)

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The program for ``w_int = units.weight * w`` and traces of ``impulse`` units per spike."""
        return self._chip(units)[0]

    def realized(self, units: ChipUnits) -> "STDP":
        """The float rule the program implements exactly (amplitudes and taus as rounded on chip)."""
        return self._chip(units)[1]

    def _chip(self, units: ChipUnits) -> tuple[ChipRule, "STDP"]:
        weight_scale = units.weight
        imp = trace_impulse("STDP impulse", self.impulse)
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
                               y1_impulse=imp, y1_tau=taus["tau_minus"], t_epoch=1, rng_seed=units.rng_seed)
        approx += truncation_notes(prog, weight_scale)
        chip = ChipRule(prog, float_update="dw = a_plus * post * x - a_minus * pre * y; x, y: pre/post spike "
                        "traces (tau_plus, tau_minus steps, +1 per spike) after this step's decay and spike",
                        approximations=tuple(approx))
        return chip, STDP(real["a_plus"], real["a_minus"], float(taus["tau_plus"]), float(taus["tau_minus"]), imp)
