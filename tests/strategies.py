"""Hypothesis strategies: random legal plans, input spike trains and learning-rule strings."""
import numpy as np
from hypothesis import strategies as st

from neurolearn.ir import plan as P
from neurolearn.ir.geometry import SparseLayout


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
            du=draw(edgy(*P.DU_RANGE)), dv=draw(edgy(*P.DV_RANGE)),
            vth=draw(st.one_of(edgy(*P.VTH_RANGE), st.integers(0, 400))),
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
def conv_geometries(draw, in_shape=None, max_side=6):
    """A convolution that fits its input: any groups, kernel, stride, padding and dilation (small)."""
    from hypothesis import assume

    from neurolearn.errors import ShapeError
    from neurolearn.ir.geometry import ConvGeometry

    c = in_shape[0] if in_shape else draw(st.integers(1, 3))
    groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    shape = in_shape or (c, draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    pair = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731
    try:
        return ConvGeometry(shape, groups * draw(st.integers(1, 3)), draw(pair(1, 3)), stride=draw(pair(1, 3)),
                            padding=draw(pair(0, 2)), dilation=draw(pair(1, 2)), groups=groups)
    except ShapeError:
        assume(False)


def _layer(draw, name, n):
    return P.LayerPlan(name=name, size=n, du=draw(edgy(*P.DU_RANGE)), dv=draw(edgy(*P.DV_RANGE)),
                       vth=draw(st.integers(0, 400)),
                       bias_mant=np.array([draw(st.integers(-300, 300)) for _ in range(n)]),
                       bias_exp=np.array([draw(edgy(*P.BIAS_EXP_RANGE)) for _ in range(n)]))


@st.composite
def connection_plans(draw, kinds=("conv", "sparse", "delays", "sparse+delays", "dense")):
    """Input -> a convolution -> layer l0 -> a connection of one of ``kinds`` -> l1 (-> l1 recurrent, maybe
    sparse or delayed). Convolutions take Lava's Conv weights as given (any value in [-256, 255])."""
    geo = draw(conv_geometries())
    w = lambda shape: draw(weight_matrices(shape))  # noqa: E731
    layers = [_layer(draw, "l0", geo.n_out)]
    conns = [P.ConnectionPlan("conv0", "in", "l0", w(geo.kernel_shape), conv=geo)]
    kind = draw(st.sampled_from(kinds))
    n1 = draw(st.integers(1, 6))
    if kind == "conv":
        g1 = draw(conv_geometries(in_shape=geo.out_shape))
        n1, conns = g1.n_out, conns + [P.ConnectionPlan("c1", "l0", "l1", w(g1.kernel_shape), conv=g1)]
    else:
        mask = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random((n1, geo.n_out)) < 0.4
        mat, sparse = w((n1, geo.n_out)), "sparse" in kind
        delays = draw(st.integers(0, 5)) if "delays" in kind else None
        conns.append(P.ConnectionPlan(
            "c1", "l0", "l1", mat[mask] if sparse else mat, weight_exp=draw(edgy(*P.WEIGHT_EXP_RANGE)),
            num_weight_bits=draw(edgy(*P.NUM_WEIGHT_BITS_RANGE)),
            sparse=SparseLayout.of(mask) if sparse else None,
            delays=None if delays is None else np.random.default_rng(delays).integers(
                0, delays + 1, int(mask.sum()) if sparse else mat.shape)))
    layers.append(_layer(draw, "l1", n1))
    if draw(st.booleans()):
        mask = np.random.default_rng(n1).random((n1, n1)) < 0.5
        conns.append(P.ConnectionPlan("rec", "l1", "l1", w((n1, n1))[mask], sparse=SparseLayout.of(mask),
                                      delays=np.full(int(mask.sum()), draw(st.integers(0, 3))), recurrent=True))
    return P.Plan(dt=1e-3, input_name="in", input_size=geo.n_in, layers=tuple(layers), connections=tuple(conns),
                  outputs=("l1",))


@st.composite
def spike_trains(draw, n_in, batch=1, max_steps=40):
    steps = draw(st.integers(1, max_steps))
    rate = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return (rng.random((batch, steps, n_in)) < rate).astype(np.uint8)


# ---- learning-rule strings: all of Lava's grammar, the corners it misreads or refuses included ----------

RULE_VARS = ("x1", "x2", "y1", "y2", "y3", "w", "d", "t")


@st.composite
def rule_literals(draw, wild=False):
    """'n', '2^e' or 'n*2^e'; wild: mantissas and exponents beyond Lava's ranges, leading zeros."""
    n = ["1", "2", "3", "5", "6", "7", "8", "12", "16", "24"] + ["0", "9", "48", "96", "127", "255", "00", "07"] * wild
    e = ["-7", "-6", "-3", "-1", "0", "1", "+1", "2", "5", "7", "8"] + ["-9", "-8", "9", "-07", "+3"] * wild
    n, e = draw(st.sampled_from(n)), draw(st.sampled_from(e))
    return draw(st.sampled_from([n, f"2^{e}", f"{n}*2^{e}"]))


@st.composite
def rule_brackets(draw, dep, wild=False):
    """'(var)', '(C)', '(var +- C)', '(C +- var)', 'sgn(w|d|t [+- C])', optionally signed; wild: any operands
    (two constants, two vars, x0/y0/u<k> inside, a signed var in sgn), which Lava refuses or drops."""
    sgn = draw(st.sampled_from([False, False, True]))
    var = st.sampled_from(RULE_VARS + ("x0", "y0", dep) if wild else ("w", "d", "t") if sgn else RULE_VARS)
    const = rule_literals(wild)
    shapes = [(var, None), (var, const), (const, var)] + [(const, None)] * (wild or not sgn) + \
        [(var, var), (const, const)] * wild
    first, second = draw(st.sampled_from(shapes))
    lead = draw(st.sampled_from(["", "+", "-"] if wild or (not sgn and second is not None) else ["", "+"]))
    inner = lead + draw(first)
    if second is not None:
        inner += draw(st.sampled_from("+-" if wild or not sgn or first is var else "+")) + draw(second)
    return ("sgn(" if sgn else "(") + inner + ")"


@st.composite
def rule_texts(draw):
    """A rule string of 1 to 3 products D * factors, literals, brackets, joined by '*', ' * ' or nothing. About
    one product in five is wild: no dependency, a second dependency or u<k>, wild literals and brackets."""
    k = draw(st.sampled_from([0, 1, 2, 9]))
    dep = f"u{k}"
    out = []
    for i in range(draw(st.integers(1, 3))):
        wild = draw(st.integers(0, 4)) == 0
        deps = ("x0", "y0", dep, f"u{(k + 1) % 10}") if wild else ("x0", "y0", dep)
        term = st.one_of(st.sampled_from(RULE_VARS), rule_literals(wild), rule_brackets(dep, wild),
                         *[st.sampled_from(deps)] * wild)
        terms = draw(st.lists(term, min_size=0 if i else 1, max_size=4))
        if not wild or draw(st.booleans()):
            terms.insert(draw(st.integers(0, len(terms))), draw(st.sampled_from(deps)))
        text = terms[0] if terms else ""
        for t in terms[1:]:
            text += draw(st.sampled_from(["*", "*", " * ", "", "**"])) + t
        out.append(draw(st.sampled_from(["", "-", "+"] if i == 0 else ["+", "-", " - ", " + "])) + text)
    return "".join(out)
