"""BTSP's credit-assignment form on chip (``btsp-credit``): the burst neuron's split valence (its plateaus), the
rule's program and refusals, its float twin against the fixed point, how a network records how it compiles (so
``neurolearn compile`` builds from model.nir what the run built), and the on-chip classification run with Lava."""
import json

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.burst_mapping import compile_burst_network
from neurolearn.errors import InputError, NIRFormatError, QuantizationError, RuleError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams, ChipSettings
from neurolearn.lava.runner import simulate_learning_lava
from neurolearn.nir.burst_encoding import from_nir, to_nir
from neurolearn.rules import BTSPCredit, ChipUnits
from neurolearn.sims.float_twin import FloatTwinSession
from neurolearn.sims.learning import ChipSession, simulate_learning
from tests.helpers import assert_same_as_lava, random_burst_net

ON_CHIP = dict(valence="expected", pbar="fixed", p_init=0.5)


@pytest.mark.lava
@pytest.mark.parametrize("seed", [0, 1])
def test_plateau_split_bit_exact_with_lava(seed):
    plan, x = random_burst_net(seed, plateau=True)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    assert_same_as_lava(ours, lava)
    start = {c.name: c.weights for c in plan.connections}
    changed = [n for n in ("a", "c") if not np.array_equal(ours.synapses[n].weights[-1], start[n])]
    assert changed, "the plateau programs changed no weight"


def test_split_valence_is_its_positive_and_negative_part():
    from neurolearn.dynamics.burst_neuron import PLAIN_VALENCE, burst_float_step, burst_int_step

    n = 400
    rng = np.random.default_rng(0)
    event = rng.random(n) < 0.8
    pbar = rng.integers(0, 2**15, n)
    lut = np.sort(rng.integers(0, 256, 256))
    args = (event, rng.integers(-2**20, 2**20, n), pbar, np.full(n, 2**13), rng.integers(-500, 500, n), 3000, lut,
            0, 8, 5, 5, rng.integers(0, 256, n), rng.integers(0, 2**15, n))
    split = burst_int_step.py_func(*args, PLAIN_VALENCE[:8] + (1, 0), 0)
    plain = burst_int_step.py_func(*args, PLAIN_VALENCE, 0)
    q = (plain[4] - 64) // 8
    assert np.array_equal(split[5], np.maximum(q, 0)) and np.array_equal(split[6], np.maximum(-q, 0))
    assert np.array_equal(plain[5], (pbar * 127) >> 15) and not plain[6].any()
    assert (q > 0).any() and (q < 0).any()
    f = burst_float_step.py_func(event, np.zeros(n), np.full(n, 0.3), np.full(n, 0.1), rng.normal(size=n), 0.9, 0.0,
                                 1.0, 5, 4.0, rng.random(n), PLAIN_VALENCE[:8] + (1, 0), 0)
    assert np.allclose(f[5] - f[6], 4.0 * f[8]) and (np.minimum(f[5], f[6]) == 0).all()


def test_program_scales_levels_and_neuron_settings():
    rule = BTSPCredit(eta=0.002, w_max=0.5, **ON_CHIP)
    chip = rule.chip_rule(ChipUnits(256.0, 1e-3, 7))
    prog = chip.program
    assert prog.dw.startswith("-") and "(w - 128) * x1 * y2" in prog.dw and "w * x2 * y2" in prog.dw
    assert "x1 * y3" in prog.dw and prog.three_factor and prog.rng_seed == 7 and prog.x1_tau == 20
    assert chip.post_neuron["plateau_split"] is True and 1 <= chip.post_neuron["valence_levels"] <= 7
    form = rule.twin_form(ChipUnits(256.0, 1e-3, 7))
    for eta in (form.eta_pot, form.eta_dep, form.eta_neg):
        assert abs(eta / 0.002 - 1) <= 0.125
    assert form.w_max == 0.5 and form.et_per_event == prog.x1_impulse / 127 and form.tau_pre == 20.0
    products = prog.products["dw"]
    levels = chip.post_neuron["valence_levels"]
    assert abs(-products[0].scale * 127 * levels / form.eta_pot - 1) < 1e-12   # the twin runs what the chip runs
    assert abs(-products[2].scale * 127 * levels / 256.0 / form.eta_neg - 1) < 1e-12


