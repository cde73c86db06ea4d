"""NIR graph -> :class:`~neurolearn.ir.network.Network`: fix dt, fold gains and linear maps.

Each neuron node becomes a population. The linear nodes between two neuron nodes (Linear, Affine, Scale,
Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d, Delay, summed fan-in) collapse into one connection and a bias
(:mod:`neurolearn.compile.connections`: a matrix, a convolution or a sparse matrix, with delays).
Edges that close a cycle
(recurrence) become recurrent projections: they carry the previous step's spikes, as in snntorch's
``RLeaky``. Discretization is forward Euler with the graph's dt (snntorch's convention):

    LIF      beta = 1 - dt/tau,     gain = r dt/tau,                          bias = v_leak dt/tau
    CubaLIF  alpha = 1 - dt/tau_syn, beta = 1 - dt/tau_mem,
             gain = (w_in dt/tau_syn) (r dt/tau_mem),                         bias = v_leak dt/tau_mem
    IF / I   beta = 1, gain = r dt;  LI / CubaLI as LIF / CubaLIF without a threshold.
    Threshold  alpha = beta = 0, gain 1: stateless, a spike where the input exceeds the threshold.

Parameters are per neuron (scalars and anything broadcasting to the node's shape are expanded); the
quantizer groups neurons by decay and folds thresholds into per-neuron scales. A neuron's reset is NIR's
(to v_reset, in the spiking step) unless the neurolearn metadata says otherwise (subtract, late).
"""
from __future__ import annotations

import nir
import numpy as np

from neurolearn.compile.connections import ChainCollapser, projection
from neurolearn.errors import NIRFormatError, ShapeError, UnsupportedNodeError, where
from neurolearn.ir.network import Network, Population
from neurolearn.nir.extension import block, graph_dt, node_reset_mode
from neurolearn.nir.graph import flatten
from neurolearn.rules.plugin import RULES

NEURON_TYPES = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I, nir.Threshold)


def _size(shape) -> int:
    return int(np.prod(shape)) if shape is not None else 0


def _per_neuron(node, param, shape, name=None, file=None) -> np.ndarray:
    """A neuron parameter (a scalar, per neuron, or anything broadcasting to the node's shape) as (n,) float64."""
    arr = np.asarray(getattr(node, param), dtype=np.float64)
    try:
        return np.broadcast_to(arr, shape).reshape(-1).copy()
    except ValueError:
        squeezed = lambda t: tuple(k for k in t if k != 1)  # noqa: E731
        if squeezed(arr.shape) == squeezed(shape):   # the same neurons, a batch dimension of 1 more or less
            return arr.reshape(-1).copy()
        raise ShapeError(f"{where(file, name, param)}: shape {arr.shape} does not broadcast to the node's "
                         f"shape {tuple(shape)}") from None


def _decay(dt, tau, name, param, file):
    """Per-step keep factor 1 - dt/tau for forward Euler (per neuron); tau must be >= dt."""
    short = ~(tau >= dt)
    if np.any(short):
        raise UnsupportedNodeError(
            f"{where(file, name, param)} = {tau[short][0]:g} s is shorter than dt = {dt:g} s; forward Euler needs "
            f"{param} >= dt (decrease dt or lengthen {param})")
    return 1.0 - dt / tau


def _node_shape(node) -> tuple[int, ...]:
    """The shape of a neuron node's state: its input type, else its first parameter's shape."""
    shape = node.input_type.get("input") if node.input_type else None
    if shape is None:
        shape = np.shape(node.threshold if isinstance(node, nir.Threshold) else node.r)
    return tuple(int(k) for k in np.atleast_1d(shape))


def neuron_population(node, name: str, dt: float, file=None, shape: tuple[int, ...] | None = None
                      ) -> tuple[Population, np.ndarray]:
    """Discretize one neuron node (parameters per neuron, broadcast to ``shape``: by default the node's own).
    Returns the population and the per-neuron input gain."""
    shape = shape or _node_shape(node)
    n = _size(shape)
    kind = {nir.LIF: "LIF", nir.CubaLIF: "CubaLIF", nir.IF: "IF", nir.LI: "LI",
            nir.CubaLI: "CubaLI", nir.I: "I", nir.Threshold: "Threshold"}[type(node)]

    def per(param):
        return _per_neuron(node, param, shape, name, file)

    alpha, threshold, leak = np.zeros(n), None, np.zeros(n)
    if kind == "Threshold":   # stateless: v is this step's input
        beta, gain = np.zeros(n), np.ones(n)
    elif kind in ("IF", "I"):
        beta, gain = np.ones(n), per("r") * dt
    elif kind in ("LIF", "LI"):
        tau = per("tau")
        beta, gain = _decay(dt, tau, name, "tau", file), per("r") * dt / tau
        leak = per("v_leak") * dt / tau
    else:  # CubaLIF, CubaLI
        tau_syn, tau_mem = per("tau_syn"), per("tau_mem")
        alpha = _decay(dt, tau_syn, name, "tau_syn", file)
        beta = _decay(dt, tau_mem, name, "tau_mem", file)
        gain = per("w_in") * dt / tau_syn * per("r") * dt / tau_mem
        leak = per("v_leak") * dt / tau_mem
    reset, delay, v_reset = "zero", False, np.zeros(n)
    if kind in ("LIF", "CubaLIF", "IF"):
        threshold = per("v_threshold")
        mode = node_reset_mode(node, name, file)
        reset, delay, v_reset = mode.split("_")[0], mode.endswith("_late"), per("v_reset")
    elif kind == "Threshold":
        threshold = per("threshold")
    pop = Population(name=name, kind=kind, size=n, alpha=alpha, beta=beta, threshold=threshold, bias=leak,
                     reset=reset, reset_delay=delay, v_reset=v_reset)
    return pop, gain


