"""Rules as plugins: the registry, parameter refusals (each parameter of each rule, one line naming it),
params -> NIR -> ``neurolearn compile`` -> learning build for every registered rule (or the one-line refusal
naming file, connection and what the plan lacks), and ``import neurolearn.rules`` without torch."""
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.errors import RuleError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nir import read, write
from neurolearn.nir.burst_encoding import to_nir
from neurolearn.nir.extension import block
from neurolearn.rules import (
    BTSP,
    RULES,
    STDP,
    BurstpropSpiking,
    ChipUnits,
    DendriticBalance,
    HebbianBaseline,
    SimpleBTSP,
    registered_rules,
    rule_from_params,
)
from neurolearn.sims.learning import simulate_learning

REPO = Path(__file__).resolve().parents[2]


def test_import_rules_loads_no_torch():
    code = "import sys, neurolearn.rules; print(sorted(m for m in ('torch', 'lava') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_registry_names_and_round_trip():
    assert set(RULES) == {"burstprop-spiking", "stdp", "btsp", "btsp-simple", "btsp-credit", "dendritic-balance",
                          "hebbian-baseline"}
    for name, cls in RULES.items():
        rule = cls()
        params = rule.to_params()
        assert params["rule"] == name and rule_from_params(params) == rule
        assert all(v is not None for v in params.values())
    before = {"rule": "burstprop-spiking", "eta": 0.02, "tau_pre": 20.0, "tau_avg": 1500.0, "p_init": 0.3,
              "rate_init": 0.02}   # as files held it before the on-chip classification form
    assert BurstpropSpiking().to_params() == {**before, "valence": "burst", "pbar": "average",   # as files hold it
                                              "homeo_gain": 1.0, "homeo_cap": 1.0, "tau_rate": 1024.0, "dead_zone": 0.0,
                                              "valence_halving": 0}
    assert rule_from_params(before) == BurstpropSpiking()   # older files read as the plain rule


def bad_values(allowed):
    """Values outside ``allowed``: the wrong type, and one beyond each bound."""
    if allowed.choices:
        return ["nonsense", 1.0]
    out = ["text", True, math.nan]
    if allowed.gt is not None or allowed.ge is not None:
        out.append((allowed.gt if allowed.gt is not None else allowed.ge) - 5)
    if allowed.lt is not None or allowed.le is not None:
        out.append((allowed.lt if allowed.lt is not None else allowed.le) + 5)
    if not allowed.optional:
        out.append(None)
    return out


CASES = [(name, f.name, value) for name, cls in sorted(RULES.items()) for f in fields(cls)
         for value in bad_values(f.metadata["allowed"])]


@pytest.mark.parametrize("name, param, value", CASES, ids=[f"{n}.{p}={v!r}" for n, p, v in CASES])
def test_from_params_refuses_each_bad_parameter(name, param, value):
    where = "m.nir: node 'W:input->hidden'"
    with pytest.raises(RuleError) as exc:
        rule_from_params({"rule": name, param: value}, where=where)
    msg = str(exc.value)
    allowed = next(f for f in fields(RULES[name]) if f.name == param).metadata["allowed"]
    assert "\n" not in msg and msg.startswith(where) and f"parameter '{param}' = {value!r}" in msg, msg
    assert f"allowed {allowed}" in msg, msg


@pytest.mark.parametrize("params, words", [
    ({"rule": "stdp", "tau": 3}, ["parameter 'tau' is not one of its parameters", "tau_plus"]),
    ({"rule": "stpd"}, ["parameter 'rule' = 'stpd'", "registered rules: btsp, btsp-credit, btsp-simple"]),
    ({"eta": 1.0}, ["parameter 'rule' = None"]),
    ("stdp", ["parameter 'rule' = None"]),
    ({"rule": "stdp", "a_plus": 0, "a_minus": 0}, ["'a_plus' = 'a_minus' = 0"]),
    ({"rule": "burstprop-spiking", "e_min": 0.1, "e_max": 0.05}, ["'e_min' = 0.1 must be below e_max"]),
])
def test_rule_entries_refused_in_one_line(params, words):
    with pytest.raises(RuleError) as exc:
        rule_from_params(params, where="f.nir: node 'W:a->b'")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("f.nir: node 'W:a->b': ") and all(w in msg for w in words), msg


def test_numpy_scalars_from_hdf5_are_plain_values():
    rule = rule_from_params({"rule": np.str_("stdp"), "a_plus": np.float64(0.02), "tau_plus": np.int64(7),
                             "tau_minus": np.array(9.0)})
    assert rule == STDP(a_plus=0.02, tau_plus=7, tau_minus=9.0) and type(rule.a_plus) is float


# ---- params -> NIR -> compile -> learning build -------------------------------------------------------

