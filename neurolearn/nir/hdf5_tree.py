"""Read an untrusted HDF5 file into plain Python data, in a child process with a time limit.

A corrupt HDF5 file can make libhdf5 loop forever inside one C call, which neither Ctrl-C nor a Python thread
can stop. :func:`read_tree` therefore runs the whole HDF5 walk (:func:`walk_file`) in a reader process (one per
neurolearn process, started on the first read and kept, so a read costs milliseconds after the first) and
waits at most :func:`read_timeout` seconds, then kills it; the reader also arms ``alarm`` for each read, so
it ends itself if its parent dies. Ctrl-C in the parent interrupts the wait and ends the reader.
The walk refuses, before reading a value, what a NIR file
never holds: links to other files, virtual or external datasets, types other than numbers and strings, nesting
deeper than :data:`MAX_HDF5_DEPTH` and data larger than the memory limit (neurolearn.ir.limits).

The tree: an HDF5 group is a dict (name -> tree), a string dataset a ``str`` (or nested lists of ``str``), a
numeric dataset a numpy array (0-d for scalars).
"""
from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

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
        path = "/".join(path.split("/")[:4]) + "/.../" + "/".join(path.split("/")[-2:])
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


# ---- the reader process ----------------------------------------------------------------------------------------
# One long-lived reader process per neurolearn process, started on the first read: a request is one JSON line on
# its stdin (file, byte limit, time limit), the answer an 8-byte length and a pickle of ("ok", tree) or
# ("error", message) on its stdout. A reader that overruns its time limit is killed and the next read starts a
# new one. It ignores SIGINT (the parent handles Ctrl-C and ends it if a read was under way) and ends on EOF.
_reader: subprocess.Popen | None = None


def serve() -> None:
    """The reader process's loop (``python -c "...serve()"``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)   # ends this process even inside libhdf5, even if orphaned
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        signal.alarm(max(1, int(request["timeout"]) + 2))
        try:
            result = ("ok", walk_file(request["file"], request["max_bytes"]))
        except NIRFormatError as exc:
            result = ("error", str(exc))
        except MemoryError:
            result = ("error", "not enough memory to read the file")
        except RecursionError:
            result = ("error", "groups nest too deeply")
        signal.alarm(0)
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little") + data)
        out.flush()


def _start_reader() -> subprocess.Popen:
    root = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.insert(0, {root!r}); from neurolearn.nir.hdf5_tree import serve; serve()"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, close_fds=True)


def _stop_reader() -> None:
    global _reader
    if _reader is not None:
        if _reader.poll() is None:
            _reader.kill()
        _reader.wait()
        for stream in (_reader.stdin, _reader.stdout):
            stream.close()
        _reader = None


def read_tree(file: str, timeout: float | None = None) -> dict:
    """The tree of ``file`` read in neurolearn's reader process within ``timeout`` seconds (default
    :func:`read_timeout`); NIRFormatError naming the file for a corrupt, hostile or hanging file."""
    global _reader
    timeout = read_timeout(os.path.getsize(file)) if timeout is None else timeout
    request = json.dumps({"file": os.path.abspath(file), "max_bytes": memory_limit(), "timeout": timeout})
    fresh = _reader is None or _reader.poll() is not None
    if fresh:
        _stop_reader()
        _reader = _start_reader()
    done = False
    try:
        _reader.stdin.write(request.encode() + b"\n")
        _reader.stdin.flush()
        deadline = time.monotonic() + timeout + (_START_S if fresh else 0.0)
        size = int.from_bytes(_receive(_reader.stdout, 8, deadline, timeout), "little")
        status, value = pickle.loads(_receive(_reader.stdout, size, deadline, timeout))
        done = True
    except NIRFormatError as exc:
        raise NIRFormatError(f"{file}: {exc}") from None
    except (BrokenPipeError, EOFError):
        code = _reader.poll()
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        raise NIRFormatError(f"{file}: the HDF5 reader ended abnormally ({how}); the file is corrupt") from None
    finally:
        if not done:
            _stop_reader()
    if status == "error":
        raise NIRFormatError(f"{file}: {value}")
    return value


_START_S = 30.0   # allowance for starting the reader process (imports) on a busy machine


def _receive(stream, n: int, deadline: float, timeout: float) -> bytes:
    """``n`` bytes from the reader, waiting until ``deadline`` (Ctrl-C interrupts the wait)."""
    chunks, fd = [], stream.fileno()
    while n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise NIRFormatError(f"reading the HDF5 data took longer than {timeout:.0f} s (a corrupt file can make "
                                 "libhdf5 loop forever); stopped")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
