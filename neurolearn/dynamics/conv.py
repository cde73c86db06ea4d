"""Lava's Conv as its fixed-point model computes it (mirrored; Lava 0.10.0's ``PyConvModelFixed`` is the spec).

Each step the Conv sends what it computed on the previous step (one step of delay, as Dense), then convolves
this step's binary input with its kernel **as given**: no ``weight_exp``, no clipping or truncation to
``num_weight_bits`` (the fixed_pt model applies neither), sums exact (scipy's ``convolve2d`` in float64, cast to
int32), and wraps the result to 24 bits (``signed_clamp(x, 24)``: ``((x + 2**23) mod 2**24) - 2**23``).
Lava convolves a (width, height, channels) map with a kernel flipped in both spatial axes; that is torch's
cross-correlation of the (channels, height, width) map with the unflipped kernel, which is how neurolearn stores
it (:mod:`neurolearn.ir.geometry`).

Event-driven: a spike of input neuron ``f`` adds its slice of the kernel into the output map
(:func:`conv_scatter`); no matrix is formed. The geometry travels as one int64 row (:data:`GEOMETRY`).
"""
from __future__ import annotations

import numba
import numpy as np

from neurolearn.ir.geometry import ConvGeometry

CONV_BITS = 24   # Lava's Conv wraps its output to 24-bit signed
GEOMETRY = ("c_in", "h", "w", "c_out", "h_out", "w_out", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "groups")


def geometry_row(g: ConvGeometry) -> np.ndarray:
    """The geometry as the int64 row the kernels read (fields in :data:`GEOMETRY` order)."""
    return np.array(g.in_shape + g.out_shape[:1] + g.out_shape[1:] + g.kernel + g.stride + g.padding + g.dilation
                    + (g.groups,), np.int64)


def kernel_by_input(kernel: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """The kernel (C_out, C_in / groups, kH, kW) laid out for :func:`conv_scatter`: flat, by input channel c,
    then (p, q), then the c's group's output channels (contiguous), int32."""
    k_grp, c_grp = g.out_channels // g.groups, g.in_shape[0] // g.groups
    w = np.asarray(kernel).reshape(g.groups, k_grp, c_grp, *g.kernel)   # [group, kk, cl, p, q]
    return np.ascontiguousarray(w.transpose(0, 2, 3, 4, 1)).reshape(-1).astype(np.int32)   # [group, cl, p, q, kk]


@numba.njit(cache=True, inline="always")
def wrap24(x):
    """Lava's ``signed_clamp(x, 24)``: two's-complement wrap to 24 bits."""
    return ((x + 2**23) & (2**24 - 1)) - 2**23


@numba.njit(cache=True, inline="always")
def _out_index(pos, pad, tap, dilation, stride, n_out):
    """Along one axis, the output position that input ``pos`` reaches through kernel tap ``tap``: -1 where this
    tap reaches none, -2 where no later tap can (it would be left of the map)."""
    t = pos + pad - tap * dilation
    if t < 0:
        return -2
    if t % stride or t // stride >= n_out:
        return -1
    return t // stride


@numba.njit(cache=True, inline="always")
def _taps(pos, pad, dilation, stride):
    """(first, step) of the kernel taps worth trying along one axis: with dilation 1 only every stride-th tap, the
    one congruent to ``pos + pad``, can land on an output position; otherwise every tap."""
    return ((pos + pad) % stride, stride) if dilation == 1 else (0, 1)


@numba.njit(cache=True, inline="always")
def _reach(pos, pad, tap, i, first, dilation, stride, n_out):
    """:func:`_out_index` of the i-th tap tried (``tap``); with dilation 1, where the taps tried are stride apart,
    it is ``first - i`` (``first``: the first tap's output), without a division."""
    if dilation != 1:
        return _out_index(pos, pad, tap, dilation, stride, n_out)
    o = first - i
    return -2 if o < 0 else -1 if o >= n_out else o


@numba.njit(cache=True)
def conv_scatter(acc, kern, f, geo):
    """Add the kernel slice of a spike of input neuron ``f`` ((c, y, x) in C order) into ``acc``, the output map
    laid out (H_out, W_out, C_out) (channels contiguous); ``kern`` from :func:`kernel_by_input`, ``geo`` a
    :func:`geometry_row`. Output (yo, xo) reads input (yo sh + p dh - ph, xo sw + q dw - pw) through kernel (p, q)."""
    c_in, h, w, c_out, h_out, w_out, kh, kw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7]
    sh, sw, ph, pw, dh, dw, groups = geo[8], geo[9], geo[10], geo[11], geo[12], geo[13], geo[14]
    c, y, x = f // (h * w), (f // w) % h, f % w
    k_grp = c_out // groups
    first = (c // (c_in // groups)) * k_grp
    p0, p_step = _taps(y, ph, dh, sh)
    q0, q_step = _taps(x, pw, dw, sw)
    y_first, x_first = (y + ph - p0) // sh, (x + pw - q0) // sw
    for i in range((kh - p0 + p_step - 1) // p_step):
        p = p0 + i * p_step
        yo = _reach(y, ph, p, i, y_first, dh, sh, h_out)
        if yo == -2:
            break
        if yo < 0:
            continue
        for j in range((kw - q0 + q_step - 1) // q_step):
            q = q0 + j * q_step
            xo = _reach(x, pw, q, j, x_first, dw, sw, w_out)
            if xo == -2:
                break
            if xo < 0:
                continue
            o = (yo * w_out + xo) * c_out + first
            k0 = ((c * kh + p) * kw + q) * k_grp
            for kk in range(k_grp):
                acc[o + kk] += kern[k0 + kk]


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
