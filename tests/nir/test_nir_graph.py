"""flatten, supported nodes, and import_from_nir on graphs not written by neurolearn."""
from dataclasses import dataclass

import nir
import numpy as np
import pytest
import snntorch as snn
import torch

from neurolearn.errors import NIRFormatError, ShapeError, UnsupportedNodeError
from neurolearn.nir import SUPPORTED_NODES, flatten, import_from_nir

DT = 1e-3
SUPPORTED = ("Affine, Linear, LIF, CubaLIF, IF, LI, CubaLI, I, Threshold, Flatten, Scale, Input, Output, NIRGraph, "
             "Conv1d, Conv2d, SumPool2d, AvgPool2d, Delay")


def _lif(n, tau=5e-3, r=1.0, thr=1.0, **kw):
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.full(n, thr), **kw)


def _li(n, tau=4e-3, r=2.0, v_leak=0.0, **kw):
    return nir.LI(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak), **kw)


def _graph(nodes, edges, **kw):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, **kw)


def _wrap(name, sub, n, **kw):
    """Graph input(n) -> name=sub -> output(n)."""
    nodes = {"input": nir.Input(input_type=np.array([n])), name: sub, "output": nir.Output(output_type=np.array([n]))}
    return _graph(nodes, [("input", name), (name, "output")], **kw)


def _nested():
    inner = _graph({"input": nir.Input(input_type=np.array([2])), "li": _li(2, metadata={"note": "deep"}),
                    "output": nir.Output(output_type=np.array([2]))},
                   [("input", "li"), ("li", "output")], metadata={"tag": "inner"})
    sub = _graph({"input": nir.Input(input_type=np.array([2])),
                  "l": _lif(2, metadata={"neurolearn": {"reset": "subtract"}}), "sub2": inner,
                  "output": nir.Output(output_type=np.array([2]))},
                 [("input", "l"), ("l", "sub2"), ("sub2", "output")], metadata={"tag": "middle"})
    return _graph({"input": nir.Input(input_type=np.array([3])), "a": nir.Linear(weight=np.ones((2, 3))),
                   "sub": sub, "output": nir.Output(output_type=np.array([2]))},
                  [("input", "a"), ("a", "sub"), ("sub", "output")], metadata={"neurolearn": {"version": 1}})


def test_flatten_inlines_nested_graphs():
    g = _nested()
    flat = flatten(g)
    assert set(flat.nodes) == {"input", "a", "sub.l", "sub.sub2.li", "output"}
    assert flat.edges == [("input", "a"), ("a", "sub.l"), ("sub.l", "sub.sub2.li"), ("sub.sub2.li", "output")]
    assert flat.nodes["sub.l"].metadata["neurolearn"] == {"reset": "subtract", "parent": "sub"}
    assert flat.nodes["sub.sub2.li"].metadata == {"note": "deep", "neurolearn": {"parent": "sub.sub2"}}
    assert "neurolearn" not in flat.nodes["a"].metadata
    assert flat.metadata["neurolearn"]["subgraphs"] == {"sub": {"tag": "middle"}, "sub.sub2": {"tag": "inner"}}
    assert not any(isinstance(n, nir.NIRGraph) for n in flat.nodes.values())
    # the input graph is untouched
    assert g.nodes["sub"].nodes["l"].metadata["neurolearn"] == {"reset": "subtract"}
    assert "subgraphs" not in g.metadata["neurolearn"]


def test_flatten_splices_a_pass_through_subgraph():
    through = _graph({"input": nir.Input(input_type=np.array([2])), "output": nir.Output(output_type=np.array([2]))},
                     [("input", "output")])
    g = _graph({"input": nir.Input(input_type=np.array([2])), "p": through, "li": _li(2),
                "output": nir.Output(output_type=np.array([2]))},
               [("input", "p"), ("p", "li"), ("li", "output")])
    flat = flatten(g)
    assert flat.edges == [("input", "li"), ("li", "output")]
    assert set(flat.nodes) == {"input", "li", "output"}


def test_flatten_refuses_ambiguous_subgraph_ports():
    two_in = _graph({"i1": nir.Input(input_type=np.array([2])), "i2": nir.Input(input_type=np.array([2])),
                     "li": _li(2), "output": nir.Output(output_type=np.array([2]))},
                    [("i1", "li"), ("i2", "li"), ("li", "output")])
    g = _wrap("s", two_in, 2)
    with pytest.raises(UnsupportedNodeError, match="node 's': nested graph has 2 input nodes"):
        flatten(g)


def test_every_nir_node_type_is_supported():
    """NIR 1.0 has 18 node types besides NIRGraph: neurolearn reads every one."""
    nir_types = {c.__name__ for c in vars(nir).values()
                 if isinstance(c, type) and issubclass(c, nir.NIRNode) and c is not nir.NIRNode}
    assert {c.__name__ for c in SUPPORTED_NODES} == nir_types == set(SUPPORTED.split(", "))


