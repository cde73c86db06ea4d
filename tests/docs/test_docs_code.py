"""Every ```python block of the documentation runs, so the docs cannot rot.

The blocks of one page run in order in one fresh Python process (a tutorial builds on its earlier blocks), in a
temporary directory. An HTML comment on the line before a block's fence changes that:

* ``<!-- docs-test: needs lava -->``: runs where Lava (neurolearn[lava]) is installed, else skipped saying so;
* ``<!-- docs-test: not-run: REASON -->``: never run, REASON naming what is absent here (a board, Intel's runtime);
* ``<!-- docs-test: setup`` + lines of Python + ``-->``: hidden code run before the block (what a fragment needs,
  e.g. a build to read); ``<!-- docs-test: needs lava, setup`` + code + ``-->`` combines both.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"(?:<!--\s*docs-test:\s*(?P<mark>.*?)-->\s*\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"not-run:\s*\S")


def blocks(text: str):
    """(marker or '', code) of every ```python block, in order."""
    return [(m["mark"] or "").strip() for m in FENCE.finditer(text)], [m["code"] for m in FENCE.finditer(text)]


def program(text: str, lava: bool) -> tuple[str, list[str]]:
    """The page's blocks as one script (each announced by its number), and the blocks left out, with why."""
    marks, codes = blocks(text)
    script, left_out = [], []
    for i, (mark, code) in enumerate(zip(marks, codes), 1):
        if mark.startswith("not-run"):
            assert NOT_RUN.match(mark), f"block {i}: 'not-run:' must say what is absent"
            left_out.append(f"block {i}: {mark}")
            continue
        first, _, setup = mark.partition("\n")
        directives = {d.strip() for d in first.split(",") if d.strip()}
        assert directives <= {"needs lava", "setup"}, f"block {i}: unknown docs-test marker {first!r}"
        if "needs lava" in directives and not lava:
            left_out.append(f"block {i}: needs Lava")
            continue
        if "setup" in directives:
            code = setup + "\n" + code
        script.append(f"print('--- block {i}', flush=True)\n{code}")
    return "\n".join(script), left_out


def test_markers_are_read():
    text = ("```python\nx = 1\n```\n<!-- docs-test: needs lava -->\n```python\nimport lava\n```\n"
            "<!-- docs-test: not-run: needs a Loihi 2 board -->\n```python\nboard()\n```\n"
            "<!-- docs-test: setup\ny = 2\n-->\n```python\nprint(x + y)\n```\n"
            "<!-- docs-test: needs lava, setup\nz = 3\n-->\n```python\nprint(z)\n```\n")
    script, left_out = program(text, lava=False)
    assert left_out == ["block 2: needs Lava", "block 3: not-run: needs a Loihi 2 board", "block 5: needs Lava"]
    assert "z = 3" in program(text, lava=True)[0]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["---", "block", "1", "---", "block", "4", "3"]
    with pytest.raises(AssertionError, match="must say what is absent"):
        program("<!-- docs-test: not-run: -->\n```python\nx\n```\n", lava=True)
    with pytest.raises(AssertionError, match="unknown docs-test marker"):
        program("<!-- docs-test: needs a board -->\n```python\nx\n```\n", lava=True)


@pytest.mark.parametrize("page", [p for p in PAGES if "```python" in p.read_text()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page, tmp_path):
    lava = importlib.util.find_spec("lava") is not None
    script, left_out = program(page.read_text(), lava)
    if not script:
        pytest.skip("; ".join(left_out))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}, timeout=900)
    assert out.returncode == 0, f"{page.name}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
