"""NIR's connection nodes end to end: each of Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten and Delay compiles
and ``neurolearn verify`` passes (fixed point vs Lava bit for bit, float reference vs the import back to torch),
with the Lava process it should become in the plan."""
import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.nir import export_to_nir, write

DT = 1e-3


def leaky(**kw):
    return snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", **kw)


def lif(shape, thr=1.0, beta=0.9):
    """A NIR LIF of snntorch's Leaky(beta) discretization at DT (input gain 1)."""
    tau = DT / (1 - beta)
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau / DT), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, thr), v_reset=np.zeros(shape))


def graph(nodes: dict, chain: list, extra_edges=()):
    """A NIR graph with dt recorded: edges along ``chain`` (node names) plus ``extra_edges``."""
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])) + list(extra_edges), type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": DT, "integration": "euler"}
    return g


def scaled(model, factor):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                m.weight.mul_(factor)
    return model


def verified(path, capsys, *args):
    """Run verify on a .nir file; return the plan it compiles to (asserting 0 mismatches and activity)."""
    assert main(["verify", str(path), "--steps", "25", "--batch", "2", "--rate", "0.3", *args]) == 0
    out = capsys.readouterr().out
    assert "all layers match (0 mismatches)" in out and "fixed vs lava" in out and "snntorch vs float" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("float vs fixed")]
    assert rows and all(int(r[-2].lstrip("(")) > 0 for r in rows if "total" in r), out   # every layer spikes
    return compile_model(path, path.parent / "build").plan


@pytest.mark.lava
def test_conv2d_every_geometry_parameter(tmp_path, capsys):
    torch.manual_seed(0)
    model = scaled(nn.Sequential(nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
                                 leaky(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5), leaky(output=True)), 3)
    write(tmp_path / "m.nir", export_to_nir(model, dt=DT, input_shape=(2, 7, 6)))
    plan = verified(tmp_path / "m.nir", capsys)
    conv = plan.connections[0]
    assert conv.kind == "conv" and conv.conv.stride == (2, 1) and conv.conv.dilation == (1, 2)
    assert conv.conv.groups == 2 and "convolution" in plan.features()


@pytest.mark.lava
def test_conv1d(tmp_path, capsys):
    torch.manual_seed(1)
    model = scaled(nn.Sequential(nn.Conv1d(3, 4, 3, stride=2, padding=2), leaky(), nn.Flatten(),
                                 nn.Linear(4 * 7, 4), leaky(output=True)), 3)
    write(tmp_path / "m.nir", export_to_nir(model, dt=DT, input_shape=(3, 11)))
    plan = verified(tmp_path / "m.nir", capsys)
    assert plan.connections[0].conv.in_shape == (3, 1, 11) and plan.layers[0].size == 4 * 7


@pytest.mark.lava
def test_avgpool2d_fuses_into_the_convolution_and_reports_its_rounding(tmp_path, capsys):
    torch.manual_seed(2)
    model = scaled(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.AvgPool2d(2), leaky(), nn.Flatten(),
                                 nn.Linear(3 * 4 * 4, 4), leaky(output=True)), 4)
    write(tmp_path / "m.nir", export_to_nir(model, dt=DT, input_shape=(1, 8, 8)))
    plan = verified(tmp_path / "m.nir", capsys)
    conv = plan.connections[0]
    assert conv.kind == "conv" and conv.conv.kernel == (4, 4) and conv.conv.stride == (2, 2)
    report = (tmp_path / "build" / "report.md").read_text()
    assert "AvgPool2d as a convolution of fixed weight 1/4" in report and "fused with the convolution" in report


