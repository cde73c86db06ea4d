"""Dendritic balance (error-neuron form) from a .nir file: the learned inhibition z -| e is a recurrent event weight
of the learning build, it cancels the input (the error neurons fall silent) in the fixed-point run and the float
twin alike, and the twin learns exactly by the float rule the program realizes."""
from __future__ import annotations

import numpy as np
import pytest

from neurolearn.compile.build import compile_model
from neurolearn.compile.burst_mapping import compile_burst_network
from neurolearn.errors import InputError, RuleError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nir import read, write
from neurolearn.nir.burst_encoding import from_nir, to_nir
from neurolearn.rules import ChipUnits, DendriticBalance, HebbianBaseline
from neurolearn.sims.float_twin import FloatTwinSession
from neurolearn.sims.learning import ChipSession

N_X, N_Z, PATTERN = 8, 4, 40
P = BurstParams(beta=0.9, beta_d=0.9, burst_offset=4.0)


def compiled_from_nir(tmp_path, rules: dict):
    """input 8 -> e 8 -> z 4, z -| e (D, zero); F maps source k's two inputs onto z_k. Written, compiled by
    ``neurolearn compile``, read back for the float twin."""
    f = np.kron(np.eye(N_Z), np.ones((1, 2))) * 1.5
    net = BurstNetwork(dt=1e-3, input_size=N_X, layers=(BurstLayer("e", N_X, P, 1), BurstLayer("z", N_Z, P, 2)),
                       weights={("input", "e"): 0.6 * np.eye(N_X), ("e", "z"): f, ("z", "e"): np.zeros((N_X, N_Z))},
                       feedback={}, rules={k: r.to_params() for k, r in rules.items()})
    write(tmp_path / "m.nir", to_nir(net))
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    net = from_nir(read(tmp_path / "m.nir"))
    return build.plan, net, compile_burst_network(net)


def patterns(count: int, seed: int = 0) -> np.ndarray:
    """One source (a pair of inputs) active per pattern, Poisson at 0.3 per step."""
    rng = np.random.default_rng(seed)
    p = np.repeat(np.kron(np.eye(N_Z), np.ones((1, 2)))[rng.integers(0, N_Z, count)], PATTERN, axis=0) * 0.3
    return (rng.random(p.shape) < p).astype(np.uint8)


def test_learned_inhibition_cancels_the_input_fixed_and_float(tmp_path):
    plan, net, compiled = compiled_from_nir(tmp_path, {"W:z->e": DendriticBalance(eta=4e-3, baseline=0.0)})
    back = next(c for c in plan.connections if c.name == "W:z->e")
    assert back.recurrent and set(plan.learning) == {"W:z->e"}
    x = patterns(120)
    rates = {}
    for name, session in (("fixed", ChipSession(plan, threads=1)), ("float", FloatTwinSession(net, compiled))):
        spikes, _ = session.run(x)
        e = spikes[:, :N_X].reshape(-1, PATTERN, N_X).sum((1, 2)) / PATTERN   # error spikes per step, per pattern
        rates[name] = (e[:5].mean(), e[-30:].mean())
        d = session.weights("W:z->e") / (compiled.weight_units["W:z->e"] if name == "fixed" else 1.0)
        on = np.kron(np.eye(N_Z), np.ones((2, 1))).astype(bool)   # e_i's own source
        assert d[on].mean() < -0.1 and d[on].mean() < 5 * d[~on].mean(), (name, d)
    for name, (first, last) in rates.items():
        assert last < 0.6 * first, (name, rates)       # the error neurons quieten as D explains the input
    (f0, f1), (g0, g1) = rates["fixed"], rates["float"]
    # fixed point holds D at the 8-bit limit (-256 units = -2 here) where the float D goes on to about -3
    assert abs(f0 - g0) < 0.15 * f0 and abs(f1 - g1) < 0.25 * g1 + 0.01, rates


@pytest.mark.parametrize("forward", [DendriticBalance(eta=2e-3, baseline=0.0, connection="feedforward"),
                                     DendriticBalance(eta=2e-3, baseline=0.0, decay=8e-3, connection="feedforward"),
                                     HebbianBaseline(eta=4e-3, x_impulse=8, z_impulse=8)])
