"""Rate-form training rules over a :class:`~neurolearn.nets.rate.RateNet`: burstprop (rate), backprop and
feedback alignment, with the update record and optimizer they share.

A rule is a dataclass of hyperparameters. ``rule.net(sizes, seed)`` builds the layer stack it
needs, ``rule.update(net, x, y)`` gives the float update (gradients, not yet scaled by a learning
rate; nothing is changed), and ``rule.optimizer(net).apply(update)`` applies it. ``rule.params()`` is
the JSON-serialisable record for export.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from neurolearn.errors import InputError
from neurolearn.nets import FEEDBACK
from neurolearn.nets.rate import RateNet, event_step

MOMENTUM = ("W", "c", "Y")  # tensors updated with momentum
DECAY = ("W", "Y")  # tensors with weight decay (Z: plain SGD)


class Update(NamedTuple):
    """One minibatch's float update. Gradients are summed over the batch (descent: t -= lr * grad)."""

    grads: list[dict[str, Tensor]]  # per layer, tensor name ("W", "c", "Y", "Z") -> gradient
    output: Tensor  # (batch, n_out) output event rate, no teacher
    burst_prob: Tensor | None  # (n_hidden,) mean burst probability per hidden layer, no teacher


class LayerSGD:
    """SGD with momentum and weight decay as in the original's ``update_weights``:
    v <- momentum v - lr grad, t <- (1 - weight_decay) t + v. The bias c has no decay; Z is plain
    SGD (t <- t - lr grad). A Y whose gradient is W's own (Kolen-Pollack) shares W's velocity."""

    def __init__(self, net: RateNet, lrs: list[dict[str, float]], momentum: float, weight_decay: float):
        self.net, self.lrs, self.momentum, self.weight_decay = net, lrs, momentum, weight_decay
        self.velocity: dict[tuple[int, str], Tensor] = {}

    @torch.no_grad()
    def apply(self, update: Update) -> None:
        for i, (layer, grads) in enumerate(zip(self.net.layers, update.grads)):
            for name, grad in grads.items():
                t, lr = getattr(layer, name), self.lrs[i][name]
                if name not in MOMENTUM:
                    t.add_(grad, alpha=-lr)
                    continue
                shared = name == "Y" and grad is grads["W"] and lr == self.lrs[i]["W"]
                v = self.velocity[(i, "W")] if shared else self._step_velocity((i, name), t, grad, lr)
                if name in DECAY and self.weight_decay:
                    t.mul_(1 - self.weight_decay)
                t.add_(v)

    def _step_velocity(self, key: tuple[int, str], t: Tensor, grad: Tensor, lr: float) -> Tensor:
        v = self.velocity.get(key)
        if v is None:
            v = self.velocity[key] = torch.zeros_like(t)
        return v.mul_(self.momentum).add_(grad, alpha=-lr)


@dataclass
class Rule:
    """Hyperparameters every rule has. Learning rates are per minibatch-summed gradient."""

    lr_hidden: float | list[float] = 0.01
    lr_output: float = 0.01
    momentum: float = 0.8
    weight_decay: float = 1e-6

    name: ClassVar[str] = ""

    def net(self, sizes, seed: int) -> RateNet:
        """The layer stack this rule trains (feedforward W, c only)."""
        return RateNet(sizes, seed=seed)

    def update(self, net: RateNet, x: Tensor, y: Tensor) -> Update:
        """The float update for input x (batch, n_in) and one-hot target y (batch, n_out)."""
        raise NotImplementedError

    def learning_rates(self, net: RateNet) -> list[dict[str, float]]:
        """Per layer, tensor name -> learning rate. ``lr_hidden`` is one rate for every hidden layer
        or a list with one per hidden layer, lowest first."""
        n_hidden = len(net.layers) - 1
        hidden = [self.lr_hidden] * n_hidden if isinstance(self.lr_hidden, (int, float)) else list(self.lr_hidden)
        if len(hidden) != n_hidden:
            raise InputError(f"{self.name}: lr_hidden has {len(hidden)} rates for {n_hidden} hidden layers")
        return [dict.fromkeys(("W", "c", "Y"), float(lr)) for lr in [*hidden, self.lr_output]]

    def optimizer(self, net: RateNet) -> LayerSGD:
        return LayerSGD(net, self.learning_rates(net), self.momentum, self.weight_decay)

    def params(self) -> dict:
        """Every hyperparameter, JSON-serialisable, with the rule's name under "rule"."""
        return {"rule": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


def angle_deg(a: Tensor, b: Tensor) -> float:
    """Angle in degrees between two tensors taken as flat vectors (90 if either is zero)."""
    a, b = a.detach().flatten().double(), b.detach().flatten().double()
    den = float(a.norm() * b.norm())
    if den == 0:
        return 90.0
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b) / den))))


# ---- backprop and feedback alignment: minimise L = 1/2 sum_batch ||e_out - y||^2 on sigmoid outputs, the loss
# whose gradient the burstprop output teacher follows (up to the factor p_baseline) ----

