"""The package's shape (docs/architecture.md): imports point one way, light commands load no heavy
stacks, errors are neurolearn's, names are unique. Each test reads the source; none runs a network."""
import ast
import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "neurolearn"

# Stages in the order of DESIGN.md section 2: a module may import its own stage and the ones above it.
STAGES = ["errors", "atomic", "progress", "ir", "dynamics", "nir", "rules", "compile", "sims", "lava", "hardware",
          "nets", "train", "verify", "demo", "cli", "__main__"]
TOP = {"verify", "demo", "cli", "__main__"}   # the command and its orchestrators: one tier
# Third-party stacks and the stages (or single modules) allowed to import them.
HEAVY = {
    "torch": {"nir/export.py", "nir/to_torch.py", "sims/float_ref.py", "nets", "train", "verify", "demo"},
    "snntorch": {"nir/export.py", "nir/to_torch.py", "train", "demo"},
    "lava": {"lava"},
    "numba": {"dynamics", "sims"},
    "ray": {"train/sweep.py"},      # optional (neurolearn[sweep]), loaded when a sweep runs on Ray
    "neurobench": set(),            # the tests check neurolearn's metrics against it; the package never needs it
}


def stage_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "errors"


def rank(stage: str) -> int:
    return min(STAGES.index("verify"), STAGES.index(stage)) if stage in TOP else STAGES.index(stage)


def imports(path: Path):
    """Every module name imported anywhere in the file (module level and inside functions)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            if node.module == "neurolearn":
                for a in node.names:
                    yield f"neurolearn.{a.name}"


SOURCES = sorted(p for p in ROOT.rglob("*.py"))


def allowed(rel: str, places: set) -> bool:
    return rel in places or rel.split("/")[0].removesuffix(".py") in places


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path):
    me = stage_of(path)
    rel = str(path.relative_to(ROOT))
    for name in imports(path):
        top = name.split(".")[0]
        if top == "neurolearn" and name.count("."):
            other = name.split(".")[1]
            if other == "__version__":
                continue
            assert rank(other) <= rank(me), f"{rel} ({me}) imports {name} ({other}), a later stage"
        elif top in HEAVY:
            assert allowed(rel, HEAVY[top]), f"{rel} imports {top}, allowed only in {sorted(HEAVY[top])}"


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}


def test_ir_loads_neither_torch_nor_lava_nor_numba():
    loaded = _modules_after("import neurolearn.ir.plan, neurolearn.ir.network, neurolearn.ir.burst_network, "
                            "neurolearn.ir.program, neurolearn.ir.features, neurolearn.ir.schedule")
    assert not loaded & {"torch", "lava", "numba", "snntorch"}


def test_help_and_light_commands_load_neither_torch_nor_lava():
    loaded = _modules_after("from neurolearn.cli import build_parser\nbuild_parser().format_help()")
    assert not loaded & {"torch", "lava", "numba", "snntorch", "matplotlib"}
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "neurolearn", "--help"], capture_output=True,
                         text=True, check=True)
    assert "usage: neurolearn" in out.stdout
    assert not [line for line in out.stderr.splitlines() if line.split("|")[-1].strip().split(".")[0]
                in ("torch", "lava", "snntorch")]


def test_compile_and_fit_load_neither_torch_nor_lava(tmp_path):
    code = f"""
import nir, numpy as np
from neurolearn.nir import write
from neurolearn.cli import main
g = nir.NIRGraph(nodes={{"input": nir.Input(np.array([3])), "fc": nir.Linear(weight=np.ones((2, 3))),
    "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                   v_reset=np.zeros(2)), "output": nir.Output(np.array([2]))}},
    edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
write(r"{tmp_path}/m.nir", g)
assert main(["compile", r"{tmp_path}/m.nir", "-o", r"{tmp_path}/b", "--dt", "1e-3"]) == 0
assert main(["fit", r"{tmp_path}/b", "--target", "loihi2"]) == 0
"""
    assert not _modules_after(code) & {"torch", "lava", "snntorch"}


def _raises_and_asserts(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assert):
            yield node.lineno, "assert"
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in ("ValueError", "TypeError", "AssertionError", "Exception"):
                yield node.lineno, f"raise {exc.id}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_errors_are_neurolearn_errors(path):
    """Bad data raises a NeurolearnError subclass (errors.py), never a bare ValueError/TypeError or assert."""
    found = list(_raises_and_asserts(path))
    assert not found, f"{path.relative_to(ROOT)}: " + ", ".join(f"line {n}: {what}" for n, what in found)


def test_public_names_are_unique_across_modules():
    where = collections.defaultdict(list)
    for path in SOURCES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                where[node.name].append(str(path.relative_to(ROOT)))
    twins = {name: places for name, places in where.items() if len(places) > 1}
    assert not twins, twins


def test_the_checks_can_fail(tmp_path):
    """The scanners above find what they look for."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    assert x > 0\n    raise ValueError('no')\n")
    assert [w for _, w in _raises_and_asserts(bad)] == ["assert", "raise ValueError"]
    assert rank("sims") > rank("ir") and rank("cli") == rank("verify")
