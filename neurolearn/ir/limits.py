"""Stated limits on what neurolearn reads and allocates; each refusal names the limit and the figure.

Memory: a command estimates the bytes it would allocate before allocating them and refuses past
:func:`memory_limit` (default :data:`MEMORY_LIMIT_DEFAULT`; environment ``NEUROLEARN_MEMORY_LIMIT`` in bytes,
with an optional K/M/G/T suffix, changes it). Files: NIR graphs nest at most :data:`MAX_NESTING` levels, have
at most :data:`MAX_NODES` nodes, and a path of linear nodes between two neurons is at most
:data:`MAX_LINEAR_CHAIN` long and there are at most :data:`MAX_NEURON_NODES` neuron nodes (the compiler folds
chains and orders populations recursively).
"""
from __future__ import annotations

import argparse
import math
import os

from neurolearn.errors import ResourceLimitError

MEMORY_LIMIT_DEFAULT = 8 * 2**30   # bytes
MAX_NESTING = 32                   # NIRGraph inside NIRGraph, levels
MAX_NODES = 100_000                # nodes in a NIR graph, nested graphs included
MAX_LINEAR_CHAIN = 200             # linear nodes (Linear, Affine, Scale, Flatten) in a row between neurons
MAX_NEURON_NODES = 400             # neuron nodes in a graph (the compiler orders them recursively)
MAX_STEPS = 10**8                  # time steps of one run
MAX_SEED = 2**32 - 1               # numpy's and torch's seeds: 0..MAX_SEED
MAX_COUNT = 10**6                  # samples, epochs, rows, batch size, layer width: more is a mistake


def memory_limit() -> int:
    """The memory limit in bytes: ``NEUROLEARN_MEMORY_LIMIT`` if set (e.g. ``512M``, ``16G``), else the default."""
    text = os.environ.get("NEUROLEARN_MEMORY_LIMIT", "").strip()
    if not text:
        return MEMORY_LIMIT_DEFAULT
    factor = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1].upper(), 1)
    try:
        value = float(text[:-1] if factor > 1 else text) * factor
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ResourceLimitError(f"environment NEUROLEARN_MEMORY_LIMIT = {text!r}; allowed: a positive number of "
                                 "bytes, optionally with K, M, G or T (e.g. 16G)")
    return int(value)


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. '43.7 TiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover - the loop returns


def check_memory(nbytes: float, what: str) -> None:
    """Refuse (ResourceLimitError) when ``what`` would need more than the memory limit; ``what`` names the
    file, flag or parameter responsible, e.g. "--steps 1000000000000 x --batch 1 x 12 inputs"."""
    limit = memory_limit()
    if not nbytes <= limit:   # also refuses nan
        raise ResourceLimitError(f"{what} would need {format_bytes(nbytes)} of memory; limit {format_bytes(limit)} "
                                 "(set NEUROLEARN_MEMORY_LIMIT to change it)")


def whole_number(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi] (written as 100, 1e6 or 1_000), else the allowed range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f == int(f)):
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed {lo} to {hi}") from None
            value = int(f)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text}; allowed {lo} to {hi}")
        return value
    return parse


def real_number(lo: float, hi: float, unit: str = ""):
    """An argparse type: a finite number in [lo, hi], else the allowed range."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"{text!r}; allowed {lo:g} to {hi:g}{' ' + unit if unit else ''}")
        return value
    return parse
