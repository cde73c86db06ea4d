"""Write NIR files the way other frameworks' own exporters write them (tests/fixtures/foreign/).

Run it with an interpreter that has one or more of the frameworks installed; it writes the files of every
framework it can import and skips the rest, saying why, and records in OUT/manifest.json which version of
which framework (and of nir, nirtorch) wrote each file and how. Nothing here imports neurolearn: the files
must be exactly what a user of that framework would bring.

    python3.10 -m venv /tmp/foreign && /tmp/foreign/bin/pip install snntorch==1.0.0 norse rockpool
    /tmp/foreign/bin/python tools/make_foreign_nir.py tests/fixtures/foreign
    # Sinabs 3.x (Python >= 3.11; it brings its own nir 1.0.4 and nirtorch 2.0.2):
    python3.12 -m venv /tmp/sinabs && /tmp/sinabs/bin/pip install sinabs
    /tmp/sinabs/bin/python tools/make_foreign_nir.py tests/fixtures/foreign --only sinabs
    # snntorch < 1.0 with its own older nir (scalar parameters, batch dimensions kept):
    python3.10 -m venv /tmp/snn09 && /tmp/snn09/bin/pip install snntorch==0.9.4 nir==1.0.4 nirtorch==1.0
    /tmp/snn09/bin/python tools/make_foreign_nir.py tests/fixtures/foreign
    # Spyx (JAX; 1.0 needs Python >= 3.11):
    python3.12 -m venv /tmp/spyx && /tmp/spyx/bin/pip install spyx
    /tmp/spyx/bin/python tools/make_foreign_nir.py tests/fixtures/foreign

Networks are small (a few to a few dozen neurons) with seeded random weights scaled so that random input
spikes (probability 0.2 per step) make every layer fire; each file is a few kB to tens of kB.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import sys
import traceback
from pathlib import Path

import nir
import numpy as np

GAIN = 3.0  # weights are scaled by this so that random input drives every layer


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _stack(framework: str) -> dict:
    """The versions that matter for a file written by ``framework``."""
    names = [framework, "nir", "nirtorch", "torch"] if framework != "spyx" else ["spyx", "nir", "jax", "flax"]
    out = {n: _version(n) for n in names}
    out["python"] = sys.version.split()[0]
    return {k: v for k, v in out.items() if v}


def _write(path: Path, graph) -> str:
    """nir.write without compression (nir >= 1.0.5 gzips every array by default, which makes each dataset
    a chunked one: the same content in files 2.5x larger; older nir never compresses). Returns the call."""
    if "compression" not in inspect.signature(nir.write).parameters:
        nir.write(path, graph)
        return "nir.write(path, graph)"
    nir.write(path, graph, compression=None)
    return "nir.write(path, graph, compression=None)"


# ---------------------------------------------------------------- torch helpers

def _scaled(module, gain=GAIN):
    """``module`` with its weights multiplied by ``gain`` (in place)."""
    import torch

    with torch.no_grad():
        module.weight.mul_(gain)
    return module


# ---------------------------------------------------------------- snntorch 1.x

def snntorch_files(out: Path) -> dict:
    """snntorch 1.x: ``snntorch.export_nir.export_to_nir(net, sample, ignore_dims=[0])``.

    With nir >= 1.0.6 the exporter's type check refuses scalar parameters (snntorch's default
    ``beta=0.9``) and a batch dimension in the sample, so these models give per-neuron tensors (as a
    trained model with learn_beta/learn_threshold has) and ``ignore_dims=[0]``. The exporter hard-codes
    dt = 1e-4 s into tau and records no dt; the reset mechanism is not written.
    """
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from torch import nn

    torch.manual_seed(0)
    files, failures = {}, {}

    def leaky(shape, lo=0.8, hi=0.95, **kw):
        beta = torch.empty(shape).uniform_(lo, hi)
        threshold = torch.empty(shape).uniform_(0.8, 1.2)
        return snn.Leaky(beta=beta, threshold=threshold, init_hidden=True, **kw)

    how = "snntorch.export_nir.export_to_nir(net, torch.zeros({shape}), ignore_dims=[0])"
    nets = {
        "snntorch1_leaky_mlp.nir": (
            nn.Sequential(_scaled(nn.Linear(6, 10)), leaky(10), _scaled(nn.Linear(10, 4, bias=False)),
                          leaky(4, output=True)), (1, 6),
            "per-neuron beta and threshold (heterogeneous), bias-free Linear, no dt (tau from dt = 1e-4), "
            "snntorch's subtractive reset not recorded"),
        "snntorch1_rleaky.nir": (
            nn.Sequential(_scaled(nn.Linear(6, 10)),
                          snn.RLeaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), linear_features=10,
                                     init_hidden=True),
                          _scaled(nn.Linear(10, 4)), leaky(4, output=True)), (1, 6),
            "RLeaky: recurrent Affine (with bias) around a LIF, named '1.lif'/'1.w_rec'"),
        "snntorch1_synaptic.nir": (
            nn.Sequential(_scaled(nn.Linear(6, 10)),
                          snn.Synaptic(alpha=torch.full((10,), 0.6), beta=torch.full((10,), 0.9),
                                       threshold=torch.ones(10), init_hidden=True),
                          _scaled(nn.Linear(10, 4)), leaky(4, output=True)), (1, 6),
            "Synaptic -> CubaLIF (w_in = tau_syn / dt)"),
        "snntorch1_conv.nir": (
            nn.Sequential(_scaled(nn.Conv2d(1, 4, 3), 2.0), leaky((4, 6, 6)), nn.AvgPool2d(2), nn.Flatten(),
                          _scaled(nn.Linear(36, 4)), leaky(4, output=True)), (1, 1, 8, 8),
            "Conv2d (input_shape left None), per-neuron LIF over (C, H, W), AvgPool2d, Flatten"),
    }
    for name, (net, shape, quirks) in nets.items():
        graph = export_to_nir(net, torch.zeros(shape), ignore_dims=[0])
        files[name] = {"how": how.format(shape=shape) + " ; " + _write(out / name, graph),
                       "quirks": quirks}
    # What a user of snntorch's defaults meets: record the failure, there is no file to write.
    default = nn.Sequential(nn.Linear(6, 10), snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(10, 4),
                            snn.Leaky(beta=0.9, init_hidden=True, output=True))
    for label, kwargs in (("scalar beta, batch dim in the sample", {}),
                          ("scalar beta, ignore_dims=[0]", {"ignore_dims": [0]})):
        try:
            export_to_nir(default, torch.zeros(1, 6), **kwargs)
        except Exception as exc:  # noqa: BLE001 - recording what the exporter raises is the point
            failures[f"snntorch {snn.__version__} export_to_nir, {label}"] = f"{type(exc).__name__}: {exc}"
    return {"files": files, "failures": failures}


def snntorch09_files(out: Path) -> dict:
    """snntorch 0.9.x with nir 1.0.4 / nirtorch 1.0: the defaults export, quirks and all."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from torch import nn

    torch.manual_seed(1)
    net = nn.Sequential(_scaled(nn.Linear(6, 10)), snn.Leaky(beta=0.9, init_hidden=True), _scaled(nn.Linear(10, 8)),
                        snn.Synaptic(alpha=0.5, beta=0.85, init_hidden=True), _scaled(nn.Linear(8, 4)),
                        snn.Leaky(beta=0.8, init_hidden=True, output=True))
    name = "snntorch09_mlp.nir"
    nir.write(out / name, export_to_nir(net, torch.zeros(1, 6)))  # nir 1.0.4 writes without compression
    return {"files": {name: {
        "how": "snntorch.export_nir.export_to_nir(net, torch.zeros(1, 6)) ; nir.write(path, graph)",
        "quirks": "scalar parameters (shape (1,) while the layer has 10 or 8 neurons), batch dimension in "
                  "Input (1, 6) and Output (1, 4), no dt (tau from dt = 1e-4), Leaky and Synaptic"}}}


