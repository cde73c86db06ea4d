"""Long runs talk in logs too: with output that is not a terminal, training prints a line per epoch."""
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neurolearn.progress import LogLines, format_seconds, progress_bar

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(?P<desc>.+): (?P<n>\d+)/(?P<total>\d+) epochs \(\d+%\), [\d.hms]+ elapsed(, ETA [\d.hms]+)?"
                  r"(?P<post>.*)$")


def epoch_lines(text: str) -> list[re.Match]:
    return [m for m in map(LINE.match, text.splitlines()) if m]


@pytest.mark.parametrize("spiking", [False, True], ids=["rate", "spiking"])
def test_redirected_train_prints_a_line_every_epoch(tmp_path, spiking):
    args = ["--rule", "burstprop", "--task", "xor", "--epochs", "3", "--threads", "1", "-o", str(tmp_path / "run")]
    out = subprocess.run([sys.executable, "-m", "neurolearn", "train", *args, *(["--spiking"] if spiking else [])],
                         capture_output=True, text=True, cwd=tmp_path, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    lines = epoch_lines(out.stdout)
    assert [int(m["n"]) for m in lines] == [1, 2, 3], out.stdout
    assert {int(m["total"]) for m in lines} == {3}
    assert "ETA" in lines[0].group(0) and "ETA" not in lines[-1].group(0)
    assert "test_acc" in lines[-1]["post"]           # the running metric
    assert "\r" not in out.stdout + out.stderr          # no progress bar drawn into a log


def test_log_lines_every_n_items_and_at_the_end():
    stream = io.StringIO()
    bar = LogLines(range(7), "lava samples", unit="samples", every=3, stream=stream)
    seen = []
    for i in bar:
        bar.set_postfix(last=i)
        seen.append(i)
    lines = stream.getvalue().splitlines()
    assert seen == list(range(7))
    assert [line.split(":")[1].split()[0] for line in lines] == ["3/7", "6/7", "7/7"]
    assert lines[0].endswith("last 2") and lines[-1].endswith("last 6")


def test_log_lines_by_time_without_a_total(monkeypatch):
    clock = iter([0.0, 5.0, 11.0, 12.0, 25.0])
    monkeypatch.setattr("neurolearn.progress.time.perf_counter", lambda: next(clock))
    stream = io.StringIO()
    list(LogLines(iter("abcd"), "x", every=100, min_seconds=10, stream=stream))
    assert stream.getvalue().splitlines() == ["x: 2 it, 11.0s elapsed", "x: 4 it, 25.0s elapsed"]


def test_progress_bar_off_and_off_terminal(capsys):
    silent = progress_bar(range(3), "d", enabled=False)
    silent.set_postfix(a=1)
    assert list(silent) == [0, 1, 2]
    assert list(progress_bar(range(2), "d", unit="epochs")) == [0, 1]   # pytest captures: not a terminal
    assert capsys.readouterr().out.splitlines()[-1].startswith("d: 2/2 epochs (100%)")


def test_format_seconds():
    assert [format_seconds(s) for s in (3.21, 65, 3725)] == ["3.2s", "1m05s", "1h02m"]
