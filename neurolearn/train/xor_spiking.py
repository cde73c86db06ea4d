"""Spiking XOR (Payeur et al. 2021, Fig. 4), learned by the spiking burstprop rule.

Two input populations (logical 1: high Poisson rate, 0: low) and an always-on bias population feed a
small hidden layer of two-compartment burst neurons, which feeds an output population. Events go
forward through W; the output's bursts come back to the hidden dendrites through a fixed random Y
(one step later, as through any synapse). Each example is presented for ``steps_predict`` steps
(no teacher, no plasticity: the prediction) then ``steps_teach`` steps in which a teacher current
into the output dendrites pushes the output event rate toward its target (high for XOR = 1, low for
XOR = 0) and both W learn by ``dW = eta (B - Pbar E) Etilde_pre``. The four patterns run side by
side as a batch of four copies sharing weights. XOR is solved when the output event rate is higher
for (1,0) and (0,1) than for (0,0) and (1,1).

Rates are in events per step; with dt = 1 ms, 0.05 per step is 50 Hz.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from neurolearn.nets.burst import BurstParams, BurstState, burst_step
from neurolearn.rules.burstprop_spiking import BurstpropSpiking

PATTERNS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
TARGETS = np.array([0, 1, 1, 0])


@dataclass(frozen=True)
class XorConfig:
    n_in: int = 30             # neurons per input population
    n_bias: int = 20           # always-on bias population
    n_hidden: int = 12         # hidden burst neurons
    n_out: int = 30            # output burst neurons
    rate_hi: float = 0.05      # input events per step for logical 1
    rate_lo: float = 0.005     # ... for logical 0
    rate_bias: float = 0.03    # bias population events per step
    steps_predict: int = 150   # per example: prediction phase, steps
    steps_teach: int = 100     # per example: teacher + plasticity phase, steps
    target_hi: float = 0.03    # output events per step the teacher accepts as 'high'
    target_lo: float = 0.01    # ... as 'low'
    teacher: float = 3.0       # teacher current into the output dendrites (threshold units)
    w_std: float = 0.3         # initial W ~ N(0, w_std)
    y_std: float = 1.0         # feedback Y ~ N(0, y_std)
    beta: float = 0.9          # somatic keep factor per step
    beta_d: float = 0.9        # apical keep factor per step
    burst_offset: float = 1.0  # apical voltage of burst probability 1/2 (baseline p = sigmoid(-1) = 0.27)
    dt: float = 1e-3           # s per step (for export)


@dataclass
class XorResult:
    config: XorConfig
    rule: BurstpropSpiking
    seed: int
    rates_before: np.ndarray   # (4,) output events per step per pattern, before training
    rates_after: np.ndarray    # (4,) ... after
    rate_history: np.ndarray   # (epochs, 4) output events per step in each epoch's prediction phase
    burst_history: np.ndarray  # (epochs, 2) mean burst probability of hidden and output layers
    weights: dict              # W1 (hidden x inputs), W2 (out x hidden), Y (hidden x out), as arrays

    @property
    def solved(self) -> bool:
        r = self.rates_after
        return bool(min(r[1], r[2]) > max(r[0], r[3]))


class XorNet:
    """The network's tensors and one step of its dynamics."""

    def __init__(self, cfg: XorConfig, seed: int):
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed(seed)
        n_inputs = 2 * cfg.n_in + cfg.n_bias
        self.W1 = cfg.w_std * torch.randn(cfg.n_hidden, n_inputs, generator=self.gen)
        self.W2 = cfg.w_std * torch.randn(cfg.n_out, cfg.n_hidden, generator=self.gen)
        self.Y = cfg.y_std * torch.randn(cfg.n_hidden, cfg.n_out, generator=self.gen)
        rates = np.where(np.repeat(PATTERNS, cfg.n_in, axis=1) > 0, cfg.rate_hi, cfg.rate_lo)
        self.rates = torch.as_tensor(np.hstack([rates, np.full((4, cfg.n_bias), cfg.rate_bias)]), dtype=torch.float32)
        self.params = BurstParams(alpha=0.0, beta=cfg.beta, beta_d=cfg.beta_d, threshold=1.0,
                                  burst_offset=cfg.burst_offset, burst_slope=1.0, stochastic=True)

    def rand(self, *shape):
        return torch.rand(*shape, generator=self.gen)

    def zero_states(self):
        c = self.cfg
        return (BurstState(*(torch.zeros(4, c.n_hidden) for _ in range(3))),
                BurstState(*(torch.zeros(4, c.n_out) for _ in range(3))), torch.zeros(4, c.n_out))

    def step(self, hidden: BurstState, out: BurstState, out_bursts_prev, teacher):
        """One step for the 4 patterns: returns input events and (events, bursts) of both layers."""
        x = (self.rand(*self.rates.shape) < self.rates).float()
        eh, bh, ph, hidden = burst_step(x @ self.W1.T, out_bursts_prev @ self.Y.T, hidden, self.params,
                                        self.rand(4, self.cfg.n_hidden))
        eo, bo, po, out = burst_step(eh @ self.W2.T, teacher, out, self.params, self.rand(4, self.cfg.n_out))
        return x, (eh, bh, ph, hidden), (eo, bo, po, out)


