"""Reset modes: snntorch's Leaky, Synaptic and RLeaky with either reset mechanism and delay export, compile and run
as snntorch computes them (the float reference against the snntorch model itself), and the fixed-point simulator
equals Lava bit for bit (verify: 0 mismatches); NIR's reset to a non-zero v_reset likewise."""
import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.compile.normalize import to_network
from neurolearn.nir import export_to_nir, write
from neurolearn.sims.float_ref import simulate_float
from tests.helpers import lif_graph, save, spikes

CONFIGS = [(module, reset, delay) for module in ("Leaky", "Synaptic", "RLeaky") for reset in ("subtract", "zero")
           for delay in (True, False)]
MODES = {("subtract", True): "subtract_late", ("subtract", False): "subtract", ("zero", False): "zero"}


def snntorch_model(module, reset, delay, n_in=6, n=8, seed=0):
    """Input -> Linear -> NEURON (module, reset, delay) -> Linear -> Leaky with the same reset, busy enough to
    spike often and several times above threshold."""
    torch.manual_seed(seed)
    kw = dict(init_hidden=True, reset_mechanism=reset, reset_delay=delay, threshold=0.8)
    neuron = {"Leaky": lambda: snn.Leaky(beta=0.85, **kw),
              "Synaptic": lambda: snn.Synaptic(alpha=0.6, beta=0.85, **kw),
              "RLeaky": lambda: snn.RLeaky(beta=0.85, linear_features=n, **kw)}[module]()
    model = nn.Sequential(nn.Linear(n_in, n), neuron, nn.Linear(n, 3), snn.Leaky(beta=0.9, **kw))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(2.0)
    return model


def run_snntorch(model, x):
    """The snntorch model itself over x (batch, steps, n_in): per neuron layer index, (spikes, mem)."""
    for m in model:
        if hasattr(m, "reset_hidden"):
            m.reset_hidden()
    out = {1: ([], []), 3: ([], [])}
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = torch.as_tensor(x[:, t], dtype=torch.float32)
            for k, m in enumerate(model):
                h = m(h)
                if k in out:
                    out[k][0].append(h.clone())
                    out[k][1].append(m.mem.clone())
    return {k: (torch.stack(s, 1).numpy(), torch.stack(v, 1).numpy()) for k, (s, v) in out.items()}


@pytest.mark.parametrize("module,reset,delay", CONFIGS)
def test_float_reference_runs_snntorch_reset_modes(module, reset, delay):
    model = snntorch_model(module, reset, delay)
    net = to_network(export_to_nir(model, dt=1e-3, input_shape=(6,)))
    late_zero = "zero_late" if module != "Leaky" else "zero"
    assert net.populations[0].mode == MODES.get((reset, delay), late_zero)
    x = spikes(6, steps=80, batch=3, rate=0.5)
    ref, want = simulate_float(net, x), run_snntorch(model, x)
    for pop, k in zip(net.populations, (1, 3)):
        s, v = want[k]
        got = ref.layers[pop.name]
        assert np.array_equal(got.spikes, s.astype(np.uint8)), (pop.name, np.argwhere(got.spikes != s)[:3])
        # snntorch reports v before a late reset and after an immediate one, as neurolearn does; Leaky's late
        # zero reset runs as an immediate one: there the spike steps' v differ (0 vs the value before the reset)
        leaky_late_zero = (reset, delay) == ("zero", True) and (k == 3 or module == "Leaky")
        same = (got.spikes == 0) if leaky_late_zero else np.ones_like(s, bool)
        np.testing.assert_allclose(got.v[same], v[same], rtol=1e-6, atol=1e-6)
    assert ref.layers[net.populations[0].name].spikes.mean() > 0.1
    if reset == "subtract":   # v above twice the threshold: the corner where the reset modes differ most
        assert (want[1][1] > 1.6).any()


@pytest.mark.lava
@pytest.mark.parametrize("module,reset,delay", CONFIGS)
def test_snntorch_reset_modes_verify_bit_exact(tmp_path, capsys, module, reset, delay):
    path = save(snntorch_model(module, reset, delay), tmp_path / "m.nir")
    assert main(["verify", str(path), "--steps", "50", "--batch", "2", "--rate", "0.5"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "all layers match (0 mismatches)" in out and "fixed vs lava" in out


def test_reset_modes_need_neurolearns_neuron_and_say_so(tmp_path):
    build = compile_model(save(snntorch_model("Leaky", "subtract", True), tmp_path / "m.nir"), tmp_path / "b")
    assert "reset" in build.plan.features()
    assert [L.mode for L in build.plan.layers] == ["subtract_late", "subtract_late"]
    zero = compile_model(save(snntorch_model("Leaky", "zero", False), tmp_path / "z.nir"), tmp_path / "bz")
    assert "reset" not in zero.plan.features() and all(L.lava_lif for L in zero.plan.layers)


def _v_reset_graph(v_reset, dt=1e-3):
    g = lif_graph(tau=0.02, threshold=0.5, weight=np.full((3, 4), 0.4), dt=dt)
    n = 3
    g.nodes["lif"] = nir.LIF(tau=np.full(n, 0.02), r=np.full(n, 20.0), v_leak=np.zeros(n),
                             v_threshold=np.full(n, 0.5), v_reset=np.asarray(v_reset, float))
    return g


def test_nir_reset_to_v_reset_in_the_float_reference():
    net = to_network(_v_reset_graph([-0.3, 0.0, 0.2]))
    pop = net.populations[0]
    assert pop.mode == "zero" and list(pop.v_reset) == [-0.3, 0.0, 0.2]
    x = spikes(4, steps=60, batch=1, rate=0.6)
    res = simulate_float(net, x).layers[pop.name]
    assert res.spikes.sum() > 5
    np.testing.assert_allclose(res.v[res.spikes == 1], np.broadcast_to([-0.3, 0.0, 0.2], res.v.shape)[res.spikes == 1],
                               atol=1e-7)


@pytest.mark.lava
def test_nir_reset_to_v_reset_verifies(tmp_path, capsys):
    write(tmp_path / "v.nir", _v_reset_graph([-0.3, 0.0, 0.2]))
    assert main(["verify", str(tmp_path / "v.nir"), "--steps", "60", "--rate", "0.6"]) == 0
    assert "all layers match (0 mismatches)" in capsys.readouterr().out
