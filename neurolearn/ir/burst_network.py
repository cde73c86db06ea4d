"""Burst networks as data: layers of two-compartment burst neurons (Payeur et al. 2021), the event weights
W between them, the burst feedback Y, and the learning rules by connection name. Float units: voltages in
units of the somatic threshold's scale, keep factors per step, rates in events per step.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from neurolearn.errors import InputError, ShapeError


class BurstParams(NamedTuple):
    alpha: float = 0.0          # somatic current keep factor per step (0: no synaptic current state)
    beta: float = 0.9           # somatic voltage keep factor per step
    beta_d: float = 0.9         # apical voltage keep factor per step
    threshold: float = 1.0      # somatic threshold
    burst_offset: float = 0.0   # apical voltage of p = 1/2
    burst_slope: float = 1.0    # apical voltage range of the sigmoid (D in Payeur's model)
    stochastic: bool = True     # sample bursts with probability p, else burst where v_d > burst_offset
    homeostasis_rate: float = 0.0   # homeostatic bias: the target event rate (events per step)
    homeostasis_eta: float = 0.0    # its rate: bias += eta (rate - event) per step (voltage units); 0: none


class ChipSettings(NamedTuple):
    """How the network compiles (what ``compile_burst_network`` would otherwise take as arguments): ``vth`` the
    integer threshold (the resolution of voltages and weights), ``rng_seed`` the learning engine's trace streams,
    ``round_even`` mixed-sign weights to even integers; and an optional class teacher: per class an up and a down
    request channel after the input channels into ``teacher_layer``'s dendrites (``teacher_strength`` voltage
    units per step), passed while the class's population is below ``band_lo`` (up) or above ``band_hi`` (down)
    events per neuron and step."""

    vth: int = 128
    rng_seed: int = 0
    round_even: bool = False
    teacher_layer: str = ""        # "": no teacher
    teacher_classes: int = 1
    teacher_strength: float = 0.0
    band_lo: float = 0.0
    band_hi: float = 0.0


CHIP_ALLOWED = {"vth": "an integer 1 .. 65536", "rng_seed": "an integer 0 .. 2147483643",
                "round_even": "true or false", "teacher_layer": "a layer's name, or '' (no teacher)",
                "teacher_classes": "an integer >= 1 that divides the teacher layer's size (1 without a teacher)",
                "teacher_strength": "a finite number > 0 (voltage units per step; 0 without a teacher)",
                "band_lo": "a number 0 .. band_hi (events per neuron and step; 0 without a teacher)",
                "band_hi": "a number band_lo .. 1 (events per neuron and step; 0 without a teacher)"}


def chip_problem(chip: ChipSettings, sizes: dict[str, int]) -> tuple[str, str] | None:
    """The first setting of ``chip`` out of range for layers ``sizes`` (name -> size), as (name, "= value;
    allowed ..."), or None."""
    integer, real = (numbers.Integral,), (numbers.Real,)
    c = chip   # in range: checked in this order, each after its type
    teacher = isinstance(c.teacher_layer, str) and c.teacher_layer in sizes
    checks = (("vth", integer, lambda: 1 <= c.vth <= 2**16), ("rng_seed", integer, lambda: 0 <= c.rng_seed < 2**31 - 4),
              ("round_even", (bool, np.bool_), lambda: True),
              ("teacher_layer", (str,), lambda: c.teacher_layer in ("", *sizes)),
              ("teacher_classes", integer, lambda: c.teacher_classes >= 1 and (
                  sizes[c.teacher_layer] % c.teacher_classes == 0 if teacher else c.teacher_classes == 1)),
              ("teacher_strength", real, lambda: 0 < c.teacher_strength < math.inf if teacher else
               c.teacher_strength == 0),
              ("band_lo", real, lambda: 0 <= c.band_lo <= 1 if teacher else c.band_lo == 0),
              ("band_hi", real, lambda: c.band_lo <= c.band_hi <= 1 if teacher else c.band_hi == 0))
    for name, kinds, in_range in checks:
        value = getattr(chip, name)
        if not isinstance(value, kinds) or isinstance(value, (bool, np.bool_)) != (name == "round_even") \
                or not in_range():
            return name, f"= {value!r}; allowed {CHIP_ALLOWED[name]}"
    return None


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
    chip: ChipSettings | None = None   # how it compiles (None: compile's defaults and arguments)

    def __post_init__(self):
        """Event weights: one chain in layer order (input -> layers[0] -> layers[1] ...), and any others back to the
        same or an earlier layer (recurrent: e.g. dendritic balance's inhibition onto its error neurons)."""
        position = {"input": -1, **{L.name: k for k, L in enumerate(self.layers)}}
        for src, dst in self.weights:
            if src not in position or dst not in position or dst == "input":
                raise ShapeError(f"burst network: event weight 'W:{src}->{dst}': allowed from the input or a layer "
                                 f"to a layer of {list(position)[1:]}")
            if position[dst] > position[src] + 1:
                raise ShapeError(f"burst network: event weight 'W:{src}->{dst}' skips forward past layer order "
                                 f"{list(position)}; allowed: from the previous layer, or back to the same or an "
                                 "earlier layer")
        if self.chip is not None:
            if not isinstance(self.chip, ChipSettings):
                raise InputError(f"burst network: chip = {self.chip!r}; allowed a ChipSettings or None")
            problem = chip_problem(self.chip, {L.name: L.size for L in self.layers})
            if problem:
                raise InputError(f"burst network: chip.{problem[0]} {problem[1]}")
            object.__setattr__(self, "chip", ChipSettings(*(   # plain Python values: they go into plan.json
                v if isinstance(v, str) else v.item() if isinstance(v, np.generic) else v for v in self.chip)))
        prev = ["input"] + [L.name for L in self.layers[:-1]]
        for a, b in zip(prev, (L.name for L in self.layers)):
            if (a, b) not in self.weights:
                raise ShapeError(f"burst network: no event weight 'W:{a}->{b}': the layers {list(position)[1:]} "
                                 "are a chain in this order, each fed by the one before it")

    def is_recurrent(self, src: str, dst: str) -> bool:
        """Whether event weight ``W:src->dst`` goes back to the same or an earlier layer (off the chain)."""
        names = [L.name for L in self.layers]
        return src != "input" and names.index(src) >= names.index(dst)
