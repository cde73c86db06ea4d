"""What every rate-form rule shares: the update record, the optimizer, hyperparameters as data.

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
from neurolearn.nets.rate import RateNet

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
