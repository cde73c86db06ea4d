"""Read an untrusted HDF5 file into plain Python data, in a child process with a time limit.

A corrupt HDF5 file can make libhdf5 loop forever inside one C call, which neither Ctrl-C nor a Python thread
can stop. :func:`read_tree` therefore runs the whole HDF5 walk (:func:`walk_file`) in a child process (forked
from a forkserver that has h5py loaded, so a read costs milliseconds, not an interpreter start) and waits at
most :func:`read_timeout` seconds; the child also arms ``alarm`` so it ends itself if its parent dies. Ctrl-C
in the parent interrupts the wait and ends the child. The walk refuses, before reading a value, what a NIR file
never holds: links to other files, virtual or external datasets, types other than numbers and strings, nesting
deeper than :data:`MAX_HDF5_DEPTH` and data larger than the memory limit (neurolearn.ir.limits).

The tree: an HDF5 group is a dict (name -> tree), a string dataset a ``str`` (or nested lists of ``str``), a
numeric dataset a numpy array (0-d for scalars).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time

import h5py
import numpy as np

from neurolearn.errors import NIRFormatError
from neurolearn.ir.limits import MAX_NESTING, MAX_NODES, format_bytes, memory_limit

MAX_HDF5_DEPTH = 2 * MAX_NESTING + 16     # a nesting level is two groups (nodes/NAME); metadata adds a few
MAX_HDF5_OBJECTS = 40 * MAX_NODES         # groups and datasets
TIMEOUT_BASE_S = 10.0                     # time limit of a read: this plus one second per READ_RATE bytes
READ_RATE = 50e6
_NUMERIC = "biufc"


def read_timeout(size: int) -> float:
    """Seconds a read of a ``size``-byte file may take before it is refused as a hang."""
    return TIMEOUT_BASE_S + size / READ_RATE


class _Budget:
    def __init__(self, max_bytes: int):
        self.objects, self.bytes, self.max_bytes = 0, 0, max_bytes


def walk_file(file: str, max_bytes: int | None = None) -> dict:
    """The tree of the file's ``node`` group (in this process: use :func:`read_tree` for untrusted files).
    Raises NIRFormatError (message without the file name) for anything a NIR file does not hold."""
    budget = _Budget(memory_limit() if max_bytes is None else max_bytes)
    try:
        with h5py.File(file, "r") as f:
            link = f.get("node", getlink=True)
            if link is None:
                raise NIRFormatError("HDF5 file without a NIR graph (no 'node' group)")
            node = _follow(f, "node", link)
            if not isinstance(node, h5py.Group):
                raise NIRFormatError("HDF5 file without a NIR graph ('node' is not a group)")
            return _group(node, "node", 0, budget)
    except NIRFormatError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError, ValueError, TypeError, ...
        reason = " ".join(str(exc).split()) or "no message"
        raise NIRFormatError(f"cannot open as HDF5 ({type(exc).__name__}: {reason}); not a NIR file, or truncated "
                             "or corrupt") from None


def _follow(group: h5py.Group, name: str, link):
    if isinstance(link, h5py.ExternalLink):
        raise NIRFormatError(f"'{name}' is a link to another file ({link.filename}); a NIR file holds its own data")
    if isinstance(link, h5py.SoftLink):
        raise NIRFormatError(f"'{name}' is a soft link ({link.path}); NIR files hold no links")
    return group[name]


def _group(group: h5py.Group, path: str, depth: int, budget: _Budget) -> dict:
    if depth > MAX_HDF5_DEPTH:
        raise NIRFormatError(f"'{path}': groups nest deeper than {MAX_HDF5_DEPTH} levels (NIR graphs nest at most "
                             f"{MAX_NESTING})")
    out = {}
    for name in group.keys():
        budget.objects += 1
        if budget.objects > MAX_HDF5_OBJECTS:
            raise NIRFormatError(f"more than {MAX_HDF5_OBJECTS} HDF5 objects (NIR graphs hold at most {MAX_NODES} "
                                 "nodes)")
        item = _follow(group, name, group.get(name, getlink=True))
        where = f"{path}/{name}"
        if isinstance(item, h5py.Group):
            out[name] = _group(item, where, depth + 1, budget)
        elif isinstance(item, h5py.Dataset):
            out[name] = _dataset(item, where, budget)
        else:
            raise NIRFormatError(f"'{where}' is an HDF5 {type(item).__name__}; NIR files hold groups and datasets")
    return out


def _dataset(ds: h5py.Dataset, path: str, budget: _Budget):
    if ds.is_virtual or ds.external:
        raise NIRFormatError(f"'{path}': a virtual or external dataset (data in other files); not allowed in NIR")
    dtype, shape = ds.dtype, ds.shape
    if shape is None:
        raise NIRFormatError(f"'{path}': an empty HDF5 dataset (no shape)")
    string = h5py.check_string_dtype(dtype) is not None or dtype.kind == "S"
    if not string and dtype.kind not in _NUMERIC:
        raise NIRFormatError(f"'{path}': HDF5 type {dtype}; NIR files hold numbers and strings")
    count = int(np.prod(shape, dtype=np.float64))
    nbytes = count * (dtype.itemsize if not string or dtype.kind == "S" else 64)
    budget.bytes += nbytes
    if budget.bytes > budget.max_bytes:
        raise NIRFormatError(f"'{path}': shape {shape} of {dtype}: the file's data would need "
                             f"{format_bytes(budget.bytes)} of memory; limit {format_bytes(budget.max_bytes)} "
                             "(set NEUROLEARN_MEMORY_LIMIT to change it)")
    value = ds[()]
    if string:
        return _text(value, path)
    return np.asarray(value)


def _text(value, path: str):
    """Bytes (scalar or array) decoded as UTF-8: a str, or nested lists of str."""
    if isinstance(value, np.ndarray):
        return [_text(v, path) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf8")
        except UnicodeDecodeError:
            raise NIRFormatError(f"'{path}': text that is not UTF-8") from None
    if isinstance(value, str):
        return value
    raise NIRFormatError(f"'{path}': a string dataset holding {type(value).__name__}")


# ---- the child process ---------------------------------------------------------------------------------------
def _child(file: str, max_bytes: int, timeout: float, conn) -> None:
    """Runs in the child: walk ``file`` and send ("ok", tree) or ("error", message)."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)   # ends this process even inside libhdf5, even if orphaned
    signal.alarm(max(1, int(timeout) + 2))
    try:
        result = ("ok", walk_file(file, max_bytes))
    except NIRFormatError as exc:
        result = ("error", str(exc))
    except MemoryError:
        result = ("error", "not enough memory to read the file")
    except RecursionError:
        result = ("error", "groups nest too deeply")
    conn.send(result)
    conn.close()


