"""BTSP's credit-assignment form (Galloni et al. 2025, "dendritic target propagation"; reference A.4) on chip.

The plateau is the burst neuron's own valence (burstprop's network: teacher-driven in the output layer, driven
top-down through Y and Z in the hidden layers). Per post event ``E_i`` and step, with ``P+ = max(valence, 0)``,
``P- = min(valence, 0)`` and ``ET_j`` the presynaptic eligibility trace::

    dW_ij = eta E_i [ P+_i ((w_max - W_ij) ET_j - W_ij q(ET_j)) + P-_i ET_j ]

``ET = min(1, ...)``: ``et_per_event`` per presynaptic event, decaying with ``tau_pre`` steps; ``q(ET) = min(1,
ET / theta_et)`` (the reference's steep q_dep), kept as its own trace. A positive plateau moves each active input
towards ``w_max ET / (ET + q(ET))`` (weight-dependent potentiation, heterosynaptic depression); a negative one
depresses active inputs (anti-Hebbian).

On chip (:meth:`BTSPCredit.chip_rule`, ``t_epoch`` 1): the post neuron is a ``BurstLIF`` sending its valence split
(``plateau_split``: ``y2 = max(q, 0)``, ``y3 = max(-q, 0)``, q the valence in steps of 1/L, stochastically
rounded); x1 = 127 ET (impulse ``127 et_per_event``, clipped at 127), x2 = 127 q(ET) (impulse ``x1 / theta_et``)::

    dw = -S1 y0 (w - Wm) x1 y2 - S2 y0 w x2 y2 - S3 y0 x1 y3

``S1 = S2 = eta / (127 L)`` (per unit of the 12-bit-shifted products), ``S3 = eta * units / (127 L)`` (the P- term
carries no weight factor). Its valence settings (expected burst, fixed Pbar, homeostasis, dead zone) are
:class:`~neurolearn.rules.burstprop_spiking.BurstpropSpiking`'s. The float twin runs :meth:`BTSPCredit.twin_form`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from neurolearn.errors import RuleError
from neurolearn.ir.plan import PBAR_ONE
from neurolearn.ir.program import ChipRule, LearningProgram
from neurolearn.rules.burstprop_spiking import LEVELS_MAX, BurstpropSpiking
from neurolearn.rules.engine_numbers import TRACE_MAX, product_literal, trace_impulse, trace_tau, truncation_notes
from neurolearn.rules.plugin import ChipUnits, StepInput, param

PRODUCTS = (("w", "x1", "y2"), ("w", "x2", "y2"), ("x1", "y3"))   # potentiation, depression, negative plateau


class CreditForm(NamedTuple):
    """The float rule a program realizes, as the float twin runs it (weights in float weight units)."""

    eta_pot: float     # P+ (w_max - W) ET
    eta_dep: float     # P+ W q(ET)
    eta_neg: float     # P- ET
    w_max: float
    et_per_event: float
    gate_per_event: float   # q(ET)'s trace: ET / theta_et per event, clipped at 1
    tau_pre: float          # steps


class _Fit(NamedTuple):
    levels: int
    literals: tuple    # (literal, scale) of each of PRODUCTS
    error: float       # the largest relative scale error
    w_int: int
    impulse: float     # x1's
    gate: float        # x2's
    tau: int


@dataclass(frozen=True)
class BTSPCredit(BurstpropSpiking):
    """BTSP in the credit-assignment form (module docstring); the valence settings are burstprop's."""

    name = "btsp-credit"

    w_max: float = param(0.5, "weight units", gt=0)                      # potentiation's bound
    et_per_event: float = param(0.25, "ET per presynaptic event", gt=0, le=1)
    theta_et: float = param(0.25, gt=0, le=1)                            # q(ET) = min(1, ET / theta_et)

    def check(self):
        super().check()
        if self.theta_et < self.et_per_event:   # x2's impulse would exceed 127: one event saturates q(ET)
            raise RuleError(f"rule '{self.name}': parameter 'theta_et' = {self.theta_et:g} below et_per_event = "
                            f"{self.et_per_event:g}; allowed {self.et_per_event:g} .. 1 (q(ET) = min(1, ET / theta_et) "
                            "is a trace of impulse 127 et_per_event / theta_et <= 127)")

    def _fit(self, units: ChipUnits) -> _Fit:
        """Valence levels L (1..7) whose three scales come nearest their targets (the finest L within 1 % of the
        smallest largest error); refusals name the parameter and the allowed range."""
        for name in ("e_min", "e_max"):
            if getattr(self, name) is not None:
                raise RuleError(f"{self.name}: {name} = {getattr(self, name)}: leave it out (the on-chip valence has "
                                "its own homeostasis, rate_target)")
        w_int = round(self.w_max * units.weight)
        if not 0 < w_int <= 255:
            raise RuleError(f"{self.name}: w_max = {self.w_max:g} is {self.w_max * units.weight:.3g} integer weight "
                            f"units; allowed {0.5 / units.weight:.3g} .. {255.5 / units.weight:.3g} weight units "
                            "(0.5..255 integer units: 8-bit weights)")
        tau = trace_tau(f"{self.name} tau_pre", self.tau_pre)
        imp = trace_impulse(f"{self.name} x1 impulse (127 * et_per_event)", TRACE_MAX * self.et_per_event)
        gate = trace_impulse(f"{self.name} x2 impulse (x1 impulse / theta_et)", imp / self.theta_et)
        best, refusal = None, None
        for levels in range(LEVELS_MAX, 0, -1):   # the finest valence first
            wanted = [self.eta / (TRACE_MAX * levels)] * 2 + [self.eta * units.weight / (TRACE_MAX * levels)]
            try:
                lits = [product_literal(f"{self.name} eta", self.eta, s, f) for s, f in zip(wanted, PRODUCTS)]
            except RuleError as exc:
                refusal = exc   # the last tried, L = 1: the coarsest valence, the largest scales
                continue
            err = max(abs(got / want - 1) for (_, got), want in zip(lits, wanted))
            if best is None or err < best.error - 0.01:
                best = _Fit(levels, tuple(lits), err, w_int, imp, gate, tau)
        if best is None:
            raise RuleError(f"{refusal} (at every valence level count 1..{LEVELS_MAX}; shown: 1)")
        return best

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The program (module docstring) for ``units.weight`` integer weight units per weight unit."""
        fit = self._fit(units)
        (lp, _), (ld, _), (ln, _) = fit.literals
        program = LearningProgram(dw=f"-{lp} * y0 * (w - {fit.w_int}) * x1 * y2 - {ld} * y0 * w * x2 * y2 - "
                                     f"{ln} * y0 * x1 * y3", x1_impulse=fit.impulse, x1_tau=fit.tau,
                                  x2_impulse=fit.gate, x2_tau=fit.tau, t_epoch=1, rng_seed=units.rng_seed,
                                  three_factor=True)
        form = self.twin_form(units)
        notes = [f"valence split into plateaus in steps of 1/{fit.levels} (y2 = P+, y3 = -P-), stochastically rounded",
                 f"eta = {self.eta:g}: P+ (w_max - W) ET at {form.eta_pot:.4g}, P+ W q(ET) at {form.eta_dep:.4g}, "
                 f"P- ET at {form.eta_neg:.4g} (largest error {100 * fit.error:.1f} %)",
                 f"w_max = {self.w_max:g} -> {fit.w_int} weight units ({form.w_max:.4g})",
                 f"ET: x1 impulse {fit.impulse:g} of 127 (et_per_event {self.et_per_event:g} -> "
                 f"{form.et_per_event:.4g}), tau_pre {self.tau_pre} steps -> {fit.tau}; q(ET): x2 impulse {fit.gate:g} "
                 f"(theta_et {self.theta_et:g} -> {fit.impulse / fit.gate:.4g}), both clipped at 127 (x2 then decays "
                 "from 127: q(ET) stays ET / theta_et only while ET < theta_et)",
                 *truncation_notes(program, units.weight)]
        post, more = self._neuron_settings()
        return ChipRule(program, float_update="dW = eta E [P+ ((w_max - W) ET - W q(ET)) + P- ET]",
                        third_factors={"y2": f"max(q, 0), q = valence * {fit.levels} stochastically rounded",
                                       "y3": "max(-q, 0)"},
                        delivered_by="post neuron (BurstLIF s_out_y2, s_out_y3)", approximations=tuple(notes) + more,
                        post_neuron={"valence_levels": fit.levels, "pbar_shift": self.pbar_shift(),
                                     "pbar_init": int(round(self.p_init * PBAR_ONE)), "plateau_split": True, **post})

    def twin_form(self, units: ChipUnits) -> CreditForm:
        """The float rule :meth:`chip_rule`'s program realizes: its scales, impulses and w_max as rounded."""
        fit = self._fit(units)
        per = TRACE_MAX * fit.levels
        (_, sp), (_, sd), (_, sn) = fit.literals
        return CreditForm(sp * per, sd * per, sn * per / units.weight, fit.w_int / units.weight,
                          fit.impulse / TRACE_MAX, fit.gate / TRACE_MAX, float(fit.tau))

    def float_step(self, state, w, step: StepInput, dt: float | None = None):
        """Refused: the valence (the plateau) is the burst neuron's; the float twin runs this rule
        (:mod:`neurolearn.sims.float_twin`)."""
        raise RuleError(f"rule '{self.name}': its plateau is the burst neuron's valence; its float form runs in the "
                        "float twin (neurolearn.sims.float_twin), not in float_step")
