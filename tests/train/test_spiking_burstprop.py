"""Two-compartment burst neurons, the spiking burstprop rule, and spiking XOR."""
import numpy as np
import pytest
import torch

from neurolearn.errors import InputError, RuleError
from neurolearn.ir.burst_network import BurstParams
from neurolearn.nets.burst_module import BurstNeuron, BurstNeuronState, burst_neuron_step
from neurolearn.rules.burstprop_spiking import BurstpropSpiking, BurstpropState
from neurolearn.rules.plugin import StepInput
from neurolearn.train.spiking import XOR_CONFIG, spiking_xor_task, train_spiking, xor_solved


def zeros(n):
    return BurstNeuronState(*(torch.zeros(1, n) for _ in range(3)))


def test_events_bursts_and_reset():
    p = BurstParams(beta=1.0, beta_d=1.0, threshold=1.0, burst_offset=0.0, stochastic=False)
    basal = torch.tensor([[0.5, 1.5, 2.0]])
    apical = torch.tensor([[5.0, 5.0, -5.0]])
    e, b, prob, s = burst_neuron_step(basal, apical, zeros(3), p)
    assert e.tolist() == [[0, 1, 1]] and b.tolist() == [[0, 1, 0]]  # bursts: events with a depolarized dendrite
    assert s.v.tolist() == [[0.5, 0, 0]]  # reset to zero where it fired
    assert torch.all(b <= e)


def test_stochastic_burst_probability_is_sigmoid_of_dendrite():
    n = 20000
    p = BurstParams(beta=0.0, beta_d=0.0, threshold=0.5, burst_offset=1.0, burst_slope=2.0)
    gen = torch.Generator().manual_seed(0)
    e, b, prob, _ = burst_neuron_step(torch.ones(1, n), torch.full((1, n), 2.0), zeros(n), p,
                                      torch.rand(1, n, generator=gen))
    assert e.mean() == 1
    assert b.mean().item() == pytest.approx(torch.sigmoid(torch.tensor(0.5)).item(), abs=0.01)


def test_module_state_and_seeded_draws():
    m = BurstNeuron(beta=0.8, init_hidden=True, seed=3)
    x = torch.full((2, 50), 0.6)
    runs = []
    for _ in range(2):
        m.reset_hidden()
        runs.append([m(x, torch.zeros_like(x)) for _ in range(20)])
    for (e1, b1), (e2, b2) in zip(*runs):
        assert torch.equal(e1, e2) and torch.equal(b1, b2)
    assert sum(e.sum() for e, _ in runs[0]) > 0
    with pytest.raises(InputError, match="only .zero."):
        BurstNeuron(reset_mechanism="subtract")


def test_rule_potentiates_when_bursts_exceed_their_average():
    rule = BurstpropSpiking(eta=0.1, tau_pre=10.0, tau_avg=1000.0, p_init=0.2)
    st = rule.init_state(n_pre=2, n_post=1, batch=1)
    w = np.zeros((1, 2))
    _, dw = rule.float_step(st, w, StepInput(np.array([[1.0, 0.0]]), np.array([[1.0]]), np.array([[1.0]])))
    assert dw[0, 0] > 0 and dw[0, 1] == 0  # only the active input changes
    _, no_burst = rule.float_step(st, w, StepInput(np.array([[1.0, 0.0]]), np.array([[1.0]]), np.array([[0.0]])))
    assert no_burst[0, 0] < 0  # an event without a burst depresses (B - Pbar E < 0)
    assert rule.to_params()["rule"] == "burstprop-spiking"


def test_rule_step_is_the_same_in_numpy_and_torch():
    """Host-side training runs the float step on torch tensors: same operators, same numbers."""
    rule = BurstpropSpiking(eta=0.1, e_min=0.02, e_max=0.05)
    rng = np.random.default_rng(0)
    st = rule.init_state(n_pre=5, n_post=3, batch=4)
    pre, post, bursts = (rng.integers(0, 2, (4, n)).astype(float) for n in (5, 3, 3))
    st_np, dw_np = rule.float_step(st, None, StepInput(pre, post, post * bursts))
    st_t, dw_t = rule.float_step(BurstpropState(*map(torch.from_numpy, st)), None,
                                 StepInput(*map(torch.from_numpy, (pre, post, post * bursts))))
    np.testing.assert_allclose(dw_t.numpy(), dw_np, rtol=1e-12)
    for a, b in zip(st_t, st_np):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-12)


SHORT = XOR_CONFIG.__class__(**{**XOR_CONFIG.__dict__, "steps_predict": 20, "steps_teach": 10, "steps_eval": 20})


