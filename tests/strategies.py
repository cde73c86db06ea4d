"""Hypothesis strategies: random legal plans and input spike trains."""
import numpy as np
from hypothesis import strategies as st

from neurolearn.ir import plan as P


def edgy(lo, hi):
    """Integers in [lo, hi], drawing the edges and their neighbours often."""
    edges = sorted({lo, min(lo + 1, hi), max(hi - 1, lo), hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


@st.composite
def weight_matrices(draw, shape):
    kind = draw(st.sampled_from(["mixed", "excitatory", "inhibitory", "extreme"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0),
              "extreme": (-256, 255)}[kind]
    w = rng.integers(lo, hi + 1, size=shape)
    if kind == "extreme":
        w = np.where(rng.random(shape) < 0.5, -256, 255)
    return w


@st.composite
def plans(draw, max_layers=4, max_size=8, recurrent=True):
    n_in = draw(st.integers(1, max_size))
    n_layers = draw(st.integers(1, max_layers))
    names = [f"l{i}" for i in range(n_layers)]
    layers, conns, prev, prev_n = [], [], "in", n_in
    for i, name in enumerate(names):
        n = draw(st.integers(1, max_size))
        layers.append(P.LayerPlan(
            name=name, size=n,
            du=draw(edgy(*P.DU_RANGE)), dv=draw(edgy(*P.DV_RANGE)), vth=draw(st.one_of(edgy(*P.VTH_RANGE), st.integers(0, 400))),
            bias_mant=np.array([draw(edgy(*P.BIAS_MANT_RANGE)) for _ in range(n)]),
            bias_exp=np.array([draw(edgy(*P.BIAS_EXP_RANGE)) for _ in range(n)])))
        conns.append(P.ConnectionPlan(
            name=f"ff{i}", source=prev, target=name, weights=draw(weight_matrices((n, prev_n))),
            weight_exp=draw(edgy(*P.WEIGHT_EXP_RANGE)),
            num_weight_bits=draw(edgy(*P.NUM_WEIGHT_BITS_RANGE))))
        if recurrent and draw(st.booleans()):
            conns.append(P.ConnectionPlan(
                name=f"rec{i}", source=name, target=name, weights=draw(weight_matrices((n, n))),
                weight_exp=draw(edgy(*P.WEIGHT_EXP_RANGE)),
                num_weight_bits=draw(edgy(*P.NUM_WEIGHT_BITS_RANGE)), recurrent=True))
        prev, prev_n = name, n
    return P.Plan(dt=1e-3, input_name="in", input_size=n_in, layers=tuple(layers),
                  connections=tuple(conns), outputs=(names[-1],))


@st.composite
def spike_trains(draw, n_in, batch=1, max_steps=40):
    steps = draw(st.integers(1, max_steps))
    rate = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.random((batch, steps, n_in)) < rate).astype(np.uint8)
