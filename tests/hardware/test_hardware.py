"""Hardware targeting: descriptions as data, mapping, fit check, deploy up to the missing-runtime boundary."""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.errors import HardwareFitError
from neurolearn.hardware.description import CHIP_LIMITS, DESCRIPTIONS, DescriptionError, known_targets, load_target
from neurolearn.hardware.fit import check_demands, check_fit
from neurolearn.hardware.mapper import LayerDemand, demands_from_plan, map_network
from neurolearn.ir.plan import HALVING_RANGE, HALVINGS_MAX, ConnectionPlan, LayerPlan, Plan
from neurolearn.lava.loihi_runtime import runtime_status
from tests.helpers import feedforward, save


def dense_plan(sizes, density=1.0, seed=0, bits=8):
    rng = np.random.default_rng(seed)
    layers = tuple(LayerPlan(f"l{i}", n, 0, 0, 100, np.zeros(n, int), np.zeros(n, int))
                   for i, n in enumerate(sizes[1:]))
    conns = []
    for i, n in enumerate(sizes[1:]):
        w = 2 * rng.integers(-60, 60, (n, sizes[i]))
        w[rng.random(w.shape) >= density] = 0
        conns.append(ConnectionPlan(f"c{i}", "in" if i == 0 else f"l{i - 1}", f"l{i}", w, num_weight_bits=bits))
    return Plan(1e-3, "in", sizes[0], layers, tuple(conns), (layers[-1].name,))


def xor_plan(n=500, in_degree=100, seed=0):
    """The shape of Payeur et al.'s spiking XOR: inputs 1, 2 -> hidden 1, 2 -> output, 500 each."""
    rng = np.random.default_rng(seed)
    names = ["in2", "h1", "h2", "out"]
    layers = tuple(LayerPlan(k, n, 0, 0, 100, np.zeros(n, int), np.zeros(n, int)) for k in names)
    def w():
        m = rng.integers(1, 120, (n, n))
        m[rng.random((n, n)) >= in_degree / n] = 0
        return m
    conns = [ConnectionPlan("in1->h1", "in1", "h1", w()), ConnectionPlan("in1->h2", "in1", "h2", w()),
             ConnectionPlan("in2->h1", "in2", "h1", w()), ConnectionPlan("in2->h2", "in2", "h2", w()),
             ConnectionPlan("h1->out", "h1", "out", w()), ConnectionPlan("h2->out", "h2", "out", w())]
    return Plan(1e-3, "in1", n, layers, tuple(conns), ("out",))


def test_every_description_loads_and_every_number_has_a_source():
    names = known_targets()
    assert {"loihi1", "loihi2", "oheo-gulch", "kapoho-point"} <= set(names)
    for name in names:
        t = load_target(name)
        assert t.chips >= 1 and t.source
        for key in CHIP_LIMITS:
            assert t.chip.limits[key].source.strip(), (name, key)
    assert load_target("loihi2", "kapoho-point").cores == 8 * 128


def test_unknown_target_and_board_list_the_known_ones():
    with pytest.raises(HardwareFitError, match="unknown target 'loihi9'; known chips: loihi1, loihi2; known boards"):
        load_target("loihi9")
    with pytest.raises(HardwareFitError, match="unknown board 'nope'; known boards: .*kapoho-point"):
        load_target("loihi2", "nope")
    with pytest.raises(HardwareFitError, match="carries loihi1 chips, not loihi2"):
        load_target("loihi2", "kapoho-bay")


@pytest.fixture
def descriptions(tmp_path):
    d = tmp_path / "desc"
    shutil.copytree(DESCRIPTIONS, d)
    return d


def test_description_with_missing_field_is_named(descriptions):
    data = json.loads((descriptions / "loihi2.json").read_text())
    del data["limits"]["neurons_per_core"]
    (descriptions / "loihi2.json").write_text(json.dumps(data))
    with pytest.raises(DescriptionError, match=r"loihi2.json: field 'limits.neurons_per_core' missing"):
        load_target("loihi2", directory=descriptions)


