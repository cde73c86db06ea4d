"""Rung L1: the float reference. Runs a :class:`Network` in torch with snntorch's discretization.

No synaptic delay on feedforward projections (as in an snntorch ``nn.Sequential``); recurrent
projections read the previous step's spikes (as ``snn.RLeaky``); a projection's ``delays`` (NIR Delay nodes)
add their steps per weight. Convolutions run as ``torch.nn.functional.conv2d``, sparse projections as sparse
matrix products. Neurons step with :func:`neurolearn.dynamics.lif.lif_float_step` in each population's
reset mode: voltages are reported after an immediate reset (Lava's convention: v_reset on a spike step),
before a late one (snntorch's). Batched over samples; runs on CPU or GPU.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from neurolearn.dynamics.lif import lif_float_step
from neurolearn.ir.geometry import SparseLayout
from neurolearn.ir.network import Network, Projection
from neurolearn.ir.plan import RESET_MODES
from neurolearn.sims.result import LayerRecord, SimResult, as_batch


def _apply(pr: Projection, weight: np.ndarray, sparse: SparseLayout | None, dtype, device) -> Callable:
    """x (batch, n_source) -> (batch, n_target) through ``weight`` (laid out as ``pr``'s, or by ``sparse``)."""
    w = torch.as_tensor(np.asarray(weight), dtype=dtype, device=device)
    if pr.conv is not None:
        g = pr.conv
        return lambda x: F.conv2d(x.reshape(-1, *g.in_shape), w, stride=g.stride, padding=g.padding,
                                  dilation=g.dilation, groups=g.groups).reshape(x.shape[0], -1)
    if sparse is not None:
        at = torch.as_tensor(np.stack([sparse.rows, sparse.cols]), device=device)
        m = torch.sparse_coo_tensor(at, w, sparse.shape, check_invariants=True).coalesce()
        return lambda x: torch.sparse.mm(m, x.T).T
    return lambda x: x @ w.T


def _lagged(pr: Projection, dtype, device) -> list[tuple[int, Callable]]:
    """[(lag, x -> contribution)]: a projection reads its source ``lag`` steps back (recurrent: one more), one
    term per distinct delay."""
    base = int(pr.recurrent)
    if pr.delays is None:
        return [(base, _apply(pr, pr.weight, pr.sparse, dtype, device))]
    terms = []
    for d in np.unique(pr.delays):
        at = pr.delays == d
        if pr.sparse is not None:
            layout = SparseLayout(pr.sparse.shape, pr.sparse.rows[at], pr.sparse.cols[at])
            terms.append((base + int(d), _apply(pr, pr.weight[at], layout, dtype, device)))
        else:
            terms.append((base + int(d), _apply(pr, np.where(at, pr.weight, 0.0), None, dtype, device)))
    return terms


def simulate_float(net: Network, spikes: np.ndarray, dtype=torch.float32, device="cpu") -> SimResult:
    """Run ``net`` on input spikes (steps, n_in) or (batch, steps, n_in); record spikes, u, v per layer."""
    inp = torch.as_tensor(as_batch(spikes, net.input_size), dtype=dtype, device=device)
    batch, steps, _ = inp.shape
    terms = {pr.name: _lagged(pr, dtype, device) for pr in net.projections}
    in_biases = {p.name: torch.as_tensor(p.input_bias, dtype=dtype, device=device) for p in net.populations}
    per_neuron = {p.name: [None if a is None else torch.as_tensor(a, dtype=dtype, device=device)
                           for a in (p.alpha, p.beta, p.bias, p.threshold, p.v_reset)] for p in net.populations}
    state = {p.name: [torch.zeros(batch, p.size, dtype=dtype, device=device) for _ in range(2)]
             for p in net.populations}  # u, v
    rec = {p.name: [[], [], []] for p in net.populations}
    sizes = {net.input_name: net.input_size, **{p.name: p.size for p in net.populations}}

    def spikes_of(name: str, t: int):
        if t < 0:
            return torch.zeros(batch, sizes[name], dtype=dtype, device=device)
        return inp[:, t] if name == net.input_name else rec[name][0][t]

    with torch.no_grad():
        for t in range(steps):
            for p in net.populations:
                x = in_biases[p.name].expand(batch, p.size)
                for pr in net.incoming(p.name):
                    for lag, apply in terms[pr.name]:
                        x = x + apply(spikes_of(pr.source, t - lag))
                u, v = state[p.name]
                s, u, v = lif_float_step(x, u, v, *per_neuron[p.name], RESET_MODES.index(p.mode))
                s = s.to(dtype)   # a comparison times 1.0 is torch's default dtype
                state[p.name] = [u, v]
                for lst, val in zip(rec[p.name], (s, u, v)):
                    lst.append(val)
    layers = {
        name: LayerRecord(spikes=torch.stack(r[0], 1).cpu().numpy().astype(np.uint8),
                          u=torch.stack(r[1], 1).cpu().numpy(), v=torch.stack(r[2], 1).cpu().numpy())
        for name, r in rec.items()
    }
    return SimResult(backend="float", layers=layers, delays={p.name: 0 for p in net.populations})
