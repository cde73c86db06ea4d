"""neurolearn sweep: a grid of runs on Ray or serially, the same metrics either way, failures kept, resume."""
import json
import os
import sys

import pytest

from neurolearn.cli import main
from neurolearn.errors import InputError
from neurolearn.train.sweep import SWEEP_JSON, TIMING_KEYS, SweepRun, execute_run, run_sweep, sweep_grid, sweep_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# tiny runs: rate XOR (two rules) and spiking XOR, 2 seeds, 2 epochs
GRID = ["--tasks", "xor", "--rules", "backprop", "burstprop-learned", "burstprop-spiking", "--seeds", "2",
        "--epochs", "2"]


def same_seed_metrics(sweep_dir):
    """key -> metrics without wall times (they differ from run to run)."""
    def strip(m):
        if isinstance(m, dict):
            return {k: strip(v) for k, v in m.items() if k not in TIMING_KEYS}
        return [strip(v) for v in m] if isinstance(m, list) else m

    records = json.loads((sweep_dir / SWEEP_JSON).read_text())["records"]
    assert all("metrics" in r for r in records), [r.get("error") for r in records]
    return {r["key"]: strip(r["metrics"]) for r in records}, records


def test_sweep_on_local_ray_equals_serial_and_prints_the_table(tmp_path, capsys):
    pytest.importorskip("ray", reason="neurolearn[sweep] (Ray) is installed by the Makefile's test set-up")
    assert main(["sweep", *GRID, "--engine", "serial", "-o", str(tmp_path / "serial")]) == 0
    serial_out = capsys.readouterr().out
    assert main(["sweep", *GRID, "--engine", "ray", "-o", str(tmp_path / "ray")]) == 0
    ray_out = capsys.readouterr().out
    serial, _ = same_seed_metrics(tmp_path / "serial")
    on_ray, records = same_seed_metrics(tmp_path / "ray")
    assert len(serial) == 6 and serial == on_ray
    # every run was a Ray task in a worker process, on all of this machine's cores
    assert os.getpid() not in {r["pid"] for r in records}
    assert len({r["pid"] for r in records}) == min(2, os.cpu_count())
    for out, engine in ((serial_out, "serial"), (ray_out, "ray")):
        assert "xor           burstprop-spiking    80-16-30" in out
        assert f"6 runs on {engine}: 6 done, 0 failed" in out
    assert (tmp_path / "ray" / "table.txt").read_text().splitlines()[2:] == \
        [line for line in ray_out.splitlines() if line.startswith("xor ")]


def test_sweep_across_the_workers_of_a_cluster_by_address(tmp_path):
    pytest.importorskip("ray", reason="neurolearn[sweep] (Ray) is installed by the Makefile's test set-up")
    from ray.cluster_utils import Cluster

    runs = sweep_grid(["xor"], ["backprop", "burstprop-random"], 2, 2)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)     # a second node: runs spread over two raylets' workers
        res = run_sweep(runs, tmp_path / "cluster", engine="ray", address=cluster.address, progress=False)
    finally:
        cluster.shutdown()
    serial = run_sweep(runs, tmp_path / "serial", engine="serial", progress=False)
    assert res.engine == "ray" and not res.failed
    assert same_seed_metrics(tmp_path / "cluster")[0] == same_seed_metrics(tmp_path / "serial")[0]
    assert len({r["pid"] for r in res.records}) == 2 and {r["pid"] for r in serial.records} == {os.getpid()}


