"""Issue 12's command lines: each exits non-zero with one line naming the file, flag or parameter and what is
allowed, never "internal error"; loss warnings and --strict; SIGINT and SIGTERM leave nothing behind."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurolearn.atomic import atomic_dir, remove_stale_temporaries
from neurolearn.cli import main
from neurolearn.nir import write
from tests.helpers import ctrl_c_as_at_a_terminal, lif_graph

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def build(tmp_path):
    write(tmp_path / "m.nir", lif_graph(dt=1e-3))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "build")]) == 0
    return tmp_path / "build"


def one_line(args, capsys, *words, code=2):
    """Run the CLI; expect exit ``code`` and one 'error:' line holding ``words``, no internal error."""
    try:
        got = main(args)
    except SystemExit as exc:   # argparse
        got = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code, (got, err)
    assert len(err) == 1 and err[0].startswith("error: ") and "internal error" not in err[0], err
    assert all(w in err[0] for w in words), err[0]
    return err[0]


@pytest.mark.parametrize("flags, words", [
    (["--seed", "-1"], ["--seed", "allowed 0 to 4294967295"]),
    (["--batch", "-1"], ["--batch", "allowed 1 to 1000000"]),
    (["--batch", "0"], ["--batch", "allowed 1 to"]),
    (["--steps", "0"], ["--steps", "allowed 1 to 100000000"]),
    (["--steps", "1e12"], ["--steps", "allowed 1 to 100000000"]),
    (["--steps", "ten"], ["--steps", "not a whole number"]),
    (["--rate", "nan"], ["--rate", "allowed 0 to 1"]),
    (["--steps", "100000000", "--batch", "1000"], ["--steps 100000000 x --batch 1000", "would need", "TiB",
                                                    "limit"]),
])
def test_simulate_numbers(build, tmp_path, capsys, flags, words):
    one_line(["simulate", str(build), "-o", str(tmp_path / "o.npz")] + flags, capsys, *words)
    assert not (tmp_path / "o.npz").exists()


def test_string_typed_npy_input(build, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([["a"] * 4] * 5))
    one_line(["simulate", str(build), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")], capsys,
             "--input", "x.npy", "values of type <U1", "numbers 0 or 1")


@pytest.mark.parametrize("command", ["compile", "simulate", "deploy", "demo"])
def test_output_under_a_regular_file(build, tmp_path, capsys, command):
    (tmp_path / "file").write_text("x")
    out = str(tmp_path / "file" / ("o.npz" if command == "simulate" else "out"))
    args = {"compile": ["compile", str(tmp_path / "m.nir"), "-o", out],
            "simulate": ["simulate", str(build), "-o", out],
            "deploy": ["deploy", str(build), "--target", "loihi2", "-o", out],
            "demo": ["demo", "-o", out]}[command]
    one_line(args, capsys, f"-o {out}", "is a file, not a directory")


def test_output_directory_named_like_a_file(build, tmp_path, capsys):
    (tmp_path / "o.npz").mkdir()
    one_line(["simulate", str(build), "-o", str(tmp_path / "o.npz")], capsys, "o.npz: is a directory")
    (tmp_path / "b.txt").write_text("x")
    one_line(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b.txt")], capsys, "b.txt: is a file")


def test_output_on_a_read_only_path(tmp_path, capsys):
    """/proc refuses new entries even to root."""
    write(tmp_path / "m.nir", lif_graph(dt=1e-3))
    one_line(["compile", str(tmp_path / "m.nir"), "-o", "/proc/neurolearn-build"], capsys, "/proc/neurolearn-build")


def test_fit_plot_into_a_missing_directory_is_created(build, tmp_path, capsys):
    plot = tmp_path / "new" / "dir" / "u.png"
    assert main(["fit", str(build), "--target", "loihi2", "--plot", str(plot)]) == 0
    assert plot.is_file() and plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("flags, words", [
    (["--threads", "0"], ["--threads", "allowed 1 to 1024"]),
    (["--epochs", "0"], ["--epochs", "allowed 1 to"]),
    (["--seed", "-1"], ["--seed"]),
    (["--batch-size", "0"], ["--batch-size"]),
])
def test_train_numbers(tmp_path, capsys, flags, words):
    base = ["train", "--rule", "burstprop", "--task", "xor", "--spiking", "--epochs", "1", "-o", str(tmp_path / "r")]
    one_line(base + flags, capsys, *words)


def test_train_output_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    one_line(["train", "--rule", "backprop", "--task", "xor", "--epochs", "1", "-o", str(tmp_path / "f" / "r")],
             capsys, "is a file, not a directory")


def test_train_huge_hidden_is_refused(tmp_path, capsys):
    one_line(["train", "--rule", "backprop", "--task", "xor", "--epochs", "1", "--hidden", "1000000,1000000",
              "-o", str(tmp_path / "r")], capsys, "--hidden 1000000,1000000", "would need")


@pytest.mark.parametrize("content, words", [
    ("[]", ["plan.json", "must be object"]), ("null", ["plan.json", "must be object"]),
    ("3", ["plan.json", "must be object"]), (b"\xff\xfe{", ["plan.json", "not UTF-8"]),
    ("{", ["plan.json", "not JSON"]),
])
def test_plan_json_that_is_no_plan(build, tmp_path, capsys, content, words):
    (build / "plan.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    for args in (["simulate", str(build), "-o", str(tmp_path / "o.npz")], ["fit", str(build), "--target", "loihi2"]):
        one_line(args, capsys, *words)


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(dt="abc"), ["plan.json: 'dt' = 'abc'"]),
    (lambda d: d["layers"][0].update(vth=100.7), ["plan.json: 'layers/0/vth' = 100.7", "integer"]),
    (lambda d: d["layers"][0].update(du=1.5), ["'layers/0/du' = 1.5"]),
    (lambda d: d.update(dt=-1), ["'dt' = -1"]),
    (lambda d: d["connections"][0].update(target="nope"), ["plan.json: plan: connection", "'nope'"]),
])
def test_bad_plan_values_name_plan_json(build, tmp_path, capsys, edit, words):
    doc = json.loads((build / "plan.json").read_text())
    edit(doc)
    (build / "plan.json").write_text(json.dumps(doc))
    one_line(["simulate", str(build), "-o", str(tmp_path / "o.npz")], capsys, *words)


def test_tau_equal_to_dt_names_tau(tmp_path, capsys):
    write(tmp_path / "m.nir", lif_graph(tau=1e-3, dt=1e-3))
    msg = one_line(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")], capsys, "'tau' = 0.001 s")
    assert "dv = 4096" not in msg


# ---- loud warnings and --strict -------------------------------------------------------------------------------
def test_rounding_to_zero_is_printed_and_strict_refuses(tmp_path, capsys):
    w = np.full((3, 4), 0.5)
    w[0, 0] = 1e-6   # far below the weights' resolution
    write(tmp_path / "m.nir", lif_graph(weight=w, dt=1e-3))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "warning: rounded to zero: 1 weight (input->lif 1)" in err, err
    assert "rounded to zero: 1 weight" in (tmp_path / "b" / "report.md").read_text()
    one_line(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "c"), "--strict"], capsys,
             "--strict", "rounded to zero: 1 weight", code=1)
    assert not (tmp_path / "c").exists()


def test_clean_build_prints_no_warning(tmp_path, capsys):
    write(tmp_path / "m.nir", lif_graph(dt=1e-3))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b"), "--strict"]) == 0
    assert "warning" not in capsys.readouterr().err


# ---- signals and temporaries ----------------------------------------------------------------------------------
def test_stale_temporaries_are_removed_and_named(tmp_path, capsys):
    out = tmp_path / "build"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / f".build.{dead}.abc").mkdir()
    (tmp_path / f".build.{os.getppid()}.live").mkdir()   # a live process's: left alone
    assert remove_stale_temporaries(out) == [f".build.{dead}.abc"]
    assert f".build.{dead}.abc" in capsys.readouterr().err
    assert (tmp_path / f".build.{os.getppid()}.live").exists()


def test_exception_inside_atomic_dir_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "half").write_text("x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def _slow_compile(tmp_path, signum):
    """Start 'neurolearn compile' that blocks inside the atomic writer, send ``signum``; return (code, stderr)."""
    write(tmp_path / "m.nir", lif_graph(dt=1e-3))
    code = f"""
