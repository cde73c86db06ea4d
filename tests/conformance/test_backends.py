"""Conformance: every backend runs every plan feature it declares (neurolearn.ir.features.BACKENDS)
bit-identically to Lava, and refuses every other one in one line naming the feature, through the Python API
and the command line alike. The fixed-point kernels are compared with Lava's fixed_pt models on one small
plan per feature; ``tests/sims`` compares them on random plans."""
import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.errors import UnsupportedFeatureError
from neurolearn.ir import plan as P
from neurolearn.ir.features import BACKENDS, FAMILIES, FEATURES, missing_features
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.ir.program import LearningProgram

STEPS = 60


def _layer(name, n, rng, burst=False, **kw):
    b = None
    if burst:
        b = P.BurstPlan(dv_d=int(rng.integers(100, 900)), lut=np.sort(rng.integers(0, 256, 256)),
                        lut_offset=int(rng.integers(-500, 500)), lut_shift=int(rng.integers(2, 8)), pbar_shift=4,
                        valence_levels=3, seed=int(rng.integers(0, 99)))
    dv = kw.pop("dv", int(rng.integers(100, 1000)))   # each default drawn in any case: the same plans otherwise
    du, vth = kw.pop("du", int(rng.choice([0, 410, 4095]))), kw.pop("vth", int(rng.integers(20, 80)))
    return P.LayerPlan(name, n, du=du, dv=dv, vth=vth,
                       bias_mant=rng.integers(0, 30, n), bias_exp=rng.integers(0, 3, n), burst=b, **kw)


