"""The burst neuron's apical dendrite, burst draw, running burst probability, event rate and valence:
neurolearn's own model (Payeur et al. 2021), written once in integers and once in floats. Its soma is a LIF
(:mod:`neurolearn.dynamics.lif`); the event ``event`` of this step comes from there.

Integers (``BurstLIF``'s fixed-point model and neurolearn's simulator call :func:`burst_int_step`)::

    v_d   = sat24(trunc0(v_d * keep_d / 4096) + (a_apical << 6))
    p     = lut[clip(((v_d - lut_offset) >> lut_shift) + 128, 0, 255)]          (burst probability * 256)
    burst = event & (r_burst < p)
    ebar += (event << 15) - (ebar >> rate_shift);  rate = ebar >> rate_shift     (events per step, 2**15 = 1)
    aim   = burst << 15, or p << 7 where the valence is 'expected'             (Pbar: 2**15 is probability 1)
    h     = ((rate_target - rate) * gain) >> gain_shift, times min(rate_target / rate, 2**cap) below the target
    valence = aim - pbar + h, 0 where |aim - pbar + h| < dead_zone
    halvings = min(step // halving, 15), or 0 without halving           (step: steps run before this one)
    q  = clip((valence * levels + (r_valence << halvings)) >> (15 + halvings), -7, 7)
    y1 = 64 + 8 * q       (valence * 2**-halvings in steps of 1/levels, rounded stochastically; a 7-bit trace)
    y2 = (pbar * 127) >> 15, y3 = 0
    or, plateau_split: y2 = max(q, 0), y3 = max(-q, 0)                    (BTSP's plateaus P+ and -P-)
    pbar += event * ((aim - pbar) >> pbar_shift), unless Pbar is fixed    (a per-event average)

Homeostatic bias (optional; the soma's bias adapts to hold the event rate at rate_target, Mikulasch et al.
2021's db = eta (rho - event)): after each step ``hb = sat32(hb + bias_gain * (rate_target - (event << 15)))``;
the soma adds ``hb >> bias_shift`` (v units) to its bias the next step (:func:`homeostatic_bias_int`; floats:
:func:`homeostatic_bias_float`, ``hb += eta (rate_target - event)`` in voltage units).

The plain neuron (valence 'burst', Pbar averaged, no homeostasis: :data:`PLAIN_VALENCE`) sends B - Pbar.
The on-chip classification neuron sends the expected burst p(v_d) - Pbar (no draw noise), with Pbar fixed at
p(0) and its event-rate homeostasis folded in: ``h`` pushes a neuron whose average rate is below
``rate_target`` up (scaled by the reciprocal of its rate, up to 2**cap, so that a silent neuron is pulled back)
and one above it down; ``dead_zone`` sends nothing for small valences; ``halving`` (steps) halves the valence
sent, and with it the learning rate of every rule it drives, every ``halving`` steps: a learning-rate schedule
that the neuron keeps itself (one counter), with no host between samples.

Floats (``BurstLIF``'s float model and the float twin call :func:`burst_float_step`; ``keep_d`` a fraction,
``p = sigmoid((v_d - offset) / slope)``, ``burst = event & (u_burst < p)``, Ebar, the homeostasis and the
valence in floats with the same constants, the valence unrounded and times 2**-halvings).

Random numbers: per neuron and step two uniforms from ``numpy.random.default_rng(seed)``, drawn as
``(2, n)`` per step (the burst draw, then the valence's rounding): :class:`BurstStream` draws them step by
step (the Lava models), :func:`burst_uniforms` all at once (the simulators): the same numbers.
:func:`integer_draws` turns them into r_burst = floor(256 u), r_valence = floor(2**15 u).
"""
from __future__ import annotations

import numba
import numpy as np

from neurolearn.dynamics.lif import ACTIVATION_SHIFT, saturate24, trunc_decay, wrap32
from neurolearn.ir.plan import HALVINGS_MAX, HB_RANGE, LUT_SIZE, PBAR_ONE, VALENCE_LEVELS_RANGE
from neurolearn.ir.program import VALENCE_ZERO

PBAR_BITS = PBAR_ONE.bit_length() - 1     # 15
Y2_FULL = 127                             # y2 = Pbar in 1/127 (a 7-bit trace)
Q_MAX = VALENCE_LEVELS_RANGE[1]           # |q| <= 7: y1 = 64 + 8 q stays a 7-bit trace
DRAW_SCALES = np.array([[LUT_SIZE], [PBAR_ONE]])   # r_burst in 0..255, r_valence in 0..2**15 - 1
# the valence's constants (BurstPlan.valence_shape): expected, pbar fixed, rate_target, rate_shift, gain,
# gain_shift, cap, dead_zone, plateau split, halving. PLAIN_VALENCE: B - Pbar, Pbar averaged, no homeostasis, no
# dead zone, y2 = Pbar, no halving.
PLAIN_VALENCE = (0, 0, 0, 10, 0, 0, 0, 0, 0, 0)


