"""A NIR graph from the plain tree of an HDF5 file (:mod:`neurolearn.nir.hdf5_tree`), checked before nir builds it.

Checked per node: a known ``type``; exactly the fields that node type takes (those without a default present);
parameters real numbers (not complex, text or booleans) as non-empty arrays of at most :data:`MAX_DIMS`
dimensions; shapes (Input, Output, Flatten) positive integers; the geometry of convolutions and pooling
(input_shape, stride, padding, dilation, kernel_size) one or two whole numbers, padding also 'same' or 'valid';
metadata a group; in graphs, edges as pairs of names of existing nodes, no edge twice; graphs nested at most
:data:`neurolearn.ir.limits.MAX_NESTING` levels and at most :data:`neurolearn.ir.limits.MAX_NODES` nodes in all.
Every refusal is a one-line NIRFormatError naming the file, node and field.
"""
from __future__ import annotations

import dataclasses

import nir
import numpy as np

from neurolearn.errors import NIRFormatError, where
from neurolearn.ir.limits import MAX_NESTING, MAX_NODES

MAX_DIMS = 8                       # dimensions of a parameter array or a shape
MAX_EXTENT = 2**31 - 1             # largest entry of a shape
_SHAPE_FIELDS = {"Input": "shape", "Output": "shape", "Flatten": "input_type"}
_INT_FIELDS = {"start_dim", "end_dim", "groups"}   # integers, not parameter arrays (Flatten, Conv)
# the geometry of convolutions and pooling: one or two whole numbers each (padding also 'same' or 'valid'), given
# to nir as integers (as nir's own reader does: its shape arithmetic takes an int or a sequence), at least this
_GEOMETRY_NODES = {"Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"}
_GEOMETRY_LOWS = {"input_shape": 1, "stride": 1, "padding": 0, "dilation": 1, "kernel_size": 1}
_NOT_FIELDS = ("metadata", "input_type", "output_type")


def _fields(cls) -> tuple[set, set]:
    """(required, optional) constructor fields of a nir node class, as stored in files."""
    required, optional = set(), set()
    for f in dataclasses.fields(cls):
        if not f.init or f.name == "metadata" or (f.name == "input_type" and cls is not nir.Flatten):
            continue
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        (optional if has_default else required).add(f.name)
    return required, optional


class _Counter:
    def __init__(self):
        self.nodes = 0


def graph_from_tree(tree, file: str | None = None) -> nir.NIRGraph:
    """The NIRGraph of a file's ``node`` tree; NIRFormatError for anything malformed (see the module docstring)."""
    graph = _node(tree, file, None, 0, _Counter())
    if not isinstance(graph, nir.NIRGraph):
        raise NIRFormatError(f"{where(file) or 'graph'}: top-level node is a {type(graph).__name__}, "
                             "expected a NIRGraph")
    return graph


def _kind(tree, file, name) -> str:
    if not isinstance(tree, dict):
        raise NIRFormatError(f"{where(file, name)}: not an HDF5 group; not a NIR node")
    kind = tree.get("type")
    if kind is None:
        raise NIRFormatError(f"{where(file, name)}: HDF5 group has no 'type'; not a NIR node")
    if not isinstance(kind, str):
        raise NIRFormatError(f"{where(file, name)}: 'type' is not text; expected a NIR node type name")
    try:
        nir.str2NIRNode(kind)
    except (AssertionError, KeyError):
        raise NIRFormatError(f"{where(file, name)}: unknown NIR node type '{kind[:60]}' (nir {nir.version} cannot "
                             "load it)") from None
    return kind


def _metadata(tree, file, name) -> dict:
    meta = tree.get("metadata", {})
    if not isinstance(meta, dict):
        raise NIRFormatError(f"{where(file, name, 'metadata')}: a dataset; NIR metadata is a group of values")
    return meta


