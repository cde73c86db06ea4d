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

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.ir.program import TAU_RANGE, ChipRule, LearningProgram
from neurolearn.rules.engine_numbers import (TRACE_MAX, exp_trace, fit_third_factor, relative, trace_impulse, trace_tau,
                                       truncation_notes)

Q_FORMS = ("sigmoid", "chip")


def q_sigmoid(x, threshold: float, half_width: float) -> np.ndarray:
    """The eLife code's scaled rectified sigmoid: slope 2 / half_width, rescaled to q(0) = 0, q(1) = 1."""
    f = lambda v: 1.0 / (1.0 + np.exp(-2.0 / half_width * (v - threshold)))  # noqa: E731
    return (f(np.clip(x, 0.0, 1.0)) - f(0.0)) / (f(1.0) - f(0.0))


def eligibility_trace(pre: np.ndarray, dt: float, tau_et: float, et_per_spike: float, clip: float = 1.0):
    """ET (steps, n_pre) from presynaptic spikes (or rates per step) (steps, n_pre); dt, tau_et in s."""
    return exp_trace(pre, tau_et / dt, et_per_spike, clip)


def instructive_signal(plateau: np.ndarray, dt: float, tau_is: float) -> np.ndarray:
    """IS (steps, n_post): the plateau (steps, n_post, 0/1) filtered with tau_is (s), peak 1 per neuron."""
    raw = exp_trace(plateau, tau_is / dt)
    peak = raw.max(axis=0, initial=0.0)
    return raw / np.where(peak > 0, peak, 1.0)


def _positive(cls: str, **values) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{cls}: {name} = {v!r}; allowed > 0 (finite)")


def _check_dt(cls: str, tau_et: float, dt: float) -> int:
    """Lava's x tau (steps) for tau_et at dt; RuleError naming tau_et if it does not fit 8 bits."""
    if not (math.isfinite(dt) and dt > 0):
        raise RuleError(f"{cls}: dt = {dt}; allowed > 0 (s per step)")
    if tau_et / dt > TAU_RANGE[1] + 0.5:
        raise RuleError(f"{cls}: tau_et = {tau_et:g} s is {tau_et / dt:.0f} steps at dt = {dt:g} s; Lava's trace tau "
                        f"is 8-bit (<= {TAU_RANGE[1]} steps): run the rule at dt >= {tau_et / (TAU_RANGE[1] + 0.5):.4g} "
                        "s or shorten tau_et")
    return trace_tau(f"{cls} tau_et / dt", tau_et / dt)


@dataclass(frozen=True)
class _Chip:
    rule: ChipRule
    realized: object
    y_full: dict            # third factor name -> (full scale, function of IS as text)
    theta_is: float | None


@dataclass(frozen=True)
class SimpleBTSP:
    """``dW/dt = lr * ET * IS`` (lr: float weight units per s at ET = IS = 1); W in [0, w_max].
    tau_et, tau_is: s; et_per_spike: ET units per presynaptic spike (ET clips at 1)."""

    lr: float = 1.0
    tau_et: float = 1.664
    tau_is: float = 0.437
    et_per_spike: float = 0.05
    w_max: float = 1.0

    def __post_init__(self):
        _positive("SimpleBTSP", lr=self.lr, tau_et=self.tau_et, tau_is=self.tau_is, w_max=self.w_max)
        if not 0 < self.et_per_spike <= 1:
            raise ValueError(f"SimpleBTSP: et_per_spike = {self.et_per_spike}; allowed (0, 1]")

    def rate(self, w, et, is_, et_gate=None):
        """dW/dt (n_post, n_pre) for ET (n_pre,), IS (n_post,)."""
        return self.lr * np.outer(is_, et)

    def run(self, pre, plateau, dt: float, w0, record: bool = False):
        """Euler-integrate W from w0 (n_post, n_pre) over pre spikes (steps, n_pre) and plateau (steps, n_post).
        Returns the final W, or every step's (steps, n_post, n_pre) if ``record``."""
        return _integrate(self, pre, plateau, dt, w0, record)

    def chip_rule(self, dt: float, weight_scale: float | None = None, rng_seed: int = 0) -> ChipRule:
        """``dw = S * u0 * x1 * y1`` for a step of dt s and ``w_int = weight_scale * W`` (default 255 / w_max)."""
        return self._chip(dt, weight_scale, rng_seed).rule

    def realized(self, dt: float, weight_scale: float | None = None) -> "SimpleBTSP":
        """The float rule the program implements (lr, tau_et, et_per_spike as rounded on chip)."""
        return self._chip(dt, weight_scale, 0).realized

    def third_factors(self, plateau, dt: float, weight_scale: float | None = None) -> np.ndarray:
        """What the input sends each step (steps, 3, n_post), integers 0..127: y1 = round(IS * Y1)."""
        return _third_factors(self._chip(dt, weight_scale, 0), instructive_signal(plateau, dt, self.tau_is))

    def _chip(self, dt, weight_scale, rng_seed) -> _Chip:
        ws, w_int = _weight_scale("SimpleBTSP", self.w_max, weight_scale)
        tau, imp, approx = _et_trace("SimpleBTSP", self.tau_et, self.et_per_spike, dt)
        full, lit, got = fit_third_factor("SimpleBTSP lr", self.lr, ws * self.lr * dt / TRACE_MAX, ("x1", "y1"))
        lr = got * full * TRACE_MAX / (ws * dt)
        if lr != self.lr:
            approx.append(f"lr = {self.lr:g} -> {lr:.6g} /s ({relative(lr, self.lr)}): scale {lit} per x1*y1 unit")
        approx += _common_approx(full, w_int, ws, self.w_max)
        prog = LearningProgram(dw=f"{lit} * u0 * x1 * y1", x1_impulse=imp, x1_tau=tau, t_epoch=1, rng_seed=rng_seed,
                               three_factor=True)
        approx += truncation_notes(prog, ws)
        rule = ChipRule(prog, float_update="dW/dt = lr * ET * IS; ET: pre trace (tau_et, +et_per_spike, clip 1); "
                        "IS: plateau filtered with tau_is, peak 1", third_factors={"y1": f"round(IS * {full})"},
                        delivered_by="input", approximations=tuple(approx))
        real = replace(self, lr=lr, tau_et=tau * dt, et_per_spike=imp / TRACE_MAX, w_max=w_int / ws)
        return _Chip(rule, real, {"y1": full}, None)