def _context():
    """A forkserver context whose server has h5py loaded (spawn where there is no forkserver)."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def read_tree(file: str, timeout: float | None = None) -> dict:
    """The tree of ``file`` read in a child process within ``timeout`` seconds (default
    :func:`read_timeout`); NIRFormatError naming the file for a corrupt, hostile or hanging file. Inside a
    daemonic process (which may not start children) the file is read here, without the time limit."""
    size = os.path.getsize(file)
    timeout = read_timeout(size) if timeout is None else timeout
    max_bytes = memory_limit()
    try:
        if multiprocessing.current_process().daemon:
            return walk_file(file, max_bytes)
        ctx = _context()
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(os.path.abspath(file), max_bytes, timeout, send), daemon=True)
        child.start()
        send.close()
        try:
            return _wait(child, receive, timeout, file)
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
            child.join(1.0)
    except NIRFormatError as exc:
        raise NIRFormatError(f"{file}: {exc}") from None


def _wait(child, receive, timeout: float, file: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NIRFormatError(f"reading the HDF5 data took longer than {timeout:.0f} s (a corrupt file can make "
                                 "libhdf5 loop forever); stopped")
        if receive.poll(min(left, 0.5)):
            try:
                status, value = receive.recv()
            except (EOFError, OSError):
                status, value = None, None
            if status == "ok":
                return value
            if status == "error":
                raise NIRFormatError(value)
        if not child.is_alive() and not receive.poll(0):
            code = child.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise NIRFormatError(f"the HDF5 reader ended abnormally ({how}); the file is corrupt")
