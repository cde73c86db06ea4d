"""Lava's Conv as its fixed-point model computes it (mirrored; Lava 0.10.0's ``PyConvModelFixed`` is the spec).

Each step the Conv sends what it computed on the previous step (one step of delay, as Dense), then convolves
this step's binary input with its kernel **as given**: no ``weight_exp``, no clipping or truncation to
``num_weight_bits`` (the fixed_pt model applies neither), sums exact (scipy's ``convolve2d`` in float64, cast to
int32), and wraps the result to 24 bits (``signed_clamp(x, 24)``: ``((x + 2**23) mod 2**24) - 2**23``).
Lava convolves a (width, height, channels) map with a kernel flipped in both spatial axes; that is torch's
cross-correlation of the (channels, height, width) map with the unflipped kernel, which is how neurolearn stores
it (:mod:`neurolearn.ir.geometry`).

Event-driven: a spike of an input neuron adds its slices of the kernel into the output map (:func:`conv_scatter`),
no matrix is formed. Which slices land where is tabled once per input position (:func:`conv_runs`): where the
dilation divides the stride (and groups is 1), the taps of one kernel row that reach the output reach consecutive
outputs, so a spike adds a few contiguous runs rather than a tap at a time. The geometry travels as one int64 row
(:data:`GEOMETRY`).
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from neurolearn.ir.geometry import ConvGeometry

CONV_BITS = 24   # Lava's Conv wraps its output to 24-bit signed
GEOMETRY = ("c_in", "h", "w", "c_out", "h_out", "w_out", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "groups")


def geometry_row(g: ConvGeometry) -> np.ndarray:
    """The geometry as the int64 row the kernels read (fields in :data:`GEOMETRY` order)."""
    return np.array(g.in_shape + g.out_shape[:1] + g.out_shape[1:] + g.kernel + g.stride + g.padding + g.dilation
                    + (g.groups,), np.int64)


def _axis_taps(n: int, n_out: int, k: int, stride: int, pad: int, dilation: int) -> list[list[tuple[int, int]]]:
    """Along one axis, per input position: the (tap, output position) pairs that land on the output, by
    increasing output position (output o reads input ``o stride + tap dilation - pad``)."""
    taps = [[] for _ in range(n)]
    for o in range(n_out):
        for tap in range(k):
            pos = o * stride + tap * dilation - pad
            if 0 <= pos < n:
                taps[pos].append((tap, o))
    return taps


def _tap_order(g: ConvGeometry) -> np.ndarray:
    """Where each kernel column q lies in a kernel row of :func:`kernel_by_input`: grouped by the input columns
    that reach the output through it (``q dilation mod stride``), descending q within a group, so that the taps
    one input column uses lie side by side in the order of the outputs they reach."""
    kw, sw, dw = g.kernel[1], g.stride[1], g.dilation[1]
    order = sorted(range(kw), key=lambda q: ((q * dw) % sw, -q))
    where = np.empty(kw, np.int64)
    where[order] = np.arange(kw)
    return where


def kernel_by_input(kernel: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """The kernel (C_out, C_in / groups, kH, kW) laid out for :func:`conv_scatter`: flat, by input channel c,
    then kernel row p, then column q in :func:`_tap_order`, then the c's group's output channels (contiguous),
    int32."""
    k_grp, c_grp = g.out_channels // g.groups, g.in_shape[0] // g.groups
    w = np.asarray(kernel).reshape(g.groups, k_grp, c_grp, *g.kernel)   # [group, kk, cl, p, q]
    w = w[..., np.argsort(_tap_order(g))]
    return np.ascontiguousarray(w.transpose(0, 2, 3, 4, 1)).reshape(-1).astype(np.int32)   # [group, cl, p, q, kk]


@functools.lru_cache(maxsize=64)
def conv_runs(g: ConvGeometry) -> tuple[np.ndarray, np.ndarray]:
    """What a spike at input position (y, x) adds, as runs: ``-> (ptr, runs)``; position ``y W + x`` owns
    ``runs[ptr[i]:ptr[i + 1]]``, rows (o, k, n): n consecutive output positions from flat position o (in the
    (H_out, W_out, C_out) map, times C_out) receive the n C_out-long kernel slices from offset k of the input
    channel's kernel (:func:`kernel_by_input`; one slice per run where groups > 1). One run per kernel row where
    the dilation divides the stride and groups is 1: the scatter adds whole rows, not tap by tap. Cached per
    geometry (a simulation of the same plan does not table it again); the arrays are read-only."""
    (_, h, w), (c_out, h_out, w_out) = g.in_shape, g.out_shape
    k_grp, kw = c_out // g.groups, g.kernel[1]
    rows = _axis_taps(h, h_out, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0])
    where = _tap_order(g)
    x_runs = []
    for taps in _axis_taps(w, w_out, kw, g.stride[1], g.padding[1], g.dilation[1]):
        runs = []   # (first output column, first tap's slot, n)
        for q, xo in taps:
            last = runs[-1] if runs else None
            if (g.groups == 1 and last and xo == last[0] + last[2] and where[q] == last[1] + last[2]):
                runs[-1] = (last[0], last[1], last[2] + 1)
            else:
                runs.append((xo, int(where[q]), 1))
        x_runs.append(runs)
    ptr, out = [0], []
    for y in range(h):
        for x in range(w):
            out += [((yo * w_out + xo) * c_out, (p * kw + slot) * k_grp, n) for p, yo in rows[y]
                    for xo, slot, n in x_runs[x]]
            ptr.append(len(out))
    ptr, runs = np.array(ptr, np.int64), np.array(out, np.int64).reshape(-1, 3)
    ptr.flags.writeable = runs.flags.writeable = False
    return ptr, runs


@numba.njit(cache=True, inline="always")
def wrap24(x):
    """Lava's ``signed_clamp(x, 24)``: two's-complement wrap to 24 bits."""
    return ((x + 2**23) & (2**24 - 1)) - 2**23


@numba.njit(cache=True)
def conv_scatter(acc, kern, rows, count, geo, ptr, runs):
    """Add the kernel slices of the spikes of input neurons ``rows[:count]`` ((c, y, x) in C order) into ``acc``,
    the output map laid out (H_out, W_out, C_out) (channels contiguous); ``kern`` from :func:`kernel_by_input`,
    ``geo`` a :func:`geometry_row`, (``ptr``, ``runs``) from :func:`conv_runs`."""
    c_grp, hw, c_out, groups = geo[0] // geo[14], geo[1] * geo[2], geo[3], geo[14]
    k_grp = c_out // groups
    kernel_size = geo[6] * geo[7] * k_grp        # one input channel's kernel
    for i in range(count):
        c = rows[i] // hw
        pos = rows[i] - c * hw
        o_grp = (c // c_grp) * k_grp   # the group's first output channel
        for r in range(ptr[pos], ptr[pos + 1]):
            # unsigned indices: numba adds no negative-index wraparound, and the loop vectorizes
            o, k = np.uint64(runs[r, 0] + o_grp), np.uint64(runs[r, 1] + c * kernel_size)
            for j in range(np.uint64(runs[r, 2] * k_grp)):
                acc[o + j] += kern[k + j]


@numba.njit(cache=True)
def conv_gather(out, acc, geo):
    """out[(k, yo, xo) in C order] = wrap24(acc[(yo, xo, k)]): the Conv's activations in the target's neuron
    order; zeroes ``acc``."""
    c_out, h_out, w_out = geo[3], geo[4], geo[5]
    hw = h_out * w_out
    for o in range(hw):
        for k in range(c_out):
            out[k * hw + o] = wrap24(np.int64(acc[o * c_out + k]))
            acc[o * c_out + k] = 0


def conv_sum_bound(g: ConvGeometry) -> int:
    """The largest |sum| one output of a Conv with 8-bit weights can reach in one step (exact in int32 below
    2**31 - 2**23, where Lava's int32 ``signed_clamp`` is exact too)."""
    return 256 * g.kernel[0] * g.kernel[1] * (g.in_shape[0] // g.groups)
