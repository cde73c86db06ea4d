"""Burstprop networks in NIR: two-compartment neurons and learning rules in standard nodes + metadata.

NIR has no compartments and no plasticity. A burst layer ``L`` is written as two standard nodes,
``L.soma`` (LIF: the event-generating soma) and ``L.apical`` (LI: the dendrite), tagged in their
neurolearn metadata; event weights are ``Linear`` nodes from soma to soma (one chain from the input through
every layer; any other goes back to the same or an earlier layer: recurrent);
feedback ``Y`` is a ``Linear`` from the upper soma to the lower apical node tagged
``{"carries": "bursts"}``, balance ``Z`` one tagged ``{"carries": "events"}``; the rules are in the graph's
neurolearn block. Plain ``nir.read`` loads
the file; a tool that ignores the metadata sees LIF/LI nodes and linear maps.

Per-step keep factors map to NIR time constants with forward Euler: ``tau = dt / (1 - beta)`` and
``r = tau / dt`` (input gain 1), as for snntorch's ``Leaky``; the exact keep factors are also kept in
the apical node's ``burst`` block so the round trip is bit-exact. A layer with a homeostatic bias has
``"homeostasis": {"rate": events per step, "eta": voltage units per step per unit rate error}`` in that block; a
layer's bias (its start value) is the bias of the Affine weight into it from the layer before. How the network
compiles (``BurstNetwork.chip``: integer threshold, trace seed, rounding, the class teacher) is the graph block's
``"chip"`` entry, so that ``neurolearn compile`` builds from the file what the run built.
"""
from __future__ import annotations

import math
import numbers

import nir
import numpy as np

from neurolearn import __version__
from neurolearn.errors import NIRFormatError, shown, where
from neurolearn.ir.burst_network import CHIP_ALLOWED, BurstLayer, BurstNetwork, BurstParams, ChipSettings, chip_problem
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
                                                  "beta": p.beta, "beta_d": p.beta_d, **_homeostasis(p)}}})
        if p.alpha:
            raise NIRFormatError(f"layer '{layer.name}': somatic current (alpha = {p.alpha}) not exported yet")
        nodes[f"{layer.name}.soma"], nodes[f"{layer.name}.apical"] = soma, apical
    for (src, dst), w in net.weights.items():
        name = f"W:{src}->{dst}"
        w = np.asarray(w, dtype=np.float64)
        meta = {KEY: {"carries": "events"}}
        chain = dst in net.biases and not net.is_recurrent(src, dst)   # a layer's bias travels on its chain weight
        nodes[name] = (nir.Affine(weight=w, bias=np.asarray(net.biases[dst], dtype=np.float64), metadata=meta)
                       if chain else nir.Linear(weight=w, metadata=meta))
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
                  "producer": f"neurolearn {__version__}", "rules": dict(net.rules),
                  **({"chip": net.chip._asdict()} if net.chip is not None else {})}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def is_burst_graph(graph: nir.NIRGraph) -> bool:
    return any(block(node).get("module") == "BurstLIF" for node in graph.nodes.values())


