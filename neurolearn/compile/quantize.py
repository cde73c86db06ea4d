"""Network (float) -> Plan (Lava's integers), explaining every conversion.

**Groups.** Lava's LIF shares its decays ``du``, ``dv`` across a process: the neurons of a population are
grouped by their integer decays, one layer (process) per group, named ``NODE#k`` when a node needs more
than one (``LayerPlan.node``, ``LayerPlan.neurons`` map them back). Every dense projection becomes one Dense
per (source group, target group); a node a convolution or sparse connection touches is not split: where its
decays differ it is one neurolearn NIRNeuron with a ``du``, ``dv`` per neuron.

**Scales.** Within a layer each neuron ``i`` has its own scale ``s_i`` (integer units of u per float unit, before
Lava's ``<< 6``), shared by its threshold, bias, v_reset and incoming weights because they all add into the
same u and v. The threshold is folded into it: ``s_i = vth / theta_i`` with one integer ``vth`` for the layer,
so per-neuron thresholds are exact (a non-spiking layer uses one scale, ``s = t / peak weight``). Behind a
convolution an output channel shares one scale, set by its largest threshold, and each neuron gets its own
``vth_i = round(theta_i s)`` (NIRNeuron). A biased layer starts from ``v_init`` (:func:`start_voltages`)::

    weights  w * 2**weight_exp ~= W * s_i     (|w| <= 255, even if mixed sign: Lava drops the LSB)
    vth      vth                = theta_i * s_i  (v spikes when v > vth << 6)
    bias     bias_mant << bias_exp ~= b * s_i * 64;  v_reset ~= v_reset * s_i * 64
    du       (du + 1) / 4096   ~= 1 - alpha    (Lava adds 1 to du);  dv / 4096 ~= 1 - beta

**Search.** ``vth`` (``t``) is chosen jointly with every ``weight_exp`` and ``bias_exp``: the largest ``t`` up to
``VTH_TARGET * 2 - 1`` (headroom: v spans +-2**23, i.e. 64 thresholds there; higher only where the weights are
so small that the largest needs it to fill 8 bits at weight_exp 0) at which weights, biases and v_reset all fit,
then the candidates within three octaves below it where a weight or bias exponent is about to grow (a full 8-bit
weight mantissa, a full 13-bit bias mantissa); each candidate's error is its coarsest quantization step (one
integer of any parameter, in units of the neuron's threshold: per spike for weights, per step for biases); the
finest wins, and among those within 1 % of it the largest vth. Where something must still give (a bias of
thousands of thresholds per step), it saturates and is listed. Nothing is clipped silently.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from neurolearn.compile.connections import peak_fan_in
from neurolearn.dynamics.lif import lif_start_voltage
from neurolearn.errors import QuantizationError, shown, where
from neurolearn.ir import plan as P
from neurolearn.ir.network import Network, Population

VTH_TARGET = 2**10  # aim for >= 1024 threshold steps: 0.1 % resolution
VTH_HEADROOM = 2 * VTH_TARGET - 1   # at most: v keeps 64 thresholds of range
READOUT_T = 255     # a readout's scale puts its largest weight at 255 (8 bits, weight_exp 0)
NONSPIKING_VTH = P.VTH_RANGE[1]
BIAS_MAX = P.BIAS_MANT_RANGE[1] << P.BIAS_EXP_RANGE[1]   # largest |bias| Lava adds per step (v units)
ONE = 2**12          # decays are fractions of 4096


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
    folds: tuple[str, ...] = ()   # what was grouped or folded and why, one line each


@dataclass(frozen=True)
class LayerIntegers:
    """The integers chosen for one layer (group) at threshold mantissa ``t``, and their worst error."""

    t: float                     # the threshold mantissa vth (spiking layers: an integer)
    scale: np.ndarray            # (n,) s_i, integer units of u (a_in) per float unit
    weights: tuple               # per incoming block: (w int array, weight_exp)
    bias: tuple                  # (mant, exp) per neuron
    v_reset: np.ndarray          # (n,) int
    error: float                 # the coarsest quantization step, in thresholds (per spike or per step)
    worst: str                   # which parameter has it
    saturated: tuple[str, ...]   # parameters that could not fit and saturated


def decays(pop: Population, file=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron du, dv: ``du = round(4096 (1 - alpha)) - 1`` (4095 where alpha = 0), ``dv = round(4096 (1 -
    beta))`` (4096: v keeps nothing, beta = 0 rounds there)."""
    du = np.where(pop.alpha == 0.0, P.DU_RANGE[1], np.round(ONE * (1.0 - pop.alpha)) - 1).astype(np.int64)
    if np.any(du < P.DU_RANGE[0]):
        i = int(np.argmax(du < P.DU_RANGE[0]))
        raise QuantizationError(
            f"{where(file, pop.name, 'alpha')}[{i}] = {shown(pop.alpha[i])}: "
            f"current decay 1-alpha = {1 - pop.alpha[i]:.3g} "
            f"is below Lava's resolution 1/4096 (du + 1 >= 1); allowed alpha <= {1 - 0.5 / ONE:.6f}")
    return du, np.round(ONE * (1.0 - pop.beta)).astype(np.int64)


