"""Datasets that ship with installed packages (no network at run time)."""
from __future__ import annotations

import numpy as np


def digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 digits, pixel values scaled to [0, 1].

    Returns (x_train, y_train, x_test, y_test): x of shape (n, 64) float32, y int64 labels 0-9.
    The split is stratified and fixed by ``seed``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te
