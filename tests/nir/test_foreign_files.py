"""NIR files as other frameworks write them, and the NIR project's published examples (issue 10).

Every file in tests/fixtures/foreign (its README says which framework and version wrote it, how, and what it
exercises) compiles with ``--dt`` and then verifies with 0 mismatches (fixed point vs Lava bit for bit, snntorch vs
the float reference), without a flag; the one malformed published file is refused in one line naming it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from neurolearn.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"

@dataclass(frozen=True)
class Foreign:
    """One fixture: its path under FIXTURES and the dt (s) to compile it with."""

    path: str
    dt: float


FILES = (
    Foreign("snntorch1_leaky_mlp.nir", 1e-4),
    Foreign("snntorch1_rleaky.nir", 1e-4),
    Foreign("snntorch1_synaptic.nir", 1e-4),
    Foreign("snntorch1_conv.nir", 1e-4),
    Foreign("snntorch09_mlp.nir", 1e-4),
    Foreign("norse_lif_mlp.nir", 1e-6),
    Foreign("norse_li_readout.nir", 1e-6),
    Foreign("sinabs_cnn.nir", 1.0),
    Foreign("sinabs_lif_li.nir", 1.0),
    Foreign("rockpool_lif.nir", 1e-3),
    Foreign("spyx_mlp.nir", 1.0),
    Foreign("spyx_rlif.nir", 1.0),
    Foreign("spyx_cnn.nir", 1.0),
    Foreign("nir_paper/lif_norse.nir", 1e-4),
    Foreign("nir_paper/lif_rockpool.nir", 1e-4),
    Foreign("nir_paper/two_lif_neurons.nir", 1e-4),
    Foreign("nir_paper/cnn_sinabs.nir", 1.0),
    Foreign("nir_paper/braille_noDelay_bias_zero.nir", 1e-4),
    Foreign("nir_paper/braille_noDelay_noBias_subtract.nir", 1e-4),
)
MALFORMED = "nir_paper/braille_noDelay_noBias_subtract_subgraph.nir"


# Norse writes tau = dt / tau_inv with its own dt folded in (1e-5 s and 5e-6 s for its 10 ms and 5 ms defaults):
# the files mean those time constants, which need dt < 5e-6 s.


def _params():
    return [pytest.param(f, id=f.path) for f in FILES]


def _compile(f: Foreign, out: Path) -> int:
    return main(["compile", str(FIXTURES / f.path), "-o", str(out), "--dt", repr(f.dt)])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_every_fixture_is_listed_and_every_listed_file_exists():
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.nir")}
    assert on_disk == {f.path for f in FILES} | {MALFORMED}


@pytest.mark.parametrize("f", _params())
def test_foreign_file_compiles_with_dt(f, tmp_path, capsys):
    import nir

    from neurolearn.compile.build import load_build
    from neurolearn.nir import read

    assert _compile(f, tmp_path / "build") == 0, capsys.readouterr().err
    build = load_build(tmp_path / "build")
    assert build.plan.dt == f.dt
    assert read(tmp_path / "build" / "model.nir").metadata["neurolearn"]["dt"] == f.dt   # the build records it
    graph = read(FIXTURES / f.path)
    (shape,) = [n.input_type["input"] for n in graph.nodes.values() if isinstance(n, nir.Input)]
    assert build.plan.input_size == int(np.prod(shape))  # a batch dimension of 1 changes nothing


@pytest.mark.lava
@pytest.mark.parametrize("f", _params())
def test_foreign_file_verifies_with_0_mismatches(f, tmp_path, capsys):
    assert _compile(f, tmp_path / "build") == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["verify", str(tmp_path / "build"), "--steps", "40", "--rate", "0.3"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "all layers match (0 mismatches)" in out.out and "fixed vs lava" in out.out


def test_malformed_published_file_is_refused_in_one_line(tmp_path, capsys):
    """The NIR repository's nested Braille graph names an edge target that does not exist."""
    path = FIXTURES / MALFORMED
    assert main(["compile", str(path), "-o", str(tmp_path / "build"), "--dt", "1e-4"]) != 0
    line = _one_error_line(capsys)
    assert line.startswith(f"error: {path}: ") and "'lif'" in line, line
    assert not (tmp_path / "build").exists()
