"""Small snntorch models and NIR files used across tests."""
import signal

import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

from neurolearn.ir import plan as P
from neurolearn.ir.program import LearningProgram
from neurolearn.nir import export_to_nir, write


def feedforward(n_in=12, n_hidden=16, n_out=5, seed=0, synaptic=False, bias=True):
    torch.manual_seed(seed)
    out = (snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism="zero", reset_delay=False,
                        output=True) if synaptic else
           snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero", output=True))
    return nn.Sequential(nn.Linear(n_in, n_hidden, bias=bias),
                         snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
                         nn.Linear(n_hidden, n_out, bias=bias), out)


def recurrent(n_in=10, n_hidden=14, n_out=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, n_hidden),
                         snn.RLeaky(beta=0.85, linear_features=n_hidden, init_hidden=True, reset_mechanism="zero",
                                    reset_delay=False),
                         nn.Linear(n_hidden, n_out),
                         snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", output=True))


def save(model, path, dt=1e-3, n_in=None):
    n_in = n_in or model[0].in_features
    write(path, export_to_nir(model, dt=dt, input_shape=(n_in,)))
    return path


def spikes(n_in, steps=40, batch=2, rate=0.3, seed=0):
    return (np.random.default_rng(seed).random((batch, steps, n_in)) < rate).astype(np.uint8)


def lif_graph(tau=0.01, threshold=1.0, weight=None, dt=1e-3, extra=None):
    """A hand-built NIR graph input -> Affine -> LIF -> output (no neurolearn block unless dt given)."""
    w = np.ones((3, 4)) * 0.5 if weight is None else weight
    n = w.shape[0]
    nodes = {"input": nir.Input(np.array([w.shape[1]])),
             "fc": nir.Affine(weight=w, bias=np.zeros(n)),
             "lif": nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                            v_threshold=np.full(n, threshold), v_reset=np.zeros(n)),
             "output": nir.Output(np.array([n]))}
    nodes.update(extra or {})
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    if dt is not None:
        g.metadata["neurolearn"] = {"version": 1, "dt": dt, "integration": "euler"}
    return g


