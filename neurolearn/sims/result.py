"""What every backend returns: per-layer recordings over a batch of samples (and the learning simulators'
synapses)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurolearn.errors import ShapeError


@dataclass(frozen=True)
class LayerRecord:
    """Recordings of one layer, arrays of shape (batch, steps, neurons).

    ``spikes`` is 0/1 (uint8). ``u`` and ``v`` are int32 for the fixed-point backends (Lava's
    units: float value * plan scale) and float32 for the float reference; None if not recorded.
    Burst layers also have ``bursts`` (0/1) and the apical voltage ``v_d`` (units as v).
    """

    spikes: np.ndarray
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    bursts: np.ndarray | None = None
    v_d: np.ndarray | None = None


@dataclass(frozen=True)
class SynapseRecord:
    """One learning connection after the recorded steps (``record``): axis 1 has one row per recorded step.

    weights, tag_1, tag_2: (batch, R, n_post, n_pre); x: (batch, R, 2, n_pre) = x1, x2;
    y: (batch, R, 3, n_post) = y1, y2, y3; tx, ty: within-epoch spike steps (0 = none), int32."""

    weights: np.ndarray
    tag_1: np.ndarray
    tag_2: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tx: np.ndarray
    ty: np.ndarray


@dataclass(frozen=True)
class SimResult:
    """Recordings of all layers. ``delays[name]``: steps by which that layer lags the input."""

    backend: str
    layers: dict[str, LayerRecord]
    delays: dict[str, int] = field(default_factory=dict)

    def save(self, path) -> None:
        """Write an .npz with keys '<layer>/spikes', '<layer>/u', '<layer>/v', '<layer>/delay'."""
        arrays = {}
        for name, rec in self.layers.items():
            for key in ("spikes", "u", "v", "bursts", "v_d"):
                val = getattr(rec, key)
                if val is not None:
                    arrays[f"{name}/{key}"] = val
            arrays[f"{name}/delay"] = np.array(self.delays.get(name, 0))
        arrays["backend"] = np.array(self.backend)
        np.savez_compressed(path, **arrays)


def node_records(plan, res: SimResult) -> SimResult:
    """``res`` (recorded by plan layer) by NIR node: the layers a node was split into (``LayerPlan.node``,
    ``LayerPlan.neurons``) put back side by side in the node's neuron order; u and v stay in each layer's
    integer units (``LayerPlan.scale`` per neuron)."""
    layers, delays = {}, {}
    for node, parts in plan.node_layers().items():
        if len(parts) == 1 and parts[0][0] == node:
            layers[node], delays[node] = res.layers[node], res.delays.get(node, 0)
            continue
        order = np.argsort(np.concatenate([idx for _, idx in parts]))
        merged = {}
        for key in ("spikes", "u", "v", "bursts", "v_d"):
            arrays = [getattr(res.layers[name], key) for name, _ in parts]
            if all(a is not None for a in arrays):
                merged[key] = np.concatenate(arrays, axis=2)[:, :, order]
        layers[node], delays[node] = LayerRecord(**merged), res.delays.get(parts[0][0], 0)
    return SimResult(backend=res.backend, layers=layers, delays=delays)


@dataclass(frozen=True)
class LearningResult:
    """Layer spikes, u, v (as :func:`~neurolearn.sims.fixed.simulate_fixed`) and the learning state."""

    sim: SimResult
    synapses: dict[str, SynapseRecord]


def as_batch(spikes: np.ndarray, n_in: int, what: str = "input") -> np.ndarray:
    """Check an input spike array of shape (steps, n_in) or (batch, steps, n_in); return it 3-D uint8."""
    arr = np.asarray(spikes)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != n_in:
        raise ShapeError(f"{what}: shape {np.shape(spikes)}; expected (steps, {n_in}) or (batch, steps, {n_in})")
    if arr.shape[1] < 1:
        raise ShapeError(f"{what}: no time steps")
    if arr.dtype != np.uint8:
        if not np.all(np.isfinite(arr)) or not np.all((arr == 0) | (arr == 1)):
            raise ShapeError(f"{what}: spikes must be 0 or 1 (binary events); found other values")
        arr = arr.astype(np.uint8)
    elif arr.max(initial=0) > 1:
        raise ShapeError(f"{what}: spikes must be 0 or 1 (binary events); found other values")
    return np.ascontiguousarray(arr)
