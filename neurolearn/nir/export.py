"""snntorch -> NIR: ``export_to_nir`` for ``nn.Sequential`` models.

snntorch's discretization is forward Euler with the input gain folded in, so with
``tau = dt / (1 - beta)`` and ``r = tau / dt`` NIR's ``tau dv/dt = -v + r I`` becomes exactly
snntorch's ``v <- beta v + I`` (likewise ``tau_syn``/``w_in`` for the synaptic current).
Neuron parameters are written as float64 per-neuron arrays (beta -> tau -> beta recovers a
float32 beta bit for bit), weights in the model's own dtype. The reset mechanism and
``reset_delay``, which NIR cannot express, go into the node's neurolearn metadata.
Convolutional models (``nn.Conv2d``, ``nn.AvgPool2d``, ``nn.Flatten``) need ``input_shape=(C, H, W)``;
NIR has no max pooling, so ``nn.MaxPool2d`` is refused.
"""
from __future__ import annotations

import numbers
from typing import Iterator, Sequence

import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

import neurolearn
from neurolearn.errors import InputError, ShapeError, UnsupportedNodeError, shown
from neurolearn.nir.extension import KEY, SCHEMA_VERSION

SUPPORTED_MODULES = ("nn.Sequential (nested allowed), nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.Flatten, "
                     "snn.Leaky, snn.Synaptic, snn.RLeaky")


