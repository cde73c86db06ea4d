"""The neurolearn extension: versioned metadata carried inside standard NIR metadata.

NIR is continuous time and has no field for the discretization, the reset mechanism or the
module a node came from. neurolearn writes them into the ordinary ``metadata`` dicts under the
key ``"neurolearn"``, so plain ``nir.read`` still loads the file::

    graph.metadata["neurolearn"] = {"version": 1, "dt": 1e-4, "integration": "euler",
                                    "producer": "neurolearn 0.1.0 / snntorch 1.0.0"}
    lif.metadata["neurolearn"]   = {"reset": "subtract", "reset_delay": True, "module": "Leaky"}
    rec.metadata["neurolearn"]   = {"module": "RLeaky", "all_to_all": True}   # nested NIRGraph

Two-compartment burst neurons (see :mod:`neurolearn.nir.burst`) are a LIF soma and an LI apical
dendrite tagged ``{"module": "BurstLIF", "cell": NAME, "compartment": "soma"|"apical"}`` (the apical
node also carries ``"burst": {offset, slope, stochastic, seed}``); a Linear that carries bursts
rather than events is tagged ``{"carries": "bursts"}``; learning rules go in the graph block under
``"rules"`` (by connection name).

``dt`` is in seconds. ``reset`` is ``"zero"`` (v <- v_reset on a spike) or ``"subtract"``
(v <- v - threshold, v_reset 0); ``reset_delay=True`` applies the reset one step after the spike, as
snntorch does by default. A node without the block follows NIR's own semantics: reset to
``v_reset`` in the same step. ``flatten`` adds
``"parent"`` (the dotted name of the inlined subgraph) to node blocks and ``"subgraphs"``
(the inlined subgraphs' metadata by name) to the graph block.

HDF5 hands metadata back as numpy scalars (``np.int64``, ``np.bool_``, ``np.float64``);
:func:`normalize` turns them into plain Python values.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import h5py
import nir
import numpy as np

from neurolearn.errors import InputError, NIRFormatError, UnsupportedNodeError, shown, where
from neurolearn.ir.plan import reset_mode

SCHEMA_VERSION = 2   # 2 added the graph's "chip" entry (how a burst network compiles); reads 1 and 2
KEY = "neurolearn"
RESETS = ("zero", "subtract")
MODULES = ("Leaky", "Synaptic", "RLeaky", "BurstLIF")
COMPARTMENTS = ("soma", "apical")
CARRIES = ("events", "bursts")
INTEGRATIONS = ("euler",)
DT_RANGE = (1e-9, 1e3)   # seconds: a time step outside it is a mistake (and 5e-324 underflows every weight)

# Allowed keys of each block and their Python types (unknown keys are ignored: a newer
# writer of the same schema version may add optional fields).
_GRAPH_KEYS = {"version": int, "dt": float, "integration": str, "producer": str, "subgraphs": dict,
               "rules": dict, "chip": dict}
_NODE_KEYS = {"reset": str, "reset_delay": bool, "module": str, "all_to_all": bool, "parent": str,
              "cell": str, "compartment": str, "burst": dict, "carries": str}


def normalize(value: Any) -> Any:
    """Return ``value`` with numpy scalars, 0-d arrays and bytes turned into Python values."""
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def normalize_graph(graph: nir.NIRNode) -> None:
    """Normalize the neurolearn blocks of ``graph`` and of all nodes inside it, in place."""
    if KEY in graph.metadata:
        graph.metadata[KEY] = normalize(graph.metadata[KEY])
    if isinstance(graph, nir.NIRGraph):
        for node in graph.nodes.values():
            normalize_graph(node)


def block(node: nir.NIRNode) -> dict:
    """The node's neurolearn metadata block (an empty dict if there is none)."""
    return node.metadata.get(KEY, {}) if isinstance(node.metadata, dict) else {}


def graph_dt(graph: nir.NIRGraph, dt: float | None = None, file: str | None = None) -> float:
    """The time step in seconds: the file's recorded ``dt``, else the explicit ``dt``.

    An explicit ``dt`` that disagrees with the file's raises InputError, and so does a file
    without ``dt`` when none is given.
    """
    recorded = block(graph).get("dt")
    if dt is not None:
        dt = _check_dt(dt, file, "the dt argument")
    if recorded is None:
        if dt is None:
            raise InputError(
                f"{where(file) or 'graph'}: no dt recorded in the NIR graph; pass the time step "
                "in seconds with --dt (Python: dt=...), e.g. --dt 1e-4"
            )
        return dt
    recorded = _check_dt(recorded, file, "metadata 'dt'")
    if dt is not None and not math.isclose(dt, recorded, rel_tol=1e-12, abs_tol=0.0):
        raise InputError(
            f"{where(file) or 'graph'}: dt {shown(dt)} s conflicts with the dt {shown(recorded)} s recorded "
            "in the file; leave dt out to use the file's"
        )
    return recorded


