"""Rate burstprop (Payeur et al. 2021; update as in jordan-g/Burstprop ``layers.py``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from neurolearn.errors import InputError
from neurolearn.nets.rate import FEEDBACK, RateNet
from neurolearn.rules.base import Rule, Update


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