def test_xor_training_is_deterministic():
    a = train_spiking(spiking_xor_task(), SHORT, BurstpropSpiking(), epochs=3, seed=1)
    b = train_spiking(spiking_xor_task(), SHORT, BurstpropSpiking(), epochs=3, seed=1)
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])
    assert a.history == b.history


def test_spiking_burstprop_learns_xor():
    res = train_spiking(spiking_xor_task(), XOR_CONFIG, BurstpropSpiking(), epochs=200, seed=0, eval_every=0)
    assert xor_solved(res.rates_after), (res.rates_before, res.rates_after)
    assert not xor_solved(res.rates_before)
    assert len(res.history) == 200 and len(res.history[-1]["burst_prob"]) == 2


def test_burst_network_nir_round_trip_and_compile(tmp_path):
    import nir as nir_pkg

    from neurolearn.compile.build import compile_model
    from neurolearn.nir import read, write
    from neurolearn.nir.burst_encoding import from_nir, to_nir
    from neurolearn.train.spiking import to_burst_network

    task = spiking_xor_task()
    res = train_spiking(task, SHORT, BurstpropSpiking(), epochs=2, seed=0)
    net = to_burst_network(res, task.n_in)
    write(tmp_path / "xor.nir", to_nir(net))
    plain = nir_pkg.read(tmp_path / "xor.nir")  # a tool that knows nothing of neurolearn loads it
    assert isinstance(plain.nodes["hidden.soma"], nir_pkg.LIF) and isinstance(plain.nodes["hidden.apical"], nir_pkg.LI)
    back = from_nir(read(tmp_path / "xor.nir"))
    assert back.layers == net.layers and back.rules == net.rules and back.dt == net.dt
    for table in ("weights", "feedback"):
        for key, w in getattr(net, table).items():
            np.testing.assert_array_equal(getattr(back, table)[key], w)
    build = compile_model(tmp_path / "xor.nir", tmp_path / "build")  # a learning build: rules on chip
    assert [layer.name for layer in build.plan.layers] == ["hidden", "out"]
    assert all(layer.burst is not None for layer in build.plan.layers)
    assert set(build.plan.learning) == {"W:input->hidden", "W:hidden->out"}
    report = (tmp_path / "build" / "report.md").read_text()
    for part in ("Y:out->hidden", "(y1 - 64)", "learning rate: eta = 0.02", "burst probability table"):
        assert part in report


def test_homeostasis_pushes_rates_into_their_band():
    rule = BurstpropSpiking(eta=0.1, e_min=0.02, e_max=0.05, tau_avg=1e9)   # averages held still for one step
    st = BurstpropState(trace=np.ones((1, 1)), ebar=np.array([0.01, 0.1]), bbar=np.array([0.003, 0.03]))
    quiet = rule.float_step(st, None, StepInput(np.zeros((1, 1)), np.zeros((1, 2)), np.zeros((1, 2))))[1]
    assert quiet[0, 0] == 0  # no presynaptic event: nothing to potentiate
    quiet = rule.float_step(st, None, StepInput(np.ones((1, 1)), np.zeros((1, 2)), np.zeros((1, 2))))[1]
    assert quiet[0, 0] > 0 and quiet[1, 0] == 0  # too quiet: potentiated on a presynaptic event
    busy = rule.float_step(st, None, StepInput(np.zeros((1, 1)), np.ones((1, 2)), np.ones((1, 2))))[1]
    plain = BurstpropSpiking(eta=0.1, tau_avg=1e9).float_step(
        st, None, StepInput(np.zeros((1, 1)), np.ones((1, 2)), np.ones((1, 2))))[1]
    assert busy[1, 0] < plain[1, 0] and busy[0, 0] == plain[0, 0]  # too busy: its valence is lowered
    with pytest.raises(RuleError, match="'e_min' = 0.1 must be below e_max = 0.05"):
        BurstpropSpiking(e_min=0.1, e_max=0.05)


def test_encoders():
    from neurolearn.errors import InputError
    from neurolearn.train.encoders import latency_spikes, poisson_spikes, rate_spikes

    r = rate_spikes(np.array([0.0, 0.25, 1.0]), steps=8)
    assert r.shape == (8, 3) and r.sum(0).tolist() == [0, 2, 8]
    lat = latency_spikes(np.array([[1.0, 0.5, 0.0]]), steps=5)
    assert lat.shape == (1, 5, 3) and lat[0].sum(0).tolist() == [1, 1, 0]
    assert lat[0, 0, 0] == 1 and lat[0, 2, 1] == 1
    p = poisson_spikes(np.full(1000, 0.3), steps=50, seed=0)
    assert abs(p.mean() - 0.3) < 0.01
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        rate_spikes(np.array([1.5]), steps=3)