def _node(tree, file, name, depth, counter):
    kind = _kind(tree, file, name)
    counter.nodes += 1
    if counter.nodes > MAX_NODES:
        raise NIRFormatError(f"{where(file) or 'graph'}: more than {MAX_NODES} nodes; neurolearn's limit")
    cls = nir.str2NIRNode(kind)
    meta = _metadata(tree, file, name)
    if cls is nir.NIRGraph:
        return _graph(tree, file, name, depth, counter, meta)
    required, optional = _fields(cls)
    if kind in ("Input", "Output"):
        required, optional = {"shape"}, set()
    given = set(tree) - {"type", "metadata"}
    missing, extra = sorted(required - given), sorted(given - required - optional)
    if missing:
        raise NIRFormatError(f"{where(file, name)}: {kind} node without {', '.join(map(repr, missing))}")
    if extra:
        raise NIRFormatError(f"{where(file, name)}: {kind} node has unknown field(s) {', '.join(map(repr, extra))}; "
                             f"it takes {', '.join(sorted(required | optional))}")
    kwargs = {}
    for key in sorted(given):
        value = tree[key]
        if key == _SHAPE_FIELDS.get(kind):
            kwargs[key] = _shape(value, file, name, key)
        elif key in _INT_FIELDS:
            kwargs[key] = _integer(value, file, name, key)
        elif kind in _GEOMETRY_NODES and key in _GEOMETRY_LOWS:
            kwargs[key] = _geometry(value, file, name, key)
        else:
            kwargs[key] = _parameter(value, file, name, key)
    try:
        if kind == "Input":
            return nir.Input(input_type=kwargs["shape"], metadata=meta)
        if kind == "Output":
            return nir.Output(output_type=kwargs["shape"], metadata=meta)
        return cls(**kwargs, metadata=meta)
    except Exception as exc:  # nir's own checks: AssertionError, ValueError, TypeError, IndexError, ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise NIRFormatError(f"{where(file, name)}: not a valid {kind} node ({reason[:200]})") from None


def _graph(tree, file, name, depth, counter, meta) -> nir.NIRGraph:
    if depth >= MAX_NESTING:
        raise NIRFormatError(f"{where(file, name)}: graphs nest deeper than {MAX_NESTING} levels; neurolearn's limit")
    extra = sorted(set(tree) - {"type", "metadata", "nodes", "edges"})
    if extra:
        raise NIRFormatError(f"{where(file, name)}: NIRGraph has unknown field(s) {', '.join(map(repr, extra))}")
    nodes_tree = tree.get("nodes")
    if not isinstance(nodes_tree, dict):
        raise NIRFormatError(f"{where(file, name)}: NIRGraph without a 'nodes' group")
    nodes = {}
    for child, sub in nodes_tree.items():
        full = f"{name}.{child}" if name else child
        nodes[child] = _node(sub, file, full, depth + 1, counter)
    edges = _edges(tree.get("edges"), nodes, file, name)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def _edges(value, nodes, file, name) -> list[tuple[str, str]]:
    if value is None:
        raise NIRFormatError(f"{where(file, name)}: NIRGraph without 'edges'")
    if isinstance(value, np.ndarray) and value.size == 0:
        return []
    if not isinstance(value, list) or not all(isinstance(e, list) and len(e) == 2 for e in value):
        raise NIRFormatError(f"{where(file, name, 'edges')}: expected pairs of node names (an n x 2 table of text)")
    edges, seen = [], set()
    prefix = f"{name}." if name else ""
    for src, dst in value:
        for end in (src, dst):
            if not isinstance(end, str) or end not in nodes:
                raise NIRFormatError(f"{where(file, name, 'edges')}: edge {src!r} -> {dst!r} names "
                                     f"'{prefix}{end}', which is not a node of this graph")
        if (src, dst) in seen:
            raise NIRFormatError(f"{where(file, name, 'edges')}: edge {src!r} -> {dst!r} appears twice")
        seen.add((src, dst))
        edges.append((src, dst))
    return edges


