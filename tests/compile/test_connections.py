"""NIR's connection nodes between two populations -> one connection: the matrices they stand for, convolutions
kept and fused, sparse where nothing else is exact, delays per synapse, and what is refused (one line)."""
import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.compile.connections import ConvMap, conv_matrix, fuse
from neurolearn.compile.normalize import to_network
from neurolearn.errors import ShapeError, UnsupportedNodeError
from neurolearn.ir.geometry import ConvGeometry
from neurolearn.ir.network import Network, Projection
from neurolearn.sims.float_ref import simulate_float
from tests.cli.test_verify_connections import DT, graph, lif, nir_cnn
from tests.strategies import conv_geometries


def torch_conv(m: ConvMap, x: np.ndarray) -> np.ndarray:
    g = m.geometry
    out = torch.nn.functional.conv2d(torch.as_tensor(x.reshape(-1, *g.in_shape)), torch.as_tensor(m.kernel),
                                     stride=g.stride, padding=g.padding, dilation=g.dilation, groups=g.groups)
    return out.reshape(len(x), -1).numpy()


@given(geo=conv_geometries(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100)
def test_conv_matrix_is_torchs_convolution(geo, seed):
    rng = np.random.default_rng(seed)
    m = ConvMap(geo, rng.normal(size=geo.kernel_shape))
    x = rng.random((3, geo.n_in))
    np.testing.assert_allclose(m.matrix() @ x.T, torch_conv(m, x).T, rtol=1e-12, atol=1e-12)


def pool(c, k, stride=None, padding=0, shape=None):
    return ConvMap(ConvGeometry(shape or (c, 8, 8), c, (k, k), stride=stride or k, padding=padding, groups=c),
                   np.ones((c, 1, k, k)))


@pytest.mark.parametrize("first,second,kernel,stride", [
    (ConvMap(ConvGeometry((2, 8, 8), 3, (3, 3), padding=1), np.arange(54.0).reshape(3, 2, 3, 3)), pool(3, 2),
     (4, 4), (2, 2)),    # convolution, then pooling
    (pool(2, 2), ConvMap(ConvGeometry((2, 4, 4), 3, (3, 3), padding=1), np.arange(54.0).reshape(3, 2, 3, 3)),
     (6, 6), (2, 2)),    # pooling, then convolution (its padding becomes 2 pixels)
    (ConvMap(ConvGeometry((2, 9, 9), 2, (3, 3), stride=2, dilation=2, groups=2), np.ones((2, 1, 3, 3))),
     pool(2, 2, shape=(2, 3, 3), stride=1), (7, 7), (2, 2)),
])
def test_fusing_keeps_the_matrix(first, second, kernel, stride):
    fused = fuse(first, second)
    assert fused is not None and fused.geometry.kernel == kernel and fused.geometry.stride == stride
    np.testing.assert_allclose(fused.matrix().toarray(), (second.matrix() @ first.matrix()).toarray())


def nodes_lif_conv(conv, delay=None, in_shape=(1, 6, 6)):
    out = conv.output_type["output"] if conv.input_shape is not None else None
    shape = tuple(int(s) for s in out) if out is not None else (2, 6, 6)
    nodes = {"input": nir.Input(input_type=np.array(in_shape)), "conv": conv, "n0": lif(shape),
             "output": nir.Output(output_type=np.array(shape))}
    chain = ["input", "conv", "n0", "output"]
    if delay is not None:
        nodes["d"] = delay
        chain.insert(2, "d")
    return graph(nodes, chain)


def conv2d(k=3, padding=1, bias=0.0, **kw):
    return nir.Conv2d(input_shape=(6, 6), weight=np.ones((2, 1, k, k)), stride=kw.get("stride", 1), padding=padding,
                      dilation=1, groups=1, bias=np.full(2, bias))


@pytest.mark.parametrize("g,match", [
    (nodes_lif_conv(conv2d(k=2, padding="same")),
     r"node 'conv': parameter 'padding': 'same' with kernel \(2, 2\).*pads unevenly; Lava's Conv pads both sides"),
    (nodes_lif_conv(conv2d(bias=0.5), delay=nir.Delay(delay=np.full((2, 6, 6), 2 * DT))),
     "node 'd': delays a bias; Lava adds biases from the first step on"),
])
def test_refusals_name_node_and_reason(g, match):
    with pytest.raises(UnsupportedNodeError, match=match) as err:
        to_network(g)
    assert "\n" not in str(err.value)


def test_delay_between_two_weight_nodes_is_refused():
    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(input_type=np.array([4])), "a": nir.Linear(weight=rng.normal(size=(3, 4))),
             "d": nir.Delay(delay=np.full(3, DT)), "b": nir.Linear(weight=rng.normal(size=(2, 3))), "n": lif((2,)),
             "output": nir.Output(output_type=np.array([2]))}
    with pytest.raises(UnsupportedNodeError, match="node 'b': follows a Delay that follows another weight node"):
        to_network(graph(nodes, ["input", "a", "d", "b", "n", "output"]))