def test_float_twin_learns_by_the_realized_rule(forward, tmp_path):
    """The twin's weights after a run equal the realized float rule replayed on the twin's own spikes."""
    balance = DendriticBalance(eta=4e-3, baseline=0.0)
    plan, net, compiled = compiled_from_nir(tmp_path, {"W:z->e": balance, "W:e->z": forward})
    twin = FloatTwinSession(net, compiled)
    spikes, _ = twin.run(patterns(20, seed=1))
    e, z = spikes[:, :N_X], spikes[:, N_X:]
    for name, rule, pre, post in (("W:z->e", balance, z, e), ("W:e->z", forward, e, z)):
        realized = rule.realized(ChipUnits(compiled.weight_units[name], plan.dt))
        w0 = net.weights[tuple(name[2:].split("->"))]
        want = realized.float_run(pre, post, w0=w0)
        assert np.abs(want - w0).max() > 0.01
        np.testing.assert_allclose(twin.weights(name), want, rtol=1e-9, atol=1e-12)


def test_float_twin_refuses_a_rule_it_has_no_form_for(tmp_path):
    plan, net, compiled = compiled_from_nir(tmp_path, {"W:z->e": DendriticBalance(eta=4e-3, baseline=0.0)})
    net = BurstNetwork(**{**net.__dict__, "rules": {"W:z->e": {"rule": "stdp"}}})
    with pytest.raises(InputError, match="learns by 'stdp'; the twin runs burstprop, btsp-credit and the pair-trace "
                                         "rules"):
        FloatTwinSession(net, compiled)


@pytest.mark.parametrize("tau_z", [7.0, 10.0, 13.0])
def test_hebbian_z_square_trace_has_the_programs_tau(tau_z):
    """The realized rule (and so the float twin) decays z^2 with the y2 tau the program runs (tau_z / 2 rounded),
    not tau_z / 2."""
    rule, units = HebbianBaseline(eta=4e-3, tau_z=tau_z, z_square="trace"), ChipUnits(64.0, 1e-3)
    program = rule.chip_rule(units).program
    assert rule.realized(units).pair_form().tau_post2 == program.y2_tau


def test_t_epoch_scales_the_product_and_is_checked():
    units = ChipUnits(128)
    one = DendriticBalance(eta=5e-4, baseline=0.875, pre_impulse=8, post_impulse=8)
    four = DendriticBalance(eta=5e-4, baseline=0.875, pre_impulse=8, post_impulse=8, t_epoch=4)
    p1, p4 = one.chip_rule(units).program, four.chip_rule(units).program
    assert (p1.t_epoch, p4.t_epoch) == (1, 4)
    assert p1.dw.startswith("-1*2^-7 ") and p4.dw.startswith("-4*2^-7 ")   # 4 steps' worth, same exponent
    assert four.realized(units).eta == one.realized(units).eta
    assert four.realized(units).pair_form().every == 4
    assert any("once every 4 steps" in a for a in four.chip_rule(units).approximations)
    with pytest.raises(RuleError, match=r"parameter 't_epoch' = 2.5; allowed an integer 1..63 steps"):
        DendriticBalance(t_epoch=2.5)
    with pytest.raises(RuleError, match=r"'t_epoch' = 2 needs form = 'error-neuron'"):
        DendriticBalance(form="dendrite", t_epoch=2)
    with pytest.raises(RuleError, match=r"parameter 't_epoch' = 64; allowed \[1, 63\]"):
        DendriticBalance(t_epoch=64)


def sampled_replay(form, pre, post, w0):
    """A PairForm's weights after ``pre`` (steps, n_pre) and ``post`` (steps, n_post) spikes, written out: traces every
    step, the change ``every`` times as large at every ``every``-th step."""
    x, y, y2, w = np.zeros(pre.shape[1]), np.zeros(post.shape[1]), np.zeros(post.shape[1]), np.array(w0, float)
    k2 = np.exp(-1 / form.tau_post2) if form.tau_post2 else 0.0
    for t in range(len(pre)):
        x = np.exp(-1 / form.tau_pre) * x + pre[t]
        y, y2 = np.exp(-1 / form.tau_post) * y + post[t], k2 * y2 + post[t]
        if (t + 1) % form.every == 0:
            dw = form.eta * np.outer(y - form.post_offset, x - form.pre_offset) - form.decay * w * y2[:, None]
            w += form.every * dw
    return w