@dataclass(eq=False)
class Mystery(nir.NIRNode):
    """A node type NIR's readers do not know (another tool's extension)."""

    def __post_init__(self):
        self.input_type = self.output_type = {}


@pytest.mark.parametrize("bad, shape", [
    (Mystery(), [16]),
])
def test_unsupported_node_lists_supported(tmp_path, bad, shape):
    name = type(bad).__name__
    shape = np.array(shape)
    sub = _graph({"input": nir.Input(input_type=shape), "x": bad, "output": nir.Output(output_type=shape)},
                 [("input", "x"), ("x", "output")])
    g = _graph({"input": nir.Input(input_type=shape), "sub": sub, "output": nir.Output(output_type=shape)},
               [("input", "sub"), ("sub", "output")], metadata={"neurolearn": {"version": 1, "dt": DT}})
    with pytest.raises(UnsupportedNodeError) as err:
        flatten(g)
    assert str(err.value) == f"node 'sub.x' has type {name}; supported: {SUPPORTED}"
    with pytest.raises(UnsupportedNodeError, match=f"node 'sub.x' has type {name}"):
        import_from_nir(g)


def _lif_reference(x, w, beta, gain, thr):
    """NIR LIF, Euler: v <- beta v + gain (W x); spike where v > thr; then v <- 0 in the same step."""
    v = np.zeros((x.shape[1], w.shape[0]))
    spikes, mems = [], []
    for xt in x:
        v = beta * v + gain * (xt @ w.T)
        s = v > thr
        v = np.where(s, 0.0, v)
        spikes.append(s)
        mems.append(v)
    return np.array(spikes), np.array(mems)


