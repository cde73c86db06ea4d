"""Shapes of the connections that are not dense matrices: convolutions and sparse matrices (data, numpy only).

Both the float network (:mod:`neurolearn.ir.network`) and the integer plan (:mod:`neurolearn.ir.plan`) use them,
in NIR's and torch's conventions: a population of a convolutional layer is a (channels, height, width) map whose
neurons are numbered in C order (``index = (c * height + y) * width + x``, as ``torch.flatten``); a kernel has
shape (out_channels, in_channels / groups, kernel_height, kernel_width) and is cross-correlated with the
zero-padded input, as ``torch.nn.functional.conv2d``. A 1-D convolution is a 2-D one of height 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.errors import ShapeError

PAIR_FIELDS = ("kernel", "stride", "padding", "dilation")


def _pair(value, what: str) -> tuple[int, int]:
    """(height, width) from an int or a pair of ints."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.shape != (2,) or not np.all(arr == np.round(arr)):
        raise ShapeError(f"convolution: {what} {value!r}; expected an integer or a pair of integers")
    return int(arr[0]), int(arr[1])


@dataclass(frozen=True)
class ConvGeometry:
    """One 2-D convolution: input map ``in_shape`` (C_in, H, W), ``out_channels`` kernels of ``kernel`` (kH, kW)
    each seeing ``in_channels / groups`` channels, ``stride``, symmetric zero ``padding`` and ``dilation`` as
    (height, width) pairs, as ``torch.nn.Conv2d``."""

    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self):
        shape = tuple(int(s) for s in np.atleast_1d(self.in_shape))
        if len(shape) != 3 or min(shape) < 1:
            raise ShapeError(f"convolution: in_shape {self.in_shape!r}; expected (channels, height, width) >= 1")
        object.__setattr__(self, "in_shape", shape)
        for name in PAIR_FIELDS:
            object.__setattr__(self, name, _pair(getattr(self, name), name))
        object.__setattr__(self, "out_channels", int(self.out_channels))
        object.__setattr__(self, "groups", int(self.groups))
        lows = {"kernel": 1, "stride": 1, "padding": 0, "dilation": 1}
        for name, low in lows.items():
            if min(getattr(self, name)) < low:
                raise ShapeError(f"convolution: {name} {getattr(self, name)}; allowed >= {low}")
        g = self.groups
        if g < 1 or self.in_shape[0] % g or self.out_channels < 1 or self.out_channels % g:
            raise ShapeError(f"convolution: groups {g} must divide in_channels {self.in_shape[0]} and out_channels "
                             f"{self.out_channels}")
        if min(self.out_shape[1:]) < 1:
            raise ShapeError(f"convolution: a {self.kernel} kernel (dilation {self.dilation}, padding "
                             f"{self.padding}) does not fit the {self.in_shape[1:]} input")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C_out, H_out, W_out): ``floor((n + 2 p - d (k - 1) - 1) / s) + 1`` per spatial axis."""
        hw = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in
              zip(self.in_shape[1:], self.kernel, self.stride, self.padding, self.dilation)]
        return (self.out_channels, hw[0], hw[1])

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        """The kernel array's shape: (C_out, C_in / groups, kH, kW)."""
        return (self.out_channels, self.in_shape[0] // self.groups) + self.kernel

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))


@dataclass(frozen=True)
class SparseLayout:
    """Where the stored weights of a sparse (n_target, n_source) matrix sit: weight k at (rows[k], cols[k]),
    in row-major order, each position at most once."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        rows = np.asarray(self.rows).reshape(-1)
        cols = np.asarray(self.cols).reshape(-1)
        if len(self.shape) != 2 or min(self.shape) < 1 or rows.shape != cols.shape:
            raise ShapeError(f"sparse layout: shape {self.shape}, {rows.size} rows, {cols.size} cols; expected a 2-D "
                             "shape and as many rows as cols")
        for name, arr, n in (("rows", rows, self.shape[0]), ("cols", cols, self.shape[1])):
            if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n):
                raise ShapeError(f"sparse layout: {name} must be integers in [0, {n - 1}]")
        object.__setattr__(self, "rows", rows.astype(np.int64))
        object.__setattr__(self, "cols", cols.astype(np.int64))
        flat = self.rows * self.shape[1] + self.cols
        if np.any(np.diff(flat) <= 0):
            raise ShapeError("sparse layout: positions must be in row-major order, each at most once")

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    @classmethod
    def of(cls, matrix: np.ndarray) -> "SparseLayout":
        """The layout of the nonzero entries of a dense 2-D ``matrix``."""
        rows, cols = np.nonzero(matrix)
        return cls(np.shape(matrix), rows, cols)

    def dense(self, values: np.ndarray) -> np.ndarray:
        """The (n_target, n_source) matrix holding ``values`` at this layout (zeros elsewhere)."""
        out = np.zeros(self.shape, np.asarray(values).dtype)
        out[self.rows, self.cols] = values
        return out