@pytest.mark.parametrize("field,value,match", [
    ("cores_per_chip", {"value": "many", "source": "x"}, "is not an integer"),
    ("cores_per_chip", {"value": 0, "source": "x"}, "allowed >= 1"),
    ("weight_bits", {"value": 8}, r"must be \{\"value\": int, \"source\": str\}"),
    ("state_bits", {"value": 24, "source": " "}, "has no source"),
])
def test_description_with_invalid_field_is_named(descriptions, field, value, match):
    data = json.loads((descriptions / "loihi1.json").read_text())
    data["limits"][field] = value
    (descriptions / "loihi1.json").write_text(json.dumps(data))
    with pytest.raises(DescriptionError, match=f"loihi1.json: field 'limits.{field}'.*{match}"):
        load_target("loihi1", directory=descriptions)


def test_board_naming_an_unknown_chip(descriptions):
    (descriptions / "odd.json").write_text(json.dumps({"kind": "board", "name": "odd", "title": "t",
                                                       "chip": "loihi7", "chips": {"value": 2, "source": "s"}}))
    with pytest.raises(DescriptionError, match="odd.json: field 'chip' = 'loihi7'"):
        load_target("odd", directory=descriptions)


def placed_exactly_once(placement, plan):
    seen = {layer.name: np.zeros(layer.size, int) for layer in plan.layers}
    for core in placement.cores:
        for k in core.chunks:
            seen[k.layer][k.start:k.stop] += 1
    return all(np.all(v == 1) for v in seen.values())


@pytest.mark.parametrize("name,plan", [
    ("digits 64-48-10", dense_plan([64, 48, 10])),
    ("fashion-mnist 784-500-500-10", dense_plan([784, 500, 500, 10])),
    ("xor 5x500", xor_plan()),
])
@pytest.mark.parametrize("target", ["loihi2", "loihi1"])
def test_reference_networks_map_within_lower_bound_plus_10_percent(name, plan, target):
    t = load_target(target)
    report = check_fit(plan, t)
    p = report.placement
    assert report.fits, report.problems
    assert placed_exactly_once(p, plan)
    assert len(p.cores) <= max(p.lower_bound, int(p.lower_bound * 1.1))
    chip = t.chip
    for core in p.cores:
        assert core.neurons <= chip.neurons_per_core
        assert core.memory_bits <= chip.synaptic_memory_bytes_per_core * 8
        assert core.fan_in <= chip.axons_in_per_core


def test_large_layer_is_split_across_cores_and_chips():
    t = load_target("loihi1", "kapoho-bay")
    d = LayerDemand("big", 200_000, np.full(200_000, 64), fan_in=64)
    p = map_network([d], t)
    assert len(p.cores) == 200_000 // 1024 + 1 == p.lower_bound
    assert {c.chip for c in p.cores} == {0, 1}
    assert sum(c.neurons for c in p.cores) == 200_000


def test_network_needing_more_cores_than_the_target_does_not_fit():
    d = [LayerDemand("huge", 2_000_000, np.full(2_000_000, 8), fan_in=1)]
    one_chip = check_demands(d, load_target("loihi2"))
    assert not one_chip.fits
    assert one_chip.problems == ("cores: needs 245, loihi2 has 128 (1 chip(s) x 128)",)
    assert check_demands(d, load_target("loihi2", "kapoho-point")).fits


def test_fan_in_beyond_a_core_is_named():
    d = [LayerDemand("wide", 10, np.full(10, 8), fan_in=5000)]
    with pytest.raises(HardwareFitError, match="layer 'wide': fan-in 5000 input axons; a loihi1 core has 4096"):
        map_network(d, load_target("loihi1"))


def test_neuron_with_more_synapses_than_a_core_holds_is_named():
    d = [LayerDemand("fat", 3, np.full(3, 2_000_000), fan_in=10)]
    with pytest.raises(HardwareFitError, match="layer 'fat': one neuron needs 250000 bytes of synaptic memory; "
                                               "a loihi2 core has 131072"):
        map_network(d, load_target("loihi2"))


