"""Training spiking burstprop networks: inputs -> hidden burst neurons -> output burst populations.

Events go forward through W; the output's bursts come back to the hidden dendrites through a fixed
random Y, one step later. Each class has a population of ``per_class`` output neurons. A sample is
presented for ``steps_predict`` steps (no teacher, no plasticity: the prediction), then, when
learning, for ``steps_teach`` steps in which a teacher current into each output population's
dendrites pushes its event rate up (target class, rate below ``target_hi``) or down (other classes,
rate above ``target_lo``), and W learn by the spiking burstprop rule ``dW = eta (B - Pbar E) Etilde``.
Samples of a minibatch run side by side as independent copies sharing weights.

Rates are events per step (with dt = 1 ms, 0.05 per step is 50 Hz). Deterministic given the seed.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from neurolearn.ir.burst_network import BurstParams
from neurolearn.nets.burst_module import BurstNeuronState, burst_neuron_step
from neurolearn.rules.burstprop_spiking import BurstpropSpiking, BurstpropState
from neurolearn.rules.plugin import StepInput


@dataclass(frozen=True)
class SpikingConfig:
    n_hidden: int = 12         # hidden burst neurons
    per_class: int = 30        # output neurons per class
    steps_predict: int = 150   # prediction phase of a training presentation, steps
    steps_teach: int = 100     # teacher + plasticity phase, steps
    steps_eval: int = 150      # presentation when evaluating, steps
    target_hi: float = 0.03    # output events per step the teacher accepts as 'high'
    target_lo: float = 0.01    # ... as 'low'
    teacher: float = 3.0       # teacher current into output dendrites (threshold units)
    w_std: float = 0.3         # initial W ~ N(w_mean, w_std)
    w_mean: float = 0.0
    y_std: float = 1.0         # feedback Y ~ N(0, y_std)
    beta: float = 0.9          # somatic keep factor per step
    beta_d: float = 0.9        # apical keep factor per step
    burst_offset: float = 1.0  # apical voltage of burst probability 1/2 (baseline p = sigmoid(-1))
    batch: int = 32            # samples presented side by side
    eta_decay: float = 1.0     # learning rate multiplied by this after each epoch
    dt: float = 1e-3           # s per step (for export)

    @property
    def params(self) -> BurstParams:
        return BurstParams(alpha=0.0, beta=self.beta, beta_d=self.beta_d, threshold=1.0,
                           burst_offset=self.burst_offset, burst_slope=1.0, stochastic=True)


@dataclass(frozen=True)
class SpikingTask:
    """Input rates (events per step) and class labels of a train and a test set."""

    name: str
    x_train: np.ndarray = field(repr=False)  # (n, n_in)
    y_train: np.ndarray = field(repr=False)  # (n,) int class labels
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: int

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]


class BurstNet:
    """The tensors of a two-layer burst network and one step of its dynamics."""

    def __init__(self, n_in: int, classes: int, cfg: SpikingConfig, seed: int):
        self.cfg, self.classes = cfg, classes
        self.n_out = classes * cfg.per_class
        self.gen = torch.Generator().manual_seed(seed)
        self.W1 = cfg.w_mean + cfg.w_std * torch.randn(cfg.n_hidden, n_in, generator=self.gen)
        self.W2 = cfg.w_mean + cfg.w_std * torch.randn(self.n_out, cfg.n_hidden, generator=self.gen)
        self.Y = cfg.y_std * torch.randn(cfg.n_hidden, self.n_out, generator=self.gen)

    def present(self, rates: np.ndarray, targets: np.ndarray | None, rule: BurstpropSpiking,
                states: tuple[BurstpropState, BurstpropState], learn_hidden: bool = True):
        """Present a batch of samples (teaching and learning if ``targets`` is given).

        Returns (output events per step per class in the prediction phase (batch, classes),
        mean burst probability of hidden and output layers in that phase, new rule states).
        """
        c, b = self.cfg, len(rates)
        rates = torch.as_tensor(rates, dtype=torch.float32)
        learn = targets is not None
        predict = c.steps_predict if learn else c.steps_eval
        hidden = BurstNeuronState(*(torch.zeros(b, c.n_hidden) for _ in range(3)))
        out = BurstNeuronState(*(torch.zeros(b, self.n_out) for _ in range(3)))
        bursts_out = torch.zeros(b, self.n_out)
        s1, s2 = (s._replace(trace=torch.zeros(b, s.trace.shape[1])) for s in states)
        count, p_sum, teacher = torch.zeros(b, self.classes), torch.zeros(2), torch.zeros(b, self.n_out)
        for t in range(predict + (c.steps_teach if learn else 0)):
            if t == predict:  # teacher on: push each class population toward its target band
                pred = count / (c.per_class * predict)
                tgt = torch.as_tensor(targets, dtype=torch.float32)
                push = torch.where(tgt > 0, (pred < c.target_hi).float(), -(pred > c.target_lo).float())
                teacher = c.teacher * push.repeat_interleave(c.per_class, 1)
            x = (torch.rand(rates.shape, generator=self.gen) < rates).float()
            eh, bh, ph, hidden = burst_neuron_step(x @ self.W1.T, bursts_out @ self.Y.T, hidden, c.params,
                                            torch.rand(b, c.n_hidden, generator=self.gen))
            eo, bursts_out, po, out = burst_neuron_step(eh @ self.W2.T, teacher, out, c.params,
                                                 torch.rand(b, self.n_out, generator=self.gen))
            if t < predict:
                count += eo.view(b, self.classes, c.per_class).sum(2)
                p_sum += torch.stack([ph.mean(), po.mean()])
            s1, dw1 = rule.float_step(s1, self.W1, StepInput(x, eh, bh))
            s2, dw2 = rule.float_step(s2, self.W2, StepInput(eh, eo, bursts_out))
            if learn and t >= predict:
                self.W2 += dw2
                if learn_hidden:
                    self.W1 += dw1
        return (count / (c.per_class * predict)).numpy(), (p_sum / predict).numpy(), (s1, s2)


def _torch_state(state: BurstpropState) -> BurstpropState:
    """The rule's numpy state as float32 tensors (the network's dtype)."""
    return BurstpropState(*(torch.as_tensor(a, dtype=torch.float32) for a in state))


@dataclass
class SpikingResult:
    task: str
    config: SpikingConfig
    rule: BurstpropSpiking
    seed: int
    history: list         # per epoch: {"epoch", "test_acc", "burst_prob": [hidden, output], "rates"?}
    rates_before: np.ndarray  # (n_test, classes) output events per step, before training
    rates_after: np.ndarray   # ... after
    test_acc: float
    weights: dict         # W1, W2, Y as arrays
    seconds: list = field(default_factory=list)   # per epoch: the training presentations' wall time, s

    def to_metrics(self) -> dict:
        return {"task": self.task, "seed": self.seed, "spiking": True, "rule": self.rule.to_params(),
                "config": asdict(self.config), "test_acc": self.test_acc, "history": self.history,
                "rates_before": self.rates_before.tolist(), "rates_after": self.rates_after.tolist(),
                "seconds_per_epoch": float(np.mean(self.seconds)) if self.seconds else None}


def evaluate_spiking(net: BurstNet, task: SpikingTask, rule, states) -> tuple[np.ndarray, float]:
    """Output rates per class on the test set (learning state untouched), and the accuracy: the most
    active class, or for a single output population, its rate above the middle of the target band."""
    b = net.cfg.batch * 8
    rates = np.concatenate([net.present(task.x_test[i:i + b], None, rule, states)[0]
                            for i in range(0, len(task.x_test), b)])
    if task.classes == 1:
        pred = rates[:, 0] > (net.cfg.target_hi + net.cfg.target_lo) / 2
    else:
        pred = rates.argmax(1)
    return rates, float((pred == task.y_test).mean())


def train_spiking(task: SpikingTask, cfg: SpikingConfig, rule: BurstpropSpiking, epochs: int, seed: int,
                  learn_hidden: bool = True, progress: bool = False, eval_every: int = 1) -> SpikingResult:
    """Train with the spiking burstprop rule; evaluate on the test set every ``eval_every`` epochs (0: only
    after the last). Each epoch's history also holds the training presentations' predicted rates
    (``train_rates``, per sample in presentation order) when the training set is at most one batch."""
    from neurolearn.progress import progress_bar

    net = BurstNet(task.n_in, task.classes, cfg, seed)
    states = tuple(_torch_state(rule.init_state(n_pre, n_post))
                   for n_pre, n_post in ((task.n_in, cfg.n_hidden), (cfg.n_hidden, net.n_out)))
    before, _ = evaluate_spiking(net, task, rule, states)
    order_rng = np.random.default_rng(seed)
    onehot = np.eye(task.classes)[task.y_train] if task.classes > 1 else task.y_train[:, None].astype(float)
    history, seconds = [], []
    bar = progress_bar(range(epochs), f"spiking burstprop on {task.name}", unit="epochs", enabled=progress)
    for epoch in bar:
        order = order_rng.permutation(len(task.x_train))
        p_sum = np.zeros(2)
        row = {"epoch": epoch + 1}
        start = time.perf_counter()
        for i in range(0, len(order), cfg.batch):
            idx = order[i:i + cfg.batch]
            pred, p, states = net.present(task.x_train[idx], onehot[idx], rule, states, learn_hidden)
            p_sum += p * len(idx)
            if len(order) <= cfg.batch:
                row["train_rates"] = pred[np.argsort(idx)].tolist()
        seconds.append(time.perf_counter() - start)
        row["burst_prob"] = (p_sum / len(order)).tolist()
        if epoch + 1 == epochs or (eval_every and (epoch + 1) % eval_every == 0):
            rates, row["test_acc"] = evaluate_spiking(net, task, rule, states)
            bar.set_postfix(test_acc=f"{row['test_acc']:.3f}")
        history.append(row)
        rule = replace(rule, eta=rule.eta * cfg.eta_decay)
    if not epochs:
        rates = before
    return SpikingResult(task=task.name, config=cfg, rule=rule, seed=seed, history=history, rates_before=before,
                         rates_after=rates, test_acc=float((history or [{}])[-1].get("test_acc", 0.0)),
                         weights={"W1": net.W1.numpy().copy(), "W2": net.W2.numpy().copy(),
                                  "Y": net.Y.numpy().copy()}, seconds=seconds)


# ---- tasks ---------------------------------------------------------------------------------------
XOR_PATTERNS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
XOR_LABELS = np.array([0, 1, 1, 0])


def spiking_xor_task(n_in: int = 30, n_bias: int = 20, rate_hi: float = 0.05, rate_lo: float = 0.005,
             rate_bias: float = 0.03) -> SpikingTask:
    """Payeur et al.'s XOR: two input populations (1: high rate, 0: low) and a bias population;
    one output population whose event rate should be high for XOR = 1."""
    x = np.where(np.repeat(XOR_PATTERNS, n_in, axis=1) > 0, rate_hi, rate_lo)
    x = np.hstack([x, np.full((4, n_bias), rate_bias)])
    return SpikingTask("xor", x, XOR_LABELS, x, XOR_LABELS, classes=1)


XOR_CONFIG = SpikingConfig(n_hidden=16, batch=4, steps_eval=450, w_mean=0.05)  # w_mean > 0: no pattern starts silent
DIGITS_CONFIG = SpikingConfig(n_hidden=300, per_class=20, steps_predict=80, steps_teach=40, steps_eval=250,
                              target_hi=0.05, target_lo=0.01, w_std=0.15, y_std=1 / 3, eta_decay=0.93)
DIGITS_RULE = BurstpropSpiking(eta=0.003, tau_pre=20.0, tau_avg=2000.0)


def spiking_digits_task(max_rate: float = 0.2, n_bias: int = 10, rate_bias: float = 0.05, seed: int = 0) -> SpikingTask:
    """scikit-learn's digits as Poisson rates (white pixel: ``max_rate`` events per step) plus a bias."""
    from neurolearn.train.datasets import digits

    x_tr, y_tr, x_te, y_te = digits(seed=seed)

    def rates(x):
        return np.hstack([x * max_rate, np.full((len(x), n_bias), rate_bias)])

    return SpikingTask("digits", rates(x_tr), y_tr, rates(x_te), y_te, classes=10)


def xor_solved(rates: np.ndarray) -> bool:
    """Output rate higher for (1,0) and (0,1) than for (0,0) and (1,1)."""
    r = np.asarray(rates).reshape(-1)
    return bool(min(r[1], r[2]) > max(r[0], r[3]))


def to_burst_network(res: SpikingResult, input_size: int):
    """A trained result as a :class:`neurolearn.nir.burst.BurstNetwork` (for ``.nir`` export)."""
    from neurolearn.ir.burst_network import BurstLayer, BurstNetwork

    c = res.config
    rule = res.rule.to_params()
    n_out = res.weights["W2"].shape[0]
    return BurstNetwork(
        dt=c.dt, input_size=input_size,
        layers=(BurstLayer("hidden", c.n_hidden, c.params, res.seed), BurstLayer("out", n_out, c.params, res.seed)),
        weights={("input", "hidden"): res.weights["W1"], ("hidden", "out"): res.weights["W2"]},
        feedback={("out", "hidden"): res.weights["Y"]},
        rules={"W:input->hidden": rule, "W:hidden->out": rule,
               "task": {"name": res.task, "per_class": c.per_class, **{k: v for k, v in asdict(c).items()
                                                                       if not isinstance(v, dict)}}})