def burst_net(rules: dict, dt: float = 1e-3, seed: int = 0) -> BurstNetwork:
    """input 6 -> hidden 5 -> out 4, out's bursts back to hidden, ``rules`` by connection name."""
    rng = np.random.default_rng(seed)
    p = BurstParams(beta=0.8, beta_d=0.8, burst_offset=0.5)
    return BurstNetwork(dt=dt, input_size=6, layers=(BurstLayer("hidden", 5, p, 1), BurstLayer("out", 4, p, 2)),
                        weights={("input", "hidden"): rng.uniform(0, 0.8, (5, 6)),
                                 ("hidden", "out"): rng.uniform(0, 0.8, (4, 5))},
                        feedback={("out", "hidden"): rng.normal(0, 1, (5, 4))}, rules=rules)


def write_net(tmp_path, rules: dict, dt: float = 1e-3) -> Path:
    path = tmp_path / "m.nir"
    write(path, to_nir(burst_net(rules, dt)))
    return path


TWO_FACTOR = {
    "burstprop": (BurstpropSpiking(eta=0.01), BurstpropSpiking(eta=0.02, tau_pre=12.0)),
    "stdp": (STDP(a_plus=0.02, a_minus=0.025), STDP(a_plus=0.01, tau_minus=10.0)),
    "hebbian": (HebbianBaseline(eta=0.02, tau_x=8.0), HebbianBaseline(eta=0.03, eta_decay=0.008)),
    "balance": (DendriticBalance(eta=0.02, baseline=0.5), DendriticBalance(eta=0.02, connection="feedforward")),
    "mixed": (STDP(a_plus=0.02, a_minus=0.025), BurstpropSpiking(eta=0.01)),
}


@pytest.mark.parametrize("case", sorted(TWO_FACTOR))
def test_params_to_nir_to_learning_build(case, tmp_path):
    """Every rule that runs on burst layers: its params go through NIR and compile into a learning build
    whose programs are the rules' own, and the build runs (weights change)."""
    rules = dict(zip(("W:input->hidden", "W:hidden->out"), TWO_FACTOR[case]))
    path = write_net(tmp_path, {k: r.to_params() for k, r in rules.items()})
    assert registered_rules(block(read(path))["rules"], str(path)) == rules   # HDF5 round trip
    build = compile_model(path, tmp_path / "b")
    plan = build.plan
    assert set(plan.learning) == set(rules) and all(L.burst is not None for L in plan.layers)
    for name, rule in rules.items():
        c = next(c for c in plan.connections if c.name == name)
        units = ChipUnits(plan.layer(c.target).vth / 2**c.weight_exp, plan.dt)
        assert plan.learning[name].program == rule.chip_rule(units).program
    report = (tmp_path / "b" / "report.md").read_text()
    assert all(f"{name}: " in report for name in rules)
    x = (np.random.default_rng(0).random((300, 6)) < 0.3).astype(np.uint8)
    res = simulate_learning(plan, x, record=False)
    assert any((res.synapses[n].weights[0, -1] != c.weights).any()
               for n in rules for c in plan.connections if c.name == n)


def test_burstprop_sets_its_layers_pbar():
    from neurolearn.compile.burst_mapping import compile_burst_network

    plan = compile_burst_network(burst_net({"W:hidden->out": BurstpropSpiking(p_init=0.5).to_params()})).plan
    out, hidden = plan.layer("out").burst, plan.layer("hidden").burst
    assert out.pbar_init == 2**14 and out.valence_levels > 0 and hidden.valence_levels == 0
    assert hidden.pbar_init == 2**13


