"""NeuroBench's metrics from exact event counts: against the neurobench package's own implementations on the
float model, and hand-computed on a tiny plan; the metrics command and verify's section."""
import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.errors import InputError
from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan
from neurolearn.sims.neurobench_metrics import (
    fixed_workload_metrics,
    float_workload_metrics,
    format_neurobench,
    network_static_metrics,
    plan_static_metrics,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_plan():
    """in(2) -> a(2) -> b(1): a0 fires on each event of input 0, b on each event of a0; u holds one step's input."""
    def layer(name, n):
        return LayerPlan(name, n, du=4095, dv=4095, vth=10, bias_mant=np.zeros(n, int), bias_exp=np.zeros(n, int))

    return Plan(1e-3, "in", 2, (layer("a", 2), layer("b", 1)),
                (ConnectionPlan("ia", "in", "a", np.array([[200, 0], [0, 0]])),
                 ConnectionPlan("ab", "a", "b", np.array([[100, 50]]))), ("b",))


def test_hand_computed_on_a_tiny_plan():
    plan = tiny_plan()
    x = np.zeros((1, 4, 2), np.uint8)
    x[0, 0, 0] = x[0, 2, 0] = x[0, 1, 1] = 1          # input 0 at steps 0 and 2, input 1 at step 1
    w, res = fixed_workload_metrics(plan, x)
    # a (delay 1) fires at window steps 0 and 2, b (delay 2) likewise: 2 of 8 and 2 of 4 outputs active
    assert res.layers["a"].spikes[0, 1:5, 0].tolist() == [1, 0, 1, 0] == res.layers["b"].spikes[0, 2:6, 0].tolist()
    assert w.activation_sparsity_by_layer == {"a": 0.75, "b": 0.5}
    assert w.activation_sparsity == pytest.approx(1 - 4 / 12)
    # input 0's 2 events reach 1 non-zero weight each, input 1's event none; a0's 2 events reach b's weight
    assert w.synaptic_operations_by_connection == {"ia": (2.0, 16.0), "ab": (2.0, 8.0)}
    assert (w.effective_acs, w.effective_macs, w.dense_sops) == (4.0, 0.0, 4 * (2 * 2 + 2 * 1))
    # every neuron on the first step, then a0 on 3 steps (spike, reset, spike), b likewise; a1 never changes
    assert w.membrane_updates == 3 + 3 + 3
    s = plan_static_metrics(plan)
    # 6 weights x 1 B, weight_exp and num_weight_bits 1 B each per connection, du/dv 2 B, vth 3 B per layer,
    # bias mantissa 2 B and exponent 1 B per neuron
    assert s.footprint_bytes == 6 + 2 + 2 + 2 * 2 + 2 * 2 + 2 * 3 + 3 * 2 + 3 * 1
    assert s.parameter_count == 6 and s.connection_sparsity == 0.5      # zero biases are no parameters
    text = format_neurobench(s, w)
    assert "footprint             33 bytes" in text and "effective ACs 4.0" in text


def test_learning_run_events_give_the_same_workload_without_membrane_updates():
    from neurolearn.sims.epochs import EpochRun
    from neurolearn.sims.neurobench_metrics import epoch_workload_metrics

    plan = tiny_plan()
    x = (np.random.default_rng(3).random((1, 40, 2)) < 0.4).astype(np.uint8)
    full, res = fixed_workload_metrics(plan, x)
    run = EpochRun("fixed", {n: r.spikes[0] for n, r in res.layers.items()},
                   {n: np.zeros_like(r.spikes[0]) for n, r in res.layers.items()}, {})
    padded = np.concatenate([x[0], np.zeros((2, 2), np.uint8)])
    events = epoch_workload_metrics(plan, run, padded)
    assert events.membrane_updates is None and full.membrane_updates > 0
    assert (events.activation_sparsity_by_layer, events.synaptic_operations_by_connection, events.steps) == \
        (full.activation_sparsity_by_layer, full.synaptic_operations_by_connection, 40)
    assert "membrane updates      n/a" in format_neurobench(plan_static_metrics(plan), events)
    with pytest.raises(InputError, match="2 steps; needs more than the deepest delay"):
        epoch_workload_metrics(plan, run, padded[:2])


def test_without_voltages_no_membrane_updates_and_no_readout_activity():
    from dataclasses import replace

    from neurolearn.sims.fixed import simulate_fixed

    def no_uv(p, x):
        return simulate_fixed(p, x, record_uv=False)

    w, _ = fixed_workload_metrics(tiny_plan(), np.ones((3, 2), np.uint8), no_uv)
    assert w.membrane_updates is None and w.effective_acs > 0
    plan = tiny_plan()
    readout = replace(plan, layers=(plan.layers[0], replace(plan.layers[1], spiking=False)))
    with pytest.raises(InputError, match="layer 'b' has no recorded v"):    # a readout's activity is its voltage
        fixed_workload_metrics(readout, np.ones((3, 2), np.uint8), no_uv)


def snntorch_net():
    import snntorch as snn
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 16), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
                        nn.Linear(16, 4), snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero", output=True))
    with torch.no_grad():
        net[0].weight *= 3
        net[0].weight[net[0].weight.abs() < 0.1] = 0      # connection sparsity
        net[0].weight[:4] = 0                               # 4 neurons without input: no membrane updates
        net[0].bias[:4] = 0
        net[2].weight *= 4                                  # the output layer spikes too
    return net


