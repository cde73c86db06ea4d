"""Dendritic balance (Mikulasch, Rudelt & Priesemann 2021 PNAS) and its Hebbian baseline.

Traces (per step, +1 per spike, read after this step's decay and spike): z = presynaptic, e = postsynaptic.

* :class:`HebbianBaseline` (the paper's "somatic balance", Oja-like): ``dF = eta x z - eta_decay F z^2``
  (x: pre trace, z: post trace). Native two-factor program ``dw = S1*u0*x1*y1 - S2*u0*w*y2`` with y2 a
  second post trace of tau_z / 2, equal to z^2 for isolated spikes.
* :class:`DendriticBalance`: inhibition onto a dendrite learns to cancel its voltage u,
  ``dW_ik = -eta z_k u_i`` (the paper's dW_jik = -eta z_k u_ij). Two forms:

  - ``form="error-neuron"`` (default; the reference's recommended hardware form): the dendrite is an
    error neuron i whose rate codes the residual u = x - D z around a baseline, so ``u_i = e_i - baseline``
    with e_i its own spike trace: ``dw = -S*u0*x1*(y1 - C)``, two-factor, no third factor (the signed
    residual is carried by the offset C instead of ON/OFF populations, which would each need the other's
    spikes). ``connection="feedforward"`` gives the F rule of the same network, ``dF = eta (e - baseline) z``
    (pre = error neuron, post = z): ``dw = S*u0*(x1 - C)*y1``.
  - ``form="dendrite"``: the literal rule; the dendritic compartment sends u as a signed third factor,
    y2 = u+ and y3 = u- (``delivered_by="post neuron"``): ``dw = -S*u0*x1*y2 + S*u0*x1*y3``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.ir.program import T_EPOCH_RANGE, ChipRule, LearningProgram
from neurolearn.rules.engine_numbers import (
    fit_third_factor,
    product_literal,
    relative,
    trace_impulse,
    trace_tau,
    truncation_notes,
)
from neurolearn.rules.plugin import ChipUnits, LearningRule, PairForm, PairTraces, StepInput, param

FORMS = ("error-neuron", "dendrite")
CONNECTIONS = ("balance", "feedforward")
STOCHASTIC = "trace decays and weight changes round stochastically (unbiased; Lava's seeded streams)"
IMPULSE = "trace units per spike (on chip)"


def decay_term(name: str, decay: float, impulse: float, trace: str, every: int = 1) -> tuple[str, float, list[str]]:
    """The program term ``- S * u0 * w * trace`` of a weight decay ``dw = -decay w t`` per step (``t``: the
    post trace ``trace`` in float units, ``impulse`` trace units per spike; ``every``: steps per learning epoch,
    the term made once an epoch), the realized decay per step, and its note."""
    lit, s = product_literal(name, decay, every * decay / impulse, ("w", trace))
    real = s * impulse / every
    notes = [] if real == decay else [f"{name.split()[-1]} = {decay:g} -> {real:.6g} ({relative(real, decay)}): "
                                      f"scale {lit} per w*{trace} unit"]
    return f"- {lit} * u0 * w * {trace}", real, notes


class HebbianState(NamedTuple):
    """Pre trace x, post trace z and z^2 (exact, or the chip's trace of tau_z / 2), (batch, n) arrays."""

    x: Any
    z: Any
    z_square: Any


@dataclass(frozen=True)
class HebbianBaseline(LearningRule):
    """``dF = eta x z - eta_decay F z^2`` per step (eta_decay left out: = eta); tau_x, tau_z in steps.
    ``z_square="trace"``: z^2 as the chip computes it, a trace of ``tau_z_square`` (default tau_z / 2; +1 per
    spike)."""

    name = "hebbian-baseline"

    eta: float = param(1e-3, "weight units per unit trace product", gt=0)
    tau_x: float = param(10.0, "steps", gt=0)
    tau_z: float = param(10.0, "steps", gt=0)
    eta_decay: float | None = param(None, "per unit z^2 and step", ge=0, optional=True)
    z_square: str = param("exact", choices=("exact", "trace"))
    tau_z_square: float | None = param(None, "steps (the z^2 trace's tau; None: tau_z / 2)", gt=0, optional=True)
    x_impulse: float = param(16.0, IMPULSE, gt=0, le=255)
    z_impulse: float = param(16.0, IMPULSE, gt=0, le=255)

    def init_state(self, n_pre: int, n_post: int, batch: int = 1) -> HebbianState:
        return HebbianState(np.zeros((batch, n_pre)), np.zeros((batch, n_post)), np.zeros((batch, n_post)))

    def float_step(self, state: HebbianState, w, step: StepInput, dt: float | None = None):
        """``step``: ``pre``, ``post`` spikes; ``w`` the weights F. Returns (state, dF averaged over the batch)."""
        self._require(step, "post")
        x = math.exp(-1.0 / self.tau_x) * state.x + step.pre
        z = math.exp(-1.0 / self.tau_z) * state.z + step.post
        z2 = z ** 2 if self.z_square == "exact" else math.exp(-1.0 / self._tau_square) * state.z_square + step.post
        return HebbianState(x, z, z2), self.eta * z.T @ x / len(x) - self._decay * w * z2.mean(0)[:, None]

    def pair_form(self) -> PairForm:
        """This rule as the float twin's two-factor form (z_square="trace" only: z^2 is then a trace)."""
        if self.z_square != "trace":
            raise RuleError(f"rule '{self.name}': parameter 'z_square' = 'exact' has no pair-trace form; the float "
                            "twin runs z_square = 'trace' (the chip's form, realized())")
        return PairForm(self.eta, 0.0, 0.0, self._decay, self.tau_x, self.tau_z, self._tau_square)

    @property
    def _decay(self) -> float:
        """eta_decay (per unit z^2 and step), eta where left out."""
        return self.eta if self.eta_decay is None else self.eta_decay

    @property
    def _tau_square(self) -> float:
        """The z^2 trace's tau (steps)."""
        return self.tau_z / 2 if self.tau_z_square is None else self.tau_z_square

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The program for ``w_int = units.weight * F`` and traces of x_impulse, z_impulse units per spike."""
        return self._chip(units)[0]

    def realized(self, units: ChipUnits) -> "HebbianBaseline":
        """The float rule the program implements (z_square="trace", rates and taus as rounded on chip)."""
        return self._chip(units)[1]

    def _chip(self, units: ChipUnits):
        weight_scale = units.weight
        ix = trace_impulse("HebbianBaseline x_impulse", self.x_impulse)
        iz = trace_impulse("HebbianBaseline z_impulse", self.z_impulse)
        tx, tz = trace_tau("HebbianBaseline tau_x", self.tau_x), trace_tau("HebbianBaseline tau_z", self.tau_z)
        t2 = trace_tau("HebbianBaseline tau_z_square", self._tau_square)
        decay = self._decay
        lit1, s1 = product_literal("HebbianBaseline eta", self.eta, weight_scale * self.eta / (ix * iz), ("x1", "y1"))
        approx, eta = [], s1 * ix * iz / weight_scale
        terms = [f"{lit1} * u0 * x1 * y1"]
        real_decay = 0.0
        if decay:
            term, real_decay, notes = decay_term("HebbianBaseline eta_decay", decay, iz, "y2")
            terms.append(term)
            approx += notes
        if eta != self.eta:
            approx.append(f"eta = {self.eta:g} -> {eta:.6g} ({relative(eta, self.eta)}): scale {lit1} per x1*y1 unit")
        for name, got, want in (("tau_x", tx, self.tau_x), ("tau_z", tz, self.tau_z),
                                ("tau_z_square", t2, self._tau_square)):
            if got != want:
                approx.append(f"{name} = {want:g} -> {got} steps ({relative(got, want)})")
        if self.z_square == "exact":
            approx.append(f"z^2 -> a post trace y2 of tau {t2} steps: exact for isolated spikes, short by the cross "
                          "terms 2 z_a z_b of spikes closer than tau_z")
        approx += [f"traces saturate at 127 units = {127 / ix:.3g} (x), {127 / iz:.3g} (z) spikes' worth", STOCHASTIC]
        prog = LearningProgram(dw=" ".join(terms), x1_impulse=ix, x1_tau=tx, y1_impulse=iz, y1_tau=tz, y2_impulse=iz,
                               y2_tau=t2, t_epoch=1, rng_seed=units.rng_seed)
        approx += truncation_notes(prog, weight_scale)
        chip = ChipRule(prog, float_update="dF = eta x z - eta_decay F z^2; x, z: pre/post spike traces (tau_x, tau_z "
                        "steps, +1 per spike)", approximations=tuple(approx))
        return chip, replace(self, eta=eta, eta_decay=real_decay, tau_x=float(tx), tau_z=float(tz), z_square="trace",
                             tau_z_square=float(t2), x_impulse=ix, z_impulse=iz)


@dataclass(frozen=True)
class DendriticBalance(LearningRule):
    """The balance rule ``dW = -eta z u`` per step (eta: float weight units per unit trace x voltage);
    tau_pre, tau_post in steps; ``baseline``: the error neuron's trace at zero residual (error-neuron form);
    ``decay``: the paper's weight decay lambda W, gated by the post trace y (error-neuron form:
    ``- decay W y`` per step; it bounds W where the rectified residual would only push it one way);
    ``u_full``: the dendritic voltage sent as a full-scale third factor (dendrite form); ``t_epoch`` (error-neuron
    form): the program changes the weights once every t_epoch steps, by t_epoch times the rule's change at that step
    (a sample of the per-step rule; Lava's floor of each product, up to one unit of the literal's 2^e, then costs
    1/t_epoch as much per step). ``float_step`` is the per-step rule; the float twin samples as the chip does."""

    name = "dendritic-balance"

    eta: float = param(1e-3, "weight units per unit trace and voltage", gt=0)
    tau_pre: float = param(10.0, "steps", gt=0)
    tau_post: float = param(10.0, "steps", gt=0)
    baseline: float = param(1.0, "trace units at 1 per spike", ge=0)
    decay: float = param(0.0, "per unit post trace and step", ge=0)
    form: str = param("error-neuron", choices=FORMS)
    connection: str = param("balance", choices=CONNECTIONS)
    u_full: float = param(1.0, "voltage units", gt=0)
    pre_impulse: float = param(16.0, IMPULSE, gt=0, le=255)
    post_impulse: float = param(16.0, IMPULSE, gt=0, le=255)
    t_epoch: int = param(1, "steps per learning epoch (an integer)", ge=T_EPOCH_RANGE[0], le=T_EPOCH_RANGE[1])

    def check(self):
        if self.t_epoch != int(self.t_epoch):
            raise RuleError(f"rule '{self.name}': parameter 't_epoch' = {self.t_epoch:g}; allowed an integer "
                            f"{T_EPOCH_RANGE[0]}..{T_EPOCH_RANGE[1]} steps")
        if self.form == "dendrite" and self.t_epoch != 1:
            raise RuleError(f"rule '{self.name}': parameter 't_epoch' = {self.t_epoch:g} needs form = 'error-neuron' "
                            "(the dendrite's voltage is sent every step)")
        if self.form == "dendrite" and self.connection != "balance":
            raise RuleError(f"rule '{self.name}': parameter 'connection' = 'feedforward' needs form = 'error-neuron'")
        if self.form == "dendrite" and self.decay:
            raise RuleError(f"rule '{self.name}': parameter 'decay' = {self.decay:g} needs form = 'error-neuron'")

    def init_state(self, n_pre: int, n_post: int, batch: int = 1) -> PairTraces:
        return PairTraces.zeros(n_pre, n_post, batch)

    def float_step(self, state: PairTraces, w, step: StepInput, dt: float | None = None):
        """``step``: ``pre`` spikes and ``post`` spikes (error-neuron form) or ``third``, the dendritic voltage
        u (dendrite form). Returns (traces, dW averaged over the batch)."""
        x = math.exp(-1.0 / self.tau_pre) * state.pre + step.pre
        if self.form == "dendrite":
            self._require(step, "third")
            return PairTraces(x, state.post), -self.eta * step.third.T @ x / len(x)
        self._require(step, "post")
        e = math.exp(-1.0 / self.tau_post) * state.post + step.post
        decay = self.decay * w * e.mean(0)[:, None]
        if self.connection == "balance":
            return PairTraces(x, e), -self.eta * (e - self.baseline).T @ x / len(x) - decay
        return PairTraces(x, e), self.eta * e.T @ (x - self.baseline) / len(x) - decay

    def pair_form(self) -> PairForm:
        """This rule as the float twin's two-factor form (error-neuron form only)."""
        if self.form != "error-neuron":
            raise RuleError(f"rule '{self.name}': parameter 'form' = {self.form!r} reads a dendritic voltage; only "
                            "form = 'error-neuron' has a pair-trace form")
        decay = (self.decay, self.tau_pre, self.tau_post, self.tau_post if self.decay else 0.0)
        if self.connection == "balance":
            return PairForm(-self.eta, 0.0, self.baseline, *decay, every=int(self.t_epoch))
        return PairForm(self.eta, self.baseline, 0.0, *decay, every=int(self.t_epoch))

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The program for ``w_int = units.weight * W`` and traces of pre/post_impulse units per spike."""
        return self._chip(units)[0]

    def realized(self, units: ChipUnits) -> "DendriticBalance":
        """The float rule the program implements (eta, baseline, taus as rounded on chip)."""
        return self._chip(units)[1]

    def third_factors(self, u, units: ChipUnits) -> np.ndarray:
        """Dendrite form: what the dendrite sends each step (steps, 3, n_post): y2 = u+, y3 = u- at full scale Y."""
        full = self._chip(units)[2]
        u = np.asarray(u, float) / self.u_full
        y = np.zeros((len(u), 3, u.shape[1]), np.int64)
        y[:, 1], y[:, 2] = np.rint(np.clip(u, 0, 1) * full), np.rint(np.clip(-u, 0, 1) * full)
        return y

    def _chip(self, units: ChipUnits):
        weight_scale = units.weight
        ix = trace_impulse("DendriticBalance pre_impulse", self.pre_impulse)
        tx = trace_tau("DendriticBalance tau_pre", self.tau_pre)
        approx = [] if tx == self.tau_pre else [f"tau_pre = {self.tau_pre:g} -> {tx} steps "
                                                 f"({relative(tx, self.tau_pre)})"]
        if self.form == "dendrite":
            full, lit, s = fit_third_factor("DendriticBalance eta", self.eta,
                                             weight_scale * self.eta * self.u_full / ix,
                                             ("x1", "y2"))
            eta = s * ix * full / (weight_scale * self.u_full)
            if eta != self.eta:
                approx.append(f"eta = {self.eta:g} -> {eta:.6g} ({relative(eta, self.eta)}): "
                              f"scale {lit} per x1*y2 unit")
            approx += [f"u reaches the chip as round(u / {self.u_full:g} * {full}) on y2 (u > 0) and y3 (u < 0), "
                       f"clipped at |u| = {self.u_full:g} (resolution {self.u_full / full:.3g})", STOCHASTIC]
            prog = LearningProgram(dw=f"-{lit} * u0 * x1 * y2 + {lit} * u0 * x1 * y3", x1_impulse=ix, x1_tau=tx,
                                   t_epoch=1, rng_seed=units.rng_seed, three_factor=True)
            approx += truncation_notes(prog, weight_scale)
            chip = ChipRule(prog, float_update="dW = -eta z u; z: pre spike trace (tau_pre steps, +1 per spike), "
                            "u: the dendrite's voltage",
                            third_factors={"y2": f"round(max(u, 0) / {self.u_full:g} * {full})",
                                           "y3": f"round(max(-u, 0) / {self.u_full:g} * {full})"},
                            delivered_by="post neuron", approximations=tuple(approx))
            return chip, replace(self, eta=eta, tau_pre=float(tx), pre_impulse=ix), full
        iy = trace_impulse("DendriticBalance post_impulse", self.post_impulse)
        ty = trace_tau("DendriticBalance tau_post", self.tau_post)
        if ty != self.tau_post:
            approx.append(f"tau_post = {self.tau_post:g} -> {ty} steps ({relative(ty, self.tau_post)})")
        balance = self.connection == "balance"
        every = int(self.t_epoch)
        lit, s = product_literal("DendriticBalance eta", self.eta, every * weight_scale * self.eta / (ix * iy),
                                 ("x1", "y1"))
        eta = s * ix * iy / (weight_scale * every)
        if eta != self.eta:
            approx.append(f"eta = {self.eta:g} -> {eta:.6g} ({relative(eta, self.eta)}): scale {lit} per x1*y1 unit")
        imp_e = iy if balance else ix          # the error neuron's trace: post (balance) or pre (feedforward)
        c = round(self.baseline * imp_e)
        if c > 127:
            raise RuleError(f"DendriticBalance: baseline = {self.baseline:g} is {self.baseline * imp_e:g} trace units; "
                            "allowed <= 127 (7-bit trace): lower it or the error neuron's impulse")
        if c != self.baseline * imp_e:
            approx.append(f"baseline = {self.baseline:g} -> {c / imp_e:.6g} ({c} trace units)")
        err = "y1" if balance else "x1"
        e = f"({err} - {c})" if c else err
        dw = f"-{lit} * u0 * x1 * {e}" if balance else f"{lit} * u0 * {e} * y1"
        decay = 0.0
        if self.decay:
            term, decay, notes = decay_term("DendriticBalance decay", self.decay, iy, "y1", every)
            dw, approx = f"{dw} {term}", approx + notes
        if every > 1:
            approx.append(f"weights change once every {every} steps (t_epoch), by {every} times the rule's change "
                          "with the traces of that step: a sample of the per-step rule, close while the traces change "
                          f"little over {every} steps")
        approx += [f"the residual u is the error neuron's trace minus its baseline ({c} units): linear only while "
                   "its rate follows its input", "traces saturate at 127 units", STOCHASTIC]
        prog = LearningProgram(dw=dw, x1_impulse=ix, x1_tau=tx, y1_impulse=iy, y1_tau=ty, t_epoch=every,
                               rng_seed=units.rng_seed)
        words = ("dW = -eta z (e - baseline) - decay W e; z: pre trace, e: the error neuron's (post) trace" if balance
                 else "dF = eta (e - baseline) z - decay F z; e: the error neuron's (pre) trace, z: post trace")
        approx += truncation_notes(prog, weight_scale)
        chip = ChipRule(prog, float_update=words + " (tau_pre, tau_post steps, +1 per spike)",
                        approximations=tuple(approx))
        return chip, replace(self, eta=eta, tau_pre=float(tx), tau_post=float(ty), baseline=c / imp_e, decay=decay,
                             pre_impulse=ix, post_impulse=iy), None
