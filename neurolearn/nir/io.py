"""Reading and writing ``.nir`` (HDF5) files, with one-line errors instead of tracebacks.

``read`` returns a plain ``nir.NIRGraph`` whose neurolearn metadata is normalized to Python
values and validated (:func:`neurolearn.nir.extension.validate`). ``write`` validates, then
writes atomically: to a temporary file in the same directory, then ``os.replace``, so a failed
write leaves no file behind and never a half-written one.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import h5py
import nir

from neurolearn.errors import InputError, NeurolearnError, NIRFormatError, where
from neurolearn.nir.extension import normalize_graph, validate


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """Load and validate the NIR graph in ``path``. Raises NIRFormatError naming what is wrong."""
    file = str(path)
    if not os.path.exists(file):
        raise NIRFormatError(f"{file}: no such file")
    if os.path.isdir(file):
        raise NIRFormatError(f"{file}: is a directory, expected a .nir (HDF5) file")
    try:
        with h5py.File(file, "r") as f:
            if not isinstance(f.get("node"), h5py.Group):
                raise NIRFormatError(f"{file}: HDF5 file without a NIR graph (no 'node' group)")
            kind = _check_types(f["node"], file, None)
            if kind != "NIRGraph":
                raise NIRFormatError(f"{file}: top-level node is a {kind}, expected a NIRGraph")
    except OSError as e:
        reason = " ".join(str(e).split())
        raise NIRFormatError(
            f"{file}: cannot open as HDF5 ({reason}); not a NIR file, or truncated or corrupt"
        ) from None
    try:
        graph = nir.read(file, type_check=False)
        graph.validate_structure()
    except Exception as e:  # nir raises AssertionError, KeyError, TypeError, ValueError, OSError
        reason = " ".join(str(e).split()) or "no message"
        raise NIRFormatError(f"{file}: not a valid NIR graph ({type(e).__name__}: {reason})") from None
    normalize_graph(graph)
    validate(graph, file)
    return graph


def _check_types(group: h5py.Group, file: str, name: str | None) -> str:
    """Check that every node group has a 'type' nir knows (recursing into nested graphs);
    return the type of ``group``."""
    if "type" not in group:
        raise NIRFormatError(f"{where(file, name)}: HDF5 group has no 'type'; not a NIR node")
    kind = group["type"][()]
    kind = kind.decode("utf8") if isinstance(kind, bytes) else str(kind)
    try:
        nir.str2NIRNode(kind)
    except (AssertionError, KeyError):
        raise NIRFormatError(
            f"{where(file, name)}: unknown NIR node type '{kind}' (nir {nir.version} cannot load it)"
        ) from None
    if kind == "NIRGraph":
        nodes = group.get("nodes")
        if not isinstance(nodes, h5py.Group):
            raise NIRFormatError(f"{where(file, name)}: NIRGraph without a 'nodes' group")
        for child, sub in nodes.items():
            full = f"{name}.{child}" if name else child
            if not isinstance(sub, h5py.Group):
                raise NIRFormatError(f"{where(file, full)}: not an HDF5 group; not a NIR node")
            _check_types(sub, file, full)
    return kind


def write(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """Validate ``graph`` and write it to ``path`` atomically (temporary file + ``os.replace``)."""
    file = str(path)
    validate(graph, file)
    directory = Path(file).resolve().parent
    if not directory.is_dir():
        raise InputError(f"{file}: directory {directory} does not exist")
    tmp = directory / f".{Path(file).name}.{uuid.uuid4().hex}.tmp"
    try:
        nir.write(str(tmp), graph)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, Exception) and not isinstance(e, NeurolearnError):
            reason = " ".join(str(e).split()) or "no message"
            raise NIRFormatError(f"{file}: cannot write the graph ({type(e).__name__}: {reason})") from e
        raise