def record_dt(path: str | os.PathLike, dt: float) -> None:
    """Write ``dt`` (seconds) into the neurolearn block of the graph in the .nir file ``path``, in place,
    leaving every other byte of the file as it is (a build's copy of a file that records no dt)."""
    dt = _check_dt(dt, str(path), "dt")
    with h5py.File(path, "r+") as f:
        info = f["node"].require_group("metadata").require_group(KEY)
        if "dt" in info:
            raise InputError(f"{path}: already records dt {info['dt'][()]!r} s; not overwritten")
        if "version" not in info:
            info.create_dataset("version", data=SCHEMA_VERSION)
        info.create_dataset("dt", data=dt)


def _check_dt(dt: Any, file: str | None, what: str) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise InputError(f"{where(file) or 'graph'}: {what} {shown(dt)} is not a number of seconds")
    dt = float(dt)
    if not DT_RANGE[0] <= dt <= DT_RANGE[1]:
        raise InputError(f"{where(file) or 'graph'}: {what} = {shown(dt)}; allowed {DT_RANGE[0]:g} to {DT_RANGE[1]:g} "
                         "seconds")
    return dt


def node_reset(node: nir.NIRNode, name: str | None = None, file: str | None = None) -> str:
    """The reset mechanism of a spiking node: ``"zero"`` (to ``v_reset``, NIR's) unless its metadata says
    ``"subtract"``, which takes no ``v_reset``: a non-zero one raises UnsupportedNodeError."""
    reset = block(node).get("reset", "zero")
    v_reset = np.asarray(getattr(node, "v_reset", 0.0))
    if reset == "subtract" and np.any(v_reset != 0):
        bad = v_reset.flat[np.flatnonzero(v_reset)[0]].item()
        raise UnsupportedNodeError(
            f"{where(file, name, 'v_reset')}: value {shown(bad)} with the 'subtract' reset of its neurolearn metadata; "
            "a subtractive reset takes v_reset = 0"
        )
    return reset


def node_reset_delay(node: nir.NIRNode) -> bool:
    """Whether the reset lands one step after the spike (snntorch's default); NIR's is no delay."""
    return bool(block(node).get("reset_delay", False))


def node_reset_mode(node: nir.NIRNode, name: str | None = None, file: str | None = None) -> str:
    """A spiking node's entry of :data:`neurolearn.ir.plan.RESET_MODES`: its reset mechanism, one step late
    where its metadata says so. snntorch's ``Leaky`` with a late zero reset zeroes v before the decay, which is
    the same as resetting at once ("zero"); ``Synaptic`` and ``RLeaky`` zero v after it ("zero_late")."""
    reset = node_reset(node, name, file)
    late = node_reset_delay(node) and (reset == "subtract" or block(node).get("module") in ("Synaptic", "RLeaky"))
    return reset_mode(reset, late, spiking=True)


def validate(graph: nir.NIRNode, file: str | None = None) -> None:
    """Check a graph: the schema version and types of every neurolearn block and that every
    floating-point parameter of every node is finite. Raises NIRFormatError; changes nothing."""
    if not isinstance(graph, nir.NIRGraph):
        raise NIRFormatError(
            f"{where(file) or 'graph'}: top-level node is a {type(graph).__name__}, expected a NIRGraph"
        )
    if not isinstance(graph.metadata.get(KEY, {}), dict):
        raise NIRFormatError(f"{where(file) or 'graph'}: metadata '{KEY}' is not a dict")
    info = normalize(block(graph))
    if info:
        _check_graph_block(info, file)
    _validate_nodes(graph, file, prefix="")


def _check_graph_block(info: dict, file: str | None) -> None:
    prefix = where(file) or "graph"
    if "version" not in info:
        raise NIRFormatError(f"{prefix}: metadata '{KEY}' has no 'version'")
    _check_types(info, _GRAPH_KEYS, prefix)
    _check_finite_values(info, prefix, KEY)
    for name, entry in info.get("rules", {}).items():
        if not isinstance(entry, dict):
            raise NIRFormatError(f"{prefix}: metadata '{KEY}.rules.{name}' = {_shown(entry)}; allowed: a dict (a "
                                 "rule's parameters, or a record such as a training run's 'task')")
    version = info["version"]
    if version > SCHEMA_VERSION:
        raise NIRFormatError(
            f"{prefix}: neurolearn schema version {version} is newer than this neurolearn "
            f"supports (1..{SCHEMA_VERSION}); upgrade neurolearn"
        )
    if version < 1:
        raise NIRFormatError(f"{prefix}: neurolearn schema version {version}; allowed 1..{SCHEMA_VERSION}")
    if "dt" in info:
        dt = info["dt"]
        if not DT_RANGE[0] <= dt <= DT_RANGE[1]:
            raise NIRFormatError(f"{prefix}: metadata 'dt' = {shown(dt)}; allowed {DT_RANGE[0]:g} to {DT_RANGE[1]:g} "
                                 "seconds")
    if "integration" in info and info["integration"] not in INTEGRATIONS:
        raise NIRFormatError(
            f"{prefix}: metadata 'integration' = {shown(info['integration'])}; allowed: {', '.join(INTEGRATIONS)}"
        )