def random_burst_net(seed: int, homeostasis: bool = False, plateau: bool = False, halving: bool = False):
    """Input -> burst (-> LIF) -> burst with random decays, tables, ports, burst feedback, an input range,
    a teacher gate and learning (the valence program into burst layers, STDP into the LIF). ``homeostasis``: the
    burst layers' homeostatic bias on, with a random target rate, gain and shift. ``plateau``: the burst layers send
    the split valence (y2 = P+, y3 = -P-) and learn by a random btsp-credit-shaped program. ``halving``: their
    valence halves every 10-40 steps."""
    rng = np.random.default_rng(seed)
    n_in, sizes = int(rng.integers(3, 7)), [int(rng.integers(2, 6)) for _ in range(3)]

    def burst(i):
        lut = np.sort(rng.integers(0, 256, 256))
        homeo = dict(rate_target=int(rng.integers(0, 2**14)), bias_gain=int(rng.integers(1, 256)),
                     bias_shift=int(rng.integers(8, 16))) if homeostasis else {}
        return P.BurstPlan(dv_d=int(rng.integers(0, 4096)), lut=lut, lut_offset=int(rng.integers(-3000, 3000)),
                           lut_shift=int(rng.integers(0, 10)), pbar_shift=int(rng.integers(0, 9)),
                           pbar_init=int(rng.integers(0, 2**15 + 1)), valence_levels=int(rng.integers(0, 8)),
                           seed=int(rng.integers(0, 1000)), plateau_split=plateau,
                           valence_halving=int(rng.integers(10, 41)) if halving else 0, **homeo)

    layers = tuple(P.LayerPlan(f"l{i}", n, du=int(rng.choice([0, 410, 4095])), dv=int(rng.integers(0, 4096)),
                               vth=int(rng.integers(10, 200)), bias_mant=rng.integers(-20, 60, n),
                               bias_exp=rng.integers(0, 3, n), burst=burst(i) if i != 1 else None)
                   for i, n in enumerate(sizes))
    w = lambda n_post, n_pre, lo=-120: rng.integers(lo, 200, (n_post, n_pre))  # noqa: E731
    conns = (P.ConnectionPlan("a", "in", "l0", w(sizes[0], n_in), input_range=(0, n_in)),
             P.ConnectionPlan("b", "l0", "l1", w(sizes[1], sizes[0])),
             P.ConnectionPlan("c", "l1", "l2", w(sizes[2], sizes[1])),
             P.ConnectionPlan("y", "l2", "l0", w(sizes[0], sizes[2], -200), port="apical", carries="bursts",
                              recurrent=True),
             P.ConnectionPlan("z", "l0", "l2", w(sizes[2], sizes[0]), port="apical", carries="bursts"),
             P.ConnectionPlan("teach", "in", "l2", np.tile([150, -150], (sizes[2], 1)), port="apical",
                              input_range=(n_in, n_in + 2)))
    valence = LearningProgram(dw=f"{int(rng.integers(1, 8))}*2^-{int(rng.integers(3, 7))} * y0 * x1 * (y1 - 64)",
                              x1_impulse=int(rng.integers(4, 30)), x1_tau=int(rng.integers(2, 40)),
                              rng_seed=int(rng.integers(0, 100)), three_factor=True)
    if plateau:
        m = [int(v) for v in rng.integers(1, 8, 3)]
        valence = LearningProgram(dw=f"-{m[0]}*2^-{int(rng.integers(0, 4))} * y0 * (w - {int(rng.integers(60, 200))}) "
                                     f"* x1 * y2 - {m[1]}*2^-{int(rng.integers(0, 4))} * y0 * w * x2 * y2 - "
                                     f"{m[2]}*2^-{int(rng.integers(3, 7))} * y0 * x1 * y3",
                                  x1_impulse=int(rng.integers(4, 60)), x1_tau=int(rng.integers(2, 40)),
                                  x2_impulse=int(rng.integers(20, 127)), x2_tau=int(rng.integers(2, 40)),
                                  rng_seed=int(rng.integers(0, 100)), three_factor=True)
    stdp = LearningProgram(dw="2^-3 * y0 * x1 - 2^-3 * x0 * y1", x1_impulse=12, x1_tau=8, y1_impulse=12, y1_tau=8)
    learning = {"a": P.Plasticity(valence), "c": P.Plasticity(valence), "b": P.Plasticity(stdp)}
    teacher = P.BandTeacherPlan("l2", n_in, n_in + 1, lo=int(rng.integers(0, 5)), hi=int(rng.integers(5, 15)))
    plan = P.Plan(1e-3, "in", n_in + 2, layers, conns, ("l2",), learning=learning, teacher=teacher)
    steps = 160
    x = (rng.random((steps, n_in + 2)) < 0.3).astype(np.uint8)
    x[:, n_in:] = 0
    for start in range(20, steps, 50):  # teacher requests, alternately up and down
        x[start:start + 20, n_in + (start // 50) % 2] = 1
    return plan, x


def assert_same_as_lava(ours, lava, layer_keys=("spikes", "v", "bursts", "v_d"), synapse_keys=("weights",)):
    """Every layer and synapse record ``lava`` holds of a learning run (None: not recorded) equals ``ours``."""
    for records, theirs, keys in ((ours.sim.layers, lava.sim.layers, layer_keys),
                                  (ours.synapses, lava.synapses, synapse_keys)):
        for n, rec in theirs.items():
            for k in keys:
                want, got = getattr(rec, k), getattr(records[n], k)
                if want is None:
                    continue
                assert got.shape == want.shape, f"{n}.{k}: shape {got.shape} != Lava's {want.shape}"
                bad = np.argwhere(got != want)
                assert bad.size == 0, f"{n}.{k}: first mismatch at {bad[0]}"


def ctrl_c_as_at_a_terminal():
    """``preexec_fn`` for a child that must see Ctrl-C: SIGINT back to its default (a shell running the suite in
    the background hands its children SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