@pytest.mark.parametrize("params, words", [
    (dict(w_max=2.0), r"w_max = 2 is 512 integer weight units; allowed 0.00195 .. 0.998 weight units"),
    (dict(eta=1e-7), r"eta = 1e-07: needs .* of w\*x1\*y2.* \(at every valence level count 1..7; shown: 1\)"),
    (dict(eta=2.4e-4), r"eta = 0.00024: needs .* of x1\*y3.* \(at every valence level count 1..7; shown: 1\)"),
    (dict(e_min=0.01), r"e_min = 0.01: leave it out"),
    (dict(tau_pre=400.0), r"btsp-credit tau_pre = 400 steps; Lava's trace tau is 8-bit"),
    (dict(theta_et=0.05), r"parameter 'theta_et' = 0.05 below et_per_event = 0.25; allowed 0.25 .. 1"),
])
def test_refusals_name_the_parameter(params, words):
    with pytest.raises(RuleError, match=words):
        BTSPCredit(**{**ON_CHIP, **params}).chip_rule(ChipUnits(256.0, 1e-3, 0))


def _teacher_net(rule: BTSPCredit) -> BurstNetwork:
    """input (6 Poisson channels) -> out (8 neurons, 2 classes) with the class teacher."""
    w = np.random.default_rng(2).uniform(0.05, 0.3, (8, 6))
    return BurstNetwork(dt=1e-3, input_size=6, layers=(BurstLayer("out", 8, BurstParams(), 5),),
                        weights={("input", "out"): w}, feedback={}, rules={"W:input->out": rule.to_params()},
                        chip=ChipSettings(vth=256, rng_seed=1, teacher_layer="out", teacher_classes=2,
                                          teacher_strength=0.6, band_lo=0.0, band_hi=1.0))


@pytest.mark.parametrize("channel, sign", [(6, +1), (7, -1)])   # class 0 up: P+; class 0 down: P-
def test_twin_and_fixed_point_move_weights_alike(channel, sign):
    net = _teacher_net(BTSPCredit(eta=0.01, w_max=0.5, **ON_CHIP))
    compiled = compile_burst_network(net)
    x = (np.random.default_rng(3).random((3000, 10)) < 0.2).astype(np.uint8)
    x[:, 6:] = 0   # the teacher's request channels: up 6, down 7 (class 0), up 8, down 9 (class 1)
    x[:, channel] = 1
    fixed, twin = ChipSession(compiled.plan, threads=1), FloatTwinSession(net, compiled)
    fixed.run(x)
    twin.run(x)
    units = compiled.weight_units["W:input->out"]
    start = compiled.plan.connections[0].weights / units
    df, dt = fixed.weights("W:input->out") / units - start, twin.weights("W:input->out") - net.weights[("input", "out")]
    taught = slice(0, 4)   # class 0's population
    assert sign * df[taught].mean() > 0.02 and sign * dt[taught].mean() > 0.02
    assert np.corrcoef(df[taught].ravel(), dt[taught].ravel())[0, 1] > 0.5
    if sign > 0:   # potentiation is bounded by w_max
        assert fixed.weights("W:input->out").max() <= 128 and twin.weights("W:input->out").max() <= 0.5 + 1e-9


def test_chip_settings_travel_through_nir_and_compile_with_them(tmp_path):
    from neurolearn.nir import read, write

    net = _teacher_net(BTSPCredit(eta=0.01, **ON_CHIP))
    write(tmp_path / "t.nir", to_nir(net))
    again = from_nir(read(tmp_path / "t.nir"), file="t.nir")
    assert again.chip == net.chip
    plan = compile_burst_network(again).plan
    assert plan.teacher.classes == 2 and plan.teacher.hi == 4 * 256 and plan.input_size == 6 + 4
    assert plan.layer("out").vth == 256 and plan.learning["W:input->out"].program.rng_seed == 1
    with pytest.raises(QuantizationError, match=r"parameter 'chip': the network records how it compiles; vth given as "
                                                r"well"):
        compile_burst_network(again, vth=64)
    with pytest.raises(QuantizationError, match=r"teacher_strength, teacher_classes given as well"):
        compile_burst_network(again, teacher_strength=0.3, teacher_classes=2)
    with pytest.raises(InputError, match=r"burst network: chip.vth = 0; allowed an integer 1 .. 65536"):
        BurstNetwork(**{**again.__dict__, "chip": again.chip._replace(vth=0)})
    with pytest.raises(InputError, match=r"chip.teacher_layer = \['out'\]; allowed a layer's name"):
        BurstNetwork(**{**again.__dict__, "chip": again.chip._replace(teacher_layer=["out"])})
    as_numpy = BurstNetwork(**{**again.__dict__, "chip": again.chip._replace(vth=np.int64(256), band_hi=np.float64(1))})
    assert type(as_numpy.chip.vth) is int and compile_burst_network(as_numpy).plan.to_json()   # plain values