def test_agrees_with_the_neurobench_package_on_the_float_model(tmp_path):
    pytest.importorskip("neurobench", reason="neurolearn[neurobench] is installed by the Makefile's test set-up")
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import (
        ActivationSparsity,
        ActivationSparsityByLayer,
        MembraneUpdates,
        SynapticOperations,
    )
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    from neurolearn.compile.build import compile_model
    from neurolearn.nir import export_to_nir, write

    net = snntorch_net()
    write(tmp_path / "net.nir", export_to_nir(net, dt=1e-3, input_shape=(12,)))
    build = compile_model(tmp_path / "net.nir", tmp_path / "build")
    spikes = (np.random.default_rng(0).random((6, 30, 12)) < 0.3).astype(np.uint8)
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())   # snntorch's beta, threshold, ...
    data = DataLoader(TensorDataset(torch.as_tensor(spikes, dtype=torch.float32), torch.zeros(6)), batch_size=4)
    theirs = Benchmark(SNNTorchModel(net), data, [], [],
                       [[Footprint, ParameterCount, ConnectionSparsity],
                        [ActivationSparsity, ActivationSparsityByLayer, SynapticOperations, MembraneUpdates]]
                       ).run(quiet=True)
    static = network_static_metrics(build.network)
    ours, res = float_workload_metrics(build.network, spikes)
    assert 0 < res.layers["3"].spikes.mean() < res.layers["1"].spikes.mean() < 0.5
    assert static.parameter_count == theirs["ParameterCount"] == 12 * 16 + 16 + 16 * 4 + 4
    assert static.footprint_bytes + buffers == theirs["Footprint"]
    assert round(static.connection_sparsity, 4) == theirs["ConnectionSparsity"] > 0
    assert ours.activation_sparsity == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    assert ours.activation_sparsity_by_layer == pytest.approx(theirs["ActivationSparsityByLayer"], abs=1e-12)
    syn = theirs["SynapticOperations"]
    assert (ours.effective_acs, ours.effective_macs, ours.dense_sops) == \
        pytest.approx((syn["Effective_ACs"], syn["Effective_MACs"], syn["Dense"]), abs=1e-9)
    assert ours.membrane_updates == pytest.approx(theirs["MembraneUpdates"], abs=1e-9)
    assert ours.membrane_updates < 30 * 20     # the 4 silent neurons do not update
    # the deployed integers: same connections and events up to quantization
    fixed, _ = fixed_workload_metrics(build.plan, spikes)
    assert fixed.dense_sops == ours.dense_sops
    assert abs(fixed.effective_acs - ours.effective_acs) / ours.effective_acs < 0.05
    assert plan_static_metrics(build.plan).footprint_bytes < static.footprint_bytes / 3


