"""Spiking burstprop (Payeur et al. 2021): ``dW_ij = eta (B_i - Pbar_i E_i) Etilde_j``.

``E_i``, ``B_i``: the postsynaptic neuron's events and bursts this step (0/1); ``Pbar_i = Bbar_i /
Ebar_i`` its running burst probability (moving averages of bursts and events over ``tau_avg``
steps, capped at 1); ``Etilde_j``: the presynaptic event trace (decays with ``tau_pre`` steps, +1
per event). Without a teacher, bursts occur at the average rate and the expected change is zero;
a teacher or feedback that raises a neuron's burst probability above ``Pbar`` potentiates its active
inputs, one that lowers it depresses them.
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

    def __post_init__(self):
        for name in ("tau_pre", "tau_avg", "rate_init"):
            if not getattr(self, name) > 0:
                raise ValueError(f"BurstpropSpiking: {name} = {getattr(self, name)}; allowed > 0")
        if not 0 <= self.p_init <= 1:
            raise ValueError(f"BurstpropSpiking: p_init = {self.p_init}; allowed [0, 1]")

    def to_dict(self) -> dict:
        return {"rule": "burstprop-spiking", **asdict(self)}

    def init_state(self, n_pre: int, n_post: int, batch: int) -> "RuleState":
        return RuleState(trace=torch.zeros(batch, n_pre), ebar=torch.full((n_post,), self.rate_init),
                         bbar=torch.full((n_post,), self.rate_init * self.p_init))

    def observe(self, state: "RuleState", pre_events: Tensor, post_events: Tensor, post_bursts: Tensor) -> "RuleState":
        """Advance traces and moving averages by one step (batch rows are independent samples)."""
        k_pre, k_avg = math.exp(-1.0 / self.tau_pre), math.exp(-1.0 / self.tau_avg)
        return RuleState(trace=k_pre * state.trace + pre_events,
                         ebar=k_avg * state.ebar + (1 - k_avg) * post_events.mean(0),
                         bbar=k_avg * state.bbar + (1 - k_avg) * post_bursts.mean(0))

    def delta(self, state: "RuleState", post_events: Tensor, post_bursts: Tensor) -> Tensor:
        """The weight change (n_post, n_pre) for this step, averaged over the batch."""
        pbar = (state.bbar / state.ebar.clamp_min(1e-6)).clamp(max=1.0)
        return self.eta * (post_bursts - pbar * post_events).T @ state.trace / post_events.shape[0]


@dataclass(frozen=True)
class RuleState:
    trace: Tensor  # (batch, n_pre) presynaptic event traces
    ebar: Tensor   # (n_post,) moving average of events per step
    bbar: Tensor   # (n_post,) moving average of bursts per step
