"""Rate-based burstprop (Payeur et al. 2021, as implemented in jordan-g/Burstprop).

All quantities are dimensionless: an event rate ``e`` is a fraction of the maximum event rate (in
[0, 1]), a burst probability ``p`` is the fraction of events that are bursts, and ``b = p * e`` is
the burst rate in the same units as ``e``. Hatted values (``p_hat``, ``b_hat``) are the ones with the
teacher present at the output.

Conventions: batches are rows. A layer's feedforward ``W`` has shape (n_out, n_in), as in
``nn.Linear``; its feedback ``Y`` has the same shape and carries the layer's bursts *down*, so the
apical input of layer l is ``g_l = b_{l+1} @ Y_{l+1}``; the recurrent ``Z`` (n, n) of a hidden layer
feeds its own "pre" burst rate ``b_pre = sigmoid(g) * e`` back onto the apical dendrite.

Per layer (h(e) = 1 - e, which is f'(a) / f(a) for the sigmoid f):

    e     = sigmoid(x W^T + c)
    u     = h(e) * g     - b_pre Z^T,    p     = sigmoid(u)          (hidden layers)
    u_hat = h(e) * g_hat - b_pre Z^T,    p_hat = sigmoid(u_hat)
    p     = p_b,  p_hat = p_b (1 + (y - e)(1 - e))                   (output layer, target y)

The pure functions :func:`event_step`, :func:`teacher_step`, :func:`burst_step` and
:func:`rate_pass` are the single definition; :class:`BurstpropLayer` and :class:`RateNet` only hold
the tensors.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from neurolearn.errors import InputError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.nets import FEEDBACK


class RateParams(NamedTuple):
    """Tensors of one layer. ``Y`` is None where no dendrite lies below; ``Z`` is None for the output
    layer and for layers without recurrence."""

    W: Tensor  # (n_out, n_in) feedforward weight
    c: Tensor  # (n_out,) bias
    Y: Tensor | None  # (n_out, n_in) feedback weight, carries this layer's bursts down
    Z: Tensor | None  # (n_out, n_out) recurrent weight onto the apical dendrite


class EventState(NamedTuple):
    """What the forward (event) phase leaves behind: presynaptic rate ``x`` and event rate ``e``."""

    x: Tensor
    e: Tensor


class BurstState(NamedTuple):
    """One layer after both phases. ``u`` and ``b_pre`` are None at the output layer."""

    x: Tensor  # (batch, n_in) presynaptic event rate
    e: Tensor  # (batch, n) event rate
    p: Tensor  # (batch, n) burst probability without teacher
    p_hat: Tensor  # (batch, n) burst probability with teacher
    u: Tensor | None  # (batch, n) apical potential without teacher
    b_pre: Tensor | None  # (batch, n) recurrent burst rate

    @property
    def delta(self) -> Tensor:
        """delta = -(b_hat - b) = -e (p_hat - p): the layer's local error signal."""
        return self.e * (self.p - self.p_hat)


def event_step(x: Tensor, params: RateParams) -> tuple[Tensor, EventState]:
    """Forward phase: event rate e = sigmoid(x W^T + c) from presynaptic event rate x."""
    e = torch.sigmoid(torch.addmm(params.c, x, params.W.t()))
    return e, EventState(x, e)


def _down(b: Tensor, b_hat: Tensor, params: RateParams) -> tuple[Tensor, Tensor] | None:
    """Apical input that this layer's bursts give the layer below, without and with teacher."""
    if params.Y is None:
        return None
    return b @ params.Y, b_hat @ params.Y


def teacher_step(y: Tensor, state: EventState, params: RateParams, p_baseline: float
                 ) -> tuple[tuple[Tensor, Tensor] | None, BurstState]:
    """Output layer: baseline burst probability p_b, nudged by the target y (one-hot, in [0, 1]).

    Returns the apical input (g, g_hat) for the layer below and the layer's :class:`BurstState`.
    """
    e = state.e
    p = torch.full_like(e, p_baseline)
    p_hat = p_baseline * (1 + (y - e) * (1 - e))
    return _down(p * e, p_hat * e, params), BurstState(state.x, e, p, p_hat, None, None)


def burst_step(apical: tuple[Tensor, Tensor], state: EventState, params: RateParams
               ) -> tuple[tuple[Tensor, Tensor] | None, BurstState]:
    """Hidden layer: burst probability from the apical input (g, g_hat) = (b_above Y, b_hat_above Y).

    Returns the apical input for the layer below and the layer's :class:`BurstState`.
    """
    g, g_hat = apical
    e = state.e
    h = 1 - e
    if params.Z is None:
        b_pre, rec = None, 0
    else:
        b_pre = torch.sigmoid(g) * e
        rec = b_pre @ params.Z.t()
    u = h * g - rec
    p, p_hat = torch.sigmoid(u), torch.sigmoid(h * g_hat - rec)
    return _down(p * e, p_hat * e, params), BurstState(state.x, e, p, p_hat, u, b_pre)


def rate_pass(x: Tensor, y: Tensor, params: Sequence[RateParams], p_baseline: float) -> list[BurstState]:
    """Both phases through a layer stack: events up from input x, bursts down from target y."""
    events = []
    for prm in params:
        x, st = event_step(x, prm)
        events.append(st)
    apical, out = teacher_step(y, events[-1], params[-1], p_baseline)
    states = [out]
    for i in range(len(params) - 2, -1, -1):
        if apical is None:
            raise InputError(f"layer {i + 2} of {len(params)} has no feedback weights Y, so hidden layer {i + 1} "
                             "gets no bursts; build the net with feedback 'random', 'learned' or 'symmetric'")
        apical, bs = burst_step(apical, events[i], params[i])
        states.append(bs)
    return states[::-1]


