"""Learning runs over a whole input schedule, with the weights read at each epoch's end.

A :class:`Schedule` is a long input stream (steps, n_in) with named presentation windows and epoch
ends; :func:`run_fixed` and :func:`run_lava` run a learning plan over it in neurolearn's simulator and
in Lava, returning the same :class:`EpochRun` (events and bursts of every layer at every step, the
learning connections' weights after every epoch). ``neurolearn verify --learning`` compares the two.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurolearn.ir.plan import Plan
from neurolearn.ir.schedule import Schedule
from neurolearn.sims.learning import simulate_learning


@dataclass(frozen=True)
class EpochRun:
    """One backend's run: per layer events and bursts (steps, n); per learning connection its weights
    after each epoch end (n_ends, n_post, n_pre), integers (fixed point) or floats (the float twin)."""

    backend: str
    spikes: dict = field(repr=False)
    bursts: dict = field(repr=False)
    weights: dict = field(repr=False)
    steps_per_s: float | None = None   # Lava: steps/s after the first epoch (which includes the build),
    #                                    reading the weights after each epoch included


def run_fixed(plan: Plan, schedule: Schedule) -> EpochRun:
    """The whole schedule in neurolearn's fixed-point simulator (plan.learning learns)."""
    res = simulate_learning(plan, schedule.spikes, record=list(schedule.epoch_ends), record_uv=False)
    layers = res.sim.layers
    return EpochRun("neurolearn-fixed", {n: r.spikes[0] for n, r in layers.items()},
                    {n: np.zeros_like(r.spikes[0]) if r.bursts is None else r.bursts[0] for n, r in layers.items()},
                    {n: s.weights[0] for n, s in res.synapses.items()})
