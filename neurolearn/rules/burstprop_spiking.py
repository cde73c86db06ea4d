"""Spiking burstprop (Payeur et al. 2021): ``dW_ij = eta (B_i - Pbar_i E_i) Etilde_j``.

``E_i``, ``B_i``: the postsynaptic neuron's events and bursts this step (0/1); ``Pbar_i = Bbar_i /
Ebar_i`` its running burst probability (moving averages of bursts and events over ``tau_avg``
steps, capped at 1); ``Etilde_j``: the presynaptic event trace (decays with ``tau_pre`` steps, +1
per event). Without a teacher, bursts occur at the average rate and the expected change is zero;
a teacher or feedback that raises a neuron's burst probability above ``Pbar`` potentiates its active
inputs, one that lowers it depresses them.

Homeostasis (the original's, optional): where a neuron's ``Ebar`` is below ``e_min`` each presynaptic
event adds ``eta (e_min - Ebar)``; where it is above ``e_max`` each of its events and bursts adds
``-(Ebar - e_max) / Ebar`` to the valence ``B - Pbar E``.

On chip (:meth:`BurstpropSpiking.chip_rule`), with ``t_epoch`` 1 and the post neuron a ``BurstLIF``
that sends its valence ``B - Pbar`` as ``y1 = 64 + 8 q`` (q: the valence in steps of 1/Q,
stochastically rounded, so unbiased)::

    dw = S * y0 * x1 * (y1 - 64)        x1: presynaptic event trace (impulse I per event, tau_pre)

y0 is the post event E, so the product is ``8 S I Q * E (B - Pbar) Etilde``: ``8 S I Q`` is eta in weight
units. ``x1 * (y1 - 64)`` is a multiple of 8, so the learning engine's hidden 3-bit shift drops
nothing (two products x1*y1 - x1*y2 would each be floored: a steady depression). Pbar is the
neuron's per-event moving average ``pbar += (B - pbar) 2**-k`` (k from ``tau_avg * rate_init``
events), where the float rule divides two moving averages; :func:`event_pbar` is that estimator in
float, and the float twin of the on-chip network uses it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from neurolearn.errors import RuleError
from neurolearn.rules.engine_numbers import EXPONENTS, MANTISSAS
from neurolearn.ir.program import IMPULSE_RANGE, TAU_RANGE, VALENCE_ZERO, ChipRule, LearningProgram, product_shift

LEVELS_MAX = 7        # y1 = 64 + 8 q stays a 7-bit trace for |q| <= 7
RATE_TOLERANCE = 0.1   # largest relative learning-rate error chip_rule accepts


@dataclass(frozen=True)
class BurstpropSpiking:
    """The rule's parameters (steps are simulation steps of dt)."""

    eta: float = 0.02          # learning rate per step (weight units per unit trace)
    tau_pre: float = 20.0      # presynaptic event trace time constant, steps
    tau_avg: float = 1500.0    # burst/event moving averages, steps
    p_init: float = 0.3        # initial Pbar
    rate_init: float = 0.02    # initial Ebar (events per step)
    e_min: float | None = None  # homeostasis: lowest acceptable Ebar (events per step), None: off
    e_max: float | None = None  # homeostasis: highest acceptable Ebar (events per step), None: off

    def __post_init__(self):
        for name in ("tau_pre", "tau_avg", "rate_init"):
            if not getattr(self, name) > 0:
                raise ValueError(f"BurstpropSpiking: {name} = {getattr(self, name)}; allowed > 0")
        if not 0 <= self.p_init <= 1:
            raise ValueError(f"BurstpropSpiking: p_init = {self.p_init}; allowed [0, 1]")
        if self.e_min is not None and self.e_max is not None and not self.e_min < self.e_max:
            raise ValueError(f"BurstpropSpiking: e_min = {self.e_min} must be below e_max = {self.e_max}")

    def to_dict(self) -> dict:
        """The parameters (options left off are omitted: HDF5 metadata cannot hold None)."""
        return {"rule": "burstprop-spiking", **{k: v for k, v in asdict(self).items() if v is not None}}

    def pbar_shift(self) -> int:
        """k of the on-chip Pbar average (2**-k per event): log2 of the events in ``tau_avg`` at ``rate_init``."""
        return int(min(15, max(0, round(math.log2(max(1.0, self.tau_avg * self.rate_init))))))

    def chip_rule(self, weight_units: float, levels: int | None = None, impulse: int | None = None,
                  rng_seed: int = 0) -> ChipRule:
        """The learning-engine program (see the module docstring). ``weight_units``: integer weight units
        per float weight unit of the learning connection (after its ``weight_exp``); ``levels``: Q, the
        valence steps per unit (1..7; default chosen); ``impulse``: x1 per presynaptic event (4..32;
        default chosen). Chosen so that a representable scale ``S = m * 2**e`` makes ``8 S I Q`` nearest
        to ``eta * weight_units``, preferring fine traces (large I and Q); the remaining learning-rate error
        is reported, and more than ``RATE_TOLERANCE`` is refused."""
        for name in ("e_min", "e_max"):
            if getattr(self, name) is not None:
                raise RuleError(f"burstprop-spiking: {name} = {getattr(self, name)}: the homeostasis term needs "
                                "each neuron's event rate Ebar, which no learning-engine trace holds; "
                                f"set {name}=None to compile this rule")
        tau = round(self.tau_pre)
        if not 1 <= tau <= TAU_RANGE[1] or not 1 <= (impulse or 1) <= IMPULSE_RANGE[1] or \
                not 1 <= (levels or 1) <= LEVELS_MAX:
            raise RuleError(f"burstprop-spiking: tau_pre = {self.tau_pre} steps (x1_tau 1..{TAU_RANGE[1]}), "
                            f"impulse = {impulse} (1..{IMPULSE_RANGE[1]}) or levels = {levels} (1..{LEVELS_MAX}) "
                            "outside the trace parameters")
        target = self.eta * weight_units   # wanted 8 * S * impulse * levels
        lits, scales = zip(*_representable())
        imps = np.array([impulse] if impulse else range(4, 33))[:, None, None]
        lvls = np.array([levels] if levels else range(1, LEVELS_MAX + 1))[None, :, None]
        err = np.abs(np.log(8 * np.array(scales)[None, None, :] * imps * lvls / target))
        # within 1 % of the best error, prefer the finest traces: both impulse (of 32) and levels (of 7) large
        fine = np.minimum(imps, lvls * 4) * np.ones_like(err)
        i, j, k = np.unravel_index(np.argmax(np.where(err <= err.min() + 0.01, fine, -1)), err.shape)
        lit, impulse, levels = lits[k], int(imps[i, 0, 0]), int(lvls[0, j, 0])
        if err[i, j, k] > math.log(1 + RATE_TOLERANCE):
            raise RuleError(f"burstprop-spiking: eta = {self.eta} at {weight_units:g} weight units per weight needs "
                            f"8 * S * impulse * levels = {target:.3g}; the nearest the learning engine reaches is off "
                            f"by more than {RATE_TOLERANCE:.0%}: change eta or the weight units (weight_exp, vth)")
        program = _program(lit, impulse, tau, rng_seed)
        got = 8 * program.products["dw"][0].scale * impulse * levels
        shift = self.pbar_shift()
        notes = (f"learning rate: eta = {self.eta} is {target:.4g} weight units per unit of E (B - Pbar) Etilde; "
                 f"S = {lit} (x1 impulse {impulse}, valence levels {levels}) gives {got:.4g}, "
                 f"{100 * (got / target - 1):+.2f} %",
                 f"valence B - Pbar sent in steps of 1/{levels}, stochastically rounded (unbiased; adds noise)",
                 f"tau_pre {self.tau_pre} steps -> x1_tau {tau}, with Lava's stochastically rounded decay",
                 f"Ebar/Bbar over tau_avg {self.tau_avg} steps -> Pbar per event, 2^-{shift} (~{2 ** shift} events)",
                 f"x1 saturates at 127: Etilde above {127 / impulse:.2f} events is clipped")
        return ChipRule(program, float_update="dW = eta (B - Pbar E) Etilde",
                        third_factors={"y1": f"64 + 8 q, q = (B - Pbar) * {levels} stochastically rounded"},
                        delivered_by="post neuron (BurstLIF s_out_y1)", approximations=notes,
                        post_neuron={"valence_levels": levels, "pbar_shift": shift})

    def init_state(self, n_pre: int, n_post: int, batch: int) -> "RuleState":
        return RuleState(trace=torch.zeros(batch, n_pre), ebar=torch.full((n_post,), self.rate_init),
                         bbar=torch.full((n_post,), self.rate_init * self.p_init))

    def observe(self, state: "RuleState", pre_events: Tensor, post_events: Tensor, post_bursts: Tensor) -> "RuleState":
        """Advance traces and moving averages by one step (batch rows are independent samples)."""
        k_pre, k_avg = math.exp(-1.0 / self.tau_pre), math.exp(-1.0 / self.tau_avg)
        return RuleState(trace=k_pre * state.trace + pre_events,
                         ebar=k_avg * state.ebar + (1 - k_avg) * post_events.mean(0),
                         bbar=k_avg * state.bbar + (1 - k_avg) * post_bursts.mean(0))

    def delta(self, state: "RuleState", post_events: Tensor, post_bursts: Tensor,
              pre_events: Tensor | None = None) -> Tensor:
        """The weight change (n_post, n_pre) for this step, averaged over the batch (``pre_events``:
        this step's presynaptic events, needed only for the ``e_min`` homeostasis)."""
        ebar = state.ebar.clamp_min(1e-6)
        valence = post_bursts - (state.bbar / ebar).clamp(max=1.0) * post_events
        if self.e_max is not None:
            valence = valence - ((state.ebar - self.e_max).clamp(min=0) / ebar) * (post_events + post_bursts)
        dw = valence.T @ state.trace
        if self.e_min is not None:
            if pre_events is None:
                raise ValueError("BurstpropSpiking.delta: e_min homeostasis needs pre_events")
            dw = dw + (self.e_min - state.ebar).clamp(min=0)[:, None] * pre_events.sum(0)[None, :]
        return self.eta * dw / post_events.shape[0]


@dataclass(frozen=True)
class RuleState:
    trace: Tensor  # (batch, n_pre) presynaptic event traces
    ebar: Tensor   # (n_post,) moving average of events per step
    bbar: Tensor   # (n_post,) moving average of bursts per step


def _program(lit: str, impulse: int, tau: int, rng_seed: int) -> LearningProgram:
    return LearningProgram(dw=f"{lit} * y0 * x1 * (y1 - {VALENCE_ZERO})", x1_impulse=impulse, x1_tau=tau,
                           t_epoch=1, rng_seed=rng_seed, three_factor=True)


def _representable() -> list[tuple[str, float]]:
    """Each scale literal ``m*2^e`` of the burstprop product, with its scale after the hidden shift."""
    shift = product_shift(("x1", "y1"))
    return [(f"{m}*2^{e}", m * 2.0 ** (e - shift)) for m in MANTISSAS for e in EXPONENTS]


def event_pbar(pbar, events, bursts, shift: int):
    """The on-chip Pbar in float (tensors or arrays): on each event, ``pbar += (burst - pbar) * 2**-shift``."""
    return pbar + events * (bursts - pbar) * 2.0 ** -shift
