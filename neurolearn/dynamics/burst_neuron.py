"""The burst neuron's apical dendrite, burst draw, running burst probability and valence: neurolearn's own
model (Payeur et al. 2021), written once in integers and once in floats. Its soma is a LIF
(:mod:`neurolearn.dynamics.lif`); the event ``event`` of this step comes from there.

Integers (``BurstLIF``'s fixed-point model and neurolearn's simulator call :func:`burst_int_step`)::

    v_d   = sat24(trunc0(v_d * keep_d / 4096) + (a_apical << 6))
    burst = event & (r_burst < lut[clip(((v_d - lut_offset) >> lut_shift) + 128, 0, 255)])
    valence = (burst << 15) - pbar                      (Pbar: 2**15 is probability 1)
    y1 = 64 + 8 * ((valence * levels + r_valence) >> 15)  (B - Pbar in steps of 1/levels, rounded stochastically)
    y2 = (pbar * 127) >> 15
    pbar += event * (valence >> pbar_shift)              (a per-event average)

Floats (``BurstLIF``'s float model and the float twin call :func:`burst_float_step`; ``keep_d`` a fraction,
``p = sigmoid((v_d - offset) / slope)``, ``burst = event & (u_burst < p)``, the valence unrounded).

Random numbers: per neuron and step two uniforms from ``numpy.random.default_rng(seed)``, drawn as
``(2, n)`` per step (the burst draw, then the valence's rounding): :class:`BurstStream` draws them step by
step (the Lava models), :func:`burst_uniforms` all at once (the simulators): the same numbers.
:func:`integer_draws` turns them into r_burst = floor(256 u), r_valence = floor(2**15 u).
"""
from __future__ import annotations

import numba
import numpy as np

from neurolearn.dynamics.lif import ACTIVATION_SHIFT, saturate24, trunc_decay, wrap32
from neurolearn.ir.plan import LUT_SIZE, PBAR_ONE
from neurolearn.ir.program import VALENCE_ZERO

PBAR_BITS = PBAR_ONE.bit_length() - 1     # 15
Y2_FULL = 127                             # y2 = Pbar in 1/127 (a 7-bit trace)
DRAW_SCALES = np.array([[LUT_SIZE], [PBAR_ONE]])   # r_burst in 0..255, r_valence in 0..2**15 - 1


@numba.njit(cache=True, inline="always")
def burst_int_step(event, v_d, pbar, a_apical, keep_d, lut, lut_offset, lut_shift, pbar_shift, levels, r_burst,
                   r_valence):
    """One integer step of the dendrite and burst generator (see the module docstring).

    Returns (burst, v_d, pbar, y1, y2). int64 scalars (numba) or int64 numpy arrays elementwise (``lut``
    then indexed by an array); ``event`` bool."""
    v_d = saturate24(wrap32(trunc_decay(v_d, keep_d) + wrap32(a_apical << ACTIVATION_SHIFT)))
    k = np.minimum(np.maximum(((v_d - lut_offset) >> lut_shift) + LUT_SIZE // 2, 0), LUT_SIZE - 1)
    burst = event & (r_burst < lut[k])
    valence = burst * PBAR_ONE - pbar
    y1 = VALENCE_ZERO + 8 * ((valence * levels + r_valence) >> PBAR_BITS)
    y2 = (pbar * Y2_FULL) >> PBAR_BITS
    return burst, v_d, pbar + event * (valence >> pbar_shift), y1, y2


@numba.njit(cache=True, inline="always")
def burst_float_step(event, v_d, pbar, apical, keep_d, offset, slope, pbar_shift, levels, u_burst):
    """One float step of the dendrite and burst generator: the integer step's model in floats (keep_d: the
    per-step keep factor; v_d, offset, slope in the soma's voltage units; pbar in [0, 1]).

    Returns (burst, v_d, pbar, y1, y2, p) with p the burst probability. Numba scalars, or numpy arrays
    (or CPU torch tensors) elementwise; ``event`` bool."""
    v_d = keep_d * v_d + apical
    p = 1.0 / (1.0 + np.exp(-(v_d - offset) / slope))
    burst = event & (u_burst < p)
    valence = burst * 1.0 - pbar
    y1 = VALENCE_ZERO + 8 * levels * valence
    return burst, v_d, pbar + event * valence * 2.0 ** -pbar_shift, y1, Y2_FULL * pbar, p


class BurstStream:
    """A burst layer's random numbers, step by step: ``next()`` gives this step's (2, n) uniforms."""

    def __init__(self, seed: int, n: int):
        self.rng, self.n = np.random.default_rng(seed), n

    def next(self) -> np.ndarray:
        return self.rng.random((2, self.n))


def burst_uniforms(seed: int, steps: int, n: int) -> np.ndarray:
    """All of a burst layer's uniforms for ``steps`` steps, (steps, 2, n): the numbers :class:`BurstStream`
    gives step by step."""
    return np.random.default_rng(seed).random((steps, 2, n))


def integer_draws(uniforms: np.ndarray) -> np.ndarray:
    """Uniforms (..., 2, n) as the integer step's (r_burst, r_valence): floor(256 u), floor(2**15 u)."""
    return (uniforms * DRAW_SCALES).astype(np.int64)
