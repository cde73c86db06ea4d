"""Reading and writing ``.nir`` (HDF5) files, with one-line errors instead of tracebacks.

``read`` returns a plain ``nir.NIRGraph`` (read in a child process with a time limit, checked field by
field) whose neurolearn metadata is normalized to Python values and validated
(:func:`neurolearn.nir.extension.validate`). ``write`` validates, then
writes atomically: to a temporary file in the same directory, then ``os.replace``, so a failed
write leaves no file behind and never a half-written one.
"""
from __future__ import annotations

import os
from pathlib import Path

import nir

from neurolearn.atomic import atomic_file
from neurolearn.errors import InputError, NeurolearnError, NIRFormatError
from neurolearn.nir.extension import normalize_graph, validate
from neurolearn.nir.hdf5_tree import read_tree
from neurolearn.nir.structure import graph_from_tree


def read(path: str | os.PathLike, timeout: float | None = None) -> nir.NIRGraph:
    """Load and validate the NIR graph in ``path``. Raises NIRFormatError naming what is wrong.

    The HDF5 data is read in a child process within ``timeout`` seconds (default: 10 s plus one per 50 MB), so a
    corrupt file can neither hang this process nor crash it (:mod:`neurolearn.nir.hdf5_tree`); the tree is then
    checked field by field before nir builds the graph (:mod:`neurolearn.nir.structure`)."""
    file = str(path)
    if not os.path.exists(file):
        raise NIRFormatError(f"{file}: no such file")
    if os.path.isdir(file):
        raise NIRFormatError(f"{file}: is a directory, expected a .nir (HDF5) file")
    if not os.path.isfile(file):
        raise NIRFormatError(f"{file}: not a regular file, expected a .nir (HDF5) file")
    tree = read_tree(file, timeout)
    graph = graph_from_tree(tree, file)
    normalize_graph(graph)
    validate(graph, file)
    return graph


def write(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """Validate ``graph`` and write it to ``path`` atomically (:func:`neurolearn.atomic.atomic_file`)."""
    file = str(path)
    validate(graph, file)
    directory = Path(file).resolve().parent
    if not directory.is_dir():
        raise InputError(f"{file}: directory {directory} does not exist")

    def write_graph(tmp):
        try:
            nir.write(str(tmp), graph)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        except NeurolearnError:
            raise
        except Exception as e:
            reason = " ".join(str(e).split()) or "no message"
            raise NIRFormatError(f"{file}: cannot write the graph ({type(e).__name__}: {reason})") from e
    atomic_file(file, write_graph)
