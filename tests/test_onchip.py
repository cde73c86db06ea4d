"""On-chip learning with burst neurons: BurstLIF and BandTeacher in Lava vs neurolearn bit for bit, the
burstprop program, learning builds (save/reload), the on-chip XOR, and the errors at each boundary."""
import json

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.build import SCHEDULE, compile_model, load_build
from neurolearn.errors import QuantizationError, RuleError, ShapeError
from neurolearn.ir import plan as P
from neurolearn.ir.program import LearningProgram
from neurolearn.ir.schedule import Schedule
from neurolearn.lava.runner import run_lava, simulate_learning_lava
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.rules.plugin import ChipUnits
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.float_twin import run_float_twin
from neurolearn.sims.learning import simulate_learning
from neurolearn.train.onchip import OnChipConfig, compile_xor, eval_rates, solved
from neurolearn.verify import compare_epochs


def random_burst_net(seed: int):
    """Input -> burst (-> LIF) -> burst with random decays, tables, ports, burst feedback, an input range,
    a teacher gate and learning (the valence program into burst layers, STDP into the LIF)."""
    rng = np.random.default_rng(seed)
    n_in, sizes = int(rng.integers(3, 7)), [int(rng.integers(2, 6)) for _ in range(3)]

    def burst(i):
        lut = np.sort(rng.integers(0, 256, 256))
        return P.BurstPlan(dv_d=int(rng.integers(0, 4096)), lut=lut, lut_offset=int(rng.integers(-3000, 3000)),
                           lut_shift=int(rng.integers(0, 10)), pbar_shift=int(rng.integers(0, 9)),
                           pbar_init=int(rng.integers(0, 2**15 + 1)), valence_levels=int(rng.integers(0, 8)),
                           seed=int(rng.integers(0, 1000)))

    layers = tuple(P.LayerPlan(f"l{i}", n, du=int(rng.choice([0, 410, 4095])), dv=int(rng.integers(0, 4096)),
                               vth=int(rng.integers(10, 200)), bias_mant=rng.integers(-20, 60, n),
                               bias_exp=rng.integers(0, 3, n), burst=burst(i) if i != 1 else None)
                   for i, n in enumerate(sizes))
    w = lambda n_post, n_pre, lo=-120: rng.integers(lo, 200, (n_post, n_pre))  # noqa: E731
    conns = (P.ConnectionPlan("a", "in", "l0", w(sizes[0], n_in), input_range=(0, n_in)),
             P.ConnectionPlan("b", "l0", "l1", w(sizes[1], sizes[0])),
             P.ConnectionPlan("c", "l1", "l2", w(sizes[2], sizes[1])),
             P.ConnectionPlan("y", "l2", "l0", w(sizes[0], sizes[2], -200), port="apical", carries="bursts",
                              recurrent=True),
             P.ConnectionPlan("z", "l0", "l2", w(sizes[2], sizes[0]), port="apical", carries="bursts"),
             P.ConnectionPlan("teach", "in", "l2", np.tile([150, -150], (sizes[2], 1)), port="apical",
                              input_range=(n_in, n_in + 2)))
    valence = LearningProgram(dw=f"{int(rng.integers(1, 8))}*2^-{int(rng.integers(3, 7))} * y0 * x1 * (y1 - 64)",
                              x1_impulse=int(rng.integers(4, 30)), x1_tau=int(rng.integers(2, 40)),
                              rng_seed=int(rng.integers(0, 100)), three_factor=True)
    stdp = LearningProgram(dw="2^-3 * y0 * x1 - 2^-3 * x0 * y1", x1_impulse=12, x1_tau=8, y1_impulse=12, y1_tau=8)
    learning = {"a": P.Plasticity(valence), "c": P.Plasticity(valence), "b": P.Plasticity(stdp)}
    teacher = P.BandTeacherPlan("l2", n_in, n_in + 1, lo=int(rng.integers(0, 5)), hi=int(rng.integers(5, 15)))
    plan = P.Plan(1e-3, "in", n_in + 2, layers, conns, ("l2",), learning=learning, teacher=teacher)
    steps = 160
    x = (rng.random((steps, n_in + 2)) < 0.3).astype(np.uint8)
    x[:, n_in:] = 0
    for start in range(20, steps, 50):  # teacher requests, alternately up and down
        x[start:start + 20, n_in + (start // 50) % 2] = 1
    return plan, x


@pytest.mark.lava
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_burst_network_bit_exact_with_lava(seed):
    plan, x = random_burst_net(seed)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    for n, rec in lava.sim.layers.items():
        for k in ("spikes", "u", "v", "bursts", "v_d"):
            want = getattr(rec, k)
            if want is None:
                continue
            bad = np.argwhere(getattr(ours.sim.layers[n], k) != want)
            assert bad.size == 0, f"{n}.{k}: first mismatch at {bad[0]}"
    for n, rec in lava.synapses.items():
        for k in ("weights", "x", "y", "tx", "ty"):
            bad = np.argwhere(getattr(ours.synapses[n], k) != getattr(rec, k))
            assert bad.size == 0, f"{n}.{k}: first mismatch at {bad[0]}"
    assert ours.sim.layers["l0"].bursts.sum() > 0  # the case exercises bursts
    assert not np.array_equal(ours.synapses["a"].weights[0, -1], plan.connections[0].weights)


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


def test_plan_v2_round_trip_same_bits():
    plan, x = random_burst_net(3)
    again = P.Plan.from_json(plan.to_json())
    assert again.teacher == plan.teacher and set(again.learning) == set(plan.learning)
    a, b = simulate_learning(plan, x), simulate_learning(again, x)
    for n in a.synapses:
        assert np.array_equal(a.synapses[n].weights, b.synapses[n].weights)
    for n in a.sim.layers:
        assert np.array_equal(a.sim.layers[n].spikes, b.sim.layers[n].spikes)


def test_plan_errors_name_the_part():
    plan, _ = random_burst_net(0)
    kw = plan.__dict__
    three = P.Plasticity(LearningProgram(dw="y0 * x1 * (y1 - 64)", x1_impulse=4, three_factor=True))
    with pytest.raises(QuantizationError, match=r"connection 'b'.*three-factor.*'l1' is a plain LIF"):
        P.Plan(**{**kw, "learning": {"b": three}})
    bad = P.ConnectionPlan("q", "l1", "l2", np.ones((plan.layers[2].size, plan.layers[1].size)), carries="bursts")
    with pytest.raises(ShapeError, match="carries bursts but 'l1' is not a burst layer"):
        P.Plan(**{**kw, "connections": plan.connections + (bad,)})
    bad = P.ConnectionPlan("q", "l0", "l1", np.ones((plan.layers[1].size, plan.layers[0].size)), port="apical")
    with pytest.raises(ShapeError, match="apical dendrite of 'l1'"):
        P.Plan(**{**kw, "connections": plan.connections + (bad,)})
    with pytest.raises(QuantizationError, match=r"'valence_levels' = 9 outside \[0, 7\]"):
        P.BurstPlan(dv_d=1, lut=np.zeros(256), valence_levels=9)
    with pytest.raises(QuantizationError, match=r"layer 'h': .*'lut_shift' = 40 outside \[0, 23\]"):
        P.LayerPlan('h', 1, 0, 0, 1, [0], [0], burst=dict(dv_d=1, lut=[0] * 256, lut_shift=40))


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


def test_valence_is_unbiased_on_chip():
    """The program's weight change averages eta (B - Pbar E) Etilde: compare the fixed-point drift with
    the float rule on a single synapse driven for a long time (a steady depression would fail)."""
    compiled, schedule, net = compile_xor(0, OnChipConfig(epochs=3))
    fixed, flt = run_fixed(compiled.plan, schedule), run_float_twin(net, compiled, schedule, OnChipConfig(epochs=3).rule,
                                                                          OnChipConfig().teacher)
    name = "W:input->hidden"
    w0 = compiled.plan.connections[0].weights / compiled.weight_units[name]
    d_fixed = fixed.weights[name][-1] / compiled.weight_units[name] - w0
    d_float = flt.weights[name][-1] - net.weights[("input", "hidden")]
    assert abs(d_fixed.mean() - d_float.mean()) < 0.25 * np.abs(d_float).mean() + 0.01


def test_xor_learned_in_fixed_point_and_float_twin():
    compiled, schedule, net = compile_xor(0)
    fixed = run_fixed(compiled.plan, schedule)
    flt = run_float_twin(net, compiled, schedule, OnChipConfig().rule, OnChipConfig().teacher)
    assert solved(fixed, schedule), eval_rates(fixed, schedule)
    assert solved(flt, schedule), eval_rates(flt, schedule)


@pytest.mark.lava
def test_xor_schedule_bit_exact_with_lava_two_epochs():
    compiled, schedule, _ = compile_xor(1, OnChipConfig(epochs=2))
    rows = compare_epochs(run_fixed(compiled.plan, schedule), run_lava(compiled.plan, schedule), schedule)
    assert len(rows) == 3 and all(r.ok for r in rows)
    assert all(r.spikes["out"] == (0, 0) for r in rows)


@pytest.mark.lava
def test_train_on_chip_build_reload_and_verify(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--rule", "burstprop", "--task", "xor", "--spiking", "--on-chip", "--epochs", "2",
                 "--seed", "4", "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["fixed"]["epoch_rates"]) == 2 and (out / "onchip.png").stat().st_size > 0
    build = load_build(out / "build")
    schedule = Schedule.load(out / "build" / SCHEDULE)
    compiled, schedule0, _ = compile_xor(4, OnChipConfig(epochs=2))
    a, b = run_fixed(compiled.plan, schedule0), run_fixed(build.plan, schedule)
    assert all(np.array_equal(a.weights[n], b.weights[n]) for n in a.weights)
    assert all(np.array_equal(a.spikes[n], b.spikes[n]) for n in a.spikes)
    # the exported model.nir compiles to the same layers and programs (without the task's teacher)
    again = compile_model(out / "model.nir", tmp_path / "again").plan
    assert [L.burst.lut.tolist() for L in again.layers] == [L.burst.lut.tolist() for L in build.plan.layers]
    assert {n: p.program.dw for n, p in again.learning.items()} == \
        {n: p.program.dw for n, p in build.plan.learning.items()}
    capsys.readouterr()
    assert main(["verify", str(out / "build"), "--learning", "--epochs", "1"]) == 0
    text = capsys.readouterr().out
    assert "all 1 epochs bit-identical" in text and "W:input->hidden weights" in text


def test_cli_learning_boundaries(tmp_path, capsys):
    assert main(["train", "--rule", "burstprop", "--task", "xor", "--on-chip", "--epochs", "1",
                 "-o", str(tmp_path / "r")]) == 2
    assert "--on-chip needs --spiking" in capsys.readouterr().err
    plan, _ = random_burst_net(0)
    build = tmp_path / "b"
    build.mkdir()
    (build / "plan.json").write_text(plan.to_json())
    (build / "model.nir").write_bytes(b"")
    assert main(["verify", str(build), "--learning"]) == 2
    assert "no schedule.npz" in capsys.readouterr().err


@pytest.mark.lava
def test_burst_lif_float_model_in_lava():
    """BurstLIF's float ProcessModel (Loihi2SimCfg floating_pt) against the float equations written out."""
    from neurolearn.lava.graph import require_lava
    from neurolearn.lava.processes.process import BurstLIF
    from neurolearn.lava.runner import run_monitored

    lava = require_lava()
    rng = np.random.default_rng(5)
    steps, n_in, n = 120, 6, 4
    x = (rng.random((steps, n_in)) < 0.4).astype(np.int32)
    w, wa = rng.normal(0.4, 0.5, (n, n_in)), rng.normal(0.0, 1.5, (n, n_in))
    beta, beta_d, off, slope, k, seed = 0.9, 0.8, 0.5, 0.7, 3, 11
    neuron = BurstLIF(shape=(n,), du=1.0, dv=1 - beta, dv_d=1 - beta_d, vth=1.0, burst_offset=off,
                      burst_slope=slope, pbar_init=0.25, pbar_shift=k, valence_levels=4, seed=seed, name="b")
    for weights, port in ((w, neuron.a_in), (wa, neuron.a_apical_in)):
        src, dense = lava["RingBuffer"](data=x.T.copy()), lava["Dense"](weights=weights)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(port)
    cfg = lava["Loihi2SimCfg"](select_tag="floating_pt")
    ports = {"e": neuron.s_out, "b": neuron.s_out_burst, "vd": neuron.v_d, "y1": neuron.y1}
    got = run_monitored({"b": neuron}, ports, steps, run_cfg=cfg)
    draws = np.random.default_rng(seed).random((steps, 2, n))
    v, vd, pbar, a, a_ap = np.zeros(n), np.zeros(n), np.full(n, 0.25), np.zeros(n), np.zeros(n)
    for t in range(steps):
        v = v * (1 - (1 - beta)) + a   # the model's v * (1 - dv), as Lava's float LIF
        e = v > 1.0
        v[e] = 0
        vd = vd * (1 - (1 - beta_d)) + a_ap
        b = e & (draws[t, 0] < 1 / (1 + np.exp(-(vd - off) / slope)))
        y1 = 64 + 8 * 4 * (b - pbar)
        pbar = np.where(e, pbar + (b - pbar) * 2.0**-k, pbar)
        np.testing.assert_array_equal(got["e"][t].astype(bool), e, err_msg=f"events, step {t}")
        np.testing.assert_array_equal(got["b"][t].astype(bool), b, err_msg=f"bursts, step {t}")
        np.testing.assert_allclose(got["vd"][t], vd, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got["y1"][t], y1, rtol=1e-12)
        a, a_ap = w @ x[t], wa @ x[t]  # the Dense delivers next step
    assert got["b"].sum() > 0 and got["e"].sum() > got["b"].sum()


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


def test_burst_table_in_voltage_units_whatever_the_threshold():
    from dataclasses import replace

    from neurolearn.compile.burst_mapping import compile_burst_network
    from neurolearn.train.onchip import xor_network

    net = xor_network(0)
    layers = tuple(replace(L, params=L.params._replace(threshold=2.0)) for L in net.layers)
    plan = compile_burst_network(replace(net, layers=layers), vth=128).plan
    hidden = plan.layer("hidden")
    assert hidden.vth == 256 and hidden.burst.lut_offset == round(net.layers[0].params.burst_offset * 128 * 64)


def test_plan_version_1_still_reads(small_plan):
    d = json.loads(small_plan.to_json())
    d["version"] = 1
    for key in ("learning", "teacher"):
        del d[key]
    for layer in d["layers"]:
        del layer["burst"]
    for c in d["connections"]:
        for key in ("port", "carries", "input_range"):
            del c[key]
    again = P.Plan.from_dict(d)
    assert again.learning == {} and all(L.burst is None for L in again.layers)
    assert [c.port for c in again.connections] == ["soma"] * len(again.connections)


def test_learning_builds_refused_where_unsupported(tmp_path, capsys):
    from neurolearn.nir import write
    from neurolearn.nir.burst_encoding import to_nir
    from neurolearn.train.onchip import xor_network

    write(tmp_path / "m.nir", to_nir(xor_network(0)))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b"), "--target", "loihi2"]) == 2
    assert "backend 'loihi'" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0
    assert "2 BurstLIF" in capsys.readouterr().out
    for cmd in (["fit", str(tmp_path / "b"), "--target", "loihi2"], ["deploy", str(tmp_path / "b"), "--target",
                                                                     "loihi2"],
                ["verify", str(tmp_path / "m.nir")], ["verify", str(tmp_path / "b")],
                ["verify", str(tmp_path / "b"), "--learning", "--epochs", "0"]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
