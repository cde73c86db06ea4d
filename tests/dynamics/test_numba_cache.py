"""numba's cache follows every source a kernel is compiled from (neurolearn.dynamics.numba_cache): numba alone
checks a function's own file only, and would load a kernel compiled before a change to a function it inlines."""
import subprocess
import sys
import textwrap
from pathlib import Path

from neurolearn.dynamics.numba_cache import (
    KERNEL_DIRS,
    KERNEL_SOURCES,
    PACKAGE,
    STAMP,
    kernel_cache_dir,
    sources_digest,
)
from tests.architecture.test_layering import imports

ROOT = PACKAGE.parent


def module_file(name: str) -> Path | None:
    """The file of module ``neurolearn.a.b`` (a package's __init__.py), None if it is not a module."""
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_digest_covers_everything_kernels_import():
    """From each module of dynamics/ and sims/ that uses numba, every neurolearn module reached by imports is in
    KERNEL_SOURCES (else a change there would not reach the cache)."""
    todo = [p for d in KERNEL_DIRS for p in (PACKAGE / d).glob("*.py")
            if "numba" in {n.split(".")[0] for n in imports(p)}]
    assert len(todo) >= 5
    seen = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for n in imports(path) if n.startswith("neurolearn.") and (f := module_file(n)) is not None]
    covered = {p for s in KERNEL_SOURCES for p in ([PACKAGE / s] if s.endswith(".py") else (PACKAGE / s).rglob("*.py"))}
    outside = sorted(str(p.relative_to(PACKAGE)) for p in seen - covered)
    assert not outside, f"kernels depend on {outside}: add them to KERNEL_SOURCES"


def test_importing_dynamics_stamps_the_kernel_caches():
    import neurolearn.dynamics  # noqa: F401  (runs drop_stale_kernels on first import)

    for d in KERNEL_DIRS:
        assert (kernel_cache_dir(PACKAGE / d) / STAMP).read_text() == sources_digest()


def test_a_change_to_an_inlined_function_is_compiled_afresh(tmp_path):
    """A toy package shaped like neurolearn: sims/g.py's cached kernel inlines dynamics/f.py's function. (No .pyc:
    f.py's edit keeps its size, and within the same second as the first write Python would take the old bytecode,
    an old f that no cache sweep can help.)"""
    pkg = tmp_path / "toy"
    for d in ("", "dynamics", "sims"):
        (pkg / d).mkdir(exist_ok=True)
        (pkg / d / "__init__.py").write_text("")
    f = pkg / "dynamics" / "f.py"
    f.write_text("import numba\n\n\n@numba.njit(cache=True, inline='always')\ndef f(x):\n    return x + 1\n")
    (pkg / "sims" / "g.py").write_text("import numba\n\nfrom toy.dynamics.f import f\n\n\n@numba.njit(cache=True)\n"
                                       "def g(x):\n    return f(x) * 2\n")

    def run(sweep: bool) -> tuple[int, int]:
        code = textwrap.dedent(f"""
            from pathlib import Path
            from neurolearn.dynamics.numba_cache import drop_stale_kernels
            if {sweep}:
                drop_stale_kernels(Path({str(pkg)!r}), ("dynamics", "sims"), ("dynamics", "sims"))
            from toy.sims.g import g
            print(g(1), sum(g.stats.cache_hits.values()))
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin",
                                  "PYTHONDONTWRITEBYTECODE": "1"})
        value, hits = out.stdout.split()
        return int(value), int(hits)

    assert run(sweep=True) == (4, 0)                  # compiled and cached
    f.write_text(f.read_text().replace("x + 1", "x + 2"))
    assert run(sweep=False) == (4, 1), "numba alone loads the kernel compiled from the old f (why the sweep exists)"
    assert run(sweep=True) == (6, 0)                  # the sweep dropped it: compiled from the new f
    assert run(sweep=True) == (6, 1)                  # and sources unchanged: the cache is used again
