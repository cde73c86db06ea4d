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
