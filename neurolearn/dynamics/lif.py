"""The LIF neuron: Lava's fixed-point arithmetic (mirrored; Lava is the spec), the reset variants neurolearn's
``NIRNeuron`` adds to it, and the float step.

Fixed point, as Lava 0.10.0's ``PyLifModelBitAcc`` (integers, 12-bit decays, ``vth << 6``)::

    u = trunc0(u * (4096 - du - 1) / 4096) + (a_in << 6)       wrapped once at +-2**23 (int32 math)
    v = trunc0(v * (4096 - dv) / 4096) + u + bias              saturated to 24 bits
    spike where v > vth << 6;  v = 0 after a spike               (trunc0: rounding toward zero)

Float (snntorch's forward-Euler discretization; keep factors per step in [0, 1])::

    u = alpha u + x;   v = beta v + u + bias;   spike where v > threshold;  v = 0 after a spike

Reset modes (:data:`neurolearn.ir.plan.RESET_MODES`; ``r``: the stored v is above threshold, i.e. for the late
modes the previous step spiked), integers and floats alike (``theta`` = vth << 6 or the threshold)::

    zero           spike where v > theta;  then v = v_reset                        (Lava's LIF: v_reset = 0)
    subtract       spike where v - r theta > theta;  then v = v - theta             (snntorch reset_delay=False)
    subtract_late  v = v - r theta before saturation;  spike where v > theta        (snntorch's default)
    zero_late      v = v - r v (0 on the step after a spike);  spike where v > theta (snntorch Synaptic, RLeaky)
    none           no spikes: the voltage is the output                            (NIR LI, CubaLI, I)

``dv = 4096`` (keep 0) makes v memoryless (NIR Threshold). The late modes store v before the reset, as snntorch
reports it. The integer helpers are numba functions of int64 scalars; :func:`trunc_decay`, :func:`wrap32`,
:func:`saturate24` and :func:`lif_int_step` also work elementwise on int64 numpy arrays (the Lava models call
them that way).
"""
from __future__ import annotations

import numba
import numpy as np
from numba.extending import register_jitable

from neurolearn.ir.plan import RESET_MODES

RESET_ZERO, RESET_SUBTRACT, RESET_SUBTRACT_LATE, RESET_ZERO_LATE, RESET_NONE = range(len(RESET_MODES))
STATE_MAX = 2**23 - 1      # u, v, v_d are 24-bit signed: |x| <= 2**23 - 1
DECAY_BITS = 12            # decays are fractions of 2**12
ACTIVATION_SHIFT = 6       # synaptic input enters u (and v_d) as a_in << 6


@numba.njit(cache=True, inline="always")
def wrap32(x):
    """Two's-complement wrap of int64 to int32, as numpy's int32 arithmetic and casts do."""
    return ((x + 2**31) & (2**32 - 1)) - 2**31


@numba.njit(cache=True, inline="always")
def trunc_decay(x, keep):
    """Lava's decay ``sign(x) * ((|x| * keep) >> 12)``: rounding toward zero (branch-free)."""
    p = x * keep
    m = p >> 63  # 0 or -1
    return (((p ^ m) - m) >> DECAY_BITS ^ m) - m


@numba.njit(cache=True, inline="always")
def saturate24(x):
    """Clip to the 24-bit state range [-2**23 + 1, 2**23 - 1]."""
    return np.minimum(np.maximum(x, -STATE_MAX), STATE_MAX)


@numba.njit(cache=True, inline="always")
def lif_current(u, a_in, keep_u):
    """Lava's current update: decay toward zero, add ``a_in << 6``, wrap once at +-2**23 (int32 math)."""
    x = wrap32(trunc_decay(u, keep_u) + wrap32(a_in << ACTIVATION_SHIFT))
    x = x - (x > STATE_MAX + 1) * (2 * (STATE_MAX + 1))
    return wrap32(x + (x <= -(STATE_MAX + 1)) * (2 * (STATE_MAX + 1)))


@numba.njit(cache=True, inline="always")
def lif_voltage(v, u, keep_v, bias):
    """Lava's voltage update before the threshold: decay toward zero, add u and bias, saturate to 24 bits."""
    y = wrap32(wrap32(trunc_decay(v, keep_v) + u) + bias)
    return min(max(y, -STATE_MAX), STATE_MAX)


