"""Rule objects on chip: STDP, BTSP and dendritic balance, float update vs learning-engine program.

For each rule: the float rule the program implements (``realized``, run by its float step) agrees with the
program run in neurolearn's simulator within the fixed-point noise (stochastic rounding, truncation), the float
rule as written differs from ``realized`` by what ``approximations`` reports, the program in Lava equals neurolearn
bit for bit (tiny nets, short runs), and the refusal paths raise a one-line RuleError naming the parameter.
"""
import re

import numpy as np
import pytest

from neurolearn.errors import RuleError
from neurolearn.ir import plan as P
from neurolearn.ir.plan import Plasticity
from neurolearn.lava.runner import simulate_learning_lava
from neurolearn.rules import BTSP, STDP, ChipUnits, DendriticBalance, HebbianBaseline, SimpleBTSP
from neurolearn.rules.btsp import induction_kernel
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.sims.learning import simulate_learning
from tests.sims.test_learning_engine import assert_same_bits


def one_layer(w0, vth=100000, dv=4095, bias=0, dt=1e-3):
    """Input -> LearningDense 'c' -> LIF 'l0' with initial integer weights w0 (n_post, n_pre)."""
    n_post, n_pre = w0.shape
    layer = P.LayerPlan("l0", n_post, du=4095, dv=dv, vth=vth, bias_mant=np.full(n_post, bias),
                        bias_exp=np.zeros(n_post, int))
    return P.Plan(dt=dt, input_name="in", input_size=n_pre, layers=(layer,), outputs=("l0",),
                  connections=(P.ConnectionPlan("c", "in", "l0", np.asarray(w0)),))


def rounding_noise(epochs, ws):
    """3 sigma of Lava's stochastic weight rounding over ``epochs`` changes (variance <= 1/4 unit each),
    in float units; the draw is shared by all synapses in an epoch, so it does not average out across them."""
    return 3 * 0.5 * np.sqrt(epochs) / ws


def reported_percent(chip, name):
    """The signed relative error (percent) that ``approximations`` reports for ``name`` (0 if none)."""
    for line in chip.approximations:
        m = re.match(rf"{re.escape(name)} = \S+ -> \S+ \(?[^(]*\(([+-][\d.]+)%\)", line)
        if m:
            return float(m.group(1))
    return 0.0


def place_inputs(steps, n_pre, dt, seed=1, rate=0.4, width=0.6):
    """Poisson inputs with Gaussian place fields crossing the track once (spikes (steps, n_pre))."""
    t = np.arange(steps) * dt
    centres = np.linspace(0.1, 0.9, n_pre) * t[-1]
    p = rate * np.exp(-0.5 * ((t[:, None] - centres) / width) ** 2)
    return (np.random.default_rng(seed).random((steps, n_pre)) < p).astype(np.uint8)


# ---- STDP ------------------------------------------------------------------------------------------

def stdp_run(rule, ws, steps=3000, seed=0):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((steps, 6)) < 0.04).astype(np.uint8)
    w0 = np.zeros((4, 6), int)  # weights stay far from the clip at -256 and 255
    chip = rule.chip_rule(ChipUnits(ws))
    res = simulate_learning(one_layer(w0, vth=40, dv=400, bias=300), spikes, {"c": Plasticity(chip.program)},
                            record=False)
    post = res.sim.layers["l0"].spikes[0]
    return chip, spikes, post, (res.synapses["c"].weights[0, -1] - w0) / ws


def test_stdp_float_equals_program():
    rule, ws = STDP(a_plus=0.03, a_minus=0.025, tau_plus=8.4, tau_minus=12), 100
    chip, pre, post, fixed = stdp_run(rule, ws, steps=2000)
    assert post.sum() > 100
    real = rule.realized(ChipUnits(ws))
    want = real.float_run(pre, post)
    assert np.abs(want).max() > 0.5 and np.abs(fixed).max() < 2  # large changes, no weight clipping
    events = post.sum(0)[:, None] + pre.sum(0)[None, :]  # epochs in which a synapse changes
    assert np.abs(fixed - want).max() <= 0.05 * np.abs(want).max() + rounding_noise(events.max(), ws)
    assert np.corrcoef(fixed.ravel(), want.ravel())[0, 1] > 0.95
    for name in ("a_plus", "a_minus"):  # the reported amplitude error is the realized one
        assert getattr(real, name) / getattr(rule, name) - 1 == pytest.approx(reported_percent(chip, name) / 100,
                                                                              abs=1e-4)
    assert real.tau_plus == 8 and any(line.startswith("tau_plus = 8.4 -> 8 steps") for line in chip.approximations)


