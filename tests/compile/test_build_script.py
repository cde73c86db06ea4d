"""A build carries the Lava graph script (run_on_loihi.py, numpy and Lava only), written without Lava."""
import subprocess
import sys

from neurolearn.compile.build import GRAPH_SCRIPT, RUN_SCRIPT, compile_model, write_learning_build
from neurolearn.lava import graph_script
from neurolearn.train.onchip import OnChipConfig, compile_xor
from tests.helpers import feedforward, save


def test_plain_build_carries_the_graph_script(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lava", None)   # hidden where installed: writing it needs no Lava
    build = compile_model(save(feedforward(), tmp_path / "m.nir"), tmp_path / "b")
    assert GRAPH_SCRIPT.samefile(graph_script.__file__)
    assert (build.path / RUN_SCRIPT).read_bytes() == GRAPH_SCRIPT.read_bytes()


def test_learning_build_has_no_script_and_the_script_refuses_its_plan(tmp_path):
    compiled, schedule, _ = compile_xor(0, OnChipConfig(epochs=1, steps_eval=10))
    out = write_learning_build(tmp_path / "lb", save(feedforward(), tmp_path / "m.nir"), compiled.plan,
                               compiled.notes, schedule)
    assert not (out / RUN_SCRIPT).exists()
    run = subprocess.run([sys.executable, str(GRAPH_SCRIPT), str(out), "--cpu", "--steps", "5"], capture_output=True,
                         text=True)
    assert run.returncode == 2 and "burst layers" in run.stderr and "learning" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
