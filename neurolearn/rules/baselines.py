"""Baselines on the same layer stacks: backprop (autograd) and feedback alignment (fixed random B).

Both minimise L = 1/2 sum_batch ||e_out - y||^2 on sigmoid outputs, the loss whose gradient the
burstprop output teacher follows (up to the factor p_baseline).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from neurolearn.nets.rate import RateNet, event_step
from neurolearn.rules.base import Rule, Update


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
