"""The verification ladder (DESIGN §4), as functions that return comparison rows.

* L2 vs L3 — neurolearn fixed point vs Lava fixed_pt: every bit of spikes, u and v, every step.
* L0 vs L1 — snntorch (via the NIR import) vs neurolearn's float reference: output spikes identical
  and voltages within 1e-6 relative, except where a value sits within float eps of threshold. Both run in
  float64, so the order of float operations (a pooling fused into a convolution, a sparse product where
  snntorch multiplies a dense matrix) stays far below the tolerance.
* L1 vs L2 — float vs fixed point: task-level agreement of spike counts (delays aligned).
* Learning builds: neurolearn vs Lava over the build's whole input schedule, epoch by epoch: every
  event and burst of every layer, every weight of every learning connection at each epoch's end.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.sims.result import SimResult, node_records


@dataclass(frozen=True)
class Row:
    """One line of the verify table."""

    check: str        # e.g. "fixed vs lava"
    layer: str
    quantity: str     # spikes, u, v, ...
    compared: int     # values compared
    mismatches: int
    first_step: int | None  # first step with a mismatch (None: none)
    exact: bool       # does this row require agreement for verify to pass?
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 or not self.exact


def compare_bits(a: SimResult, b: SimResult) -> list[Row]:
    """Every recorded value of two fixed-point runs, bit for bit."""
    rows = []
    for name in a.layers:
        for key in ("spikes", "u", "v"):
            x, y = getattr(a.layers[name], key), getattr(b.layers[name], key)
            if x is None or y is None:
                continue
            bad = np.argwhere(x != y)
            rows.append(Row(f"{a.backend} vs {b.backend}", name, key, x.size, len(bad),
                            int(bad[:, 1].min()) if len(bad) else None, exact=True))
    return rows


def compare_float(ref: SimResult, other_spikes: np.ndarray, other_v: np.ndarray | None, layer: str,
                  threshold, label: str, rtol: float = 1e-6) -> list[Row]:
    """Float reference vs another float model (snntorch) for one layer: spikes exact, v within rtol.
    ``threshold``: a scalar, one per neuron, or None (non-spiking)."""
    s = ref.layers[layer].spikes
    bad = np.argwhere(s != other_spikes)
    rows = []
    near = 0
    if other_v is not None:
        v = ref.layers[layer].v
        # Lava's and the reference's convention: v = 0 on a spike step; compare steps without spikes.
        quiet = (s == 0) & (other_spikes == 0)
        unit = np.abs(threshold) if threshold is not None else 1.0   # broadcasts over the neurons
        tol = rtol * np.maximum(np.abs(v), np.abs(other_v)) + 1e-6 * unit
        vbad = np.argwhere(quiet & (np.abs(v - other_v) > tol))
        if threshold is not None and len(bad):
            # spikes that differ because v sits within float eps of threshold are reported, not failed
            eps = 4 * np.finfo(np.float32).eps * unit
            pre = np.abs(other_v - threshold)
            near = int((pre <= eps)[tuple(bad.T)].sum())
        rows.append(Row(label, layer, "v (no-spike steps)", int(quiet.sum()), len(vbad),
                        int(vbad[:, 1].min()) if len(vbad) else None, exact=True))
    rows.insert(0, Row(label, layer, "spikes", s.size, len(bad) - near,
                       int(bad[:, 1].min()) if len(bad) else None, exact=True,
                       detail=f"{near} at threshold within float eps" if near else ""))
    return rows


def compare_counts(flt: SimResult, fixed: SimResult) -> list[Row]:
    """Float vs fixed point: per-layer spike counts over the run, the fixed run shifted by its delay.

    Informational (quantization changes exact spike times); reported as mismatching (sample, neuron)
    counts and the relative difference of total spikes.
    """
    rows = []
    for name, rec in flt.layers.items():
        d = fixed.delays.get(name, 0)
        steps = rec.spikes.shape[1]
        fx = fixed.layers[name].spikes[:, d:d + steps]
        fl = rec.spikes[:, :fx.shape[1]]
        cf, cx = fl.sum(axis=1), fx.sum(axis=1)
        total = max(1, int(cf.sum()))
        rows.append(Row("float vs fixed", name, "spike counts", cf.size, int((cf != cx).sum()), None, exact=False,
                        detail=f"total {int(cf.sum())} vs {int(cx.sum())} "
                               f"({(int(cx.sum()) - int(cf.sum())) / total:+.1%})"))
    return rows


def format_table(rows: list[Row]) -> str:
    head = f"{'check':<20} {'layer':<16} {'quantity':<20} {'compared':>9} {'mismatch':>9} {'first step':>10}  status"
    out = [head, "-" * len(head)]
    for r in rows:
        status = "ok" if r.mismatches == 0 else ("MISMATCH" if r.exact else "info")
        first = "-" if r.first_step is None else str(r.first_step)
        line = f"{r.check:<20} {r.layer:<16} {r.quantity:<20} {r.compared:>9} {r.mismatches:>9} {first:>10}  {status}"
        out.append(line + (f"  ({r.detail})" if r.detail else ""))
    return "\n".join(out)


def run_ladder(build, spikes: np.ndarray, progress=None, lava: bool = True) -> list[Row]:
    """All three comparisons for a build on input ``spikes`` (steps, n_in) or (batch, steps, n_in); without
    the fixed vs Lava rows if ``lava`` is False."""
    import torch

    from neurolearn.lava.runner import simulate_lava
    from neurolearn.nir import import_from_nir
    from neurolearn.sims.fixed import simulate_fixed
    from neurolearn.sims.float_ref import simulate_float
    from neurolearn.sims.result import as_batch

    spikes = as_batch(spikes, build.plan.input_size)
    fixed = simulate_fixed(build.plan, spikes)
    rows = compare_bits(fixed, simulate_lava(build.plan, spikes, progress=progress)) if lava else []

    flt = simulate_float(build.network, spikes, dtype=torch.float64)
    model = import_from_nir(build.path / "model.nir", dt=build.plan.dt,  # older builds' copies may lack dt
                            dtype=torch.float64)
    x = torch.as_tensor(spikes, dtype=torch.float64).transpose(0, 1)  # (steps, batch, n_in)
    with torch.no_grad():
        _, rec = model.run(x, record=True)
    for pop in build.network.populations:
        if pop.name not in rec or "out" not in rec[pop.name]:
            continue
        r = rec[pop.name]
        flat = (spikes.shape[0], spikes.shape[1], pop.size)   # maps (C, H, W) as the layer's C-order neurons
        s = r["out"].transpose(0, 1).numpy().reshape(flat)
        v = r["mem"].transpose(0, 1).numpy().reshape(flat) if "mem" in r else None
        if pop.spiking:
            rows += compare_float(flt, s.astype(np.uint8), v, pop.name, pop.threshold, "snntorch vs float")
        else:  # non-spiking nodes output their voltage
            rows += compare_float(flt, np.zeros_like(flt.layers[pop.name].spikes), s, pop.name, None,
                                  "snntorch vs float")
    return rows + compare_counts(flt, node_records(build.plan, fixed))


@dataclass(frozen=True)
class EpochAgreement:
    """neurolearn vs Lava in one epoch of a learning run: mismatching values per layer (events and
    bursts over the epoch's steps) and per learning connection (weights at the epoch's end)."""

    epoch: int
    steps: int
    spikes: dict      # layer -> (mismatching events, mismatching bursts)
    weights: dict     # connection -> (mismatching weights, weights compared)

    @property
    def ok(self) -> bool:
        return not any(a or b for a, b in self.spikes.values()) and not any(w for w, _ in self.weights.values())


def compare_epochs(a, b, schedule) -> list[EpochAgreement]:
    """Two :class:`~neurolearn.sims.epochs.EpochRun` over ``schedule``, epoch by epoch."""
    rows, start = [], 0
    for e, end in enumerate(schedule.epoch_ends):
        sl = slice(start, end + 1)
        spikes = {n: (int(np.count_nonzero(a.spikes[n][sl] != b.spikes[n][sl])),
                      int(np.count_nonzero(a.bursts[n][sl] != b.bursts[n][sl]))) for n in a.spikes}
        weights = {n: (int(np.count_nonzero(a.weights[n][e] != b.weights[n][e])), int(a.weights[n][e].size))
                   for n in a.weights}
        rows.append(EpochAgreement(e + 1, end + 1 - start, spikes, weights))
        start = end + 1
    return rows


def format_epochs(rows: list[EpochAgreement], labels: tuple[str, str], unit: str = "epoch") -> str:
    """One line per epoch (or sample, ``unit``): mismatching events/bursts per layer and weights per connection
    ('=': none)."""
    layers, conns = list(rows[0].spikes), list(rows[0].weights)
    head = [unit, "steps"] + [f"{n} events/bursts" for n in layers] + [f"{n} weights" for n in conns]
    lines = [f"{labels[0]} vs {labels[1]}: mismatching values per {unit} ('=' is bit-identical)", " | ".join(head)]
    for r in rows:
        cells = [str(r.epoch), str(r.steps)]
        cells += ["=" if not any(r.spikes[n]) else f"{r.spikes[n][0]}/{r.spikes[n][1]}" for n in layers]
        cells += ["=" if not r.weights[n][0] else f"{r.weights[n][0]} of {r.weights[n][1]}" for n in conns]
        lines.append(" | ".join(c.rjust(len(h)) for c, h in zip(cells, head)))
    return "\n".join(lines)
