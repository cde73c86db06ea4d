"""examples/dendritic_balance_digits.py as documented (docs/rules.md): dendritic balance from a .nir file learns a
representation of digits on chip (fixed point) and in the float twin, better than the same network with plasticity
off (homeostasis only) and than the Hebbian baseline."""
from __future__ import annotations

import re
import runpy
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dendritic_balance_digits.py"


def test_dendritic_balance_learns_digits_fixed_and_float(tmp_path, monkeypatch, capsys):
    # run in this process, on the kernels it has compiled (no second process reading numba's cache meanwhile)
    argv = [str(EXAMPLE), "--samples", "500", "--evals", "1", "--out", str(tmp_path / "db.png")]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # the example's build folder
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    rows = {(m[1], m[2]): (float(m[3]), float(m[4])) for m in
            re.finditer(r"^\s*(db|hebbian|homeostasis only)\s+(fixed|float) \|\s+([\d.]+) \|\s+([\d.]+) \|",
                        out, re.M)}
    assert len(rows) == 6, out
    for backend in ("fixed", "float"):
        db, hebbian, control = (rows[(k, backend)][1] for k in ("db", "hebbian", "homeostasis only"))
        assert db < 0.9 * control < 0.9 * hebbian, (backend, rows)
    assert abs(rows[("db", "fixed")][1] - rows[("db", "float")][1]) < 0.15 * rows[("db", "float")][1]
    assert (tmp_path / "db.png").stat().st_size > 10_000
