"""The neurolearn command: each subcommand, and one clear line for every kind of bad input."""
import re
import subprocess
import sys

import nir
import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.nir import write
from tests.helpers import feedforward, lif_graph, recurrent, save


@pytest.fixture
def build(tmp_path):
    model = save(feedforward(), tmp_path / "m.nir")
    assert main(["compile", str(model), "-o", str(tmp_path / "build")]) == 0
    return tmp_path / "build"


def run_err(args, capsys):
    """Run the CLI expecting failure; return its stderr, which must be one 'error:' line."""
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_compile_prints_summary(build, capsys):
    assert (build / "plan.json").is_file() and (build / "report.md").is_file() and (build / "model.nir").is_file()


@pytest.mark.parametrize("backend", ["float", "fixed"])
def test_simulate_writes_npz(build, tmp_path, backend, capsys):
    x = np.random.default_rng(0).random((3, 20, 12)) < 0.3
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    out = tmp_path / f"{backend}.npz"
    assert main(["simulate", str(build), "--backend", backend, "--input", str(tmp_path / "x.npy"),
                 "--steps", "25", "-o", str(out)]) == 0
    data = np.load(out)
    layers = {k.split("/")[0] for k in data.files if "/" in k}
    assert len(layers) == 2
    for name in layers:
        assert data[f"{name}/spikes"].shape[:2] == (3, 25)
        assert data[f"{name}/v"].shape == data[f"{name}/spikes"].shape
    assert "padded with 5 silent steps" in capsys.readouterr().err


def test_simulate_fixed_matches_python_api(build, tmp_path):
    from neurolearn.compile.build import load_build
    from neurolearn.sims.fixed import simulate_fixed
    from neurolearn.train.encoders import poisson_spikes

    out = tmp_path / "o.npz"
    assert main(["simulate", str(build), "--steps", "30", "--seed", "4", "--rate", "0.3", "-o", str(out)]) == 0
    plan = load_build(build).plan
    want = simulate_fixed(plan, poisson_spikes(np.full((1, 12), 0.3), 30, 4))
    for name, rec in want.layers.items():
        np.testing.assert_array_equal(np.load(out)[f"{name}/v"], rec.v)


