"""Per-neuron parameters: neurons with different decays become one Lava process per group (named NODE#k, mapped back
to the node), per-neuron thresholds fold into per-neuron scales exactly; report.md says what was grouped or folded;
the float reference runs the node as snntorch does and the fixed point equals Lava bit for bit."""
import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.compile.normalize import to_network
from neurolearn.compile.quantize import quantize
from neurolearn.ir import plan as P
from neurolearn.nir import export_to_nir, write
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.float_ref import simulate_float
from neurolearn.sims.result import node_records
from tests.compile.test_resets import run_snntorch
from tests.helpers import lif_graph, save, spikes


def heterogeneous(n_in=6, n=9, seed=0, reset="subtract"):
    """snntorch Leaky and Synaptic layers whose beta, alpha and threshold differ from neuron to neuron (as
    learn_beta / learn_threshold leave them), three decays in the first layer."""
    torch.manual_seed(seed)
    beta = torch.tensor([0.8, 0.9, 0.95] * (n // 3))
    thr = torch.linspace(0.5, 1.5, n)
    model = nn.Sequential(nn.Linear(n_in, n), snn.Leaky(beta=beta, threshold=thr, init_hidden=True,
                                                         reset_mechanism=reset),
                          nn.Linear(n, 4), snn.Synaptic(alpha=torch.tensor([0.5, 0.5, 0.7, 0.7]), beta=0.9,
                                                        threshold=torch.tensor([0.6, 0.9, 1.2, 0.7]),
                                                        init_hidden=True, reset_mechanism=reset))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(2.0)
    return model


def test_decays_group_into_processes_and_thresholds_fold():
    net = to_network(export_to_nir(heterogeneous(), dt=1e-3, input_shape=(6,)))
    q = quantize(net)
    plan = q.plan
    hidden, out = (p.name for p in net.populations)
    assert [L.name for L in plan.layers] == [f"{hidden}#0", f"{hidden}#1", f"{hidden}#2", f"{out}#0", f"{out}#1"]
    parts = plan.node_layers()[hidden]
    assert [idx.tolist() for _, idx in parts] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert len({plan.layer(name).dv for name, _ in parts}) == 3
    assert plan.outputs == (f"{out}#0", f"{out}#1")
    pop = net.population(hidden)
    for name, idx in parts:   # thresholds folded into per-neuron scales: vth / scale is each neuron's threshold
        layer = plan.layer(name)
        np.testing.assert_allclose(layer.vth / (layer.scale / 64), pop.threshold[idx], rtol=1e-12)
    # one Dense per (source group, target group); the input is one group
    assert len(plan.connections) == 3 + 3 * 2
    assert any("3 different decays" in f for f in q.folds) and any("thresholds differ" in f for f in q.folds)


def test_report_lists_groups_and_folds(tmp_path):
    build = compile_model(save(heterogeneous(), tmp_path / "h.nir"), tmp_path / "b")
    report = (tmp_path / "b" / "report.md").read_text()
    assert "## Grouped and folded" in report and "3 different decays (du, dv): one Lava process each" in report
    assert "folded into per-neuron scales" in report
    assert len(build.plan.layers) == 5


def test_float_reference_runs_per_neuron_parameters_as_snntorch():
    model = heterogeneous()
    net = to_network(export_to_nir(model, dt=1e-3, input_shape=(6,)))
    x = spikes(6, steps=80, batch=3, rate=0.5)
    ref, want = simulate_float(net, x), run_snntorch(model, x)
    for pop, k in zip(net.populations, (1, 3)):
        assert np.array_equal(ref.layers[pop.name].spikes, want[k][0].astype(np.uint8))
        np.testing.assert_allclose(ref.layers[pop.name].v, want[k][1], rtol=1e-6, atol=1e-6)
    assert ref.layers[net.populations[1].name].spikes.sum() > 20


def test_fixed_point_by_node_agrees_with_float_at_task_level():
    net = to_network(export_to_nir(heterogeneous(), dt=1e-3, input_shape=(6,)))
    plan = quantize(net).plan
    x = spikes(6, steps=100, batch=8, rate=0.5)
    pad = np.concatenate([x, np.zeros((8, 2, 6), np.uint8)], axis=1)
    flt, fx = simulate_float(net, x), node_records(plan, simulate_fixed(plan, pad))
    assert set(fx.layers) == {p.name for p in net.populations}
    for pop in net.populations:
        d = fx.delays[pop.name]
        a = flt.layers[pop.name].spikes.sum(axis=1).astype(int)
        b = fx.layers[pop.name].spikes[:, d:d + 100].sum(axis=1).astype(int)
        assert a.sum() > 0 and abs(int(a.sum()) - int(b.sum())) <= 0.03 * a.sum()
        assert np.abs(a - b).max() <= 3   # per neuron and sample: the neuron order was restored


def test_simulate_writes_nodes_not_groups(tmp_path, capsys):
    compile_model(save(heterogeneous(), tmp_path / "h.nir"), tmp_path / "b")
    assert main(["simulate", str(tmp_path / "b"), "--steps", "20", "-o", str(tmp_path / "o.npz")]) == 0
    keys = {k.split("/")[0] for k in np.load(tmp_path / "o.npz").files if "/" in k}
    assert keys == {"1", "3"}
    assert np.load(tmp_path / "o.npz")["1/spikes"].shape == (1, 20, 9)


def test_per_neuron_tau_in_a_plain_nir_file_groups():
    g = lif_graph(tau=0.01)
    g.nodes["lif"] = nir.LIF(tau=np.array([0.01, 0.02, 0.01]), r=np.ones(3), v_leak=np.zeros(3),
                             v_threshold=np.array([1.0, 0.5, 2.0]), v_reset=np.zeros(3))
    plan = quantize(to_network(g)).plan
    assert [(L.name, L.neurons.tolist()) for L in plan.layers] == [("lif#0", [0, 2]), ("lif#1", [1])]


@pytest.mark.lava
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_heterogeneous_network_verifies(tmp_path, capsys, reset):
    path = save(heterogeneous(reset=reset), tmp_path / "h.nir")
    assert main(["verify", str(path), "--steps", "40", "--batch", "2", "--rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "all layers match (0 mismatches)" in out and "1#2" in out


@pytest.mark.lava
def test_plain_nir_file_with_per_neuron_parameters_verifies(tmp_path, capsys):
    g = lif_graph(tau=0.01, weight=np.full((4, 5), 0.6), dt=None)
    g.nodes["lif"] = nir.LIF(tau=np.array([0.01, 0.02, 0.01, 0.005]), r=np.array([1.0, 2.0, 1.5, 1.0]),
                             v_leak=np.array([0.0, 0.1, -0.1, 0.0]), v_threshold=np.array([1.0, 0.5, 2.0, 0.3]),
                             v_reset=np.array([0.0, -0.2, 0.1, 0.0]))
    write(tmp_path / "p.nir", g)
    assert main(["verify", str(tmp_path / "p.nir"), "--dt", "1e-3", "--steps", "60", "--rate", "0.6"]) == 0
    assert "all layers match (0 mismatches)" in capsys.readouterr().out


def threshold_graph():
    """input -> Affine -> NIR Threshold (stateless, per-neuron thresholds) -> output."""
    g = lif_graph(weight=np.random.default_rng(1).normal(0.3, 0.5, (5, 4)))
    g.nodes["lif"] = nir.Threshold(threshold=np.array([0.2, 0.5, 0.3, 0.1, 0.8]))
    return g


def test_nir_threshold_node_is_stateless_and_exact():
    net = to_network(threshold_graph())
    pop = net.populations[0]
    assert pop.kind == "Threshold" and np.all(pop.alpha == 0) and np.all(pop.beta == 0)
    layer = quantize(net).plan.layers[0]
    assert layer.dv == P.DV_STATELESS and layer.du == P.DU_RANGE[1]
    np.testing.assert_allclose(layer.vth / (layer.scale / 64), pop.threshold, rtol=1e-12)
    x = spikes(4, steps=50, batch=3, rate=0.5)
    flt = simulate_float(net, x).layers["lif"].spikes
    fx = simulate_fixed(quantize(net).plan, np.concatenate([x, np.zeros((3, 1, 4), np.uint8)], axis=1))
    assert flt.sum() > 50 and np.array_equal(fx.layers["lif"].spikes[:, 1:], flt)


@pytest.mark.lava
def test_nir_threshold_node_verifies(tmp_path, capsys):
    write(tmp_path / "t.nir", threshold_graph())
    assert main(["verify", str(tmp_path / "t.nir"), "--steps", "40", "--rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "all layers match (0 mismatches)" in out and "snntorch vs float" in out


def _split_graph(w1, w2=None, recurrent_from_split=False):
    """input(2) -> a (LIF, one decay) -> b (LIF, two decays); with ``recurrent_from_split`` also b -> a."""
    def lif(tau):
        n = len(tau)
        return nir.LIF(tau=np.array(tau), r=np.array(tau) / 1e-3, v_leak=np.zeros(n), v_threshold=np.ones(n),
                       v_reset=np.zeros(n))

    nodes = {"input": nir.Input(np.array([2])), "fa": nir.Linear(weight=np.asarray(w1, float)), "a": lif([0.01] * 2),
             "fb": nir.Linear(weight=np.full((4, 2), 2.0) if w2 is None else np.asarray(w2, float)),
             "b": lif([0.01, 0.01, 0.002, 0.002]), "output": nir.Output(np.array([4]))}
    edges = [("input", "fa"), ("fa", "a"), ("a", "fb"), ("fb", "b"), ("b", "output")]
    if recurrent_from_split:
        nodes["rec"] = nir.Linear(weight=np.full((2, 4), 0.5))
        edges += [("b", "rec"), ("rec", "a")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": 1e-3}
    return g


def test_weights_rounding_to_zero_in_a_split_node_are_reported(tmp_path):
    write(tmp_path / "m.nir", _split_graph(np.eye(2) * 3, w2=[[1.0, 1e-5]] * 4))
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    assert [c.name for c in build.plan.connections if c.target.startswith("b#")] == ["a->b#0", "a->b#1"]
    assert any(line.startswith("rounded to zero: 4 weights") for line in build.warnings), build.warnings


@pytest.mark.lava
def test_a_back_edge_from_a_later_split_node(tmp_path, capsys):
    write(tmp_path / "m.nir", _split_graph(np.eye(2) * 3, recurrent_from_split=True))
    assert main(["verify", str(tmp_path / "m.nir"), "--steps", "30", "--rate", "0.5"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "all layers match (0 mismatches)" in out
    plan = compile_model(tmp_path / "m.nir", tmp_path / "b").plan
    assert {c.name for c in plan.connections if c.recurrent} == {"b#0->a", "b#1->a"}


def test_a_parameter_of_the_right_size_but_another_shape_is_refused():
    """(5, 2) thresholds on a (2, 5) node would reorder the neurons: refused; (1, 2, 5) is the same neurons."""
    from neurolearn.compile.normalize import neuron_population
    from neurolearn.errors import ShapeError

    def node(thr):   # NIR types the node (2, 5) from its input; its parameters have thr's shape
        shape = thr.shape
        lif = nir.LIF(tau=np.full(shape, 0.01), r=np.full(shape, 10.0), v_leak=np.zeros(shape), v_threshold=thr,
                      v_reset=np.zeros(shape))
        lif.input_type = {"input": np.array([2, 5])}
        return lif

    with pytest.raises(ShapeError, match=r"node 'x': parameter 'tau': shape \(5, 2\) "
                                         r"does not broadcast to the node's shape \(2, 5\)"):
        neuron_population(node(np.ones((5, 2))), "x", 1e-3)
    pop, _ = neuron_population(node(np.arange(1, 11.0).reshape(1, 2, 5)), "x", 1e-3)
    assert np.array_equal(pop.threshold, np.arange(1, 11.0))


def conv_fed_heterogeneous(seed=3, cuba=False):
    """input (1, 6, 6) -> Conv2d 2@3x3 (bias) -> LIF (or CubaLIF) whose every neuron has its own time constants and
    threshold."""
    rng = np.random.default_rng(seed)
    shape = (2, 4, 4)
    tau, threshold = rng.uniform(0.004, 0.02, shape), rng.uniform(0.7, 1.3, shape)
    lif = nir.LIF(tau=tau, r=tau / 1e-3, v_leak=np.zeros(shape), v_threshold=threshold, v_reset=np.zeros(shape))
    if cuba:
        tau_syn = rng.uniform(0.0015, 0.004, shape)
        lif = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / 1e-3, v_leak=np.zeros(shape), v_threshold=threshold,
                          v_reset=np.zeros(shape), w_in=tau_syn / 1e-3)
    nodes = {"input": nir.Input(np.array([1, 6, 6])),
             "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0.5, 0.4, (2, 1, 3, 3)), stride=1, padding=0,
                                dilation=1, groups=1, bias=np.array([0.05, -0.02])),
             "lif": lif, "output": nir.Output(np.array(shape))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": 1e-3}
    return g


def test_a_convolution_feeds_neurons_with_their_own_decays_and_thresholds(tmp_path):
    """The kernel is shared across positions, so neither decays nor thresholds fold into it: one NIRNeuron with
    per-neuron du, dv, vth and one scale per output channel (set by the channel's largest threshold)."""
    write(tmp_path / "m.nir", conv_fed_heterogeneous())
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    (layer,) = build.plan.layers
    assert layer.per_neuron and not layer.lava_lif and "neuron_parameters" in build.plan.features()
    assert np.ndim(layer.dv) == 1 and np.ndim(layer.vth) == 1 and np.ndim(layer.du) == 0
    assert build.plan.connections[0].conv is not None
    scale = layer.scale.reshape(2, -1)
    assert np.all(scale == scale[:, :1])   # one scale per output channel
    theta = build.network.population("lif").threshold
    assert np.abs(layer.vth - theta * layer.scale / 64).max() <= 0.5   # each neuron's own threshold, rounded
    assert np.ptp(layer.vth) > 0 and layer.vth.max() == round(float(np.max(layer.scale / 64 * theta)))
    report = (tmp_path / "b" / "report.md").read_text()
    assert "different decays (du, dv) in a node that 'input->lif'" in report
    assert "thresholds differ within an output channel of 'input->lif'" in report
    x = spikes(36, 60, batch=2, rate=0.4)
    fl, fx = simulate_float(build.network, x), simulate_fixed(build.plan, x)
    same = fx.layers["lif"].spikes[:, 1:51] == fl.layers["lif"].spikes[:, :50]
    assert fl.layers["lif"].spikes.sum() > 50 and same.mean() > 0.98, same.mean()


def test_a_convolution_feeds_synaptic_neurons_with_their_own_current_decays(tmp_path):
    write(tmp_path / "m.nir", conv_fed_heterogeneous(cuba=True))
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    (layer,) = build.plan.layers
    assert np.ndim(layer.du) == 1 and np.ptp(layer.du) > 0 and build.plan.connections[0].conv is not None
    x = spikes(36, 60, batch=2, rate=0.4)
    fl, fx = simulate_float(build.network, x), simulate_fixed(build.plan, x)
    same = fx.layers["lif"].spikes[:, 1:51] == fl.layers["lif"].spikes[:, :50]
    assert fl.layers["lif"].spikes.sum() > 50 and same.mean() > 0.98, same.mean()


@pytest.mark.lava
@pytest.mark.parametrize("cuba", [False, True])
def test_per_neuron_parameters_behind_a_convolution_verify_against_lava(tmp_path, capsys, cuba):
    write(tmp_path / "m.nir", conv_fed_heterogeneous(seed=4, cuba=cuba))
    assert main(["verify", str(tmp_path / "m.nir"), "--steps", "60", "--rate", "0.4"]) == 0, capsys.readouterr()
    assert "all layers match (0 mismatches)" in capsys.readouterr().out
