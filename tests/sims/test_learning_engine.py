"""Rung L3 for learning: neurolearn's learning engine equals Lava's LearningDense (fixed_pt) bit for bit.

Random networks input -> LearningDense -> LIF -> LearningDense -> LIF (post spikes back as BAP), random
rule strings over every term of Lava's grammar, impulses, taus, t_epoch, weight bits, sign modes and tags;
spikes, u, v, weights, tags, traces and spike times compared at every step. Plus the bad-input errors.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from neurolearn.errors import InputError, QuantizationError, RuleError, ShapeError
from neurolearn.ir import plan as P
from neurolearn.ir.plan import Plasticity
from neurolearn.ir.program import LearningProgram
from neurolearn.lava.graph import learning_rule_for_lava
from neurolearn.lava.runner import simulate_learning_lava
from neurolearn.sims.learning import simulate_learning
from neurolearn.sims.learning_engine import TraceStreams
from tests.strategies import edgy, weight_matrices

# ---- rule strings: every term Lava's grammar accepts ----------------------------------------------

VARS = ["x1", "x2", "y1", "y2", "y3", "w", "d", "t", "x0", "y0"]


@st.composite
def literals(draw, integral=False):
    """'n', '2^e' or 'n*2^e' with mantissa and exponent at and near their edges."""
    form = draw(st.sampled_from(["n", "2^e", "n*2^e"]))
    n = draw(st.sampled_from([1, 2, 3, 5, 7, 8, 12]))
    e = draw(st.sampled_from([0, 1, 2, 8]) if integral else st.sampled_from([-7, -6, -3, -1, 0, 1, 5, 8]))
    return {"n": str(n), "2^e": f"2^{e}", "n*2^e": f"{n}*2^{e}"}[form]


@st.composite
def factors(draw):
    kind = draw(st.sampled_from(["var", "var", "var", "sgn", "bracket"]))
    var = draw(st.sampled_from(VARS))
    if kind == "var":
        return var
    sign = draw(st.sampled_from(["+", "-"]))
    const = draw(literals(integral=draw(st.booleans())))
    if kind == "sgn":
        inner = draw(st.sampled_from(["w", "d", "t"])) + (f"{sign}{const}" if draw(st.booleans()) else "")
        return f"sgn({inner})"
    lead = draw(st.sampled_from(["", "-"]))
    return draw(st.sampled_from([f"({lead}{var}{sign}{const})", f"({const}{sign}{var})", f"({var})"]))


@st.composite
def rule_strings(draw, dep):
    out = []
    for i in range(draw(st.integers(1, 3))):
        parts = [draw(st.sampled_from([dep, "x0", "y0"]))]
        parts += draw(st.lists(factors(), max_size=3))
        if draw(st.booleans()):
            parts.insert(draw(st.integers(0, len(parts))), draw(literals()))
        sign = draw(st.sampled_from(["+", "-"])) if i else draw(st.sampled_from(["", "-"]))
        out.append(f"{sign} {' * '.join(parts)}")
    return " ".join(out)


impulses = st.one_of(st.sampled_from([0, 1, 0.5, 127, 255, 1 / 256, 16.75]),
                     st.integers(0, 127 * 256).map(lambda k: k / 256))
taus = st.one_of(st.sampled_from([0, 1, 2, 255]), st.integers(0, 40))


@st.composite
def programs(draw, three_factor):
    dep = draw(st.sampled_from(["u0", "u1", "u2", "u9"]))
    rules = {t: draw(rule_strings(dep)) for t in draw(st.sampled_from([("dw",), ("dw",), ("dw", "dt"),
                                                                       ("dd",), ("dw", "dd", "dt")]))}
    traces = ["x1", "x2"] + ([] if three_factor else ["y1", "y2", "y3"])
    params = {f"{tr}_{p}": draw(impulses if p == "impulse" else taus) for tr in traces for p in ("impulse", "tau")}
    try:
        return LearningProgram(**rules, **params, t_epoch=draw(st.sampled_from([1, 1, 2, 3, 4, 7])),
                               rng_seed=draw(st.integers(0, 2**31 - 5)), three_factor=three_factor)
    except RuleError:  # e.g. two literals folding to a mantissa beyond 4 bits
        assume(False)


@st.composite
def learning_cases(draw, three_factor=False):
    n_in, n0, n1 = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    steps = draw(st.integers(1, 30))
    layers = tuple(P.LayerPlan(name, n, du=draw(edgy(0, 4095)), dv=draw(edgy(0, 4095)), vth=draw(st.integers(0, 60)),
                               bias_mant=np.full(n, draw(st.integers(-50, 200))), bias_exp=np.full(n, draw(edgy(0, 3))))
                   for name, n in (("l0", n0), ("l1", n1)))
    conns, learning, ys = [], {}, {}
    for name, src, tgt, shape in (("c0", "in", "l0", (n0, n_in)), ("c1", "l0", "l1", (n1, n0))):
        conns.append(P.ConnectionPlan(name, src, tgt, draw(weight_matrices(shape)), weight_exp=draw(edgy(-2, 3)),
                                      num_weight_bits=draw(edgy(1, 8))))
        if name == "c1" and draw(st.booleans()):
            continue  # a plain Dense
        mode = draw(st.sampled_from(["mixed", "mixed", "excitatory", "inhibitory"]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        tags = {}
        if draw(st.booleans()):
            tags = dict(tag_1=rng.integers(-257, 256, shape), tag_2=rng.integers(0, 256, shape))
        learning[name] = Plasticity(draw(programs(three_factor)), mode, **tags)
        if three_factor:
            ys[name] = rng.integers(0, 128, (steps, 3, shape[0]))
    plan = P.Plan(dt=1e-3, input_name="in", input_size=n_in, layers=layers, connections=tuple(conns),
                  outputs=("l1",))
    rate = draw(st.sampled_from([0.2, 0.5, 1.0]))
    spikes = (np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random((steps, n_in)) < rate).astype(np.uint8)
    return plan, spikes, learning, ys


def assert_same_bits(ours, lava, learning):
    """Every recorded array equal; else the first mismatch (array, step, index) and the programs."""
    pairs = {(n, k): (getattr(ours.sim.layers[n], k), getattr(rec, k))
             for n, rec in lava.sim.layers.items() for k in ("spikes", "u", "v")}
    pairs.update({(n, k): (getattr(ours.synapses[n], k), getattr(rec, k))
                  for n, rec in lava.synapses.items() for k in ("weights", "tag_1", "tag_2", "x", "y", "tx", "ty")})
    for key, (got, want) in pairs.items():
        assert got.shape == want.shape, (key, got.shape, want.shape)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{key}: first mismatch at {bad[0]}: neurolearn {got[tuple(bad[0])]}, "
                               f"Lava {want[tuple(bad[0])]}; {learning}")


@pytest.mark.lava
@given(case=learning_cases())
@settings(max_examples=14, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_two_factor_bit_exact(case):
    plan, spikes, learning, ys = case
    lava = simulate_learning_lava(plan, spikes, learning, ys)
    assert_same_bits(simulate_learning(plan, spikes, learning), lava, learning)


@pytest.mark.lava
@given(case=learning_cases(three_factor=True))
@settings(max_examples=6, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_three_factor_bit_exact(case):
    plan, spikes, learning, ys = case
    lava = simulate_learning_lava(plan, spikes, learning, ys)
    assert_same_bits(simulate_learning(plan, spikes, learning, ys), lava, learning)


def stdp_case(n_in=30, n_out=20, steps=60, seed=0, **kw):
    rng = np.random.default_rng(seed)
    prog = LearningProgram(dw="2^-2 * x0 * y1 - 3*2^-3 * y0 * x1 + u1 * (w - 8) * 2^-7", x1_impulse=16.5, x1_tau=8,
                           y1_impulse=20, y1_tau=5, rng_seed=seed, **kw)
    layer = P.LayerPlan("l0", n_out, du=300, dv=200, vth=30, bias_mant=np.zeros(n_out), bias_exp=np.zeros(n_out))
    plan = P.Plan(dt=1e-3, input_name="in", input_size=n_in, layers=(layer,), outputs=("l0",),
                  connections=(P.ConnectionPlan("c0", "in", "l0", rng.integers(-60, 120, (n_out, n_in))),))
    return plan, (rng.random((steps, n_in)) < 0.3).astype(np.uint8), {"c0": Plasticity(prog)}


@pytest.mark.lava
def test_larger_stdp_network_bit_exact():
    """A network that spikes a lot and learns for several epochs (t_epoch 2, u1 decimation)."""
    plan, spikes, learning = stdp_case(t_epoch=2)
    ours = simulate_learning(plan, spikes, learning)
    assert ours.sim.layers["l0"].spikes.sum() > 50 and (ours.synapses["c0"].weights[0, -1] != ours.synapses["c0"]
                                                         .weights[0, 0]).sum() > 50
    assert_same_bits(ours, simulate_learning_lava(plan, spikes, learning), learning)


def test_batch_equals_samples_one_by_one():
    plan, spikes, learning = stdp_case(steps=40)
    batch = np.stack([spikes, spikes[::-1], np.roll(spikes, 3, axis=1)])
    together = simulate_learning(plan, batch, learning, threads=2)
    for b in range(3):
        one = simulate_learning(plan, batch[b], learning)
        np.testing.assert_array_equal(one.synapses["c0"].weights[0], together.synapses["c0"].weights[b])
        np.testing.assert_array_equal(one.sim.layers["l0"].v[0], together.sim.layers["l0"].v[b])


def test_threads_equal_one_thread():
    """A connection big enough to learn on several threads ends where one thread ends (and so where Lava does)."""
    plan, spikes, learning = stdp_case(n_in=600, n_out=500, steps=12, t_epoch=1)
    one = simulate_learning(plan, spikes, learning, record=False, threads=1).synapses["c0"]
    two = simulate_learning(plan, spikes, learning, record=False, threads=2).synapses["c0"]
    assert (one.weights[0, -1] != plan.connections[0].weights).sum() > 1000
    np.testing.assert_array_equal(one.weights, two.weights)


def test_final_state_without_recording_equals_last_step():
    plan, spikes, learning = stdp_case(steps=25)
    full = simulate_learning(plan, spikes, learning)
    last = simulate_learning(plan, spikes, learning, record=False, record_uv=False)
    for key in ("weights", "tag_1", "x", "y", "tx"):
        np.testing.assert_array_equal(getattr(full.synapses["c0"], key)[:, -1:], getattr(last.synapses["c0"], key))


@pytest.mark.lava
def test_random_streams_are_lavas():
    from lava.magma.core.learning.random import ConnVarRandom, TraceRandom

    prog = LearningProgram(dw="x0", rng_seed=11, t_epoch=2)
    streams = TraceStreams(prog)
    first, second = streams.take(4), streams.take(6)   # chunked: the same numbers as 10 steps at once
    xd, xi, yd, yi, rc = (np.concatenate([a, b[1:]]) for a, b in zip(first, second))
    for (dec, imp), gen in (((xd, xi), TraceRandom(11, 12)), ((yd, yi), TraceRandom(13, 14))):
        seen = []
        for _ in range(21):
            seen.append((gen.random_trace_decay, gen.random_impulse_addition))
            gen.advance()
        np.testing.assert_array_equal(np.array(seen), np.stack([dec, imp], axis=1))
    conn = ConnVarRandom()
    want = [conn.random_stochastic_round] + [conn.advance() or conn.random_stochastic_round for _ in range(5)]
    np.testing.assert_array_equal(rc, want)


@pytest.mark.lava
def test_parser_matches_lavas_product_series():
    """Our products (dependency, scale, factors) are Lava's, for a rule using every kind of term."""
    prog = LearningProgram(dw="-2^-2 * x0 * y1 * x2 + 3*2^-3 * y0 * x1 * (w + 3) * sgn(d - 2^-1) - u2 * (-t + 4) * y0",
                           dt="16 * u2 * (5 - y3) * x0")
    for target, products in prog.products.items():
        lava = getattr(learning_rule_for_lava(prog), target).products
        assert [(p.dependency, p.mantissa, p.exponent + 7) for p in products] == \
               [(p.dependency, p.s_mantissa, p.s_exp) for p in lava]
        assert [[(f.var, f.const, f.sgn) for f in p.factors] for p in products] == \
               [[(f.state_var, f.const or 0, f.is_sgn) for f in p.factors] for p in lava]
    assert prog.k == 2 and (prog.products["dt"][0].mantissa, prog.products["dt"][0].exponent) == (-4, 2)  # -(y3 - 5)


