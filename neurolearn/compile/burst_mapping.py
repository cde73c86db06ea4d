"""Burst networks (the NIR extension's two-compartment layers and rules) -> a learning plan.

Each burst layer becomes a ``BurstLIF`` (:class:`~neurolearn.ir.plan.BurstPlan`), each event
weight W a ``LearningDense`` running its rule's learning-engine program (any registered rule,
:mod:`neurolearn.rules`; a ``Dense`` if it has no rule; recurrent where it goes back to the same or an earlier
layer, as dendritic balance's inhibition onto its error neurons), each feedback Y a ``Dense`` from the upper
layer's bursts into the lower layer's apical dendrite, each balance Z one from its events. A three-factor
program compiles only where its third factors are what BurstLIF sends (burstprop's valence and Pbar): the
plan has no route for third factors from the input (BTSP's plateau) or from a dendrite's voltage.
Optionally a **teacher**: extra input channels (push up, push down; one pair per class population) into the
top layer's dendrites, the instructive signal of supervised burstprop.

Units: one float voltage unit is ``vth << 6`` integer units (a layer's threshold ``threshold`` becomes
``vth * threshold``); a weight w (voltage units per event) becomes ``w * vth / 2**weight_exp``. Every
rounding and approximation is listed in ``notes``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from neurolearn.errors import QuantizationError, RuleError, where
from neurolearn.ir.burst_network import BurstNetwork, BurstParams
from neurolearn.ir.plan import (
    BIAS_GAIN_RANGE,
    BIAS_SHIFT_MIN,
    BIAS_SHIFT_RANGE,
    PBAR_ONE,
    BurstPlan,
    ClassTeacherPlan,
    ConnectionPlan,
    LayerPlan,
    Plan,
    Plasticity,
    bias_mantissa_exponent,
    homeostatic_bias_units,
)
from neurolearn.ir.program import ChipRule
from neurolearn.rules.plugin import ChipUnits, LearningRule, rule_from_params

LUT_BINS_PER_SLOPE = 16    # burst table resolution: bins per unit of (v_d - offset) / slope
BIAS_GAIN_MIN = 16         # the homeostatic bias's gain: at least this where it fits (eta within about 3%)
BIAS_GAIN_ERROR = 0.125    # and never further than this from eta (the learning rules' literals' tolerance)
VALENCE_FIELDS = ("valence", "pbar_fixed", "rate_target", "rate_shift", "homeo_gain", "homeo_shift", "homeo_cap",
                  "dead_zone", "plateau_split", "valence_halving")   # BurstPlan fields a rule's post_neuron may set
LEARNING_HEADROOM = 1.0    # range of learning weights as a multiple of their initial largest magnitude (beyond
#                            it they saturate at the 8-bit limits, as on chip; the on-chip metrics count them)


@dataclass(frozen=True)
class BurstCompiled:
    """The plan (with ``learning``), its integer units and every approximation made."""

    plan: Plan
    vth: int                                  # integer threshold (one float voltage unit = vth << 6)
    weight_units: dict                        # connection -> integer weight units per float unit
    teacher: tuple[int, ...] | None = None    # input channels of the teacher (up, down per class), if any
    notes: tuple[str, ...] = field(default=())


def burst_lut(offset: float, slope: float, scale: float, file: str | None = None, node: str = "",
              centred: bool = False):
    """The 256-entry burst probability table of ``sigmoid((v_d - offset) / slope)`` and its
    (lut_offset, lut_shift, largest error of p) for v_d in integer units ``v_d * scale``. ``centred``: entry
    128 holds p(offset) = 1/2 exactly (the bins are moved down half a bin, so the index rounds to the nearest
    bin instead of flooring: a dendrite at the offset reads exactly 1/2, which a valence measured against a
    fixed Pbar of 1/2 needs); else the bins' centres are read (entry 128 is p half a bin above the offset)."""
    step = slope * scale / LUT_BINS_PER_SLOPE
    shift = max(0, round(math.log2(step)))
    if not abs(offset * scale) < 2**23:   # also inf: an offset near 1e308 times the scale
        raise QuantizationError(f"{where(file, node, 'burst_offset')} = {offset:g}: {offset * scale:g} integer units "
                                f"at this layer's scale {scale:g}; "
                                f"allowed |burst_offset| < {2**23 / scale:g} (24 bits)")
    off = int(round(offset * scale)) - (2 ** (shift - 1) if centred and shift else 0)
    if not -(2**23) < off < 2**23:
        raise QuantizationError(f"{where(file, node, 'burst_offset')} = {offset:g}: {off} outside 24 bits")
    bins = (np.arange(256) - 128 + (0.0 if centred else 0.5)) * 2.0**shift   # v_d - offset read by each bin
    lut = np.clip(np.round(256 / (1 + np.exp(-bins / (slope * scale)))), 0, 255).astype(np.int64)
    vd = np.linspace(off - 300 * 2.0**shift, off + 300 * 2.0**shift, 20001).astype(np.int64)
    idx = np.clip(((vd - off) >> shift) + 128, 0, 255)
    centre = int(round(offset * scale))
    err = float(np.max(np.abs(lut[idx] / 256 - 1 / (1 + np.exp(-(vd - centre) / (slope * scale))))))
    return lut, off, shift, err


