"""Dendritic balance on 8x8 digits on chip, from a .nir file through ``neurolearn compile``.

Error-neuron form (reference B.4.3): 64 pixel inputs (Poisson, one digit at a time) excite 64 error neurons e;
e excites the representation z through F (``W:e->z``, ``DendriticBalance(connection="feedforward")``:
dF = eta_f (e - C) z); z inhibits e through D (``W:z->e``, a recurrent event weight, ``DendriticBalance()``:
dD = -eta_d z (e - C)), so e codes the residual x - D z around its resting rate. A bias on e makes it fire at rest
(trace C = 0.875, 7 trace units at 8 per spike: exact), so the residual is two-sided; z's homeostatic bias
(the paper's db = eta_b (rho - z), ``BurstParams.homeostasis_*``) holds every z at rho = 0.03 events per step.
The Hebbian baseline is the same network with F learning by ``HebbianBaseline`` (Oja-like, dF = eta_f (e z - F z^2));
"homeostasis only" runs it with plasticity off (the random F; the biases still adapt).

Each network is written as a .nir file (neurolearn's NIR extension, rules in its block), compiled by
``neurolearn compile`` into a learning build and run in the fixed-point learning simulator (bit-exact with Lava) and
its float twin on the same input spikes. A linear decoder (least squares with offset from z's spike counts to the
pixels, fit on 300 training digits) measures the representation on 200 held-out digits before, during and after
learning: L = |x - x_hat|^2 / (2 * 64), the paper's decoder loss (predicting the mean digit: 0.0367). ``--lava N``
writes the first N training digits as the build's schedule and runs ``neurolearn verify BUILD --learning``.

    python examples/dendritic_balance_digits.py --out db_digits.png
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from neurolearn.cli import main as neurolearn
from neurolearn.compile.build import SCHEDULE, compile_model
from neurolearn.compile.burst_mapping import compile_burst_network
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.ir.plan import HB_RANGE, PBAR_ONE
from neurolearn.ir.schedule import Schedule
from neurolearn.nir import read, write
from neurolearn.nir.burst_encoding import from_nir, to_nir
from neurolearn.rules import DendriticBalance, HebbianBaseline
from neurolearn.sims.float_twin import FloatTwinSession
from neurolearn.sims.learning import ChipSession
from neurolearn.train.datasets import digits

N_X, N_Z = 64, 16
ON, GAP = 40, 10                # steps a digit is shown, steps of rest after it
RATE = 0.25                     # input spikes per step at pixel value 1
PARAMS = BurstParams(beta=0.9, beta_d=0.9, burst_offset=4.0)   # dendrites unused: bursts stay rare
W_X = 0.6                       # threshold units per input spike
TAU = 10.0                      # trace taus (steps)
IMPULSE = 8                     # trace units per spike (the 7-bit traces; the rules' smallest scales need 8)
BIAS_E = 0.14                   # e's bias (threshold units per step): it fires every 12 steps at rest
BASELINE = 0.875                # e's resting trace (trace units at 1 per spike): the rules' offset C
RHO, ETA_B, BIAS_Z = 0.03, 0.003, -0.5   # z's homeostasis: target events per step, its eta, the start bias
T_EPOCH = 4                     # DB's weights change every 4 steps by 4 steps' worth: Lava's floor costs 1/4
HEBBIAN_ETA = 4                 # the Hebbian baseline's eta in eta_f: its decay term needs Lava's smallest scale


def network(rules: dict, seed: int = 0) -> BurstNetwork:
    """input (64 pixels) -> e (64) -> z (16), z -| e; F random, D zero; e's bias, z's homeostatic bias;
    ``rules`` by connection."""
    f = np.random.default_rng(seed).uniform(0.0, 0.25, (N_Z, N_X))
    z_params = PARAMS._replace(homeostasis_rate=RHO, homeostasis_eta=ETA_B)
    return BurstNetwork(dt=1e-3, input_size=N_X,
                        layers=(BurstLayer("e", N_X, PARAMS, 1), BurstLayer("z", N_Z, z_params, 2)),
                        weights={("input", "e"): W_X * np.eye(N_X), ("e", "z"): f, ("z", "e"): np.zeros((N_X, N_Z))},
                        feedback={}, rules=rules, biases={"e": np.full(N_X, BIAS_E), "z": np.full(N_Z, BIAS_Z)})


def spike_trains(x: np.ndarray, rng) -> np.ndarray:
    """Poisson input (samples * (ON + GAP), 64): each digit ON steps, then GAP steps of rest."""
    p = np.repeat(np.concatenate([x * RATE, np.zeros_like(x)], axis=1).reshape(-1, N_X), [ON, GAP] * len(x),
                  axis=0)
    return (rng.random(p.shape) < p).astype(np.uint8)


def z_counts(session, x: np.ndarray, rng, z_at: int) -> np.ndarray:
    """z's spike counts per digit (the ON window), plasticity off, on a fork of ``session``."""
    spk, _ = session.fork().run(spike_trains(x, rng), learn=False)
    return spk[:, z_at:z_at + N_Z].reshape(len(x), ON + GAP, N_Z)[:, :ON].sum(1).astype(float)


