"""dt: a build records the dt it was compiled with (plan.json and its model.nir); every command on a build needs no
flag; a .nir file without dt verifies with --dt; report.md says where dt came from."""
import json

import pytest

from neurolearn.cli import main
from neurolearn.compile.build import load_build
from neurolearn.nir import read, write
from neurolearn.nir.extension import SCHEMA_VERSION, block, graph_dt
from neurolearn.verify import run_ladder
from tests.helpers import lif_graph, spikes


@pytest.fixture
def foreign(tmp_path):
    """A plain NIR file, no neurolearn block (as other frameworks write them)."""
    write(tmp_path / "f.nir", lif_graph(tau=0.02, dt=None, threshold=0.3))
    return tmp_path / "f.nir"


def test_build_records_the_given_dt(foreign, tmp_path, capsys):
    before = foreign.read_bytes()
    assert main(["compile", str(foreign), "-o", str(tmp_path / "b"), "--dt", "1e-4"]) == 0
    assert "dt = 0.0001 s" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "plan.json").read_text())["dt"] == 1e-4
    copy = read(tmp_path / "b" / "model.nir")
    assert graph_dt(copy) == 1e-4 and block(copy)["version"] == SCHEMA_VERSION
    assert foreign.read_bytes() == before   # the user's file is not touched
    report = (tmp_path / "b" / "report.md").read_text()
    assert "dt = 0.0001 s, given with --dt (the file records none" in report


def test_a_recorded_dt_is_reported_and_the_file_copied_unchanged(tmp_path):
    write(tmp_path / "m.nir", lif_graph(dt=1e-3))
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "model.nir").read_bytes() == (tmp_path / "m.nir").read_bytes()
    assert "dt = 0.001 s, recorded in the file" in (tmp_path / "b" / "report.md").read_text()


def test_commands_on_a_build_need_no_dt(foreign, tmp_path, capsys):
    assert main(["compile", str(foreign), "-o", str(tmp_path / "b"), "--dt", "1e-3"]) == 0
    assert main(["simulate", str(tmp_path / "b"), "--steps", "20", "-o", str(tmp_path / "o.npz")]) == 0
    assert main(["simulate", str(tmp_path / "b"), "--backend", "float", "--steps", "20",
                 "-o", str(tmp_path / "f.npz")]) == 0
    assert main(["fit", str(tmp_path / "b"), "--target", "loihi2"]) == 0
    build = load_build(tmp_path / "b")
    rows = run_ladder(build, spikes(4, steps=30, batch=2, rate=0.5), lava=False)   # snntorch import reads its dt
    assert rows and all(r.ok for r in rows), rows


def test_a_build_refuses_a_conflicting_dt(foreign, tmp_path, capsys):
    assert main(["compile", str(foreign), "-o", str(tmp_path / "b"), "--dt", "1e-3"]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b"), "--dt", "2e-3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compiled with dt = 0.001 s" in err[0]


@pytest.mark.lava
def test_verify_a_build_and_a_file_without_dt(foreign, tmp_path, capsys):
    assert main(["compile", str(foreign), "-o", str(tmp_path / "b"), "--dt", "1e-3"]) == 0
    assert main(["verify", str(tmp_path / "b"), "--steps", "30", "--rate", "0.5"]) == 0
    assert main(["verify", str(tmp_path / "b"), "--dt", "1e-3", "--steps", "30"]) == 0
    assert main(["verify", str(foreign), "--dt", "1e-3", "--steps", "30", "--rate", "0.5"]) == 0
    assert "all layers match (0 mismatches)" in capsys.readouterr().out
