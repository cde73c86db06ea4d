"""Mutations of valid NIR files and plan.json files, and one compile run judged: shared by the fuzz tests
(hypothesis draws the mutations) and tools/fuzz_nir.py (a seeded generator draws thousands).

A mutation is data (a tuple naming its kind and arguments), so a failing case prints as something to replay.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np

from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nir import write
from neurolearn.nir.burst_encoding import to_nir

SPECIAL = (np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, -1e308, 5e-324, 1e-300, 1e12, -0.0, 1e9, 2.0**31, 0.5)
DTYPES = ("complex128", "int8", "bool", "float16", "uint64", "text", "bytes-not-utf8", "int64")
SHAPES = ("empty", "scalar", "transpose", "extra-dim", "long", "huge-declared", "negative", "float-shape")
TYPES = ("LIF", "Linear", "Affine", "NIRGraph", "Input", "Output", "CubaLIF", "Scale", "Flatten", "IF", "LI",
         "Delay", "Conv2d", "Nope", b"\xff\xfe", "")
EDGES = ("add", "delete", "missing", "self", "duplicate", "reverse", "swap")
META = ("as-dataset", "nan-dt", "text-dt", "rules-typo", "rules-not-dict", "rules-rate", "nan-in-block",
        "version-text", "version-99", "reset-bad", "burst-nan", "burst-slope", "burst-missing", "threshold-zero",
        "cell-missing", "module-text")


# ---- seeds ------------------------------------------------------------------------------------------------------
def _meta(dt=1e-3, **more):
    return {"neurolearn": {"version": 1, "dt": dt, "integration": "euler", **more}}


def _lif(n, tau=0.02, thr=1.0, **meta):
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, thr),
                   v_reset=np.zeros(n), metadata={"neurolearn": meta} if meta else {})


def seed_graphs() -> dict[str, nir.NIRGraph]:
    """Small valid graphs covering what compile reads: feedforward with Affine, Scale and CubaLIF; recurrence;
    a nested graph; a burst network with a learning rule; IF and LI readouts."""
    rng = np.random.default_rng(0)
    ff = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([4])),
        "fc1": nir.Affine(weight=rng.normal(0, 1, (5, 4)), bias=rng.normal(0, 0.1, 5)),
        "lif": _lif(5, reset="zero"),
        "sc": nir.Scale(scale=np.full(5, 0.5)),
        "fc2": nir.Linear(weight=rng.normal(0, 1, (3, 5))),
        "cuba": nir.CubaLIF(tau_syn=np.full(3, 0.005), tau_mem=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3), v_reset=np.zeros(3), w_in=np.ones(3)),
        "output": nir.Output(np.array([3]))},
        edges=[("input", "fc1"), ("fc1", "lif"), ("lif", "sc"), ("sc", "fc2"), ("fc2", "cuba"), ("cuba", "output")],
        metadata=_meta(), type_check=False)
    rec = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([3])), "fc": nir.Linear(weight=rng.uniform(0, 1, (4, 3))),
        "lif": _lif(4), "rec": nir.Linear(weight=rng.normal(0, 0.3, (4, 4))),
        "fo": nir.Linear(weight=rng.normal(0, 1, (2, 4))),
        "li": nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(np.array([2]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fo"), ("fo", "li"),
               ("li", "output")], metadata=_meta(), type_check=False)
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "lif": _lif(4), "output": nir.Output(np.array([4]))},
                         edges=[("input", "lif"), ("lif", "output")], metadata={}, type_check=False)
    nested = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([2])), "fc": nir.Linear(weight=rng.uniform(0, 1, (4, 2))), "sub": inner,
        "fo": nir.Linear(weight=rng.uniform(0, 1, (2, 4))),
        "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)), "output": nir.Output(np.array([2]))},
        edges=[("input", "fc"), ("fc", "sub"), ("sub", "fo"), ("fo", "if"), ("if", "output")],
        metadata=_meta(), type_check=False)
    p = BurstParams(beta=0.8, beta_d=0.8, burst_offset=0.5)
    burst = to_nir(BurstNetwork(
        dt=1e-3, input_size=4, layers=(BurstLayer("hidden", 3, p, 1), BurstLayer("out", 2, p, 2)),
        weights={("input", "hidden"): rng.uniform(0, 0.8, (3, 4)), ("hidden", "out"): rng.uniform(0, 0.8, (2, 3))},
        feedback={("out", "hidden"): rng.normal(0, 1, (3, 2))},
        rules={"W:input->hidden": {"rule": "stdp", "a_plus": 0.02, "a_minus": 0.025}}))
    return {"feedforward": ff, "recurrent": rec, "nested": nested, "burst": burst}


def write_seeds(directory: Path) -> list[Path]:
    """Write the seed graphs as .nir files into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, graph in seed_graphs().items():
        write(directory / f"{name}.nir", graph)
        paths.append(directory / f"{name}.nir")
    return paths