# ---------------------------------------------------------------- Norse

def norse_files(out: Path) -> dict:
    """Norse: ``norse.torch.to_nir(net, sample, dt=...)``; 0-d (scalar) parameters, batch dims kept."""
    import norse.torch as norse
    import torch
    from torch import nn

    torch.manual_seed(2)
    files = {}
    cases = {
        "norse_lif_mlp.nir": (
            norse.SequentialState(_scaled(nn.Linear(6, 10), 6.0), norse.LIFBoxCell(),
                                  _scaled(nn.Linear(10, 4, bias=False), 6.0), norse.LIFCell()), 1e-3,
            "LIFBoxCell -> LIF, LIFCell -> CubaLIF (r = 1, w_in absent), 0-d parameters, batch dim in "
            "Input/Output, bias-free Linear written as Affine with zero bias; Norse writes tau = dt / tau_inv "
            "(1e-5 s and 5e-6 s for its defaults of 10 ms and 5 ms), so every tau is shorter than dt = 1 ms"),
        "norse_li_readout.nir": (
            norse.SequentialState(_scaled(nn.Linear(6, 10), 6.0), norse.LIFCell(), _scaled(nn.Linear(10, 4), 2.0),
                                  norse.LIBoxCell()), 1e-3,
            "non-spiking LI readout (LIBoxCell) as the output layer"),
    }
    failures = {}
    for name, (net, dt, quirks) in cases.items():
        graph = norse.to_nir(net, torch.zeros(1, 6), dt=dt)
        try:
            nir.write(out / name, graph)
        except TypeError as exc:  # nir >= 1.0.5 gzips arrays, and h5py cannot gzip Norse's 0-d tensors
            failures[f"nir {nir.version} nir.write of a Norse graph (default gzip)"] = f"{type(exc).__name__}: {exc}"
        files[name] = {"how": f"norse.torch.to_nir(net, torch.zeros(1, 6), dt={dt}) ; " + _write(out / name, graph),
                       "quirks": quirks}
    return {"files": files, "failures": failures}


