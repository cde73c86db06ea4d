"""Issue 12's crash, hang and silently-accepted classes, each as a file a hostile user could hand to
``neurolearn compile``: every one ends in one error line (a NeurolearnError) within seconds, nothing written."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.errors import NIRFormatError, ShapeError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nir import hdf5_tree, read, write
from neurolearn.nir.burst_encoding import from_nir, to_nir
from tests.fuzz_mutations import apply, write_seeds
from tests.helpers import ctrl_c_as_at_a_terminal, lif_graph

REPO = Path(__file__).resolve().parents[2]


def refused(path, capsys, *words, code=2):
    """Compile ``path``: one 'error:' line containing ``words``, exit ``code``, no build, no temporaries."""
    out = Path(path).with_name("build")
    t0 = time.perf_counter()
    got = main(["compile", str(path), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code and len(err) == 1 and err[0].startswith("error: "), err
    assert "internal error" not in err[0] and all(w in err[0] for w in words), err[0]
    assert not out.exists() and not list(out.parent.glob(".build.*"))
    assert time.perf_counter() - t0 < 20
    return err[0]


def edited(tmp_path, edit, graph=None):
    path = tmp_path / "m.nir"
    write(path, graph if graph is not None else lif_graph())
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def put(f, key, value):
    del f[key]
    f[key] = value


@pytest.mark.parametrize("edit, words", [
    (lambda f: (f["node/nodes/lif"].__delitem__("type"), f["node/nodes/lif"].create_group("type")),
     ["node 'lif'", "'type' is not text"]),
    (lambda f: put(f, "node/nodes/lif/type", np.bytes_(b"\xff\xfeLIF")), ["not UTF-8"]),
    (lambda f: (f["node/nodes"].__delitem__("fc"), f["node/nodes"].__setitem__("fc", np.ones(3))),
     ["node 'fc'", "not an HDF5 group"]),
    (lambda f: (f["node"].__delitem__("metadata"), f["node"].__setitem__("metadata", np.ones(2))),
     ["'metadata'", "a dataset"]),
    (lambda f: put(f, "node/nodes/fc/bias", "abc"), ["node 'fc'", "'bias'", "text"]),
    (lambda f: put(f, "node/nodes/lif/tau", np.full(3, 0.01 + 1j)), ["'tau'", "complex"]),
    (lambda f: put(f, "node/nodes/lif/tau", np.zeros(0)), ["'tau'", "empty array"]),
    (lambda f: put(f, "node/nodes/input/shape", np.array([1e9])), ["would need", "of memory; limit"]),
    (lambda f: put(f, "node/nodes/input/shape", np.array([-1])), ["'shape'", "positive integers"]),
    (lambda f: put(f, "node/nodes/input/shape", np.array([np.inf])), ["'shape'", "positive integers"]),
    (lambda f: put(f, "node/nodes/input/shape", "4"), ["'shape'", "positive integers"]),
    (lambda f: put(f, "node/nodes/lif/v_threshold", np.full(3, -1.0)), ["'v_threshold'", "allowed > 0"]),
    (lambda f: put(f, "node/nodes/lif/v_leak", np.full(3, 1e308)), ["'v_leak'", "magnitude <= 1e+12"]),
    (lambda f: put(f, "node/nodes/fc/weight", np.full((3, 4), 1e-310)), ["'weight'", "underflow"]),
    (lambda f: put(f, "node/metadata/neurolearn/dt", 5e-324), ["'dt' = 5e-324", "allowed 1e-09 to 1000"]),
    (lambda f: put(f, "node/metadata/neurolearn/dt", np.nan), ["'neurolearn.dt' = nan"]),
    (lambda f: put(f, "node/nodes/lif/tau", np.full(3, 1e-3)), ["'tau' = 0.001 s", "dt = 0.001 s"]),
    (lambda f: put(f, "node/edges", np.array([["input", "fc"], ["fc", "ghost"]], dtype=h5py.string_dtype())),
     ["'ghost'", "not a node"]),
    (lambda f: f["node/metadata/neurolearn"].__setitem__("extra", np.nan), ["'neurolearn.extra' = nan", "finite"]),
])
def test_bad_files_are_refused_in_one_line(tmp_path, capsys, edit, words):
    refused(edited(tmp_path, edit), capsys, *words)


def conv_graph(one_d: bool):
    """input (2, 6[, 5]) -> conv (a Conv1d or Conv2d with its input_shape) -> flatten -> lif: a file nir writes
    with integer geometry fields (Conv1d's input_shape a scalar)."""
    spatial = (6,) if one_d else (6, 5)
    cls = nir.Conv1d if one_d else nir.Conv2d
    conv = cls(input_shape=spatial[0] if one_d else spatial, weight=np.ones((3, 2, 3) + (() if one_d else (3,))),
               stride=1 if one_d else (2, 1), padding=1 if one_d else (1, 0), dilation=1, groups=1, bias=np.zeros(3))
    n = int(np.prod(conv.output_type["output"]))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array((2,) + spatial)), "conv": conv,
                            "flat": nir.Flatten({"input": conv.output_type["output"]}, start_dim=0),
                            "lif": nir.LIF(tau=np.full(n, 0.02), r=np.full(n, 20.0), v_leak=np.zeros(n),
                                           v_threshold=np.ones(n), v_reset=np.zeros(n)),
                            "output": nir.Output(np.array([n]))},
                     edges=[("input", "conv"), ("conv", "flat"), ("flat", "lif"), ("lif", "output")], type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": 1e-3, "integration": "euler"}
    return g


