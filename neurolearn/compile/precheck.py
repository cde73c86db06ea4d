"""Checks the compiler runs on a NIR graph before it computes anything, so that bad values never reach the
arithmetic of normalize.py and quantize.py. Each refusal is one line naming the file, node, parameter, value
and what is allowed.

Values: every float parameter has magnitude at most :data:`VALUE_MAX`, and a parameter array's largest
magnitude is 0 or at least :data:`VALUE_MIN` (the scale search divides by peaks); time constants exceed dt by
enough for Lava's 12-bit decays (``tau > dt * 4096 / 4095.5``; ``tau_syn >= dt``); thresholds are positive;
neuron nodes have at least one neuron and parameters of one length or one value. Shapes: Linear and Affine
weights 2-D, Affine biases one per output, Scale one-dimensional. Structure: no more than
:data:`neurolearn.ir.limits.MAX_NEURON_NODES` neuron nodes and no chain of more than
:data:`neurolearn.ir.limits.MAX_LINEAR_CHAIN` linear nodes (the compiler folds both recursively); no cycle
through linear nodes alone. Memory: the folding of linear chains allocates one float64 matrix per neuron
population and source; its size is estimated and refused past the memory limit.
"""
from __future__ import annotations

import nir
import numpy as np

from neurolearn.errors import NIRFormatError, UnsupportedNodeError, where
from neurolearn.ir.limits import MAX_LINEAR_CHAIN, MAX_NEURON_NODES, check_memory

VALUE_MAX = 1e12
VALUE_MIN = 1e-30
DECAY_STEPS = 4096          # Lava's 12-bit decays: dv = round(4096 dt / tau) <= 4095
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I)
LINEAR = (nir.Linear, nir.Affine, nir.Scale, nir.Flatten)
_TAUS = {nir.LIF: ("tau",), nir.LI: ("tau",), nir.CubaLIF: ("tau_mem",), nir.CubaLI: ("tau_mem",)}
_SYN = {nir.CubaLIF: ("tau_syn",), nir.CubaLI: ("tau_syn",)}
_THRESHOLD = (nir.LIF, nir.CubaLIF, nir.IF)


def check_graph(flat: nir.NIRGraph, dt: float, file: str | None = None) -> None:
    """Check a flattened graph (:func:`neurolearn.nir.graph.flatten`) for the compiler; see the module docstring."""
    sizes = {}
    for name, node in flat.nodes.items():
        _check_values(node, name, file)
        if isinstance(node, NEURONS):
            sizes[name] = _check_neuron(node, name, dt, file)
        elif isinstance(node, (nir.Linear, nir.Affine)):
            w = np.asarray(node.weight)
            if w.ndim != 2:
                raise NIRFormatError(f"{where(file, name, 'weight')}: shape {w.shape}; allowed: 2-D (outputs, inputs)")
            if isinstance(node, nir.Affine) and np.asarray(node.bias).reshape(-1).size != w.shape[0]:
                raise NIRFormatError(f"{where(file, name, 'bias')}: {np.asarray(node.bias).size} values for "
                                     f"{w.shape[0]} outputs; allowed: one per output")
        elif isinstance(node, nir.Scale) and np.asarray(node.scale).ndim > 1:
            raise NIRFormatError(f"{where(file, name, 'scale')}: shape {np.asarray(node.scale).shape}; allowed: 1-D")
        elif isinstance(node, (nir.Input, nir.Output)):
            key = "input" if isinstance(node, nir.Input) else "output"
            sizes[name] = int(np.prod(getattr(node, f"{key}_type")[key]))
    if len([n for n in flat.nodes.values() if isinstance(n, NEURONS)]) > MAX_NEURON_NODES:
        raise NIRFormatError(f"{where(file) or 'graph'}: more than {MAX_NEURON_NODES} neuron nodes; neurolearn's limit")
    _check_chains(flat, file)
    biggest = max(sizes.values(), default=0)
    weights = sum(np.asarray(n.weight).size for n in flat.nodes.values() if isinstance(n, (nir.Linear, nir.Affine)))
    check_memory(8.0 * (4 * biggest**2 + 3 * weights),
                 f"{where(file) or 'graph'}: compiling a population of {biggest} neurons (folding its linear maps)")


