"""Build and run a neurolearn ``plan.json`` with Lava: numpy and Lava (and scipy, Lava's own) only, no neurolearn.

neurolearn's Lava backend builds its graphs with :func:`build`, and ``neurolearn deploy`` copies this
file verbatim into deployment bundles as ``run_on_loihi.py``, so a machine with Intel's Loihi runtime
runs exactly the graph neurolearn verified on CPU::

    python run_on_loihi.py BUNDLE --steps 100 [--input SPIKES.npy] [--cpu] [-o OUT.npz]

``--cpu`` runs Lava's bit-accurate CPU models (``Loihi2SimCfg(select_tag="fixed_pt")``) instead of the
chip (``Loihi2HwCfg``), e.g. to compare with ``neurolearn simulate BUNDLE --backend fixed``.
Timing: the input ``RingBuffer`` sends column ``t - 1`` at step ``t``; each Dense delivers one step later.
Layers are flat; a convolution's source and target are (channels, height, width) maps in C order, which Lava's
``Conv`` reads and writes as (width, height, channels): the graph transposes through Lava's virtual ports.
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
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import DelaySparse, Sparse

    return dict(RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg, Loihi2HwCfg=Loihi2HwCfg, Dense=Dense,
                RingBuffer=RingBuffer, LIF=LIF, Monitor=Monitor, Conv=Conv, DelayDense=DelayDense, Sparse=Sparse,
                DelaySparse=DelaySparse)


def lava_lif(layer):
    """Does Lava's own LIF run this layer dict (reset to zero at once, spiking, one du, dv, vth, dv <= 4095), or
    does it need neurolearn's NIRNeuron process?"""
    return (layer.get("reset", "zero") == "zero" and not layer.get("reset_delay", False)
            and layer.get("spiking", True) and not np.any(layer.get("v_reset") or 0)
            and not any(np.ndim(layer[k]) for k in ("du", "dv", "vth")) and layer["dv"] <= 4095)


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
            bias_exp=np.asarray(layer["bias_exp"], dtype=np.int32),
            v=np.asarray(0 if layer.get("v_init") is None else layer["v_init"], dtype=np.int32), name=layer["name"])
    return source, {layer["name"]: lifs[layer["name"]] for layer in layers}


def build(plan, spikes, lava, made=None):
    """Lava processes for ``plan`` (the dict of plan.json) fed by ``spikes`` (steps, n_in) of 0/1; ``made``:
    neuron processes built by the caller (by layer name), used as they are.

    Returns (source RingBuffer, {layer: LIF}, {connection: Dense}); every integer as in the plan.
    """
    source, lifs = build_neurons(plan["layers"], spikes, lava, made)
    denses = {}
    for c in plan["connections"]:
        proc, connect_in, a_out = build_connection(c, lava)
        connect_in((source if c["source"] == plan["input"]["name"] else lifs[c["source"]]).s_out)
        a_out.connect(lifs[c["target"]].a_in)
        denses[c["name"]] = proc
    return source, lifs, denses


def beyond_stock_lava(plan):
    """Why this script cannot build ``plan`` (burst layers, apical or burst connections, input ranges, a
    teacher, learning: neurolearn's own processes), or None."""
    others = [layer["name"] for layer in plan["layers"] if not lava_lif(layer)]
    uses = [what for what, used in (
        ("burst layers", any(layer.get("burst") for layer in plan["layers"])),
        ("apical or burst connections", any(c.get("port", "soma") != "soma" or c.get("carries", "events") != "events"
                                            for c in plan["connections"])),
        ("input ranges", any(c.get("input_range") for c in plan["connections"])),
        ("a teacher", bool(plan.get("teacher"))), ("learning", bool(plan.get("learning"))),
        (f"layers {', '.join(others)} that need neurolearn's NIRNeuron process (a reset other than to zero at once, "
         "a readout, dv 4096 or a du, dv, vth per neuron)", bool(others)))
        if used]
    return None if not uses else ", ".join(uses)


def build_connection(c, lava):
    """The Lava process of connection ``c`` (a dict of plan.json): Dense, DelayDense, Sparse, DelaySparse or
    Conv. Returns (process, a function connecting a flat source port to its s_in, its a_out as a flat port)."""
    weights = np.asarray(c["weights"], dtype=np.int32)
    common = dict(weight_exp=c["weight_exp"], num_weight_bits=c["num_weight_bits"], name=c["name"])
    delays = None if c.get("delays") is None else np.asarray(c["delays"], dtype=np.int64)
    if c.get("conv"):
        g = c["conv"]
        (ch, h, w), xy = g["in_shape"], (lambda pair: (int(pair[1]), int(pair[0])))   # Lava: (x, y) = (w, h)
        # Lava convolves (flips the kernel) where torch cross-correlates; its kernel is (C_out, kW, kH, C_in/g)
        kernel = np.ascontiguousarray(np.flip(weights, (2, 3)).transpose(0, 3, 2, 1))
        proc = lava["Conv"](weight=kernel, input_shape=(w, h, ch), padding=xy(g["padding"]), stride=xy(g["stride"]),
                            dilation=xy(g["dilation"]), groups=int(g["groups"]), name=c["name"])
        n_out = int(np.prod(proc.output_shape))
        return (proc, lambda port: port.reshape((ch, h, w)).transpose((2, 1, 0)).connect(proc.s_in),
                proc.a_out.transpose((2, 1, 0)).reshape((n_out,)))
    if c.get("sparse"):
        from scipy.sparse import csr_matrix

        sp = c["sparse"]
        at, shape = (np.asarray(sp["rows"], dtype=np.int64), np.asarray(sp["cols"], dtype=np.int64)), sp["shape"]
        mat = csr_matrix((weights, at), shape=tuple(shape))
        proc = (lava["Sparse"](weights=mat, **common) if delays is None else
                lava["DelaySparse"](weights=mat, delays=csr_matrix((delays, at), shape=tuple(shape)), **common))
    elif delays is not None:
        proc = lava["DelayDense"](weights=weights, delays=delays, **common)
    else:
        proc = lava["Dense"](weights=weights, **common)
    return proc, lambda port: port.connect(proc.s_in), proc.a_out


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
    beyond = beyond_stock_lava(plan)
    if beyond:
        print(f"error: {args.bundle}: plan.json uses {beyond}; "
              "this script builds Lava's LIF, Dense, Sparse, Conv and delays only "
              "(neurolearn runs the rest: 'neurolearn simulate BUILD --backend lava')", file=sys.stderr)
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