def test_chip_settings_need_a_learning_build(tmp_path):
    from neurolearn.compile.build import compile_model
    from neurolearn.nir import write

    net = _teacher_net(BTSPCredit(**ON_CHIP))
    write(tmp_path / "t.nir", to_nir(BurstNetwork(**{**net.__dict__, "rules": {}})))
    with pytest.raises(NIRFormatError, match=r"t.nir: parameter 'chip': how a burst network with learning rules "
                                             r"compiles; this graph has none"):
        compile_model(tmp_path / "t.nir", tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("edit, words", [
    ({"vth": "256"}, r"parameter 'chip.vth' = '256'; allowed an integer 1 .. 65536"),
    ({"round_even": 1}, r"parameter 'chip.round_even' = 1; allowed true or false"),
    ({"band_lo": 0.5, "band_hi": 0.1}, r"parameter 'chip.band_hi' = 0.1; allowed a number band_lo .. 1"),
    ({"teacher_layer": "hidden"}, r"parameter 'chip.teacher_layer' = 'hidden'; allowed a layer's name, or ''"),
    ({"teacher_classes": 3}, r"parameter 'chip.teacher_classes' = 3; allowed an integer >= 1 that divides"),
    ({"teacher_strength": 0.0}, r"parameter 'chip.teacher_strength' = 0.0; allowed a finite number > 0"),
    ({"teacher_layer": ""}, r"parameter 'chip.teacher_classes' = 2; allowed .* \(1 without a teacher\)"),
    ({"speed": 3}, r"parameter 'chip' = .*; allowed a dict of vth, rng_seed"),
])
def test_malformed_chip_settings_are_one_nir_error(edit, words):
    graph = to_nir(_teacher_net(BTSPCredit(**ON_CHIP)))
    graph.metadata["neurolearn"]["chip"].update(edit)
    with pytest.raises(NIRFormatError, match=rf"t.nir: {words}"):
        from_nir(graph, file="t.nir")


ARGS = ["train", "--rule", "btsp-credit", "--task", "digits", "--spiking", "--on-chip", "--hidden", "12",
        "--epochs", "1", "--train-samples", "12", "--test-samples", "8", "--seed", "3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("btsp") / "run"
    assert main(ARGS + ["-o", str(out)]) == 0
    return out


def test_train_writes_a_run_that_neurolearn_compile_rebuilds(run, tmp_path):
    from neurolearn.compile.build import compile_model

    m = json.loads((run / "metrics.json").read_text())
    assert m["config"]["rule"] == "btsp-credit" and m["rules"]["W:h1->out"]["rule"] == "btsp-credit"
    built = json.loads((run / "build" / "plan.json").read_text())
    again = json.loads(compile_model(run / "model.nir", tmp_path / "again").plan.to_json())
    assert {k for k in built if built[k] != again[k]} == {"source"}
    assert all(L["burst"]["plateau_split"] for L in built["layers"])


@pytest.mark.lava
def test_verify_replays_btsp_credit_in_lava(run, capsys):
    capsys.readouterr()
    assert main(["verify", str(run / "build"), "--learning", "--samples", "2"]) == 0
    assert "all 2 samples bit-identical (events, bursts, weights)" in capsys.readouterr().out


def test_btsp_credit_trains_on_chip_classification_only(tmp_path, capsys):
    args = ["train", "--rule", "btsp-credit", "--task", "digits", "--spiking", "-o", str(tmp_path / "r")]
    assert main(args) == 2
    assert "--spiking trains --rule burstprop (and, with --on-chip on digits or fashion-mnist, btsp-credit), not " \
           "btsp-credit" in capsys.readouterr().err