@pytest.mark.parametrize("one_d", [True, False])
def test_convolution_geometry_reads_as_integers(tmp_path, one_d):
    """The hardened reader gives nir a convolution's geometry as integers, as nir's own reader does (a Conv1d's
    scalar input_shape as float64 made nir's shape arithmetic fail: 'len() of unsized object')."""
    from neurolearn.compile.build import compile_model

    write(tmp_path / "m.nir", conv_graph(one_d))
    plan = compile_model(tmp_path / "m.nir", tmp_path / "build").plan
    assert plan.connections[0].kind == "conv" and plan.connections[0].conv.in_shape == ((2, 1, 6) if one_d else
                                                                                         (2, 6, 5))


@pytest.mark.parametrize("key, value, words", [
    ("stride", 0, ["'stride'", "whole numbers >= 1"]),
    ("stride", np.array([1, 2, 3]), ["'stride'", "one or two whole numbers"]),
    ("dilation", 1.5, ["'dilation'", "whole numbers >= 1"]),
    ("padding", -1, ["'padding'", "whole numbers >= 0"]),
    ("padding", "full", ["'padding'", "'same', 'valid'"]),
    ("input_shape", np.nan, ["'input_shape'", "whole numbers >= 1"]),
])
def test_bad_convolution_geometry_is_refused_in_one_line(tmp_path, capsys, key, value, words):
    refused(edited(tmp_path, lambda f: put(f, f"node/nodes/conv/{key}", value), conv_graph(True)), capsys,
            "node 'conv'", *words)


def test_huge_input_is_refused_before_allocating(tmp_path, capsys):
    g = lif_graph(weight=np.ones((3, 4)))
    g.nodes["input"] = nir.Input(np.array([1_000_000]))
    g.nodes["fc"] = nir.Affine(weight=np.ones((3, 1)), bias=np.zeros(3))
    nir.write(str(tmp_path / "m.nir"), g)
    refused(tmp_path / "m.nir", capsys, "1000000 neurons", "would need 29.1 TiB of memory; limit")  # not allocated


