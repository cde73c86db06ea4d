"""Two-compartment spiking burst neurons (Payeur et al. 2021, discretized at one step per dt).

The soma is a current-based LIF driven by basal (feedforward) input; the apical dendrite is a leaky
compartment driven by feedback (bursts from the layer above through Y, the recurrent Z, a teacher).
A somatic spike is an **event**; an event becomes a **burst** with probability
``p = sigmoid((v_d - burst_offset) / burst_slope)`` drawn from a seeded generator, or deterministically
when ``v_d > burst_offset`` (``stochastic=False``). Events go forward, bursts go back.

Per step (all keep factors in [0, 1], voltages in units of the somatic threshold)::

    i   = alpha * i + basal          v   = beta * v + i        event = v > threshold; v <- 0
    v_d = beta_d * v_d + apical      p   = sigmoid((v_d - burst_offset) / burst_slope)
    burst = event & (r < p)          (r uniform in [0, 1), one draw per neuron and step)

:func:`burst_step` is the single definition; :class:`BurstLIF` wraps it snntorch-style.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from neurolearn.ir.burst_network import BurstParams


class BurstState(NamedTuple):
    i: Tensor    # somatic current
    v: Tensor    # somatic voltage
    v_d: Tensor  # apical dendrite voltage


def burst_step(basal: Tensor, apical: Tensor, state: BurstState, params: BurstParams,
               rand: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, BurstState]:
    """One step: ``(basal, apical, state, params) -> (events, bursts, burst probability, state)``.

    ``rand``: uniform [0, 1) numbers of the neurons' shape (needed when ``params.stochastic``).
    Events and bursts are 0/1 tensors of the input's dtype; bursts are a subset of events.
    """
    i = params.alpha * state.i + basal if params.alpha else basal
    v = params.beta * state.v + i
    event = (v > params.threshold).to(v.dtype)
    v = v * (1.0 - event)
    v_d = params.beta_d * state.v_d + apical
    p = torch.sigmoid((v_d - params.burst_offset) / params.burst_slope)
    if params.stochastic:
        burst = event * (rand < p).to(v.dtype)
    else:
        burst = event * (v_d > params.burst_offset).to(v.dtype)
    return event, burst, p, BurstState(i, v, v_d)


class BurstLIF(nn.Module):
    """snntorch-style module around :func:`burst_step`.

    ``init_hidden=True`` keeps the state inside (``reset_hidden()`` clears it) and ``forward(basal,
    apical)`` returns ``(events, bursts)``; ``init_hidden=False`` takes and returns the state
    explicitly: ``forward(basal, apical, state) -> (events, bursts, state)``. Only
    ``reset_mechanism="zero"`` exists (what Lava's LIF does). ``seed`` fixes the burst draws.
    """

    def __init__(self, beta=0.9, threshold=1.0, alpha=0.0, beta_d=0.9, burst_offset=0.0, burst_slope=1.0,
                 stochastic=True, init_hidden=False, reset_mechanism="zero", seed=0):
        super().__init__()
        if reset_mechanism != "zero":
            raise ValueError(f"BurstLIF: reset_mechanism {reset_mechanism!r}; only 'zero' is supported")
        for name, val in (("alpha", alpha), ("beta", beta), ("beta_d", beta_d)):
            if not 0.0 <= val <= 1.0:
                raise ValueError(f"BurstLIF: {name} = {val}; allowed [0, 1]")
        if burst_slope <= 0 or threshold <= 0:
            raise ValueError("BurstLIF: burst_slope and threshold must be > 0")
        self.params = BurstParams(alpha, beta, beta_d, threshold, burst_offset, burst_slope, stochastic)
        self.reset_mechanism = reset_mechanism
        self.init_hidden = init_hidden
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.state: BurstState | None = None
        self.last_p: Tensor | None = None

    @property
    def beta(self) -> float:
        return self.params.beta

    @property
    def threshold(self) -> float:
        return self.params.threshold

    def zero_state(self, like: Tensor) -> BurstState:
        z = torch.zeros_like(like)
        return BurstState(z, z.clone(), z.clone())

    def reset_hidden(self) -> None:
        """Clear the state (and restart the burst generator from its seed)."""
        self.state = None
        self.generator.manual_seed(self.seed)

    def forward(self, basal: Tensor, apical: Tensor | None = None, state: BurstState | None = None):
        if apical is None:
            apical = torch.zeros_like(basal)
        if self.init_hidden:
            state = self.state if self.state is not None else self.zero_state(basal)
        elif state is None:
            state = self.zero_state(basal)
        rand = torch.rand(basal.shape, generator=self.generator, dtype=basal.dtype) if self.params.stochastic else None
        event, burst, p, state = burst_step(basal, apical, state, self.params, rand)
        self.last_p = p
        if self.init_hidden:
            self.state = state
            return event, burst
        return event, burst, state