# ---- mutations --------------------------------------------------------------------------------------------------
def _objects(f: h5py.File):
    """(datasets, groups) under node/, by path, sorted."""
    datasets, groups = [], []

    def visit(name, obj):
        (datasets if isinstance(obj, h5py.Dataset) else groups).append(f"node/{name}")
    f["node"].visititems(visit)
    return sorted(datasets), sorted(["node"] + groups)


def _pick(items, frac):
    return items[min(int(frac * len(items)), len(items) - 1)] if items else None


def _replace(f, path, data):
    del f[path]
    f[path] = data


def _node_groups(f):
    return [g for g in _objects(f)[1] if "type" in f[g] and isinstance(f[g], h5py.Group)]


def _mutate_hdf5(f: h5py.File, op: tuple) -> None:
    kind = op[0]
    datasets, groups = _objects(f)
    if kind == "value":
        _, frac, special, whole = op
        path = _pick(datasets, frac)
        ds = f[path]
        if ds.dtype.kind not in "iuf":
            return
        arr = np.array(ds[()], dtype=np.float64)
        if whole or arr.ndim == 0:
            arr = np.full(arr.shape, special)
        else:
            arr.flat[int(frac * 997) % arr.size] = special
        _replace(f, path, arr)
    elif kind == "dtype":
        _, frac, dtype = op
        path = _pick(datasets, frac)
        arr = np.asarray(f[path][()])
        if dtype == "text":
            data = "abc"
        elif dtype == "bytes-not-utf8":
            data = np.bytes_(b"\xff\xfe\x00x")
        elif arr.dtype.kind in "iufcb":   # complex to real: the real part, as astype takes it (said, not warned)
            data = (arr.real if arr.dtype.kind == "c" and np.dtype(dtype).kind != "c" else arr).astype(dtype)
        else:
            data = np.zeros(arr.shape if arr.ndim else (), dtype)
        _replace(f, path, data)
    elif kind == "shape":
        _, frac, how = op
        path = _pick(datasets, frac)
        arr = np.asarray(f[path][()])
        if arr.dtype.kind not in "iuf":
            arr = np.ones(2)
        data = {"empty": np.zeros((0,)), "scalar": np.asarray(arr.reshape(-1)[:1].sum() if arr.size else 1.0),
                "transpose": arr.T, "extra-dim": arr[None], "long": np.resize(arr, (arr.size * 3 + 1,)),
                "huge-declared": np.array([1e9]), "negative": np.array([-1]),
                "float-shape": np.array([2.5])}[how]
        _replace(f, path, data)
    elif kind == "delete":
        _, frac = op
        path = _pick(datasets + groups[1:], frac)
        if path:
            del f[path]
    elif kind == "to_group":
        path = _pick(datasets, op[1])
        del f[path]
        f.create_group(path)
    elif kind == "to_dataset":
        path = _pick(groups[1:], op[1])
        if path:
            del f[path]
            f[path] = np.ones(3)
    elif kind == "type":
        _, frac, new = op
        group = _pick(_node_groups(f), frac)
        _replace(f, f"{group}/type", np.bytes_(new if isinstance(new, bytes) else new.encode()))
    elif kind == "edge":
        _mutate_edges(f, op)
    elif kind == "meta":
        _mutate_meta(f, op)
    elif kind == "copy_node":
        _, frac = op
        graphs = [g for g in _node_groups(f) if f[f"{g}/type"][()] == b"NIRGraph"]
        g = _pick(graphs, frac)
        names = sorted(f[f"{g}/nodes"].keys())
        src = _pick(names, frac)
        f.copy(f[f"{g}/nodes/{src}"], f[f"{g}/nodes"], name=f"{src}_copy")
        edges = [list(e) for e in f[f"{g}/edges"][()]] if f[f"{g}/edges"].size else []
        edges += [[e[0], (src + "_copy").encode()] for e in edges if e[1] == src.encode()]
        edges += [[(src + "_copy").encode(), e[1]] for e in edges if e[0] == src.encode()]
        _replace(f, f"{g}/edges", np.array(edges, dtype=h5py.string_dtype()) if edges else np.zeros(0))