def _decay(keep: float, name: str, what: str):
    """12-bit Lava decay ``d`` for a per-step keep factor (4096 - d)/4096, and the note reporting it."""
    d = min(max(int(round(4096 * (1 - keep))), 0), 4095)
    return d, f"{name}.{what}: keep {keep} -> {(4096 - d) / 4096:.6f} ({4096 - d}/4096)"


def _weights(w: np.ndarray, vth: int, headroom: float, name: str, file: str | None, even: bool = False):
    """Integers and weight_exp for float weights w (threshold units): the smallest exponent >= 0 whose
    range holds headroom * max|w|. ``even``: mixed-sign weights rounded to the nearest even integer (Lava
    truncates them to multiples of 2 toward -inf: rounding to the nearest integer first would leave every weight
    half a unit low on average, a bias summed over all active inputs)."""
    w = np.asarray(w, dtype=float)
    top = float(np.max(np.abs(w))) * headroom if w.size else 0.0
    exp = 0
    while top * vth / 2**exp > 254 and exp < 7:
        exp += 1
    units = vth / 2**exp
    step = 2 if even and w.size and w.min() < 0 < w.max() else 1
    q = (step * np.round(w * units / step)).astype(np.int64)
    if q.size and (q.max() > 255 or q.min() < -256):
        raise QuantizationError(f"{where(file, name, 'weight')}: max |w| = {np.abs(w).max():.3g} does not fit "
                                f"8 bits even with weight_exp 7 at vth {vth}")
    return q, exp, units


def _burst_bias(bias: np.ndarray, scale: float, name: str, file: str | None):
    """A burst layer's bias (voltage units per step) as Lava's (bias_mant, bias_exp); refused where it does not
    fit 13 bits with bias_exp 7."""
    mant, exp, saturated = bias_mantissa_exponent(np.asarray(bias, dtype=float).reshape(-1) * scale)
    if saturated.any():
        raise QuantizationError(f"{where(file, name, 'bias')} = {np.abs(bias).max():g}: beyond the 13-bit bias "
                                f"with bias_exp 7; allowed |bias| <= {(2**12 - 1) * 2**7 / scale:g}")
    return mant, exp


