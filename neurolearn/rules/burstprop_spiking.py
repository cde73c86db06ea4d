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

The on-chip classification form (``valence="expected"``, ``pbar="fixed"``, ``rate_target``): the neuron
sends its expected burst minus a fixed Pbar, ``p(v_d) - Pbar``, plus a homeostasis term ``homeo_gain
(rate_target - Ebar)`` (Ebar its own event rate over ``tau_rate`` steps; below the target scaled by ``rate_target
/ Ebar``, at most ``homeo_cap``), and nothing where that is smaller than ``dead_zone``: all computed by the
neuron (:mod:`neurolearn.dynamics.burst_neuron`), so its float form is the float twin's neuron.

On chip (:meth:`BurstpropSpiking.chip_rule`), with ``t_epoch`` 1 and the post neuron a ``BurstLIF``
that sends its valence ``B - Pbar`` as ``y1 = 64 + 8 q`` (q: the valence in steps of 1/Q,
stochastically rounded, so unbiased)::

    dw = S * y0 * x1 * (y1 - 64)        x1: presynaptic event trace (impulse I per event, tau_pre)

y0 is the post event E, so the product is ``8 S I Q * E (B - Pbar) Etilde``: ``8 S I Q`` is eta in weight
units. ``x1 * (y1 - 64)`` is a multiple of 8, so the learning engine's hidden 3-bit shift drops
nothing (two products x1*y1 - x1*y2 would each be floored: a steady depression). Pbar is the
neuron's per-event moving average ``pbar += (B - pbar) 2**-k`` (k from ``tau_avg * rate_init``
events), where the float rule divides two moving averages; the float twin of the on-chip network gives
:meth:`BurstpropSpiking.float_step` the neurons' Pbar in place of its own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from neurolearn.errors import RuleError
from neurolearn.ir.plan import HALVING_RANGE, HALVINGS_MAX, PBAR_ONE
from neurolearn.ir.program import VALENCE_ZERO, ChipRule, LearningProgram, product_shift
from neurolearn.rules.engine_numbers import EXPONENTS, MANTISSAS, trace_tau
from neurolearn.rules.plugin import ChipUnits, LearningRule, StepInput, param

LEVELS_MAX = 7        # y1 = 64 + 8 q stays a 7-bit trace for |q| <= 7
RATE_TOLERANCE = 0.1   # largest relative learning-rate error chip_rule accepts


class BurstpropState(NamedTuple):
    """The float rule's state: arrays (numpy, or torch tensors in host-side training)."""

    trace: Any  # (batch, n_pre) presynaptic event traces
    ebar: Any   # (n_post,) moving average of events per step
    bbar: Any   # (n_post,) moving average of bursts per step


