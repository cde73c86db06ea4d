"""Rung L1: the float reference. Runs a :class:`Network` in torch with snntorch's discretization.

No synaptic delay on feedforward projections (as in an snntorch ``nn.Sequential``); recurrent
projections read the previous step's spikes (as ``snn.RLeaky``). Voltages are reported after the
reset (Lava's convention: 0 on a spike step). Batched over samples; runs on CPU or GPU.
"""
from __future__ import annotations

import numpy as np
import torch

from neurolearn.ir.network import Network
from neurolearn.sims.result import LayerRecord, SimResult, as_batch


def lif_step(x, u, v, alpha: float, beta: float, bias, threshold: float | None):
    """One step of the shared neuron model: ``(input, state, params) -> (spikes, state)``.

    ``u = alpha u + x``; ``v = beta v + u + bias``; spike where ``v > threshold``; reset v to 0.
    """
    u = alpha * u + x if alpha else x
    v = beta * v + u + bias
    if threshold is None:
        return torch.zeros_like(v), u, v
    s = (v > threshold).to(v.dtype)
    return s, u, v * (1.0 - s)


def simulate_float(net: Network, spikes: np.ndarray, dtype=torch.float32, device="cpu") -> SimResult:
    """Run ``net`` on input spikes (steps, n_in) or (batch, steps, n_in); record spikes, u, v per layer."""
    inp = torch.as_tensor(as_batch(spikes, net.input_size), dtype=dtype, device=device)
    batch, steps, _ = inp.shape
    weights = {pr.name: torch.as_tensor(pr.weight, dtype=dtype, device=device) for pr in net.projections}
    biases = {p.name: torch.as_tensor(p.bias, dtype=dtype, device=device) for p in net.populations}
    in_biases = {p.name: torch.as_tensor(p.input_bias, dtype=dtype, device=device) for p in net.populations}
    state = {p.name: [torch.zeros(batch, p.size, dtype=dtype, device=device) for _ in range(3)]
             for p in net.populations}  # u, v, s
    rec = {p.name: [[], [], []] for p in net.populations}
    with torch.no_grad():
        for t in range(steps):
            now = {net.input_name: inp[:, t]}
            prev = {name: st[2] for name, st in state.items()}
            for p in net.populations:
                x = in_biases[p.name].expand(batch, p.size)
                for pr in net.incoming(p.name):
                    x = x + (prev[pr.source] if pr.recurrent else now[pr.source]) @ weights[pr.name].T
                u, v, _ = state[p.name]
                s, u, v = lif_step(x, u, v, p.alpha, p.beta, biases[p.name], p.threshold)
                state[p.name] = [u, v, s]
                now[p.name] = s
                for lst, val in zip(rec[p.name], (s, u, v)):
                    lst.append(val)
    layers = {
        name: LayerRecord(spikes=torch.stack(r[0], 1).cpu().numpy().astype(np.uint8),
                          u=torch.stack(r[1], 1).cpu().numpy(), v=torch.stack(r[2], 1).cpu().numpy())
        for name, r in rec.items()
    }
    return SimResult(backend="float", layers=layers, delays={p.name: 0 for p in net.populations})
