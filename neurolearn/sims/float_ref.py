"""Rung L1: the float reference. Runs a :class:`Network` in torch with snntorch's discretization.

No synaptic delay on feedforward projections (as in an snntorch ``nn.Sequential``); recurrent
projections read the previous step's spikes (as ``snn.RLeaky``). Neurons step with
:func:`neurolearn.dynamics.lif.lif_float_step` in each population's reset mode: voltages are reported after
an immediate reset (Lava's convention: v_reset on a spike step), before a late one (snntorch's).
Batched over samples; runs on CPU or GPU.
"""
from __future__ import annotations

import numpy as np
import torch

from neurolearn.dynamics.lif import lif_float_step
from neurolearn.ir.network import Network
from neurolearn.ir.plan import RESET_MODES
from neurolearn.sims.result import LayerRecord, SimResult, as_batch


def simulate_float(net: Network, spikes: np.ndarray, dtype=torch.float32, device="cpu") -> SimResult:
    """Run ``net`` on input spikes (steps, n_in) or (batch, steps, n_in); record spikes, u, v per layer."""
    inp = torch.as_tensor(as_batch(spikes, net.input_size), dtype=dtype, device=device)
    batch, steps, _ = inp.shape
    weights = {pr.name: torch.as_tensor(pr.weight, dtype=dtype, device=device) for pr in net.projections}
    in_biases = {p.name: torch.as_tensor(p.input_bias, dtype=dtype, device=device) for p in net.populations}
    per_neuron = {p.name: [None if a is None else torch.as_tensor(a, dtype=dtype, device=device)
                           for a in (p.alpha, p.beta, p.bias, p.threshold, p.v_reset)] for p in net.populations}
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
                s, u, v = lif_float_step(x, u, v, *per_neuron[p.name], RESET_MODES.index(p.mode))
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
