"""The model steps of neurolearn/dynamics: the numba form (the simulators) equals the Python form on arrays
(the Lava models), the integer step follows the float step, and the random streams agree. Fast: these are
the unit tests of the arithmetic; the Lava-parity tests then check wiring and timing only."""
import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurolearn.compile.burst_mapping import burst_lut
from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import (
    PLAIN_VALENCE,
    BurstStream,
    burst_float_step,
    burst_int_step,
    burst_uniforms,
    integer_draws,
)
from neurolearn.dynamics.class_teacher import class_teacher_step
from neurolearn.dynamics.lif import lif_float_step, lif_int_step, saturate24, trunc_decay, wrap32
from neurolearn.ir.plan import PBAR_ONE, RESET_MODES

STATE = 2**23 - 1


@numba.njit
def _int_steps_scalar(event, v_d, pbar, ebar, a, keep, lut, off, shift, pshift, levels, rb, rv, shape, step):
    out = np.zeros((7, event.size), np.int64)
    for i in range(event.size):
        b, vd, pb, eb, y1, y2, y3 = burst_int_step(event[i], v_d[i], pbar[i], ebar[i], a[i], keep, lut, off, shift,
                                                   pshift, levels, rb[i], rv[i], shape, step)
        out[0, i], out[1, i], out[2, i], out[3, i], out[4, i], out[5, i], out[6, i] = b, vd, pb, eb, y1, y2, y3
    return out


SHAPES = st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, PBAR_ONE), st.integers(0, 15),
                   st.integers(0, 255), st.integers(0, 15), st.integers(0, 7), st.integers(0, PBAR_ONE),
                   st.integers(0, 1), st.integers(0, 50))


@given(st.integers(0, 2**32 - 1), st.integers(0, 4096), st.integers(0, 23), st.integers(0, 15), st.integers(0, 7),
       SHAPES, st.integers(0, 2000))
def test_burst_int_step_numba_scalars_equal_numpy_arrays(seed, keep, shift, pshift, levels, shape, step):
    rng = np.random.default_rng(seed)
    n = 64
    event = rng.random(n) < 0.5
    v_d = rng.choice([-STATE, STATE, 0, 1, -1, *rng.integers(-STATE, STATE, 8)], n)
    pbar = rng.integers(0, PBAR_ONE + 1, n)
    ebar = rng.integers(0, (PBAR_ONE << shape[3]) + 1, n)
    a = rng.choice([-2**15, 2**15 - 1, 0, *rng.integers(-5000, 5000, 8)], n)
    lut = np.sort(rng.integers(0, 256, 256))
    off = int(rng.integers(-STATE, STATE))
    rb, rv = rng.integers(0, 256, n), rng.integers(0, PBAR_ONE, n)
    scalars = _int_steps_scalar(event, v_d, pbar, ebar, a, keep, lut, off, shift, pshift, levels, rb, rv, shape, step)
    arrays = np.stack([np.asarray(x, np.int64) for x in burst_int_step.py_func(
        event, v_d, pbar, ebar, a, keep, lut, off, shift, pshift, levels, rb, rv, shape, step)])
    assert np.array_equal(scalars, arrays)
    assert np.all(np.abs(arrays[1]) <= STATE) and np.all((arrays[0] == 0) | event)  # saturated; bursts need events
    assert np.all((arrays[4] - 64) % 8 == 0) and np.all((arrays[4] >= 8) & (arrays[4] <= 120))  # y1 = 64 + 8 q
    if shape[1]:
        assert np.array_equal(arrays[2], pbar)   # Pbar fixed
    q = (arrays[4] - 64) // 8
    if shape[8]:   # the plateaus: the valence's positive and negative parts
        assert np.array_equal(arrays[5], np.maximum(q, 0)) and np.array_equal(arrays[6], np.maximum(-q, 0))
    else:          # Pbar in 1/127, nothing on y3
        assert np.array_equal(arrays[5], (pbar * 127) >> 15) and not arrays[6].any()


