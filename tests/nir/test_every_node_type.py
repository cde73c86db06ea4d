"""Each of NIR 1.0's node types in a small graph of its own: it compiles, and ``neurolearn verify`` passes (fixed
point vs Lava bit for bit, snntorch/torch import vs the float reference, float vs fixed). Input and Output are in
every graph; NIRGraph is the nested case, and a recurrent edge closes one graph."""
import nir
import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.build import load_build
from neurolearn.nir import SUPPORTED_NODES, write

DT = 1e-3
RNG = np.random.default_rng(11)


def _lif(shape, thr=1.0, beta=0.8):
    tau = DT / (1 - beta)
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau / DT), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, thr), v_reset=np.zeros(shape))


def _w(n_out, n_in, scale=1.5):
    return RNG.normal(0.4, 1.0, (n_out, n_in)) * scale


def _graph(nodes: dict, chain: list, extra=()) -> nir.NIRGraph:
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])) + list(extra), type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": DT, "integration": "euler"}
    return g


def _io(n_in, n_out):
    return {"input": nir.Input(input_type=np.array(n_in if isinstance(n_in, tuple) else [n_in])),
            "output": nir.Output(output_type=np.array(n_out if isinstance(n_out, tuple) else [n_out]))}


def _neuron_net(node, n=5):
    """input(4) -> Linear -> NODE -> output."""
    return _graph({**_io(4, n), "fc": nir.Linear(weight=_w(n, 4)), "x": node}, ["input", "fc", "x", "output"])


def _conv2d(c_in, c_out, hw, **kw):
    geo = dict(stride=1, padding=0, dilation=1, groups=1) | kw
    return nir.Conv2d(input_shape=hw, weight=RNG.normal(0.3, 0.8, (c_out, c_in // geo["groups"], 3, 3)),
                      bias=np.full(c_out, 0.05), **geo)


def _pool_net(pool):
    """input (2, 6, 6) -> POOL (2, 3, 3) -> LIF."""
    return _graph({**_io((2, 6, 6), (2, 3, 3)), "x": pool, "n": _lif((2, 3, 3), thr=1.5)},
                  ["input", "x", "n", "output"])


def _graphs():
    n = 5
    per = lambda v: np.full(n, v)  # noqa: E731
    tau_syn, tau_mem = DT / 0.5, DT / 0.2
    yield "Affine", _graph({**_io(4, n), "x": nir.Affine(weight=_w(n, 4), bias=per(0.1)), "n": _lif(n)},
                           ["input", "x", "n", "output"])
    yield "Linear", _neuron_net(_lif(n))
    yield "LIF", _neuron_net(nir.LIF(tau=per(DT / 0.2), r=per(5.0), v_leak=per(0.05), v_threshold=per(1.0),
                                     v_reset=per(0.0)))
    yield "CubaLIF", _neuron_net(nir.CubaLIF(tau_syn=per(tau_syn), tau_mem=per(tau_mem), r=per(tau_mem / DT),
                                             v_leak=per(0.0), v_threshold=per(1.0), v_reset=per(0.0),
                                             w_in=per(tau_syn / DT)))
    yield "IF", _neuron_net(nir.IF(r=per(1 / DT), v_threshold=per(2.0), v_reset=per(0.0)))
    yield "LI", _neuron_net(nir.LI(tau=per(DT / 0.2), r=per(5.0), v_leak=per(0.0)))
    yield "CubaLI", _neuron_net(nir.CubaLI(tau_syn=per(tau_syn), tau_mem=per(tau_mem), r=per(tau_mem / DT),
                                           v_leak=per(0.0), w_in=per(tau_syn / DT)))
    yield "I", _neuron_net(nir.I(r=per(1 / DT)))
    yield "Threshold", _neuron_net(nir.Threshold(threshold=per(0.5)))
    yield "Scale", _graph({**_io(4, n), "fc": nir.Linear(weight=_w(n, 4)), "x": nir.Scale(scale=np.linspace(0.5, 2, n)),
                           "n": _lif(n)}, ["input", "fc", "x", "n", "output"])
    yield "Conv1d", _graph({**_io((2, 8), (3, 6)), "n": _lif((3, 6)),
                            "x": nir.Conv1d(input_shape=8, weight=RNG.normal(0.3, 0.8, (3, 2, 3)), stride=1, padding=0,
                                            dilation=1, groups=1, bias=np.zeros(3))}, ["input", "x", "n", "output"])
    yield "Conv2d", _graph({**_io((2, 6, 6), (3, 4, 4)), "x": _conv2d(2, 3, (6, 6)), "n": _lif((3, 4, 4))},
                           ["input", "x", "n", "output"])
    ones = np.array([2, 2])
    yield "SumPool2d", _pool_net(nir.SumPool2d(kernel_size=ones, stride=ones, padding=np.zeros(2)))
    yield "AvgPool2d", _pool_net(nir.AvgPool2d(kernel_size=ones, stride=ones, padding=np.zeros(2)))
    yield "Flatten", _graph({**_io((2, 3, 3), n), "x": nir.Flatten(input_type={"input": np.array([2, 3, 3])},
                                                                     start_dim=0),
                             "fc": nir.Linear(weight=_w(n, 18)), "n": _lif(n)}, ["input", "x", "fc", "n", "output"])
    yield "Delay", _graph({**_io(4, n), "fc": nir.Linear(weight=_w(n, 4)), "x": nir.Delay(delay=np.arange(n) * DT),
                           "n": _lif(n)}, ["input", "fc", "x", "n", "output"])
    sub = _graph({**_io(4, n), "fc": nir.Linear(weight=_w(n, 4)), "n": _lif(n)}, ["input", "fc", "n", "output"])
    yield "NIRGraph", _graph({**_io(4, n), "x": sub}, ["input", "x", "output"])
    yield "Input", _graph({**_io(4, n), "fc": nir.Linear(weight=_w(n, 4)), "n": _lif(n),   # and a recurrent edge
                           "rec": nir.Linear(weight=_w(n, n, 0.5))}, ["input", "fc", "n", "output"],
                          [("n", "rec"), ("rec", "n")])
    yield "Output", _neuron_net(_lif(n))


GRAPHS = dict(_graphs())


def test_every_node_type_has_a_graph():
    assert set(GRAPHS) == {t.__name__ for t in SUPPORTED_NODES}


@pytest.mark.parametrize("kind", sorted(GRAPHS))
def test_node_type_compiles(kind, tmp_path):
    write(tmp_path / "m.nir", GRAPHS[kind])
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0
    assert load_build(tmp_path / "b").plan.dt == DT


@pytest.mark.lava
@pytest.mark.parametrize("kind", sorted(GRAPHS))
def test_node_type_verifies_bit_exact(kind, tmp_path, capsys):
    write(tmp_path / "m.nir", GRAPHS[kind])
    code = main(["verify", str(tmp_path / "m.nir"), "--steps", "30", "--batch", "2", "--rate", "0.4"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "all layers match (0 mismatches)" in out.out and "fixed vs lava" in out.out
    assert "snntorch vs float" in out.out
    totals = [int(line.split("(total ")[1].split()[0]) for line in out.out.splitlines()
              if line.startswith("float vs fixed") and "(total " in line]
    if kind not in ("LI", "CubaLI", "I"):   # readouts: their voltage is compared, they have no spikes
        assert totals and max(totals) > 0, out.out   # the graph is active: the comparison means something
