"""Behavioral-timescale synaptic plasticity (Milstein et al. 2021 eLife; Galloni et al. 2024 PNAS).

ET (eligibility trace, per presynaptic neuron): ``ET = min(1, exp(-dt/tau_et) ET + et_per_spike * pre)``;
IS (instructive signal, per postsynaptic neuron): the plateau (0/1 per step) filtered with ``tau_is`` and
normalised to a peak of 1 (as the eLife code does). Two rules, per step of ``dt`` seconds:

* :class:`SimpleBTSP`: ``dW/dt = lr * ET * IS``, W clipped to [0, w_max];
* :class:`BTSP` (eLife "WD_D"): ``dW/dt = (w_max - W) k_pot q_pot(ET*IS) - W k_dep q_dep(ET*IS)``,
  q the scaled rectified sigmoids; ``q="chip"`` is the form the learning engine runs:
  q_pot(x) = x and q_dep(ET*IS) = min(1, ET/theta_et) * min(1, IS/theta_is).

On chip (``Loihi3FLearningRule``, ``t_epoch`` 1, u0 every step): x1 = 127 ET, x2 = 127 min(1, ET/theta_et)
(a second, clipped pre trace), and the plateau arrives from the input as y1 = IS and y2 = min(1, IS/theta_is)
at full scales chosen so that the product scales are Lava literals (see :meth:`BTSP.chip_rule`).
Lava's trace tau is 8-bit (<= 255 steps): tau_et = 1.664 s needs dt >= 6.53 ms; ``chip_rule`` refuses a
smaller dt with a RuleError naming tau_et (the eLife code itself integrates on 10 ms bins).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.ir.program import TAU_RANGE, ChipRule, LearningProgram
from neurolearn.rules.engine_numbers import (
    TRACE_MAX,
    exp_trace,
    fit_third_factor,
    relative,
    trace_impulse,
    trace_tau,
    truncation_notes,
)
from neurolearn.rules.plugin import ChipUnits, LearningRule, StepInput, param

Q_FORMS = ("sigmoid", "chip")


def q_sigmoid(x, threshold: float, half_width: float) -> np.ndarray:
    """The eLife code's scaled rectified sigmoid: slope 2 / half_width, rescaled to q(0) = 0, q(1) = 1."""
    f = lambda v: 1.0 / (1.0 + np.exp(-2.0 / half_width * (v - threshold)))  # noqa: E731
    return (f(np.clip(x, 0.0, 1.0)) - f(0.0)) / (f(1.0) - f(0.0))


def instructive_signal(plateau: np.ndarray, dt: float, tau_is: float) -> np.ndarray:
    """IS (steps, n_post): the plateau (steps, n_post, 0/1) filtered with tau_is (s), peak 1 per neuron."""
    raw = exp_trace(plateau, tau_is / dt)
    peak = raw.max(axis=0, initial=0.0)
    return raw / np.where(peak > 0, peak, 1.0)


def _check_dt(cls: str, tau_et: float, dt: float | None) -> int:
    """Lava's x tau (steps) for tau_et at dt; RuleError naming tau_et if it does not fit 8 bits."""
    if dt is None:
        raise RuleError(f"{cls}: its time constants are in s: the chip units need dt (s per step)")
    if tau_et / dt > TAU_RANGE[1] + 0.5:
        raise RuleError(f"{cls}: tau_et = {tau_et:g} s is {tau_et / dt:.0f} steps at dt = {dt:g} s; Lava's trace tau "
                        f"is 8-bit (<= {TAU_RANGE[1]} steps): run the rule "
                        f"at dt >= {tau_et / (TAU_RANGE[1] + 0.5):.4g} "
                        "s or shorten tau_et")
    return trace_tau(f"{cls} tau_et / dt", tau_et / dt)


@dataclass(frozen=True)
class _Chip:
    rule: ChipRule
    realized: object
    y_full: dict            # third factor name -> (full scale, function of IS as text)
    theta_is: float | None


class BtspState(NamedTuple):
    """ET (batch, n_pre) and, for ``q="chip"``, q_dep's ET gate min(1, ET / theta_et) as its own trace."""

    et: Any
    gate: Any = None