def test_stdp_pair_signs():
    """One pre-post pair potentiates, post-pre depresses, by a_plus/a_minus * exp(-lag/tau) in float."""
    pre, post = np.zeros((20, 1)), np.zeros((20, 1))
    pre[3], post[6] = 1, 1
    rule = STDP(a_plus=1.0, a_minus=0.5, tau_plus=10, tau_minus=10)
    assert rule.float_run(pre, post)[0, 0] == pytest.approx(np.exp(-0.3))
    assert rule.float_run(post, pre)[0, 0] == pytest.approx(-0.5 * np.exp(-0.3))


# ---- BTSP ------------------------------------------------------------------------------------------

def btsp_run(rule, dt=0.01, steps=1200, n_pre=25, w_init=1.0, plateau_at=600):
    pre = place_inputs(steps, n_pre, dt)
    plateau = np.zeros((steps, 1))
    plateau[plateau_at:plateau_at + 30] = 1
    units = ChipUnits(255 / rule.w_max, dt)
    w0 = np.full((1, n_pre), round(units.weight * w_init))
    chip = rule.chip_rule(units)
    res = simulate_learning(one_layer(w0, dt=dt), pre, {"c": Plasticity(chip.program, "excitatory")},
                            {"c": rule.third_factors(plateau, units)}, record=False)
    return chip, pre, plateau, w0 / units.weight, (res.synapses["c"].weights[0, -1] - w0) / units.weight


@pytest.mark.parametrize("rule", [BTSP(et_per_spike=0.04), SimpleBTSP(lr=2.0, et_per_spike=0.04)],
                         ids=["weight-dependent", "simple"])
def test_btsp_float_equals_program(rule):
    dt = 0.01
    chip, pre, plateau, w0, fixed = btsp_run(rule, dt, w_init=1.0 if isinstance(rule, BTSP) else 0.3)
    want = rule.realized(ChipUnits(255 / rule.w_max, dt)).run(pre, plateau, dt, w0) - w0
    span = np.ptp(want)
    assert span > 0.3
    # noise: stochastic rounding; bias: each product truncates below 2^-7 weight units every step
    assert np.sqrt(np.mean((fixed - want) ** 2)) <= 0.12 * span
    assert np.corrcoef(fixed.ravel(), want.ravel())[0, 1] > 0.95
    assert abs(int(np.argmax(fixed)) - int(np.argmax(want))) <= 1


def test_btsp_sigmoid_form_within_reported_kernel_error():
    """The eLife rule (sigmoid q) vs the program: within the reported induction-kernel error (+ noise)."""
    rule, dt = BTSP(et_per_spike=0.04), 0.01
    chip, pre, plateau, w0, fixed = btsp_run(rule, dt)
    exact = rule.run(pre, plateau, dt, w0) - w0
    line = next(a for a in chip.approximations if a.startswith("induction kernel"))
    pct = float(re.search(r"= ([\d.]+)% of the kernel", line).group(1))
    assert 0 < pct < 20
    assert np.sqrt(np.mean((fixed - exact) ** 2)) <= (pct / 100 + 0.12) * np.ptp(exact)
    offsets, kernel = induction_kernel(rule, dt)
    assert offsets[np.argmax(kernel)] < 0  # potentiation peaks for inputs before the plateau


def test_btsp_third_factors_follow_the_plateau():
    rule, units = BTSP(), ChipUnits(255 / 4.68, 0.01)
    plateau = np.zeros((300, 2))
    plateau[100:130, 1] = 1
    y = rule.third_factors(plateau, units)
    full = int(re.search(r"IS \* (\d+)", rule.chip_rule(units).third_factors["y1"]).group(1))
    assert y.shape == (300, 3, 2) and y.dtype.kind == "i" and y.max() <= 127
    assert not y[:, :, 0].any() and y[129, 0, 1] == full and y[:100].sum() == 0 and y[:, 2].sum() == 0
    assert 0 < y[250, 0, 1] < full


