"""Hypothesis strategies: random NIR graphs mixing, in one graph, what the compiler groups, folds and fuses.

``input (C, H, W) [-> Delay] -> Conv2d -> A -> SumPool2d | AvgPool2d -> Scale -> B -> Flatten [-> Delay] ->
Affine -> C [-> Affine -> D] -> output``, with a recurrent Affine back edge into C (from C or from D, maybe
delayed). A and B, which a convolution or pooling feeds, have one decay and one threshold per channel, or their
own per neuron (one NIRNeuron with per-neuron du, dv, vth: a kernel is shared across positions); C and D have
per-neuron decays (grouped into one Lava process per decay) and per-neuron thresholds (folded into scales). Every
neuron node draws its reset: NIR's zero reset (to a v_reset, maybe non-zero), or snntorch's subtractive reset, at
once or one step late, as neurolearn's export writes it in the node's metadata; C may be a CubaLIF (snntorch's
Synaptic, whose late zero reset is its own mode). Biases (Affine and Conv2d biases, v_leak) range from none to a
few thresholds per step, and next to tiny weights up to 2e4 (beyond Lava's bias range: saturated). Delays come
before the first weight node of a path and never on a bias.

Not drawn, because the compiler refuses them (each in one line; tests/compile and tests/nir check those): a Delay
after a weight node with a bias, or between two weight nodes; a non-zero v_reset with the subtractive reset.
"""
from __future__ import annotations

import nir
import numpy as np
from hypothesis import strategies as st

DT = 1e-3
RESETS = {   # reset draw -> the neurolearn metadata snntorch's export writes (None: plain NIR)
    "nir_zero": None,
    "subtract": {"reset": "subtract", "reset_delay": False},
    "subtract_late": {"reset": "subtract", "reset_delay": True},
    "zero_late": {"reset": "zero", "reset_delay": True},   # Synaptic only: Leaky's late zero reset is "zero"
}


def _metadata(reset: str, module: str) -> dict:
    info = RESETS[reset]
    return {} if info is None else {"neurolearn": {**info, "module": module}}


def _lif(shape, beta, threshold, bias, reset, v_reset):
    """A LIF of unit input gain (r = tau / dt) with per-step ``bias`` (thresholds per step, as v_leak)."""
    tau = np.broadcast_to(DT / (1 - beta), shape).astype(float)
    return nir.LIF(tau=tau, r=tau / DT, v_leak=np.broadcast_to(bias, shape) * tau / DT,
                   v_threshold=np.broadcast_to(threshold, shape).astype(float),
                   v_reset=np.broadcast_to(v_reset, shape).astype(float), metadata=_metadata(reset, "Leaky"))


def _cuba_lif(shape, alpha, beta, threshold, bias, reset):
    tau_syn = np.broadcast_to(DT / (1 - alpha), shape).astype(float)
    tau_mem = np.broadcast_to(DT / (1 - beta), shape).astype(float)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / DT,
                       v_leak=np.broadcast_to(bias, shape) * tau_mem / DT,
                       v_threshold=np.broadcast_to(threshold, shape).astype(float), v_reset=np.zeros(shape),
                       w_in=tau_syn / DT, metadata=_metadata(reset, "Synaptic"))


class _Draws:
    """The values one graph draws: hypothesis picks the choices, a seeded generator fills the arrays."""

    def __init__(self, draw):
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def beta(self):
        return self.draw(st.sampled_from([0.5, 0.8, 0.9, 0.95]))

    def thresholds(self, n):
        return self.rng.uniform(0.5, 2.0, n).round(3)

    def drive(self, n):
        """(weight gain, biases of n neurons): weights of ``gain`` thresholds per step summed over a typical input,
        biases of up to ``size`` thresholds per step of either sign; tiny weights come with large biases."""
        if self.draw(st.integers(0, 4)) == 0:
            return 0.01, self.rng.uniform(0.6, 1.2, n) * self.draw(st.sampled_from([2.0, 5.0, 300.0, 2e4]))
        gain = self.draw(st.sampled_from([1.0, 2.0, 4.0]))
        size = self.draw(st.sampled_from([0.0, 0.01, 0.1, 0.6, 3.0]))
        return gain, self.rng.uniform(-0.5, 1.0, n) * size

    def weights(self, shape, fan_in, gain):
        """Mostly excitatory weights: ``gain`` thresholds per step at an input rate of 1/2."""
        return self.rng.normal(0.5, 1.0, shape) * gain * 2.0 / max(1, fan_in)

    def reset(self, cuba=False):
        return self.draw(st.sampled_from(["nir_zero", "subtract", "subtract_late"] + ["zero_late"] * cuba))

    def v_reset(self, reset, n):
        return self.rng.uniform(-0.3, 0.3, n).round(2) if reset == "nir_zero" and self.draw(st.booleans()) else 0.0

    def delays(self, n):
        return self.rng.integers(0, self.draw(st.integers(1, 4)), n) * DT


def _per_channel(values, shape):
    return np.repeat(values, int(np.prod(shape[1:]))).reshape(shape)


def _channel_node(d: _Draws, shape, bias):
    """A LIF on a map (C, H, W): ``bias`` per channel; one decay and one threshold per channel, or each neuron its
    own decay (of four) and threshold (behind a shared kernel: one NIRNeuron with per-neuron du, dv, vth)."""
    c, reset = shape[0], d.reset()
    if d.draw(st.booleans()):
        beta = d.rng.choice([0.5, 0.8, 0.9, 0.95], shape)
        thresholds = d.thresholds(int(np.prod(shape))).reshape(shape)
    else:
        beta, thresholds = d.beta(), _per_channel(d.thresholds(c), shape)
    return _lif(shape, beta, thresholds, _per_channel(bias, shape), reset,
                _per_channel(np.broadcast_to(d.v_reset(reset, c), c), shape))