def test_float_twin_changes_weights_every_t_epoch_steps(tmp_path):
    balance = DendriticBalance(eta=4e-3, baseline=0.0, t_epoch=4)
    forward = DendriticBalance(eta=2e-3, baseline=0.0, decay=8e-3, connection="feedforward", t_epoch=3)
    plan, net, compiled = compiled_from_nir(tmp_path, {"W:z->e": balance, "W:e->z": forward})
    twin = FloatTwinSession(net, compiled)
    spikes, _ = twin.run(patterns(20, seed=1))
    e, z = spikes[:, :N_X], spikes[:, N_X:]
    for name, rule, pre, post in (("W:z->e", balance, z, e), ("W:e->z", forward, e, z)):
        form = rule.realized(ChipUnits(compiled.weight_units[name], plan.dt)).pair_form()
        w0 = net.weights[tuple(name[2:].split("->"))]
        want = sampled_replay(form, pre, post, w0)
        assert np.abs(want - w0).max() > 0.01
        np.testing.assert_allclose(twin.weights(name), want, rtol=1e-9, atol=1e-12)
        every_step = sampled_replay(form._replace(every=1), pre, post, w0)
        assert np.abs(twin.weights(name) - every_step).max() > 1e-6   # the sampling is not the per-step rule


def test_sampled_replay_is_the_realized_rule_at_every_step(tmp_path):
    """The replay above, with every = 1, is the rule's own float code (so it can stand for the sampled rule)."""
    rule = DendriticBalance(eta=2e-3, baseline=0.5, decay=8e-3, connection="feedforward")
    rng = np.random.default_rng(3)
    pre, post = (rng.random((300, 5)) < 0.1).astype(float), (rng.random((300, 3)) < 0.1).astype(float)
    w0 = rng.normal(0, 0.1, (3, 5))
    np.testing.assert_allclose(sampled_replay(rule.pair_form(), pre, post, w0), rule.float_run(pre, post, w0=w0),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.lava
def test_balance_build_with_homeostasis_and_t_epoch_bit_exact_with_lava(tmp_path):
    from neurolearn.lava.runner import simulate_learning_lava
    from neurolearn.sims.learning import simulate_learning

    rules = {"W:z->e": DendriticBalance(eta=4e-3, baseline=0.5, t_epoch=4),
             "W:e->z": DendriticBalance(eta=2e-3, baseline=0.5, connection="feedforward", t_epoch=4)}
    f = np.kron(np.eye(N_Z), np.ones((1, 2))) * 1.5
    z_params = P._replace(homeostasis_rate=0.05, homeostasis_eta=0.02)
    net = BurstNetwork(dt=1e-3, input_size=N_X, layers=(BurstLayer("e", N_X, P, 1), BurstLayer("z", N_Z, z_params, 2)),
                       weights={("input", "e"): 0.6 * np.eye(N_X), ("e", "z"): f, ("z", "e"): np.zeros((N_X, N_Z))},
                       feedback={}, rules={k: r.to_params() for k, r in rules.items()},
                       biases={"e": np.full(N_X, 0.1), "z": np.full(N_Z, -0.3)})
    write(tmp_path / "h.nir", to_nir(net))
    plan = compile_model(tmp_path / "h.nir", tmp_path / "b").plan
    assert plan.layer("z").burst.bias_gain > 0 and plan.learning["W:e->z"].program.t_epoch == 4
    x = patterns(4, seed=2)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    for n, rec in lava.sim.layers.items():
        for k in ("spikes", "v"):
            bad = np.argwhere(getattr(ours.sim.layers[n], k) != getattr(rec, k))
            assert bad.size == 0, f"{n}.{k}: first mismatch at {bad[0]}"
    for n, rec in lava.synapses.items():
        assert np.array_equal(ours.synapses[n].weights, rec.weights), n
    assert ours.sim.layers["z"].spikes.sum() > 0


def test_float_twin_counts_epochs_across_chunks(tmp_path):
    """A long run cut into chunks of any length changes the weights at the same steps as one run (the chip's
    learning epochs count from the first step)."""
    rules = {"W:z->e": DendriticBalance(eta=4e-3, baseline=0.0, t_epoch=4),
             "W:e->z": DendriticBalance(eta=2e-3, baseline=0.0, connection="feedforward", t_epoch=3)}
    plan, net, compiled = compiled_from_nir(tmp_path, rules)
    x = patterns(10, seed=4)
    whole, cut = FloatTwinSession(net, compiled), FloatTwinSession(net, compiled)
    whole.run(x)
    for start in range(0, len(x), 49):
        cut.run(x[start:start + 49])
    for name in rules:
        np.testing.assert_array_equal(cut.weights(name), whole.weights(name))