# ---------------------------------------------------------------- Sinabs

def sinabs_files(out: Path) -> dict:
    """Sinabs: ``sinabs.to_nir(net, sample)``; time in steps (tau in steps, no dt), IAF with no r."""
    import sinabs
    import sinabs.layers as sl
    import torch
    from torch import nn

    torch.manual_seed(3)
    cnn = nn.Sequential(_scaled(nn.Conv2d(2, 4, 3, padding=1, bias=False), 2.0), sl.IAFSqueeze(batch_size=1),
                        sl.SumPool2d(2), nn.Flatten(), _scaled(nn.Linear(4 * 4 * 4, 4)), sl.IAFSqueeze(batch_size=1))
    mlp = nn.Sequential(_scaled(nn.Linear(6, 10)), sl.LIFSqueeze(tau_mem=20.0, batch_size=1),
                        _scaled(nn.Linear(10, 4)), sl.ExpLeakSqueeze(tau_mem=10.0, batch_size=1))
    files, failures = {}, {}
    for name, net, shape, quirks in (
        ("sinabs_cnn.nir", cnn, (1, 2, 8, 8),
         "Conv2d without bias (zeros written), IF with v_reset absent, SumPool2d, Flatten; Sinabs' IAF "
         "resets by subtraction, which NIR does not record"),
        ("sinabs_lif_li.nir", mlp, (1, 6),
         "LIF with tau_mem = 20 and LI (ExpLeak) with tau = 10, in steps: the file means dt = 1 (no dt "
         "recorded)"),
    ):
        graph = sinabs.to_nir(net, torch.zeros(shape))
        how = f"sinabs.to_nir(net, torch.zeros({shape})) ; "
        if name == "sinabs_cnn.nir":
            try:
                nir.write(out / name, graph)
            except TypeError as exc:  # Conv2d.input_shape and Flatten.input_type are left None
                failures[f"sinabs {sinabs.__version__} to_nir of a CNN, then nir.write"] = f"{type(exc).__name__}: {exc}"
            graph.infer_types()  # fills them in (on the LIF network it refuses the 0-d tau instead)
            how += "graph.infer_types() ; "
        files[name] = {"how": how + _write(out / name, graph), "quirks": quirks}
    return {"files": files, "failures": failures}


# ---------------------------------------------------------------- Rockpool