def _array(value, file, name, key) -> np.ndarray:
    if isinstance(value, (str, list)):
        raise NIRFormatError(f"{where(file, name, key)}: text; allowed: real numbers")
    if isinstance(value, dict):
        raise NIRFormatError(f"{where(file, name, key)}: an HDF5 group; allowed: an array of real numbers")
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise NIRFormatError(f"{where(file, name, key)}: complex values ({arr.dtype}); allowed: real numbers")
    if arr.dtype.kind == "b":
        raise NIRFormatError(f"{where(file, name, key)}: booleans; allowed: real numbers")
    if arr.dtype.kind not in "iuf":
        raise NIRFormatError(f"{where(file, name, key)}: values of type {arr.dtype}; allowed: real numbers")
    if arr.ndim > MAX_DIMS:
        raise NIRFormatError(f"{where(file, name, key)}: {arr.ndim} dimensions; allowed at most {MAX_DIMS}")
    return arr


def _parameter(value, file, name, key) -> np.ndarray:
    """A parameter array: real, non-empty, finite, as float64."""
    arr = _array(value, file, name, key)
    if arr.size == 0:
        raise NIRFormatError(f"{where(file, name, key)}: an empty array (shape {arr.shape}); allowed: at least one "
                             "value")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr.flat[np.flatnonzero(~np.isfinite(arr))[0]].item()
        raise NIRFormatError(f"{where(file, name, key)}: value {bad!r} is not finite; allowed: finite numbers")
    return arr


def _integer(value, file, name, key) -> int:
    arr = _array(value, file, name, key)
    if arr.shape != () or arr.item() != int(arr.item()) or abs(arr.item()) > MAX_EXTENT:
        raise NIRFormatError(f"{where(file, name, key)}: {_shown(arr)}; allowed: one integer")
    return int(arr.item())


def _geometry(value, file, name, key):
    """A convolution's or pooling's input_shape, stride, padding, dilation or kernel_size: 'same' or 'valid'
    (padding, as text), or one or two whole numbers >= the field's low: a Python int, or a tuple of one or two."""
    if key == "padding" and isinstance(value, (str, bytes)):
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if value not in ("same", "valid"):
            raise NIRFormatError(f"{where(file, name, key)}: {_shown(value)}; allowed: 'same', 'valid' or one or two "
                                 "whole numbers >= 0")
        return value
    low = _GEOMETRY_LOWS[key]
    arr = _array(value, file, name, key)
    flt = arr.astype(np.float64)
    if arr.ndim > 1 or arr.size not in (1, 2) or not np.all(np.isfinite(flt)) or not np.all(flt == np.round(flt)) \
            or flt.min() < low or flt.max() > MAX_EXTENT:
        raise NIRFormatError(f"{where(file, name, key)}: {_shown(arr)}; allowed: one or two whole numbers >= {low}")
    ints = [int(v) for v in flt.reshape(-1)]   # nir computes shapes from them with len() and int arithmetic
    return ints[0] if arr.ndim == 0 else tuple(ints)


def _shape(value, file, name, key) -> np.ndarray:
    """A shape: 1..MAX_DIMS positive integers (stored as integers or integral floats), each <= MAX_EXTENT."""
    arr = _array(value, file, name, key).reshape(-1) if not isinstance(value, (str, list, dict)) else None
    if arr is None or not 1 <= arr.size <= MAX_DIMS:
        raise NIRFormatError(f"{where(file, name, key)}: {_shown(value)}; allowed: 1 to {MAX_DIMS} positive integers")
    flt = arr.astype(np.float64)
    if not (np.all(np.isfinite(flt)) and np.all(flt == np.round(flt)) and flt.min() >= 1 and flt.max() <= MAX_EXTENT):
        raise NIRFormatError(f"{where(file, name, key)}: {_shown(arr)}; allowed: positive integers up to {MAX_EXTENT}")
    return flt.astype(np.int64)


def _shown(value) -> str:
    text = " ".join(repr(value.tolist() if isinstance(value, np.ndarray) else value).split())
    return text if len(text) <= 60 else text[:57] + "..."
