"""Burstprop networks in NIR: two-compartment neurons and learning rules in standard nodes + metadata.

NIR has no compartments and no plasticity. A burst layer ``L`` is written as two standard nodes,
``L.soma`` (LIF: the event-generating soma) and ``L.apical`` (LI: the dendrite), tagged in their
neurolearn metadata; feedforward weights are ``Linear`` nodes from soma to soma (they carry events);
feedback ``Y`` is a ``Linear`` from the upper soma to the lower apical node tagged
``{"carries": "bursts"}``, balance ``Z`` one tagged ``{"carries": "events"}``; the rules are in the graph's
neurolearn block. Plain ``nir.read`` loads
the file; a tool that ignores the metadata sees LIF/LI nodes and linear maps.

Per-step keep factors map to NIR time constants with forward Euler: ``tau = dt / (1 - beta)`` and
``r = tau / dt`` (input gain 1), as for snntorch's ``Leaky``; the exact keep factors are also kept in
the apical node's ``burst`` block so the round trip is bit-exact.
"""
from __future__ import annotations

import nir
import numpy as np

from neurolearn import __version__
from neurolearn.errors import NIRFormatError, where
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nir.extension import KEY, SCHEMA_VERSION, block, graph_dt


def _keep_to_tau(dt, keep, what):
    if not 0 <= keep < 1:
        raise NIRFormatError(f"{what} = {keep}: NIR needs a leak (0 <= keep < 1) to express a time constant")
    return dt / (1.0 - keep)


def to_nir(net: BurstNetwork) -> nir.NIRGraph:
    """Write a burst network as a NIR graph (see the module docstring)."""
    dt = net.dt
    nodes = {"input": nir.Input(np.array([net.input_size])), "output": None}
    edges = []
    for layer in net.layers:
        n, p = layer.size, layer.params
        tau = _keep_to_tau(dt, p.beta, f"layer '{layer.name}' beta")
        tau_d = _keep_to_tau(dt, p.beta_d, f"layer '{layer.name}' beta_d")
        tag = {"module": "BurstLIF", "cell": layer.name, "reset": "zero", "reset_delay": False}
        soma = nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n),
                       v_threshold=np.full(n, p.threshold), v_reset=np.zeros(n),
                       metadata={KEY: {**tag, "compartment": "soma"}})
        apical = nir.LI(tau=np.full(n, tau_d), r=np.full(n, tau_d / dt), v_leak=np.zeros(n),
                        metadata={KEY: {**tag, "compartment": "apical",
                                        "burst": {"offset": p.burst_offset, "slope": p.burst_slope,
                                                  "stochastic": p.stochastic, "seed": layer.seed,
                                                  "beta": p.beta, "beta_d": p.beta_d}}})
        if p.alpha:
            raise NIRFormatError(f"layer '{layer.name}': somatic current (alpha = {p.alpha}) not exported yet")
        nodes[f"{layer.name}.soma"], nodes[f"{layer.name}.apical"] = soma, apical
    for (src, dst), w in net.weights.items():
        name = f"W:{src}->{dst}"
        w = np.asarray(w, dtype=np.float64)
        meta = {KEY: {"carries": "events"}}
        nodes[name] = (nir.Affine(weight=w, bias=np.asarray(net.biases[dst], dtype=np.float64), metadata=meta)
                       if dst in net.biases else nir.Linear(weight=w, metadata=meta))
        edges += [("input" if src == "input" else f"{src}.soma", name), (name, f"{dst}.soma")]
    for (upper, lower), y in net.feedback.items():
        name = f"Y:{upper}->{lower}"
        nodes[name] = nir.Linear(weight=np.asarray(y, dtype=np.float64), metadata={KEY: {"carries": "bursts"}})
        edges += [(f"{upper}.soma", name), (name, f"{lower}.apical")]
    for (upper, lower), z in net.balance.items():
        name = f"Z:{upper}->{lower}"
        nodes[name] = nir.Linear(weight=np.asarray(z, dtype=np.float64), metadata={KEY: {"carries": "events"}})
        edges += [(f"{upper}.soma", name), (name, f"{lower}.apical")]
    last = net.layers[-1]
    nodes["output"] = nir.Output(np.array([last.size]))
    edges.append((f"{last.name}.soma", "output"))
    meta = {KEY: {"version": SCHEMA_VERSION, "dt": dt, "integration": "euler",
                  "producer": f"neurolearn {__version__}", "rules": dict(net.rules)}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def is_burst_graph(graph: nir.NIRGraph) -> bool:
    return any(block(node).get("module") == "BurstLIF" for node in graph.nodes.values())


def from_nir(graph: nir.NIRGraph, file: str | None = None) -> BurstNetwork:
    """Read back a graph written by :func:`to_nir` (exactly: same weights, parameters, rules)."""
    dt = graph_dt(graph, None, file)
    cells: dict[str, dict] = {}
    for name, node in graph.nodes.items():
        info = block(node)
        if info.get("module") == "BurstLIF":
            cells.setdefault(info["cell"], {})[info["compartment"]] = node
    order, weights, feedback, biases, balance = [], {}, {}, {}, {}
    src_of = {b: a for a, b in graph.edges}
    dst_of = {a: b for a, b in graph.edges}
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.Linear, nir.Affine)):
            continue
        src, dst = src_of[name], dst_of[name]
        upper, lower = src.split(".")[0], dst.split(".")[0]
        if block(node).get("carries") == "bursts":
            feedback[(upper, lower)] = np.asarray(node.weight)
        elif dst.endswith(".apical"):
            balance[(upper, lower)] = np.asarray(node.weight)
        else:
            weights[("input" if src == "input" else upper, lower)] = np.asarray(node.weight)
            if isinstance(node, nir.Affine):
                biases[lower] = np.asarray(node.bias)
    # layers in feedforward order: follow the event weights from the input
    current = "input"
    while True:
        nxt = [dst for (src, dst) in weights if src == current]
        if not nxt:
            break
        current = nxt[0]
        order.append(current)
    layers = []
    for cell in order:
        if set(cells.get(cell, {})) != {"soma", "apical"}:
            raise NIRFormatError(f"{where(file, cell)}: a burst cell needs a soma and an apical node")
        soma, apical = cells[cell]["soma"], cells[cell]["apical"]
        burst = block(apical)["burst"]
        # the exact keep factors travel in the metadata (1 - dt/tau can differ in the last bit)
        params = BurstParams(alpha=0.0, beta=float(burst["beta"]), beta_d=float(burst["beta_d"]),
                             threshold=float(soma.v_threshold.flat[0]), burst_offset=float(burst["offset"]),
                             burst_slope=float(burst["slope"]), stochastic=bool(burst["stochastic"]))
        layers.append(BurstLayer(cell, int(soma.v_threshold.size), params, int(burst["seed"])))
    n_in = int(np.prod(graph.nodes["input"].input_type["input"]))
    return BurstNetwork(dt=dt, input_size=n_in, layers=tuple(layers), weights=weights, feedback=feedback,
                        rules=dict(block(graph).get("rules", {})), biases=biases, balance=balance)