def test_fit_cli_prints_problems_and_exits_1(tmp_path, capsys, monkeypatch):
    model = save(feedforward(), tmp_path / "m.nir")
    main(["compile", str(model), "-o", str(tmp_path / "b")])
    monkeypatch.setattr("neurolearn.hardware.fit.STATE_BITS", 32)  # a plan wider than the chip's state
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi2"]) == 1
    assert "DOES NOT FIT:\n  state: the plan uses 32-bit u and v; loihi2 has 24 bits" in capsys.readouterr().out


def test_weights_wider_than_the_chip_are_named(descriptions):
    data = json.loads((descriptions / "loihi2.json").read_text())
    data["limits"]["weight_bits"]["value"] = 6
    (descriptions / "loihi2.json").write_text(json.dumps(data))
    with pytest.raises(HardwareFitError, match="connection 'c0': weights of 8 bits exceed loihi2's 6-bit"):
        demands_from_plan(dense_plan([4, 3]), load_target("loihi2", directory=descriptions))


def test_compile_with_target_writes_placement_and_refuses_misfits(tmp_path, capsys):
    model = save(feedforward(), tmp_path / "m.nir")
    assert main(["compile", str(model), "-o", str(tmp_path / "b"), "--target", "loihi2",
                 "--board", "oheo-gulch"]) == 0
    placement = json.loads((tmp_path / "b" / "placement.json").read_text())
    assert placement["cores_used"] == 1 and placement["target"] == "oheo-gulch"
    assert (tmp_path / "b" / "fit.png").stat().st_size > 1000
    assert "fits" in capsys.readouterr().out


def test_fit_cli_exit_codes(tmp_path, capsys):
    model = save(feedforward(), tmp_path / "m.nir")
    main(["compile", str(model), "-o", str(tmp_path / "b")])
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi1", "--plot", str(tmp_path / "u.png")]) == 0
    assert (tmp_path / "u.png").exists()
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi5"]) == 2
    assert "unknown target 'loihi5'" in capsys.readouterr().err


def test_runtime_is_absent_here_and_says_what_is_missing():
    status = runtime_status()
    assert not status.available
    assert any("lava-loihi" in m for m in status.missing)
    assert any("no Loihi board is reachable" in m for m in status.missing)


def test_deploy_without_runtime_writes_a_complete_bundle(tmp_path, capsys):
    model = save(feedforward(), tmp_path / "m.nir")
    main(["compile", str(model), "-o", str(tmp_path / "b")])
    assert main(["deploy", str(tmp_path / "b"), "--target", "loihi2", "-o", str(tmp_path / "bundle")]) == 3
    err = capsys.readouterr().err
    assert "nothing was deployed" in err and "lava-loihi" in err and str(tmp_path / "bundle") in err
    files = {p.name for p in (tmp_path / "bundle").iterdir()}
    assert files == {"model.nir", "plan.json", "report.md", "placement.json", "fit.txt", "fit.png",
                     "run_on_loihi.py", "README.md"}
    from neurolearn.compile.build import load_build

    assert load_build(tmp_path / "bundle").plan.to_json() == load_build(tmp_path / "b").plan.to_json()


