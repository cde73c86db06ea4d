"""Fuzzing through the command line: hypothesis mutates valid NIR files (byte flips, truncations, values, dtypes,
shapes, fields, edges, metadata, nesting) and plan.json documents; every input must end in a build or one
NeurolearnError line within the time limit, leaving no half-written output. A few hundred examples by default;
``pytest --fuzz-long`` runs thousands (tools/fuzz_nir.py is the long run with hang detection)."""
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurolearn.cli import main
from tests.fuzz_mutations import (
    DTYPES,
    EDGES,
    META,
    PLAN_VALUES,
    SHAPES,
    SPECIAL,
    TYPES,
    apply,
    judge_command,
    mutate_plan,
    write_seeds,
)

TIME_LIMIT_S = 20.0
unit = st.floats(0, 1, allow_nan=False)
OPS = st.one_of(
    st.tuples(st.just("flip"), unit, st.integers(0, 7)),
    st.tuples(st.just("truncate"), unit),
    st.tuples(st.just("bytes"), unit, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("value"), unit, st.sampled_from(SPECIAL), st.booleans()),
    st.tuples(st.just("dtype"), unit, st.sampled_from(DTYPES)),
    st.tuples(st.just("shape"), unit, st.sampled_from(SHAPES)),
    st.tuples(st.sampled_from(["delete", "to_group", "to_dataset", "copy_node"]), unit),
    st.tuples(st.just("type"), unit, st.sampled_from(TYPES)),
    st.tuples(st.just("edge"), st.sampled_from(EDGES), unit, unit),
    st.tuples(st.just("meta"), st.sampled_from(META), unit),
    st.tuples(st.just("nest"), st.sampled_from([2, 33, 1000])),
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return write_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def plan_doc(seeds, tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "b"
    assert main(["compile", str(seeds[0]), "-o", str(out)]) == 0
    return out


def _examples(request, default):
    return default * 20 if request.config.getoption("--fuzz-long") else default


def test_mutated_nir_files_end_in_a_build_or_one_error(seeds, tmp_path_factory, request):
    work = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=_examples(request, 200), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(seeds) - 1), st.lists(OPS, min_size=1, max_size=3))
    def case(seed, ops):
        path, out = work / "m.nir", work / "out"
        shutil.rmtree(out, ignore_errors=True)
        apply(seeds[seed], path, ops)
        outcome = judge_command(["compile", str(path), "-o", str(out)], out, ("plan.json", "report.md", "model.nir"))
        assert outcome.kind in ("build", "error"), (seeds[seed].name, ops, outcome)
        assert outcome.seconds < TIME_LIMIT_S, (seeds[seed].name, ops, outcome)
    case()


def test_mutated_plan_json_ends_in_a_run_or_one_error(plan_doc, tmp_path_factory, request):
    work = tmp_path_factory.mktemp("plans")
    original = json.loads((plan_doc / "plan.json").read_text())

    @settings(max_examples=_examples(request, 150), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(unit, st.integers(0, len(PLAN_VALUES) - 1), st.sampled_from(["set", "delete", "root"])),
                    min_size=1, max_size=3))
    def case(ops):
        build = work / "b"
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(plan_doc, build)
        (build / "plan.json").write_text(json.dumps(mutate_plan(original, ops)))
        out = work / "o.npz"
        out.unlink(missing_ok=True)
        outcome = judge_command(["simulate", str(build), "--steps", "5", "-o", str(out)], out, ())
        assert outcome.kind in ("build", "error"), (ops, outcome)
        assert outcome.seconds < TIME_LIMIT_S, (ops, outcome)
    case()


def test_the_judge_can_fail(tmp_path, monkeypatch):
    """A crash inside the command is judged a crash, not an error."""
    import neurolearn.compile.build as build

    def broken(*args, **kwargs):
        raise IndexError("boom")
    monkeypatch.setattr(build, "compile_model", broken)
    (tmp_path / "m.nir").write_bytes(b"")
    outcome = judge_command(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "o")], tmp_path / "o", ())
    assert outcome.kind == "crash" and "IndexError" in outcome.message