# ---- dendritic balance -----------------------------------------------------------------------------

def test_hebbian_baseline_float_equals_program():
    rule, ws = HebbianBaseline(eta=0.03, tau_x=10, tau_z=10), 100
    rng = np.random.default_rng(3)
    pre = (rng.random((1000, 5)) < 0.05).astype(np.uint8)
    w0 = np.full((3, 5), 40)
    chip = rule.chip_rule(ChipUnits(ws))
    res = simulate_learning(one_layer(w0, vth=40, dv=400, bias=300), pre, {"c": Plasticity(chip.program)},
                            record=False)
    post = res.sim.layers["l0"].spikes[0]
    assert 20 < post.sum() < 300 * 3
    fixed = res.synapses["c"].weights[0, -1] / ws
    want = rule.realized(ChipUnits(ws)).float_run(pre, post, w0=w0 / ws)
    assert np.abs(want - w0 / ws).max() > 0.5
    assert np.abs(fixed - want).max() <= 0.05 * np.abs(want).max() + rounding_noise(len(pre), ws)
    assert any(a.startswith("z^2 -> a post trace y2 of tau 5 steps") for a in chip.approximations)


def test_dendritic_balance_error_neuron_form():
    """Balance rule, two-factor: inhibition grows while the error neuron fires above its baseline."""
    rule, ws = DendriticBalance(eta=0.02, tau_pre=10, tau_post=10, baseline=0.5), 100
    rng = np.random.default_rng(4)
    pre = (rng.random((800, 4)) < 0.15).astype(np.uint8)
    w0 = np.zeros((3, 4), int)
    chip = rule.chip_rule(ChipUnits(ws))
    assert chip.program.dw == "-4*2^-6 * u0 * x1 * (y1 - 8)" and not chip.third_factors
    res = simulate_learning(one_layer(w0, vth=40, dv=1000, bias=900),
                            pre, {"c": Plasticity(chip.program)}, record=False)
    post = res.sim.layers["l0"].spikes[0]
    fixed = res.synapses["c"].weights[0, -1] / ws
    want = rule.realized(ChipUnits(ws)).float_run(pre, post)
    assert np.abs(want).max() > 0.4
    assert np.abs(fixed - want).max() <= 0.05 * np.abs(want).max() + rounding_noise(len(pre), ws)


@pytest.mark.parametrize("connection", ["balance", "feedforward"])
def test_dendritic_balance_decay_bounds_the_weights(connection):
    """The paper's lambda W, gated by the post trace: the program equals the realized float rule; on independent
    pre and post trains (baseline 0) W settles at -+eta <x> / decay, where without decay it grows without end."""
    ws, rng = 100, np.random.default_rng(6)
    pre = (rng.random((3000, 4)) < 0.15).astype(np.uint8)
    post = (rng.random((3000, 3)) < 0.1).astype(np.uint8)
    plan = one_layer(np.zeros((3, 4), int), vth=40, dv=1000, bias=900)
    sign = -1 if connection == "balance" else 1
    final = {}
    for decay in (0.0, 0.04):
        rule = DendriticBalance(eta=0.01, baseline=0.0, decay=decay, connection=connection)
        chip = rule.chip_rule(ChipUnits(ws))
        assert ("w * y1" in chip.program.dw) == bool(decay), chip.program.dw
        real = rule.realized(ChipUnits(ws))
        final[decay] = real.float_run(pre, post, record=True)
    res = simulate_learning(plan, pre[:800], {"c": Plasticity(chip.program)}, record=False)   # with decay
    fixed = res.synapses["c"].weights[0, -1] / ws
    want = real.float_run(pre[:800], res.sim.layers["l0"].spikes[0])
    assert np.abs(fixed - want).max() <= 0.05 * np.abs(want).max() + rounding_noise(800, ws)
    x_mean = pre.mean() / (1 - np.exp(-1 / 10))              # the pre trace's mean (+1 per spike, tau 10 steps)
    settled = final[0.04][-1000:].mean(0)
    np.testing.assert_allclose(settled, sign * 0.01 * x_mean / real.decay, rtol=0.25)
    assert abs(final[0.04][1000:2000].mean() / settled.mean() - 1) < 0.1   # settled already: not growing
    grows = sign * final[0.0]
    assert (grows[-1] > 1.5 * grows[1500]).all() and (grows[-1] > 3 * abs(settled)).all()