def _homeostasis(p: BurstParams, scale: float, threshold: float, rate_target: int | None, name: str,
                 file: str | None, notes: list) -> dict:
    """BurstPlan's homeostatic bias for ``p.homeostasis_rate`` and ``_eta``: rate_target (2**-15 events per
    step), bias_gain (8 bits) and bias_shift (>= BIAS_SHIFT_MIN), so that ``bias_gain * 2**15 / 2**bias_shift`` is
    eta in v units. The accumulator saturates at ``2**31 >> bias_shift`` v units: the shift must leave the bias at
    least the layer's ``threshold`` (voltage units) of range. Of those shifts whose gain is within
    :data:`BIAS_GAIN_ERROR` of eta, the smallest with a gain of at least :data:`BIAS_GAIN_MIN` (eta within about 3%,
    the widest range), else the most exact. The realized rate, eta and range go into ``notes``."""
    target = int(round(p.homeostasis_rate * PBAR_ONE))
    if not 0 <= target <= PBAR_ONE:
        raise QuantizationError(f"{where(file, name, 'homeostasis_rate')} = {p.homeostasis_rate:g}; allowed 0 .. 1 "
                                "events per step")
    if rate_target is not None and rate_target != target:
        raise QuantizationError(f"{where(file, name, 'homeostasis_rate')} = {p.homeostasis_rate:g}: its rule's "
                                f"neuron settings hold the rate at {rate_target / PBAR_ONE:g}; allowed: the same rate")
    eta_v = p.homeostasis_eta * scale / PBAR_ONE      # v units per step per 2**-15 of rate error
    if not 0 < threshold * scale * 2**BIAS_SHIFT_MIN <= 2**31:   # also a threshold that is not finite
        raise QuantizationError(f"{where(file, name, 'threshold')} = {threshold:g}: a homeostatic bias needs a range "
                                "of at least the threshold, which its accumulator gives for thresholds in (0, "
                                f"{2**31 / 2**BIAS_SHIFT_MIN / scale:g}] voltage units at this layer's scale")
    widest = min(BIAS_SHIFT_RANGE[1], int(math.floor(math.log2(2**31 / (threshold * scale)))))
    shifts = range(BIAS_SHIFT_MIN, widest + 1)
    fits = [(round(eta_v * 2**k), k) for k in shifts if 1 <= round(eta_v * 2**k) <= BIAS_GAIN_RANGE[1]
            and abs(round(eta_v * 2**k) / (eta_v * 2**k) - 1) <= BIAS_GAIN_ERROR]
    if not fits:
        lo = PBAR_ONE / scale / (2 * BIAS_GAIN_ERROR) / 2**widest     # a gain of 4 (or more) is within the error
        hi = PBAR_ONE / scale * (BIAS_GAIN_RANGE[1] + 0.5) / 2**BIAS_SHIFT_MIN
        raise QuantizationError(f"{where(file, name, 'homeostasis_eta')} = {p.homeostasis_eta:g}: no 8-bit gain and "
                                f"shift {BIAS_SHIFT_MIN}..{widest} (a bias range of at least the threshold, "
                                f"{threshold:g}) express it within {BIAS_GAIN_ERROR:.1%}; allowed {lo:.4g} .. {hi:.4g} "
                                "voltage units per step")
    gain, shift = next((g for g in fits if g[0] >= BIAS_GAIN_MIN), max(fits))
    real, limit = homeostatic_bias_units(gain, shift, scale)
    notes.append(f"{name}: homeostatic bias, rate {target / PBAR_ONE:.6f} per step, eta {p.homeostasis_eta:g} -> "
                 f"{real:.6g} ({(real / p.homeostasis_eta - 1) * 100:+.2f}%; gain {gain}, shift {shift}); its "
                 f"accumulator saturates at +-{limit:g} voltage units per step")
    return {"rate_target": target, "bias_gain": gain, "bias_shift": shift}


def _learning_rules(net: BurstNetwork, file: str | None) -> dict[str, LearningRule]:
    """The rule of each learning connection: every rules entry (a dict with "rule"; others, such as a training
    run's "task", are not rules) must be a registered rule on an event weight W."""
    names = [f"W:{src}->{dst}" for src, dst in net.weights]
    rules = {}
    for key, params in net.rules.items():
        if not (isinstance(params, Mapping) and "rule" in params):
            continue
        if key not in names:
            raise RuleError(f"{where(file, key, 'rule')} = {params['rule']!r}: '{key}' is not an event weight of "
                            f"this burst network; rules apply to {', '.join(names)}")
        rules[key] = rule_from_params(params, where(file, key))
    return rules


def _chip_rule(rule: LearningRule, units: ChipUnits, name: str, file: str | None) -> ChipRule:
    """``rule``'s program on connection ``name`` (refusals name the file and connection). A three-factor program
    compiles only where the rule sets the BurstLIF that sends its third factors (``post_neuron``)."""
    try:
        chip = rule.chip_rule(units)
    except RuleError as exc:
        raise RuleError(f"{where(file, name)}: {exc}") from None
    if chip.program.three_factor and not chip.post_neuron:
        factors = ", ".join(f"{y} = {what}" for y, what in chip.third_factors.items())
        raise RuleError(f"{where(file, name, 'rule')} = '{rule.name}': its program reads third factors ({factors}) "
                        f"delivered by {chip.delivered_by}; in a learning build BurstLIF layers send only burstprop's "
                        "valence and Pbar, and the plan routes no third factors from the input or a dendrite: use a "
                        "two-factor rule on this connection")
    return chip