def _dense_node(d: _Draws, n, bias, cuba):
    """A LIF or CubaLIF of n neurons with 1 to 3 decays among them and per-neuron thresholds and ``bias``."""
    beta = d.rng.choice(d.rng.choice([0.5, 0.8, 0.9, 0.95], d.draw(st.integers(1, 3)), replace=False), n)
    reset = d.reset(cuba)
    if cuba:
        return _cuba_lif((n,), d.draw(st.sampled_from([0.3, 0.6])), beta, d.thresholds(n), bias, reset)
    return _lif((n,), beta, d.thresholds(n), bias, reset, d.v_reset(reset, n))


@st.composite
def mixed_graphs(draw) -> nir.NIRGraph:
    """One random graph of the kind the module docstring describes (input (C, H, W), no batch dimension)."""
    d = _Draws(draw)
    c0, h, w = draw(st.integers(1, 2)), draw(st.integers(4, 7)), draw(st.integers(4, 7))
    c1, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h1, w1 = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    pool = draw(st.sampled_from([nir.SumPool2d, nir.AvgPool2d]))
    pk, ps = draw(st.integers(1, min(2, h1, w1))), draw(st.integers(1, 2))
    pp = draw(st.integers(0, pk // 2))   # AvgPool2d counts a window over the padding whole
    h2, w2 = (h1 + 2 * pp - pk) // ps + 1, (w1 + 2 * pp - pk) // ps + 1
    n_b, n_c, n_d = c1 * h2 * w2, draw(st.integers(2, 9)), draw(st.integers(2, 6))
    cuba = draw(st.booleans())   # C a CubaLIF: its bias as v_leak (an Affine bias enters its current: approximated)
    in_affine = lambda: draw(st.booleans())  # noqa: E731  (a bias in the weight node, else as v_leak)
    zero = lambda bias, moved: np.zeros_like(bias) if moved else bias  # noqa: E731
    two = lambda v: np.array([v, v])  # noqa: E731

    (gain_a, bias_a), (gain_b, bias_b), (gain_c, bias_c) = d.drive(c1), d.drive(c1), d.drive(n_c)
    a_conv, c_affine = in_affine(), not cuba and in_affine()
    per_pooled = d.rng.uniform(0.5, 1.5, c1) * gain_b * 2 / (pk * pk) * (pk * pk if pool is nir.AvgPool2d else 1)
    nodes = {
        "input": nir.Input(input_type=np.array([c0, h, w])),
        "conv": nir.Conv2d(input_shape=(h, w), weight=d.weights((c1, c0, k, k), c0 * k * k, gain_a), stride=stride,
                           padding=pad, dilation=1, groups=1, bias=bias_a if a_conv else np.zeros(c1)),
        "a": _channel_node(d, (c1, h1, w1), zero(bias_a, a_conv)),
        "pool": pool(kernel_size=two(pk), stride=two(ps), padding=two(pp)),
        "scale": nir.Scale(scale=np.repeat(per_pooled, h2 * w2)),
        "b": _channel_node(d, (c1, h2, w2), bias_b),
        "flat": nir.Flatten(input_type={"input": np.array([c1, h2, w2])}, start_dim=0),
        "fc_c": nir.Affine(weight=d.weights((n_c, n_b), n_b, gain_c), bias=bias_c / 2 if c_affine else np.zeros(n_c)),
        "c": _dense_node(d, n_c, zero(bias_c, c_affine), cuba),
    }
    chain = ["input", "conv", "a", "pool", "scale", "b", "flat", "fc_c", "c"]
    if draw(st.booleans()):   # a delayed input: the convolution runs as a delayed sparse or dense matrix
        nodes["delay_in"] = nir.Delay(delay=d.delays(c0 * h * w).reshape(c0, h, w))
        chain.insert(1, "delay_in")
    if draw(st.booleans()):
        nodes["delay_c"] = nir.Delay(delay=d.delays(n_b))
        chain.insert(chain.index("fc_c"), "delay_c")
    back_from = "c"
    if draw(st.booleans()):
        gain_d, bias_d = d.drive(n_d)
        d_affine = in_affine()
        nodes["fc_d"] = nir.Affine(weight=d.weights((n_d, n_c), n_c, gain_d),
                                   bias=bias_d if d_affine else np.zeros(n_d))
        nodes["d"] = _dense_node(d, n_d, zero(bias_d, d_affine), cuba=False)
        chain += ["fc_d", "d"]
        back_from = draw(st.sampled_from(["c", "d"]))
    n_back = nodes[back_from].v_threshold.size
    nodes["rec"] = nir.Affine(weight=d.weights((n_c, n_back), n_back, gain_c / 2),
                              bias=bias_c / 2 if c_affine else np.zeros(n_c))
    nodes["output"] = nir.Output(output_type=np.array([nodes[chain[-1]].v_threshold.size]))
    back = [back_from, "rec", "c"]
    if draw(st.booleans()):   # a delayed back edge (before its weights: the Affine has a bias)
        nodes["delay_rec"] = nir.Delay(delay=d.delays(n_back))
        back.insert(1, "delay_rec")
    edges = list(zip(chain, chain[1:] + ["output"])) + list(zip(back, back[1:]))
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": DT, "integration": "euler"}
    return g
