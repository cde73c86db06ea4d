"""NIR -> torch: ``import_from_nir`` builds a runnable model out of snntorch modules.

Discretization: forward Euler at the graph's ``dt`` (seconds), snntorch's convention, so a
graph written by :func:`neurolearn.nir.export_to_nir` comes back with the same outputs, bit for
bit. Per node, with ``beta = 1 - dt/tau``:

=========  =====================================================================================
LIF        ``snn.Leaky(beta)`` fed ``(r dt/tau) x + (dt/tau) v_leak``
IF         ``snn.Leaky(beta=1)`` fed ``(r dt) x``
CubaLIF    ``snn.Synaptic(alpha = 1 - dt/tau_syn, beta = 1 - dt/tau_mem)`` fed
           ``(w_in dt/tau_syn)(r dt/tau_mem) x``; its ``syn`` state is therefore the NIR current
           times ``r dt/tau_mem`` (spikes and ``mem`` are unchanged)
others     :class:`SpikingNeuronModule` where no snntorch module computes the node: a non-zero ``v_reset``
           (LIF, IF, CubaLIF), a CubaLIF with ``v_leak``, Threshold (stateless: ``x > threshold``)
LI, I      :class:`LeakyIntegrator` (output = membrane voltage; I has beta = 1)
CubaLI     :class:`CurrentIntegrator` (output = membrane voltage)
Linear     ``nn.Linear`` (bias for Affine); Flatten -> ``nn.Flatten``; Scale -> :class:`Scale`
Conv1d/2d  ``nn.Conv1d`` / ``nn.Conv2d`` (with bias); AvgPool2d -> ``nn.AvgPool2d`` (counting the padding,
           torch's default); SumPool2d -> :class:`SumPool`
Delay      :class:`StepDelay`: ``y[t] = x[t - round(delay / dt)]``, zeros before the first input
=========  =====================================================================================

Gains that are exactly 1 (after rounding to the model dtype) and zero leak terms are skipped,
so exported snntorch models compute exactly what they computed before. Reset mechanism and
reset delay come from the neurolearn metadata; a node without it gets NIR's semantics
(reset to ``v_reset`` in the spiking step). A LIF/IF node ``L`` and a Linear/Affine ``W`` whose only
edges are ``L -> W -> L`` (the pattern snntorch's RLeaky exports) become one ``snn.RLeaky``.

Any other graph runs in topological order of its edges; an edge that closes a cycle carries
the previous step's value (one step of delay), and several edges into a node are summed in the
order they are listed.
"""
from __future__ import annotations

import os

import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

from neurolearn.dynamics.lif import lif_float_step
from neurolearn.errors import InputError, NIRFormatError, ShapeError, UnsupportedNodeError, shown, where
from neurolearn.ir.plan import RESET_MODES
from neurolearn.nir.connections import delay_steps, node_ints, pool_params, true_conv_types
from neurolearn.nir.extension import KEY, block, graph_dt, node_reset, node_reset_delay, node_reset_mode, validate
from neurolearn.nir.graph import flatten
from neurolearn.nir.io import read

NEURON_NODES = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold")


def import_from_nir(graph_or_path: nir.NIRGraph | str | os.PathLike, *, dt: float | None = None,
                    dtype: torch.dtype | None = None) -> "NIRNetwork":
    """A runnable torch model of a NIR graph or ``.nir`` file.

    ``dt`` (seconds) is needed only when the file records none; a value that conflicts with the
    recorded one raises InputError. ``dtype``: of its parameters and states (default: torch's default dtype);
    float64 keeps the file's float64 weights exact.
    """
    if isinstance(graph_or_path, (str, os.PathLike)):
        file = str(graph_or_path)
        graph = read(file)
    elif isinstance(graph_or_path, nir.NIRGraph):
        file, graph = None, graph_or_path
        validate(graph)
    else:
        raise InputError(
            f"import_from_nir: expected a nir.NIRGraph or a path, got {type(graph_or_path).__name__}"
        )
    dt = graph_dt(graph, dt, file)
    flat = flatten(graph, file)
    true_conv_types(flat, file)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype or default)
    try:
        return NIRNetwork(flat, dt, file)
    finally:
        torch.set_default_dtype(default)


