"""Graph tools: the node types neurolearn maps, and inlining of nested NIR graphs."""
from __future__ import annotations

import copy

import nir

from neurolearn.errors import NIRFormatError, UnsupportedNodeError, where
from neurolearn.nir.extension import KEY, SCHEMA_VERSION

SUPPORTED_NODES = (
    nir.Affine, nir.Linear, nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I, nir.Threshold,
    nir.Flatten, nir.Scale, nir.Input, nir.Output, nir.NIRGraph,
    nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Delay,
)


def check_supported(node: nir.NIRNode, name: str, file: str | None = None) -> None:
    """Raise UnsupportedNodeError unless ``node``'s type is one of SUPPORTED_NODES."""
    if type(node) not in SUPPORTED_NODES:
        names = ", ".join(cls.__name__ for cls in SUPPORTED_NODES)
        raise UnsupportedNodeError(
            f"{where(file, name)} has type {type(node).__name__}; supported: {names}"
        )


def flatten(graph: nir.NIRGraph, file: str | None = None) -> nir.NIRGraph:
    """A copy of ``graph`` with every nested NIRGraph inlined.

    Inlined nodes are named ``"<subgraph>.<node>"`` and carry the subgraph's dotted name in
    ``metadata["neurolearn"]["parent"]``; the subgraphs' own metadata goes to the graph's
    ``metadata["neurolearn"]["subgraphs"][<name>]``. A subgraph's Input and Output nodes are
    removed and the edges through them spliced, so ``a -> sub -> b`` with
    ``sub = {input -> lif -> output}`` becomes ``a -> sub.lif -> b``. Every node type is checked
    against SUPPORTED_NODES. The input graph is not modified.
    """
    nodes: dict[str, nir.NIRNode] = {}
    subgraphs: dict[str, dict] = {}
    inner_ports: list[str] = []
    edges = _inline(graph, "", nodes, subgraphs, inner_ports, file)
    metadata = copy.deepcopy(graph.metadata)
    if subgraphs:
        info = metadata.setdefault(KEY, {"version": SCHEMA_VERSION})
        info["subgraphs"] = subgraphs
    for port in inner_ports:
        edges = _splice(edges, port, file)
        del nodes[port]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _inline(graph, prefix, nodes, subgraphs, inner_ports, file) -> list[tuple[str, str]]:
    """Copy ``graph``'s nodes into ``nodes`` under ``prefix``; return its edges, then its subgraphs'."""
    parent = prefix[:-1] or None
    inner_edges = []
    for name, node in graph.nodes.items():
        full = prefix + name
        check_supported(node, full, file)
        if isinstance(node, nir.NIRGraph):
            subgraphs[full] = copy.deepcopy(node.metadata)
            inner_edges += _inline(node, full + ".", nodes, subgraphs, inner_ports, file)
            continue
        if full in nodes:
            raise NIRFormatError(f"{where(file, full)}: name used twice once nested graphs are inlined")
        node = copy.copy(node)
        node.metadata = copy.deepcopy(node.metadata)
        if parent is not None:
            node.metadata.setdefault(KEY, {})["parent"] = parent
            if isinstance(node, (nir.Input, nir.Output)):
                inner_ports.append(full)
        nodes[full] = node
    edges = [(_port(graph, prefix, s, "output", file), _port(graph, prefix, d, "input", file)) for s, d in graph.edges]
    return edges + inner_edges


def _port(graph: nir.NIRGraph, prefix: str, name: str, kind: str, file) -> str:
    """The flat name an edge endpoint refers to: the node itself, or a subgraph's one Input/Output."""
    node = graph.nodes.get(name)
    if node is None:
        raise NIRFormatError(f"{where(file, prefix + name)}: edge refers to a node that does not exist")
    if not isinstance(node, nir.NIRGraph):
        return prefix + name
    ports = [n for n, p in node.nodes.items() if isinstance(p, nir.Input if kind == "input" else nir.Output)]
    if len(ports) != 1:
        raise UnsupportedNodeError(
            f"{where(file, prefix + name)}: nested graph has {len(ports)} {kind} nodes; "
            f"an edge to or from it needs exactly one"
        )
    return _port(node, prefix + name + ".", ports[0], kind, file)


def _splice(edges: list[tuple[str, str]], port: str, file) -> list[tuple[str, str]]:
    """Remove node ``port`` by connecting each of its sources to each of its targets."""
    if (port, port) in edges:
        raise NIRFormatError(f"{where(file, port)}: an edge from this Input/Output node to itself")
    targets = [dst for src, dst in edges if src == port]
    out: list[tuple[str, str]] = []
    for src, dst in edges:
        if dst == port:
            out.extend((src, t) for t in targets)
        elif src != port:
            out.append((src, dst))
    if len(set(out)) != len(out):
        raise UnsupportedNodeError(
            f"{where(file, port)}: inlining this port would join two nodes by two parallel edges"
        )
    return out
