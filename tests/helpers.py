"""Small snntorch models and NIR files used across tests."""
import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

from neurolearn.nir import export_to_nir, write


def feedforward(n_in=12, n_hidden=16, n_out=5, seed=0, synaptic=False, bias=True):
    torch.manual_seed(seed)
    out = (snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism="zero", reset_delay=False,
                        output=True) if synaptic else
           snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero", output=True))
    return nn.Sequential(nn.Linear(n_in, n_hidden, bias=bias),
                         snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
                         nn.Linear(n_hidden, n_out, bias=bias), out)


def recurrent(n_in=10, n_hidden=14, n_out=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, n_hidden),
                         snn.RLeaky(beta=0.85, linear_features=n_hidden, init_hidden=True, reset_mechanism="zero",
                                    reset_delay=False),
                         nn.Linear(n_hidden, n_out),
                         snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", output=True))


def save(model, path, dt=1e-3, n_in=None):
    n_in = n_in or model[0].in_features
    write(path, export_to_nir(model, dt=dt, input_shape=(n_in,)))
    return path


def spikes(n_in, steps=40, batch=2, rate=0.3, seed=0):
    return (np.random.default_rng(seed).random((batch, steps, n_in)) < rate).astype(np.uint8)


def lif_graph(tau=0.01, threshold=1.0, weight=None, dt=1e-3, extra=None):
    """A hand-built NIR graph input -> Affine -> LIF -> output (no neurolearn block unless dt given)."""
    w = np.ones((3, 4)) * 0.5 if weight is None else weight
    n = w.shape[0]
    nodes = {"input": nir.Input(np.array([w.shape[1]])),
             "fc": nir.Affine(weight=w, bias=np.zeros(n)),
             "lif": nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                            v_threshold=np.full(n, threshold), v_reset=np.zeros(n)),
             "output": nir.Output(np.array([n]))}
    nodes.update(extra or {})
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    if dt is not None:
        g.metadata["neurolearn"] = {"version": 1, "dt": dt, "integration": "euler"}
    return g