def test_dendritic_balance_dendrite_form_third_factor():
    """The literal rule: u arrives signed on y2 (u > 0) and y3 (u < 0); dW = -eta z u."""
    rule, ws = DendriticBalance(eta=0.02, form="dendrite", u_full=2.0), 100
    rng = np.random.default_rng(5)
    steps = 500
    pre = (rng.random((steps, 4)) < 0.1).astype(np.uint8)
    u = np.stack([0.5 * np.sin(np.arange(steps) / 50), 0.8 * np.cos(np.arange(steps) / 80)], axis=1)
    chip = rule.chip_rule(ChipUnits(ws))
    assert chip.delivered_by == "post neuron" and set(chip.third_factors) == {"y2", "y3"}
    w0 = np.zeros((2, 4), int)
    res = simulate_learning(one_layer(w0), pre, {"c": Plasticity(chip.program)},
                            {"c": rule.third_factors(u, ChipUnits(ws))}, record=False)
    fixed = res.synapses["c"].weights[0, -1] / ws
    real = rule.realized(ChipUnits(ws))
    want = real.float_run(pre, third=u)
    assert np.abs(real.float_run(pre, third=u, record=True)).max() < 2.4  # no clipping at +-256 units
    assert np.abs(want).max() > 0.5
    assert np.abs(fixed - want).max() <= 0.05 * np.abs(want).max() + rounding_noise(steps, ws)
    assert np.abs(rule.float_run(pre, third=u) - want).max() <= \
        (abs(reported_percent(chip, "eta")) + 0.006) / 100 * np.abs(want).max()


# ---- Lava equals neurolearn bit for bit ------------------------------------------------------------

def lava_cases():
    rng = np.random.default_rng(7)
    steps = 60
    spikes = (rng.random((steps, 3)) < 0.3).astype(np.uint8)
    w0 = rng.integers(10, 60, (2, 3)) * 2
    plateau = np.zeros((steps, 2))
    plateau[20:30, 0] = 1
    u = np.stack([np.sin(np.arange(steps) / 6), -np.ones(steps)], axis=1)
    db = DendriticBalance(eta=0.01, form="dendrite", u_full=1.0)
    units, btsp_units = ChipUnits(100), ChipUnits(255 / 4.68, 0.01, rng_seed=1)
    return {
        "stdp": (STDP(0.05, 0.06, 5, 7).chip_rule(ChipUnits(100, rng_seed=3)), "mixed", None),
        "btsp": (BTSP(et_per_spike=0.2).chip_rule(btsp_units), "excitatory", BTSP().third_factors(plateau, btsp_units)),
        "hebbian": (HebbianBaseline(eta=0.02).chip_rule(units), "mixed", None),
        "balance": (DendriticBalance(eta=0.02, decay=0.04).chip_rule(units), "mixed", None),
        "dendrite": (db.chip_rule(units), "mixed", db.third_factors(u, units)),
    }, spikes, w0


@pytest.mark.lava
@pytest.mark.parametrize("name", ["stdp", "btsp", "hebbian", "balance", "dendrite"])
def test_program_in_lava_equals_neurolearn(name):
    cases, spikes, w0 = lava_cases()
    chip, mode, y = cases[name]
    plan = one_layer(np.abs(w0), vth=30, dv=800, bias=300)
    learning = {"c": Plasticity(chip.program, mode)}
    ys = {} if y is None else {"c": y}
    ours = simulate_learning(plan, spikes, learning, ys)
    assert (ours.synapses["c"].weights[0, -1] != ours.synapses["c"].weights[0, 0]).any()
    assert_same_bits(ours, simulate_learning_lava(plan, spikes, learning, ys), learning)