def test_foreign_lif_follows_nir_semantics():
    """No neurolearn metadata: reset to zero in the spiking step; r*dt/tau = 2 is applied as a gain."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (4, 3)).astype(np.float32)
    tau = 4e-3
    g = _graph({"input": nir.Input(input_type=np.array([3])), "w": nir.Linear(weight=w),
                "lif": _lif(4, tau=tau, r=2 * tau / DT, thr=0.8), "output": nir.Output(output_type=np.array([4]))},
               [("input", "w"), ("w", "lif"), ("lif", "output")])
    model = import_from_nir(g, dt=DT)
    x = rng.normal(0.3, 1, (40, 2, 3)).astype(np.float32)
    out, rec = model.run(torch.from_numpy(x), record=True)
    spikes, mems = _lif_reference(x.astype(np.float64), w.astype(np.float64), 1 - DT / tau, 2.0, 0.8)
    assert spikes.sum() > 10
    np.testing.assert_array_equal(out.detach().numpy() > 0, spikes)
    np.testing.assert_allclose(rec["lif"]["mem"].detach().numpy(), mems, rtol=1e-5, atol=1e-6)


def test_integrators_scale_and_multiple_outputs():
    """LI (with v_leak), I, CubaLI and Scale on three branches, each its own Output."""
    rng = np.random.default_rng(1)
    n, steps = 3, 30
    tau_li, tau_syn, tau_mem = 4e-3, 2e-3, 8e-3
    scale = np.array([0.5, -1.0, 2.0])
    w = rng.normal(0, 1, (n, n)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "scale": nir.Scale(scale=scale), "li": _li(n, tau=tau_li, r=2.0, v_leak=0.25),
        "w": nir.Linear(weight=w),
        "cuba": nir.CubaLI(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, 3.0),
                           v_leak=np.zeros(n), w_in=np.full(n, 1.5)),
        "int": nir.I(r=np.full(n, 10.0)),
        "o_li": nir.Output(output_type=np.array([n])), "o_cuba": nir.Output(output_type=np.array([n])),
        "o_int": nir.Output(output_type=np.array([n])),
    }
    edges = [("input", "scale"), ("scale", "li"), ("li", "o_li"), ("input", "w"), ("w", "cuba"),
             ("cuba", "o_cuba"), ("input", "int"), ("int", "o_int")]
    model = import_from_nir(_graph(nodes, edges), dt=DT)
    x = rng.normal(0, 1, (steps, 2, n))
    out = model.run(torch.tensor(x, dtype=torch.float32))
    v_li, cur, v_c, v_i = (np.zeros((2, n)) for _ in range(4))
    want = {"o_li": [], "o_cuba": [], "o_int": []}
    for xt in x:
        v_li = v_li + DT / tau_li * (0.25 - v_li + 2.0 * (xt * scale))
        cur = cur + DT / tau_syn * (-cur + 1.5 * (xt @ w.T.astype(np.float64)))
        v_c = v_c + DT / tau_mem * (-v_c + 3.0 * cur)
        v_i = v_i + DT * 10.0 * xt
        want["o_li"].append(v_li)
        want["o_cuba"].append(v_c)
        want["o_int"].append(v_i)
    assert set(out) == set(want)
    for k in want:
        np.testing.assert_allclose(out[k].detach().numpy(), np.array(want[k]), rtol=1e-5, atol=1e-6)


def test_cycle_reads_previous_step_and_edges_are_summed():
    """input -> a -> li -> b -> a: the b -> a edge closes the cycle and is one step late."""
    rng = np.random.default_rng(2)
    wa = rng.normal(0, 1, (2, 2)).astype(np.float32)
    ba = np.array([0.1, -0.2], np.float32)
    wb = rng.normal(0, 0.5, (2, 2)).astype(np.float32)
    nodes = {"input": nir.Input(input_type=np.array([2])), "a": nir.Affine(weight=wa, bias=ba),
             "li": _li(2, tau=DT, r=1.0), "b": nir.Linear(weight=wb), "skip": nir.Scale(scale=np.array([2.0, 3.0])),
             "output": nir.Output(output_type=np.array([2]))}
    edges = [("input", "a"), ("a", "li"), ("li", "b"), ("b", "a"), ("input", "skip"), ("skip", "li"),
             ("li", "output")]
    model = import_from_nir(_graph(nodes, edges), dt=DT)
    x = rng.normal(0, 1, (6, 1, 2))
    out = model.run(torch.tensor(x, dtype=torch.float32))
    b_prev, want = np.zeros((1, 2)), []
    for xt in x:  # tau = dt: the LI holds this step's input only
        a = (xt + b_prev) @ wa.T + ba
        li = a + xt * np.array([2.0, 3.0])
        b_prev = li @ wb.T
        want.append(li)
    np.testing.assert_allclose(out.detach().numpy(), np.array(want), rtol=1e-5, atol=1e-6)


def test_foreign_rleaky_subgraph_becomes_rleaky_and_matches_snntorch():
    """The pattern snntorch 1.0 exports (no neurolearn metadata): NIR semantics = zero reset, no delay."""
    torch.manual_seed(5)
    n, beta = 6, 0.8
    ref = snn.RLeaky(beta=beta, linear_features=n, init_hidden=True, reset_mechanism="zero", reset_delay=False)
    with torch.no_grad():
        ref.recurrent.bias.zero_()
        ref.recurrent.weight.mul_(3)
    tau = DT / (1 - np.float32(beta).astype(np.float64))
    sub = _graph({"input": nir.Input(input_type=np.array([n])), "lif": _lif(n, tau=tau, r=tau / DT),
                  "w_rec": nir.Linear(weight=ref.recurrent.weight.detach().numpy().copy()),
                  "output": nir.Output(output_type=np.array([n]))},
                 [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    g = _wrap("rnn", sub, n)
    model = import_from_nir(g, dt=DT)
    assert type(model.module("rnn.lif")) is snn.RLeaky
    x = (torch.rand(40, 3, n, generator=torch.Generator().manual_seed(6)) < 0.4).float() * 0.7
    want = torch.stack([ref(xt) for xt in x])
    assert want.sum() > 10
    assert torch.equal(model.run(x), want)


def test_import_refuses_what_it_cannot_run():
    def graph(node):
        return _wrap("x", node, 2)

    with pytest.raises(UnsupportedNodeError, match=r"node 'x': parameter 'tau': value 0.0005 s with dt = 0.001 s"):
        import_from_nir(graph(_lif(2, tau=5e-4)), dt=DT)
    sub = _lif(2, v_reset=np.full(2, 0.5), metadata={"neurolearn": {"reset": "subtract"}})
    with pytest.raises(UnsupportedNodeError, match="parameter 'v_reset': value 0.5 with the 'subtract' reset"):
        import_from_nir(graph(sub), dt=DT)
    with pytest.raises(ShapeError, match=r"node 'x': input shape \(3,\) but 'input' gives \(2,\)"):
        import_from_nir(graph(_li(3)), dt=DT)


def test_all_to_all_false_needs_a_diagonal_recurrence():
    sub = _graph({"input": nir.Input(input_type=np.array([2])), "lif": _lif(2),
                  "w_rec": nir.Linear(weight=np.ones((2, 2), np.float32)),
                  "output": nir.Output(output_type=np.array([2]))},
                 [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                 metadata={"neurolearn": {"module": "RLeaky", "all_to_all": False}})
    g = _wrap("r", sub, 2, metadata={"neurolearn": {"version": 1, "dt": DT}})
    with pytest.raises(NIRFormatError, match="node 'r.w_rec': metadata says all_to_all=False"):
        import_from_nir(g)
