"""Two-compartment spiking burst neurons as a torch module, snntorch-style (Payeur et al. 2021, one step per dt).

The soma is a LIF driven by basal (feedforward) input; the apical dendrite is a leaky compartment driven
by feedback (bursts of the layer above through Y, a teacher). A somatic spike is an **event**; an event
becomes a **burst** with probability ``p = sigmoid((v_d - burst_offset) / burst_slope)`` drawn from a
seeded generator, or deterministically where ``v_d > burst_offset`` (``stochastic=False``).

The arithmetic is :mod:`neurolearn.dynamics` (``lif_float_step`` for the soma, ``burst_float_step`` for
the dendrite), the same float steps the Lava float model and the float twin run; this module only holds
state and draws. It runs on the CPU (the dendrite step runs in numpy on the tensors' memory).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from neurolearn.dynamics.burst_neuron import PLAIN_VALENCE, burst_float_step
from neurolearn.dynamics.lif import lif_float_step
from neurolearn.errors import InputError
from neurolearn.ir.burst_network import BurstParams

_dendrite = burst_float_step.py_func   # elementwise on numpy arrays


class BurstNeuronState(NamedTuple):
    i: Tensor    # somatic current
    v: Tensor    # somatic voltage
    v_d: Tensor  # apical dendrite voltage


def burst_neuron_step(basal: Tensor, apical: Tensor, state: BurstNeuronState, params: BurstParams,
                      rand: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, BurstNeuronState]:
    """One step: ``(basal, apical, state, params) -> (events, bursts, burst probability, state)``.

    ``rand``: uniform [0, 1) numbers of the neurons' shape (needed when ``params.stochastic``).
    Events and bursts are 0/1 tensors of the input's dtype; bursts are a subset of events.
    """
    if params.homeostasis_eta:
        raise InputError(f"burst_neuron_step: homeostasis_eta = {params.homeostasis_eta:g}; the host-side neuron has "
                         "no homeostatic bias (allowed 0; compile the network and run the learning build or its twin)")
    s, i, v = lif_float_step(basal, state.i, state.v, params.alpha, params.beta, 0.0, params.threshold)
    draw = rand.numpy() if params.stochastic else 0.5   # p > 1/2 exactly where v_d > burst_offset
    burst, v_d, _, _, _, _, _, p, _ = _dendrite(s.numpy() > 0, state.v_d.numpy(), 0.0, 0.0, apical.numpy(),
                                             params.beta_d, params.burst_offset, params.burst_slope, 0, 0, draw,
                                             PLAIN_VALENCE, 0)
    return (s.to(basal.dtype), torch.from_numpy(burst).to(basal.dtype), torch.from_numpy(p),
            BurstNeuronState(i, v, torch.from_numpy(v_d)))


class BurstNeuron(nn.Module):
    """snntorch-style module around :func:`burst_neuron_step`.

    ``init_hidden=True`` keeps the state inside (``reset_hidden()`` clears it) and ``forward(basal,
    apical)`` returns ``(events, bursts)``; ``init_hidden=False`` takes and returns the state
    explicitly: ``forward(basal, apical, state) -> (events, bursts, state)``. Only
    ``reset_mechanism="zero"`` exists (what Lava's LIF does). ``seed`` fixes the burst draws.
    """

    def __init__(self, beta=0.9, threshold=1.0, alpha=0.0, beta_d=0.9, burst_offset=0.0, burst_slope=1.0,
                 stochastic=True, init_hidden=False, reset_mechanism="zero", seed=0):
        super().__init__()
        if reset_mechanism != "zero":
            raise InputError(f"BurstNeuron: reset_mechanism {reset_mechanism!r}; only 'zero' is supported")
        for name, val in (("alpha", alpha), ("beta", beta), ("beta_d", beta_d)):
            if not 0.0 <= val <= 1.0:
                raise InputError(f"BurstNeuron: {name} = {val}; allowed [0, 1]")
        if not (burst_slope > 0 and threshold > 0):
            raise InputError(f"BurstNeuron: burst_slope = {burst_slope}, threshold = {threshold}; both must be > 0")
        self.params = BurstParams(alpha, beta, beta_d, threshold, burst_offset, burst_slope, stochastic)
        self.reset_mechanism = reset_mechanism
        self.init_hidden = init_hidden
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.state: BurstNeuronState | None = None
        self.last_p: Tensor | None = None

    @property
    def beta(self) -> float:
        return self.params.beta

    @property
    def threshold(self) -> float:
        return self.params.threshold

    def zero_state(self, like: Tensor) -> BurstNeuronState:
        z = torch.zeros_like(like)
        return BurstNeuronState(z, z.clone(), z.clone())

    def reset_hidden(self) -> None:
        """Clear the state (and restart the burst generator from its seed)."""
        self.state = None
        self.generator.manual_seed(self.seed)

    def forward(self, basal: Tensor, apical: Tensor | None = None, state: BurstNeuronState | None = None):
        if apical is None:
            apical = torch.zeros_like(basal)
        if self.init_hidden:
            state = self.state if self.state is not None else self.zero_state(basal)
        elif state is None:
            state = self.zero_state(basal)
        rand = torch.rand(basal.shape, generator=self.generator, dtype=basal.dtype) if self.params.stochastic else None
        event, burst, p, state = burst_neuron_step(basal, apical, state, self.params, rand)
        self.last_p = p
        if self.init_hidden:
            self.state = state
            return event, burst
        return event, burst, state
