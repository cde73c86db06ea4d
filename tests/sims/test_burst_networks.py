"""Burst networks (BurstLIF layers, burst feedback, apical ports, input ranges, the band teacher, learning)
in neurolearn's learning simulator and in Lava, bit for bit."""

import numpy as np
import pytest

from neurolearn.errors import ShapeError
from neurolearn.ir import plan as P
from neurolearn.ir.schedule import Schedule
from neurolearn.lava.runner import simulate_learning_lava
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.float_twin import run_float_twin
from neurolearn.sims.learning import ChipSession, simulate_learning
from neurolearn.train.onchip import OnChipConfig, compile_xor
from tests.helpers import assert_same_as_lava, random_burst_net


@pytest.mark.lava
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_burst_network_bit_exact_with_lava(seed):
    plan, x = random_burst_net(seed)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    assert_same_as_lava(ours, lava, ("spikes", "u", "v", "bursts", "v_d"), ("weights", "x", "y", "tx", "ty"))
    assert ours.sim.layers["l0"].bursts.sum() > 0  # the case exercises bursts
    assert not np.array_equal(ours.synapses["a"].weights[0, -1], plan.connections[0].weights)


def _without_halving(plan):
    return P.Plan(**{**plan.__dict__, "layers": tuple(
        L if L.burst is None else P.LayerPlan(**{**L.__dict__, "burst": P.BurstPlan(**{**L.burst.__dict__,
                                                                                      "valence_halving": 0})})
        for L in plan.layers)})


@pytest.mark.lava
@pytest.mark.parametrize("seed", [0, 1])
def test_valence_halving_bit_exact_with_lava(seed):
    """The burst neurons' valence halves every valence_halving steps, counted from the run's first step, in
    neurolearn's simulator as in Lava's BurstLIF model (which counts Lava's time steps)."""
    plan, x = random_burst_net(seed, halving=True)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    assert_same_as_lava(ours, lava, ("spikes", "v", "bursts", "v_d"), ("weights", "y"))
    plain = simulate_learning(_without_halving(plan), x)
    assert not np.array_equal(ours.synapses["a"].y, plain.synapses["a"].y)   # it halved what was sent


def test_valence_halving_counts_steps_across_chunks():
    """A session run chunk by chunk halves at the same steps as one run of the whole input."""
    plan, x = random_burst_net(2, halving=True)
    whole, chunked = ChipSession(plan), ChipSession(plan)
    events = whole.run(x)[0]
    parts = np.concatenate([chunked.run(x[a:a + 30])[0] for a in range(0, len(x), 30)])
    assert np.array_equal(events, parts)
    for name in plan.learning:
        assert np.array_equal(whole.weights(name), chunked.weights(name))
    plain = ChipSession(_without_halving(plan))
    plain.run(x)
    assert any(not np.array_equal(whole.weights(n), plain.weights(n)) for n in ("a", "c"))


def test_burst_draws_depend_on_seed():
    plan, x = random_burst_net(0)
    bp = plan.layers[0].burst
    other = P.Plan(**{**plan.__dict__, "layers": (P.LayerPlan(**{**plan.layers[0].__dict__,
                                                                 "burst": P.BurstPlan(**{**bp.__dict__,
                                                                                         "seed": bp.seed + 1})}),)
                      + plan.layers[1:]})
    a, b, c = simulate_learning(plan, x), simulate_learning(plan, x), simulate_learning(other, x)
    assert np.array_equal(a.sim.layers["l0"].bursts, b.sim.layers["l0"].bursts)
    assert not np.array_equal(a.sim.layers["l0"].bursts, c.sim.layers["l0"].bursts)


def test_valence_is_unbiased_on_chip():
    """The program's weight change averages eta (B - Pbar E) Etilde: compare the fixed-point drift with
    the float rule on a single synapse driven for a long time (a steady depression would fail)."""
    compiled, schedule, net = compile_xor(0, OnChipConfig(epochs=3))
    fixed, flt = run_fixed(compiled.plan, schedule), run_float_twin(net, compiled, schedule, OnChipConfig().teacher)
    name = "W:input->hidden"
    w0 = compiled.plan.connections[0].weights / compiled.weight_units[name]
    d_fixed = fixed.weights[name][-1] / compiled.weight_units[name] - w0
    d_float = flt.weights[name][-1] - net.weights[("input", "hidden")]
    assert abs(d_fixed.mean() - d_float.mean()) < 0.25 * np.abs(d_float).mean() + 0.01


def test_teacher_channels_read_only_through_their_range():
    plan, _ = random_burst_net(0)
    kw, n_out = plan.__dict__, plan.layers[2].size
    whole = P.ConnectionPlan("all", "in", "l2", np.ones((n_out, plan.input_size)), port="apical")
    with pytest.raises(ShapeError, match=r"connection 'all' reads the teacher channels .* exactly"):
        P.Plan(**{**kw, "connections": plan.connections + (whole,)})
    t = plan.teacher
    with pytest.raises(ShapeError, match="down = up \\+ 1"):
        P.Plan(**{**kw, "teacher": P.BandTeacherPlan("l2", t.up + 1, t.up, 0, 1)})


def test_epoch_runs_with_a_plain_lif_layer(tmp_path):
    plan, x = random_burst_net(1)
    schedule = Schedule(x, (("predict", 0, 0, 0, 80),), (79, len(x) - 1))
    run = run_fixed(plan, schedule)
    assert run.bursts["l1"].sum() == 0 and run.spikes["l1"].shape == (len(x), plan.layers[1].size)
    assert run.weights["a"].shape == (2,) + plan.connections[0].weights.shape
    schedule.save(tmp_path / "s.npz")
    again = Schedule.load(tmp_path / "s.npz")
    assert again.windows == schedule.windows and np.array_equal(again.spikes, schedule.spikes)


def test_valence_halving_goes_to_the_post_neuron_and_bad_values_are_refused():
    from neurolearn.errors import QuantizationError, RuleError
    from neurolearn.rules import BurstpropSpiking, ChipUnits

    chip = BurstpropSpiking(eta=0.002, valence_halving=3600).chip_rule(ChipUnits(256.0))
    assert chip.post_neuron["valence_halving"] == 3600 and any("halves every 3600 steps" in n
                                                               for n in chip.approximations)
    assert "valence_halving" not in BurstpropSpiking(eta=0.002).chip_rule(ChipUnits(256.0)).post_neuron
    with pytest.raises(RuleError, match=r"'valence_halving' = 2.5; allowed whole steps 0..16777215"):
        BurstpropSpiking(valence_halving=2.5)
    with pytest.raises(RuleError, match="valence_halving"):
        BurstpropSpiking(valence_halving=2**24)
    with pytest.raises(QuantizationError, match=r"'valence_halving' = 16777216 outside \[0, 16777215\]"):
        P.BurstPlan(dv_d=0, lut=np.zeros(256, int), valence_halving=2**24)