def from_nir(graph: nir.NIRGraph, file: str | None = None) -> BurstNetwork:
    """Read back a graph written by :func:`to_nir` (exactly: same weights, parameters, rules), checking its shape
    first: an Input named 'input'; each cell a LIF soma and an LI apical node with its burst block, of one size
    and one positive threshold; each weight a Linear or Affine with one edge in (the input or a soma) and one out
    (a soma for events; an apical node for bursts, and for balance events) of the right shape; event weights one
    chain from the input through every cell, without branches, plus recurrent ones back to the soma of the same or
    an earlier cell. NIRFormatError naming the node otherwise."""
    dt = graph_dt(graph, None, file)
    cells = _cells(graph, file)
    if not isinstance(graph.nodes.get("input"), nir.Input):
        raise NIRFormatError(f"{where(file, 'input')}: a burst network's input is an Input node named 'input'")
    n_in = int(np.prod(graph.nodes["input"].input_type["input"]))
    sizes = {"input": n_in, **{cell: parts["soma"].v_threshold.size for cell, parts in cells.items()}}
    ins, outs = {}, {}
    for a, b in graph.edges:
        outs.setdefault(a, []).append(b)
        ins.setdefault(b, []).append(a)
    weights, feedback, biases, balance, affine_bias = {}, {}, {}, {}, {}
    for name, node in sorted(graph.nodes.items()):   # by name, as a file reads back: a graph in memory compiles alike
        if not isinstance(node, (nir.Linear, nir.Affine)):
            continue
        src, dst = _one(ins, name, "incoming", file), _one(outs, name, "outgoing", file)
        bursts = block(node).get("carries") == "bursts"
        apical = bursts or dst.endswith(".apical")   # feedback Y (bursts) or balance Z (events) into a dendrite
        upper, lower = _end(src, cells, file, name, "soma", allow_input=not apical), \
            _end(dst, cells, file, name, "apical" if apical else "soma", allow_input=False)
        w = np.asarray(node.weight, dtype=np.float64)
        if w.shape != (sizes[lower], sizes[upper]):
            raise NIRFormatError(f"{where(file, name, 'weight')}: shape {w.shape}; expected ({sizes[lower]}, "
                                 f"{sizes[upper]}) from '{src}' to '{dst}'")
        if apical and isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
            raise NIRFormatError(f"{where(file, name, 'bias')}: a bias on a weight into an apical dendrite; allowed: "
                                 "a Linear, or an Affine with bias 0 (the burst neuron's dendrite takes no bias)")
        pair = (upper, lower)
        if pair in (feedback if bursts else balance if apical else weights):
            raise NIRFormatError(f"{where(file, name)}: a second weight from '{upper}' to '{lower}'")
        if bursts:
            feedback[pair] = w
        elif apical:
            balance[pair] = w
        else:
            weights[pair] = w
            if isinstance(node, nir.Affine):
                affine_bias[pair] = (name, np.asarray(node.bias, dtype=np.float64).reshape(-1))
    order = _chain(weights, cells, file)
    chain = set(zip(["input"] + order[:-1], order))
    for pair, (name, bias) in affine_bias.items():
        if pair in chain:
            biases[pair[1]] = bias
        elif np.any(bias != 0):
            raise NIRFormatError(f"{where(file, name, 'bias')}: a bias on a recurrent event weight; allowed: a "
                                 "Linear, or an Affine with bias 0 (a layer's bias goes on the weight from the layer "
                                 "before it)")
    layers = []
    for cell in order:
        soma, apical = cells[cell]["soma"], cells[cell]["apical"]
        burst = block(apical)["burst"]
        # the exact keep factors travel in the metadata (1 - dt/tau can differ in the last bit)
        params = BurstParams(alpha=0.0, beta=float(burst["beta"]), beta_d=float(burst["beta_d"]),
                             threshold=float(soma.v_threshold.flat[0]), burst_offset=float(burst["offset"]),
                             burst_slope=float(burst["slope"]), stochastic=bool(burst["stochastic"]),
                             **_read_homeostasis(burst.get("homeostasis"), file, cell))
        layers.append(BurstLayer(cell, int(soma.v_threshold.size), params, int(burst["seed"])))
    return BurstNetwork(dt=dt, input_size=n_in, layers=tuple(layers), weights=weights, feedback=feedback,
                        rules=dict(block(graph).get("rules", {})), biases=biases, balance=balance,
                        chip=_read_chip(block(graph).get("chip"), file, {c: sizes[c] for c in order}))


def _homeostasis(p: BurstParams) -> dict:
    """The apical metadata's "homeostasis" entry (the homeostatic bias's target rate and eta), if it has one."""
    if not (p.homeostasis_rate or p.homeostasis_eta):
        return {}
    return {"homeostasis": {"rate": p.homeostasis_rate, "eta": p.homeostasis_eta}}


def _read_homeostasis(entry, file, cell: str) -> dict:
    """BurstParams' homeostasis fields from the apical metadata's "homeostasis" entry (none: no homeostasis)."""
    if entry is None:
        return {}
    if not isinstance(entry, dict) or set(entry) != {"rate", "eta"}:
        raise NIRFormatError(f"{where(file, cell, 'homeostasis')} = {shown(entry)}; allowed: {{'rate': r, 'eta': e}}")
    for key, value in entry.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise NIRFormatError(f"{where(file, cell, 'homeostasis.' + key)} = {shown(value)}; allowed a number")
    rate, eta = float(entry["rate"]), float(entry["eta"])
    if not 0 <= rate <= 1:
        raise NIRFormatError(f"{where(file, cell, 'homeostasis.rate')} = {rate:g}; allowed 0 .. 1 events per step")
    if not 0 <= eta < math.inf:
        raise NIRFormatError(f"{where(file, cell, 'homeostasis.eta')} = {eta:g}; allowed >= 0 (voltage units per "
                             "step per unit rate error)")
    return {"homeostasis_rate": rate, "homeostasis_eta": eta}


