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
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor


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