@dataclass(frozen=True)
class BTSP:
    """eLife's weight-dependent BTSP (WD_D, network parameter set): rates k_pot, k_dep per s, W in [0, w_max];
    q_pot, q_dep scaled rectified sigmoids (threshold, half width on ET*IS). ``q="chip"``: the separable form
    the learning engine runs (theta_et, theta_is: the ramps of q_dep's two gates)."""

    k_pot: float = 1.1097
    k_dep: float = 0.4249
    w_max: float = 4.68
    tau_et: float = 1.664
    tau_is: float = 0.437
    et_per_spike: float = 0.05
    pot_threshold: float = 0.415
    pot_half_width: float = 0.454
    dep_threshold: float = 0.0262
    dep_half_width: float = 0.0998
    theta_et: float = 0.28
    theta_is: float = 0.28
    q: str = "sigmoid"

    def __post_init__(self):
        _positive("BTSP", k_pot=self.k_pot, k_dep=self.k_dep, w_max=self.w_max, tau_et=self.tau_et,
                  tau_is=self.tau_is, pot_half_width=self.pot_half_width, dep_half_width=self.dep_half_width)
        for name in ("et_per_spike", "theta_et", "theta_is", "pot_threshold", "dep_threshold"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"BTSP: {name} = {getattr(self, name)}; allowed (0, 1]")
        if self.q not in Q_FORMS:
            raise ValueError(f"BTSP: q = {self.q!r}; allowed {', '.join(Q_FORMS)}")

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

    def run(self, pre, plateau, dt: float, w0, record: bool = False):
        """Euler-integrate W from w0 (n_post, n_pre) over pre spikes (steps, n_pre) and plateau (steps, n_post).
        Returns the final W, or every step's (steps, n_post, n_pre) if ``record``."""
        return _integrate(self, pre, plateau, dt, w0, record)

    def chip_rule(self, dt: float, weight_scale: float | None = None, rng_seed: int = 0) -> ChipRule:
        """``dw = -Sp*u0*(w - Wm)*x1*y1 - Sd*u0*w*x2*y2`` for a step of dt s and ``w_int = weight_scale * W``
        (default 255 / w_max, so Wm = 255)."""
        return self._chip(dt, weight_scale, rng_seed).rule

    def realized(self, dt: float, weight_scale: float | None = None) -> "BTSP":
        """The float rule the program implements: ``q="chip"``, constants as rounded on chip."""
        return self._chip(dt, weight_scale, 0).realized

    def third_factors(self, plateau, dt: float, weight_scale: float | None = None) -> np.ndarray:
        """What the input sends each step (steps, 3, n_post), integers 0..127: y1 = round(IS * Y1),
        y2 = round(min(1, IS / theta_is) * Y2)."""
        return _third_factors(self._chip(dt, weight_scale, 0), instructive_signal(plateau, dt, self.tau_is))

    def _chip(self, dt, weight_scale, rng_seed) -> _Chip:
        ws, w_int = _weight_scale("BTSP", self.w_max, weight_scale)
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
                               rng_seed=rng_seed, three_factor=True)
        approx += truncation_notes(prog, ws)
        rule = ChipRule(prog, float_update="dW/dt = (w_max - W) k_pot q_pot(ET*IS) - W k_dep q_dep(ET*IS); ET: pre trace "
                        "(tau_et, +et_per_spike, clip 1); IS: plateau filtered with tau_is, peak 1",
                        third_factors={"y1": f"round(IS * {f1})", "y2": f"round(min(1, IS / {self.theta_is:g}) * {f2})"},
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


def _integrate(rule, pre, plateau, dt, w0, record):
    pre, plateau = np.asarray(pre, float), np.asarray(plateau, float)
    et = eligibility_trace(pre, dt, rule.tau_et, rule.et_per_spike)
    is_ = instructive_signal(plateau, dt, rule.tau_is)
    gate = (eligibility_trace(pre, dt, rule.tau_et, rule.et_per_spike / rule.theta_et)
            if getattr(rule, "q", None) == "chip" else [None] * len(pre))
    w = np.array(w0, dtype=float)
    out = []
    for k in range(len(pre)):
        w = np.clip(w + dt * rule.rate(w, et[k], is_[k], gate[k]), 0.0, rule.w_max)
        if record:
            out.append(w)
    return np.stack(out) if record else w


def _weight_scale(cls: str, w_max: float, weight_scale):
    ws = 255.0 / w_max if weight_scale is None else weight_scale
    w_int = round(ws * w_max) if math.isfinite(ws) and ws > 0 else -1
    if not 0 < w_int <= 255:
        raise RuleError(f"{cls}: weight_scale = {weight_scale}; w_max * weight_scale = {ws * w_max:g} must be in "
                        "0.5..255 (8-bit excitatory weights)")
    return ws, w_int


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