def groups(pop: Population, file=None) -> list[np.ndarray]:
    """The population's neurons grouped by integer decays (du, dv), groups in order of their first neuron."""
    du, dv = decays(pop, file)
    keys = du * (ONE + 1) + dv
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return [np.flatnonzero(inverse == k) for k in np.argsort(first)]


def _weights_int(m: np.ndarray, e: int, mixed: bool) -> np.ndarray:
    """``m / 2**e`` rounded; to even integers where the matrix has mixed signs (Lava drops their LSB)."""
    x = m / 2.0**e
    return (2 * np.round(x / 2)).astype(np.int64) if mixed else np.round(x).astype(np.int64)


def _limits(t_max: float, g: np.ndarray, blocks, bias, v_reset) -> tuple[float, str]:
    """The largest t at which everything fits (and what sets it), not above ``t_max``."""
    t, why = t_max, "headroom"
    for k, (w, mixed) in enumerate(blocks):
        peak = float(np.max(np.abs(w) * g[:, None], initial=0.0))
        if peak > 0 and (254 if mixed else 255) * 2**P.WEIGHT_EXP_RANGE[1] / peak < t:
            t, why = (254 if mixed else 255) * 2**P.WEIGHT_EXP_RANGE[1] / peak, f"weights (connection {k})"
    for values, limit, label in ((bias, BIAS_MAX - 64, "bias"), (v_reset, P.STATE_RANGE[1] - 64, "v_reset")):
        peak = float(np.max(np.abs(values) * g, initial=0.0)) * 64
        if peak > 0 and limit / peak < t:
            t, why = limit / peak, label
    return t, why


def _at(t: float, g: np.ndarray, blocks, bias, v_reset) -> LayerIntegers:
    """Every integer of the layer at threshold mantissa ``t`` (scale s_i = t g_i) and its coarsest quantization
    step, in thresholds."""
    s = t * g
    steps, weights, saturated = [(0.0, "threshold")], [], []
    for k, (w, mixed) in enumerate(blocks):
        lim = 254 if mixed else 255
        m = w * s[:, None]
        peak = float(np.max(np.abs(m), initial=0.0))
        e = max(0, math.ceil(math.log2(peak / lim) - 1e-9)) if peak > 0 else 0
        if e > P.WEIGHT_EXP_RANGE[1]:
            e = P.WEIGHT_EXP_RANGE[1]
            saturated.append(f"weights of connection {k}")
        weights.append((np.clip(_weights_int(m, e, mixed), -256 if mixed else -255, lim), e))
        if peak > 0:
            steps.append(((1 + mixed) * 2.0**e / t, f"weight (connection {k})"))
    mant, bexp, sat = P.bias_mantissa_exponent(bias * s * 64)
    if np.any(sat):
        saturated.append(f"bias of neurons {np.flatnonzero(sat).tolist()[:5]}")
    if np.any(bias):
        steps.append((2.0 ** float(bexp[bias != 0].max()) / (64 * t), "bias (per step)"))
    vr = np.round(v_reset * s * 64)
    if np.any(np.abs(vr) > P.STATE_RANGE[1]):
        saturated.append("v_reset")
    vr = np.clip(vr, -P.STATE_RANGE[1], P.STATE_RANGE[1]).astype(np.int64)
    if np.any(v_reset):
        steps.append((1.0 / (64 * t), "v_reset"))
    step, worst = max(steps)
    return LayerIntegers(t, s, tuple(weights), (mant, bexp), vr, step, worst, tuple(saturated))