def _order(pops: list[str], edges: dict[str, set[str]], roots: list[str]):
    """Topological order of populations along feedforward edges and the set of back edges (DFS)."""
    order, state, back = [], {}, set()

    def visit(a):
        state[a] = "open"
        for b in sorted(edges.get(a, ())):
            if state.get(b) == "open":
                back.add((a, b))
            elif b not in state:
                visit(b)
        state[a] = "done"
        order.append(a)

    for r in roots + pops:
        if r not in state:
            visit(r)
    return [p for p in reversed(order) if p in pops], back


def to_network(graph: nir.NIRGraph, dt: float | None = None, file: str | None = None) -> Network:
    """Discretize a NIR graph (nested graphs allowed) into a :class:`Network`."""
    dt = graph_dt(graph, dt, file)
    flat = flatten(graph, file=file)
    inputs = [k for k, v in flat.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise NIRFormatError(f"{where(file) or 'graph'}: {len(inputs)} Input nodes ({inputs}); "
                             "neurolearn compiles graphs with exactly one Input")
    flat, pending = _set_aside_burst_parts(flat)
    sources = tuple(inputs) + tuple(k for k, v in flat.nodes.items() if isinstance(v, NEURON_TYPES))
    collapse = ChainCollapser(flat, sources, dt, file)
    pops, gains = {}, {}
    for name, node in flat.nodes.items():
        if isinstance(node, NEURON_TYPES):
            shape, arriving = _node_shape(node), collapse.in_shape(name)
            if _size(shape) == 1 and arriving is not None and _size(arriving) > 1:
                # one value for every neuron (snntorch 0.9, Sinabs, Rockpool write scalar parameters): the node has
                # as many neurons as its input brings
                shape = collapse.set_shape(name, arriving)
                collapse.notes.append(f"`{name}`: parameters of shape (1,) for the {_size(shape)} neurons its input "
                                      "brings: one value for every neuron")
            pops[name], gains[name] = neuron_population(node, name, dt, file, shape)
    if not pops:
        raise NIRFormatError(f"{where(file) or 'graph'}: no neuron nodes; supported neurons: "
                             + ", ".join(t.__name__ for t in NEURON_TYPES))

    incoming, edges = {}, {}
    for name, pop in pops.items():
        terms, bias = collapse.inputs_of(name)
        if bias.size != pop.size:
            raise ShapeError(f"{where(file, name)}: its input brings {bias.size} values; the node has {pop.size} "
                             "neurons (connected nodes must agree in size)")
        incoming[name] = terms
        edges_in = terms.keys()
        for src in edges_in:
            edges.setdefault(src, set()).add(name)
        pops[name] = Population(**{**pop.__dict__, "input_bias": gains[name] * bias})

    order, back = _order(list(pops), edges, inputs)
    projections = []
    for tgt in order:
        for src, term in incoming[tgt].items():
            want = (pops[tgt].size, collapse.size(src))
            if (term.n_out, term.n_in) != want:
                raise ShapeError(f"{where(file, tgt)}: weights from '{src}' have shape {(term.n_out, term.n_in)}, "
                                 f"expected {want}")
            rec = (src, tgt) in back or src == tgt
            projections.append(projection(f"{src}->{tgt}", src, tgt, term, gains[tgt], rec))

    outputs = []
    for name, node in flat.nodes.items():
        if isinstance(node, nir.Output):
            for src in collapse.preds[name]:
                if src not in pops:
                    raise UnsupportedNodeError(
                        f"{where(file, name)}: output is fed by '{src}' ({type(flat.nodes[src]).__name__}), "
                        "not a neuron node; end the graph with a neuron (LIF, LI, ...) before the Output")
                outputs.append(src)
    return Network(dt=dt, input_name=inputs[0], input_size=collapse.size(inputs[0]),
                   populations=tuple(pops[p] for p in order), projections=tuple(projections),
                   outputs=tuple(outputs), pending=pending, notes=tuple(collapse.notes))


def _set_aside_burst_parts(graph: nir.NIRGraph):
    """Remove what only on-chip learning support can compile: apical dendrites of burst neurons and the
    feedback that carries bursts. Their somas (LIF) and event weights compile as usual. Returns the
    reduced graph and one line per part set aside, for the report."""
    aside, pending = set(), []
    for name, node in graph.nodes.items():
        info = block(node)
        if info.get("compartment") == "apical":
            aside.add(name)
            pending.append(f"{name}: apical dendrite of burst neuron '{info.get('cell')}' (bursts need the "
                           "on-chip learning support: neurolearn's own Lava burst-neuron process)")
        elif info.get("carries") == "bursts":
            aside.add(name)
            pending.append(f"{name}: feedback carrying bursts (on-chip learning support)")
    for rule_name, rule in block(graph).get("rules", {}).items():
        if isinstance(rule, dict) and "rule" in rule:
            why = ("a learning build needs burst layers" if str(rule["rule"]) in RULES else
                   f"no learning-engine form; registered rules: {', '.join(sorted(RULES))}")
            pending.append(f"{rule_name}: learning rule '{rule['rule']}' ({why}; this build is inference only)")
    if not aside:
        return graph, tuple(pending)
    nodes = {k: v for k, v in graph.nodes.items() if k not in aside}
    edges = [(a, b) for a, b in graph.edges if a not in aside and b not in aside]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False), tuple(pending)
