"""The LIF neuron: Lava's fixed-point arithmetic (mirrored; Lava is the spec) and the float step.

Fixed point, as Lava 0.10.0's ``PyLifModelBitAcc`` (integers, 12-bit decays, ``vth << 6``)::

    u = trunc0(u * (4096 - du - 1) / 4096) + (a_in << 6)       wrapped once at +-2**23 (int32 math)
    v = trunc0(v * (4096 - dv) / 4096) + u + bias              saturated to 24 bits
    spike where v > vth << 6;  v = 0 after a spike               (trunc0: rounding toward zero)

Float (snntorch's forward-Euler discretization; keep factors per step in [0, 1])::

    u = alpha u + x;   v = beta v + u + bias;   spike where v > threshold;  v = 0 after a spike

The integer helpers are numba functions of int64 scalars; :func:`trunc_decay`, :func:`wrap32` and
:func:`saturate24` also work elementwise on int64 numpy arrays (the Lava models call them that way).
"""
from __future__ import annotations

import numba
import numpy as np
from numba.extending import register_jitable

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


@register_jitable
def lif_float_step(x, u, v, alpha, beta, bias, threshold):
    """One float step: ``(input, u, v, parameters) -> (spikes, u, v)``, v reset to 0 where it spikes.

    ``threshold`` None: a non-spiking neuron (LI, CubaLI, I), no spikes and no reset. Only arithmetic
    operators: works on numpy arrays, torch tensors and numba scalars alike (callable from numba code)."""
    u = alpha * u + x
    v = beta * v + u + bias
    if threshold is None:
        return v * 0.0, u, v
    s = (v > threshold) * 1.0
    return s, u, v * (1.0 - s)