@pytest.mark.lava
def test_verify_build_passes_with_zero_mismatches(build, capsys):
    assert main(["verify", str(build), "--steps", "30", "--batch", "2", "--rate", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "fixed vs lava" in out and "snntorch vs float" in out and "MISMATCH" not in out
    assert "all layers match (0 mismatches)" in out
    assert "NeuroBench metrics" in out and "per sample (2 samples x 30 steps)" in out   # verify's section


@pytest.mark.lava
def test_verify_nir_file_with_recurrence(tmp_path, capsys):
    model = save(recurrent(), tmp_path / "r.nir")
    assert main(["verify", str(model), "--steps", "40", "--rate", "0.5"]) == 0
    assert "0 mismatches" in capsys.readouterr().out


def test_verify_reports_mismatch_and_fails(build, capsys, monkeypatch):
    """A simulator that disagrees with Lava must make verify fail (exit 1) and name the layer."""
    from neurolearn.sims import fixed

    real = fixed.simulate_fixed

    def broken(plan, spikes, record_uv=True):
        res = real(plan, spikes, record_uv)
        rec = next(iter(res.layers.values()))
        rec.v[0, 5, 0] += 1
        return res

    monkeypatch.setattr(fixed, "simulate_fixed", broken)
    monkeypatch.setattr("neurolearn.lava.runner.simulate_lava",
                        lambda plan, spikes, record_uv=True, progress=None: real(plan, spikes, record_uv))
    assert main(["verify", str(build), "--steps", "20"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "1 mismatching row(s)" in out


def test_not_a_nir_file(tmp_path, capsys):
    (tmp_path / "x.nir").write_text("hello")
    assert "x.nir" in run_err(["compile", str(tmp_path / "x.nir"), "-o", str(tmp_path / "b")], capsys)
    assert not (tmp_path / "b").exists()


def test_truncated_nir_file(tmp_path, capsys):
    good = save(feedforward(), tmp_path / "m.nir")
    (tmp_path / "t.nir").write_bytes(good.read_bytes()[:500])
    run_err(["compile", str(tmp_path / "t.nir"), "-o", str(tmp_path / "b")], capsys)
    assert not (tmp_path / "b").exists()


def test_delay_beyond_lava(tmp_path, capsys):
    g = lif_graph(extra={"delay": nir.Delay(delay=np.full(3, 0.1))})   # 100 steps of 1 ms
    g.edges[:] = [("input", "fc"), ("fc", "delay"), ("delay", "lif"), ("lif", "output")]
    write(tmp_path / "d.nir", g)
    msg = run_err(["compile", str(tmp_path / "d.nir"), "-o", str(tmp_path / "b")], capsys)
    assert "'input->lif'" in msg and "'delays' = 100 outside [0, 63]" in msg


def test_mismatched_shapes(tmp_path, capsys):
    g = lif_graph()
    g.nodes["fc"] = nir.Affine(weight=np.ones((5, 4)), bias=np.zeros(5))  # LIF has 3 neurons
    write(tmp_path / "s.nir", g)
    msg = run_err(["compile", str(tmp_path / "s.nir"), "-o", str(tmp_path / "b")], capsys)
    assert "shape" in msg or "size" in msg


def test_nan_parameter(tmp_path, capsys):
    g = lif_graph()
    g.nodes["fc"] = nir.Affine(weight=np.full((3, 4), np.nan), bias=np.zeros(3))
    nir.write(tmp_path / "n.nir", g)  # a foreign writer (neurolearn's own write refuses NaN)
    msg = run_err(["compile", str(tmp_path / "n.nir"), "-o", str(tmp_path / "b")], capsys)
    assert "'fc'" in msg and "'weight'" in msg and "nan" in msg


def test_unrepresentable_parameter(tmp_path, capsys):
    """A decay finer than Lava's 1/4096 fits no integer (a large bias saturates instead: see
    tests/compile/test_quantize_search.py)."""
    g = lif_graph()
    g.nodes["lif"] = nir.CubaLIF(tau_syn=np.full(3, 10.0), tau_mem=np.full(3, 0.01), r=np.ones(3),
                                 v_leak=np.zeros(3), v_threshold=np.ones(3), w_in=np.ones(3))
    write(tmp_path / "u.nir", g)
    msg = run_err(["compile", str(tmp_path / "u.nir"), "-o", str(tmp_path / "b")], capsys)
    assert "node 'lif': parameter 'alpha'[0]" in msg and "below Lava's resolution 1/4096" in msg
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("array,match", [
    (np.zeros((20, 7), np.uint8), r"shape \(20, 7\); expected \(steps, 12\)"),
    (np.full((20, 12), 2, np.uint8), "must be 0 or 1"),
    (np.zeros((2, 3, 4, 12)), "expected"),
])
def test_input_of_wrong_shape_or_values(build, tmp_path, capsys, array, match):
    np.save(tmp_path / "bad.npy", array)
    msg = run_err(["simulate", str(build), "--input", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "o.npz")],
                  capsys)
    assert re.search(match, msg), msg
    assert not (tmp_path / "o.npz").exists()


def test_input_longer_than_steps(build, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((30, 12), np.uint8))
    msg = run_err(["simulate", str(build), "--input", str(tmp_path / "x.npy"), "--steps", "10",
                   "-o", str(tmp_path / "o.npz")], capsys)
    assert "30 steps but --steps 10" in msg


def test_missing_build_directory(tmp_path, capsys):
    msg = run_err(["simulate", str(tmp_path / "nope"), "-o", str(tmp_path / "o.npz")], capsys)
    assert "not a neurolearn build directory" in msg


def test_debug_shows_traceback(tmp_path):
    (tmp_path / "x.nir").write_text("hello")
    from neurolearn.errors import NIRFormatError

    with pytest.raises(NIRFormatError):
        main(["--debug", "compile", str(tmp_path / "x.nir"), "-o", str(tmp_path / "b")])


def test_real_command_prints_no_traceback(tmp_path):
    (tmp_path / "x.nir").write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "neurolearn.cli", "compile", str(tmp_path / "x.nir"),
                           "-o", str(tmp_path / "b")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
