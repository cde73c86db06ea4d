"""NIR files as other frameworks write them, and the NIR project's published examples (issue 10).

Every file in tests/fixtures/foreign (its README says which framework and version wrote it, how, and
what it exercises) must compile with ``--dt`` and then verify with 0 mismatches, without a flag. Files
that need an issue-10 feature not yet on this branch are strict xfails naming the feature and the branch
that brings it; while they are, ``test_foreign_file_is_refused_in_one_line`` checks that today's code
refuses each of them (at compile, else at verify) with one clear line naming the file, for one of those
reasons: never a traceback, an internal error or a silently wrong answer. When a feature lands, drop it from ``needs`` below: both
tests of every file that needed only it then say so (the xfail passes, the refusal is gone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from neurolearn.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"

# feature of issue 10 -> (the branch that brings it, how today's code refuses a file that needs it)
FEATURES = {
    "dt recorded in builds": ("neurons", r"no dt recorded in the NIR graph"),
    "per-neuron parameters": ("neurons", r"values differ across neurons"),
    "scalar parameters": ("neurons", r"input from '[^']+' has size \d+, expected 1"),
    "time constants shorter than dt": ("neurons", r"is shorter than dt"),
    "Threshold": ("neurons", r"has type Threshold"),
    "joint quantization search": ("neurons", r"exceeds the largest representable bias"),
    "Conv2d": ("connections", r"has type Conv2d"),
    "SumPool2d": ("connections", r"has type SumPool2d"),
    "AvgPool2d": ("connections", r"has type AvgPool2d"),
}
DT_IN_BUILDS = "dt recorded in builds"


@dataclass(frozen=True)
class Foreign:
    """One fixture: its path under FIXTURES, the dt (s) to compile it with, the features it still needs."""

    path: str
    dt: float
    needs: tuple[str, ...] = ()

    def marks(self, at_compile: bool):
        """A strict xfail naming the features (and branches) still missing for this stage."""
        needs = [n for n in self.needs if not (at_compile and n == DT_IN_BUILDS)]
        if not needs:
            return ()
        branches = sorted({FEATURES[n][0] for n in needs})
        reason = f"needs {', '.join(needs)} (issue 10, {' and '.join(branches)} branch{'es' * (len(branches) > 1)})"
        return (pytest.mark.xfail(strict=True, reason=reason),)


FILES = (
    Foreign("snntorch1_leaky_mlp.nir", 1e-4, (DT_IN_BUILDS, "per-neuron parameters")),
    Foreign("snntorch1_rleaky.nir", 1e-4, (DT_IN_BUILDS, "per-neuron parameters")),
    Foreign("snntorch1_synaptic.nir", 1e-4, (DT_IN_BUILDS, "per-neuron parameters")),
    Foreign("snntorch1_conv.nir", 1e-4, (DT_IN_BUILDS, "per-neuron parameters", "Conv2d", "AvgPool2d")),
    Foreign("snntorch09_mlp.nir", 1e-4, (DT_IN_BUILDS, "scalar parameters")),
    Foreign("norse_lif_mlp.nir", 1e-3, (DT_IN_BUILDS, "scalar parameters", "time constants shorter than dt")),
    Foreign("norse_li_readout.nir", 1e-3, (DT_IN_BUILDS, "scalar parameters", "time constants shorter than dt")),
    Foreign("sinabs_cnn.nir", 1.0, (DT_IN_BUILDS, "Conv2d", "SumPool2d")),
    Foreign("sinabs_lif_li.nir", 1.0, (DT_IN_BUILDS, "scalar parameters")),
    Foreign("rockpool_lif.nir", 1e-3, (DT_IN_BUILDS, "scalar parameters")),
    Foreign("spyx_mlp.nir", 1.0, (DT_IN_BUILDS, "Threshold")),
    Foreign("spyx_rlif.nir", 1.0, (DT_IN_BUILDS,)),
    Foreign("spyx_cnn.nir", 1.0, (DT_IN_BUILDS, "Conv2d", "SumPool2d")),
    Foreign("nir_paper/lif_norse.nir", 1e-4, (DT_IN_BUILDS,)),
    Foreign("nir_paper/lif_rockpool.nir", 1e-4, (DT_IN_BUILDS,)),
    Foreign("nir_paper/two_lif_neurons.nir", 1e-4, (DT_IN_BUILDS,)),
    Foreign("nir_paper/cnn_sinabs.nir", 1.0, (DT_IN_BUILDS, "Conv2d", "SumPool2d")),
    Foreign("nir_paper/braille_noDelay_bias_zero.nir", 1e-4, (DT_IN_BUILDS, "joint quantization search")),
    Foreign("nir_paper/braille_noDelay_noBias_subtract.nir", 1e-4, (DT_IN_BUILDS,)),
)
MALFORMED = "nir_paper/braille_noDelay_noBias_subtract_subgraph.nir"


def _params(at_compile: bool):
    return [pytest.param(f, id=f.path, marks=f.marks(at_compile)) for f in FILES]


def _compile(f: Foreign, out: Path) -> int:
    return main(["compile", str(FIXTURES / f.path), "-o", str(out), "--dt", repr(f.dt)])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_every_fixture_is_listed_and_every_listed_file_exists():
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.nir")}
    assert on_disk == {f.path for f in FILES} | {MALFORMED}
    assert all(n in FEATURES for f in FILES for n in f.needs)


@pytest.mark.parametrize("f", _params(at_compile=True))
def test_foreign_file_compiles_with_dt(f, tmp_path, capsys):
    import nir

    from neurolearn.compile.build import load_build
    from neurolearn.nir import read

    assert _compile(f, tmp_path / "build") == 0, capsys.readouterr().err
    plan = load_build(tmp_path / "build").plan
    assert plan.dt == f.dt
    graph = read(FIXTURES / f.path)
    (shape,) = [n.input_type["input"] for n in graph.nodes.values() if isinstance(n, nir.Input)]
    assert plan.input_size == int(np.prod(shape))  # a batch dimension of 1 changes nothing


@pytest.mark.lava
@pytest.mark.parametrize("f", _params(at_compile=False))
def test_foreign_file_verifies_with_0_mismatches(f, tmp_path, capsys):
    assert _compile(f, tmp_path / "build") == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["verify", str(tmp_path / "build"), "--steps", "40", "--rate", "0.3"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "all layers match (0 mismatches)" in out.out


@pytest.mark.parametrize("f", [pytest.param(f, id=f.path) for f in FILES if f.needs])
def test_foreign_file_is_refused_in_one_line(f, tmp_path, capsys):
    """Today's refusal: by compile (with --dt), else by verify of the build (which needs Lava)."""
    from tests.conftest import lava_available

    path = FIXTURES / f.path
    if _compile(f, tmp_path / "build") == 0:
        if not lava_available():
            pytest.skip(f"{f.path} compiles; its refusal comes from verify, which runs Lava (not installed here)")
        capsys.readouterr()
        if main(["verify", str(tmp_path / "build"), "--steps", "10"]) == 0:
            pytest.fail(f"{f.path} is no longer refused: remove {list(f.needs)} from its needs in FILES "
                        "(test_foreign_file_verifies_with_0_mismatches then checks it)")
    line = _one_error_line(capsys)
    assert str(path) in line or str(tmp_path / "build") in line, line
    reasons = [n for n in f.needs if re.search(FEATURES[n][1], line)]
    assert reasons, f"{f.path}: refused for none of its listed needs {list(f.needs)}: {line}"


def test_malformed_published_file_is_refused_in_one_line(tmp_path, capsys):
    """The NIR repository's nested Braille graph names an edge target that does not exist."""
    path = FIXTURES / MALFORMED
    assert main(["compile", str(path), "-o", str(tmp_path / "build"), "--dt", "1e-4"]) != 0
    line = _one_error_line(capsys)
    assert line.startswith(f"error: {path}: not a valid NIR graph") and "'lif'" in line, line
    assert not (tmp_path / "build").exists()
