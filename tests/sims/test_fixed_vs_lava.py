"""Rung L3: the fixed-point simulator equals Lava's fixed_pt models bit for bit (spikes, u, v, every step)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.dynamics.dense import effective_weights
from neurolearn.lava.runner import simulate_lava
from neurolearn.sims.fixed import simulate_fixed
from tests.strategies import plans, spike_trains, weight_matrices


def assert_same_bits(a, b):
    assert a.layers.keys() == b.layers.keys()
    for name in a.layers:
        for key in ("spikes", "u", "v"):
            x, y = getattr(a.layers[name], key), getattr(b.layers[name], key)
            assert x.shape == y.shape, (name, key)
            bad = np.argwhere(x != y)
            assert bad.size == 0, f"{name}.{key}: first mismatch at (sample, step, neuron) {bad[0]}"


@pytest.mark.lava
@given(w=st.integers(1, 6).flatmap(lambda n: weight_matrices((n, 7))), bits=st.integers(1, 8))
@settings(max_examples=300)
def test_effective_weights_match_lava_weightutils(w, bits):
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    mode = determine_sign_mode(w)
    want = truncate_weights(clip_weights(w.copy(), mode, num_bits=8), mode, bits)
    np.testing.assert_array_equal(effective_weights(w, bits), want)


@pytest.mark.lava
@given(data=st.data())
@settings(max_examples=30)
def test_random_networks_bit_exact(data):
    plan = data.draw(plans())
    spikes = data.draw(spike_trains(plan.input_size))
    assert_same_bits(simulate_fixed(plan, spikes), simulate_lava(plan, spikes))


def test_random_networks_are_not_mostly_silent():
    """Guard: the strategy must draw active networks, or the bit-exact test above proves little."""
    seen = []

    @given(data=st.data())
    @settings(max_examples=60)
    def draw(data):
        plan = data.draw(plans())
        res = simulate_fixed(plan, data.draw(spike_trains(plan.input_size)))
        seen.append(sum(int(r.spikes.sum()) for r in res.layers.values()))

    draw()
    assert sum(n > 0 for n in seen) >= len(seen) // 3, seen


@pytest.mark.parametrize("w", [np.array([[-254, 0, -1, -255]]), np.array([[255, 0, 1, 128]]),
                               np.array([[-256, 254, 0, -2]])])
@pytest.mark.parametrize("bits", [8, 5])
def test_pack_weights_is_exact(w, bits):
    """Regression: an inhibitory matrix with a zero once overflowed the int8 packing."""
    from neurolearn.sims.lowering import pack_weights

    q, offset, shift = pack_weights(w, bits)
    np.testing.assert_array_equal((q.astype(np.int64) + offset) << shift, effective_weights(w, bits))


def test_batch_equals_samples_one_by_one(small_plan):
    plan = small_plan
    rng = np.random.default_rng(5)
    spikes = (rng.random((6, 30, plan.input_size)) < 0.4).astype(np.uint8)
    batched = simulate_fixed(plan, spikes)
    for b in range(spikes.shape[0]):
        one = simulate_fixed(plan, spikes[b])
        for name, rec in one.layers.items():
            np.testing.assert_array_equal(rec.v[0], batched.layers[name].v[b])
            np.testing.assert_array_equal(rec.spikes[0], batched.layers[name].spikes[b])