def nir_cnn(pool: nir.NIRNode, groups=1):
    """NIR's benchmark pattern: Conv2d -> IF -> SumPool2d/AvgPool2d -> Conv2d -> IF -> Flatten -> Linear -> LIF."""
    rng = np.random.default_rng(3)
    c1 = nir.Conv2d(input_shape=(10, 10), weight=rng.normal(0, 0.8, (4, 1, 3, 3)), stride=1, padding=1,
                    dilation=1, groups=1, bias=np.full(4, 0.05))
    c2 = nir.Conv2d(input_shape=(5, 5), weight=rng.normal(0, 0.5, (4, 4 // groups, 3, 3)), stride=1, padding=0,
                    dilation=1, groups=groups, bias=np.zeros(4))
    nodes = {"input": nir.Input(input_type=np.array([1, 10, 10])), "c1": c1,
             "n1": nir.IF(r=np.full((4, 10, 10), 1 / DT), v_threshold=np.ones((4, 10, 10)),
                          v_reset=np.zeros((4, 10, 10))),
             "pool": pool, "c2": c2,
             "n2": nir.IF(r=np.full((4, 3, 3), 1 / DT), v_threshold=np.ones((4, 3, 3)), v_reset=np.zeros((4, 3, 3))),
             "flat": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0),
             "fc": nir.Linear(weight=rng.normal(0, 0.8, (3, 36))), "out": lif((3,)),
             "output": nir.Output(output_type=np.array([3]))}
    return graph(nodes, ["input", "c1", "n1", "pool", "c2", "n2", "flat", "fc", "out", "output"])


@pytest.mark.lava
def test_sumpool2d_before_a_convolution(tmp_path, capsys):
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    write(tmp_path / "m.nir", nir_cnn(pool))
    plan = verified(tmp_path / "m.nir", capsys)
    kinds = [c.kind for c in plan.connections]
    assert kinds == ["conv", "conv", "dense"] and plan.connections[1].conv.kernel == (6, 6)


@pytest.mark.lava
def test_sumpool2d_before_a_grouped_convolution_runs_as_a_sparse_matrix(tmp_path, capsys):
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    write(tmp_path / "m.nir", nir_cnn(pool, groups=2))
    plan = verified(tmp_path / "m.nir", capsys)
    assert [c.kind for c in plan.connections] == ["conv", "sparse", "dense"] and "sparse" in plan.features()


@pytest.mark.lava
def test_flatten_keeps_the_numbering_of_a_map(tmp_path, capsys):
    """A Flatten with its real input_type between a (2, 3, 3) layer and a Linear: neuron (c, y, x) is input
    (c * 3 + y) * 3 + x of the Linear, as torch.flatten."""
    rng = np.random.default_rng(4)
    nodes = {"input": nir.Input(input_type=np.array([2, 3, 3])), "n0": lif((2, 3, 3), thr=0.5),
             "flat": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0),
             "fc": nir.Linear(weight=rng.normal(0.2, 0.6, (4, 18))), "n1": lif((4,)),
             "output": nir.Output(output_type=np.array([4]))}
    write(tmp_path / "m.nir", graph(nodes, ["input", "n0", "flat", "fc", "n1", "output"]))
    plan = verified(tmp_path / "m.nir", capsys)
    assert plan.input_size == 18 and plan.layers[0].size == 18 and plan.connections[1].shape == (4, 18)


@pytest.mark.lava
def test_delay_before_and_after_weights(tmp_path, capsys):
    """Delays per source (before the Linear) and per target (after it) add up per synapse: a DelayDense."""
    rng = np.random.default_rng(5)
    nodes = {"input": nir.Input(input_type=np.array([6])), "fc0": nir.Linear(weight=rng.normal(0.3, 0.5, (5, 6))),
             "n0": lif((5,)), "d_src": nir.Delay(delay=np.array([0, 1, 2, 3, 5]) * DT),
             "fc1": nir.Linear(weight=rng.normal(0.4, 0.6, (4, 5))),
             "d_tgt": nir.Delay(delay=np.array([2, 0, 1, 4]) * DT),
             "n1": lif((4,)), "output": nir.Output(output_type=np.array([4]))}
    write(tmp_path / "m.nir", graph(nodes, ["input", "fc0", "n0", "d_src", "fc1", "d_tgt", "n1", "output"]))
    plan = verified(tmp_path / "m.nir", capsys, "--steps", "30")
    delays = plan.connections[1].delays
    np.testing.assert_array_equal(delays, np.add.outer([2, 0, 1, 4], [0, 1, 2, 3, 5]))
    assert "delays" in plan.features()


@pytest.mark.lava
def test_delay_after_a_convolution_runs_as_a_delayed_sparse_matrix(tmp_path, capsys):
    rng = np.random.default_rng(6)
    conv = nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0.2, 0.8, (2, 1, 3, 3)), stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(2))
    nodes = {"input": nir.Input(input_type=np.array([1, 6, 6])), "conv": conv,
             "d": nir.Delay(delay=np.tile([0, 3], 36).reshape(2, 6, 6) * DT), "n0": lif((2, 6, 6), thr=0.8),
             "output": nir.Output(output_type=np.array([2, 6, 6]))}
    write(tmp_path / "m.nir", graph(nodes, ["input", "conv", "d", "n0", "output"]))
    plan = verified(tmp_path / "m.nir", capsys)
    c = plan.connections[0]
    assert c.kind == "sparse" and c.delays is not None and set(np.unique(c.delays)) == {0, 3}