def test_a_failed_run_is_reported_the_others_kept_and_resume_reruns_only_it(tmp_path, capsys):
    runs = [SweepRun("xor", "backprop", 0, 1), SweepRun("xor", "burstprop-spiking", 0, 1, hidden=(4, 4)),
            SweepRun("xor", "fa", 0, 1)]
    res = run_sweep(runs, tmp_path, engine="serial")
    assert [r["key"] for r in res.failed] == [runs[1].key]
    assert res.failed[0]["error"] == "InputError: sweep: spiking burstprop has one hidden layer; hidden (4, 4)"
    assert "Traceback" in res.failed[0]["traceback"]
    assert [("metrics" in r) for r in res.records] == [True, False, True]
    table = sweep_table(res.records)
    assert "FAILED xor_burstprop-spiking_h4-4_e1_s0: InputError" in table and "xor           fa " in table
    saved = {p.stem for p in (tmp_path / "runs").glob("*.json")}
    assert saved == {r.key for r in runs}

    with pytest.raises(InputError, match="holds results of 2 run.* pass --resume"):
        run_sweep(runs, tmp_path, engine="serial")
    done = runs[:1] + runs[2:]
    again = run_sweep(runs[:1] + [SweepRun("xor", "burstprop-spiking", 0, 1, hidden=(4,))] + runs[2:], tmp_path,
                      engine="serial", resume=True)
    assert set(again.skipped) == {r.key for r in done} and not again.failed
    assert {r["pid"] for r in again.records} == {os.getpid()}
    assert [r["metrics"] for r in again.records if r["key"] in again.skipped] == \
        [r["metrics"] for r in res.records if "metrics" in r]


def test_cli_exit_codes_and_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)            # Ray absent
    assert main(["sweep", *GRID, "--engine", "ray", "-o", str(tmp_path / "a")]) == 3
    err = capsys.readouterr().err
    assert err == "error: Ray is not installed: pip install 'neurolearn[sweep]' (or use --engine serial)\n"
    assert main(["sweep", "--tasks", "digits", "--rules", "burstprop-onchip", "--epochs", "1", "-o",
                 str(tmp_path / "b")]) == 2
    assert "burstprop-onchip do not run tasks digits" in capsys.readouterr().err
    assert main(["sweep", "--tasks", "xor", "--rules", "fa", "--epochs", "1", "--seeds", "0", "-o", "x"]) == 2
    assert main(["sweep", "--tasks", "xor", "--rules", "fa", "--epochs", "1", "--hidden", "4,x", "-o", "x"]) == 2
    assert "--hidden '4,x'" in capsys.readouterr().err
    # auto without Ray: serial, saying so; a failing run makes the exit status 1
    assert main(["sweep", "--tasks", "xor", "--rules", "burstprop-spiking", "--hidden", "3,3", "--epochs", "1",
                 "-o", str(tmp_path / "c")]) == 1
    captured = capsys.readouterr()
    assert "note: Ray is not installed" in captured.err and "1 failed" in captured.out


def test_grid_order_forms_and_bad_runs():
    runs = sweep_grid(["xor", "digits"], ["backprop", "burstprop-onchip"], [3, 4], 5, [(8,), None])
    assert [r.key for r in runs[:3]] == ["xor_backprop_h8_e5_s3", "xor_burstprop-onchip_h8_e5_s3",
                                         "xor_backprop_h8_e5_s4"]
    assert {r.form for r in runs if r.task == "digits"} == {"rate"}        # on-chip runs xor only
    assert len(runs) == 2 * 2 * 2 + 2 * 2
    for bad in (dict(task="mnist"), dict(rule="sgd"), dict(epochs=0), dict(threads=0)):
        with pytest.raises(InputError):
            SweepRun(**{"task": "xor", "rule": "fa", "seed": 0, "epochs": 1, **bad})
    with pytest.raises(InputError, match="same key"):
        run_sweep([SweepRun("xor", "fa", 0, 1)] * 2, "unused", engine="serial")


def test_execute_run_restores_threads():
    import torch

    before = torch.get_num_threads()
    rec = execute_run(SweepRun("xor", "fa", 1, 1, threads=2))
    assert torch.get_num_threads() == before and rec["metrics"]["torch_threads"] == 2


def test_the_first_run_of_a_process_uses_its_threads():
    """A fresh process (a Ray worker): numba starts its thread pool on the run's first thread setting, which
    resets OpenMP's threads (shared with torch) to NUMBA_NUM_THREADS; the run still uses ``run.threads``."""
    import subprocess

    code = ("from neurolearn.train.sweep import SweepRun, execute_run\n"
            "rec = execute_run(SweepRun('xor', 'fa', 1, 1, threads=1))\n"
            "print(rec['metrics']['torch_threads'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    assert out.stdout.split()[-1] == "1"
