"""Without Lava (any Python but 3.10 with neurolearn[lava]): what needs Lava says so in one line and exits 3; the
rest works. Lava is hidden where it is installed (``sys.modules['lava'] = None``: not importable, not found), so
these boundaries are checked on every Python."""
import sys

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.errors import BackendUnavailableError
from tests.helpers import feedforward, save

EXTRA = "neurolearn[lava] (lava-nc 0.10.0, Python 3.10 only)"


@pytest.fixture(autouse=True)
def no_lava(monkeypatch):
    monkeypatch.setitem(sys.modules, "lava", None)


@pytest.fixture
def build(tmp_path):
    model = save(feedforward(), tmp_path / "m.nir")
    assert main(["compile", str(model), "-o", str(tmp_path / "build")]) == 0
    return tmp_path / "build"


@pytest.fixture
def learning_build(tmp_path):
    """A learning build carrying its schedule (what 'train --spiking --on-chip' writes), one epoch."""
    from neurolearn.compile.build import write_learning_build
    from neurolearn.train.onchip import OnChipConfig, compile_xor

    compiled, schedule, _ = compile_xor(0, OnChipConfig(epochs=1, steps_eval=10))
    model = save(feedforward(), tmp_path / "m.nir")   # copied into the build, never read here
    return write_learning_build(tmp_path / "lb", model, compiled.plan, compiled.notes, schedule)


def one_line_exit_3(args, capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and err[0].startswith("error: "), (code, err)
    assert EXTRA in err[0], err[0]
    return err[0]


def test_require_lava_names_the_extra():
    from neurolearn.lava.graph import lava_available, require_lava

    assert not lava_available()
    with pytest.raises(BackendUnavailableError) as err:
        require_lava()
    assert err.value.exit_code == 3 and EXTRA in str(err.value) and "\n" not in str(err.value)


def test_verify_build_needs_lava(build, capsys):
    assert "the Lava backend needs" in one_line_exit_3(["verify", str(build), "--steps", "10"], capsys)


def test_verify_nir_file_needs_lava(tmp_path, capsys):
    one_line_exit_3(["verify", str(save(feedforward(), tmp_path / "m.nir")), "--steps", "10"], capsys)


def test_verify_learning_build_needs_lava(learning_build, capsys):
    one_line_exit_3(["verify", str(learning_build), "--learning", "--epochs", "1"], capsys)


@pytest.mark.parametrize("which", ["plain", "learning"])
def test_simulate_with_lava_needs_lava(which, build, learning_build, tmp_path, capsys):
    target = build if which == "plain" else learning_build
    one_line_exit_3(["simulate", str(target), "--backend", "lava", "--steps", "10", "-o", str(tmp_path / "o.npz")],
                    capsys)
    assert not (tmp_path / "o.npz").exists()


def test_deploy_says_what_is_missing_and_writes_the_bundle(build, tmp_path, capsys):
    msg = one_line_exit_3(["deploy", str(build), "--target", "loihi2", "-o", str(tmp_path / "bundle")], capsys)
    assert "nothing was deployed" in msg and "lava-loihi" in msg
    assert (tmp_path / "bundle" / "run_on_loihi.py").is_file() and (tmp_path / "bundle" / "plan.json").is_file()


@pytest.mark.parametrize("backend", ["fixed", "float"])
def test_simulate_without_lava_runs(backend, build, tmp_path, capsys):
    assert main(["simulate", str(build), "--backend", backend, "--steps", "10", "-o", str(tmp_path / "o.npz")]) == 0
    assert np.load(tmp_path / "o.npz")[f"{backend_output(build)}/spikes"].shape[:2] == (1, 10)


def backend_output(build):
    from neurolearn.compile.build import load_build

    return load_build(build).plan.outputs[0]


def test_learning_build_simulates_without_lava(learning_build, tmp_path, capsys):
    assert main(["simulate", str(learning_build), "--backend", "fixed", "--steps", "20", "-o",
                 str(tmp_path / "o.npz")]) == 0
    assert capsys.readouterr().out.startswith("learning:")
