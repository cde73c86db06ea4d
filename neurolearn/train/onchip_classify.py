"""Classification learned on chip: burstprop on digits and Fashion-MNIST inside the learning engine, online.

One continuous input stream, one sample after another, plasticity always on, every weight change made by the
``LearningDense`` programs; the teacher decides per step on chip (``ClassTeacher``); nothing is adjusted by the
host between samples. The network (docs/onchip.md explains every choice):

* input: every pixel (and ``n_bias`` bias channels at ``bias``) a deterministic spike train, a phase accumulator
  per channel (``phase += rate * x``, a spike where it crosses 1, the phase carried on from sample to sample);
* hidden burst layers (``hidden``), an output burst layer of ``classes x per_class`` neurons;
* feedback: the upper layer's bursts into the lower dendrites through a fixed random Y, and its events
  through Z = -p0 Y (``balance``): the dendrite sees Y (B - p0 E), zero on average without a teacher, so
  plasticity can stay on all the time;
* the rule: each neuron sends its expected burst p(v_d) minus a fixed Pbar = p(0) (plus, on hidden layers, an
  event-rate homeostasis and a dead zone), the learning engine multiplies it with the presynaptic trace;
* the teacher: per class an up and a down request channel, requested from step ``teach_from`` of each training
  sample (up for the label, down for the others), passed by the class teacher while the class's population
  is below (up) or above (down) its band; it only touches the output dendrites;
* the prediction: the output population with the most events in the sample (ties count as wrong).

The same run executes in neurolearn's fixed-point simulator (:class:`~neurolearn.sims.learning.ChipSession`,
bit-exact with Lava) and in the float twin (:class:`~neurolearn.sims.float_twin.FloatTwinSession`), chunk by
chunk. The test set is evaluated after every epoch on a copy of each (learning off, no teacher); see
:func:`evaluate_copy`.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from neurolearn.compile.burst_mapping import BurstCompiled, compile_burst_network
from neurolearn.errors import InputError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams, ChipSettings
from neurolearn.ir.plan import HALVING_RANGE, WEIGHT_RANGE
from neurolearn.ir.schedule import Schedule
from neurolearn.nir.burst_encoding import from_nir, to_nir
from neurolearn.rules.btsp_credit import BTSPCredit
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.sims.float_twin import FloatTwinSession
from neurolearn.sims.learning import ChipSession
from neurolearn.train.catalog import ONCHIP_RULE_NAMES


@dataclass(frozen=True)
class OnChipClassifyConfig:
    """The on-chip classification protocol (steps of dt; rates in events per step; voltages and weights in
    threshold units)."""

    hidden: tuple = (500,)      # hidden burst layers
    per_class: int = 10         # output neurons per class
    steps: int = 60             # steps per sample
    teach_from: int = 20        # training samples: teacher requests from this step on
    rate: float = 0.3           # input spikes per step of a channel at value 1
    n_bias: int = 8             # bias channels ...
    bias: float = 0.5           # ... at this value
    vth: int = 256              # integer threshold: weights in 1/256 of a threshold, range +-1 threshold
    beta: float = 0.9           # somatic keep per step
    beta_d: float = 0.9         # apical keep per step
    eta_hidden: float = 2e-3    # learning rate of the hidden layers' input weights
    eta_out: float = 1e-3       # ... of the output's
    tau_pre: float = 20.0       # presynaptic event trace, steps
    teacher: float = 0.3        # teacher drive into the output dendrites per request step
    band_lo: float = 0.03       # class teacher band: events per neuron and step
    band_hi: float = 0.1
    balance: float = 0.5        # p0: Z = -p0 Y (the burst probability without teacher)
    rate_target: float = 0.04   # hidden homeostasis: target events per step
    homeo_cap: float = 8.0      # ... below it scaled by target / rate, at most this
    tau_rate: float = 1024.0    # ... rate average, steps
    dead_zone: float = 0.1      # hidden valences smaller than this are not sent
    chunk: int = 100            # samples per simulator call
    halve_every: int = 0        # every burst layer's valence (so its rules' learning rates) halves every this many
    #                             training samples (0: never): a schedule the neurons keep, counted in steps
    rule: str = "burstprop"     # or "btsp-credit": BTSP's credit-assignment form, the valence as its plateau
    w_max: float = 0.5          # btsp-credit only: potentiation's bound (threshold units)
    et_per_event: float = 0.25  # btsp-credit: ET per presynaptic event (ET clips at 1)
    theta_et: float = 0.25      # btsp-credit: q(ET) = min(1, ET / theta_et), at least et_per_event

    def __post_init__(self):
        sizes = tuple(self.hidden)
        object.__setattr__(self, "hidden", sizes)
        most = HALVING_RANGE[1] // self.steps if isinstance(self.steps, int) and self.steps > 0 else 0
        if type(self.halve_every) is not int or not 0 <= self.halve_every <= most:
            raise InputError(f"on-chip classification: halve_every = {self.halve_every!r} samples; allowed integers "
                             f"0..{most} (the halving's {HALVING_RANGE[1]} steps at {self.steps} steps per sample)")
        for name in ("per_class", "steps", "chunk"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"on-chip classification: {name} = {getattr(self, name)!r}; allowed integers >= 1")
        if not sizes or min(sizes) < 1:
            raise InputError(f"on-chip classification: hidden = {sizes}; give one or more positive layer sizes")
        if not 0 <= self.teach_from < self.steps:
            raise InputError(f"on-chip classification: teach_from = {self.teach_from}; allowed 0..{self.steps - 1}")
        if not 0 <= self.band_lo <= self.band_hi:
            raise InputError(f"on-chip classification: band {self.band_lo}..{self.band_hi}; need 0 <= lo <= hi")
        if self.rule not in ONCHIP_RULES:
            raise InputError(f"on-chip classification: rule {self.rule!r}; allowed {', '.join(ONCHIP_RULES)}")


ONCHIP_RULES = ("burstprop", *ONCHIP_RULE_NAMES)


ONCHIP_PRESETS = {   # (task, rule) -> protocol (docs/onchip.md: how they were chosen)
    ("digits", "burstprop"): OnChipClassifyConfig(),
    ("fashion-mnist", "burstprop"): OnChipClassifyConfig(eta_hidden=1e-3, eta_out=3e-4, vth=512, halve_every=60000),
    ("digits", "btsp-credit"): OnChipClassifyConfig(rule="btsp-credit", eta_hidden=1e-3, eta_out=2e-3),
    ("fashion-mnist", "btsp-credit"): OnChipClassifyConfig(rule="btsp-credit", eta_hidden=1e-3, eta_out=2e-3),
}


def classifier_network(n_pixels: int, classes: int, cfg: OnChipClassifyConfig, seed: int) -> BurstNetwork:
    """The seeded burst network: W ~ N(0, 1/n_pre), Y ~ N(0, 1/n_upper), Z = -p0 Y, burstprop (or btsp-credit)
    rules (expected valence, fixed Pbar, the valence halving every ``halve_every`` samples; homeostasis and dead
    zone on hidden layers), and how it compiles: ``vth``,
    the trace seed, even rounding, per-class teacher channels into the output and the class teacher's band."""
    rng = np.random.default_rng(seed)
    n_in = n_pixels + cfg.n_bias
    names = [f"h{i + 1}" for i in range(len(cfg.hidden))] + ["out"]
    sizes = [n_in, *cfg.hidden, classes * cfg.per_class]
    prm = BurstParams(alpha=0.0, beta=cfg.beta, beta_d=cfg.beta_d, threshold=1.0, burst_offset=0.0, burst_slope=1.0,
                      stochastic=True)
    layers = tuple(BurstLayer(name, size, prm, seed * 10 + i) for i, (name, size) in enumerate(zip(names, sizes[1:])))
    srcs = ["input"] + names[:-1]
    weights = {(s, d): rng.normal(0.0, 1 / math.sqrt(a), (b, a)) for s, d, a, b in zip(srcs, names, sizes, sizes[1:])}
    feedback = {(names[i + 1], names[i]): rng.normal(0.0, 1 / math.sqrt(sizes[i + 2]), (sizes[i + 1], sizes[i + 2]))
                for i in range(len(names) - 1)}
    balance = {key: -cfg.balance * y for key, y in feedback.items()}
    common = dict(tau_pre=cfg.tau_pre, valence="expected", pbar="fixed", p_init=0.5,
                  valence_halving=cfg.halve_every * cfg.steps)
    if cfg.rule == "btsp-credit":
        common.update(w_max=cfg.w_max, et_per_event=cfg.et_per_event, theta_et=cfg.theta_et)
    kind = BTSPCredit if cfg.rule == "btsp-credit" else BurstpropSpiking
    hidden = kind(eta=cfg.eta_hidden, rate_target=cfg.rate_target, homeo_gain=1.0, homeo_cap=cfg.homeo_cap,
                              tau_rate=cfg.tau_rate, dead_zone=cfg.dead_zone, **common)
    out = kind(eta=cfg.eta_out, **common)
    rules = {f"W:{s}->{d}": (out if d == "out" else hidden).to_params() for s, d in zip(srcs, names)}
    chip = ChipSettings(vth=cfg.vth, rng_seed=seed, round_even=True, teacher_layer="out", teacher_classes=classes,
                        teacher_strength=cfg.teacher, band_lo=cfg.band_lo, band_hi=cfg.band_hi)
    return BurstNetwork(dt=1e-3, input_size=n_in, layers=layers, weights=weights, feedback=feedback, rules=rules,
                        balance=balance, chip=chip)