def _mutate_edges(f, op):
    _, how, a, b = op
    graphs = [g for g in _node_groups(f) if f[f"{g}/type"][()] == b"NIRGraph"]
    g = _pick(graphs, a)
    if f[f"{g}/edges"].dtype.kind not in "OS" or f[f"{g}/edges"].ndim != 2:
        return
    edges = [[x.decode() if isinstance(x, bytes) else x for x in e] for e in f[f"{g}/edges"][()]]
    names = sorted(f[f"{g}/nodes"].keys())
    x, y = _pick(names, a), _pick(names, b)
    i = min(int(b * len(edges)), len(edges) - 1) if edges else 0
    if how == "add":
        edges.append([x, y])
    elif how == "delete" and edges:
        edges.pop(i)
    elif how == "missing" and edges:
        edges[i][1] = "ghost"
    elif how == "self":
        edges.append([x, x])
    elif how == "duplicate" and edges:
        edges.append(list(edges[i]))
    elif how == "reverse" and edges:
        edges[i] = edges[i][::-1]
    elif how == "swap" and len(edges) > 1:
        edges[i][1], edges[0][1] = edges[0][1], edges[i][1]
    _replace(f, f"{g}/edges", np.array(edges, dtype=h5py.string_dtype()) if edges else np.zeros((0, 2), "S1"))


def _mutate_meta(f, op):
    _, how, frac = op
    block = "node/metadata/neurolearn"
    if block not in f:
        f.require_group(block)["version"] = 1
    nodes = [g for g in _node_groups(f) if f"{g}/metadata/neurolearn" in f]
    node = _pick(nodes, frac)
    nb = f"{node}/metadata/neurolearn" if node else None
    burst = [g for g in nodes if f"{g}/metadata/neurolearn/burst" in f]
    bpath = f"{_pick(burst, frac)}/metadata/neurolearn/burst" if burst else None

    def put(path, value):
        if path is None:
            return
        if path in f:
            del f[path]
        f[path] = value
    if how == "as-dataset":
        target = _pick(["node/metadata"] + [f"{g}/metadata" for g in nodes], frac)
        del f[target]
        f[target] = np.ones(2)
    elif how == "nan-dt":
        put(f"{block}/dt", np.nan)
    elif how == "text-dt":
        put(f"{block}/dt", "abc")
    elif how in ("rules-typo", "rules-rate", "rules-not-dict"):
        if f"{block}/rules" in f:
            del f[f"{block}/rules"]
        rules = f.require_group(f"{block}/rules")
        if how == "rules-not-dict":
            rules["W:input->hidden"] = 3.0
        else:
            rules.require_group("W:input->hidden")["rule"] = "stpd" if how == "rules-typo" else "backprop"
    elif how == "nan-in-block":
        put(f"{nb}/extra" if nb else f"{block}/extra", np.nan)
    elif how == "version-text":
        put(f"{block}/version", "one")
    elif how == "version-99":
        put(f"{block}/version", 99)
    elif how == "reset-bad":
        put(f"{nb}/reset" if nb else None, "halve")
    elif how == "burst-nan":
        put(f"{bpath}/offset" if bpath else None, np.nan)
    elif how == "burst-slope":
        put(f"{bpath}/slope" if bpath else None, -1.0)
    elif how == "burst-missing":
        if bpath:
            del f[bpath]
    elif how == "threshold-zero":
        lifs = [g for g in _node_groups(f) if f[f"{g}/type"][()] in (b"LIF", b"CubaLIF", b"IF")]
        g = _pick(lifs, frac)
        if g:
            put(f"{g}/v_threshold", np.zeros_like(f[f"{g}/v_threshold"][()]))
    elif how == "cell-missing":
        put(f"{nb}/cell" if nb else None, "nowhere")
    elif how == "module-text":
        put(f"{nb}/module" if nb else None, np.bytes_(b"\xffBurst"))