def bias_at_limit(session, plan, z_at: int) -> int:
    """How many z neurons' homeostatic bias accumulators are within one event's change of their 32-bit limit (a
    neuron there is no longer held at the target rate)."""
    hb, step = session.state.hb[z_at:z_at + N_Z], plan.layer("z").burst.bias_gain * PBAR_ONE
    return int((np.abs(hb) >= HB_RANGE[1] - step).sum())


def decoder_loss(c_fit, x_fit, c_test, x_test) -> float:
    """Least-squares linear decoder (with offset) from counts to pixels fit on one set, L on the other."""
    a = np.hstack([c_fit, np.ones((len(c_fit), 1))])
    d, *_ = np.linalg.lstsq(a, x_fit, rcond=None)
    err = np.hstack([c_test, np.ones((len(c_test), 1))]) @ d - x_test
    return float((err ** 2).sum(1).mean() / (2 * N_X))


def build(rules: dict, path: Path):
    """Write the network with ``rules`` to ``path`` (.nir) and compile it into a learning build beside it
    (``neurolearn compile``); returns the network read back from the file, the build and its integer units (as the
    float twin reads them)."""
    write(path, to_nir(network({k: r.to_params() for k, r in rules.items()})))
    built = compile_model(path, path.with_suffix(""))
    net = from_nir(read(path), file=str(path))
    compiled = compile_burst_network(net, file=str(path))
    assert all((a.weights == b.weights).all() for a, b in zip(compiled.plan.connections, built.plan.connections))
    return net, built, compiled


def experiment(kind: str, eta_f: float, eta_d: float, data, workdir: Path, samples: int, evals: int, seed: int):
    """Compile ``kind`` ("db", "hebbian" or "homeostasis only": the DB build with plasticity off) from its .nir
    file, run fixed point and float twin on the same spikes; returns the build, the training spikes and per backend
    the loss curve [(digits seen, L)], z's rate on the test digits (spikes per step), the final weights and the run
    time (s)."""
    x_tr, x_te = data
    traces = dict(tau_pre=TAU, tau_post=TAU, baseline=BASELINE, pre_impulse=IMPULSE, post_impulse=IMPULSE,
                  t_epoch=T_EPOCH)
    forward = (HebbianBaseline(eta=HEBBIAN_ETA * eta_f, tau_x=TAU, tau_z=TAU, x_impulse=IMPULSE, z_impulse=IMPULSE)
               if kind == "hebbian" else DendriticBalance(eta=eta_f, connection="feedforward", **traces))
    rules = {"W:z->e": DendriticBalance(eta=eta_d, **traces), "W:e->z": forward}
    net, built, compiled = build(rules, workdir / f"{kind.split()[0]}.nir")
    fit = x_tr[:300]
    z_at = built.plan.layers[0].size
    rng = np.random.default_rng(seed)                        # the same spikes for both backends
    train_spikes = spike_trains(x_tr[rng.integers(0, len(x_tr), samples)], rng)
    marks = np.linspace(0, samples, evals + 1).astype(int)
    out = {}
    for backend in ("fixed", "float"):
        session = ChipSession(built.plan, threads=1) if backend == "fixed" else FloatTwinSession(net, compiled)
        curve, t0 = [], time.perf_counter()
        for k, mark in enumerate(marks):
            eval_rng = np.random.default_rng(seed + 1)       # the same test spikes at every measurement
            c_fit, c_test = z_counts(session, fit, eval_rng, z_at), z_counts(session, x_te, eval_rng, z_at)
            curve.append((int(mark), decoder_loss(c_fit, fit, c_test, x_te)))
            if k < evals:
                session.run(train_spikes[mark * (ON + GAP):marks[k + 1] * (ON + GAP)], learn=kind != "homeostasis only")
        out[backend] = {"curve": curve, "seconds": time.perf_counter() - t0, "rate": c_test.mean() / ON,
                        "D": session.weights("W:z->e"), "F": session.weights("W:e->z"),
                        "saturated": "-" if backend == "float" else sum(   # at the 8-bit limits, as on chip
                            int(np.isin(session.weights(n), (-256, 255)).sum()) for n in ("W:z->e", "W:e->z")),
                        "bias_limit": "-" if backend == "float" else bias_at_limit(session, built.plan, z_at)}
    return built, train_spikes, out