def test_nested_graph_edge_to_missing_node(tmp_path, capsys):
    seeds = write_seeds(tmp_path / "seeds")
    nested = next(p for p in seeds if p.stem == "nested")
    with h5py.File(nested, "r+") as f:
        put(f, "node/nodes/sub/edges", np.array([["input", "lif"], ["lif", "nowhere"]], dtype=h5py.string_dtype()))
    refused(nested, capsys, "'sub.nowhere'")


@pytest.mark.parametrize("depth", [33, 1000])
def test_deep_nesting_is_refused_fast(tmp_path, capsys, depth):
    seed = write_seeds(tmp_path / "seeds")[0]
    apply(seed, tmp_path / "deep.nir", [("nest", depth)])
    refused(tmp_path / "deep.nir", capsys, "nest deeper than")


def test_byte_flips_and_truncations_never_crash(tmp_path, capsys):
    """HDF5's own errors (bad object header, bad symbol table node signature, ...) come back as one line."""
    seed = write_seeds(tmp_path / "seeds")[0]
    size = seed.stat().st_size
    for i, op in enumerate([("flip", k / 23, k % 8) for k in range(23)] + [("truncate", k / 7) for k in range(7)]):
        path = tmp_path / f"f{i}.nir"
        apply(seed, path, [op])
        out = tmp_path / f"b{i}"
        code = main(["compile", str(path), "-o", str(out)])
        err = capsys.readouterr().err
        assert "internal error" not in err and "Traceback" not in err, (op, err)
        assert code == 0 or (code == 2 and not out.exists()), (op, size, err)


# ---- burst networks -----------------------------------------------------------------------------------------------
def burst_graph(rules=None, **params):
    p = BurstParams(beta=0.8, beta_d=0.8, burst_offset=0.5)._replace(**params)
    rng = np.random.default_rng(0)
    return to_nir(BurstNetwork(
        dt=1e-3, input_size=4, layers=(BurstLayer("h", 3, p, 1), BurstLayer("o", 2, p, 2)),
        weights={("input", "h"): rng.uniform(0, 0.8, (3, 4)), ("h", "o"): rng.uniform(0, 0.8, (2, 3))},
        feedback={("o", "h"): rng.normal(0, 1, (3, 2))},
        rules={"W:input->h": {"rule": "stdp"}} if rules is None else rules))


def test_burst_network_compiles(tmp_path):
    write(tmp_path / "m.nir", burst_graph())
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0


@pytest.mark.parametrize("edit, words", [
    (lambda f: f["node/nodes"].copy(f["node/nodes/W:h->o"], "W:spare"), ["'W:spare'", "0 incoming edges"]),
    (lambda f: f["node/nodes/h.apical/metadata/neurolearn"].__delitem__("burst"), ["no metadata 'burst'"]),
    (lambda f: put(f, "node/nodes/h.apical/metadata/neurolearn/burst/offset", np.nan), ["burst.offset' = nan"]),
    (lambda f: put(f, "node/nodes/h.apical/metadata/neurolearn/burst/slope", -1.0), ["burst.slope' = -1.0"]),
    (lambda f: put(f, "node/nodes/h.soma/v_threshold", np.zeros(3)), ["'v_threshold'", "> 0"]),
    (lambda f: put(f, "node/edges", np.array(
        [[a.decode(), "h.soma" if b == b"o.soma" and a == b"W:h->o" else b.decode()] for a, b in f["node/edges"][()]]
        + [["h.soma", "W:h->o"]][:0], dtype=h5py.string_dtype())), ["'W:h->o'"]),
])
def test_bad_burst_networks_are_refused(tmp_path, capsys, edit, words):
    refused(edited(tmp_path, edit, burst_graph()), capsys, *words)