def _validate_nodes(graph: nir.NIRGraph, file: str | None, prefix: str) -> None:
    for name, node in graph.nodes.items():
        full = prefix + name
        if not isinstance(node.metadata, dict):
            raise NIRFormatError(f"{where(file, full)}: metadata is not a dict")
        info = node.metadata.get(KEY, {})
        if not isinstance(info, dict):
            raise NIRFormatError(f"{where(file, full)}: metadata '{KEY}' is not a dict")
        info = normalize(info)
        _check_types(info, _NODE_KEYS, where(file, full))
        _check_finite_values(info, where(file, full), KEY)
        if "burst" in info:
            _check_burst_block(info["burst"], where(file, full))
        for key, allowed in (("reset", RESETS), ("module", MODULES), ("compartment", COMPARTMENTS),
                             ("carries", CARRIES)):
            if key in info and info[key] not in allowed:
                raise NIRFormatError(
                    f"{where(file, full)}: metadata '{key}' = {shown(info[key])}; allowed: {', '.join(allowed)}"
                )
        if isinstance(node, nir.NIRGraph):
            _validate_nodes(node, file, full + ".")
        else:
            _check_finite(node, full, file)


def _check_finite_values(value: Any, prefix: str, path: str) -> None:
    """Every number in a metadata block is real and finite (NaN would pass every later comparison)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite_values(v, prefix, f"{path}.{k}")
        return
    arr = value if isinstance(value, np.ndarray) else None
    if isinstance(value, (float, complex)) or (arr is not None and arr.dtype.kind in "fc"):
        vals = np.asarray(value)
        if vals.dtype.kind == "c" or not np.all(np.isfinite(vals)):
            raise NIRFormatError(f"{prefix}: metadata '{path}' = {_shown(value)}; allowed: finite real numbers")


def _check_burst_block(burst: Any, prefix: str) -> None:
    """The apical node's burst generator: offset finite, slope > 0, stochastic a bool, seed 0..2^31-1, keep
    factors beta and beta_d in [0, 1)."""
    if not isinstance(burst, dict):
        raise NIRFormatError(f"{prefix}: metadata '{KEY}.burst' is not a dict")
    checks = {"offset": (float, lambda v: True, "finite"), "slope": (float, lambda v: v > 0, "> 0"),
              "stochastic": (bool, lambda v: True, "true or false"),
              "seed": (int, lambda v: 0 <= v <= 2**31 - 1, "0 to 2^31-1"),
              "beta": (float, lambda v: 0 <= v < 1, "[0, 1)"), "beta_d": (float, lambda v: 0 <= v < 1, "[0, 1)")}
    for key, (kind, ok, allowed) in checks.items():
        value = burst.get(key)
        numeric = kind is float and isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None or not (numeric or (isinstance(value, kind)
                                             and not (kind is int and isinstance(value, bool)))):
            raise NIRFormatError(f"{prefix}: metadata '{KEY}.burst.{key}' = {_shown(value)}; allowed: "
                                 f"{kind.__name__} {allowed}")
        if not ok(value):
            raise NIRFormatError(f"{prefix}: metadata '{KEY}.burst.{key}' = {value!r}; allowed {allowed}")


def _shown(value: Any) -> str:
    text = " ".join(repr(value.tolist() if isinstance(value, np.ndarray) else value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _check_types(info: dict, schema: dict, prefix: str) -> None:
    for key, kind in schema.items():
        if key not in info:
            continue
        value = info[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float:
            ok = ok or (isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise NIRFormatError(
                f"{prefix}: metadata '{KEY}.{key}' = {shown(value)} has type {type(value).__name__}, "
                f"expected {kind.__name__}"
            )


def _check_finite(node: nir.NIRNode, name: str, file: str | None) -> None:
    for field in dataclasses.fields(node):
        if field.name in ("metadata", "input_type", "output_type"):
            continue
        value = getattr(node, field.name)
        if isinstance(value, (np.ndarray, np.floating, float)):
            arr = np.asarray(value)
            if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                bad = arr.flat[np.flatnonzero(~np.isfinite(arr))[0]].item()
                raise NIRFormatError(
                    f"{where(file, name, field.name)}: value {shown(bad)} is not finite; "
                    "allowed: finite numbers"
                )