def export_to_nir(model: nn.Module, *, dt: float, input_shape: Sequence[int] | None = None) -> nir.NIRGraph:
    """The NIR graph of an snntorch ``nn.Sequential`` model, with ``dt`` (seconds) recorded.

    ``input_shape`` is one sample's shape without the batch dimension; if left out it is taken
    from the first ``nn.Linear`` (``(in_features,)``). Nodes are named by module path
    (``"1"``, ``"2.0"`` for nested Sequentials); the graph's ends are ``"input"``/``"output"``.
    Raises UnsupportedNodeError for any module or setting that cannot be mapped.
    """
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not (np.isfinite(dt) and dt > 0):
        raise InputError(f"export_to_nir: dt = {shown(dt)}; allowed: a finite number of seconds > 0")
    dt = float(dt)
    if type(model) is not nn.Sequential:
        raise UnsupportedNodeError(
            f"model has type {type(model).__name__}; export_to_nir needs an nn.Sequential of: {SUPPORTED_MODULES}"
        )
    leaves = list(_leaves(model, ""))
    shape = _input_shape(leaves, input_shape)
    names = {path for path, _ in leaves}
    first, last = _fresh("input", names), _fresh("output", names)
    nodes: dict[str, nir.NIRNode] = {first: nir.Input(input_type=np.array(shape))}
    edges, prev = [], first
    for path, module in leaves:
        nodes[path], shape = _convert(path, module, shape, dt)
        edges.append((prev, path))
        prev = path
    nodes[last] = nir.Output(output_type=np.array(shape))
    edges.append((prev, last))
    producer = f"neurolearn {neurolearn.__version__} / snntorch {snn.__version__}"
    metadata = {KEY: {"version": SCHEMA_VERSION, "dt": dt, "integration": "euler", "producer": producer}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def _leaves(module: nn.Sequential, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if type(child) is nn.Sequential:
            yield from _leaves(child, path)
        else:
            yield path, child


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _input_shape(leaves, input_shape) -> tuple[int, ...]:
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if not shape or min(shape) < 1:
            raise InputError(f"export_to_nir: input_shape {tuple(input_shape)}; allowed: positive sizes, no batch dim")
        return shape
    for _, module in leaves:
        if type(module) is nn.Linear:
            return (module.in_features,)
        if type(module) in (nn.Conv2d, nn.AvgPool2d):
            break
    raise InputError("export_to_nir: cannot infer the input shape (no nn.Linear first); pass input_shape=(...), "
                     "e.g. (1, 28, 28) for one-channel 28x28 images")


def _convert(path: str, m: nn.Module, shape: tuple[int, ...], dt: float) -> tuple[nir.NIRNode, tuple[int, ...]]:
    """The NIR node for module ``m`` at ``path`` and its output shape."""
    kind = type(m)
    if kind is nn.Linear:
        return _linear(path, m, shape), (m.out_features,)
    if kind is nn.Flatten:
        return _flatten(path, m, shape)
    if kind in (nn.Conv1d, nn.Conv2d):
        return _conv(path, m, shape)
    if kind is nn.AvgPool2d:
        return _avg_pool(path, m, shape)
    if kind in (nn.MaxPool2d, nn.AdaptiveMaxPool2d):
        raise UnsupportedNodeError(
            f"module '{path}' ({kind.__name__}): NIR has no max pooling (only SumPool2d and AvgPool2d); "
            "use nn.AvgPool2d"
        )
    if kind is snn.Leaky:
        return _leaky(path, m, shape, dt, "Leaky"), shape
    if kind is snn.Synaptic:
        return _synaptic(path, m, shape, dt), shape
    if kind is snn.RLeaky:
        return _rleaky(path, m, shape, dt), shape
    raise UnsupportedNodeError(f"module '{path}' has type {kind.__name__}; supported: {SUPPORTED_MODULES}")


def _linear(path: str, m: nn.Linear, shape) -> nir.NIRNode:
    if shape != (m.in_features,):
        raise ShapeError(f"module '{path}' (Linear): expects input shape ({m.in_features},), gets {shape}")
    weight = m.weight.detach().cpu().numpy().copy()
    if m.bias is None:
        return nir.Linear(weight=weight)
    return nir.Affine(weight=weight, bias=m.bias.detach().cpu().numpy().copy())


def _conv(path: str, m, shape) -> tuple[nir.NIRNode, tuple[int, ...]]:
    """nn.Conv1d / nn.Conv2d -> NIR Conv1d / Conv2d (zero padding only; no bias: bias 0)."""
    one_d = isinstance(m, nn.Conv1d)
    kind = type(m).__name__
    if len(shape) != (2 if one_d else 3) or shape[0] != m.in_channels:
        raise ShapeError(f"module '{path}' ({kind}): input shape {shape}; expected ({m.in_channels}, "
                         f"{'L' if one_d else 'H, W'})")
    if m.padding_mode != "zeros":
        raise UnsupportedNodeError(f"module '{path}' ({kind}): padding_mode {m.padding_mode!r}; allowed 'zeros'")
    weight = m.weight.detach().cpu().numpy().copy()
    bias = np.zeros(m.out_channels, weight.dtype) if m.bias is None else m.bias.detach().cpu().numpy().copy()
    padding = m.padding if isinstance(m.padding, str) else (m.padding[0] if one_d else tuple(m.padding))
    args = dict(weight=weight, stride=m.stride[0] if one_d else tuple(m.stride), padding=padding,
                dilation=m.dilation[0] if one_d else tuple(m.dilation), groups=m.groups, bias=bias)
    node = nir.Conv1d(input_shape=shape[1], **args) if one_d else nir.Conv2d(input_shape=tuple(shape[1:]), **args)
    with torch.no_grad():
        out = tuple(m(torch.zeros((1, *shape), dtype=m.weight.dtype)).shape[1:])
    # NIR 1.0's types count weight.shape[1] = C_in / groups input channels and a square kH x kH kernel
    node.input_type, node.output_type = {"input": np.array(shape)}, {"output": np.array(out)}
    return node, out


def _avg_pool(path: str, m: nn.AvgPool2d, shape) -> tuple[nir.NIRNode, tuple[int, ...]]:
    """nn.AvgPool2d (floor mode, counting the padding) -> NIR AvgPool2d."""
    if len(shape) != 3:
        raise ShapeError(f"module '{path}' (AvgPool2d): input shape {shape}; expected (C, H, W)")
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        raise UnsupportedNodeError(f"module '{path}' (AvgPool2d): ceil_mode={m.ceil_mode}, count_include_pad="
                                   f"{m.count_include_pad}, divisor_override={m.divisor_override}; allowed False, "
                                   "True, None (NIR's AvgPool2d)")
    pair = lambda v: np.broadcast_to(np.asarray(v, np.int64), (2,)).copy()  # noqa: E731
    kernel, stride, padding = pair(m.kernel_size), pair(m.kernel_size if m.stride is None else m.stride), \
        pair(m.padding)
    out = (shape[0],) + tuple(int(n + 2 * p - k) // int(s) + 1
                              for n, k, s, p in zip(shape[1:], kernel, stride, padding))
    return nir.AvgPool2d(kernel_size=kernel, stride=stride, padding=padding), out


def _flatten(path: str, m: nn.Flatten, shape) -> tuple[nir.NIRNode, tuple[int, ...]]:
    ndim = len(shape) + 1  # torch dims count the batch, NIR's do not
    start = m.start_dim + ndim if m.start_dim < 0 else m.start_dim
    end = m.end_dim + ndim if m.end_dim < 0 else m.end_dim
    if not 1 <= start <= end < ndim:
        raise UnsupportedNodeError(
            f"module '{path}' (Flatten): start_dim={m.start_dim}, end_dim={m.end_dim} on input shape "
            f"(batch, {', '.join(map(str, shape))}); allowed: dims after the batch dim, start <= end"
        )
    out = tuple(torch.zeros((1, *shape)).flatten(start, end).shape[1:])
    nir_end = -1 if end == ndim - 1 else end - 1
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start - 1, end_dim=nir_end), out


def _per_neuron(path: str, name: str, value, shape) -> np.ndarray:
    """``value`` (scalar or tensor) as a float64 array of the layer's shape."""
    arr = value.detach().cpu().double().numpy() if torch.is_tensor(value) else np.asarray(value, np.float64)
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ShapeError(
            f"module '{path}': parameter '{name}' has shape {arr.shape}, layer shape is {shape}"
        ) from None


def _neuron_info(path: str, m, kind: str) -> dict:
    """Refuse what NIR cannot carry; return the node's neurolearn metadata block."""
    problems = []
    if m.inhibition:
        problems.append("inhibition=True")
    if m.state_quant:
        problems.append("state_quant is set")
    if torch.any(torch.as_tensor(m.graded_spikes_factor) != 1):
        problems.append(f"graded_spikes_factor = {torch.as_tensor(m.graded_spikes_factor).tolist()} (allowed 1)")
    if m.reset_mechanism not in ("subtract", "zero"):
        problems.append(f"reset_mechanism = {m.reset_mechanism!r} (allowed 'subtract', 'zero')")
    if problems:
        raise UnsupportedNodeError(f"module '{path}' ({kind}): {'; '.join(problems)}")
    return {"reset": m.reset_mechanism, "reset_delay": bool(m.reset_delay), "module": kind}


def _decay(path: str, kind: str, name: str, value, shape, allow_one: bool) -> np.ndarray:
    arr = _per_neuron(path, name, value, shape)
    high_ok = arr <= 1 if allow_one else arr < 1
    bad = ~((arr > 0) & high_ok)
    if bad.any():
        allowed = "(0, 1]" if allow_one else "(0, 1)"
        raise UnsupportedNodeError(
            f"module '{path}' ({kind}): parameter '{name}' = {shown(arr[bad].flat[0])} outside {allowed}"
        )
    return arr


def _leaky(path: str, m, shape, dt: float, kind: str) -> nir.NIRNode:
    """Leaky (or RLeaky's neurons) -> LIF; beta = 1 everywhere (no leak) -> IF with r = 1/dt."""
    info = _neuron_info(path, m, kind)
    beta = _decay(path, kind, "beta", m.beta, shape, allow_one=True)
    threshold = _per_neuron(path, "threshold", m.threshold, shape)
    zeros = np.zeros(shape)
    if np.all(beta == 1):
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=threshold, v_reset=zeros, metadata={KEY: info})
    if np.any(beta == 1):
        raise UnsupportedNodeError(
            f"module '{path}' ({kind}): parameter 'beta' mixes 1 (no leak) with values < 1; "
            "allowed: all in (0, 1) or all 1"
        )
    tau = dt / (1 - beta)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=zeros, v_threshold=threshold, v_reset=zeros, metadata={KEY: info})