def choose_integers(theta: np.ndarray | None, blocks, bias: np.ndarray, v_reset: np.ndarray,
                    exp_zero: bool = False) -> tuple[LayerIntegers, str]:
    """The layer's integers with the finest resolution (see the module docstring) and what limited ``t``.

    ``theta``: per-neuron thresholds (None: non-spiking); ``blocks``: the incoming weights (n, n_src), or for a
    convolution or sparse matrix each target's largest and smallest weight (n, 2), with whether each is
    mixed-sign; ``bias``, ``v_reset``: per neuron, float units. ``exp_zero``: every weight at weight_exp 0 (a Lava
    Conv among the incoming connections applies no exponent), so t stops where the largest weight fills
    8 bits."""
    n = bias.size
    if theta is None:   # a readout: one scale, its largest weight at 255
        ref = max((float(np.max(np.abs(w), initial=0.0)) for w, _ in blocks), default=0.0)
        ref = ref or float(np.max(np.abs(bias), initial=0.0)) or 1.0
        g, t_max = np.full(n, 1.0 / ref), float(READOUT_T)
    else:   # vth up to the headroom limit, or higher until the largest weight fills 8 bits at weight_exp 0
        g = 1.0 / theta
        full = min((((254 if mixed else 255) / float(np.max(np.abs(w) * g[:, None]))) for w, mixed in blocks
                    if np.any(w)), default=0.0)
        t_max = float(min(max(VTH_HEADROOM, math.floor(full)), P.VTH_RANGE[1]))
        if exp_zero and full:
            t_max = float(min(t_max, max(1, math.floor(full))))
    t_fit, why = _limits(t_max, g, blocks, bias, v_reset)
    whole = theta is not None   # a spiking layer's t is its vth: an integer >= 1
    top = max(1, math.floor(t_fit)) if whole else t_fit
    # where a step can be finest: the top, and just below where a weight or bias exponent would grow
    points = [(254 if mixed else 255) / float(np.max(np.abs(w) * g[:, None], initial=0.0)) for w, mixed in blocks
              if np.any(w)]
    if np.any(bias):
        points.append((P.BIAS_MANT_RANGE[1] + 0.5) / (64 * float(np.max(np.abs(bias) * g))))
    cands = {top}
    for point in points:
        for e in range(P.BIAS_EXP_RANGE[1] + 1):
            t = math.floor(point * 2**e) if whole else point * 2**e
            if top / 8 < t <= top:
                cands.add(t)
    tried = [_at(t, g, blocks, bias, v_reset) for t in sorted(cands)]
    finest = min(c.error for c in tried)
    return max((c for c in tried if c.error <= finest * 1.01), key=lambda c: c.t), why