class BurstpropLayer(nn.Module):
    """One rate burstprop layer holding W, c (parameters) and Y, Z (buffers).

    ``feedback``: None (the layer sends no feedback: it is the first layer, or the rule needs none),
    "random" (fixed Y), "learned" (Y starts random and is updated by the rule, Kolen-Pollack) or
    "symmetric" (Y is W itself). W is Xavier-normal, N(0, s^2) with s = sqrt(2 / (n_in + n_out)),
    c is zero, a random Y is N(0, (y_gain s)^2) (the original draws N(0, weight_fa_std^2); its 0.05
    is about gain 1 for 500-wide layers). ``recurrent``: the apical dendrite gets
    Z ~ U(-z_range, z_range).
    """

    def __init__(self, n_in: int, n_out: int, *, feedback: str | None = None, recurrent: bool = False,
                 y_gain: float = 1.0, z_range: float = 0.01, generator: torch.Generator | None = None,
                 feedback_generator: torch.Generator | None = None):
        super().__init__()
        if feedback is not None and feedback not in FEEDBACK:
            raise InputError(f"feedback = {feedback!r}; allowed {FEEDBACK} or None")
        gen_fb = feedback_generator or generator
        std = math.sqrt(2.0 / (n_in + n_out))
        self.W = nn.Parameter(torch.randn(n_out, n_in, generator=generator) * std)
        self.c = nn.Parameter(torch.zeros(n_out))
        self.feedback = feedback
        y = torch.randn(n_out, n_in, generator=gen_fb) * (y_gain * std) if feedback in ("random", "learned") else None
        self.register_buffer("Y", y)
        z = (torch.rand(n_out, n_out, generator=gen_fb) * 2 - 1) * z_range if recurrent else None
        self.register_buffer("Z", z)

    def params(self) -> RateParams:
        """The tensors as :class:`RateParams` (Y is W for symmetric feedback)."""
        return RateParams(self.W, self.c, self.W if self.feedback == "symmetric" else self.Y, self.Z)

    def forward(self, x: Tensor) -> Tensor:
        """Event rate of the layer for presynaptic event rate x."""
        return event_step(x, self.params())[0]

    def extra_repr(self) -> str:
        return (f"{self.W.shape[1]}, {self.W.shape[0]}, feedback={self.feedback}, "
                f"recurrent={self.Z is not None}")


class RateNet(nn.Module):
    """A stack of :class:`BurstpropLayer`, sizes = [n_in, hidden..., n_out].

    Every layer but the first sends feedback of kind ``feedback``; every hidden layer gets Z if
    ``recurrent``. Initialization is fixed by ``seed``: W from one generator and Y, Z from another,
    so nets with the same seed and sizes share W whatever their feedback.
    """

    def __init__(self, sizes: Sequence[int], *, feedback: str | None = None, recurrent: bool = False,
                 y_gain: float = 1.0, z_range: float = 0.01, seed: int = 0):
        super().__init__()
        if len(sizes) < 2:
            raise InputError(f"sizes = {list(sizes)}; need at least [n_in, n_out]")
        self.sizes = [int(n) for n in sizes]
        gen_w, gen_fb = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 7919)
        n_layers = len(self.sizes) - 1
        self.layers = nn.ModuleList(
            BurstpropLayer(n_in, n_out, feedback=feedback if i > 0 else None, recurrent=recurrent and i < n_layers - 1,
                           y_gain=y_gain, z_range=z_range, generator=gen_w, feedback_generator=gen_fb)
            for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])))

    def params(self) -> list[RateParams]:
        return [layer.params() for layer in self.layers]

    def forward(self, x: Tensor) -> Tensor:
        """Output event rate for input x (batch, n_in)."""
        for layer in self.layers:
            x = layer(x)
        return x

    def bursts(self, x: Tensor, y: Tensor, p_baseline: float) -> list[BurstState]:
        """Both phases (see :func:`rate_pass`) for input x and one-hot target y."""
        return rate_pass(x, y, self.params(), p_baseline)


def rate_to_burst_network(net, rule_params: dict, dt: float = 1e-3,
                          params: BurstParams = BurstParams()) -> BurstNetwork:
    """A trained rate network (:class:`neurolearn.nets.rate.RateNet`) in its spiking form: the same W, c,
    Y (bursts of layer l to the dendrites of layer l-1) and Z (onto a layer's own dendrites), with the
    spiking neuron parameters ``params`` (an event rate e in [0, 1] becomes events per step). The
    conversion's spiking accuracy is not checked here."""
    names = [f"layer{i + 1}" for i in range(len(net.layers))]
    layers, weights, feedback, biases = [], {}, {}, {}
    for i, (name, p) in enumerate(zip(names, net.params())):
        layers.append(BurstLayer(name, p.W.shape[0], params))
        weights[("input" if i == 0 else names[i - 1], name)] = p.W.detach().numpy().astype(np.float64)
        biases[name] = p.c.detach().numpy().astype(np.float64)
        if p.Y is not None:
            feedback[(name, names[i - 1])] = p.Y.detach().numpy().T.astype(np.float64)
        if p.Z is not None:
            feedback[(name, name)] = p.Z.detach().numpy().astype(np.float64)
    rules = {f"W:{'input' if i == 0 else names[i - 1]}->{name}": dict(rule_params) for i, name in enumerate(names)}
    return BurstNetwork(dt=dt, input_size=net.sizes[0], layers=tuple(layers), weights=weights, feedback=feedback,
                        rules=rules, biases=biases)
