"""Burst networks as data: layers of two-compartment burst neurons (Payeur et al. 2021), the event weights
W between them, the burst feedback Y, and the learning rules by connection name. Float units: voltages in
units of the somatic threshold's scale, keep factors per step, rates in events per step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class BurstParams(NamedTuple):
    alpha: float = 0.0          # somatic current keep factor per step (0: no synaptic current state)
    beta: float = 0.9           # somatic voltage keep factor per step
    beta_d: float = 0.9         # apical voltage keep factor per step
    threshold: float = 1.0      # somatic threshold
    burst_offset: float = 0.0   # apical voltage of p = 1/2
    burst_slope: float = 1.0    # apical voltage range of the sigmoid (D in Payeur's model)
    stochastic: bool = True     # sample bursts with probability p, else burst where v_d > burst_offset


@dataclass(frozen=True)
class BurstLayer:
    name: str
    size: int
    params: BurstParams
    seed: int = 0


@dataclass(frozen=True)
class BurstNetwork:
    """A layered burstprop network: ``weights[(src, dst)]`` (n_dst, n_src) carries events
    (``src`` is the input or a layer), ``feedback[(upper, lower)]`` (n_lower, n_upper) carries bursts,
    ``balance[(upper, lower)]`` (n_lower, n_upper) carries the upper layer's events into the lower layer's
    apical dendrite (e.g. ``-p0 Y``: the dendrite then sees ``Y (B - p0 E)``, zero on average without a
    teacher)."""

    dt: float
    input_size: int
    layers: tuple[BurstLayer, ...]
    weights: dict = field(repr=False)
    feedback: dict = field(repr=False)
    rules: dict = field(default_factory=dict)  # connection name -> rule parameters (JSON-able)
    biases: dict = field(default_factory=dict, repr=False)  # layer -> (n,) bias of its feedforward input
    balance: dict = field(default_factory=dict, repr=False)