@pytest.mark.lava
def test_bundle_runs_on_cpu_and_matches_the_fixed_point_simulator(tmp_path):
    import subprocess
    import sys

    from neurolearn.compile.build import load_build
    from neurolearn.sims.fixed import simulate_fixed

    model = save(feedforward(), tmp_path / "m.nir")
    main(["compile", str(model), "-o", str(tmp_path / "b")])
    main(["deploy", str(tmp_path / "b"), "--target", "loihi2", "-o", str(tmp_path / "bundle")])
    x = (np.random.default_rng(0).random((30, 12)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "run_on_loihi.py", ".", "--cpu", "--steps", "30", "--input",
                          str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")],
                         cwd=tmp_path / "bundle", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    plan = load_build(tmp_path / "bundle").plan
    want = simulate_fixed(plan, x).layers[plan.outputs[0]].spikes[0]
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")[f"{plan.outputs[0]}/spikes"], want)
    no_cpu = subprocess.run([sys.executable, "run_on_loihi.py", ".", "--steps", "5"], cwd=tmp_path / "bundle",
                            capture_output=True, text=True)
    assert no_cpu.returncode == 3 and "lava-loihi" in no_cpu.stderr


def test_fan_out_limits_neurons_per_core():
    """Each neuron of 'src' reaches all 40 cores of 'dst': a Loihi 1 core (4096 output axons) holds 102."""
    t = load_target("loihi1", "kapoho-bay")
    dst = LayerDemand("dst", 40 * 1024, np.full(40 * 1024, 8), fan_in=1000)
    src = LayerDemand("src", 1000, np.full(1000, 8), fan_in=1, targets=("dst",))
    p = map_network([src, dst], t)
    src_cores = [c for c in p.cores if any(k.layer == "src" for k in c.chunks)]
    assert max(sum(k.neurons for k in c.chunks if k.layer == "src") for c in src_cores) == 4096 // 40
    assert all(c.fan_out <= t.chip.axons_out_per_core for c in p.cores)
    # optimal here: 40 full 'dst' cores + ceil(1000 / 102) 'src' cores (the resource-sum bound says 41)
    assert len(p.cores) == 40 + 10


def test_compile_with_a_target_it_does_not_fit_writes_nothing(tmp_path):
    import dataclasses

    from neurolearn.compile.build import compile_model
    from neurolearn.hardware.description import Limit
    from neurolearn.hardware.fit import fit_files

    t = load_target("loihi2")
    tiny = dataclasses.replace(t, chip=dataclasses.replace(
        t.chip, limits={**t.chip.limits, "cores_per_chip": Limit(1, "test"), "neurons_per_core": Limit(10, "test")}))
    model = save(feedforward(), tmp_path / "m.nir")  # 16 + 5 neurons: 3 cores of 10
    with pytest.raises(HardwareFitError, match=r"does not fit loihi2: cores: needs 3, loihi2 has 1"):
        compile_model(model, tmp_path / "b", extras=fit_files(tiny, source=str(model)))
    assert not (tmp_path / "b").exists()


def learning_plan(n_in=6, n0=5, n1=4, bursts=True, learns="ff1", sign_mode="mixed", dw="2^-3 * y0 * x1"):
    """in -(ff0)-> l0 (BurstLIF) -(ff1)-> l1 (LIF); ``learns`` ('' for none) learns; l0's bursts reach l1 on a
    connection of their own."""
    from neurolearn.ir.plan import BurstPlan, Plasticity
    from neurolearn.ir.program import LearningProgram

    burst = BurstPlan(dv_d=100, lut=np.arange(256)) if bursts else None
    layers = (LayerPlan("l0", n0, 0, 0, 100, np.zeros(n0, int), np.zeros(n0, int), burst=burst),
              LayerPlan("l1", n1, 0, 0, 100, np.zeros(n1, int), np.zeros(n1, int)))
    conns = [ConnectionPlan("ff0", "in", "l0", np.full((n0, n_in), 10)),
             ConnectionPlan("ff1", "l0", "l1", np.ones((n1, n0), int))]
    if bursts:
        conns.append(ConnectionPlan("b1", "l0", "l1", np.full((n1, n0), 4), carries="bursts"))
    rule = {learns: Plasticity(LearningProgram(dw=dw, x1_impulse=8, x1_tau=4), sign_mode=sign_mode)}
    return Plan(1e-3, "in", n_in, layers, tuple(conns), ("l1",), learning=rule if learns else {})


def test_learning_plan_costs_the_hand_counted_memory_state_and_axons():
    """loihi2: a learning synapse is 9 weight bits (mixed sign) + 16 tag bits; traces 2 x 7 + 6 bits per input axon
    of the core, 3 x 7 + 6 per target neuron; BurstLIF 7 state words of 24 bits (u v v_d pbar, ebar 2, draw), LIF 2."""
    report = check_fit(learning_plan(), load_target("loihi2"))
    assert report.fits and len(report.placement.cores) == 1
    core = report.placement.cores[0]
    ff0 = 5 * 6 * 8                  # dense, positive 8-bit weights
    ff1 = 4 * 5 * (8 + 1 + 16)       # learning: dense even where a weight is 0
    b1 = 4 * 5 * 8                   # the burst connection: plain dense
    assert core.syn_bits == ff0 + ff1 + b1 == 900
    assert core.trace_bits == 5 * (2 * 7 + 6) + 4 * (3 * 7 + 6) == 208
    assert core.memory_bits == 1108
    assert core.state_words == 5 * 7 + 4 * 2 == 43
    assert core.learning_synapses == 20
    assert core.fan_in == 6 + 5 + 5 and core.fan_out == 5 * 2   # l0: an axon for its events, one for its bursts
    assert "learning 'ff1': 20 synapses x 25 bits (weight 9 + tags 16) = 62 bytes; traces 5 x 20 bits on each of " \
           "1 core(s) + 4 x 27 bits = 26 bytes; rule products dw 1 (at most 8)" in report.notes
    excitatory = check_fit(learning_plan(sign_mode="excitatory"), load_target("loihi2")).placement.cores[0]
    assert excitatory.syn_bits == 900 - 20   # no sign bit
    plain = check_fit(learning_plan(learns=""), load_target("loihi2")).placement.cores[0]
    assert (plain.syn_bits, plain.trace_bits, plain.learning_synapses) == (ff0 + 4 * 5 * 8 + b1, 0, 0)


def test_burst_state_words_follow_the_lava_model():
    """The fixed-point BurstLIF model's precisions are the bits the mapper counts (models.py, read as text)."""
    from neurolearn.hardware.mapper import BURST_STATE, LIF_STATE, NEURON_STATE

    text = (Path(__file__).parents[2] / "neurolearn/lava/processes/models.py").read_text()
    homeostatic = NEURON_STATE["BurstLIF+homeostasis"]
    for var in set(homeostatic) - set(LIF_STATE) - {"draw"}:
        found = re.search(rf"^\s+{var}: np.ndarray = LavaPyType\(np.ndarray, np.int32, precision=(\d+)\)", text, re.M)
        assert found and int(found[1]) == homeostatic[var], var
    for model, state in NEURON_STATE.items():   # every option adds to the plain BurstLIF's state
        assert model == "LIF" or state.items() >= BURST_STATE.items()
    # the halving: Lava's model reads Lava's time step; on chip each neuron counts steps modulo the plan's largest
    # halving and the halvings so far, up to HALVINGS_MAX
    halving = NEURON_STATE["BurstLIF+homeostasis+halving"]
    assert (halving["clock"], halving["halvings"]) == (HALVING_RANGE[1].bit_length(), HALVINGS_MAX.bit_length())


def test_custom_neuron_state_limits_neurons_per_core_and_loihi1_has_none():
    t = load_target("loihi2")
    p = map_network([LayerDemand("b", 5000, np.full(5000, 8), fan_in=1, model="BurstLIF")], t)
    assert [c.neurons for c in p.cores] == [2340, 2340, 320] and p.lower_bound == 3   # 16384 // 7 per core
    assert len(map_network([LayerDemand("b", 5000, np.full(5000, 8), fan_in=1)], t).cores) == 1
    with pytest.raises(HardwareFitError, match="layer 'l0': a BurstLIF neuron needs 7 state words of 24 bits; "
                                               "a loihi1 neuron holds at most 2"):
        check_fit(learning_plan(), load_target("loihi1"))


def test_too_large_learning_plan_is_refused_by_name():
    """8000 inputs learning into 600 neurons: a core keeps 8000 x 20 bits of input traces and then 4 neurons of
    8000 x 25 + 27 bits: 150 cores, and l1 (600 input axons) one more. The same weights without learning fit 16
    neurons (8000 bytes each) per core: 38 + 1 cores."""
    big = dict(n_in=8000, n0=600, n1=1, bursts=False)
    report = check_fit(learning_plan(**big, learns="ff0"), load_target("loihi2"))
    assert report.problems == ("cores: needs 151, loihi2 has 128 (1 chip(s) x 128)",)
    plain = check_fit(learning_plan(**big, learns=""), load_target("loihi2"))
    assert plain.fits and len(plain.placement.cores) == 39
    many = " + ".join(["2^-3 * y0 * x1"] * 9)
    report = check_fit(learning_plan(dw=many), load_target("loihi2"))
    assert report.problems == ("learning rule: connection 'ff1' dw has 9 products; a loihi2 rule has at most 8",)


def test_homeostatic_bias_costs_two_more_state_words():
    """A BurstLIF layer with a homeostatic bias keeps its 32-bit accumulator hb: 9 words of 24 bits, not 7."""
    from dataclasses import replace

    plan = learning_plan()
    l0 = plan.layer("l0")
    homeo = replace(plan, layers=(replace(l0, burst=replace(l0.burst, rate_target=1000, bias_gain=20,
                                                              bias_shift=12)),) + plan.layers[1:])
    report = check_fit(homeo, load_target("loihi2"))
    assert report.placement.cores[0].state_words == 5 * 9 + 4 * 2
    assert any(n.startswith("custom neuron model BurstLIF+homeostasis (l0): 5 neurons x 9 state words of 24 bits "
                            "(u, v, v_d, pbar, ebar, draw, hb)") for n in report.notes)


def test_valence_halving_costs_a_counter_word():
    """A BurstLIF layer whose valence halves keeps a step counter and its halvings: two more words (9 of 24 bits),
    also beside the homeostatic bias (11)."""
    from dataclasses import replace

    plan = learning_plan()
    l0 = plan.layer("l0")
    for extra, words, model in ((dict(), 9, "BurstLIF+halving"),
                                (dict(rate_target=1000, bias_gain=20, bias_shift=12), 11,
                                 "BurstLIF+homeostasis+halving")):
        halving = replace(plan, layers=(replace(l0, burst=replace(l0.burst, valence_halving=3600, **extra)),)
                          + plan.layers[1:])
        report = check_fit(halving, load_target("loihi2"))
        assert report.placement.cores[0].state_words == 5 * words + 4 * 2
        assert any(n.startswith(f"custom neuron model {model} (l0): 5 neurons x {words} state words")
                   and n.split("(")[2].startswith("u, v, v_d") and "clock, halvings)" in n for n in report.notes), model


def test_fit_cli_prints_learning_rows_and_deploy_refuses_in_one_line(tmp_path, capsys):
    from tests.conformance.test_backends import feature_plan

    for plan, name in ((learning_plan(), "b"), (feature_plan("class_teacher")[0], "t")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "plan.json").write_text(plan.to_json())
        (tmp_path / name / "model.nir").write_bytes(b"")
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi2"]) == 0
    out = capsys.readouterr().out
    assert "state words learning syn" in out and "138/131072" in out and "43/16384" in out
    assert "learning 'ff1': 20 synapses x 25 bits" in out
    assert "custom neuron model BurstLIF (l0): 5 neurons x 7 state words of 24 bits" in out
    assert out.rstrip().endswith("fits")
    assert main(["fit", str(tmp_path / "t"), "--target", "loihi2"]) == 0
    assert "class teacher (2 classes): on an embedded core of chip 0 (6 per loihi2), beside layer 'l0'" in \
        capsys.readouterr().out
    assert main(["deploy", str(tmp_path / "b"), "--target", "loihi2", "-o", str(tmp_path / "bundle")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "burst layers" in err and "learning" in err
    assert "nothing was deployed" in err and not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("feature", ["neuron_parameters", "reset", "start_voltage"])
def test_deploy_builds_only_what_stock_lava_runs(feature):
    """A start voltage is Lava's LIF's own argument: deployable. A per-neuron du, dv, vth or another reset needs
    neurolearn's NIRNeuron (CPU models only): refused in one line, without pointing at a fit that refuses too."""
    from neurolearn.errors import UnsupportedFeatureError
    from neurolearn.hardware.deploy import require_deployable
    from tests.conformance.test_backends import feature_plan

    plan, _ = feature_plan(feature)
    if feature == "start_voltage":
        require_deployable(plan)
        return
    with pytest.raises(UnsupportedFeatureError) as exc:
        require_deployable(plan)
    msg = str(exc.value)
    assert "NIRNeuron" in msg and "\n" not in msg and "neurolearn fit" not in msg, msg
