"""Build and run a neurolearn ``plan.json`` with Lava: numpy and Lava only, no neurolearn.

neurolearn's Lava backend builds its graphs with :func:`build`, and ``neurolearn deploy`` copies this
file verbatim into deployment bundles as ``run_on_loihi.py``, so a machine with Intel's Loihi runtime
runs exactly the graph neurolearn verified on CPU::

    python run_on_loihi.py BUNDLE --steps 100 [--input SPIKES.npy] [--cpu] [-o OUT.npz]

``--cpu`` runs Lava's bit-accurate CPU models (``Loihi2SimCfg(select_tag="fixed_pt")``) instead of the
chip (``Loihi2HwCfg``), e.g. to compare with ``neurolearn simulate BUNDLE --backend fixed``.
Timing: the input ``RingBuffer`` sends column ``t - 1`` at step ``t``; each Dense delivers one step later.
"""
import argparse
import json
import multiprocessing as mp
import os
import sys

import numpy as np


def import_lava(hardware=False):
    """The Lava classes used here, as a dict. Raises ImportError naming what is missing."""
    # Lava calls mp.set_start_method('fork') at import and fails if anything (numba's thread launch,
    # for one) already fixed the default 'fork' context: clear it so Lava can set it again.
    if mp.get_start_method(allow_none=True) == "fork":
        mp.set_start_method(None, force=True)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    return dict(RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg, Loihi2HwCfg=Loihi2HwCfg, Dense=Dense,
                RingBuffer=RingBuffer, LIF=LIF, Monitor=Monitor)


def lava_lif(layer):
    """Does Lava's own LIF run this layer dict (reset to zero at once, spiking, dv <= 4095), or does it need
    neurolearn's NIRNeuron process?"""
    return (layer.get("reset", "zero") == "zero" and not layer.get("reset_delay", False)
            and layer.get("spiking", True) and not np.any(layer.get("v_reset") or 0) and layer["dv"] <= 4095)


def build_neurons(layers, spikes, lava, made=None):
    """The input ``RingBuffer`` fed by ``spikes`` (steps, n_in) of 0/1 and one ``LIF`` per layer dict
    (as in plan.json), except the processes in ``made`` (by layer name), built by the caller: every layer that
    is not :func:`lava_lif`. Returns (source, {layer: process})."""
    source = lava["RingBuffer"](data=np.ascontiguousarray(np.asarray(spikes).T, dtype=np.int32))
    lifs = dict(made or {})
    for layer in layers:
        if layer["name"] in lifs:
            continue
        lifs[layer["name"]] = lava["LIF"](
            shape=(layer["size"],), du=layer["du"], dv=layer["dv"], vth=layer["vth"],
            bias_mant=np.asarray(layer["bias_mant"], dtype=np.int32),
            bias_exp=np.asarray(layer["bias_exp"], dtype=np.int32), name=layer["name"])
    return source, {layer["name"]: lifs[layer["name"]] for layer in layers}


def build(plan, spikes, lava, made=None):
    """Lava processes for ``plan`` (the dict of plan.json) fed by ``spikes`` (steps, n_in) of 0/1; ``made``:
    neuron processes built by the caller (by layer name), used as they are.

    Returns (source RingBuffer, {layer: LIF}, {connection: Dense}); every integer as in the plan.
    """
    source, lifs = build_neurons(plan["layers"], spikes, lava, made)
    denses = {}
    for c in plan["connections"]:
        dense = lava["Dense"](weights=np.asarray(c["weights"], dtype=np.int32), weight_exp=c["weight_exp"],
                              num_weight_bits=c["num_weight_bits"], name=c["name"])
        src = source if c["source"] == plan["input"]["name"] else lifs[c["source"]]
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(lifs[c["target"]].a_in)
        denses[c["name"]] = dense
    return source, lifs, denses


def run(plan, spikes, hardware, lava):
    """Run for ``len(spikes)`` steps; return {layer: spikes (steps, size)} of the plan's outputs."""
    steps = len(spikes)
    _, lifs, _ = build(plan, spikes, lava)
    monitors = {}
    for name in plan["outputs"]:
        monitors[name] = lava["Monitor"]()
        monitors[name].probe(lifs[name].s_out, steps)
    cfg = lava["Loihi2HwCfg"]() if hardware else lava["Loihi2SimCfg"](select_tag="fixed_pt")
    anchor = next(iter(lifs.values()))
    try:
        anchor.run(condition=lava["RunSteps"](num_steps=steps), run_cfg=cfg)
        return {n: np.asarray(m.get_data()[lifs[n].name]["s_out"]).astype(np.uint8) for n, m in monitors.items()}
    finally:
        anchor.stop()


def run_bundle_command(argv=None):
    ap = argparse.ArgumentParser(description="Run a neurolearn plan with Lava (on Loihi, or --cpu).")
    ap.add_argument("bundle", help="directory holding plan.json")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--input", help=".npy of shape (steps, n_in), values 0/1 (default: no input spikes)")
    ap.add_argument("--cpu", action="store_true", help="Lava's CPU fixed_pt models instead of the chip")
    ap.add_argument("-o", "--output", default="loihi_output.npz")
    args = ap.parse_args(argv)
    with open(os.path.join(args.bundle, "plan.json")) as f:
        plan = json.load(f)
    others = [layer["name"] for layer in plan["layers"] if not lava_lif(layer)]
    if others:
        print(f"error: layers {', '.join(others)} need neurolearn's NIRNeuron process (a reset other than to zero, "
              "a readout or dv 4096), which Lava's LIF cannot run; run the build with neurolearn", file=sys.stderr)
        return 2
    n_in = plan["input"]["size"]
    spikes = np.load(args.input) if args.input else np.zeros((args.steps, n_in), np.uint8)
    if spikes.ndim != 2 or spikes.shape[1] != n_in:
        print(f"error: {args.input}: shape {spikes.shape}, expected (steps, {n_in})", file=sys.stderr)
        return 2
    try:
        lava = import_lava()
    except ImportError as exc:
        print(f"error: Lava (lava-nc 0.10.0) is needed: {exc}", file=sys.stderr)
        return 3
    if not args.cpu:
        from lava.utils.loihi import is_installed

        if not is_installed():
            print("error: Intel's Loihi runtime (lava-loihi) is not installed here; nothing ran. "
                  "Use --cpu to run Lava's CPU models instead.", file=sys.stderr)
            return 3
    out = run(plan, spikes[:args.steps], hardware=not args.cpu, lava=lava)
    np.savez(args.output, **{f"{k}/spikes": v for k, v in out.items()})
    print(f"ran {args.steps} steps on {'CPU' if args.cpu else 'Loihi'}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_bundle_command())