def test_metrics_command_and_verify_section(tmp_path, capsys):
    from neurolearn.demo import build_model
    from neurolearn.nir import export_to_nir, write

    write(tmp_path / "d.nir", export_to_nir(build_model(), dt=1e-3, input_shape=(64,)))
    assert main(["compile", str(tmp_path / "d.nir"), "-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["metrics", str(tmp_path / "b"), "--task", "digits", "--samples", "20"]) == 0
    out = capsys.readouterr().out
    assert "20 sample(s) x 25 steps, fixed simulation" in out
    for name in ("footprint", "parameter count", "connection sparsity", "activation sparsity",
                 "effective ACs", "dense", "membrane updates", "classification accuracy"):
        assert name in out
    assert f"parameter count       {64 * 48 + 48 + 48 * 10 + 10}" in out
    assert main(["metrics", str(tmp_path / "b"), "--task", "digits", "--samples", "0"]) == 2
    assert main(["metrics", str(tmp_path / "b"), "--task", "digits", "--input", "x.npy"]) == 2
    assert "not both" in capsys.readouterr().err


def _one_connection_plan(n_in, n_out, conn):
    layer = LayerPlan("l0", n_out, du=600, dv=200, vth=40, bias_mant=np.zeros(n_out, int),
                      bias_exp=np.zeros(n_out, int))
    return Plan(1e-3, "in", n_in, (layer,), (conn,), ("l0",))


def test_a_convolution_and_a_sparse_connection_count_the_operations_of_their_matrices():
    """Conv and Sparse (plan v3) reach the non-zero weights their Dense matrix does from each event; dense SOPs
    count the synapses they have (a convolution's kernel entries inside the map, a Sparse's stored weights)."""
    from neurolearn.compile.connections import conv_matrix
    from neurolearn.ir.geometry import ConvGeometry, SparseLayout

    rng = np.random.default_rng(5)
    geo = ConvGeometry((2, 5, 4), 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    kernel = 2 * rng.integers(-60, 60, geo.kernel_shape) * (rng.random(geo.kernel_shape) < 0.7)
    structure = conv_matrix(geo, np.ones(geo.kernel_shape)).toarray()
    matrix = np.rint(conv_matrix(geo, kernel).toarray()).astype(np.int64)
    w = rng.integers(-100, 200, (5, 7)) * (rng.random((5, 7)) < 0.5)
    at = SparseLayout.of(w)
    cases = [(ConnectionPlan("c", "in", "l0", kernel, conv=geo), matrix, int(np.count_nonzero(structure))),
             (ConnectionPlan("c", "in", "l0", w[at.rows, at.cols], sparse=at), w, at.nnz)]
    for conn, dense_w, synapses in cases:
        n_out, n_in = conn.shape
        x = (rng.random((2, 12, n_in)) < 0.4).astype(np.uint8)
        got, _ = fixed_workload_metrics(_one_connection_plan(n_in, n_out, conn), x)
        want, _ = fixed_workload_metrics(_one_connection_plan(n_in, n_out, ConnectionPlan("c", "in", "l0", dense_w)),
                                         x)
        assert got.effective_acs == want.effective_acs > 0
        assert got.activation_sparsity_by_layer == want.activation_sparsity_by_layer
        assert got.dense_sops == 12 * synapses
    assert plan_static_metrics(_one_connection_plan(geo.n_in, geo.n_out, cases[0][0])).connection_sparsity == \
        np.count_nonzero(kernel == 0) / kernel.size


def test_delayed_synapses_count_the_events_they_deliver_within_the_window():
    """A DelayDense whose delays are all d: events of the input's last d steps arrive after the window; the delays
    are in the footprint at Lava's 6 bits (1 byte) each."""
    w = np.array([[100, 0, 50], [0, 0, 70]])
    x = np.zeros((1, 6, 3), np.uint8)
    x[0, [0, 3, 5], 0] = x[0, 5, 2] = x[0, 1, 1] = 1
    # input 0 (steps 0, 3, 5) reaches 1 non-zero weight, input 1 (step 1) none, input 2 (step 5) two
    for d, arrive in ((0, 3 + 2), (1, 2), (3, 1)):
        conn = ConnectionPlan("c", "in", "l0", w, delays=np.full(w.shape, d))
        got, _ = fixed_workload_metrics(_one_connection_plan(3, 2, conn), x)
        assert got.synaptic_operations_by_connection == {"c": (float(arrive), 6.0 * w.size)}
    plain = plan_static_metrics(_one_connection_plan(3, 2, ConnectionPlan("c", "in", "l0", w)))
    delayed = plan_static_metrics(_one_connection_plan(3, 2, conn))
    assert delayed.footprint_bytes == plain.footprint_bytes + w.size
