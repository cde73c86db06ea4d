"""Network (float) -> Plan (Lava's integers), explaining every conversion.

Per population one scale ``s`` (integer units per float unit, before Lava's ``<< 6``) is shared
by its threshold, its bias and all its incoming weights, because they all add into the same u and v:

    weights  w * 2**weight_exp ~= W * s      (|w| <= 255, even if mixed sign: Lava drops the LSB)
    vth      vth               ~= theta * s  (v spikes when v > vth << 6)
    bias     bias_mant << bias_exp ~= b * s * 64
    du       (du + 1) / 4096   ~= 1 - alpha  (Lava adds 1 to du);  dv / 4096 ~= 1 - beta

``s`` first makes the largest weight use the full 8-bit mantissa, then is raised by powers of two
(through ``weight_exp``) until the threshold has at least ``VTH_TARGET`` steps of resolution.
Nothing is clipped silently: what cannot be represented raises QuantizationError naming it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurolearn.errors import QuantizationError, where
from neurolearn.ir import plan as P
from neurolearn.ir.network import Network, Population

VTH_TARGET = 2**10  # aim for >= 1024 threshold steps: 0.1 % resolution
NONSPIKING_VTH = P.VTH_RANGE[1]


@dataclass(frozen=True)
class Conversion:
    """One parameter's float -> integer conversion, for the report."""

    node: str
    param: str
    value: float          # float value (largest magnitude for arrays)
    integer: str          # integer(s) given to Lava
    represents: float     # what the integer means, back in float units
    scale: float          # integer units per float unit

    @property
    def error(self) -> float:
        return abs(self.represents - self.value)

    @property
    def rel_error(self) -> float:
        return self.error / abs(self.value) if self.value else (0.0 if not self.error else math.inf)


@dataclass(frozen=True)
class QuantizationResult:
    plan: P.Plan
    conversions: tuple[Conversion, ...]
    notes: tuple[str, ...]   # approximations and headroom warnings, one line each


def _decays(pop: Population, file):
    if pop.alpha == 0.0:
        du = P.DU_RANGE[1]
    else:
        du = round(4096 * (1.0 - pop.alpha)) - 1
        if du < P.DU_RANGE[0]:
            raise QuantizationError(
                f"{where(file, pop.name, 'alpha')} = {pop.alpha!r}: current decay 1-alpha = {1 - pop.alpha:.3g} "
                f"is below Lava's resolution 1/4096 (du + 1 >= 1); allowed alpha <= {1 - 0.5 / 4096:.6f}")
    dv = round(4096 * (1.0 - pop.beta))
    return du, dv


def _scale(pop: Population, weights: list[np.ndarray], file) -> tuple[float, list[int]]:
    """The population's scale s and each incoming connection's weight_exp."""
    limits = [254 if (w.min() < 0 < w.max()) else 255 for w in weights]
    peaks = [float(np.abs(w).max()) for w in weights]
    s0 = min((lim / pk for lim, pk in zip(limits, peaks) if pk > 0), default=None)
    theta = pop.threshold
    if s0 is None:  # no weights at all: only the threshold and bias matter
        s0 = VTH_TARGET / theta if theta else 1.0
    k = 0
    if theta:
        k = max(0, math.ceil(math.log2(VTH_TARGET / (theta * s0)))) if theta * s0 < VTH_TARGET else 0
        k = min(k, P.WEIGHT_EXP_RANGE[1])
        if theta * s0 * 2**k > P.VTH_RANGE[1]:
            s0 = P.VTH_RANGE[1] / (theta * 2**k)
    s = s0 * 2**k
    exps = []
    for lim, pk, w in zip(limits, peaks, weights):
        e = max(0, math.ceil(math.log2(pk * s / lim) - 1e-9))  # tolerance: pk * s == lim exactly
        if e > P.WEIGHT_EXP_RANGE[1]:
            raise QuantizationError(
                f"{where(file, pop.name, 'weight')}: peak {pk:g} needs weight_exp {e} at scale {s:g}; "
                f"allowed weight_exp {P.WEIGHT_EXP_RANGE}")
        exps.append(e)
    return s, exps


def _weights_int(w: np.ndarray, s: float, e: int) -> np.ndarray:
    x = w * s / 2**e
    if w.min() < 0 < w.max():  # mixed sign: Lava keeps only even values
        return (2 * np.round(x / 2)).astype(np.int64)
    return np.round(x).astype(np.int64)


def _bias_int(b: np.ndarray, scale: float, name: str, file):
    """bias_mant, bias_exp per neuron with bias_mant << bias_exp ~= b * scale."""
    target = b * scale
    mant = np.zeros(b.size, np.int64)
    exp = np.zeros(b.size, np.int64)
    lo, hi = P.BIAS_MANT_RANGE
    for i, t in enumerate(target):
        for e in range(P.BIAS_EXP_RANGE[0], P.BIAS_EXP_RANGE[1] + 1):
            m = round(t / 2**e)
            if lo <= m <= hi:
                mant[i], exp[i] = m, e
                break
        else:
            limit = hi * 2 ** P.BIAS_EXP_RANGE[1] / scale
            raise QuantizationError(
                f"{where(file, name, 'bias')}[{i}] = {b[i]:g}: exceeds the largest representable bias "
                f"+-{limit:g} (bias_mant {P.BIAS_MANT_RANGE} << bias_exp {P.BIAS_EXP_RANGE}) at this layer's scale")
    return mant, exp