@pytest.mark.parametrize("rule, dt, words", [
    (BTSP(w_max=1.5), 0.01, ["parameter 'rule' = 'btsp'", "y1 = round(IS * ", "delivered by input",
                             "routes no third factors from the input"]),
    (SimpleBTSP(), 0.01, ["parameter 'rule' = 'btsp-simple'", "delivered by input"]),
    (DendriticBalance(eta=0.02, form="dendrite"), 1e-3, ["'dendritic-balance'", "y2 = round(max(u, 0)",
                                                         "delivered by post neuron"]),
    (BTSP(w_max=1.5), 1e-3, ["tau_et = 1.664 s is 1664 steps at dt = 0.001 s"]),
    (BTSP(), 0.01, ["BTSP: weight_scale = 128", "must be in 0.5..255"]),
    (BurstpropSpiking(e_min=0.01), 1e-3, ["e_min = 0.01: the homeostasis term needs"]),
    (STDP(a_plus=1e-5), 1e-3, ["STDP a_plus = 1e-05"]),
])
def test_rules_that_cannot_run_in_a_learning_build_are_refused(rule, dt, words, tmp_path, capsys):
    path = write_net(tmp_path, {"W:input->hidden": rule.to_params()}, dt)
    assert main(["compile", str(path), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {path}: node 'W:input->hidden'"), err
    assert all(w in err for w in words) and "internal error" not in err, err
    assert not (tmp_path / "b").exists()


def test_bad_rule_in_nir_is_one_line_via_cli(tmp_path, capsys):
    """The issue's case: tau_pre = -5 in the file -> one RuleError line naming file, connection, parameter, range."""
    params = {**BurstpropSpiking().to_params(), "tau_pre": -5}
    path = write_net(tmp_path, {"W:input->hidden": params, "W:hidden->out": BurstpropSpiking().to_params()})
    assert main(["compile", str(path), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path}: node 'W:input->hidden': rule 'burstprop-spiking': parameter 'tau_pre' = -5; " \
                  "allowed > 0 steps"
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("rules, words", [
    ({"Y:out->hidden": STDP().to_params(), "W:hidden->out": STDP().to_params()},
     ["node 'Y:out->hidden': parameter 'rule' = 'stdp'", "not an event weight", "rules apply to W:"]),
    ({"W:input->hidden": {"rule": "burstprop", "lr": 0.1}, "W:hidden->out": STDP().to_params()},
     ["node 'W:input->hidden': parameter 'rule' = 'burstprop'; registered rules:"]),
    ({"W:input->hidden": BurstpropSpiking().to_params(), "W:hidden->out": BurstpropSpiking().to_params(),
      "W:input->out": BurstpropSpiking().to_params()}, ["'W:input->out' is not an event weight"]),
])
def test_learning_build_refuses_rules_it_cannot_place(rules, words, tmp_path, capsys):
    path = write_net(tmp_path, rules)
    assert main(["compile", str(path), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_rate_form_rules_still_compile_for_inference(tmp_path):
    """Rules registered nowhere here (a rate-trained network's "burstprop") and metadata entries (a training
    run's "task") are not learning rules: the burst network compiles for inference and the report says why."""
    path = write_net(tmp_path, {"W:input->hidden": {"rule": "burstprop", "lr": 0.1}, "task": {"name": "xor"}})
    build = compile_model(path, tmp_path / "b")
    assert not build.plan.learning and all(L.burst is None for L in build.plan.layers)
    report = (tmp_path / "b" / "report.md").read_text()
    assert "learning rule 'burstprop' (no learning-engine form; registered rules: btsp" in report


def test_array_valued_parameter_is_refused_on_one_line():
    with pytest.raises(RuleError) as exc:
        rule_from_params({"rule": "stdp", "a_plus": np.ones((40, 40))})
    assert "\n" not in str(exc.value) and "parameter 'a_plus' = array([[1., 1.," in str(exc.value)


@pytest.mark.lava
def test_two_factor_learning_build_from_nir_bit_exact_with_lava(tmp_path):
    """STDP and dendritic balance compiled from a .nir file onto BurstLIF layers: Lava equals neurolearn."""
    from neurolearn.lava.runner import simulate_learning_lava
    from tests.sims.test_learning_engine import assert_same_bits

    rules = {"W:input->hidden": STDP(a_plus=0.02, a_minus=0.025).to_params(),
             "W:hidden->out": DendriticBalance(eta=0.02, baseline=0.5).to_params()}
    plan = compile_model(write_net(tmp_path, rules), tmp_path / "b").plan
    x = (np.random.default_rng(1).random((80, 6)) < 0.4).astype(np.uint8)
    ours = simulate_learning(plan, x)
    assert all((ours.synapses[n].weights[0, -1] != ours.synapses[n].weights[0, 0]).any() for n in rules)
    assert_same_bits(ours, simulate_learning_lava(plan, x), plan.learning)


def test_rate_form_rule_names_are_the_training_rules():
    """The rate-form rules the compiler knows (and compiles for inference) are exactly what `neurolearn train`
    offers and records."""
    from neurolearn.rules.plugin import RATE_FORM_RULES
    from neurolearn.train.catalog import RATE_RULE_NAMES

    assert RATE_FORM_RULES == RATE_RULE_NAMES and not set(RATE_FORM_RULES) & set(RULES)


def test_a_rule_that_writes_a_pair_form_has_one():
    from dataclasses import dataclass

    from neurolearn.rules.plugin import RULES, LearningRule, PairForm

    @dataclass(frozen=True)
    class Paired(LearningRule):
        def pair_form(self):
            return PairForm(1.0, 0.0, 0.0, 0.0, 10.0, 10.0, 0.0)

    assert Paired.has_pair_form and not LearningRule.has_pair_form
    assert {name for name, cls in RULES.items() if cls.has_pair_form} == {"dendritic-balance", "hebbian-baseline"}
