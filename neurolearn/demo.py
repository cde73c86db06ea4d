"""``neurolearn demo``: the whole path on a small network, in about a minute.

1. train an snntorch network (64-48-10, zero-reset LIF) on scikit-learn's digits, Poisson-coded,
   with surrogate gradients (the baseline trainer; local rules come with neurolearn.rules);
2. export it to NIR (dt recorded), compile it to a Lava plan;
3. classify the test set with snntorch, the float reference, the fixed-point simulator and Lava
   (Lava on a subset: it runs one sample at a time, slowly);
4. run the verification ladder and print its table.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DT = 1e-3          # s per step
STEPS = 25         # steps per sample
MAX_RATE = 0.5     # spike probability per step of a white pixel
LAVA_SAMPLES = 12  # test samples also run in Lava


def build_model(n_in=64, n_hidden=48, n_out=10, beta=0.9):
    import snntorch as snn
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(n_in, n_hidden),
        snn.Leaky(beta=beta, init_hidden=True, reset_mechanism="zero"),
        nn.Linear(n_hidden, n_out),
        snn.Leaky(beta=beta, init_hidden=True, reset_mechanism="zero", output=True),
    )


def run_snntorch(model, spikes: np.ndarray) -> np.ndarray:
    """Output spikes (batch, steps, n_out) of an init_hidden snntorch Sequential."""
    import snntorch.utils as su
    import torch

    su.reset(model)
    x = torch.as_tensor(spikes, dtype=torch.float32)
    out = []
    for t in range(x.shape[1]):
        spk, _ = model(x[:, t])
        out.append(spk)
    return torch.stack(out, 1)


def train_demo_model(x_tr, y_tr, epochs: int, seed: int, progress=True):
    """A new :func:`build_model` trained by surrogate-gradient BPTT on spike counts (cross-entropy of the
    count logits). Deterministic given ``seed`` (initial weights, input spikes and batch order)."""
    import torch

    from neurolearn.progress import progress_bar
    from neurolearn.train.encoders import poisson_spikes

    torch.manual_seed(seed)
    model = build_model()

    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    bar = progress_bar(range(epochs), "train (snntorch)", unit="epochs", enabled=progress)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # one reduction order whatever the machine, its load or another library's pool does
    try:
        for epoch in bar:
            order = rng.permutation(len(x_tr))
            spikes = poisson_spikes(x_tr * MAX_RATE, STEPS, seed=seed * 1000 + epoch)
            correct = 0
            for i in range(0, len(order), 64):
                idx = order[i:i + 64]
                counts = run_snntorch(model, spikes[idx]).sum(1)
                loss = loss_fn(counts, torch.as_tensor(y_tr[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                correct += int((counts.argmax(1).numpy() == y_tr[idx]).sum())
            bar.set_postfix(train_acc=f"{correct / len(order):.3f}")
    finally:
        torch.set_num_threads(threads)
    return model


def accuracy(spikes_out: np.ndarray, labels: np.ndarray) -> float:
    """Fraction classified right by the most-spiking output neuron (ties: lowest index)."""
    return float((spikes_out.sum(1).argmax(1) == labels).mean())


def run_demo(out: Path, seed: int = 0, epochs: int = 15) -> int:
    import torch

    from neurolearn.compile.build import compile_model
    from neurolearn.lava.graph import lava_available
    from neurolearn.lava.runner import simulate_lava
    from neurolearn.nir import export_to_nir, write
    from neurolearn.sims.fixed import simulate_fixed
    from neurolearn.sims.float_ref import simulate_float
    from neurolearn.train.datasets import digits
    from neurolearn.train.encoders import poisson_spikes
    from neurolearn.verify import format_table, run_ladder

    t0 = time.time()
    x_tr, y_tr, x_te, y_te = digits(seed=seed)
    model = train_demo_model(x_tr, y_tr, epochs, seed)
    out.mkdir(parents=True, exist_ok=True)
    nir_path = out / "digits.nir"
    write(nir_path, export_to_nir(model, dt=DT, input_shape=(64,)))
    build = compile_model(nir_path, out / "build")
    print(f"exported {nir_path} and compiled {build.path}/ (see report.md)")

    test = poisson_spikes(x_te * MAX_RATE, STEPS, seed=seed + 1)
    depth = max(build.plan.depths().values())
    padded = np.concatenate([test, np.zeros((len(test), depth, test.shape[2]), np.uint8)], axis=1)
    out_name = build.plan.outputs[0]
    with torch.no_grad():
        acc = {"snntorch": accuracy(run_snntorch(model, test).numpy(), y_te)}
    acc["float reference"] = accuracy(simulate_float(build.network, test).layers[out_name].spikes, y_te)
    acc["fixed point"] = accuracy(simulate_fixed(build.plan, padded, record_uv=False).layers[out_name].spikes, y_te)
    with_lava = lava_available()
    if with_lava:
        sub = slice(0, LAVA_SAMPLES)
        lava = simulate_lava(build.plan, padded[sub], record_uv=False)
        acc[f"lava (first {LAVA_SAMPLES})"] = accuracy(lava.layers[out_name].spikes, y_te[sub])
        acc[f"fixed point (first {LAVA_SAMPLES})"] = accuracy(
            simulate_fixed(build.plan, padded[sub], record_uv=False).layers[out_name].spikes, y_te[sub])
    else:
        print("Lava is not installed here (neurolearn[lava]: lava-nc 0.10.0, Python 3.10 only): showing float vs "
              "fixed point; the simulator's bit-exactness with Lava is pinned by recorded Lava runs (tests/golden)")

    print(f"\ntest accuracy, {len(y_te)} digits, {STEPS} steps of {DT * 1e3:g} ms:")
    for name, a in acc.items():
        print(f"  {name:<26} {a:6.1%}")
    print("\nverification ladder on 3 test samples:")
    rows = run_ladder(build, padded[:3], lava=with_lava)
    print(format_table(rows))
    bad = [r for r in rows if not r.ok]
    print(f"\n{'FAILED: ' + str(len(bad)) + ' mismatching row(s)' if bad else 'verify: 0 mismatches'}; "
          f"demo took {time.time() - t0:.0f} s")
    return 1 if bad else 0