def verify_with_lava(build_dir: Path, spikes: np.ndarray, digits_: int) -> int:
    """The first ``digits_`` training digits as the build's schedule, then ``neurolearn verify --learning``."""
    steps = digits_ * (ON + GAP)
    ends = tuple(range(ON + GAP - 1, steps, ON + GAP))
    Schedule(spikes[:steps], (), ends, "samples").save(build_dir / SCHEDULE)
    return neurolearn(["verify", str(build_dir), "--learning", "--samples", str(digits_)])


def plot(rows: dict, path: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: no backend switch, no figure left open

    fig = Figure(figsize=(10, 3.6))
    a, b = fig.subplots(1, 2)
    for k, (kind, out) in enumerate(rows.items()):
        for backend, style in (("fixed", "o-"), ("float", "x--")):
            seen, loss = zip(*out[backend]["curve"])
            a.plot(seen, loss, style, color=f"C{k}", label=f"{kind} {backend}")
    a.axhline(0.0367, color="gray", lw=0.8, label="mean digit")
    a.set(xlabel="training digits", ylabel="decoder loss L (test digits)", title="linear decoder from z's counts")
    a.legend(fontsize=7)
    d = rows["db"]["fixed"]["D"]
    b.imshow(np.block([[-d[:, 4 * r + c].reshape(8, 8) for c in range(4)] for r in range(4)]), cmap="gray")
    b.set(title="-D per z neuron (fixed point, dendritic balance)", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1500, help="training digits (one at a time, plasticity on)")
    ap.add_argument("--evals", type=int, default=6, help="decoder-loss measurements during training")
    ap.add_argument("--eta-f", type=float, default=5e-4, help="F's rate (float weight units per unit trace product)")
    ap.add_argument("--eta-d", type=float, default=1e-3, help="D's rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lava", type=int, default=0, help="verify the first N training digits against Lava")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "dendritic_balance_digits.png"))
    args = ap.parse_args()
    x_tr, _, x_te, _ = digits()
    workdir = Path(tempfile.mkdtemp(prefix="db_digits_"))
    rows, t_start = {}, time.perf_counter()
    for kind in ("db", "hebbian", "homeostasis only"):
        built, spikes, rows[kind] = experiment(kind, args.eta_f, args.eta_d, (x_tr, x_te[:200]), workdir,
                                               args.samples, args.evals, args.seed)
        print(f"{kind}: learning build {built.path} (from {built.path}.nir)")
        for name, pl in built.plan.learning.items():
            print(f"  {name}: dw = {pl.program.dw}")
        if args.lava and kind == "db" and verify_with_lava(built.path, spikes, args.lava) != 0:
            raise SystemExit(f"Lava and neurolearn differ on the first {args.lava} digits (see above)")
    print(f"\ndecoder loss L on 200 test digits (mean digit: 0.0367), {args.samples} training digits:")
    print(f"{'rule':>16} {'backend':>8} | {'before':>7} | {'after':>7} | {'z rate (/step)':>14} | {'run (s)':>7} | "
          f"saturated weights (of {2 * N_X * N_Z}) | z biases at their limit (of {N_Z})")
    for kind, out in rows.items():
        for backend, r in out.items():
            print(f"{kind:>16} {backend:>8} | {r['curve'][0][1]:7.4f} | {r['curve'][-1][1]:7.4f} | "
                  f"{r['rate']:14.3f} | {r['seconds']:7.1f} | {r['saturated']:>26} | {r['bias_limit']}")
        for backend in out:
            print(f"{'':>17} curve ({backend}): " + ", ".join(f"{a}: {loss:.4f}" for a, loss in out[backend]["curve"]))
    plot(rows, args.out)
    print(f"saved {args.out}; total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