@dataclass(frozen=True)
class BurstpropSpiking(LearningRule):
    """The rule's parameters (steps are simulation steps of dt)."""

    name = "burstprop-spiking"

    eta: float = param(0.02, "weight units per unit trace", gt=0)              # learning rate per step
    tau_pre: float = param(20.0, "steps", gt=0)                                # presynaptic event trace
    tau_avg: float = param(1500.0, "steps", gt=0)                              # burst/event moving averages
    p_init: float = param(0.3, ge=0, le=1)                                     # initial Pbar
    rate_init: float = param(0.02, "events per step", gt=0, le=1)              # initial Ebar
    e_min: float | None = param(None, "events per step", ge=0, le=1, optional=True)  # homeostasis floor
    e_max: float | None = param(None, "events per step", ge=0, le=1, optional=True)  # homeostasis ceiling
    valence: str = param("burst", choices=("burst", "expected"))   # B - Pbar, or p(v_d) - Pbar (on chip)
    pbar: str = param("average", choices=("average", "fixed"))     # Pbar: per-event average, or fixed at p(0)
    rate_target: float | None = param(None, "events per step", gt=0, lt=1, optional=True)  # in-valence homeostasis
    homeo_gain: float = param(1.0, "valence per event per step", ge=0, le=255)
    homeo_cap: float = param(1.0, ge=1, le=128)    # below the target: gain times min(target / Ebar, cap)
    tau_rate: float = param(1024.0, "steps", ge=1, le=32768)   # Ebar's average
    dead_zone: float = param(0.0, ge=0, lt=1)      # valences of smaller magnitude are sent as 0
    valence_halving: int = param(0, "steps", ge=0, le=HALVING_RANGE[1])   # the valence halves this often (0: never)

    def check(self):
        if self.valence_halving != int(self.valence_halving):
            raise RuleError(f"rule '{self.name}': parameter 'valence_halving' = {self.valence_halving}; allowed "
                            f"whole steps 0..{HALVING_RANGE[1]}")
        if self.e_min is not None and self.e_max is not None and not self.e_min < self.e_max:
            raise RuleError(f"rule '{self.name}': parameter 'e_min' = {self.e_min} must be below e_max = "
                            f"{self.e_max}")

    def pbar_shift(self) -> int:
        """k of the on-chip Pbar average (2**-k per event): log2 of the events in ``tau_avg`` at ``rate_init``."""
        return int(min(15, max(0, round(math.log2(max(1.0, self.tau_avg * self.rate_init))))))

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The learning-engine program (see the module docstring) for ``units.weight`` integer weight units
        per float weight unit. The x1 impulse I (4..32) and valence levels Q (1..7) are chosen so that a
        representable scale ``S = m * 2**e`` makes ``8 S I Q`` nearest to ``eta * units.weight``, preferring
        fine traces (large I and Q); the remaining learning-rate error is reported, and more than
        ``RATE_TOLERANCE`` is refused. ``post_neuron``: the BurstLIF settings (valence levels, Pbar shift and
        initial value) the program needs of its target layer."""
        for name in ("e_min", "e_max"):
            if getattr(self, name) is not None:
                raise RuleError(f"burstprop-spiking: {name} = {getattr(self, name)}: the homeostasis term needs "
                                "each neuron's event rate Ebar, which no learning-engine trace holds; "
                                f"leave {name} out to compile this rule")
        tau = trace_tau("burstprop-spiking tau_pre", self.tau_pre)
        target = self.eta * units.weight   # wanted 8 * S * impulse * levels
        lits, scales = zip(*_representable())
        imps = np.arange(4, 33)[:, None, None]
        lvls = np.arange(1, LEVELS_MAX + 1)[None, :, None]
        err = np.abs(np.log(8 * np.array(scales)[None, None, :] * imps * lvls / target))
        # within 1 % of the best error, prefer the finest traces: both impulse (of 32) and levels (of 7) large
        fine = np.minimum(imps, lvls * 4) * np.ones_like(err)
        i, j, k = np.unravel_index(np.argmax(np.where(err <= err.min() + 0.01, fine, -1)), err.shape)
        lit, impulse, levels = lits[k], int(imps[i, 0, 0]), int(lvls[0, j, 0])
        if err[i, j, k] > math.log(1 + RATE_TOLERANCE):
            raise RuleError(f"burstprop-spiking: eta = {self.eta} at {units.weight:g} weight units per weight needs "
                            f"8 * S * impulse * levels = {target:.3g}; the nearest the learning engine reaches is off "
                            f"by more than {RATE_TOLERANCE:.0%}: change eta or the weight units (weight_exp, vth)")
        program = LearningProgram(dw=f"{lit} * y0 * x1 * (y1 - {VALENCE_ZERO})", x1_impulse=impulse, x1_tau=tau,
                                  t_epoch=1, rng_seed=units.rng_seed, three_factor=True)
        got = 8 * program.products["dw"][0].scale * impulse * levels
        shift = self.pbar_shift()
        notes = (f"learning rate: eta = {self.eta} is {target:.4g} weight units per unit of E (B - Pbar) Etilde; "
                 f"S = {lit} (x1 impulse {impulse}, valence levels {levels}) gives {got:.4g}, "
                 f"{100 * (got / target - 1):+.2f} %",
                 f"valence B - Pbar sent in steps of 1/{levels}, stochastically rounded (unbiased; adds noise)",
                 f"tau_pre {self.tau_pre} steps -> x1_tau {tau}, with Lava's stochastically rounded decay",
                 f"Ebar/Bbar over tau_avg {self.tau_avg} steps -> Pbar per event, 2^-{shift} (~{2 ** shift} events)",
                 f"x1 saturates at 127: Etilde above {127 / impulse:.2f} events is clipped")
        post, more = self._neuron_settings()
        what = "B - Pbar" if self.valence == "burst" else "p(v_d) - Pbar"
        return ChipRule(program, float_update=f"dW = eta E ({what}{' + homeostasis' if self.rate_target else ''}) "
                                              "Etilde",
                        third_factors={"y1": f"64 + 8 q, q = ({what}) * {levels} stochastically rounded"},
                        delivered_by="post neuron (BurstLIF s_out_y1)", approximations=notes + more,
                        post_neuron={"valence_levels": levels, "pbar_shift": shift,
                                     "pbar_init": int(round(self.p_init * PBAR_ONE)), **post})

    def _neuron_settings(self) -> tuple[dict, tuple[str, ...]]:
        """The BurstLIF valence settings of this rule (:class:`~neurolearn.ir.plan.BurstPlan` fields) and notes
        on their rounding."""
        post = {"valence": self.valence, "pbar_fixed": self.pbar == "fixed",
                "lut_centred": self.valence == "expected" or self.pbar == "fixed"}
        notes = []
        if self.rate_target is not None:
            shift = int(round(math.log2(self.tau_rate)))
            gain_shift = next(s for s in range(16) if self.homeo_gain * 2**s >= 128 or s == 15)
            gain = min(255, int(round(self.homeo_gain * 2**gain_shift)))
            cap = int(round(math.log2(self.homeo_cap)))
            post.update(rate_target=int(round(self.rate_target * PBAR_ONE)), rate_shift=shift, homeo_gain=gain,
                        homeo_shift=gain_shift, homeo_cap=cap)
            notes.append(f"homeostasis: target {self.rate_target} events/step, Ebar over 2^{shift} steps (tau_rate "
                         f"{self.tau_rate}), gain {gain}/2^{gain_shift} = {gain / 2**gain_shift:g} (asked "
                         f"{self.homeo_gain}), cap 2^{cap} = {2**cap} (asked {self.homeo_cap})")
        if self.dead_zone:
            post["dead_zone"] = int(round(self.dead_zone * PBAR_ONE))
        if self.valence_halving:
            post["valence_halving"] = int(self.valence_halving)
            notes.append(f"learning-rate schedule: the post neuron's valence, and with it the rate, halves every "
                         f"{self.valence_halving} steps (at most {HALVINGS_MAX} times), stochastically rounded")
        return post, tuple(notes)

    def init_state(self, n_pre: int, n_post: int, batch: int = 1) -> BurstpropState:
        return BurstpropState(trace=np.zeros((batch, n_pre)), ebar=np.full(n_post, self.rate_init),
                              bbar=np.full(n_post, self.rate_init * self.p_init))

    def float_step(self, state: BurstpropState, w, step: StepInput, dt: float | None = None):
        """Advance the trace and the moving averages by one step and give this step's weight change
        (n_post, n_pre), averaged over the batch rows (independent samples). ``step``: ``pre``, ``post``
        (events), ``bursts``; ``third``: the post neurons' own Pbar before this step (the on-chip estimator,
        see :func:`neurolearn.dynamics.burst_neuron.burst_float_step`), or None for Bbar / Ebar after it.
        Written in operators numpy arrays and torch tensors share (host-side training runs it in torch).
        The on-chip classification form (expected valence, fixed Pbar, in-valence homeostasis) is the neuron's
        (:func:`neurolearn.dynamics.burst_neuron.burst_float_step`): refused here."""
        if (self.valence != "burst" or self.pbar != "average" or self.rate_target is not None or self.dead_zone
                or self.valence_halving):
            raise RuleError(f"rule '{self.name}': valence {self.valence!r}, pbar {self.pbar!r}, rate_target, dead_zone "
                            "and valence_halving are computed by the burst neuron; its float form runs in the float "
                            "twin (neurolearn.sims.float_twin), not in float_step")
        self._require(step, "post", "bursts")
        k_pre, k_avg = math.exp(-1.0 / self.tau_pre), math.exp(-1.0 / self.tau_avg)
        state = BurstpropState(trace=k_pre * state.trace + step.pre,
                               ebar=k_avg * state.ebar + (1 - k_avg) * step.post.mean(0),
                               bbar=k_avg * state.bbar + (1 - k_avg) * step.bursts.mean(0))
        ebar = state.ebar.clip(min=1e-6)
        pbar = (state.bbar / ebar).clip(max=1.0) if step.third is None else step.third
        valence = step.bursts - pbar * step.post
        if self.e_max is not None:
            valence = valence - ((state.ebar - self.e_max).clip(min=0) / ebar) * (step.post + step.bursts)
        dw = valence.T @ state.trace
        if self.e_min is not None:
            dw = dw + (self.e_min - state.ebar).clip(min=0)[:, None] * step.pre.sum(0)[None, :]
        return state, self.eta * dw / step.post.shape[0]


def _representable() -> list[tuple[str, float]]:
    """Each scale literal ``m*2^e`` of the burstprop product, with its scale after the hidden shift."""
    shift = product_shift(("x1", "y1"))
    return [(f"{m}*2^{e}", m * 2.0 ** (e - shift)) for m in MANTISSAS for e in EXPONENTS]