def _check_values(node, name, file) -> None:
    for key, value in vars(node).items():
        if key in ("metadata", "input_type", "output_type", "nodes", "edges") or not isinstance(value, np.ndarray):
            continue
        if value.dtype.kind not in "iuf" or value.size == 0:
            continue
        mag = np.abs(value.astype(np.float64))
        peak = float(mag.max())
        if not np.isfinite(peak) or peak > VALUE_MAX:
            bad = value.flat[int(np.argmax(mag))].item()
            raise NIRFormatError(f"{where(file, name, key)}: value {bad!r}; allowed: finite with magnitude <= "
                                 f"{VALUE_MAX:g}")
        if 0 < peak < VALUE_MIN:
            raise NIRFormatError(f"{where(file, name, key)}: largest magnitude {peak!r}; allowed: 0 or >= "
                                 f"{VALUE_MIN:g} (smaller values underflow the scale search)")


def _check_neuron(node, name, dt, file) -> int:
    params = {k: np.asarray(v).reshape(-1) for k, v in vars(node).items()
              if k not in ("metadata", "input_type", "output_type") and isinstance(v, np.ndarray)}
    lengths = {a.size for a in params.values()} - {1}
    if len(lengths) > 1:
        shown = ", ".join(f"{k} {a.size}" for k, a in params.items())
        raise NIRFormatError(f"{where(file, name)}: parameters of different lengths ({shown}); allowed: one length, "
                             "or a single value")
    n = lengths.pop() if lengths else 1
    for key in _TAUS.get(type(node), ()):
        tau = params[key]
        least = dt * DECAY_STEPS / (DECAY_STEPS - 0.5)
        if tau.min() <= least:
            raise UnsupportedNodeError(
                f"{where(file, name, key)} = {tau.min():g} s; allowed > {least:.6g} s at dt = {dt:g} s (a decay per "
                f"step 1 - dt/{key} that Lava's 12-bit dv = round(4096 dt/{key}) <= 4095 can hold)")
    for key in _SYN.get(type(node), ()):
        if params[key].min() < dt:
            raise UnsupportedNodeError(f"{where(file, name, key)} = {params[key].min():g} s; allowed >= dt = {dt:g} s "
                                       "(forward Euler)")
    if isinstance(node, _THRESHOLD) and params["v_threshold"].min() <= 0:
        raise UnsupportedNodeError(f"{where(file, name, 'v_threshold')} = {params['v_threshold'].min():g}; allowed "
                                   "> 0 (Lava's threshold is unsigned)")
    return n


def _check_chains(flat: nir.NIRGraph, file) -> None:
    """No cycle through linear nodes alone; no chain of more than MAX_LINEAR_CHAIN linear nodes (iterative)."""
    preds: dict[str, list[str]] = {k: [] for k in flat.nodes}
    for a, b in flat.edges:
        preds[b].append(a)
    linear = {k for k, v in flat.nodes.items() if isinstance(v, LINEAR) or isinstance(v, nir.Output)}
    depth: dict[str, int] = {}
    for start in linear:
        if start in depth:
            continue
        stack, on_path = [(start, iter(preds[start]))], {start}
        while stack:
            node, it = stack[-1]
            nxt = next((p for p in it if p in linear and p not in depth), None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                depth[node] = 1 + max((depth[p] for p in preds[node] if p in linear), default=0)
                if depth[node] > MAX_LINEAR_CHAIN:
                    raise NIRFormatError(f"{where(file, node)}: ends a chain of more than {MAX_LINEAR_CHAIN} linear "
                                         "nodes (Linear, Affine, Scale, Flatten) between neurons; neurolearn's limit")
                continue
            if nxt in on_path:
                raise NIRFormatError(f"{where(file, nxt)}: a cycle through linear nodes only ({node} -> {nxt}) has "
                                     "no neuron to delay it")
            on_path.add(nxt)
            stack.append((nxt, iter(preds[nxt])))