@numba.njit(cache=True, inline="always")
def lif_int_step(u, v, a_in, keep_u, keep_v, bias, vth6, v_reset, mode):
    """One integer step of a LIF or NIRNeuron: ``-> (spikes, u, v)``. ``mode``: a RESET_* code; with
    RESET_ZERO and ``v_reset`` 0 exactly Lava's ``PyLifModelBitAcc`` (u: :func:`lif_current`)."""
    u = lif_current(u, a_in, keep_u)
    r = v > vth6
    y = wrap32(wrap32(trunc_decay(v, keep_v) + u) + bias)
    y = saturate24(y - (mode == RESET_SUBTRACT_LATE) * r * vth6)
    y = y - (mode == RESET_ZERO_LATE) * r * y
    s = (y - (mode == RESET_SUBTRACT) * r * vth6 > vth6) & (mode != RESET_NONE)
    return s, u, y - (mode == RESET_SUBTRACT) * s * vth6 + (mode == RESET_ZERO) * s * (v_reset - y)


@register_jitable
def lif_float_step(x, u, v, alpha, beta, bias, threshold, v_reset=0.0, mode=RESET_ZERO):
    """One float step: ``(input, u, v, parameters) -> (spikes, u, v)``; ``mode`` a RESET_* code (one for all
    neurons), ``threshold`` and ``v_reset`` scalars or per neuron.

    ``threshold`` None: a non-spiking neuron (LI, CubaLI, I), as RESET_NONE. Only arithmetic operators: works
    on numpy arrays, torch tensors and numba scalars alike (callable from numba code)."""
    u = alpha * u + x
    if threshold is None or mode == RESET_NONE:
        v = beta * v + u + bias
        return v * 0.0, u, v
    r = (v > threshold) * 1.0
    v = beta * v + u + bias
    if mode == RESET_SUBTRACT_LATE:
        v = v - r * threshold
    elif mode == RESET_ZERO_LATE:
        v = v - r * v
    elif mode == RESET_SUBTRACT:
        s = (v - r * threshold > threshold) * 1.0
        return s, u, v - s * threshold
    s = (v > threshold) * 1.0
    if mode == RESET_ZERO:
        return s, u, v * (1.0 - s) + s * v_reset
    return s, u, v


def lif_start_voltage(bias, keep_v, vth6, mode, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer v from which ``steps`` input-free steps of bias (u = 0) bring each neuron exactly to rest:
    ``-> (v_init, exact)``, int64 and bool arrays per neuron. A layer reached after ``steps`` steps gets its
    first input at step ``steps`` while Lava adds its bias from step 0; starting at ``v_init`` it is where the
    float model starts its step 0. Solved backwards: ``trunc_decay(x, keep) = m`` has the integer solution
    ``x = sign(m) ceil(|m| 4096 / keep)`` for keep in 1..4096 (each step moves by at most one), so every visited
    voltage is exact, and a step of :func:`lif_int_step` retraces it unless it saturates or crosses the threshold.
    ``exact`` is False where a visited v leaves the 24-bit range or exceeds ``vth6`` (a spike), or the start does
    in a ``mode`` that reads the previous v (subtract and the late resets); ``v_init`` is 0 there. Where v keeps
    nothing (``keep_v`` 0) the start does not matter: v_init 0, exact while the bias alone stays at or below the
    threshold. Pure numpy (the compiler calls it; tests/compile/test_start_voltage.py runs :func:`lif_int_step` from
    it)."""
    bias, keep_v, vth6 = np.broadcast_arrays(*(np.asarray(x, np.int64) for x in (bias, keep_v, vth6)))
    v = np.zeros(bias.shape, np.int64)
    ok = np.ones(bias.shape, bool)
    for k in range(steps):
        m = v - bias   # trunc_decay(v before this step) must equal m
        v = np.where(keep_v > 0, np.sign(m) * -(-np.abs(m) * (1 << DECAY_BITS) // np.maximum(keep_v, 1)), 0)
        start, reads_start = k == steps - 1, mode not in (RESET_ZERO, RESET_NONE)
        ok &= np.where(keep_v > 0, (np.abs(v) <= STATE_MAX) & ((v <= vth6) | (start and not reads_start)),
                       bias <= vth6)
    return np.where(ok, v, 0), ok
