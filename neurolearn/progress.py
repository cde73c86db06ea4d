"""Progress of a long loop: a tqdm bar on a terminal, log lines everywhere else.

When standard output or standard error is not a terminal (CI, ``nohup``, ``> log``, a sweep worker), a bar
draws nothing useful; :func:`progress_bar` then prints one line per item (an epoch), or per ``every``
items, or at most every ``min_seconds`` seconds, to standard output, flushed::

    spiking burstprop on digits: 3/30 epochs (10%), 2m18s elapsed, ETA 20m42s, test_acc 0.881
"""
from __future__ import annotations

import sys
import time


def output_is_terminal() -> bool:
    """True when both standard output and standard error are terminals (a person watches a bar)."""
    return all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, sys.stderr))


def format_seconds(seconds: float) -> str:
    """A duration as ``12.3s``, ``4m05s`` or ``2h03m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class LogLines:
    """Iterate over ``iterable`` like tqdm, printing progress as lines to ``stream`` (default standard output).

    A line is printed after item ``n`` when ``n`` is a multiple of ``every``, when ``min_seconds`` have passed
    since the last line (if ``min_seconds`` > 0), and after the last item. :meth:`set_postfix` sets the running
    metric shown at the end of the next line."""

    def __init__(self, iterable, desc: str, total: int | None = None, unit: str = "it", every: int = 1,
                 min_seconds: float = 0.0, stream=None):
        self.iterable, self.desc, self.unit = iterable, desc, unit
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.every, self.min_seconds, self.stream = max(1, int(every)), min_seconds, stream
        self.postfix: dict = {}
        self.n = 0

    def set_postfix(self, **values) -> None:
        """The running metric(s) for the next line, e.g. ``set_postfix(test_acc="0.913")``."""
        self.postfix = values

    def line(self, elapsed: float) -> str:
        """The progress line after ``self.n`` items and ``elapsed`` seconds."""
        parts = [f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total
                 else f"{self.n} {self.unit}", f"{format_seconds(elapsed)} elapsed"]
        if self.total and self.n < self.total:
            parts.append(f"ETA {format_seconds(elapsed / self.n * (self.total - self.n))}")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return f"{self.desc}: " + ", ".join(parts)

    def __iter__(self):
        start = last = time.perf_counter()
        for item in self.iterable:
            yield item
            self.n += 1
            now = time.perf_counter()
            if (self.n % self.every == 0 or self.n == self.total
                    or (self.min_seconds > 0 and now - last >= self.min_seconds)):
                print(self.line(now - start), file=self.stream or sys.stdout, flush=True)
                last = now

    def __len__(self):
        return self.total


class _Silent:
    """An iterable that shows nothing (progress off), with tqdm's ``set_postfix``."""

    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **values) -> None:
        """Ignored: nothing is shown."""


def progress_bar(iterable, desc: str, *, total: int | None = None, unit: str = "it", enabled: bool = True,
                 every: int = 1, min_seconds: float = 0.0, leave: bool = False):
    """``iterable`` with progress shown: a tqdm bar on a terminal, else :class:`LogLines`; nothing if not
    ``enabled``. Every form has ``set_postfix(**values)`` for the running metric."""
    if not enabled:
        return _Silent(iterable)
    if output_is_terminal():
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave)
    return LogLines(iterable, desc, total=total, unit=unit, every=every, min_seconds=min_seconds)
