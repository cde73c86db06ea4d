"""Lava's Dense and LearningDense weights as they are used (mirrored; Lava 0.10.0 is the spec): 8-bit
weights, clipped and LSB-truncated by sign mode and ``num_weight_bits``."""
from __future__ import annotations

import numpy as np


def sign_mode(weights: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: 'excitatory' (all >= 0), 'inhibitory' (all <= 0) or 'mixed'."""
    if weights.min(initial=0) >= 0:
        return "excitatory"
    if weights.max(initial=0) <= 0:
        return "inhibitory"
    return "mixed"


def effective_weights(weights: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """The weights Lava's Dense actually uses: ``clip_weights(num_bits=8)`` then ``truncate_weights``.

    Mixed-sign weights lose one more bit (the sign's): with 8 weight bits they become even.
    """
    w = np.asarray(weights, dtype=np.int64)
    mode = sign_mode(w)
    mixed = mode == "mixed"
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 if mixed else 0, 255)
    shift = 8 - num_weight_bits + int(mixed)
    w = (w >> shift) << shift
    return -w if mode == "inhibitory" else w


def truncate_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int) -> np.ndarray:
    """Lava's ``truncate_weights`` (no clipping): what ``LearningDense`` does to its weights on step 1."""
    w = np.asarray(weights, dtype=np.int64)
    sign = -1 if sign_mode == "inhibitory" else 1
    shift = 8 - num_weight_bits + int(sign_mode == "mixed")
    return sign * (((sign * w) >> shift) << shift)