def quantize(net: Network, file: str | None = None) -> QuantizationResult:
    """Convert a float network into a Lava plan, with a conversion record per parameter."""
    layers, conns, convs, notes = [], [], [], []
    for pop in net.populations:
        bias = pop.bias + pop.input_bias / (1.0 - pop.alpha)
        if pop.alpha > 0 and np.any(pop.input_bias):
            notes.append(f"{pop.name}: the Affine bias enters the synaptic current, but Lava adds bias to v: "
                         "converted to its steady-state voltage contribution input_bias/(1-alpha); "
                         "transients after reset differ")
        incoming = net.incoming(pop.name)
        s, exps = _scale(pop, [pr.weight for pr in incoming], file)
        scale = 64.0 * s
        du, dv = _decays(pop, file)
        for param, val, integer, rep in (
            ("alpha", pop.alpha, du, 0.0 if du == 4095 else 1 - (du + 1) / 4096),
            ("beta", pop.beta, dv, 1 - dv / 4096),
        ):
            convs.append(Conversion(pop.name, param, val, f"{'du' if param == 'alpha' else 'dv'}={integer}",
                                    rep, 4096.0))
        if pop.beta < 1.0 and dv == 0:
            notes.append(f"{pop.name}: beta = {pop.beta!r} rounds to dv = 0: the membrane no longer leaks")
        if pop.threshold is not None:
            if pop.threshold <= 0:
                raise QuantizationError(f"{where(file, pop.name, 'threshold')} = {pop.threshold!r}; "
                                        "Lava's vth is unsigned: allowed > 0")
            vth = int(round(pop.threshold * s))
            convs.append(Conversion(pop.name, "threshold", pop.threshold, f"vth={vth}", vth / s, s))
        else:
            vth = NONSPIKING_VTH
            notes.append(f"{pop.name}: non-spiking ({pop.kind}): a readout (neurolearn's NIRNeuron, reset mode "
                         "'none'): never spikes, its voltage is the output")
        mant, bexp = _bias_int(bias, scale, pop.name, file)
        v_reset = np.round(pop.v_reset * scale).astype(np.int64)
        if np.any(pop.v_reset):
            i = int(np.argmax(np.abs(pop.v_reset)))
            convs.append(Conversion(pop.name, "v_reset", float(pop.v_reset[i]), f"{int(v_reset[i])}",
                                    float(v_reset[i] / scale), scale))
        if np.any(bias):
            i = int(np.argmax(np.abs(bias)))
            rep = (mant << bexp) / scale
            worst = int(np.argmax(np.abs(rep - bias)))
            convs.append(Conversion(pop.name, "bias", float(bias[i]),
                                    f"{int(mant[i])}<<{int(bexp[i])}", float(rep[i]), scale))
            if worst != i:
                convs.append(Conversion(pop.name, f"bias[{worst}] (worst)", float(bias[worst]),
                                        f"{int(mant[worst])}<<{int(bexp[worst])}", float(rep[worst]), scale))
        layers.append(P.LayerPlan(name=pop.name, size=pop.size, du=du, dv=dv, vth=vth, bias_mant=mant,
                                  bias_exp=bexp, scale=scale, spiking=pop.spiking, reset=pop.reset,
                                  reset_delay=pop.reset_delay, v_reset=v_reset))
        for pr, e in zip(incoming, exps):
            w = _weights_int(pr.weight, s, e)
            rep = w * 2.0**e / s
            i = np.unravel_index(int(np.argmax(np.abs(rep - pr.weight))), w.shape)
            convs.append(Conversion(pr.name, f"weight{list(i)} (worst)", float(pr.weight[i]),
                                    f"{int(w[i])}*2^{e}", float(rep[i]), s))
            conns.append(P.ConnectionPlan(name=pr.name, source=pr.source, target=pr.target, weights=w,
                                          weight_exp=e, recurrent=pr.recurrent))
            worst_in = int(np.abs(w).sum(axis=1).max()) << (e + 6)
            if worst_in >= 2**31:
                notes.append(f"{pr.name}: if every source spiked at once the input (a_in << 6) would reach "
                             f"{worst_in}, beyond int32: Lava's arithmetic would wrap")
        peak_in = sum(int(np.abs(_weights_int(pr.weight, s, e)).sum(axis=1).max()) << (e + 6)
                      for pr, e in zip(incoming, exps))
        u_peak = peak_in / max(1e-12, (du + 1) / 4096 if du < 4095 else 1.0)
        if u_peak >= 2**23:
            notes.append(f"{pop.name}: worst-case current {u_peak:.3g} exceeds the 24-bit range 2^23: "
                         "u would wrap if all inputs spiked together for long")
    plan = P.Plan(dt=net.dt, input_name=net.input_name, input_size=net.input_size, layers=tuple(layers),
                  connections=tuple(conns), outputs=net.outputs, source=str(file or ""))
    return QuantizationResult(plan=plan, conversions=tuple(convs), notes=tuple(notes))