import time, neurolearn.compile.build as b
def slow(plan, tmp):
    open('{tmp_path}/ready', 'w').close()
    time.sleep(60)
orig = b.compile_model
b.compile_model = lambda *a, **k: orig(*a, **{{**k, 'extras': slow}})
import sys
from neurolearn.cli import main
sys.exit(main(['compile', '{tmp_path}/m.nir', '-o', '{tmp_path}/out']))
"""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                            preexec_fn=ctrl_c_as_at_a_terminal)
    deadline = time.time() + 120
    while not (tmp_path / "ready").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_signal_during_compile_leaves_nothing(tmp_path, signum, code, word):
    got, err = _slow_compile(tmp_path, signum)
    assert got == code and err.strip().splitlines()[-1] == word, err
    assert sorted(os.listdir(tmp_path)) == ["m.nir", "ready"]


def test_ctrl_c_while_loading_prints_interrupted():
    """SIGINT before the command has even loaded: 'interrupted', exit 130, no traceback."""
    code = ("import signal, os, sys\nsys.modules.pop('neurolearn.cli', None)\n"
            "import builtins\nreal = builtins.__import__\n"
            "def imp(name, *a, **k):\n    if name == 'neurolearn.cli':\n        os.kill(os.getpid(), signal.SIGINT)\n"
            "    return real(name, *a, **k)\nbuiltins.__import__ = imp\n"
            "from neurolearn.__main__ import entry_point\nsys.exit(entry_point())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                          preexec_fn=ctrl_c_as_at_a_terminal)
    assert proc.returncode == 130 and proc.stderr.strip() == "interrupted", proc.stderr


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_signal_during_train_leaves_nothing(tmp_path, signum, code, word):
    """A signal while training (the first epochs' progress lines printed, the run directory not yet written):
    the command says so, exits with its code and leaves no run directory and no temporary."""
    proc = subprocess.Popen([sys.executable, "-m", "neurolearn", "train", "--rule", "backprop", "--task", "xor",
                             "--epochs", "100000", "-o", str(tmp_path / "run")], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                            preexec_fn=ctrl_c_as_at_a_terminal)
    deadline = time.time() + 120
    while time.time() < deadline and "epochs" not in proc.stdout.readline():   # training has begun
        pass
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and err.strip().splitlines()[-1] == word, err
    assert os.listdir(tmp_path) == []