class PhaseEncoder:
    """Deterministic input spike trains: per channel a phase that grows by ``rate * x`` each step and spikes when
    it crosses 1; phases carry on from sample to sample (seeded start). Adds the teacher's request channels."""

    def __init__(self, n_in: int, classes: int, cfg: OnChipClassifyConfig, seed: int):
        self.cfg, self.classes, self.n_in = cfg, classes, n_in
        self.phase = np.random.default_rng(seed).random(n_in)

    def encode(self, x: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Samples x (k, n_pixels) in [0, 1] -> spikes (k * steps, n_in + 2 classes) uint8; with ``labels``, the
        teacher's requests from ``teach_from`` on (up for the label, down for the others)."""
        cfg = self.cfg
        x = np.hstack([x, np.full((len(x), cfg.n_bias), cfg.bias)]) * cfg.rate
        out = np.zeros((len(x), cfg.steps, self.n_in + 2 * self.classes), np.uint8)
        ticks = np.arange(1, cfg.steps + 1)[:, None]
        for k, rates in enumerate(x):
            acc = self.phase + ticks * rates
            out[k, :, :self.n_in] = np.diff(np.floor(np.vstack([self.phase, acc])), axis=0) > 0
            self.phase = acc[-1] - np.floor(acc[-1])
            if labels is not None:
                down = self.n_in + 2 * np.arange(self.classes) + 1
                out[k, cfg.teach_from:, down[np.arange(self.classes) != labels[k]]] = 1
                out[k, cfg.teach_from:, self.n_in + 2 * labels[k]] = 1
        return out.reshape(-1, out.shape[2])


def class_counts(events: np.ndarray, first: int, classes: int, cfg: OnChipClassifyConfig) -> np.ndarray:
    """Each sample's output events per class, (k, classes), from every neuron's events (k * steps, n)."""
    out = events[:, first:first + classes * cfg.per_class]
    return out.reshape(-1, cfg.steps, classes, cfg.per_class).sum(axis=(1, 3))


def predictions(counts: np.ndarray) -> np.ndarray:
    """The class with the most events; -1 where the most are shared (a tie is no answer)."""
    best = counts.max(axis=1, keepdims=True)
    return np.where((counts == best).sum(axis=1) == 1, counts.argmax(axis=1), -1)


@dataclass
class _Side:
    """One backend's part of the run: its session and what it has measured."""

    session: object
    history: list
    confusion: np.ndarray | None = None


def evaluate_copy(session, encoder: PhaseEncoder, x: np.ndarray, first: int, classes: int,
                  cfg: OnChipClassifyConfig) -> np.ndarray:
    """Output counts per class of every test sample, run on a copy of the session (learning off, no teacher
    requests). What the host does: it reads the learned state out (as ``verify`` reads weights), evaluates it on a
    second copy of the chip, and leaves the training run untouched; nothing of the evaluation flows back."""
    probe = session.fork()
    counts = []
    for a in range(0, len(x), cfg.chunk):
        events = probe.run(encoder.encode(x[a:a + cfg.chunk], None), learn=False)[0]
        counts.append(class_counts(events, first, classes, cfg))
    return np.concatenate(counts)


@dataclass
class OnChipClassifyResult:
    """A finished on-chip classification run."""

    network: BurstNetwork
    compiled: BurstCompiled
    metrics: dict
    prefix: Schedule          # the first training samples' input, exactly as the chip got it


def _epoch_row(epoch, counts, labels, test_counts, y_test, events, seconds, steps):
    pred, test_pred = predictions(counts), predictions(test_counts)
    return {"epoch": epoch, "train_accuracy": float((pred == labels).mean()),
            "test_accuracy": float((test_pred == y_test).mean()),
            "rates": events, "seconds": seconds, "steps_per_s": steps / max(seconds, 1e-9)}


def train_onchip_classifier(task: str, data: tuple, cfg: OnChipClassifyConfig, epochs: int, seed: int,
                            twin: bool = True, prefix_samples: int = 100, progress=None) -> OnChipClassifyResult:
    """Learn ``data`` = (x_train, y_train, x_test, y_test) (x in [0, 1], labels 0..C-1) on chip for ``epochs``,
    in fixed point and (``twin``) in the float twin side by side on two threads; evaluate both on the test set
    after every epoch. ``progress``: optional callable(str) for one line per epoch."""
    x_tr, y_tr, x_te, y_te = data
    classes = int(max(y_tr.max(), y_te.max())) + 1
    net = from_nir(to_nir(classifier_network(x_tr.shape[1], classes, cfg, seed)))   # as its model.nir reads back
    compiled = compile_burst_network(net)   # as ``neurolearn compile`` builds it from that file
    plan = compiled.plan
    first = int(sum(L.size for L in plan.layers[:-1]))
    offsets = np.cumsum([0] + [L.size for L in plan.layers])
    sides = {"fixed": _Side(ChipSession(plan, threads=1 if twin else None), [])}
    if twin:
        sides["float"] = _Side(FloatTwinSession(net, compiled, cfg.teacher), [])
    train_enc = PhaseEncoder(net.input_size, classes, cfg, seed)
    order_rng = np.random.default_rng(seed + 12345)
    prefix, prefix_labels = [], []
    with ThreadPoolExecutor(len(sides)) as pool:
        for epoch in range(1, epochs + 1):
            order = order_rng.permutation(len(x_tr))
            counts = {k: [] for k in sides}
            events = {k: np.zeros(len(plan.layers)) for k in sides}
            seconds = {k: 0.0 for k in sides}
            for a in range(0, len(order), cfg.chunk):
                idx = order[a:a + cfg.chunk]
                spikes = train_enc.encode(x_tr[idx], y_tr[idx])
                if epoch == 1 and len(prefix_labels) < prefix_samples:
                    take = min(len(idx), prefix_samples - len(prefix_labels))
                    prefix.append(spikes[:take * cfg.steps])
                    prefix_labels += list(y_tr[idx[:take]])

                def step(name, spikes=spikes):
                    t0 = time.perf_counter()
                    ev = sides[name].session.run(spikes)[0]
                    return name, ev, time.perf_counter() - t0

                for name, ev, dt in pool.map(step, list(sides)):
                    seconds[name] += dt
                    counts[name].append(class_counts(ev, first, classes, cfg))
                    events[name] += [ev[:, lo:hi].sum() for lo, hi in zip(offsets[:-1], offsets[1:])]
            steps = len(order) * cfg.steps
            for name, side in sides.items():   # the same test spikes every epoch and for both
                test_enc = PhaseEncoder(net.input_size, classes, cfg, seed + 1)
                test_counts = evaluate_copy(side.session, test_enc, x_te, first, classes, cfg)
                rates = {L.name: float(e / (steps * L.size)) for L, e in zip(plan.layers, events[name])}
                row = _epoch_row(epoch, np.concatenate(counts[name]), y_tr[order], test_counts, y_te, rates,
                                 seconds[name], steps)
                if name == "fixed":
                    row["saturated_weights"] = _saturated(side.session, plan)
                side.history.append(row)
                side.confusion = _confusion(predictions(test_counts), y_te, classes)
            if progress is not None:
                progress(f"epoch {epoch}: " + ", ".join(
                    f"{n} test {s.history[-1]['test_accuracy']:.4f} "
                    f"(online train {s.history[-1]['train_accuracy']:.4f},"
                    f" {s.history[-1]['seconds']:.0f} s)" for n, s in sides.items()))
    n_prefix = len(prefix_labels)
    spikes = np.concatenate(prefix) if prefix else np.zeros((0, plan.input_size), np.uint8)
    windows = tuple(("train", 0, int(lab), k * cfg.steps, (k + 1) * cfg.steps) for k, lab in enumerate(prefix_labels))
    schedule = Schedule(spikes, windows, tuple((k + 1) * cfg.steps - 1 for k in range(n_prefix)), ends="samples")
    metrics = {"task": task, "seed": seed, "spiking": True, "on_chip": True, "epochs": epochs,
               "config": asdict(cfg), "rules": {k: v for k, v in net.rules.items()},
               "architecture": [net.input_size, *cfg.hidden, classes * cfg.per_class], "classes": classes,
               "samples": {"train": len(x_tr), "test": len(x_te)}, "steps_per_sample": cfg.steps,
               "simulator_steps_per_s": sides["fixed"].history[-1]["steps_per_s"]}
    for name, side in sides.items():
        metrics[name] = {"test_accuracy": side.history[-1]["test_accuracy"], "epochs": side.history,
                         "confusion": side.confusion.tolist()}
    metrics["saturated_weights"] = sides["fixed"].history[-1]["saturated_weights"]
    return OnChipClassifyResult(net, compiled, metrics, schedule)


def _saturated(session: ChipSession, plan) -> dict:
    """Learning weights at the learning engine's limits (they saturate there, as on chip)."""
    return {name: int(np.isin(session.weights(name), WEIGHT_RANGE).sum()) for name in plan.learning}


def _confusion(pred: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class, the last column no answer (a tie)."""
    m = np.zeros((classes, classes + 1), np.int64)
    np.add.at(m, (labels, np.where(pred < 0, classes, pred)), 1)
    return m


def plot_classifier(metrics: dict, directory) -> list[str]:
    """learning_curves.png (test and online training accuracy per epoch, fixed point and float twin) and
    confusion.png (the fixed point's final test confusion matrix); matplotlib's object API."""
    from matplotlib.figure import Figure

    title = f"on-chip {metrics['config']['rule']}, {metrics['task']}, seed {metrics['seed']}"
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for kind, color in (("fixed", "C0"), ("float", "C1")):
        if kind not in metrics:
            continue
        rows = metrics[kind]["epochs"]
        ep = [r["epoch"] for r in rows]
        ax.plot(ep, [r["test_accuracy"] for r in rows], "-o", color=color, label=f"{kind}: test")
        ax.plot(ep, [r["train_accuracy"] for r in rows], "--", color=color, label=f"{kind}: online training")
    ax.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax.legend()
    fig.savefig(directory / "learning_curves.png", dpi=100)
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    m = np.asarray(metrics["fixed"]["confusion"], float)
    im = ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    classes = m.shape[0]
    ax.set_xticks(range(classes + 1), [str(c) for c in range(classes)] + ["tie"])
    ax.set(xlabel="predicted", ylabel="true class", title=f"{title}: test (fixed point)")
    fig.colorbar(im, ax=ax, label="fraction of the class")
    fig.savefig(directory / "confusion.png", dpi=100)
    return ["learning_curves.png", "confusion.png"]