class Gain(nn.Module):
    """``y = gain * x + bias`` (either may be None): the input scaling NIR's r, w_in and v_leak imply."""

    def __init__(self, gain: torch.Tensor | None, bias: torch.Tensor | None):
        super().__init__()
        self.register_buffer("gain", gain)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gain is not None:
            x = x * self.gain
        if self.bias is not None:
            x = x + self.bias
        return x


class Scale(nn.Module):
    """NIR Scale: ``y = x * scale`` elementwise."""

    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class SumPool(nn.Module):
    """NIR SumPool2d: the sum over each window (zero padding), i.e. average pooling times the window size."""

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding, divisor_override=1)


class StepDelay(nn.Module):
    """NIR Delay in whole steps: ``y[t] = x[t - steps]`` per element (``steps`` shaped like one sample), zero
    while ``t < steps``."""

    def __init__(self, steps: torch.Tensor):
        super().__init__()
        self.register_buffer("steps", steps)
        self.history: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.history = (self.history + [x])[-(int(self.steps.max()) + 1):]
        out = torch.zeros_like(x)
        for d in torch.unique(self.steps).tolist():
            if d < len(self.history):
                out = torch.where(self.steps == d, self.history[-1 - d], out)
        return out

    def reset_mem(self) -> None:
        self.history = []


