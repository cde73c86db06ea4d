"""neurolearn's own Lava processes in Lava's runtime, against their equations."""

import numpy as np
import pytest


@pytest.mark.lava
@pytest.mark.parametrize("eta", [0.0, 0.05])
def test_burst_lif_float_model_in_lava(eta):
    """BurstLIF's float ProcessModel (Loihi2SimCfg floating_pt) against the float equations written out (``eta``:
    the homeostatic bias's, toward 0.1 events per step)."""
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
                      burst_slope=slope, pbar_init=0.25, pbar_shift=k, valence_levels=4, seed=seed,
                      rate_target=0.1 * 2**15, bias_gain=eta, name="b")
    for weights, port in ((w, neuron.a_in), (wa, neuron.a_apical_in)):
        src, dense = lava["RingBuffer"](data=x.T.copy()), lava["Dense"](weights=weights)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(port)
    cfg = lava["Loihi2SimCfg"](select_tag="floating_pt")
    ports = {"e": neuron.s_out, "b": neuron.s_out_burst, "vd": neuron.v_d, "y1": neuron.y1}
    got = run_monitored({"b": neuron}, ports, steps, run_cfg=cfg)
    draws = np.random.default_rng(seed).random((steps, 2, n))
    v, vd, pbar, a, a_ap, hb = np.zeros(n), np.zeros(n), np.full(n, 0.25), np.zeros(n), np.zeros(n), np.zeros(n)
    for t in range(steps):
        v = v * (1 - (1 - beta)) + a + hb   # the model's v * (1 - dv), as Lava's float LIF, plus the bias
        e = v > 1.0
        v[e] = 0
        hb = hb + eta * (0.1 - e)
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
    assert (np.abs(hb).max() > 0.1) == (eta > 0)


def _reset_reference(mode, a, beta, bias, vth, v_reset):
    """NIRNeuron's float model written out per reset mode (du = 1: u is this step's input)."""
    v, out_s, out_v = np.zeros(a.shape[1]), [], []
    for a_t in a:
        r = v > vth
        y = v * beta + a_t + bias
        if mode == "subtract_late":
            y = y - r * vth
        if mode == "zero_late":
            y = np.where(r, 0.0, y)
        s = (y - r * vth > vth) if mode == "subtract" else (y > vth) & (mode != "none")
        v = {"zero": np.where(s, v_reset, y), "subtract": y - s * vth}.get(mode, y)
        out_s.append(s)
        out_v.append(v)
    return np.array(out_s), np.array(out_v)


@pytest.mark.lava
@pytest.mark.parametrize("mode", ["zero", "subtract", "subtract_late", "zero_late", "none"])
def test_nir_neuron_float_model_in_lava(mode):
    """NIRNeuron's float ProcessModel (Loihi2SimCfg floating_pt) against its equations written out."""
    from neurolearn.ir.plan import RESET_MODES
    from neurolearn.lava.graph import require_lava
    from neurolearn.lava.processes.process import NIRNeuron
    from neurolearn.lava.runner import run_monitored

    lava = require_lava()
    rng = np.random.default_rng(3)
    steps, n_in, n = 80, 6, 5
    x = (rng.random((steps, n_in)) < 0.5).astype(np.int32)
    w = rng.normal(0.5, 0.6, (n, n_in))
    beta, vth, bias = 0.8, 1.0, rng.normal(0.0, 0.1, n)
    v_reset = rng.normal(0.0, 0.4, n) if mode == "zero" else np.zeros(n)
    neuron = NIRNeuron(shape=(n,), du=1.0, dv=1 - beta, vth=vth, bias_mant=bias, v_reset=v_reset,
                       reset_mode=RESET_MODES.index(mode), name="nn")
    src, dense = lava["RingBuffer"](data=x.T.copy()), lava["Dense"](weights=w)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(neuron.a_in)
    got = run_monitored({"nn": neuron}, {"s": neuron.s_out, "v": neuron.v}, steps,
                        run_cfg=lava["Loihi2SimCfg"](select_tag="floating_pt"))
    a = np.concatenate([np.zeros((1, n)), x[:-1] @ w.T])   # the Dense delivers next step
    s, v = _reset_reference(mode, a, beta, bias, vth, v_reset)
    np.testing.assert_array_equal(got["s"].astype(bool), s)
    np.testing.assert_allclose(got["v"], v, rtol=1e-12, atol=1e-12)
    assert (s.sum() > 10) == (mode != "none")


def test_run_script_refuses_layers_lavas_lif_cannot_run(tmp_path, capsys):
    """A bundle's run_on_loihi.py (numpy and Lava only) refuses, in one line, a plan needing NIRNeuron."""
    from neurolearn.lava.graph_script import run_bundle_command
    from tests.conformance.test_backends import feature_plan

    plan, _ = feature_plan("reset")
    (tmp_path / "plan.json").write_text(plan.to_json())
    assert run_bundle_command([str(tmp_path), "--cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layers l0, l1 that need neurolearn's NIRNeuron" in err[0]