@numba.njit(cache=True, inline="always")
def valence_halvings(step, halving):
    """How often the valence has halved before step ``step`` (0-based) at one halving per ``halving`` steps
    (0: never)."""
    return min(step // max(halving, 1), HALVINGS_MAX) * (halving > 0)


@numba.njit(cache=True, inline="always")
def burst_int_step(event, v_d, pbar, ebar, a_apical, keep_d, lut, lut_offset, lut_shift, pbar_shift, levels,
                   r_burst, r_valence, shape, step):
    """One integer step of the dendrite, burst generator, event rate and valence (the module docstring);
    ``shape``: the valence's constants (:data:`PLAIN_VALENCE`'s order); ``step``: steps run before this one.

    Returns (burst, v_d, pbar, ebar, y1, y2, y3). int64 scalars (numba) or int64 numpy arrays elementwise
    (``lut`` then indexed by an array); ``event`` bool."""
    expected, fixed, rate_target, rate_shift, gain, gain_shift, cap, dead_zone, split, halving = shape
    v_d = saturate24(wrap32(trunc_decay(v_d, keep_d) + wrap32(a_apical << ACTIVATION_SHIFT)))
    p = lut[np.minimum(np.maximum(((v_d - lut_offset) >> lut_shift) + LUT_SIZE // 2, 0), LUT_SIZE - 1)]
    burst = event & (r_burst < p)
    ebar = ebar + event * PBAR_ONE - (ebar >> rate_shift)
    rate = ebar >> rate_shift
    aim = expected * (p << (PBAR_BITS - 8)) + (1 - expected) * (burst * PBAR_ONE)
    h = ((rate_target - rate) * gain) >> gain_shift
    low = (rate < rate_target) & (cap > 0)
    h = h + low * (h * rate_target // np.maximum(rate, np.maximum(rate_target >> cap, 1)) - h)
    valence = aim - pbar + h
    valence = valence * (np.abs(valence) >= dead_zone)
    k = valence_halvings(step, halving)
    q = np.minimum(np.maximum((valence * levels + (r_valence << k)) >> (PBAR_BITS + k), -Q_MAX), Q_MAX)
    y2 = split * np.maximum(q, 0) + (1 - split) * ((pbar * Y2_FULL) >> PBAR_BITS)
    return (burst, v_d, pbar + event * (1 - fixed) * ((aim - pbar) >> pbar_shift), ebar, VALENCE_ZERO + 8 * q, y2,
            split * np.maximum(-q, 0))


@numba.njit(cache=True, inline="always")
def homeostatic_bias_int(hb, event, rate_target, bias_gain):
    """The homeostatic bias's accumulator after this step's ``event``: ``hb + bias_gain * (rate_target -
    (event << 15))``, saturated to 32 bits (int64 scalars or arrays; the soma adds ``hb >> bias_shift``)."""
    return np.minimum(np.maximum(hb + bias_gain * (rate_target - event * PBAR_ONE), HB_RANGE[0]), HB_RANGE[1])


@numba.njit(cache=True, inline="always")
def homeostatic_bias_float(hb, event, rate_target, eta):
    """The float homeostatic bias after this step's ``event``: ``hb + eta (rate_target - event)`` (voltage units
    per step; rate_target in events per step)."""
    return hb + eta * (rate_target - event)


@numba.njit(cache=True, inline="always")
def burst_float_step(event, v_d, pbar, ebar, apical, keep_d, offset, slope, pbar_shift, levels, u_burst, shape,
                     step):
    """One float step: the integer step's model in floats (keep_d: the per-step keep factor; v_d, offset,
    slope in the soma's voltage units; pbar, ebar in [0, 1]; ``shape`` the integer constants, read as
    rate_target / 2**15, gain / 2**gain_shift, a cap of 2**cap and dead_zone / 2**15; ``step`` as the integer
    step's).

    Returns (burst, v_d, pbar, ebar, y1, y2, y3, p, valence) with p the burst probability, valence as sent (times
    2**-halvings), y1 = 64 + 8 levels valence and y2, y3 Pbar's or the plateaus' (levels times the valence's
    positive and negative parts). Numba
    scalars, or numpy arrays (or CPU torch tensors) elementwise; ``event`` bool."""
    expected, fixed, rate_target, rate_shift, gain, gain_shift, cap, dead_zone, split, halving = shape
    v_d = keep_d * v_d + apical
    p = 1.0 / (1.0 + np.exp(-(v_d - offset) / slope))
    burst = event & (u_burst < p)
    ebar = ebar + (event - ebar) * 2.0 ** -rate_shift
    aim = expected * p + (1 - expected) * (burst * 1.0)
    target = rate_target / PBAR_ONE
    h = (target - ebar) * gain * 2.0 ** -gain_shift
    low = (ebar < target) & (cap > 0)
    h = h + low * (h * np.minimum(target / np.maximum(ebar, 1e-300), 2.0 ** cap) - h)
    valence = aim - pbar + h
    valence = valence * (np.abs(valence) >= dead_zone / PBAR_ONE) * 2.0 ** -valence_halvings(step, halving)
    y2 = split * levels * np.maximum(valence, 0.0) + (1 - split) * Y2_FULL * pbar
    y3 = split * levels * np.maximum(-valence, 0.0)
    pbar = pbar + event * (1 - fixed) * (aim - pbar) * 2.0 ** -pbar_shift
    return burst, v_d, pbar, ebar, VALENCE_ZERO + 8 * levels * valence, y2, y3, p, valence


class BurstStream:
    """A burst layer's random numbers, step by step: ``next()`` gives this step's (2, n) uniforms, ``take(k)``
    the next k steps' (k, 2, n): the same numbers however the steps are grouped."""

    def __init__(self, seed: int, n: int):
        self.rng, self.n = np.random.default_rng(seed), n

    def next(self) -> np.ndarray:
        return self.rng.random((2, self.n))

    def take(self, steps: int) -> np.ndarray:
        return self.rng.random((steps, 2, self.n))


def burst_uniforms(seed: int, steps: int, n: int) -> np.ndarray:
    """All of a burst layer's uniforms for ``steps`` steps, (steps, 2, n): the numbers :class:`BurstStream`
    gives step by step."""
    return BurstStream(seed, n).take(steps)


def integer_draws(uniforms: np.ndarray) -> np.ndarray:
    """Uniforms (..., 2, n) as the integer step's (r_burst, r_valence): floor(256 u), floor(2**15 u)."""
    return (uniforms * DRAW_SCALES).astype(np.int64)