def _read_chip(entry, file, sizes: dict[str, int]) -> ChipSettings | None:
    """The graph block's "chip" entry (how the network compiles; none: compile's defaults), checked key by key
    (:func:`~neurolearn.ir.burst_network.chip_problem`)."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or not set(entry) <= set(CHIP_ALLOWED):
        raise NIRFormatError(f"{where(file, param='chip')} = {shown(entry)}; allowed a dict of "
                             f"{', '.join(CHIP_ALLOWED)}")
    chip = ChipSettings(**entry)   # BurstNetwork stores it as plain Python values
    problem = chip_problem(chip, sizes)
    if problem:
        raise NIRFormatError(f"{where(file, param=f'chip.{problem[0]}')} {problem[1]}")
    return chip


def _cells(graph: nir.NIRGraph, file) -> dict[str, dict]:
    """cell -> {"soma": LIF, "apical": LI}, each complete, of one size, with one positive threshold."""
    cells: dict[str, dict] = {}
    for name, node in graph.nodes.items():
        info = block(node)
        if info.get("module") != "BurstLIF":
            continue
        cell, part = info.get("cell"), info.get("compartment")
        want = {"soma": nir.LIF, "apical": nir.LI}.get(part)
        if not isinstance(cell, str) or want is None or not isinstance(node, want):
            raise NIRFormatError(f"{where(file, name)}: a BurstLIF compartment needs metadata 'cell' and "
                                 "'compartment' (a LIF soma or an LI apical dendrite)")
        if part in cells.setdefault(cell, {}):
            raise NIRFormatError(f"{where(file, name)}: burst cell '{cell}' has two {part} nodes")
        cells[cell][part] = node
    for cell, parts in cells.items():
        if set(parts) != {"soma", "apical"}:
            raise NIRFormatError(f"{where(file, cell)}: a burst cell needs a soma and an apical node")
        if "burst" not in block(parts["apical"]):
            raise NIRFormatError(f"{where(file, cell)}: the apical node has no metadata 'burst' (offset, slope, ...)")
        thr = np.asarray(parts["soma"].v_threshold, dtype=np.float64).reshape(-1)
        if thr.min() <= 0 or thr.max() != thr.min():
            raise NIRFormatError(f"{where(file, cell, 'v_threshold')}: {thr.min():g} .. {thr.max():g}; allowed: one "
                                 "value > 0 for the whole burst layer")
        n_apical = np.asarray(parts["apical"].tau).size
        if n_apical not in (1, thr.size):
            raise NIRFormatError(f"{where(file, cell)}: soma has {thr.size} neurons, apical dendrite {n_apical}")
    return cells


def _one(table: dict, name: str, what: str, file) -> str:
    ends = table.get(name, [])
    if len(ends) != 1:
        raise NIRFormatError(f"{where(file, name)}: {len(ends)} {what} edges; a burst network's weight has one")
    return ends[0]


def _end(node: str, cells: dict, file, weight: str, part: str, allow_input: bool) -> str:
    """The cell an edge of ``weight`` reaches at ``node`` (its ``part``), or "input"."""
    if allow_input and node == "input":
        return "input"
    cell, _, rest = node.rpartition(".")
    if cell not in cells or rest != part:
        raise NIRFormatError(f"{where(file, weight)}: connects to '{node}'; expected "
                             f"{'the input or ' if allow_input else ''}a burst cell's {part} (CELL.{part})")
    return cell


def _chain(weights: dict, cells: dict, file) -> list[str]:
    """The cells in feedforward order: event weights form one chain input -> ... through every cell; the others
    are recurrent (into the soma of the same or an earlier cell of the chain, e.g. learned inhibition back onto
    the error neurons of dendritic balance)."""
    order, current = [], "input"
    while True:
        ahead = [dst for src, dst in weights if src == current and dst not in order]
        if len(ahead) > 1:
            raise NIRFormatError(f"{where(file, current)}: event weights to '{ahead[0]}' and '{ahead[1]}'; a burst "
                                 "network is one chain of layers (other event weights go back to the same or an "
                                 "earlier layer)")
        if not ahead:
            break
        current = ahead[0]
        order.append(current)
    missing = sorted(set(cells) - set(order))
    if missing:
        raise NIRFormatError(f"{where(file, missing[0])}: not on the chain of event weights from the input")
    return order