def test_event_weight_back_to_an_earlier_layer_is_recurrent(tmp_path):
    """input -> h -> o, and o -> h: the chain stops at o (reading it used to loop forever unless refused); the
    weight back is a recurrent connection of the learning build."""
    g = burst_graph()
    g.nodes["W:o->h"] = nir.Linear(weight=-np.ones((3, 2)), metadata={"neurolearn": {"carries": "events"}})
    g.edges += [("o.soma", "W:o->h"), ("W:o->h", "h.soma")]
    write(tmp_path / "m.nir", g)
    plan = compile_model(tmp_path / "m.nir", tmp_path / "b").plan
    assert [L.name for L in plan.layers] == ["h", "o"]
    assert {c.name: c.recurrent for c in plan.connections if c.name.startswith("W:")} == \
        {"W:input->h": False, "W:h->o": False, "W:o->h": True}


def test_a_bias_on_a_recurrent_event_weight_is_refused(tmp_path, capsys):
    """A layer's bias travels on its chain weight; one on the weight back (o -> h) would be added a second time."""
    g = burst_graph()
    g.nodes["W:o->h"] = nir.Affine(weight=-np.ones((3, 2)), bias=np.full(3, 0.5),
                                   metadata={"neurolearn": {"carries": "events"}})
    g.edges += [("o.soma", "W:o->h"), ("W:o->h", "h.soma")]
    write(tmp_path / "m.nir", g)
    refused(tmp_path / "m.nir", capsys, "'W:o->h'", "'bias'", "a bias on a recurrent event weight",
            "Affine with bias 0")


def test_a_layers_bias_is_written_once_beside_a_recurrent_weight():
    """to_nir puts a layer's bias on its chain weight only (a plain NIR reader adds every Affine's bias)."""
    p = BurstParams(beta=0.8, beta_d=0.8, burst_offset=0.5)
    net = BurstNetwork(dt=1e-3, input_size=4, layers=(BurstLayer("h", 3, p, 1), BurstLayer("o", 2, p, 2)),
                       weights={("input", "h"): np.ones((3, 4)), ("h", "o"): np.ones((2, 3)),
                                ("o", "h"): -np.ones((3, 2))}, feedback={}, biases={"h": np.full(3, 0.25)})
    g = to_nir(net)
    assert isinstance(g.nodes["W:input->h"], nir.Affine) and isinstance(g.nodes["W:o->h"], nir.Linear)
    np.testing.assert_array_equal(from_nir(g).biases["h"], np.full(3, 0.25))


@pytest.mark.parametrize("layers, weights, words", [
    (("o", "h"), {("input", "h"), ("h", "o")}, ["'W:input->h' skips forward", "['input', 'o', 'h']"]),
    (("h", "o"), {("input", "h"), ("input", "o"), ("h", "o")}, ["'W:input->o' skips forward"]),
    (("h", "o"), {("input", "h")}, ["no event weight 'W:h->o'", "a chain in this order"]),
    (("h", "o"), {("input", "h"), ("h", "o"), ("h", "x")}, ["'W:h->x'", "allowed from the input or a layer"]),
])
def test_burst_network_event_weights_follow_layer_order(layers, weights, words):
    """BurstNetwork checks its own chain: compile marks a weight recurrent by layer order."""
    p = BurstParams()
    sizes = {"input": 4, "h": 3, "o": 2, "x": 1}
    with pytest.raises(ShapeError) as err:
        BurstNetwork(dt=1e-3, input_size=4, layers=tuple(BurstLayer(n, sizes[n], p) for n in layers),
                     weights={(a, b): np.ones((sizes[b], sizes[a])) for a, b in weights}, feedback={})
    assert all(w in str(err.value) for w in words), str(err.value)


def test_event_weights_that_branch_are_refused(tmp_path, capsys):
    """input -> h and input -> o: two ways forward is no chain of layers."""
    g = burst_graph()
    g.nodes["W:input->o"] = nir.Linear(weight=np.ones((2, 4)), metadata={"neurolearn": {"carries": "events"}})
    g.edges += [("input", "W:input->o"), ("W:input->o", "o.soma")]
    write(tmp_path / "m.nir", g)
    refused(tmp_path / "m.nir", capsys, "event weights to 'h' and 'o'", "one chain of layers")


