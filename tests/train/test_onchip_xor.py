"""The on-chip XOR: learned in fixed point and in the float twin, bit-exact with Lava, its build reloads and
verifies, and the command line's boundaries."""
import json

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.compile.build import SCHEDULE, compile_model, load_build
from neurolearn.ir.schedule import Schedule
from neurolearn.lava.runner import run_lava
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.float_twin import run_float_twin
from neurolearn.train.onchip import OnChipConfig, compile_xor, eval_rates, solved
from neurolearn.verify import compare_epochs
from tests.helpers import random_burst_net


def test_xor_learned_in_fixed_point_and_float_twin():
    compiled, schedule, net = compile_xor(0)
    fixed = run_fixed(compiled.plan, schedule)
    flt = run_float_twin(net, compiled, schedule, OnChipConfig().teacher)
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
    printed = capsys.readouterr().out   # train's NeuroBench section: the build's integers, the run's events
    assert "NeuroBench metrics" in printed and "membrane updates      n/a (voltages not recorded)" in printed
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


def test_learning_builds_refused_where_unsupported(tmp_path, capsys):
    """A learning build maps to Loihi 2 cores (fit), and is refused, one line each, by what cannot run it: deploy
    (no Loihi code for BurstLIF and the teachers), and verify without --learning."""
    from neurolearn.nir import write
    from neurolearn.nir.burst_encoding import to_nir
    from neurolearn.train.onchip import xor_network

    write(tmp_path / "m.nir", to_nir(xor_network(0)))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b"), "--target", "loihi2"]) == 0
    assert "2 BurstLIF" in capsys.readouterr().out
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi2"]) == 0
    assert "custom neuron model BurstLIF" in capsys.readouterr().out
    for cmd in (["deploy", str(tmp_path / "b"), "--target", "loihi2"],
                ["verify", str(tmp_path / "m.nir")], ["verify", str(tmp_path / "b")],
                ["verify", str(tmp_path / "b"), "--learning", "--epochs", "0"]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_train_without_epochs_uses_the_forms_default():
    """The command's default for the on-chip XOR is its configuration's (train --help says each form's)."""
    from neurolearn.train.cli import DEFAULT_EPOCHS
    from neurolearn.train.onchip import OnChipConfig

    assert DEFAULT_EPOCHS["on-chip xor"] == OnChipConfig().epochs
    assert set(DEFAULT_EPOCHS) == {"rate", "spiking", "on-chip xor", "on-chip"}
