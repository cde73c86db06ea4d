"""neurolearn's own Lava processes in Lava's runtime, against their equations."""

import numpy as np
import pytest


@pytest.mark.lava
def test_burst_lif_float_model_in_lava():
    """BurstLIF's float ProcessModel (Loihi2SimCfg floating_pt) against the float equations written out."""
    from neurolearn.lava.graph import require_lava
    from neurolearn.lava.processes.process import BurstLIF
    from neurolearn.lava.runner import run_monitored

    lava = require_lava()
    rng = np.random.default_rng(5)
    steps, n_in, n = 120, 6, 4
    x = (rng.random((steps, n_in)) < 0.4).astype(np.int32)
    w, wa = rng.normal(0.4, 0.5, (n, n_in)), rng.normal(0.0, 1.5, (n, n_in))
    beta, beta_d, off, slope, k, seed = 0.9, 0.8, 0.5, 0.7, 3, 11
    neuron = BurstLIF(shape=(n,), du=1.0, dv=1 - beta, dv_d=1 - beta_d, vth=1.0, burst_offset=off,
                      burst_slope=slope, pbar_init=0.25, pbar_shift=k, valence_levels=4, seed=seed, name="b")
    for weights, port in ((w, neuron.a_in), (wa, neuron.a_apical_in)):
        src, dense = lava["RingBuffer"](data=x.T.copy()), lava["Dense"](weights=weights)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(port)
    cfg = lava["Loihi2SimCfg"](select_tag="floating_pt")
    ports = {"e": neuron.s_out, "b": neuron.s_out_burst, "vd": neuron.v_d, "y1": neuron.y1}
    got = run_monitored({"b": neuron}, ports, steps, run_cfg=cfg)
    draws = np.random.default_rng(seed).random((steps, 2, n))
    v, vd, pbar, a, a_ap = np.zeros(n), np.zeros(n), np.full(n, 0.25), np.zeros(n), np.zeros(n)
    for t in range(steps):
        v = v * (1 - (1 - beta)) + a   # the model's v * (1 - dv), as Lava's float LIF
        e = v > 1.0
        v[e] = 0
        vd = vd * (1 - (1 - beta_d)) + a_ap
        b = e & (draws[t, 0] < 1 / (1 + np.exp(-(vd - off) / slope)))
        y1 = 64 + 8 * 4 * (b - pbar)
        pbar = np.where(e, pbar + (b - pbar) * 2.0**-k, pbar)
        np.testing.assert_array_equal(got["e"][t].astype(bool), e, err_msg=f"events, step {t}")
        np.testing.assert_array_equal(got["b"][t].astype(bool), b, err_msg=f"bursts, step {t}")
        np.testing.assert_allclose(got["vd"][t], vd, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got["y1"][t], y1, rtol=1e-12)
        a, a_ap = w @ x[t], wa @ x[t]  # the Dense delivers next step
    assert got["b"].sum() > 0 and got["e"].sum() > got["b"].sum()