class _Btsp(LearningRule):
    """What both BTSP rules share: ET, the float step and the plateau's third factors."""

    def init_state(self, n_pre: int, n_post: int, batch: int = 1) -> BtspState:
        gate = np.zeros((batch, n_pre)) if getattr(self, "q", None) == "chip" else None
        return BtspState(np.zeros((batch, n_pre)), gate)

    def float_step(self, state: BtspState, w, step: StepInput, dt: float | None = None):
        """``step``: ``pre`` spikes and ``third``, the instructive signal IS (:func:`instructive_signal`);
        ``dt``: s per step. W (n_post, n_pre) stays in [0, w_max]. Returns (state, dW averaged over the batch)."""
        self._require(step, "third")
        if dt is None:
            raise RuleError(f"rule '{self.name}': float_step needs dt (s per step)")
        keep = math.exp(-1.0 / (self.tau_et / dt))
        et = np.minimum(keep * state.et + self.et_per_spike * step.pre, 1.0)
        gate = None if state.gate is None else np.minimum(
            keep * state.gate + self.et_per_spike / self.theta_et * step.pre, 1.0)
        rates = [self.rate(w, et[b], step.third[b], None if gate is None else gate[b]) for b in range(len(et))]
        return BtspState(et, gate), np.clip(w + dt * np.mean(rates, axis=0), 0.0, self.w_max) - w

    def run(self, pre, plateau, dt: float, w0, record: bool = False):
        """W from w0 (n_post, n_pre) over pre spikes (steps, n_pre) and plateau (steps, n_post), dt s per step:
        the final W, or every step's (steps, n_post, n_pre) if ``record``."""
        return self.float_run(pre, third=instructive_signal(plateau, dt, self.tau_is), w0=w0, dt=dt, record=record)

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The program for a step of ``units.dt`` s and ``w_int = units.weight * W`` (w_max * units.weight
        <= 255); its third factors come from the input (:meth:`third_factors`)."""
        return self._chip(units).rule

    def realized(self, units: ChipUnits):
        """The float rule the program implements (constants as rounded on chip; BTSP: ``q="chip"``)."""
        return self._chip(units).realized

    def third_factors(self, plateau, units: ChipUnits) -> np.ndarray:
        """What the input sends each step (steps, 3, n_post), integers 0..127: y1 = round(IS * Y1) (and BTSP's
        y2 = round(min(1, IS / theta_is) * Y2)) for the plateau (steps, n_post)."""
        return _third_factors(self._chip(units), instructive_signal(plateau, units.dt, self.tau_is))


@dataclass(frozen=True)
class SimpleBTSP(_Btsp):
    """``dW/dt = lr * ET * IS`` (lr: float weight units per s at ET = IS = 1); W in [0, w_max].
    tau_et, tau_is: s; et_per_spike: ET units per presynaptic spike (ET clips at 1)."""

    name = "btsp-simple"

    lr: float = param(1.0, "weight units per s", gt=0)
    tau_et: float = param(1.664, "s", gt=0)
    tau_is: float = param(0.437, "s", gt=0)
    et_per_spike: float = param(0.05, gt=0, le=1)
    w_max: float = param(1.0, "weight units", gt=0)

    def rate(self, w, et, is_, et_gate=None):
        """dW/dt (n_post, n_pre) for ET (n_pre,), IS (n_post,)."""
        return self.lr * np.outer(is_, et)

    def _chip(self, units: ChipUnits) -> _Chip:
        dt = units.dt
        ws = units.weight
        w_int = _w_max_int("SimpleBTSP", self.w_max, ws)
        tau, imp, approx = _et_trace("SimpleBTSP", self.tau_et, self.et_per_spike, dt)
        full, lit, got = fit_third_factor("SimpleBTSP lr", self.lr, ws * self.lr * dt / TRACE_MAX, ("x1", "y1"))
        lr = got * full * TRACE_MAX / (ws * dt)
        if lr != self.lr:
            approx.append(f"lr = {self.lr:g} -> {lr:.6g} /s ({relative(lr, self.lr)}): scale {lit} per x1*y1 unit")
        approx += _common_approx(full, w_int, ws, self.w_max)
        prog = LearningProgram(dw=f"{lit} * u0 * x1 * y1", x1_impulse=imp, x1_tau=tau, t_epoch=1,
                               rng_seed=units.rng_seed, three_factor=True)
        approx += truncation_notes(prog, ws)
        rule = ChipRule(prog, float_update="dW/dt = lr * ET * IS; ET: pre trace (tau_et, +et_per_spike, clip 1); "
                        "IS: plateau filtered with tau_is, peak 1", third_factors={"y1": f"round(IS * {full})"},
                        delivered_by="input", approximations=tuple(approx))
        real = replace(self, lr=lr, tau_et=tau * dt, et_per_spike=imp / TRACE_MAX, w_max=w_int / ws)
        return _Chip(rule, real, {"y1": full}, None)


@dataclass(frozen=True)
class BTSP(_Btsp):
    """eLife's weight-dependent BTSP (WD_D, network parameter set): rates k_pot, k_dep per s, W in [0, w_max];
    q_pot, q_dep scaled rectified sigmoids (threshold, half width on ET*IS). ``q="chip"``: the separable form
    the learning engine runs (theta_et, theta_is: the ramps of q_dep's two gates)."""

    name = "btsp"

    k_pot: float = param(1.1097, "per s", gt=0)
    k_dep: float = param(0.4249, "per s", gt=0)
    w_max: float = param(4.68, "weight units", gt=0)
    tau_et: float = param(1.664, "s", gt=0)
    tau_is: float = param(0.437, "s", gt=0)
    et_per_spike: float = param(0.05, gt=0, le=1)
    pot_threshold: float = param(0.415, gt=0, le=1)
    pot_half_width: float = param(0.454, gt=0)
    dep_threshold: float = param(0.0262, gt=0, le=1)
    dep_half_width: float = param(0.0998, gt=0)
    theta_et: float = param(0.28, gt=0, le=1)
    theta_is: float = param(0.28, gt=0, le=1)
    q: str = param("sigmoid", choices=Q_FORMS)

    def q_pot(self, x):
        return x if self.q == "chip" else q_sigmoid(x, self.pot_threshold, self.pot_half_width)

    def q_dep(self, et, is_, et_gate=None):
        """q_dep(ET*IS) (n_post, n_pre); chip form: et_gate (the clipped ET/theta_et trace) x min(1, IS/theta_is)."""
        if self.q == "sigmoid":
            return q_sigmoid(np.outer(is_, et), self.dep_threshold, self.dep_half_width)
        gate = np.minimum(1.0, et / self.theta_et) if et_gate is None else et_gate
        return np.outer(np.minimum(1.0, is_ / self.theta_is), gate)

    def rate(self, w, et, is_, et_gate=None):
        """dW/dt (n_post, n_pre) for W (n_post, n_pre), ET (n_pre,), IS (n_post,)."""
        return (self.w_max - w) * self.k_pot * self.q_pot(np.outer(is_, et)) - w * self.k_dep * self.q_dep(
            et, is_, et_gate)

    def _chip(self, units: ChipUnits) -> _Chip:
        dt = units.dt
        ws = units.weight
        w_int = _w_max_int("BTSP", self.w_max, ws)
        tau, imp, approx = _et_trace("BTSP", self.tau_et, self.et_per_spike, dt)
        gate_imp = trace_impulse("BTSP x2 impulse (127 * et_per_spike / theta_et)", imp / self.theta_et)
        f1, lit_p, s_p = fit_third_factor("BTSP k_pot", self.k_pot, self.k_pot * dt / TRACE_MAX, ("w", "x1", "y1"))
        f2, lit_d, s_d = fit_third_factor("BTSP k_dep", self.k_dep, self.k_dep * dt / TRACE_MAX, ("w", "x2", "y2"))
        k_pot, k_dep = s_p * f1 * TRACE_MAX / dt, s_d * f2 * TRACE_MAX / dt
        for name, got, lit, fac in (("k_pot", k_pot, lit_p, "(w - Wm)*x1*y1"), ("k_dep", k_dep, lit_d, "w*x2*y2")):
            if got != getattr(self, name):
                approx.append(f"{name} = {getattr(self, name):g} -> {got:.6g} /s ({relative(got, getattr(self, name))})"
                              f": scale {lit} per {fac} unit")
        if self.q == "sigmoid":
            approx += self._q_errors(dt)
        if gate_imp * self.theta_et != imp:
            approx.append(f"theta_et = {self.theta_et:g} -> {imp / gate_imp:.6g}: x2 impulse {gate_imp:g}")
        approx.append(f"q_dep's ET gate is its own pre trace x2 (impulse {gate_imp:g}, clipped at 127): "
                      "min(1, ET / theta_et) while ET < theta_et, then it saturates and decays from 1")
        approx += _common_approx(f1, w_int, ws, self.w_max, f2)
        prog = LearningProgram(dw=f"-{lit_p} * u0 * (w - {w_int}) * x1 * y1 - {lit_d} * u0 * w * x2 * y2",
                               x1_impulse=imp, x1_tau=tau, x2_impulse=gate_imp, x2_tau=tau, t_epoch=1,
                               rng_seed=units.rng_seed, three_factor=True)
        approx += truncation_notes(prog, ws)
        rule = ChipRule(prog, float_update="dW/dt = (w_max - W) k_pot q_pot(ET*IS) - W k_dep q_dep(ET*IS); "
                        "ET: pre trace "
                        "(tau_et, +et_per_spike, clip 1); IS: plateau filtered with tau_is, peak 1",
                        third_factors={"y1": f"round(IS * {f1})",
                                       "y2": f"round(min(1, IS / {self.theta_is:g}) * {f2})"},
                        delivered_by="input", approximations=tuple(approx))
        real = replace(self, k_pot=k_pot, k_dep=k_dep, w_max=w_int / ws, tau_et=tau * dt, et_per_spike=imp / TRACE_MAX,
                       theta_et=imp / gate_imp, q="chip")
        return _Chip(rule, real, {"y1": f1, "y2": f2}, self.theta_is)

    def _q_errors(self, dt: float) -> list[str]:
        """The chip's q in place of the sigmoids: pointwise errors on [0, 1] and on one induction lap."""
        x = np.linspace(0.0, 1.0, 201)
        e_pot = float(np.abs(q_sigmoid(x, self.pot_threshold, self.pot_half_width) - x).max())
        et, is_ = np.meshgrid(x, x)
        chip = replace(self, q="chip")
        e_dep = np.abs(q_sigmoid(et * is_, self.dep_threshold, self.dep_half_width)
                       - np.minimum(1, et / self.theta_et) * np.minimum(1, is_ / self.theta_is))
        offsets, want = induction_kernel(self, dt)
        got = induction_kernel(chip, dt)[1]
        rmse = float(np.sqrt(np.mean((got - want) ** 2)))
        return [f"q_pot(x) -> x: max |error| {e_pot:.3f} on [0, 1]",
                f"q_dep(ET*IS) -> min(1, ET/{self.theta_et:g}) * min(1, IS/{self.theta_is:g}): max |error| "
                f"{e_dep.max():.3f}, rms {np.sqrt(np.mean(e_dep ** 2)):.3f} on [0, 1]^2",
                f"induction kernel (one plateau, W0 = 1, inputs {offsets[0]:g}..{offsets[-1]:g} s from it): rms "
                f"error {rmse:.3f} = {100 * rmse / np.ptp(want):.1f}% of the kernel's range {np.ptp(want):.3f}"]


def induction_kernel(rule: BTSP | SimpleBTSP, dt: float, w0: float = 1.0, offsets=np.arange(-6.0, 6.01, 0.5),
                     sigma: float = 0.76, plateau_s: float = 0.3):
    """The reference's check, rate-based: one lap, Gaussian input rate fields (sigma s) centred at ``offsets``
    (s) from a plateau of ``plateau_s``; ET = filtered rate, peak 1 (pooled). Returns (offsets, dW)."""
    t = np.arange(-10.0, 10.0, dt)
    rate = np.exp(-0.5 * ((t[:, None] - offsets[None, :]) / sigma) ** 2)
    et = exp_trace(rate, rule.tau_et / dt)
    et /= et.max()
    is_ = instructive_signal(((t >= 0) & (t < plateau_s)).astype(float)[:, None], dt, rule.tau_is)
    w = np.full((1, len(offsets)), w0)
    for k in range(len(t)):
        w = np.clip(w + dt * rule.rate(w, et[k], is_[k]), 0.0, rule.w_max)
    return offsets, w[0] - w0


def _w_max_int(cls: str, w_max: float, ws: float) -> int:
    """w_max in integer weight units; RuleError unless it fits 8-bit excitatory weights."""
    w_int = round(ws * w_max)
    if not 0 < w_int <= 255:
        raise RuleError(f"{cls}: weight_scale = {ws:g}; w_max * weight_scale = {ws * w_max:g} must be in "
                        "0.5..255 (8-bit excitatory weights)")
    return w_int


def _et_trace(cls: str, tau_et: float, et_per_spike: float, dt: float):
    tau = _check_dt(cls, tau_et, dt)
    imp = trace_impulse(f"{cls} x1 impulse (127 * et_per_spike)", TRACE_MAX * et_per_spike)
    approx = []
    if abs(tau * dt - tau_et) > 1e-12 * tau_et:
        approx.append(f"tau_et = {tau_et:g} s -> {tau} steps of {dt:g} s = {tau * dt:.6g} s "
                      f"({relative(tau * dt, tau_et)})")
    if imp != TRACE_MAX * et_per_spike:
        approx.append(f"et_per_spike = {et_per_spike:g} -> {imp / TRACE_MAX:.6g}: x1 impulse {imp:g} "
                      f"({relative(imp / TRACE_MAX, et_per_spike)})")
    return tau, imp, approx


def _common_approx(f1, w_int, ws, w_max, f2=None) -> list[str]:
    out = [f"IS reaches the chip as round(IS * {f1}) on y1 (resolution 1/{f1})"]
    if f2 is not None:
        out.append(f"q_dep's IS gate reaches the chip as round(gate * {f2}) on y2 (resolution 1/{f2})")
    if w_int != ws * w_max:
        out.append(f"w_max = {w_max:g} -> {w_int / ws:.6g} ({w_int} weight units)")
    out.append("trace decays and weight changes round stochastically (unbiased; Lava's seeded streams)")
    return out


def _third_factors(chip: _Chip, is_: np.ndarray) -> np.ndarray:
    y = np.zeros((len(is_), 3, is_.shape[1]), np.int64)
    y[:, 0] = np.rint(is_ * chip.y_full["y1"])
    if "y2" in chip.y_full:
        y[:, 1] = np.rint(np.minimum(1.0, is_ / chip.theta_is) * chip.y_full["y2"])
    return y