def test_misspelt_rule_is_refused_not_compiled_for_inference(tmp_path, capsys):
    write(tmp_path / "m.nir", burst_graph(rules={"W:input->h": {"rule": "stpd"}}))
    refused(tmp_path / "m.nir", capsys, "'stpd': not a known rule", "registered rules:", "burstprop, backprop, fa")
    g = lif_graph(dt=1e-3)
    g.metadata["neurolearn"]["rules"] = {"fc": {"rule": "stpd"}}
    write(tmp_path / "m.nir", g)
    refused(tmp_path / "m.nir", capsys, "'stpd': not a known rule")


@pytest.mark.parametrize("rule", ["burstprop", "backprop", "fa"])
def test_rate_form_rules_compile_for_inference(tmp_path, capsys, rule):
    write(tmp_path / "m.nir", burst_graph(rules={"W:input->h": {"rule": rule, "lr": 0.1}, "task": {"name": "xor"}}))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0
    assert f"learning rule '{rule}'" in (tmp_path / "b" / "report.md").read_text()


# ---- hangs and Ctrl-C ---------------------------------------------------------------------------------------------
def test_a_read_that_hangs_is_stopped(tmp_path):
    """The reader process blocks forever opening a FIFO, as libhdf5 spins on some corrupt files: the read is
    refused after its time limit and the next read works."""
    fifo = tmp_path / "pipe.nir"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(NIRFormatError, match=r"pipe.nir: reading the HDF5 data took longer than 1 s"):
        hdf5_tree.read_tree(str(fifo), timeout=1.0)
    assert time.perf_counter() - t0 < 15
    write(tmp_path / "ok.nir", lif_graph(dt=1e-3))
    assert read(tmp_path / "ok.nir").nodes["lif"].tau.size == 3


def test_ctrl_c_stops_a_hanging_read(tmp_path):
    fifo = tmp_path / "pipe.nir"
    os.mkfifo(fifo)
    code = f"from neurolearn.nir.hdf5_tree import read_tree\nread_tree({str(fifo)!r}, timeout=300)"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                            preexec_fn=ctrl_c_as_at_a_terminal)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert "KeyboardInterrupt" in err


def test_a_fifo_is_not_a_nir_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.nir")
    refused(tmp_path / "pipe.nir", capsys, "not a regular file")


def test_a_bias_on_a_weight_into_a_dendrite_is_refused(tmp_path, capsys):
    """The dendrite takes no bias: an Affine feedback weight with one would lose it silently."""
    g = burst_graph()
    (name,) = [k for k, n in g.nodes.items() if isinstance(n, nir.Linear) and k.startswith("Y:")]
    g.nodes[name] = nir.Affine(weight=g.nodes[name].weight, bias=np.full(3, 0.1), metadata=g.nodes[name].metadata)
    write(tmp_path / "m.nir", g)
    refused(tmp_path / "m.nir", capsys, f"'{name}'", "'bias'", "allowed: a Linear, or an Affine with bias 0")


@pytest.mark.parametrize("seed, ops, words", [   # crashes the 5,000-file fuzz run of tools/fuzz_nir.py found
    ("feedforward.nir", [("edge", "swap", 0.4166731677598715, 0.7729711587065167)],
     ["node 'cuba'", "its input brings 4 values; the node has 3 neurons"]),
    ("burst.nir", [("value", 0.27012896312486845, -1e308, True)],
     ["parameter 'burst_offset' = -1e+308", "allowed |burst_offset| <"]),
])
def test_fuzz_crashes_are_one_line_refusals(tmp_path, capsys, seed, ops, words):
    seeds = {p.name: p for p in write_seeds(tmp_path / "seeds")}
    apply(seeds[seed], tmp_path / "m.nir", ops)
    refused(tmp_path / "m.nir", capsys, *words)