def feature_plan(feature: str, seed: int = 0):
    """The smallest plan that uses ``feature`` (and the input spikes to run it), plain LIF layers elsewhere."""
    rng = np.random.default_rng(seed)
    w = lambda n_post, n_pre: rng.integers(-100, 200, (n_post, n_pre))  # noqa: E731
    n_in, extra = 6, {}
    second = {"reset": dict(reset="subtract", reset_delay=True), "readout": dict(spiking=False),
              "stateless": dict(dv=P.DV_STATELESS),
              "neuron_parameters": dict(du=rng.integers(0, 4096, 4), dv=rng.integers(0, 4097, 4),
                                        vth=rng.integers(20, 80, 4))}.get(feature, {})
    first = {"reset": dict(v_reset=rng.integers(-3000, 3000, 5)),
             "start_voltage": dict(v_init=rng.integers(-5000, 9000, 5))}.get(feature, {})
    layers = [_layer("l0", 5, rng, burst=feature in ("bursts", "apical", "teacher"), **first),
              _layer("l1", 4, rng, **second)]
    if feature == "class_teacher":   # two classes of two neurons each in l0
        layers[0] = _layer("l0", 4, rng, burst=True)
    n0 = layers[0].size
    conns = [P.ConnectionPlan("ff0", "in", "l0", w(n0, n_in)), P.ConnectionPlan("ff1", "l0", "l1", w(4, n0))]
    if feature == "convolution":   # every geometry parameter away from its default
        geo = ConvGeometry((2, 5, 4), 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
        n_in, layers[0] = geo.n_in, _layer("l0", geo.n_out, rng)
        conns = [P.ConnectionPlan("ff0", "in", "l0", rng.integers(-100, 200, geo.kernel_shape), conv=geo),
                 P.ConnectionPlan("ff1", "l0", "l1", w(4, geo.n_out))]
    if feature == "sparse":
        mask = rng.random((4, 5)) < 0.5
        conns[1] = P.ConnectionPlan("ff1", "l0", "l1", w(4, 5)[mask], sparse=SparseLayout.of(mask), weight_exp=-1)
    if feature == "delays":
        conns[0] = P.ConnectionPlan("ff0", "in", "l0", w(5, n_in), delays=rng.integers(0, 6, (5, n_in)))
        mask = rng.random((4, 5)) < 0.6
        conns[1] = P.ConnectionPlan("ff1", "l0", "l1", w(4, 5)[mask], sparse=SparseLayout.of(mask), weight_exp=1,
                                    delays=rng.integers(0, 4, int(mask.sum())))
    if feature == "recurrence":
        conns.append(P.ConnectionPlan("rec", "l1", "l1", w(4, 4), recurrent=True))
    if feature == "bursts":
        conns[1] = P.ConnectionPlan("ff1", "l0", "l1", w(4, 5), carries="bursts")
    if feature == "apical":
        conns.append(P.ConnectionPlan("up", "l1", "l0", w(5, 4), port="apical", recurrent=True))
    if feature == "input_ranges":
        conns[0] = P.ConnectionPlan("ff0", "in", "l0", w(5, 4), input_range=(0, 4))
        conns.append(P.ConnectionPlan("ff0b", "in", "l0", w(5, 2), input_range=(4, 6)))
    if feature == "teacher":
        n_in = 8
        conns[0] = P.ConnectionPlan("ff0", "in", "l0", w(5, 6), input_range=(0, 6))
        conns.append(P.ConnectionPlan("teach", "in", "l0", np.tile([150, -150], (5, 1)), port="apical",
                                      input_range=(6, 8)))
        extra["teacher"] = P.BandTeacherPlan("l0", 6, 7, lo=1, hi=6)
    if feature == "class_teacher":   # channels 6 + 2c (up), 7 + 2c (down) into class c's dendrites
        n_in = 10
        conns[0] = P.ConnectionPlan("ff0", "in", "l0", w(4, 6), input_range=(0, 6))
        pair = np.kron(np.eye(2), np.ones((2, 1))) * 150
        conns.append(P.ConnectionPlan("teach", "in", "l0", np.stack([pair, -pair], axis=2).reshape(4, 4).astype(int),
                                      port="apical", input_range=(6, 10)))
        extra["teacher"] = P.ClassTeacherPlan("l0", first=6, classes=2, lo=64, hi=256)
    if feature == "learning":
        prog = LearningProgram(dw="2^-3 * y0 * x1 - 2^-3 * x0 * y1", x1_impulse=12, x1_tau=8, y1_impulse=12,
                               y1_tau=8)
        extra["learning"] = {"ff1": P.Plasticity(prog)}
    plan = P.Plan(1e-3, "in", n_in, tuple(layers), tuple(conns), ("l1",), **extra)
    x = (rng.random((STEPS, n_in)) < 0.4).astype(np.uint8)
    if feature == "teacher":
        x[:, 6:] = 0
        x[20:35, 6] = 1
        x[45:55, 7] = 1
    if feature == "class_teacher":   # two samples: teach class 0 up and class 1 down, then the reverse
        x[:, 6:] = 0
        x[15:35, [6, 9]] = 1
        x[40:55, [7, 8]] = 1
    return plan, x


def run_python(backend: str, plan, x):
    """Run through the backend's own Python entry point; returns its SimResult."""
    if backend == "fixed":
        from neurolearn.sims.fixed import simulate_fixed
        return simulate_fixed(plan, x)
    if backend == "learning":
        from neurolearn.sims.learning import simulate_learning
        return simulate_learning(plan, x).sim
    if backend == "lava":
        from neurolearn.lava.runner import simulate_lava
        return simulate_lava(plan, x)
    if backend == "lava-learning":
        from neurolearn.lava.runner import simulate_learning_lava
        return simulate_learning_lava(plan, x).sim
    from neurolearn.hardware.description import load_target
    from neurolearn.hardware.fit import check_fit
    return check_fit(plan, load_target("loihi2"))


PLAN_BACKENDS = ("fixed", "learning", "lava", "lava-learning", "loihi")   # entry points that take a plan
PAIRS = [(b, f) for b in PLAN_BACKENDS for f in FEATURES]


def test_every_feature_has_a_plan_using_it():
    for f in FEATURES:
        assert f in feature_plan(f)[0].features()


@pytest.mark.parametrize("backend,feature", [(b, f) for b, f in PAIRS if f not in BACKENDS[b].features])
def test_python_api_refuses_what_a_backend_does_not_run(backend, feature):
    plan, x = feature_plan(feature)
    missing = missing_features(plan.features(), backend)
    with pytest.raises(UnsupportedFeatureError) as err:
        run_python(backend, plan, x)
    msg = str(err.value)
    assert f"backend '{backend}'" in msg and f"'{missing[0]}'" in msg and "backends that do:" in msg
    assert "\n" not in msg


@pytest.mark.lava
@pytest.mark.parametrize("feature", FEATURES)
def test_fixed_point_backends_equal_lava_on_every_feature_they_run(feature):
    plan, x = feature_plan(feature)
    runs = {b: run_python(b, plan, x) for b in ("fixed", "learning", "lava", "lava-learning")
            if not missing_features(plan.features(), b)}
    lava = runs.get("lava-learning") or runs["lava"]
    assert len(runs) >= 2
    for name, res in runs.items():
        for layer, rec in lava.layers.items():
            for key in ("spikes", "u", "v", "bursts"):
                ours, theirs = getattr(res.layers[layer], key), getattr(rec, key)
                if ours is not None and theirs is not None:
                    assert np.array_equal(ours[:1], theirs[:1]), (name, layer, key)


@pytest.mark.parametrize("feature", FEATURES)
def test_command_line_refuses_or_runs_every_feature(tmp_path, capsys, feature):
    plan, x = feature_plan(feature)
    build = tmp_path / "b"
    build.mkdir()
    (build / "plan.json").write_text(plan.to_json())
    (build / "model.nir").write_bytes(b"")   # never read: no float network for these plans
    np.save(tmp_path / "x.npy", x)
    for family, names in FAMILIES.items():
        if family == "lava":
            continue   # the Lava family runs everything (lava-learning); run in the test above
        code = main(["simulate", str(build), "--backend", family, "--input", str(tmp_path / "x.npy"),
                     "-o", str(tmp_path / "o.npz")])
        out = capsys.readouterr()
        runnable = [n for n in names if not missing_features(plan.features(), n)]
        if runnable and family != "float":
            assert code == 0 and out.out.startswith(f"{runnable[0]}:"), out
        elif not runnable:
            missing = missing_features(plan.features(), names[-1])
            assert code == 2 and f"'{missing[0]}'" in out.err and len(out.err.strip().splitlines()) == 1, out
    if feature in BACKENDS["loihi"].features:
        assert main(["fit", str(build), "--target", "loihi2"]) == 0
    else:
        assert main(["fit", str(build), "--target", "loihi2"]) == 2
        err = capsys.readouterr().err
        assert "backend 'loihi'" in err and len(err.strip().splitlines()) == 1
