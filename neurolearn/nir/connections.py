"""What NIR's connection nodes mean, once: Conv1d, Conv2d, SumPool2d and AvgPool2d as a
:class:`~neurolearn.ir.geometry.ConvGeometry` and a float kernel, Delay as whole time steps.

The compiler (:mod:`neurolearn.compile.normalize`) and the import back to torch (:mod:`neurolearn.nir.to_torch`)
both read the nodes through these functions. Shapes are NIR's: channels first, (height, width); Conv1d's input
(C, L) is a (C, 1, L) map. Pooling windows are counted whole (torch's ``count_include_pad=True``: AvgPool2d
divides by kH * kW also where the window overlaps the padding).
"""
from __future__ import annotations

import nir
import numpy as np

from neurolearn.errors import ShapeError, UnsupportedNodeError, where
from neurolearn.ir.geometry import ConvGeometry

CONV_TYPES = (nir.Conv1d, nir.Conv2d)
POOL_TYPES = (nir.SumPool2d, nir.AvgPool2d)


def node_ints(value, n: int, node_name: str, param: str, file=None) -> tuple[int, ...]:
    """An int or n ints as n ints (refusing anything else)."""
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, n)
    if arr.size != n or not np.all(arr == np.round(arr)):
        raise ShapeError(f"{where(file, node_name, param)}: {value!r}; expected an integer or {n} integers")
    return tuple(int(a) for a in arr)


