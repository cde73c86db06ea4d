"""Spike encoders: turn values in [0, 1] into binary spike trains, seeded."""
from __future__ import annotations

import numpy as np

from neurolearn.errors import InputError


def poisson_spikes(rates: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """Bernoulli spikes: each step, channel i spikes with probability ``rates[..., i]`` (in [0, 1]).

    ``rates`` of shape (n,) or (batch, n) gives spikes of shape (steps, n) or (batch, steps, n), uint8.
    """
    rates = np.asarray(rates, dtype=np.float64)
    if not np.all(np.isfinite(rates)) or rates.min(initial=0) < 0 or rates.max(initial=0) > 1:
        raise InputError("poisson_spikes: rates must be finite and in [0, 1] (spike probability per step)")
    if steps < 1:
        raise InputError(f"poisson_spikes: steps = {steps}; allowed >= 1")
    rng = np.random.default_rng(seed)
    shape = rates.shape[:-1] + (steps, rates.shape[-1])
    return (rng.random(shape) < np.expand_dims(rates, -2)).astype(np.uint8)


def _check_unit(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(initial=0) > 1:
        raise InputError(f"{what}: values must be finite and in [0, 1]")
    return values


def rate_spikes(values: np.ndarray, steps: int, max_rate: float = 1.0) -> np.ndarray:
    """Deterministic rate code: channel i spikes every 1/(values[i] * max_rate) steps (an accumulator
    that fires on reaching 1), so its count over ``steps`` is floor(steps * values[i] * max_rate)."""
    values = _check_unit(values, "rate_spikes") * max_rate
    if steps < 1 or not 0 < max_rate <= 1:
        raise InputError(f"rate_spikes: steps = {steps}, max_rate = {max_rate}; allowed steps >= 1, 0 < max_rate <= 1")
    t = np.arange(1, steps + 1).reshape((steps,) + (1,) * values.ndim)
    acc = np.floor(t * values + 1e-9)
    spikes = np.diff(acc, axis=0, prepend=0).astype(np.uint8)
    return np.moveaxis(spikes, 0, -2)


def latency_spikes(values: np.ndarray, steps: int) -> np.ndarray:
    """Latency code: one spike per channel, at step round((1 - value) * (steps - 1)); value 0: no spike."""
    values = _check_unit(values, "latency_spikes")
    if steps < 1:
        raise InputError(f"latency_spikes: steps = {steps}; allowed >= 1")
    when = np.round((1.0 - values) * (steps - 1)).astype(int)
    spikes = (np.arange(steps).reshape((steps,) + (1,) * values.ndim) == when) & (values > 0)
    return np.moveaxis(spikes.astype(np.uint8), 0, -2)