class LeakyIntegrator(nn.Module):
    """Non-spiking ``mem[t] = beta * mem[t-1] + x[t]``; returns ``mem`` (NIR LI, and I with beta 1)."""

    def __init__(self, beta: torch.Tensor):
        super().__init__()
        self.register_buffer("beta", beta)
        self.register_buffer("mem", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem.shape != x.shape:
            self.mem = torch.zeros_like(x)
        self.mem = self.beta * self.mem + x
        return self.mem

    def reset_mem(self) -> None:
        self.mem = torch.zeros_like(self.mem)


class CurrentIntegrator(nn.Module):
    """Non-spiking NIR CubaLI: ``syn = alpha syn + x``; ``mem = beta mem + syn (+ bias)``; returns ``mem``."""

    def __init__(self, alpha: torch.Tensor, beta: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.register_buffer("alpha", alpha)
        self.register_buffer("beta", beta)
        self.register_buffer("bias", bias)
        self.register_buffer("syn", torch.zeros(0), persistent=False)
        self.register_buffer("mem", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem.shape != x.shape:
            self.syn, self.mem = torch.zeros_like(x), torch.zeros_like(x)
        self.syn = self.alpha * self.syn + x
        self.mem = self.beta * self.mem + self.syn
        if self.bias is not None:
            self.mem = self.mem + self.bias
        return self.mem

    def reset_mem(self) -> None:
        self.syn, self.mem = torch.zeros_like(self.syn), torch.zeros_like(self.mem)


class SpikingNeuronModule(nn.Module):
    """A spiking node snntorch has no module for (NIR's reset to a non-zero ``v_reset``, a CubaLIF with
    ``v_leak``, Threshold): :func:`neurolearn.dynamics.lif.lif_float_step` in reset mode ``mode``, keep factors
    ``alpha`` (current; 0: none) and ``beta``, ``bias`` added to ``mem``; returns the spikes."""

    def __init__(self, alpha, beta, bias, threshold, v_reset, mode: int):
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta), ("bias", bias), ("threshold", threshold),
                            ("v_reset", v_reset)):
            self.register_buffer(name, value)
        self.mode = mode
        self.register_buffer("syn", torch.zeros(0), persistent=False)
        self.register_buffer("mem", torch.zeros(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem.shape != x.shape:
            self.syn, self.mem = torch.zeros_like(x), torch.zeros_like(x)
        s, self.syn, self.mem = lif_float_step(x, self.syn, self.mem, self.alpha, self.beta, self.bias,
                                               self.threshold, self.v_reset, self.mode)
        return s

    def reset_mem(self) -> None:
        self.syn, self.mem = torch.zeros_like(self.syn), torch.zeros_like(self.mem)


class NIRNetwork(nn.Module):
    """A flat NIR graph as a stateful torch module, used like an snntorch model with
    ``init_hidden=True``: ``out = net(x_t)`` advances one time step (batch first),
    ``net.reset_hidden()`` clears all state, ``net.run(x)`` runs a whole sequence.

    With one Input node ``x_t`` is a tensor, else a dict by Input name; likewise the output.
    ``net.module(name)`` is the torch module of node ``name`` (e.g. the ``snn.Leaky``).
    """

    def __init__(self, graph: nir.NIRGraph, dt: float, file: str | None = None):
        super().__init__()
        self.dt = dt
        self.inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
        self.outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
        if not self.inputs or not self.outputs:
            raise NIRFormatError(f"{where(file) or 'graph'}: needs at least one Input and one Output node")
        recurrent = _find_recurrences(graph)
        edges = [e for e in graph.edges if e[0] not in recurrent.values() and e[1] not in recurrent.values()]
        self.order, delayed = _schedule(graph, edges)
        self.sources = {name: [(s, (s, d) in delayed) for s, d in edges if d == name] for name in self.order}
        self.delayed_sources = sorted({s for s, _ in delayed})
        self.in_shapes = {name: _shape(graph.nodes[name].input_type) for name in self.order}
        for name in self.order:
            if name not in self.inputs and self.in_shapes[name] is None and all(late for _, late in self.sources[name]):
                raise ShapeError(f"{where(file, name)}: input shape unknown and no same-step input to take it from")
        _check_shapes(graph, edges, file)
        self.gains, self.cores = nn.ModuleList(), nn.ModuleList()
        for name in self.order:
            node = graph.nodes[name]
            if name in recurrent:
                gain, core = _rleaky(graph, name, recurrent[name], dt, file)
            else:
                gain, core = _build(node, name, dt, file)
            self.gains.append(Gain(*gain) if gain else nn.Identity())
            self.cores.append(core)
        self._index = {name: i for i, name in enumerate(self.order)}
        self._prev: dict[str, torch.Tensor] = {}
        self._last: dict[str, torch.Tensor] = {}

    def module(self, name: str) -> nn.Module:
        """The torch module of node ``name`` (for a recurrent LIF, the ``snn.RLeaky``)."""
        if name not in self._index:
            raise InputError(f"no node '{name}'; nodes: {', '.join(self.order)}")
        return self.cores[self._index[name]]

    def reset_hidden(self) -> None:
        """Zero every neuron's state and the values carried by delayed (cycle-closing) edges."""
        for core in self.cores:
            if hasattr(core, "reset_mem"):
                core.reset_mem()
        self._prev = {}

    def _at_rest(self, name: str, ref: torch.Tensor) -> torch.Tensor | None:
        """What a delayed edge from ``name`` carries on the first step: nothing from a neuron node (no spikes yet);
        a linear node's output for zero input (an Affine's bias: NIR's maps act at every time, t = 0 included)."""
        i = self.order.index(name)
        if hasattr(self.cores[i], "reset_mem") or self.in_shapes.get(name) is None:
            return None
        zero = torch.zeros((ref.shape[0], *self.in_shapes[name]), dtype=ref.dtype, device=ref.device)
        out = self.cores[i](self.gains[i](zero))
        return out if out.dtype == ref.dtype else out.to(ref.dtype)

    def forward(self, x: torch.Tensor | dict[str, torch.Tensor]):
        """Advance one time step; ``x``: (batch, *input shape)."""
        feed = self._feed(x)
        ref = next(iter(feed.values()))
        values: dict[str, torch.Tensor] = {}
        for i, name in enumerate(self.order):
            if name in feed:
                values[name] = feed[name]
                continue
            parts = [(self._prev[s] if s in self._prev else self._at_rest(s, ref)) if late else values[s]
                     for s, late in self.sources[name]]
            parts = [p for p in parts if p is not None]
            if parts:
                inp = parts[0]
                for p in parts[1:]:
                    inp = inp + p
            else:  # only delayed inputs, first step
                inp = torch.zeros((ref.shape[0], *self.in_shapes[name]), dtype=ref.dtype, device=ref.device)
            out = self.cores[i](self.gains[i](inp))
            values[name] = out if out.dtype == inp.dtype else out.to(inp.dtype)   # snntorch's spikes: float32
        self._prev = {s: values[s] for s in self.delayed_sources}
        self._last = values
        if len(self.outputs) == 1:
            return values[self.outputs[0]]
        return {o: values[o] for o in self.outputs}

    def run(self, x: torch.Tensor | dict[str, torch.Tensor], record: bool = False):
        """Reset, then run ``x`` of shape (steps, batch, *input shape); returns the stacked outputs
        (steps, batch, *output shape), and with ``record=True`` also
        ``{node: {"out": ..., "mem": ..., "syn": ...}}`` (states where the node has them)."""
        self.reset_hidden()
        steps = (x if torch.is_tensor(x) else next(iter(x.values()))).shape[0]
        outs, rec = [], {name: {} for name in self.order}
        for t in range(steps):
            outs.append(self(x[t] if torch.is_tensor(x) else {k: v[t] for k, v in x.items()}))
            if record:
                for name, core in zip(self.order, self.cores):
                    rec[name].setdefault("out", []).append(self._last[name])
                    for state in ("syn", "mem"):
                        if isinstance(getattr(core, state, None), torch.Tensor):
                            rec[name].setdefault(state, []).append(getattr(core, state))
        if len(self.outputs) == 1:
            out = torch.stack(outs)
        else:
            out = {o: torch.stack([step[o] for step in outs]) for o in self.outputs}
        if not record:
            return out
        return out, {n: {k: torch.stack(v) for k, v in r.items()} for n, r in rec.items()}

    def _feed(self, x) -> dict[str, torch.Tensor]:
        if torch.is_tensor(x):
            if len(self.inputs) != 1:
                raise InputError(f"graph has inputs {self.inputs}; pass a dict of tensors by input name")
            x = {self.inputs[0]: x}
        missing = set(self.inputs) - set(x)
        if missing:
            raise InputError(f"missing inputs {sorted(missing)}; graph inputs: {self.inputs}")
        return {k: self._shaped(k, x[k]) for k in self.inputs}

    def _shaped(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Input ``x`` (batch, ...) in its Input node's shape: a flat (batch, n) input becomes (batch, C, H, W)
        for a convolutional network."""
        shape = self.in_shapes[name]
        if shape is not None and x.dim() == 2 and len(shape) > 1 and x.shape[1] == int(np.prod(shape)):
            return x.reshape(x.shape[0], *shape)
        return x


def _shape(types) -> tuple[int, ...] | None:
    value = None if types is None else next(iter(types.values()), None)
    return None if value is None else tuple(int(s) for s in np.atleast_1d(value))


def _check_shapes(graph: nir.NIRGraph, edges, file) -> None:
    """Connected ends carry as many values (a batch dimension of 1 in an Input or Output type changes nothing; a
    neuron node of one-value parameters, typed (1,), has as many neurons as its input brings)."""
    for src, dst in edges:
        out, inp = _shape(graph.nodes[src].output_type), _shape(graph.nodes[dst].input_type)
        if out is None or inp is None or int(np.prod(out)) == int(np.prod(inp)):
            continue
        scalar = [n for n, shape in ((src, out), (dst, inp)) if int(np.prod(shape)) == 1
                  and type(graph.nodes[n]).__name__ in NEURON_NODES]
        if not scalar:
            raise ShapeError(f"{where(file, dst)}: input shape {inp} but '{src}' gives {out}")


def _schedule(graph: nir.NIRGraph, edges) -> tuple[list[str], set[tuple[str, str]]]:
    """Topological order (depth-first from the Input nodes) and the edges that close cycles."""
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for s, d in edges:
        succ[s].append(d)
    done, on_stack, post, back = set(), set(), [], set()

    def visit(n: str) -> None:
        on_stack.add(n)
        for m in succ[n]:
            if m in on_stack:
                back.add((n, m))
            elif m not in done:
                visit(m)
        on_stack.discard(n)
        done.add(n)
        post.append(n)

    starts = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    for n in starts + list(graph.nodes):
        if n not in done:
            visit(n)
    return post[::-1], back


def _find_recurrences(graph: nir.NIRGraph) -> dict[str, str]:
    """{lif: w} for each LIF/IF node ``lif`` and Linear/Affine ``w`` whose only edges are lif -> w -> lif."""
    found = {}
    for w, node in graph.nodes.items():
        if type(node) not in (nir.Linear, nir.Affine):
            continue
        ins = [s for s, d in graph.edges if d == w]
        outs = [d for s, d in graph.edges if s == w]
        if (len(ins) == 1 and outs == ins and type(graph.nodes[ins[0]]) in (nir.LIF, nir.IF) and ins[0] != w
                and not np.any(_f64(graph.nodes[ins[0]], "v_reset")) and not np.any(
                    _f64(graph.nodes[ins[0]], "v_leak") if type(graph.nodes[ins[0]]) is nir.LIF else 0)):
            found[ins[0]] = w
    return found


def _f64(node, name: str) -> np.ndarray:
    return np.asarray(getattr(node, name), dtype=np.float64)


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """``arr`` in torch's default dtype; a 0-d tensor when all entries are equal."""
    t = torch.as_tensor(np.array(arr), dtype=torch.get_default_dtype())
    return t.flatten()[0].clone() if t.numel() > 0 and bool(torch.all(t == t.flatten()[0])) else t


def _gain(gain: np.ndarray, bias: np.ndarray | None = None):
    """(gain, bias) tensors for :class:`Gain`, None for a gain of exactly 1 / a bias of 0 in the
    model dtype; None overall when there is nothing to apply."""
    g = _tensor(gain)
    g = None if bool(torch.all(g == 1)) else g
    b = None if bias is None or not np.any(bias) else _tensor(bias)
    return None if g is None and b is None else (g, b)


def _keep(node, name: str, tau_name: str, dt: float, file) -> np.ndarray:
    """Per-step keep factor ``1 - dt/tau``; requires tau >= dt so that it lies in [0, 1)."""
    tau = _f64(node, tau_name)
    if np.any(~(tau >= dt)):
        bad = tau[~(tau >= dt)].flat[0]
        raise UnsupportedNodeError(
            f"{where(file, name, tau_name)}: value {shown(bad)} s with dt = {shown(dt)} s; "
            f"allowed: {tau_name} >= dt (Euler keep factor 1 - dt/{tau_name} in [0, 1))"
        )
    return 1 - dt / tau


def _no_leak(node, name: str, file) -> None:
    if np.any(_f64(node, "v_leak") != 0):
        raise UnsupportedNodeError(
            f"{where(file, name, 'v_leak')}: value {shown(_f64(node, 'v_leak').flat[0])}; "
            f"{type(node).__name__} needs v_leak = 0"
        )


def _spiking(node, name: str, file) -> dict:
    return {
        "threshold": _tensor(_f64(node, "v_threshold")),
        "reset_mechanism": node_reset(node, name, file),
        "reset_delay": node_reset_delay(node),
        "init_hidden": True,
    }


def _build(node: nir.NIRNode, name: str, dt: float, file):
    """(gain or None, module) for one non-recurrent node."""
    kind = type(node)
    if kind in (nir.Input, nir.Output):
        return None, nn.Identity()
    if kind in (nir.Linear, nir.Affine):
        return None, _linear(node, name, file)
    if kind is nir.Flatten:
        start, end = int(node.start_dim), int(node.end_dim)
        return None, nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if kind is nir.Scale:
        return None, Scale(_tensor(_f64(node, "scale")))
    if kind in (nir.Conv1d, nir.Conv2d):
        return None, _conv(node, name, file)
    if kind is nir.SumPool2d:
        return None, SumPool(*pool_params(node, name, file))
    if kind is nir.AvgPool2d:
        return None, nn.AvgPool2d(*pool_params(node, name, file))
    if kind is nir.Delay:
        return None, StepDelay(torch.as_tensor(delay_steps(node, name, dt, file)[0]))
    if kind is nir.Threshold:   # stateless: a spike where this step's input exceeds the threshold
        thr = _f64(node, "threshold")
        zero = np.zeros(np.shape(thr))
        t = [torch.as_tensor(a, dtype=torch.get_default_dtype()) for a in (zero, zero, zero, thr, zero)]
        return None, SpikingNeuronModule(*t, mode=RESET_MODES.index("zero"))
    if kind in (nir.LIF, nir.IF, nir.CubaLIF) and (np.any(_f64(node, "v_reset")) or (
            kind is nir.CubaLIF and np.any(_f64(node, "v_leak")))):
        return _own_neuron(node, name, dt, file)
    if kind is nir.LIF:
        beta, tau = _keep(node, name, "tau", dt, file), _f64(node, "tau")
        gain = _gain(_f64(node, "r") * dt / tau, dt / tau * _f64(node, "v_leak"))
        return gain, snn.Leaky(beta=_tensor(beta), **_spiking(node, name, file))
    if kind is nir.IF:
        return _gain(_f64(node, "r") * dt), snn.Leaky(beta=1.0, **_spiking(node, name, file))
    if kind is nir.CubaLIF:
        alpha, beta = _keep(node, name, "tau_syn", dt, file), _keep(node, name, "tau_mem", dt, file)
        gain = _f64(node, "w_in") * dt / _f64(node, "tau_syn") * (_f64(node, "r") * dt / _f64(node, "tau_mem"))
        return _gain(gain), snn.Synaptic(alpha=_tensor(alpha), beta=_tensor(beta), **_spiking(node, name, file))
    if kind is nir.LI:
        beta, tau = _keep(node, name, "tau", dt, file), _f64(node, "tau")
        return _gain(_f64(node, "r") * dt / tau, dt / tau * _f64(node, "v_leak")), LeakyIntegrator(_tensor(beta))
    if kind is nir.I:
        return _gain(_f64(node, "r") * dt), LeakyIntegrator(_tensor(np.ones(1)))
    if kind is nir.CubaLI:
        alpha, beta = _keep(node, name, "tau_syn", dt, file), _keep(node, name, "tau_mem", dt, file)
        tau_mem = _f64(node, "tau_mem")
        gain = _f64(node, "w_in") * dt / _f64(node, "tau_syn") * (_f64(node, "r") * dt / tau_mem)
        leak = dt / tau_mem * _f64(node, "v_leak")
        bias = _tensor(leak) if np.any(leak) else None
        return _gain(gain), CurrentIntegrator(_tensor(alpha), _tensor(beta), bias)
    raise UnsupportedNodeError(f"{where(file, name)} has type {kind.__name__}; not runnable in torch")


class SpikeLinear(nn.Linear):
    """``nn.Linear`` casting its input to its weight's dtype first: an ``RLeaky``'s recurrence reads snntorch's
    spikes, float32 whatever the model's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.weight.dtype))


def _own_neuron(node, name: str, dt: float, file):
    """(gain, module) for a LIF, IF or CubaLIF that no snntorch module runs: NIR's reset to a non-zero v_reset,
    a CubaLIF with v_leak."""
    mode = RESET_MODES.index(node_reset_mode(node, name, file))
    one = np.ones(np.shape(_f64(node, "v_threshold")))
    if type(node) is nir.IF:
        alpha, beta, gain, leak = 0 * one, one, _f64(node, "r") * dt, 0 * one
    elif type(node) is nir.LIF:
        tau = _f64(node, "tau")
        alpha, beta, gain, leak = 0 * one, _keep(node, name, "tau", dt, file), _f64(node, "r") * dt / tau, \
            dt / tau * _f64(node, "v_leak")
    else:
        tau_syn, tau_mem = _f64(node, "tau_syn"), _f64(node, "tau_mem")
        alpha, beta = _keep(node, name, "tau_syn", dt, file), _keep(node, name, "tau_mem", dt, file)
        gain, leak = _f64(node, "w_in") * dt / tau_syn * (_f64(node, "r") * dt / tau_mem), dt / tau_mem * _f64(
            node, "v_leak")
    t = [torch.as_tensor(np.array(a * one), dtype=torch.get_default_dtype())
         for a in (alpha, beta, leak, _f64(node, "v_threshold"), _f64(node, "v_reset"))]
    return _gain(gain), SpikingNeuronModule(*t, mode=mode)


def _linear(node, name: str, file, cls=nn.Linear) -> nn.Linear:
    weight = np.asarray(node.weight)
    if weight.ndim != 2:
        raise UnsupportedNodeError(f"{where(file, name, 'weight')}: shape {weight.shape}; allowed: 2-D (out, in)")
    bias = getattr(node, "bias", None)
    layer = cls(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(np.array(np.broadcast_to(bias, (weight.shape[0],)))))
    return layer


def _conv(node, name: str, file) -> nn.Module:
    """``nn.Conv1d`` / ``nn.Conv2d`` holding a NIR convolution's weight and bias ('same' padding as torch's)."""
    weight = np.asarray(node.weight)
    n = weight.ndim - 2
    if n not in (1, 2) or n != (1 if isinstance(node, nir.Conv1d) else 2):
        raise UnsupportedNodeError(f"{where(file, name, 'weight')}: shape {weight.shape}; expected (C_out, C_in / "
                                   f"groups, {'K' if isinstance(node, nir.Conv1d) else 'kH, kW'})")
    padding = node.padding if isinstance(node.padding, str) else node_ints(node.padding, n, name, "padding", file)
    layer = (nn.Conv1d if n == 1 else nn.Conv2d)(
        weight.shape[1] * int(node.groups), weight.shape[0], weight.shape[2:], groups=int(node.groups),
        stride=node_ints(node.stride, n, name, "stride", file), padding=padding,
        dilation=node_ints(node.dilation, n, name, "dilation", file))
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(np.broadcast_to(np.asarray(node.bias), (weight.shape[0],)).copy()))
    return layer


def _rleaky(graph: nir.NIRGraph, name: str, w_name: str, dt: float, file):
    """(gain, snn.RLeaky) for a LIF/IF node ``name`` with recurrent weights ``w_name``.

    The RLeaky adds ``beta mem + input + recurrent(spk[t-1])``; a gain g != 1 scales the input
    (via Gain) and the recurrent weights alike.
    """
    node, w = graph.nodes[name], graph.nodes[w_name]
    shape = _shape(node.input_type)
    weight = np.asarray(w.weight)
    if shape is None or len(shape) != 1 or weight.shape != (shape[0], shape[0]):
        raise ShapeError(
            f"{where(file, w_name, 'weight')}: shape {weight.shape}; the recurrence of '{name}' "
            f"(input shape {shape}) needs a square (n, n) matrix"
        )
    if type(node) is nir.IF:
        beta, gain = np.ones(shape), _f64(node, "r") * dt
    else:
        beta = _keep(node, name, "tau", dt, file)
        gain = _f64(node, "r") * dt / _f64(node, "tau")
    parent = block(w).get("parent")
    all_to_all = bool(block(graph).get("subgraphs", {}).get(parent, {}).get(KEY, {}).get("all_to_all", True))
    g = _gain(gain)
    common = dict(beta=_tensor(beta), **_spiking(node, name, file))
    if all_to_all:
        cell = snn.RLeaky(all_to_all=True, linear_features=shape[0], **common)
        cell.recurrent = _linear(w, w_name, file, SpikeLinear)
        if g is not None:
            with torch.no_grad():
                cell.recurrent.weight.mul_(g[0].reshape(-1, 1) if g[0].dim() else g[0])
                if cell.recurrent.bias is not None:
                    cell.recurrent.bias.mul_(g[0])
        return g, cell
    if type(w) is not nir.Linear or np.any(weight != np.diag(np.diag(weight))):
        raise NIRFormatError(
            f"{where(file, w_name)}: metadata says all_to_all=False but the recurrence is not a diagonal Linear"
        )
    v = np.diag(weight) if g is None else np.diag(weight).astype(np.float64) * gain
    return g, snn.RLeaky(all_to_all=False, V=_tensor(v), **common)