def _nest(src: Path, dst: Path, depth: int) -> None:
    """``dst``: the graph of ``src`` inside ``depth`` levels of NIRGraph, each Input -> inner -> Output."""
    with h5py.File(src, "r") as fin:
        # np.real: a mutated shape may be complex; int() of it would warn (the same real part, said explicitly)
        n_in = int(np.real(np.prod([fin[f"node/nodes/{k}/shape"][()] for k in fin["node/nodes"]
                                    if fin[f"node/nodes/{k}/type"][()] == b"Input"][0])))
        n_out = int(np.real(np.prod([fin[f"node/nodes/{k}/shape"][()] for k in fin["node/nodes"]
                                     if fin[f"node/nodes/{k}/type"][()] == b"Output"][0])))
        with h5py.File(dst, "w") as f:
            g = f.create_group("node")
            for level in range(depth):
                g["type"] = np.bytes_(b"NIRGraph")
                nodes = g.create_group("nodes")
                for port, size in (("input", n_in), ("output", n_out)):
                    p = nodes.create_group(port)
                    p["type"] = np.bytes_(port.capitalize().encode())
                    p["shape"] = np.array([size])
                g["edges"] = np.array([["input", "g"], ["g", "output"]], dtype=h5py.string_dtype())
                if level == 0:
                    fin.copy(fin["node/metadata"], g, name="metadata")
                if level < depth - 1:
                    g = nodes.create_group("g")
            fin.copy(fin["node"], nodes, name="g")


def apply(src: Path, dst: Path, ops: list[tuple]) -> None:
    """Write ``src`` mutated by ``ops`` (applied in order, nesting last: walking a graph 1000 levels deep with
    h5py takes minutes) to ``dst``."""
    shutil.copyfile(src, dst)
    for op in sorted(ops, key=lambda op: op[0] == "nest"):
        kind = op[0]
        if kind == "nest":
            tmp = dst.with_suffix(".nest")
            shutil.move(dst, tmp)
            try:
                _nest(tmp, dst, op[1])
            except Exception:
                shutil.move(tmp, dst)   # the file is no longer a graph this can nest: leave it
            tmp.unlink(missing_ok=True)
            continue
        if kind in ("flip", "truncate", "bytes"):
            data = bytearray(dst.read_bytes())
            if not data:
                continue
            if kind == "flip":
                i = min(int(op[1] * len(data)), len(data) - 1)
                data[i] ^= 1 << op[2]
            elif kind == "truncate":
                data = data[:int(op[1] * len(data))]
            else:
                i = min(int(op[1] * len(data)), len(data) - 1)
                data[i:i + len(op[2])] = op[2]
            dst.write_bytes(bytes(data))
            continue
        try:
            with h5py.File(dst, "r+") as f:
                _mutate_hdf5(f, op)
        except Exception:
            continue   # the file (already broken by an earlier op) cannot take this one: leave it as it is