def test_hidden_shift_and_scale():
    p = LearningProgram(dw="u0 * t * y2 + 2^-2 * x0 * y1").products["dw"]
    assert (p[0].shift, p[0].scale) == (5, 2**-5)   # 9 + 7 + 4 bits: Lava drops 5
    assert (p[1].shift, p[1].scale) == (0, 0.25)


# ---- bad input: one clear line each -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(dw="x0 * z1"), "unknown symbol 'z1'"),
    (dict(dw="x0 * x3"), "unknown symbol 'x3'"),
    (dict(dw="y0 * exp(x1)"), "unknown symbol 'exp'"),
    (dict(dw="u12 * x1"), "unknown symbol 'u12'"),
    (dict(dw="x1 * y1"), "product 'x1*y1': no dependency"),
    (dict(dw="x0 * y1 + 9 * y0 * x1"), "product '+9*y0*x1': its literals fold to a scale m * 2^e outside"),
    (dict(dw="2^-8 * x0"), "outside Lava's range"),
    (dict(dw="2^9 * x0"), "outside Lava's range"),
    (dict(dw="u0 * x1", dt="u1 * y1"), "products use u0 (in dw), u1 (in dt); all u<k> must share one k"),
    (dict(dw="x0 * sgn(x1)"), "sgn(..) function can only be applied"),
    (dict(dw="x0 * (w * 2)"), "bracket '(w*2)' is not one of"),
    (dict(dw="x0 * ((w + 1))"), "nested brackets"),
    (dict(dw="x0 * (w + 1"), "unclosed bracket"),
    (dict(dw=""), "expected a non-empty rule string"),
    (dict(), "no rule; give at least one of dw, dd, dt"),
    (dict(dw="x0", x1_impulse=-1), "x1_impulse = -1; allowed 0..255"),
    (dict(dw="x0", y2_impulse=256), "y2_impulse = 256; allowed 0..255"),
    (dict(dw="x0", x2_impulse=0.3), "x2_impulse = 0.3 is not a multiple of 2^-8"),
    (dict(dw="x0", y1_tau=256), "y1_tau = 256; allowed integers 0..255"),
    (dict(dw="x0", x1_tau=2.5), "x1_tau = 2.5; allowed integers"),
    (dict(dw="x0", t_epoch=0), "t_epoch = 0; allowed integers 1..63"),
    (dict(dw="x0", t_epoch=64), "t_epoch = 64; allowed integers 1..63"),
    (dict(dw="x0", rng_seed=-3), "rng_seed = -3"),
    (dict(dw="x0", three_factor=True, y1_impulse=4), "y1_impulse = 4; a three-factor program takes y1..y3"),
])
def test_bad_programs_name_the_problem(kwargs, message):
    with pytest.raises(RuleError) as err:
        LearningProgram(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_three_factor_needs_its_third_factors():
    plan, spikes, _ = stdp_case(steps=5)
    learning = {"c0": Plasticity(LearningProgram(dw="u0 * x1 * y2", x1_impulse=3, three_factor=True))}
    with pytest.raises(Exception, match=r"y_traces\['c0'\]"):
        simulate_learning(plan, spikes, learning)
    with pytest.raises(Exception, match="0, 127"):
        simulate_learning(plan, spikes, learning, {"c0": np.full((5, 3, 20), 200)})


@pytest.mark.parametrize("change, error, message", [
    (dict(learning={"nope": None}), InputError, "learning: connection 'nope' is not in the plan (it has c0)"),
    (dict(record=[3, 2]), InputError, "record: steps must be ascending indices in 0..4"),
    (dict(record=[5]), InputError, "record: steps must be ascending indices in 0..4"),
    (dict(tag_1=np.zeros((3, 3))), ShapeError, "connection 'c0': tag_1 shape (3, 3), expected (20, 30)"),
    (dict(tag_2=np.full((20, 30), 0.5)), InputError, "connection 'c0': tag_2 must be integers"),
    (dict(tag_1=np.full((20, 30), -258)), QuantizationError, "connection 'c0': tag_1 outside [-257, 255]"),
])
def test_bad_learning_inputs_name_the_problem(change, error, message):
    plan, spikes, learning = stdp_case(steps=5)
    tags = {k: change.pop(k) for k in ("tag_1", "tag_2") if k in change}
    learning = {"c0": Plasticity(learning["c0"].program, **tags)}
    with pytest.raises(error) as err:
        simulate_learning(plan, spikes, **{"learning": learning, **change})
    assert str(err.value) == message


def test_random_cases_mostly_learn():
    """Guard: the strategy must draw networks whose synapses change, or the bit-exact tests prove little."""
    changed = []

    @given(case=learning_cases())
    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def draw(case):
        plan, spikes, learning, _ = case
        res = simulate_learning(plan, spikes, learning, record=False)
        plan_w = {c.name: c.weights for c in plan.connections}
        changed.append(any((s.weights[0, -1] != plan_w[n]).any() or s.tag_1.any() or s.tag_2.any()
                           for n, s in res.synapses.items()))

    draw()
    assert sum(changed) >= len(changed) // 3, changed