def _padding(node, kernel, dilation, n: int, name: str, file) -> tuple[int, ...]:
    """NIR padding (ints, 'valid' or 'same') as symmetric ints; 'same' needs an even d (k - 1) per axis."""
    if isinstance(node.padding, str):
        if node.padding == "valid":
            return (0,) * n
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in total) or any(s != 1 for s in node_ints(node.stride, n, name, "stride", file)):
            raise UnsupportedNodeError(
                f"{where(file, name, 'padding')}: 'same' with kernel {kernel}, dilation {dilation} and stride "
                f"{node.stride} pads unevenly; Lava's Conv pads both sides alike: use stride 1 and odd "
                "dilation * (kernel - 1) + 1, or explicit padding")
        return tuple(t // 2 for t in total)
    return node_ints(node.padding, n, name, "padding", file)


def conv_geometry(node, name: str, in_shape, file=None) -> tuple[ConvGeometry, np.ndarray, np.ndarray]:
    """A NIR Conv1d / Conv2d reading a map of ``in_shape`` ((C, L), (C, H, W) or the flat size when the node
    records its own input_shape): (geometry, kernel (C_out, C_in / groups, kH, kW), bias (C_out,)), float."""
    one_d = isinstance(node, nir.Conv1d)
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != (3 if one_d else 4):
        raise ShapeError(f"{where(file, name, 'weight')}: shape {w.shape}; expected (C_out, C_in / groups, "
                         f"{'K' if one_d else 'kH, kW'})")
    kernel = w[:, :, None, :] if one_d else w
    groups = int(node.groups)
    n = 1 if one_d else 2
    spatial = None if node.input_shape is None else node_ints(node.input_shape, n, name, "input_shape", file)
    shape = tuple(int(s) for s in np.atleast_1d(in_shape)) if in_shape is not None else None
    c_in = w.shape[1] * groups
    if spatial is not None:
        shape_from_node = (c_in,) + spatial
        if shape is not None and np.prod(shape) != np.prod(shape_from_node) and shape != shape_from_node:
            raise ShapeError(f"{where(file, name)}: its input_shape {spatial} with {c_in} channels does not match "
                             f"its input of shape {shape}")
        shape = shape_from_node
    if shape is None or len(shape) != n + 1 or shape[0] != c_in:
        raise ShapeError(f"{where(file, name)}: input of shape {shape}; a {type(node).__name__} with {c_in} "
                         f"input channels needs ({c_in}, {'L' if one_d else 'H, W'}) (set its input_shape)")
    pairs = {}
    for param in ("stride", "dilation"):
        pairs[param] = node_ints(getattr(node, param), n, name, param, file)
    pairs["padding"] = _padding(node, kernel.shape[4 - n:], pairs["dilation"], n, name, file)
    if one_d:
        pairs = {k: (1 if k != "padding" else 0,) + v for k, v in pairs.items()}
        shape = (shape[0], 1, shape[1])
    try:
        geo = ConvGeometry(shape, w.shape[0], kernel.shape[2:], groups=groups, **pairs)
    except ShapeError as exc:
        raise ShapeError(f"{where(file, name)}: {exc}") from None
    bias = np.broadcast_to(np.asarray(getattr(node, "bias", 0.0), dtype=np.float64).reshape(-1), (w.shape[0],))
    return geo, kernel, bias.copy()


def pool_params(node, name: str, file=None) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """A NIR SumPool2d / AvgPool2d's (kernel_size, stride, padding), each (height, width)."""
    kernel = node_ints(node.kernel_size, 2, name, "kernel_size", file)
    stride = node_ints(kernel if node.stride is None else node.stride, 2, name, "stride", file)
    padding = node_ints(0 if node.padding is None else node.padding, 2, name, "padding", file)
    return kernel, stride, padding


def pool_geometry(node, name: str, in_shape, file=None) -> tuple[ConvGeometry, np.ndarray]:
    """A NIR SumPool2d / AvgPool2d on a (C, H, W) map as a depthwise convolution (groups = C): (geometry,
    kernel (C, 1, kH, kW) of ones, or of 1 / (kH kW) for AvgPool2d)."""
    shape = tuple(int(s) for s in np.atleast_1d(in_shape)) if in_shape is not None else ()
    if len(shape) != 3:
        raise ShapeError(f"{where(file, name)}: input of shape {shape or 'unknown'}; {type(node).__name__} "
                         "pools a (channels, height, width) map")
    kernel, stride, padding = pool_params(node, name, file)
    try:
        geo = ConvGeometry(shape, shape[0], kernel, stride=stride, padding=padding, groups=shape[0])
    except ShapeError as exc:
        raise ShapeError(f"{where(file, name)}: {exc}") from None
    value = 1.0 / (kernel[0] * kernel[1]) if isinstance(node, nir.AvgPool2d) else 1.0
    return geo, np.full(geo.kernel_shape, value)


def delay_steps(node: nir.Delay, name: str, dt: float, file=None) -> tuple[np.ndarray, float]:
    """A NIR Delay's delays (seconds) in whole steps of ``dt`` (rounded to nearest), and the largest rounding
    error in seconds."""
    d = np.asarray(node.delay, dtype=np.float64)
    if not np.all(np.isfinite(d)) or d.min(initial=0) < 0:
        raise UnsupportedNodeError(f"{where(file, name, 'delay')}: {d.min(initial=0):g} s; allowed finite >= 0 s")
    steps = np.round(d / dt).astype(np.int64)
    return steps, float(np.abs(steps * dt - d).max(initial=0.0))


def true_conv_types(graph: nir.NIRGraph, file=None) -> None:
    """Set the input and output types of ``graph``'s Conv1d / Conv2d nodes that record an input_shape to what
    they are: NIR 1.0 counts weight.shape[1] = C_in / groups input channels and a square kernel. In place: call
    it on a copy (:func:`neurolearn.nir.graph.flatten` makes one)."""
    for name, node in graph.nodes.items():
        if isinstance(node, CONV_TYPES) and node.input_shape is not None:
            geo = conv_geometry(node, name, None, file)[0]
            out = geo.out_shape if isinstance(node, nir.Conv2d) else (geo.out_shape[0], geo.out_shape[2])
            shape = geo.in_shape if isinstance(node, nir.Conv2d) else (geo.in_shape[0], geo.in_shape[2])
            node.input_type, node.output_type = {"input": np.array(shape)}, {"output": np.array(out)}