def random_ops(rng: np.random.Generator, count: int | None = None) -> list[tuple]:
    """A random list of 1-3 mutations (the long fuzz script's generator)."""
    ops = []
    for _ in range(count or int(rng.integers(1, 4))):
        kind = rng.choice(["flip", "flip", "truncate", "bytes", "value", "value", "dtype", "shape", "delete",
                           "to_group", "to_dataset", "type", "edge", "edge", "meta", "meta", "copy_node", "nest"])
        u = float(rng.random())
        if kind == "flip":
            ops.append(("flip", u, int(rng.integers(0, 8))))
        elif kind == "truncate":
            ops.append(("truncate", u))
        elif kind == "bytes":
            ops.append(("bytes", u, bytes(rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8))))
        elif kind == "value":
            ops.append(("value", u, float(rng.choice(SPECIAL)), bool(rng.integers(0, 2))))
        elif kind == "dtype":
            ops.append(("dtype", u, str(rng.choice(DTYPES))))
        elif kind == "shape":
            ops.append(("shape", u, str(rng.choice(SHAPES))))
        elif kind in ("delete", "to_group", "to_dataset", "copy_node"):
            ops.append((kind, u))
        elif kind == "type":
            ops.append(("type", u, TYPES[int(rng.integers(0, len(TYPES)))]))
        elif kind == "edge":
            ops.append(("edge", str(rng.choice(EDGES)), u, float(rng.random())))
        elif kind == "meta":
            ops.append(("meta", str(rng.choice(META)), u))
        else:
            ops.append(("nest", int(rng.choice([2, 5, 31, 33, 100, 1000]))))
    return ops


# ---- plan.json mutations ------------------------------------------------------------------------------------------
PLAN_VALUES = (None, True, -1, 0, 1.5, 2**40, -(2**40), "abc", [], {}, [1, 2], 1e308, float("nan"), 4096, 100.7)


def mutate_plan(plan: dict, ops: list[tuple]):
    """A copy of a plan.json document with each op ``(path_fraction, value_index, how)`` applied: set the value
    at a leaf picked by path_fraction to PLAN_VALUES[value_index], delete that key, or replace the document."""
    doc = json.loads(json.dumps(plan))
    for frac, vi, how in ops:
        leaves = []

        def walk(node, trail):
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for k, v in items:
                leaves.append(trail + (k,))
                walk(v, trail + (k,))
        walk(doc, ())
        if how == "root":
            doc = copy.deepcopy(PLAN_VALUES[vi])   # a fresh object: later ops must not nest it in itself
            continue
        if not leaves:
            continue
        path = leaves[min(int(frac * len(leaves)), len(leaves) - 1)]
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if how == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(PLAN_VALUES[vi])
    return doc


# ---- one run, judged ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one command did: ``kind`` is build, error (one clear line, a NeurolearnError), crash (internal error
    or an escaping exception), memory (MemoryError) or half-written (an output or temporary left incomplete)."""

    kind: str
    code: int
    message: str
    seconds: float


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


def judge_command(argv: list[str], out: Path, complete: tuple[str, ...]) -> Outcome:
    """Run ``neurolearn ARGV`` in this process and judge it; ``out`` must afterwards be absent or hold every
    file in ``complete``, and nothing named ``.OUT.*`` may be left beside it."""
    from neurolearn.cli import main

    err = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except MemoryError:
        return Outcome("memory", 70, "MemoryError escaped", time.perf_counter() - t0)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a crash
        return Outcome("crash", 70, f"{type(exc).__name__} escaped: {exc}"[:300], time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    text = err.getvalue().strip()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    if "MemoryError" in text:
        return Outcome("memory", code, text[:300], seconds)
    if code == 70 or "internal error" in text or "Traceback" in text:
        return Outcome("crash", code, text[:300], seconds)
    left = _leftovers(out)
    if left or (out.exists() and not all((out / name).is_file() for name in complete)):
        return Outcome("half-written", code, f"left {left or sorted(p.name for p in out.iterdir())}", seconds)
    if code == 0:
        return Outcome("build", 0, "", seconds)
    if len(errors) != 1:
        return Outcome("crash", code, f"expected one error line, got: {text[:300]}", seconds)
    return Outcome("error", code, errors[0][:300], seconds)