def run_epoch(net: XorNet, rule: BurstpropSpiking, states, learn: bool, learn_hidden: bool = True):
    """Present the 4 patterns once. Returns (output events per step per pattern in the prediction
    phase, mean burst probabilities (hidden, output), new rule states)."""
    c = net.cfg
    hidden, out, bo = net.zero_states()
    s1, s2 = states
    s1 = type(s1)(torch.zeros_like(s1.trace), s1.ebar, s1.bbar)
    s2 = type(s2)(torch.zeros_like(s2.trace), s2.ebar, s2.bbar)
    count = torch.zeros(4)
    p_sum = torch.zeros(2)
    targets = torch.as_tensor(TARGETS, dtype=torch.float32)[:, None]
    teacher = torch.zeros(4, c.n_out)
    for t in range(c.steps_predict + c.steps_teach):
        if t == c.steps_predict:  # teacher on: push the predicted rate toward its target band
            pred = count[:, None] / (c.n_out * c.steps_predict)
            push = torch.where(targets > 0, (pred < c.target_hi).float(), -(pred > c.target_lo).float())
            teacher = (c.teacher * push).expand(4, c.n_out)
        x, (eh, bh, ph, hidden), (eo, bo, po, out) = net.step(hidden, out, bo, teacher)
        if t < c.steps_predict:
            count += eo.sum(1)
            p_sum += torch.stack([ph.mean(), po.mean()])
        s1 = rule.observe(s1, x, eh, bh)
        s2 = rule.observe(s2, eh, eo, bo)
        if learn and t >= c.steps_predict:
            net.W2 += rule.delta(s2, eo, bo)
            if learn_hidden:
                net.W1 += rule.delta(s1, eh, bh)
    rates = (count / (c.n_out * c.steps_predict)).numpy()
    return rates, (p_sum / c.steps_predict).numpy(), (s1, s2)


def train_xor(cfg: XorConfig = XorConfig(), rule: BurstpropSpiking = BurstpropSpiking(), epochs: int = 200,
              seed: int = 0, learn_hidden: bool = True, progress: bool = False) -> XorResult:
    """Train the spiking XOR network; deterministic given ``seed``."""
    from tqdm import tqdm

    net = XorNet(cfg, seed)
    states = (rule.init_state(net.W1.shape[1], cfg.n_hidden, 4), rule.init_state(cfg.n_hidden, cfg.n_out, 4))
    before, _, states = run_epoch(net, rule, states, learn=False)
    rates, bursts = [], []
    for _ in tqdm(range(epochs), desc="spiking XOR", disable=None if progress else True):
        r, p, states = run_epoch(net, rule, states, learn=True, learn_hidden=learn_hidden)
        rates.append(r)
        bursts.append(p)
    after = np.mean([run_epoch(net, rule, states, learn=False)[0] for _ in range(3)], axis=0)
    return XorResult(config=cfg, rule=rule, seed=seed, rates_before=before, rates_after=after,
                     rate_history=np.array(rates), burst_history=np.array(bursts),
                     weights={"W1": net.W1.numpy().copy(), "W2": net.W2.numpy().copy(), "Y": net.Y.numpy().copy()})


def to_burst_network(res: XorResult):
    """The trained network as a :class:`neurolearn.nir.burst.BurstNetwork` (for ``.nir`` export)."""
    from neurolearn.nir.burst import BurstLayer, BurstNetwork

    c = res.config
    params = XorNet(c, res.seed).params
    rule = res.rule.to_dict()
    return BurstNetwork(
        dt=c.dt, input_size=2 * c.n_in + c.n_bias,
        layers=(BurstLayer("hidden", c.n_hidden, params, res.seed), BurstLayer("out", c.n_out, params, res.seed)),
        weights={("input", "hidden"): res.weights["W1"], ("hidden", "out"): res.weights["W2"]},
        feedback={("out", "hidden"): res.weights["Y"]},
        rules={"W:input->hidden": rule, "W:hidden->out": rule, "task": {"name": "xor-spiking", **asdict(c)}})