def mse_sum(e: Tensor, y: Tensor) -> Tensor:
    """1/2 sum over batch and units of (e - y)^2."""
    return 0.5 * ((e - y) ** 2).sum()


@dataclass
class Backprop(Rule):
    """Exact gradient of the summed MSE by autograd through the layer stack."""

    name = "backprop"

    def update(self, net: RateNet, x: Tensor, y: Tensor) -> Update:
        tensors = [t for layer in net.layers for t in (layer.W, layer.c)]
        with torch.enable_grad():
            e = net(x)
            grads = torch.autograd.grad(mse_sum(e, y), tensors)
        return Update([{"W": gw, "c": gc} for gw, gc in zip(grads[::2], grads[1::2])], e.detach(), None)


@dataclass
class FeedbackAlignment(Rule):
    """Backprop's recursion with each layer's W^T replaced by a fixed random B (the layer's Y, drawn
    with ``y_gain`` as in :class:`~neurolearn.nets.rate.BurstpropLayer`):
    delta_l = (delta_{l+1} B_{l+1}) * e_l (1 - e_l)."""

    y_gain: float = 1.0

    name = "fa"

    def net(self, sizes, seed: int) -> RateNet:
        return RateNet(sizes, feedback="random", y_gain=self.y_gain, seed=seed)

    @torch.no_grad()
    def update(self, net: RateNet, x: Tensor, y: Tensor) -> Update:
        states = []
        for layer in net.layers:
            x, st = event_step(x, layer.params())
            states.append(st)
        e = states[-1].e
        delta = (e - y) * e * (1 - e)
        grads = []
        for layer, st in zip(reversed(net.layers), reversed(states)):
            grads.append({"W": delta.t() @ st.x, "c": delta.sum(0)})
            if layer.Y is not None:
                delta = (delta @ layer.Y) * st.x * (1 - st.x)
        return Update(grads[::-1], e, None)


# ---- rate burstprop (Payeur et al. 2021; update as in jordan-g/Burstprop ``layers.py``) ----

@dataclass
class BurstpropRate(Rule):
    """Burst-dependent plasticity, rate form: for each layer delta = -e (p_hat - p),
    grad W = delta^T x, grad c = sum_batch delta (the presynaptic event rate gates the burst error).

    ``feedback``: "random" (fixed Y), "symmetric" (Y = W) or "learned" (Kolen-Pollack: Y gets W's
    update and weight decay, so Y -> W). ``recurrent``: hidden dendrites get Z, trained by
    grad Z = -u^T b_pre at rate ``lr_recurrent``, which drives the teacher-free apical potential u
    to 0 and keeps the dendrite in the sigmoid's linear range. ``p_baseline``: output burst
    probability without teacher. ``y_gain``: scale of the initial Y relative to W's init std;
    ``z_range``: Z ~ U(+-z_range).
    """

    lr_hidden: float | list[float] = 0.1
    lr_output: float = 0.01
    feedback: str = "learned"
    p_baseline: float = 0.2
    recurrent: bool = True
    lr_recurrent: float = 1e-4
    y_gain: float = 1.0
    z_range: float = 0.01

    name = "burstprop"

    def __post_init__(self):
        if self.feedback not in FEEDBACK:
            raise InputError(f"burstprop: feedback = {self.feedback!r}; allowed {', '.join(FEEDBACK)}")
        if not 0 < self.p_baseline < 1:
            raise InputError(f"burstprop: p_baseline = {self.p_baseline}; allowed (0, 1)")

    def net(self, sizes, seed: int) -> RateNet:
        return RateNet(sizes, feedback=self.feedback, recurrent=self.recurrent, y_gain=self.y_gain,
                       z_range=self.z_range, seed=seed)

    def learning_rates(self, net: RateNet) -> list[dict[str, float]]:
        return [{**lrs, "Z": self.lr_recurrent} for lrs in super().learning_rates(net)]

    @torch.no_grad()
    def update(self, net: RateNet, x: Tensor, y: Tensor) -> Update:
        states = net.bursts(x, y, self.p_baseline)
        grads = []
        for layer, st in zip(net.layers, states):
            delta = st.delta
            g = {"W": delta.t() @ st.x, "c": delta.sum(0)}
            if layer.feedback == "learned":
                g["Y"] = g["W"]
            if layer.Z is not None:
                g["Z"] = (-st.u).t() @ st.b_pre
            grads.append(g)
        burst_prob = torch.stack([st.p.mean() for st in states[:-1]]) if len(states) > 1 else torch.zeros(0)
        return Update(grads, states[-1].e, burst_prob)


RATE_RULES = {"burstprop": BurstpropRate, "backprop": Backprop, "fa": FeedbackAlignment}


def make_rate_rule(name: str, **params) -> Rule:
    """The rate-form rule called ``name`` ("burstprop", "backprop", "fa") with hyperparameters ``params``."""
    if name not in RATE_RULES:
        raise InputError(f"unknown rule {name!r}; allowed {', '.join(RATE_RULES)}")
    try:
        return RATE_RULES[name](**params)
    except TypeError as exc:
        raise InputError(f"{name}: {exc}") from None