def rockpool_files(out: Path) -> dict:
    """Rockpool: ``rockpool.nn.modules.torch.nir.to_nir(net)``; LIFTorch -> CubaLIF, ExpSynTorch -> LI."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import ExpSynTorch, LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    torch.manual_seed(4)
    net = Sequential(LinearTorch((6, 10), has_bias=True), LIFTorch(10, tau_mem=0.02, tau_syn=0.01),
                     LinearTorch((10, 4)), ExpSynTorch(4, tau=0.005))
    with torch.no_grad():
        for lin in (net[0], net[2]):
            lin.weight.mul_(GAIN * 2)
    name, failures = "rockpool_lif.nir", {}
    try:
        nir.write(out / name, to_nir(net, torch.zeros(1, 1, 6)))
    except RuntimeError as exc:  # ExpSynTorch's tau is exported without detach()
        failures[f"rockpool {_version('rockpool')} to_nir with an ExpSynTorch, then nir.write"] = (
            f"{type(exc).__name__}: {exc}")
        for param in torch.nn.Module.parameters(net):  # Rockpool's own parameters() returns a dict
            param.requires_grad_(False)
        call = _write(out / name, to_nir(net, torch.zeros(1, 1, 6)))
    return {"failures": failures, "files": {name: {
        "how": "for p in torch.nn.Module.parameters(net): p.requires_grad_(False) ; "
               "rockpool.nn.modules.torch.nir.to_nir(net, torch.zeros(1, 1, 6)) ; " + call,
        "quirks": "LinearTorch weights transposed, LIFTorch -> CubaLIF with r = tau_mem exp(-dt/tau_mem) / dt "
                  "(dt = 1 ms inside Rockpool, not recorded), ExpSynTorch -> LI readout"}}}


# ---------------------------------------------------------------- Spyx (JAX)

def spyx_files(out: Path) -> dict:
    """Spyx (flax.nnx): ``spyx.nir.to_nir(model, input_type, output_type, dt)``; r = beta, dt = 1 default."""
    import jax.numpy as jnp
    import spyx
    import spyx.nn as snx
    from flax import nnx

    rngs = nnx.Rngs(5)

    def linear(n_in, n_out, gain=GAIN, bias=True):
        lin = nnx.Linear(n_in, n_out, use_bias=bias, rngs=rngs)
        lin.kernel[...] = lin.kernel[...] * gain
        return lin

    mlp = snx.Sequential(linear(6, 10), snx.LIF((10,), beta=0.9, rngs=rngs), linear(10, 8),
                         snx.CuBaLIF((8,), alpha=0.6, beta=0.85, rngs=rngs), linear(8, 4, bias=False),
                         snx.PSU_LIF((4,), beta=0.8, rngs=rngs))
    rec = snx.Sequential(linear(6, 10), snx.RLIF((10,), beta=0.9, rngs=rngs), linear(10, 4),
                         snx.LIF((4,), beta=0.8, rngs=rngs))
    conv = nnx.Conv(2, 4, (3, 3), padding="SAME", rngs=rngs)
    conv.kernel[...] = conv.kernel[...] * 2
    cnn = snx.Sequential(conv, snx.IF((8, 8, 4), rngs=rngs), snx.SumPool((2, 2), (2, 2), "VALID"),
                         snx.Flatten(), linear(64, 4), snx.IF((4,), rngs=rngs))
    files = {}
    for name, model, shape_in, shape_out, quirks in (
        ("spyx_mlp.nir", mlp, (6,), (4,),
         "LIF and CubaLIF with r = beta and tau = dt / (1 - beta) for dt = 1 (steps), PSU_LIF as LI + "
         "Threshold, a Linear without bias"),
        ("spyx_rlif.nir", rec, (6,), (4,),
         "RLIF as a nested NIRGraph whose input enters through the recurrent weights"),
        ("spyx_cnn.nir", cnn, (2, 8, 8), (4,),
         "Conv2d with explicit SAME padding, IF, SumPool2d, Flatten"),
    ):
        graph = spyx.nir.to_nir(model, {"input": np.array(shape_in)}, {"output": np.array(shape_out)}, dt=1)
        files[name] = {"how": f"spyx.nir.to_nir(model, {{'input': {shape_in}}}, {{'output': {shape_out}}}, dt=1) ; "
                              + _write(out / name, graph),
                       "quirks": quirks}
    del jnp
    return {"files": files}


FRAMEWORKS = {
    "snntorch": (lambda v: v is not None and int(v.split(".")[0]) >= 1, snntorch_files),
    "snntorch<1": (lambda v: v is not None and int(v.split(".")[0]) < 1, snntorch09_files),
    "norse": (lambda v: v is not None, norse_files),
    "sinabs": (lambda v: v is not None, sinabs_files),
    "rockpool": (lambda v: v is not None, rockpool_files),
    "spyx": (lambda v: v is not None, spyx_files),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="directory to write the .nir files and manifest.json into")
    ap.add_argument("--only", choices=sorted(FRAMEWORKS), action="append", help="only these frameworks")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"files": {}, "failures": {}}
    status = 0
    for key, (wanted, make) in FRAMEWORKS.items():
        dist = key.split("<")[0]
        if args.only and key not in args.only:
            continue
        if not wanted(_version(dist)):
            print(f"skip {key}: {dist} {_version(dist) or 'not installed'} in {sys.executable}")
            continue
        try:
            importlib.import_module(dist)
            made = make(args.out)
        except Exception:  # noqa: BLE001 - one framework failing must not stop the others
            print(f"FAILED {key}:\n{traceback.format_exc()}", file=sys.stderr)
            status = 1
            continue
        stack = _stack(dist)
        for name, entry in made["files"].items():
            manifest["files"][name] = {"framework": dist, "versions": stack, **entry}
            print(f"wrote {args.out / name} ({(args.out / name).stat().st_size} bytes) with {dist} {stack[dist]}")
        for label, error in made.get("failures", {}).items():
            manifest["failures"][label] = {"versions": stack, "error": error}
            print(f"recorded failure: {label}: {error}")
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