def test_lava_style_decay_equals_trunc_decay():
    """Lava's BurstLIF model used sign(x) * (|x| * keep >> 12); trunc_decay is its branch-free form."""
    x = np.concatenate([np.arange(-70000, 70000, 37), [-STATE, STATE]])
    for keep in (0, 1, 2047, 4095, 4096):
        lava = np.sign(x * keep) * np.right_shift(np.abs(x * keep), 12)
        assert np.array_equal(trunc_decay.py_func(x, keep), lava)
    assert wrap32.py_func(np.int64(2**31)) == -2**31 and saturate24.py_func(np.int64(2**24)) == STATE


def test_integer_step_follows_the_float_step():
    """The same neuron in integers and in floats, driven by the same apical input and draws: the dendrite
    voltages agree within the decay's truncation, bursts within the table's error, the population's Pbar and
    the valence's mean within rounding (single neurons part ways where one draw falls between table and sigmoid)."""
    steps, n, vth = 4000, 200, 128
    scale = vth * 64                                  # integer units per float voltage unit
    offset, slope, beta_d, pshift, levels = 0.5, 1.0, 0.9, 5, 4
    lut, off, shift, err = burst_lut(offset, slope, scale)
    keep = round(4096 * beta_d)
    rng = np.random.default_rng(0)
    drive = rng.normal(0.05, 0.3, (steps, n))         # apical input per step, float voltage units
    a_int = np.round(drive * vth).astype(np.int64)    # as a Dense delivers it: units of vth (<< 6 inside)
    events = rng.random((steps, n)) < 0.3
    u = burst_uniforms(7, steps, n)
    r = integer_draws(u)
    vi, pi = np.zeros(n, np.int64), np.full(n, PBAR_ONE // 4, np.int64)
    vf, pf = np.zeros(n), np.full(n, 0.25)
    bursts_i = bursts_f = 0
    y1_i, y1_f, vd_err, pbar_err = [], [], 0.0, 0.0
    for t in range(steps):
        bi, vi, pi, _, y1, _, _ = burst_int_step.py_func(events[t], vi, pi, 0, a_int[t], keep, lut, off, shift, pshift,
                                                      levels, r[t, 0], r[t, 1], PLAIN_VALENCE, t)
        bf, vf, pf, _, y1f, _, _, _, _ = burst_float_step.py_func(events[t], vf, pf, 0.0, a_int[t] / vth, keep / 4096,
                                                               offset, slope, pshift, levels, u[t, 0], PLAIN_VALENCE,
                                                               t)
        bursts_i, bursts_f = bursts_i + bi.sum(), bursts_f + bf.sum()
        y1_i.append(y1.mean())
        y1_f.append(y1f.mean())
        vd_err = max(vd_err, float(np.abs(vi / scale - vf).max()))
        pbar_err = max(pbar_err, abs(float(pi.mean()) / PBAR_ONE - float(pf.mean())))  # the population's Pbar
    assert vd_err < 10 / scale / (1 - beta_d)          # truncation: < 1 unit per step, decaying
    assert bursts_i == pytest.approx(bursts_f, rel=0.02 + err)
    assert pbar_err < 0.01
    assert np.mean(y1_i) == pytest.approx(np.mean(y1_f), abs=0.05)  # stochastic rounding is unbiased


def test_torch_module_runs_the_float_steps():
    """The torch BurstNeuron (snntorch-style) is the float steps on its tensors' memory, nothing else."""
    torch = pytest.importorskip("torch")
    from neurolearn.ir.burst_network import BurstParams
    from neurolearn.nets.burst_module import BurstNeuronState, burst_neuron_step

    prm = BurstParams(alpha=0.5, beta=0.9, beta_d=0.8, threshold=1.0, burst_offset=0.3, burst_slope=0.5)
    rng = np.random.default_rng(0)
    basal, apical, rand = (rng.normal(0.6, 0.5, (3, 8)) for _ in range(3))
    state = [rng.normal(0, 0.5, (3, 8)) for _ in range(3)]
    e, b, p, st = burst_neuron_step(*(torch.from_numpy(x) for x in (basal, apical)),
                                    BurstNeuronState(*(torch.from_numpy(x) for x in state)), prm,
                                    torch.from_numpy(rand))
    s, i, v = lif_float_step(basal, state[0], state[1], 0.5, 0.9, 0.0, 1.0)
    burst, v_d, _, _, _, _, _, prob, _ = burst_float_step.py_func(s > 0, state[2], 0.0, 0.0, apical, 0.8, 0.3, 0.5, 0,
                                                                  0, rand, PLAIN_VALENCE, 0)
    assert np.array_equal(e.numpy(), s) and np.array_equal(b.numpy(), burst * 1.0)
    assert np.array_equal(st.v.numpy(), v) and np.array_equal(st.v_d.numpy(), v_d) and np.array_equal(p.numpy(), prob)
    assert e.sum() > 0 and b.sum() > 0


def test_stream_step_by_step_equals_all_at_once():
    s = BurstStream(11, 5)
    assert np.array_equal(np.stack([s.next() for _ in range(7)]), burst_uniforms(11, 7, 5))
    r = integer_draws(burst_uniforms(11, 7, 5))
    assert r[:, 0].max() < 256 and r[:, 1].max() < PBAR_ONE and r.min() >= 0


def test_band_teacher_step_spec():
    """Counts while silent, restarts after a request, opens for an up request below hi (or down above lo)
    for the request's whole duration; back-to-back requests count as one."""
    lo, hi = 2, 5
    state = (0, False, False)
    trace = []
    # 4 silent steps with 1 event each, then an up request for 3 steps, then silence, then a down request
    for up, down, ev in [(0, 0, 1)] * 4 + [(1, 0, 9)] * 3 + [(0, 0, 1)] * 6 + [(0, 1, 0)] * 2:
        state = band_teacher_step.py_func(bool(up), bool(down), ev, *state, lo, hi)
        trace.append(state)
    assert [t[0] for t in trace[:4]] == [1, 2, 3, 4]
    assert all(t[2] for t in trace[4:7])          # count 4 < hi: up passes for the whole request
    assert trace[7][0] == 1 and trace[12][0] == 6  # restarted after the request, counted again
    assert all(t[2] for t in trace[13:])          # count 6 > lo: down passes
    closed = band_teacher_step.py_func(True, False, 0, 5, False, True, lo, hi)
    assert closed[2] is False                     # count 5 is not below hi: closed


def test_expected_valence_with_homeostasis_integer_follows_float():
    """The on-chip classification neuron (expected valence, Pbar fixed at p(0) = 1/2, homeostasis capped at 8x,
    dead zone): with a centred table a dendrite at rest sends valence 0, and over a long random drive the integer
    step's Ebar, valence and Pbar follow the float step's."""
    steps, n, vth = 3000, 300, 256
    scale = vth * 64
    lut, off, shift, _ = burst_lut(0.0, 1.0, scale, centred=True)
    assert lut[128] == 128 and ((0 - off) >> shift) + 128 == 128      # p(v_d = 0) is exactly 1/2
    rt = round(0.04 * PBAR_ONE)
    shape = (1, 1, rt, 10, 128, 7, 3, round(0.1 * PBAR_ONE), 0, 0)
    keep = round(4096 * 0.9)
    rng = np.random.default_rng(1)
    drive = rng.normal(0.0, 0.2, (steps, n))
    a_int = np.round(drive * vth).astype(np.int64)
    rate = np.where(np.arange(n) < n // 2, 0.01, 0.08)                  # half below the target, half above
    events = rng.random((steps, n)) < rate
    r = integer_draws(burst_uniforms(3, steps, n))
    vi, pi, ei = np.zeros(n, np.int64), np.full(n, PBAR_ONE // 2, np.int64), np.full(n, rt << 10, np.int64)
    vf, pf, ef = np.zeros(n), np.full(n, 0.5), np.full(n, rt / PBAR_ONE)
    y_i, y_f = np.zeros(n), np.zeros(n)
    for t in range(steps):
        _, vi, pi, ei, y1, _, _ = burst_int_step.py_func(events[t], vi, pi, ei, a_int[t], keep, lut, off, shift, 15,
                                                         7, r[t, 0], r[t, 1], shape, t)
        _, vf, pf, ef, y1f, _, _, _, _ = burst_float_step.py_func(events[t], vf, pf, ef, a_int[t] / vth, keep / 4096,
                                                                  0.0, 1.0, 15, 7, r[t, 0] / 256, shape, t)
        y_i += y1 - 64
        y_f += y1f - 64
    assert np.all(pi == PBAR_ONE // 2) and np.all(pf == 0.5)
    assert np.abs((ei >> 10) / PBAR_ONE - ef).max() < 0.002          # Ebar: the same average
    low, high = slice(0, n // 2), slice(n // 2, n)
    assert y_i[low].mean() > 0 > y_i[high].mean()                      # homeostasis pushes toward the target
    assert y_i[low].mean() == pytest.approx(y_f[low].mean(), rel=0.05)  # unbiased rounding
    assert y_i[high].mean() == pytest.approx(y_f[high].mean(), rel=0.05)
    _, _, _, _, y1, _, _ = burst_int_step.py_func(np.ones(4, bool), np.zeros(4, np.int64), np.full(4, PBAR_ONE // 2),
                                               np.full(4, rt << 10), np.zeros(4, np.int64), keep, lut, off, shift, 15,
                                               7, np.zeros(4, np.int64), np.full(4, PBAR_ONE - 1), shape, 0)
    assert np.all(y1 == 64)   # at rest and at the target rate: valence 0 (in the dead zone), nothing sent


def test_valence_halves_every_halving_steps():
    """With a halving of H steps the valence sent at step t is the valence times 2**-min(t // H, 15): the float
    step's exactly, the integer step's on average (to its 15-bit resolution: the next test), and nothing is halved
    before step H or without a halving."""
    n, vth, levels, halving = 20000, 256, 4, 50
    scale = vth * 64
    lut, off, shift, _ = burst_lut(0.0, 1.0, scale, centred=True)
    v_float = math.log(0.7 / 0.3)                                       # p(v_d) = 0.7: valence 0.2 against Pbar 1/2
    shape = (1, 1, 0, 10, 0, 0, 0, 0, 0, halving)
    rng = np.random.default_rng(4)
    args = (np.ones(n, bool), np.full(n, round(v_float * scale)), np.full(n, PBAR_ONE // 2), np.zeros(n, np.int64),
            np.zeros(n, np.int64), 4096, lut, off, shift, 15, levels, np.zeros(n, np.int64))
    p_int = lut[((round(v_float * scale) - off) >> shift) + 128] / 256      # the table's p, within a bin of 0.7
    means = []
    for step in (0, halving - 1, halving, 2 * halving + 7, 3 * halving, 10**6):
        k = min(step // halving, 15)
        q = (burst_int_step.py_func(*args, rng.integers(0, PBAR_ONE, n), shape, step)[4] - 64) // 8
        f = burst_float_step.py_func(True, v_float, 0.5, 0.0, 0.0, 1.0, 0.0, 1.0, 15, levels, 0.0, shape, step)
        assert f[8] == pytest.approx((0.7 - 0.5) * 2.0**-k, rel=1e-12)
        means.append(q.mean())
        assert q.mean() == pytest.approx(levels * (p_int - 0.5) * 2.0**-k, abs=0.02)
    assert means[0] == pytest.approx(means[1], abs=0.03) and means[-1] < 0.01
    plain = burst_int_step.py_func(*args, rng.integers(0, PBAR_ONE, n), shape[:9] + (0,), 10**6)
    assert ((plain[4] - 64) // 8).mean() == pytest.approx(levels * (p_int - 0.5), abs=0.02)   # never halved


def test_halved_valence_rounding_is_exact_to_its_15_bit_resolution():
    """Averaged over every rounding draw, the halved valence's q is valence * levels * 2**-k floored to 2**-15 of a
    level: below the exact value by less than 2**-15, for every k (what docs/onchip.md states)."""
    n, levels, halving = PBAR_ONE, 3, 1
    lut = np.full(256, 200)                                             # p = 200/256 whatever v_d is
    shape = (1, 1, 0, 10, 0, 0, 0, 0, 0, halving)
    r = np.arange(n)                                                     # every draw once
    for pbar in (25500, 25590, 30000):                                  # valence 100, 10, -4400 (2**-15)
        valence = (200 << 7) - pbar
        for k in (0, 3, 8, 12, 15):
            q = (burst_int_step.py_func(np.ones(n, bool), np.zeros(n, np.int64), np.full(n, pbar),
                                        np.zeros(n, np.int64), np.zeros(n, np.int64), 4096, lut, 0, 0, 15, levels,
                                        np.zeros(n, np.int64), r, shape, k)[4] - 64) // 8
            exact = valence * levels * 2.0**-k / PBAR_ONE
            assert q.sum() == (valence * levels) >> k                   # the mean is floor(x / 2**k) / 2**15
            assert 0 <= exact - q.mean() < 2.0**-15


def test_class_teacher_step_spec():
    """Counts each population since the sample began (restart at the first step without requests after one
    with them), passes up while the population is below its band and down while above, per class."""
    hi, lo, shift = 3 << 8, 1 << 8, 8        # band 1..3 events per step (one neuron per class here)
    count, asked, steps = np.zeros(2, np.int64), False, 0
    gate = np.zeros(4, bool)
    seen = []
    # 3 steps without requests (class 0 fires 2 per step, class 1 none), then up_0 + down_1 requested
    for req, ev in [((0, 0, 0, 0), (2, 0))] * 3 + [((1, 0, 0, 1), (4, 0))] * 3 + [((0, 0, 0, 0), (0, 2))] * 2:
        asked, steps = class_teacher_step.py_func(np.array(req, bool), np.array(ev), count, asked, steps, hi, lo,
                                                  shift, gate)
        seen.append((count.copy(), steps, gate.copy()))
    assert seen[2][1] == 3 and list(seen[2][0]) == [6, 0]
    assert seen[3][2].tolist() == [True, False, False, False]    # 10 events in 4 steps: 2.5 < 3: up_0 passes
    assert seen[4][2].tolist() == [True, False, False, False]    # 14 in 5: 2.8
    assert seen[5][2].tolist() == [False, False, False, False]   # 18 in 6: 3, not below: closed; down_1 never
    assert seen[6][1] == 1 and list(seen[6][0]) == [0, 2]        # a new sample: restarted
    count[:] = [5, 0]
    asked, steps = class_teacher_step.py_func(np.array([0, 1, 1, 0], bool), np.array([0, 0]), count, False, 1, hi,
                                              lo, shift, gate)
    assert gate.tolist() == [False, True, True, False]           # 5 in 2 steps > 1: down_0; 0 < 3: up_1


# ---- the LIF step and its reset modes (Lava's LIF, neurolearn's NIRNeuron) ---------------------------------

@numba.njit
def _lif_steps_scalar(u, v, a, keep_u, keep_v, bias, vth6, v_reset, mode):
    out = np.zeros((3, u.size), np.int64)
    for i in range(u.size):
        s, uu, vv = lif_int_step(u[i], v[i], a[i], keep_u, keep_v, bias[i], vth6, v_reset[i], mode)
        out[0, i], out[1, i], out[2, i] = s, uu, vv
    return out


@given(st.integers(0, 2**32 - 1), st.integers(0, 4096), st.integers(0, 4096), st.integers(0, 2**17 - 1),
       st.sampled_from(range(len(RESET_MODES))))
def test_lif_int_step_numba_scalars_equal_numpy_arrays(seed, keep_u, keep_v, vth, mode):
    rng = np.random.default_rng(seed)
    n = 64
    u, v = (rng.choice([-STATE, STATE, 0, 1, -1, vth << 6, (vth << 6) + 1, *rng.integers(-STATE, STATE, 8)], n)
            for _ in range(2))
    a = rng.choice([-2**17, 2**17 - 1, 0, *rng.integers(-5000, 5000, 8)], n)
    bias = rng.choice([0, 4095 << 7, -(4096 << 7), *rng.integers(-9000, 9000, 8)], n)
    v_reset = np.zeros(n, np.int64) if mode else rng.integers(-STATE, STATE, n)
    scalars = _lif_steps_scalar(u, v, a, keep_u, keep_v, bias, vth << 6, v_reset, mode)
    arrays = np.stack([np.asarray(x, np.int64) for x in lif_int_step.py_func(u, v, a, keep_u, keep_v, bias, vth << 6,
                                                                               v_reset, mode)])
    assert np.array_equal(scalars, arrays)
    assert np.all(np.abs(arrays[2]) <= STATE) and np.all(np.abs(arrays[1]) <= STATE + 1)   # u wraps above 2**23
    if RESET_MODES[mode] == "none":
        assert not arrays[0].any()


@given(st.integers(0, 2**32 - 1), st.integers(0, 4096), st.integers(0, 4095), st.integers(0, 2**17 - 1))
def test_lif_int_step_in_mode_zero_is_lavas_lif(seed, keep_u, dv, vth):
    """Mode zero, v_reset 0: Lava 0.10.0's PyLifModelBitAcc written out (AbstractPyLifModelFixed.subthr_dynamics,
    then v > vth << 6 spikes and resets v to 0)."""
    rng = np.random.default_rng(seed)
    u, v = rng.integers(-STATE, STATE, 64), rng.integers(-STATE, STATE, 64)
    a, bias = rng.integers(-2**15, 2**15, 64), rng.integers(-(4096 << 7), 4095 << 7, 64)
    cur = np.int32(np.sign(u * keep_u) * np.right_shift(np.abs(u * keep_u), 12)) + np.left_shift(a, 6)
    cur = np.where(cur > 2**23, cur - 2**24, cur)
    cur = np.where(cur <= -2**23, cur + 2**24, cur)
    dec = np.int32(np.sign(v * (4096 - dv)) * np.right_shift(np.abs(v * (4096 - dv)), 12))
    volt = np.clip(dec + cur + bias, -STATE, STATE)
    s = volt > vth << 6
    got = lif_int_step.py_func(u, v, a, keep_u, 4096 - dv, bias, vth << 6, np.zeros(64, np.int64), 0)
    assert np.array_equal(got[0], s) and np.array_equal(got[1], cur) and np.array_equal(got[2], np.where(s, 0, volt))


@pytest.mark.parametrize("mode", RESET_MODES)
def test_lif_integer_step_equals_the_float_step_where_both_are_exact(mode):
    """No decay rounding (beta = 1 or 0, alpha = 0) and integer inputs: the integer step and the float step are
    the same model, step for step, in every reset mode (thresholds and inputs in units of 64)."""
    rng = np.random.default_rng(RESET_MODES.index(mode))
    steps, n, vth = 200, 32, 40
    code = RESET_MODES.index(mode)
    for keep_v in (4096, 0):
        x = rng.integers(-25, 40, (steps, n))
        bias = rng.integers(-3, 6, n) * 64
        v_reset = rng.integers(-20, 20, n) * 64 if mode == "zero" else np.zeros(n, np.int64)
        ui, vi = np.zeros(n, np.int64), np.zeros(n, np.int64)
        uf, vf = np.zeros(n), np.zeros(n)
        fired = 0
        for t in range(steps):
            si, ui, vi = lif_int_step.py_func(ui, vi, x[t], 0, keep_v, bias, vth << 6, v_reset, code)
            sf, uf, vf = lif_float_step(x[t] * 1.0, uf, vf, 0.0, keep_v / 4096, bias / 64, float(vth), v_reset / 64,
                                        code)
            assert np.array_equal(si, sf > 0) and np.array_equal(vi, vf * 64) and np.array_equal(ui, uf * 64), t
            fired += si.sum()
        assert (fired > steps // 10) == (mode != "none")