def _incoming_blocks(net: Network, pop: Population, idx: np.ndarray, members: dict):
    """The incoming weight blocks of the group ``idx`` of ``pop``: one per (projection, source group)."""
    out = []
    for pr in net.incoming(pop.name):
        if pr.conv is not None or pr.sparse is not None:   # one group at each end (never split)
            out.append((pr, members.get(pr.source, [(pr.source, None)])[0][0], pr.weight, pr.delays))
            continue
        for src_layer, src_idx in members.get(pr.source, [(pr.source, None)]):
            rows = idx if src_idx is None else np.ix_(idx, src_idx)
            out.append((pr, src_layer, pr.weight[rows], None if pr.delays is None else pr.delays[rows]))
    return out


def _weight_scales(pr, s: np.ndarray) -> np.ndarray:
    """Each weight's scale, laid out as ``pr``'s weights: its target neuron's s_i (a convolution's kernel is shared
    by the neurons of an output channel, which share one scale: :func:`_scaled_thresholds`)."""
    if pr.conv is not None:
        return s.reshape(pr.conv.out_channels, -1)[:, 0].reshape(-1, 1, 1, 1)
    if pr.sparse is not None:
        return s[pr.sparse.rows]
    return s[:, None]


def _per_target(pr, w: np.ndarray, n: int) -> np.ndarray:
    """(n, 2): each target neuron's largest and smallest incoming weight (the search needs only those for a
    convolution or a sparse matrix, whose weights are not a dense matrix)."""
    if pr.conv is not None:
        flat = w.reshape(w.shape[0], -1)
        return np.repeat(np.stack([flat.max(1), flat.min(1)], 1), n // w.shape[0], axis=0)
    hi, lo = np.zeros(n), np.zeros(n)
    np.maximum.at(hi, pr.sparse.rows, w)
    np.minimum.at(lo, pr.sparse.rows, w)
    return np.stack([hi, lo], 1)


def _layer_names(pop: Population, parts: list[np.ndarray]) -> list[str]:
    return [pop.name] if len(parts) == 1 else [f"{pop.name}#{k}" for k in range(len(parts))]


def quantize(net: Network, file: str | None = None) -> QuantizationResult:
    """Convert a float network into a Lava plan, with a conversion record per parameter."""
    layers, conns, convs, notes, folds = [], [], [], [], []
    members = {}   # population -> [(layer name, neuron indices)]
    for pop in net.populations:
        parts = groups(pop, file)
        members[pop.name] = list(zip(_layer_names(pop, parts), parts))
        structured = [pr.name for pr in net.projections if pop.name in (pr.source, pr.target)
                      and (pr.conv is not None or pr.sparse is not None)]
        if len(parts) > 1 and structured:   # a shared kernel or a sparse layout spans the node: one process
            folds.append(f"{pop.name}: {len(parts)} different decays (du, dv) in a node that '{structured[0]}' (a "
                         "convolution or sparse connection) reads or feeds: one neurolearn NIRNeuron process with "
                         "per-neuron du, dv (Lava's LIF shares one of each)")
            parts = [np.sort(np.concatenate(parts))]
            members[pop.name] = [(pop.name, parts[0])]
        if len(parts) > 1:
            du, dv = decays(pop, file)
            folds.append(f"{pop.name}: {len(parts)} different decays (du, dv): one Lava process each, "
                         + ", ".join(f"`{name}` {idx.size} neurons (du {du[idx[0]]}, dv {dv[idx[0]]})"
                                     for name, idx in members[pop.name]))
        conv_in = [pr for pr in net.incoming(pop.name) if pr.conv is not None]
        if pop.spiking and conv_in and np.ptp(_scaled_thresholds(pop.threshold, conv_in) - pop.threshold) > 0:
            folds.append(f"{pop.name}: thresholds differ within an output channel of '{conv_in[0].name}', whose "
                         "neurons share its kernel and so one scale: one neurolearn NIRNeuron process with a vth per "
                         "neuron (the channel's largest threshold sets the scale; report: threshold (worst))")
        elif pop.spiking and np.ptp(pop.threshold) > 0:
            folds.append(f"{pop.name}: thresholds differ across neurons ({pop.threshold.min():g} .. "
                         f"{pop.threshold.max():g}): folded into per-neuron scales vth / threshold (each neuron's "
                         "weights, bias and v_reset scaled alike): exact")
        if pop.spiking and np.any(pop.threshold <= 0):
            i = int(np.argmax(pop.threshold <= 0))
            raise QuantizationError(f"{where(file, pop.name, 'threshold')}[{i}] = {shown(pop.threshold[i])}; "
                                    "Lava's vth is unsigned: allowed > 0")
        if np.any((pop.alpha > 0) & (pop.input_bias != 0)):
            notes.append(f"{pop.name}: the Affine bias enters the synaptic current, but Lava adds bias to v: "
                         "converted to its steady-state voltage contribution input_bias/(1-alpha); "
                         "transients after reset differ")
    for pop in net.populations:   # every node's groups known first: a back edge may come from a later, split node
        for name, idx in members[pop.name]:
            layer, cs = _quantize_group(net, pop, name, idx, members, file, convs, notes)
            layers.append(layer)
            conns += cs
    plan = P.Plan(dt=net.dt, input_name=net.input_name, input_size=net.input_size, layers=tuple(layers),
                  connections=tuple(conns), outputs=tuple(name for o in net.outputs for name, _ in members[o]),
                  source=str(file or ""))
    plan = _with_start_voltages(plan, folds, notes)
    return QuantizationResult(plan=plan, conversions=tuple(convs), notes=tuple(notes), folds=tuple(folds))


def start_voltages(plan: P.Plan) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """For each biased layer: (steps before its first input, v_init, exact per neuron)
    (:func:`~neurolearn.dynamics.lif.lif_start_voltage`)."""
    depths, out = plan.depths(), {}
    for layer in plan.layers:
        if np.any(layer.bias) and layer.burst is None:
            steps = depths[layer.name]
            out[layer.name] = (steps, *lif_start_voltage(layer.bias, ONE - np.asarray(layer.dv),
                                                         np.asarray(layer.vth) << 6,
                                                         P.RESET_MODES.index(layer.mode), steps))
    return out


def _with_start_voltages(plan: P.Plan, folds: list, notes: list) -> P.Plan:
    """``plan`` with each biased layer's v_init: Lava adds a bias from step 0, the first input arrives after the
    layer's depth; the NIR model's layer starts at rest when its input begins."""
    found = start_voltages(plan)
    for name, (steps, v_init, exact) in found.items():
        if exact.all():
            folds.append(f"{name}: its bias acts from step 0, its first input arrives at step {steps}: it starts at "
                         f"v_init ({int(v_init.min())} .. {int(v_init.max())}), from which those steps of bias end "
                         "exactly at rest: exact")
        else:
            notes.append(f"{name}: {int((~exact).sum())} neuron(s) would spike or saturate during the {steps} "
                         "step(s) of bias before the first input from any start voltage: they start at 0 and "
                         f"run {steps} step(s) of bias ahead of the NIR model")
    return replace(plan, layers=tuple(replace(layer, v_init=found[layer.name][1]) if layer.name in found else layer
                                      for layer in plan.layers))


def _scaled_thresholds(theta: np.ndarray, conv_in) -> np.ndarray:
    """Per neuron the threshold its scale is set by: its own, or where convolutions feed the node, the largest in
    its output channel (the channel's neurons share a kernel, hence one scale; each keeps its own vth)."""
    for pr in conv_in:
        per_channel = theta.reshape(pr.conv.out_channels, -1)
        theta = np.repeat(per_channel.max(1), per_channel.shape[1])
    return theta


def _one_or_each(values: np.ndarray):
    """A Python int if every neuron has the same value (Lava's LIF takes one), else the int64 array."""
    return int(values[0]) if np.ptp(values) == 0 else values.astype(np.int64)


def _quantize_group(net, pop, name, idx, members, file, convs, notes):
    """One layer (the neurons ``idx`` of ``pop``) and its incoming connections."""
    du_each, dv_each = (d[idx] for d in decays(pop, file))
    du, dv = _one_or_each(du_each), _one_or_each(dv_each)
    alpha, beta = pop.alpha[idx], pop.beta[idx]
    bias = pop.bias[idx] + pop.input_bias[idx] / (1.0 - pop.alpha[idx])
    incoming = _incoming_blocks(net, pop, idx, members)
    theta = pop.threshold[idx] if pop.spiking else None
    conv_in = [pr for pr, *_ in incoming if pr.conv is not None]
    theta_scale = _scaled_thresholds(theta, conv_in) if pop.spiking else None
    structured = [pr.conv is not None or pr.sparse is not None for pr, *_ in incoming]
    blocks = [(_per_target(pr, w, idx.size) if kind else w, bool(w.min(initial=0) < 0 < w.max(initial=0)))
              for (pr, _, w, _), kind in zip(incoming, structured)]
    q, why = choose_integers(theta_scale, blocks, bias, pop.v_reset[idx], exp_zero=bool(conv_in))
    vth = NONSPIKING_VTH
    if pop.spiking:   # t where each neuron's threshold sets its scale, else each neuron's own vth (>= 1)
        vth = _one_or_each(np.maximum(1, np.round(theta * q.scale)) if np.any(theta_scale != theta)
                           else np.full(idx.size, q.t))
    scale = 64.0 * q.scale
    for param, val, integer, rep in (("alpha", alpha, du_each, np.where(du_each == 4095, 0.0, 1 - (du_each + 1) / ONE)),
                                     ("beta", beta, dv_each, 1 - dv_each / ONE)):
        i = int(np.argmax(np.abs(rep - val)))
        label = param if np.ptp(val) == 0 and np.ptp(integer) == 0 else f"{param}[{i}] (worst)"
        convs.append(Conversion(name, label, float(val[i]), f"{'du' if param == 'alpha' else 'dv'}={integer[i]}",
                                float(rep[i]), 4096.0))
    for lost, what in (((0.0 < beta) & (beta < 1.0) & (dv_each == 0), "0: the membrane no longer leaks"),
                       ((0.0 < beta) & (dv_each == P.DV_STATELESS), "4096: v keeps nothing between steps")):
        if np.any(lost):
            i = int(np.argmax(lost))
            notes.append(f"{name}: beta = {float(beta[i])!r}{' (and others)' if lost.sum() > 1 else ''} rounds to "
                         f"dv = {what}")
    if pop.spiking:
        vths = np.broadcast_to(vth, idx.size)
        i = int(np.argmax(np.abs(vths / q.scale - theta)))
        i = i if np.ptp(vths) else int(np.argmax(np.abs(theta)))
        convs.append(Conversion(name, "threshold" if np.ptp(vths) == 0 else f"threshold[{i}] (worst)",
                                float(theta[i]), f"vth={vths[i]}", vths[i] / q.scale[i], float(q.scale[i])))
        if q.t < VTH_TARGET:   # per neuron: the largest vth of each channel is t
            notes.append(f"{name}: vth = {int(q.t)} (< {VTH_TARGET} wanted for 0.1 % threshold resolution): limited "
                         f"by {why}; the coarsest step is {q.error:.3g} thresholds ({q.worst})")
    else:
        notes.append(f"{name}: non-spiking ({pop.kind}): a readout (neurolearn's NIRNeuron, reset mode "
                     "'none'): never spikes, its voltage is the output")
    for what in q.saturated:
        notes.append(f"{name}: SATURATED {what}: it does not fit at any scale (even vth = {np.min(vth)}); Lava is "
                     "given the largest value of its sign")
    mant, bexp = q.bias
    if np.any(bias):
        rep = (mant << bexp) / scale
        for i in dict.fromkeys((int(np.argmax(np.abs(bias))), int(np.argmax(np.abs(rep - bias))))):
            convs.append(Conversion(name, "bias" if i == int(np.argmax(np.abs(bias))) else f"bias[{i}] (worst)",
                                    float(bias[i]), f"{int(mant[i])}<<{int(bexp[i])}", float(rep[i]), float(scale[i])))
    if np.any(pop.v_reset[idx]):
        i = int(np.argmax(np.abs(pop.v_reset[idx])))
        convs.append(Conversion(name, "v_reset", float(pop.v_reset[idx][i]), f"{int(q.v_reset[i])}",
                                float(q.v_reset[i] / scale[i]), float(scale[i])))
    grouped = name != pop.name
    layer = P.LayerPlan(name=name, size=idx.size, du=du, dv=dv, vth=vth, bias_mant=mant, bias_exp=bexp, scale=scale,
                        spiking=pop.spiking, reset=pop.reset, reset_delay=pop.reset_delay, v_reset=q.v_reset,
                        node=pop.name if grouped else "", neurons=idx if grouped else None)
    conns, peak_in = [], 0
    for (pr, src_layer, w, delays), (wi, e), (_, mixed) in zip(incoming, q.weights, blocks):
        cname = pr.name if (src_layer, name) == (pr.source, pr.target) else f"{src_layer}->{name}"
        s_w = _weight_scales(pr, q.scale)
        if pr.conv is not None and e > 0:
            peak = float(np.max(np.abs(w * s_w / q.t)))
            raise QuantizationError(f"{where(file, pr.name, 'weight')}: a kernel weight of {peak:.4g} thresholds of "
                                    f"'{name}'; a Lava Conv applies no weight_exp, so its 8-bit weights hold at most "
                                    "255 steps of a threshold: allowed |weight| <= 255 thresholds (scale the "
                                    "kernel down and the threshold with it)")
        if pr.conv is not None or pr.sparse is not None:   # the search saw each target's extremes: the weights now
            lim = 254 if mixed else 255
            wi = np.clip(_weights_int(w * s_w, e, mixed), -256 if mixed else -255, lim)
        conns.append(P.ConnectionPlan(name=cname, source=src_layer, target=name, weights=wi, weight_exp=e,
                                      recurrent=pr.recurrent, conv=pr.conv, sparse=pr.sparse, delays=delays))
        _weight_record(cname, w, wi, e, np.broadcast_to(s_w, w.shape), convs)
        fan_in = peak_fan_in(pr, wi)
        worst_in = fan_in << (e + 6)
        peak_in += worst_in
        if worst_in >= 2**31:
            notes.append(f"{cname}: if every source spiked at once the input (a_in << 6) would reach "
                         f"{worst_in}, beyond int32: Lava's arithmetic would wrap")
        if pr.conv is not None and fan_in >= 2**23:
            notes.append(f"{cname}: if every source spiked at once a convolution output would reach {fan_in}, "
                         "beyond Lava's Conv's 24 bits: it would wrap")
    keep = np.where(du_each < P.DU_RANGE[1], (du_each + 1) / ONE, 1.0)   # the slowest current decay of the layer
    u_peak = peak_in / max(1e-12, float(keep.min()))
    if u_peak >= 2**23:
        notes.append(f"{name}: worst-case current {u_peak:.3g} exceeds the 24-bit range 2^23: "
                     "u would wrap if all inputs spiked together for long")
    return layer, conns


def _weight_record(cname: str, w: np.ndarray, wi: np.ndarray, e: int, s_w: np.ndarray, convs) -> None:
    """The worst-rounded weight of a connection, for the report (``s_w``: each weight's scale)."""
    if not w.size:
        return
    rep = wi * 2.0**e / s_w
    i = np.unravel_index(int(np.argmax(np.abs(rep - w))), w.shape)
    convs.append(Conversion(cname, f"weight{list(map(int, i))} (worst)", float(w[i]), f"{int(wi[i])}*2^{e}",
                            float(rep[i]), float(s_w[i])))