def test_two_paths_with_different_delays_are_refused():
    nodes = {"input": nir.Input(input_type=np.array([3])), "d1": nir.Delay(delay=np.full(3, DT)),
             "d2": nir.Delay(delay=np.full(3, 2 * DT)), "n": lif((3,)), "output": nir.Output(output_type=np.array([3]))}
    g = graph(nodes, ["input", "d1", "n", "output"], extra_edges=[("input", "d2"), ("d2", "n")])
    with pytest.raises(UnsupportedNodeError, match="node 'n': two paths from one source arrive with different Delays"):
        to_network(g)


def test_a_convolution_needs_a_map():
    conv = nir.Conv2d(input_shape=None, weight=np.ones((2, 3, 3, 3)), stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(2))
    g = nodes_lif_conv(conv, in_shape=(12,))
    with pytest.raises(ShapeError, match=r"node 'conv': input of shape \(12,\); a Conv2d with 3 input channels needs"):
        to_network(g)


def test_a_neuron_gain_constant_per_channel_keeps_the_convolution_else_sparse():
    g = nodes_lif_conv(conv2d())
    net = to_network(g)
    assert net.projections[0].conv is not None
    g.nodes["n0"].r = g.nodes["n0"].r * np.linspace(1, 2, 72).reshape(2, 6, 6)
    pr = to_network(g).projections[0]
    assert pr.conv is None and pr.sparse is not None and pr.sparse.nnz == 2 * (4 * 4 * 9 + 4 * 4 * 6 + 4 * 4)


def test_rounded_delays_are_reported():
    nodes = {"input": nir.Input(input_type=np.array([3])), "d": nir.Delay(delay=np.array([1.0, 2.4, 0.0]) * DT),
             "n": lif((3,)), "output": nir.Output(output_type=np.array([3]))}
    net = to_network(graph(nodes, ["input", "d", "n", "output"]))
    np.testing.assert_array_equal(np.diag(net.projections[0].delays), [1, 2, 0])
    assert any("Delay rounded to whole steps" in n and "0.0004 s off" in n for n in net.notes)


def test_float_reference_runs_a_convolution_as_its_matrix():
    """The float reference's conv2d, sparse product and delays compute what the dense matrix computes."""
    net = to_network(nir_cnn(nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                           padding=np.array([0, 0])), groups=2))
    kinds = [("conv" if p.conv is not None else "sparse" if p.sparse is not None else "dense") for p in net.projections]
    assert kinds == ["conv", "sparse", "dense"]

    def dense(p: Projection) -> Projection:
        m = conv_matrix(p.conv, p.weight).toarray() if p.conv is not None else (
            p.sparse.dense(p.weight) if p.sparse is not None else p.weight)
        return Projection(p.name, p.source, p.target, m, p.recurrent)

    plain = Network(net.dt, net.input_name, net.input_size, net.populations, tuple(map(dense, net.projections)),
                    net.outputs)
    x = (np.random.default_rng(0).random((2, 20, net.input_size)) < 0.3).astype(np.uint8)
    a, b = simulate_float(net, x, dtype=torch.float64), simulate_float(plain, x, dtype=torch.float64)
    for name in a.layers:
        np.testing.assert_allclose(a.layers[name].v, b.layers[name].v, rtol=1e-9, atol=1e-9)
        assert a.layers[name].spikes.sum() > 0

def test_a_kernel_too_large_for_a_lava_conv_is_refused_in_one_line(tmp_path, capsys):
    """A Conv applies no weight_exp: a kernel weight of 1000 thresholds cannot be held in 8 bits at vth >= 1."""
    from neurolearn.cli import main
    from neurolearn.nir import write

    n = 2 * 2 * 2
    g = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([1, 3, 3])),
        "c": nir.Conv2d(input_shape=(3, 3), weight=np.ones((2, 1, 2, 2)), stride=1, padding=0, dilation=1, groups=1,
                        bias=np.zeros(2)),
        "n": nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.full(n, 1e-3),
                     v_reset=np.zeros(n)),
        "output": nir.Output(np.array([n]))}, edges=[("input", "c"), ("c", "n"), ("n", "output")], type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": 1e-3}
    write(tmp_path / "m.nir", g)
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.nir: node 'input->n': parameter 'weight'" in err[0], err
    assert "allowed |weight| <= 255 thresholds" in err[0] and not (tmp_path / "b").exists()