def _synaptic(path: str, m, shape, dt: float) -> nir.NIRNode:
    info = _neuron_info(path, m, "Synaptic")
    alpha = _decay(path, "Synaptic", "alpha", m.alpha, shape, allow_one=False)
    beta = _decay(path, "Synaptic", "beta", m.beta, shape, allow_one=False)
    tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
    zeros = np.zeros(shape)
    return nir.CubaLIF(
        tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=zeros,
        v_threshold=_per_neuron(path, "threshold", m.threshold, shape), v_reset=zeros,
        w_in=tau_syn / dt, metadata={KEY: info},
    )


def _rleaky(path: str, m, shape, dt: float) -> nir.NIRGraph:
    """RLeaky -> nested graph {input -> lif, lif -> w_rec -> lif, lif -> output}."""
    if len(shape) != 1:
        raise UnsupportedNodeError(f"module '{path}' (RLeaky): input shape {shape}; allowed: 1-D (n,)")
    n = shape[0]
    if m.all_to_all:
        if type(m.recurrent) is not nn.Linear:
            raise UnsupportedNodeError(
                f"module '{path}' (RLeaky): recurrence {type(m.recurrent).__name__}; "
                "allowed: linear_features (nn.Linear) or all_to_all=False"
            )
        w_rec = _linear(f"{path}.recurrent", m.recurrent, shape)
        if w_rec.weight.shape != (n, n):
            raise ShapeError(f"module '{path}' (RLeaky): recurrent weight {w_rec.weight.shape}, expected ({n}, {n})")
    else:
        v = m.recurrent.V.detach().cpu()
        if v.dim() > 1 or v.numel() not in (1, n):
            raise ShapeError(f"module '{path}' (RLeaky): parameter 'V' has shape {tuple(v.shape)}, layer is ({n},)")
        w_rec = nir.Linear(weight=np.diag(np.broadcast_to(v.numpy(), shape)))
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array(shape)),
            "lif": _leaky(path, m, shape, dt, "RLeaky"),
            "w_rec": w_rec,
            "output": nir.Output(output_type=np.array(shape)),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        metadata={KEY: {"module": "RLeaky", "all_to_all": bool(m.all_to_all)}},
        type_check=True,
    )