def compile_burst_network(net: BurstNetwork, vth: int | None = None, teacher_layer: str | None = None,
                          teacher_strength: float | None = None, rng_seed: int | None = None, file: str | None = None,
                          teacher_classes: int | None = None, round_even: bool | None = None) -> BurstCompiled:
    """The learning plan of ``net`` (see the module docstring). ``vth``: the integer threshold (the
    resolution of voltages and weights; default 128); ``teacher_layer``:
    add the teacher channels into that layer's dendrites with ``teacher_strength`` (threshold units
    per step, default 3): one pair (up, down) for all its neurons, or with ``teacher_classes`` C > 1 one pair per class
    population (channels up_c, down_c = input_size + 2c, + 2c + 1, into the c-th block of size / C neurons);
    ``rng_seed``: the learning engine's trace random streams (default 0); ``round_even``: mixed-sign weights to the
    nearest even integer (see :func:`_weights`). A network with ``chip`` settings (as its .nir file records them)
    compiles with those, its class teacher included; the arguments are then refused."""
    if net.chip is not None:
        given = {k: v for k, v in (("vth", vth), ("teacher_layer", teacher_layer), ("rng_seed", rng_seed),
                                   ("round_even", round_even), ("teacher_strength", teacher_strength),
                                   ("teacher_classes", teacher_classes)) if v is not None}
        if given:
            raise QuantizationError(f"{where(file, param='chip')}: the network records how it compiles; "
                                    f"{', '.join(given)} given as well (leave them out)")
        chip = net.chip
        vth, rng_seed, round_even = chip.vth, chip.rng_seed, chip.round_even
        teacher_layer = chip.teacher_layer or None
        teacher_strength, teacher_classes = chip.teacher_strength, chip.teacher_classes
    vth, rng_seed, round_even = 128 if vth is None else vth, rng_seed or 0, bool(round_even)
    teacher_strength = 3.0 if teacher_strength is None else teacher_strength
    teacher_classes = 1 if teacher_classes is None else teacher_classes
    scale = vth * 64
    notes, layers, conns, learning, units, chips, posts = [], [], [], {}, {}, {}, {}
    rules = _learning_rules(net, file)
    weights = {}
    for (src, dst), w in net.weights.items():   # weights first: the rules' programs fix the post neurons
        name = f"W:{src}->{dst}"
        rule = rules.get(name)
        weights[name] = _weights(w, vth, LEARNING_HEADROOM if rule else 1.0, name, file, round_even)
        if rule is not None:
            chips[name] = _chip_rule(rule, ChipUnits(weights[name][2], net.dt, rng_seed), name, file)
            if chips[name].post_neuron:
                if dst in posts:
                    raise RuleError(f"{where(file, name, 'rule')}: a second program into '{dst}' that sets its "
                                    "neurons' third factors; one per burst layer (its neurons serve one program)")
                posts[dst] = chips[name].post_neuron
    for layer in net.layers:
        p = layer.params
        if p.alpha:
            raise QuantizationError(f"{where(file, layer.name, 'alpha')} = {p.alpha}: burst layers compile "
                                    "with alpha = 0 (no synaptic current state) only")
        dv, n_v = _decay(p.beta, layer.name, "beta")
        dv_d, n_d = _decay(p.beta_d, layer.name, "beta_d")
        post = posts.get(layer.name, {})
        centred = bool(post.get("lut_centred", False))
        lut, off, shift, err = burst_lut(p.burst_offset, p.burst_slope, scale, file, layer.name, centred)
        notes += [n_v, n_d, f"{layer.name}: burst probability table{' (centred)' if centred else ''}, largest "
                            f"error of p {err:.4f}"]
        if not p.stochastic:
            raise QuantizationError(f"{where(file, layer.name, 'stochastic')} = False: BurstLIF draws bursts; "
                                    "deterministic bursts are not compiled")
        pbar_init = post.get("pbar_init", PBAR_ONE // 4)
        if post.get("pbar_fixed"):   # Pbar fixed at the table's p at v_d = 0: the dendrite at rest
            pbar_init = int(lut[min(max((-off >> shift) + 128, 0), 255)]) << 7
            notes.append(f"{layer.name}: Pbar fixed at p(v_d = 0) = {pbar_init / PBAR_ONE:.4f}")
        bias_mant, bias_exp = _burst_bias(net.biases.get(layer.name, np.zeros(layer.size)), scale, layer.name, file)
        valence = {k: post[k] for k in VALENCE_FIELDS if k in post}
        if p.homeostasis_eta:
            valence.update(_homeostasis(p, scale, p.threshold, valence.get("rate_target"), layer.name, file, notes))
        elif p.homeostasis_rate:
            raise QuantizationError(f"{where(file, layer.name, 'homeostasis_rate')} = {p.homeostasis_rate:g} with "
                                    "homeostasis_eta 0; allowed: a rate with an eta > 0, or neither")
        vth_l = int(round(vth * p.threshold))
        layers.append(LayerPlan(layer.name, layer.size, du=4095, dv=dv, vth=vth_l, bias_mant=bias_mant,
                                bias_exp=bias_exp, scale=float(scale),
                                burst=BurstPlan(dv_d=dv_d, lut=lut, lut_offset=off, lut_shift=shift,
                                                pbar_shift=post.get("pbar_shift", 5), pbar_init=pbar_init,
                                                valence_levels=post.get("valence_levels", 0), seed=layer.seed,
                                                **valence)))
    n_in = net.input_size + (2 * teacher_classes if teacher_layer else 0)
    for (src, dst), (q, exp, u) in zip(net.weights, weights.values()):
        name = f"W:{src}->{dst}"
        units[name] = u
        if q.min() < 0 < q.max():
            notes.append(f"{name}: mixed-sign weights lose their lowest bit in Lava (multiples of 2)"
                         + ("; compiled to the nearest even integer" if round_even else ""))
        conns.append(ConnectionPlan(name, src, dst, q, weight_exp=exp, recurrent=net.is_recurrent(src, dst),
                                    input_range=(0, net.input_size) if src == "input" and teacher_layer else None))
        if name in chips:
            learning[name] = Plasticity(chips[name].program)
            notes += [f"{name}: {a}" for a in chips[name].approximations]
    for kind, carries, feedback in (("Y", "bursts", net.feedback), ("Z", "events", net.balance)):
        for (upper, lower), y in feedback.items():
            name = f"{kind}:{upper}->{lower}"
            q, exp, u = _weights(y, vth, 1.0, name, file, round_even)
            units[name] = u
            conns.append(ConnectionPlan(name, upper, lower, q, weight_exp=exp, port="apical", carries=carries,
                                        recurrent=True))
    teacher = None
    if teacher_layer:
        size = {L.name: L.size for L in net.layers}[teacher_layer]
        if teacher_classes < 1 or size % teacher_classes:
            raise QuantizationError(f"{where(file, teacher_layer, 'teacher_classes')} = {teacher_classes}: the layer's "
                                    f"{size} neurons must split into that many equal populations")
        pair = np.kron(np.eye(teacher_classes), np.ones((size // teacher_classes, 1))) * teacher_strength
        q, exp, u = _weights(np.stack([pair, -pair], axis=2).reshape(size, -1), vth, 1.0, "teacher", file, round_even)
        conns.append(ConnectionPlan("teacher", "input", teacher_layer, q, weight_exp=exp, port="apical",
                                    input_range=(net.input_size, n_in)))
        units["teacher"] = u
        teacher = tuple(range(net.input_size, n_in))
    for name, u in units.items():
        notes.append(f"{name}: {u:g} integer units per weight unit")
    gate = None
    if net.chip is not None and net.chip.teacher_layer:
        gate, note = _class_teacher(net)
        notes.append(note)
    plan = Plan(dt=net.dt, input_name="input", input_size=n_in, layers=tuple(layers), connections=tuple(conns),
                outputs=(net.layers[-1].name,), source=file or "", learning=learning, teacher=gate)
    return BurstCompiled(plan, vth, units, teacher, tuple(notes))


def _class_teacher(net: BurstNetwork) -> tuple[ClassTeacherPlan, str]:
    """The class teacher of ``net.chip`` (its band per neuron and step as counts per population, 2^-8)."""
    chip = net.chip
    per_class = {L.name: L.size for L in net.layers}[chip.teacher_layer] // chip.teacher_classes
    band = [round(b * per_class * 2**8) for b in (chip.band_lo, chip.band_hi)]   # BurstNetwork checked the band
    gate = ClassTeacherPlan(chip.teacher_layer, first=net.input_size, classes=chip.teacher_classes, lo=band[0],
                            hi=band[1], shift=8)
    return gate, (f"teacher: class teacher, band {chip.band_lo}..{chip.band_hi} events per neuron and step "
                  f"({band[0]}..{band[1]} / 2^8 per population)")