# ---- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda: BTSP().chip_rule(ChipUnits(50, 1e-3)), ["tau_et = 1.664 s", "1664 steps", "255", "dt >= 0.006513"]),
    (lambda: BTSP().chip_rule(ChipUnits(50)), ["BTSP", "need dt"]),
    (lambda: SimpleBTSP(lr=0.05).chip_rule(ChipUnits(255, 0.01)), ["SimpleBTSP lr = 0.05",
                                                                    "weight units per unit of x1*y1"]),
    (lambda: STDP(a_plus=0.002).chip_rule(ChipUnits(100)), ["STDP a_plus = 0.002", "% off"]),
    (lambda: STDP(tau_minus=400).chip_rule(ChipUnits(100)), ["STDP tau_minus = 400 steps", "8-bit"]),
    (lambda: BTSP(w_max=2).chip_rule(ChipUnits(200, 0.01)), ["BTSP: weight_scale = 200", "0.5..255"]),
    (lambda: DendriticBalance(eta=0.02, baseline=9).chip_rule(ChipUnits(100)), ["baseline = 9", "<= 127"]),
    (lambda: HebbianBaseline(eta=1e-6).chip_rule(ChipUnits(100)), ["HebbianBaseline eta = 1e-06"]),
    (lambda: ChipUnits(0), ["weight = 0", "> 0 integer weight units"]),
    (lambda: ChipUnits(100, dt=-1.0), ["dt = -1.0", "> 0 s per step"]),
])
def test_refusals_are_one_line_and_name_the_parameter(make, words):
    with pytest.raises(RuleError) as exc:
        make()
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("make, words", [
    (lambda: STDP(a_plus=-1), ["'a_plus' = -1", ">= 0"]),
    (lambda: STDP(a_plus=0, a_minus=0), ["'a_plus' = 'a_minus' = 0"]),
    (lambda: BTSP(q="exact"), ["'q' = 'exact'", "sigmoid, chip"]),
    (lambda: BTSP(theta_et=0), ["'theta_et' = 0", "(0, 1]"]),
    (lambda: SimpleBTSP(tau_et=-1.0), ["'tau_et' = -1.0", "> 0 s"]),
    (lambda: DendriticBalance(form="dendrite", connection="feedforward"), ["feedforward", "error-neuron"]),
    (lambda: HebbianBaseline(z_square="approx"), ["'z_square' = 'approx'"]),
])
def test_bad_parameters_are_named(make, words):
    with pytest.raises(RuleError) as exc:
        make()
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_sigmoid_q_is_approximated_and_reported():
    """The sigmoids have no sum-of-products form: the program says what replaced them and by how much."""
    units = ChipUnits(255 / 4.68, 0.01)
    chip = BTSP().chip_rule(units)
    text = "\n".join(chip.approximations)
    assert "q_pot(x) -> x: max |error| 0.109" in text and "q_dep(ET*IS) -> min(1, ET/0.28)" in text
    assert chip.program.three_factor and chip.delivered_by == "input" and set(chip.third_factors) == {"y1", "y2"}
    assert "q_pot" not in "\n".join(BTSP(q="chip").chip_rule(units).approximations)






def test_burstprop_program_rate_and_refusals():
    rule = BurstpropSpiking(eta=0.0025)
    chip = rule.chip_rule(ChipUnits(64))
    assert chip.program.three_factor and "(y1 - 64)" in chip.program.dw and chip.program.t_epoch == 1
    prod = chip.program.products["dw"][0]
    got = 8 * prod.scale * chip.program.x1_impulse * chip.post_neuron["valence_levels"]
    assert abs(got / (0.0025 * 64) - 1) < 0.03
    assert f"{100 * (got / 0.16 - 1):+.2f} %" in chip.approximations[0]
    with pytest.raises(RuleError, match="e_min = 0.01: the homeostasis term needs"):
        BurstpropSpiking(e_min=0.01).chip_rule(ChipUnits(64))
    with pytest.raises(RuleError, match="eta = 1e-06 .* off by more than 10%"):
        BurstpropSpiking(eta=1e-6).chip_rule(ChipUnits(64))
