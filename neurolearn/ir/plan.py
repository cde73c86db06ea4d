"""The quantization plan: the exact integers each Lava process is given.

A plan is data (frozen dataclasses, validated on construction) and round-trips through
``plan.json``. Anyone can rebuild the same Lava graph from it by hand: see docs/plan-format.md.

Ranges are those of Lava 0.10.0's bit-accurate models (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``).
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neurolearn.errors import NeurolearnError, PlanFormatError, QuantizationError, ShapeError, shown, where
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.ir.program import LearningProgram

PLAN_FORMAT = "neurolearn-plan"
PLAN_VERSION = 7                # 2 added burst layers, apical ports, input ranges and learning; 3 convolutions,
                                # sparse matrices, delays, reset modes, v_reset, dv = 4096, per-neuron scale, layers
                                # of one node, the burst neuron's valence modes and homeostasis and the class
                                # teacher; 4 the start voltage v_init and per-neuron du, dv, vth; 5 the burst
                                # neuron's homeostatic bias (bias_gain, bias_shift); 6 its plateau_split; 7 its
                                # valence_halving; reads 1 to 7

# Legal ranges, inclusive (Lava LavaPyType precisions; weight_exp as on Loihi).
DU_RANGE = (0, 4095)            # 12-bit current decay; Lava adds 1 (ds_offset)
DV_RANGE = (0, 4095)            # 12-bit voltage decay
DV_STATELESS = 4096             # v keeps nothing between steps (NIR Threshold): neurolearn's NIRNeuron only
VTH_RANGE = (0, 2**17 - 1)      # 17-bit threshold mantissa, used as vth << 6
BIAS_MANT_RANGE = (-(2**12), 2**12 - 1)   # 13-bit signed
BIAS_EXP_RANGE = (0, 7)         # 3-bit
WEIGHT_RANGE = (-256, 255)      # 8-bit magnitude + sign; Lava clips anything else
WEIGHT_EXP_RANGE = (-8, 7)
NUM_WEIGHT_BITS_RANGE = (1, 8)
STATE_BITS = 24                 # u and v are 24-bit signed
STATE_RANGE = (-(2**23) + 1, 2**23 - 1)
LUT_SIZE = 256                  # burst probability table: p = lut[index] / 256
LUT_RANGE = (0, 255)
LUT_SHIFT_RANGE = (0, 23)
PBAR_ONE = 2**15                # Pbar = 1 in the burst neuron's integers
PBAR_SHIFT_RANGE = (0, 15)
VALENCE_LEVELS_RANGE = (0, 7)   # y1 = 64 + 8 q, |q| <= levels: a 7-bit trace
VALENCES = ("burst", "expected")   # the burst neuron's valence: B - Pbar, or p(v_d) - Pbar
HOMEO_GAIN_RANGE = (0, 255)
SHIFT_RANGE = (0, 15)
BIAS_GAIN_RANGE = (0, 255)      # the homeostatic bias's gain (8 bits) and its accumulator's extra bits
BIAS_SHIFT_RANGE = (0, 31)
BIAS_SHIFT_MIN = 8              # with a gain: -2**23 <= hb >> bias_shift < 2**23, so v's sum stays in 32 bits
HB_RANGE = (-(2**31), 2**31 - 1)   # the homeostatic bias's 32-bit accumulator saturates here
HOMEO_CAP_RANGE = (0, 7)
TEACHER_SHIFT_RANGE = (0, 16)
SEED_RANGE = (0, 2**31 - 1)
HALVING_RANGE = (0, 2**24 - 1)  # the burst neuron's valence halves every this many steps: a 24-bit counter
HALVINGS_MAX = 15               # ... at most this often (then stays at 2**-15)
PORTS = ("soma", "apical")
CARRIES = ("events", "bursts")
SIGN_MODES = ("mixed", "excitatory", "inhibitory")   # LearningDense weights clip to [-256, 255], [0, 255], [-255, 0]
DELAY_RANGE = (0, 63)           # DelayDense / DelaySparse: steps beyond the usual one (6 bits on Loihi 2)
CONV_GEOMETRY_MAX = 127         # Lava's Conv keeps kernel size, stride, padding, dilation and groups in int8 Vars
RESETS = ("zero", "subtract")
# What a neuron does around a spike (neurolearn.dynamics.lif.lif_int_step; the codes are the indices):
#   zero           v <- v_reset in the spiking step (Lava's LIF where v_reset = 0; NIR's semantics)
#   subtract       v <- v - vth in the spiking step (snntorch reset_delay=False)
#   subtract_late  v keeps its value; the next step subtracts vth (snntorch's default, reset_delay=True)
#   zero_late      v keeps its value; the next step's v is 0 (snntorch Synaptic and RLeaky, reset_delay=True)
#   none           never spikes: a readout whose voltage is the output (NIR LI, CubaLI, I)
RESET_MODES = ("zero", "subtract", "subtract_late", "zero_late", "none")


def reset_mode(reset: str, reset_delay: bool, spiking: bool) -> str:
    """The entry of RESET_MODES for a neuron's reset mechanism, delay and whether it spikes."""
    if not spiking:
        return "none"
    return reset + ("_late" if reset_delay else "")


def bias_mantissa_exponent(target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bias of ``target`` v units per neuron in Lava's form: per neuron the smallest bias_exp whose mantissa fits;
    (mant, exp, saturated) with ``mant << exp ~= target``, saturated where even bias_exp 7 does not fit."""
    lo, hi = BIAS_MANT_RANGE
    mant = np.zeros(target.size, np.int64)
    exp = np.full(target.size, -1, np.int64)
    for e in range(BIAS_EXP_RANGE[0], BIAS_EXP_RANGE[1] + 1):
        m = np.round(target / 2**e)
        take = (exp < 0) & (m >= lo) & (m <= hi)
        mant[take], exp[take] = m[take], e
    sat = exp < 0
    exp[sat] = BIAS_EXP_RANGE[1]
    mant[sat] = np.where(target[sat] > 0, hi, lo)
    return mant, exp, sat


def homeostatic_bias_units(bias_gain: int, bias_shift: int, scale: float) -> tuple[float, float]:
    """A homeostatic bias's eta and its accumulator's limit (``2**31 >> bias_shift`` v units), both in voltage units
    per step at ``scale`` v units per voltage unit."""
    return bias_gain * PBAR_ONE / 2**bias_shift / scale, 2**31 / 2**bias_shift / scale


def _check_range(value, rng, file, node, param):
    arr = np.asarray(value)
    lo, hi = rng
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr.min() if arr.min() < lo else arr.max()
        raise QuantizationError(f"{where(file, node, param)} = {int(bad)} outside [{lo}, {hi}]")


@dataclass(frozen=True)
class BurstPlan:
    """The apical compartment and burst generator of a neurolearn ``BurstLIF`` process (integers).

    Per step: ``v_d = clip(trunc0(v_d * (4096 - dv_d) / 4096) + (a_apical << 6))`` (24 bits); an event
    bursts where ``r < p``, ``p = lut[clip(((v_d - lut_offset) >> lut_shift) + 128, 0, 255)]``, r = floor(256 *
    uniform) from ``numpy.random.default_rng(seed)`` (two uniforms per neuron and step: this one, then the
    valence's rounding). The event rate ``ebar += (event << 15) - (ebar >> rate_shift)`` (Ebar = ebar >>
    rate_shift, 2**15 = one event per step; it starts at ``rate_target``). Third factors, every step: the
    valence (Pbar before this step's update) as ``y1 = 64 + 8 q``, ``q = clip((valence * levels + r2) >> 15,
    -7, 7)`` (stochastic rounding, r2 = floor(2**15 * the second uniform)); ``y2 = (pbar * 127) >> 15``
    (Pbar in 1/127); ``y3 = 0``; with ``plateau_split`` instead ``y2 = max(q, 0)``, ``y3 = max(-q, 0)`` (the
    valence's positive and negative parts: BTSP's plateaus P+ and -P-). With ``valence_halving`` > 0 the valence
    sent halves every ``valence_halving`` steps (at most 15 times): ``q = clip((valence * levels + (r2 << k)) >>
    (15 + k), -7, 7)`` with ``k = min(step // valence_halving, 15)``, a learning-rate schedule kept by the neuron
    (a step counter). The valence is ``aim - pbar + h``, 0 where
    its magnitude is below ``dead_zone``: ``aim`` = ``burst << 15`` (``valence`` 'burst') or ``p << 7``
    ('expected': the burst probability, no draw noise); ``h = ((rate_target - Ebar) * homeo_gain) >> homeo_shift``,
    below the target times ``min(rate_target / Ebar, 2**homeo_cap)`` (``homeo_cap`` 0: not scaled). On each event
    ``pbar += (aim - pbar) >> pbar_shift`` unless ``pbar_fixed``
    (:func:`neurolearn.dynamics.burst_neuron.burst_int_step`). With ``bias_gain`` > 0 the soma's bias adapts to hold
    the event rate at ``rate_target`` (the integral homeostasis of Mikulasch et al. 2021, db = eta (rho - event)):
    ``hb += bias_gain * (rate_target - (event << 15))`` after each step (32 bits, saturating), and the soma adds
    ``bias_mant << bias_exp`` plus ``hb >> bias_shift`` (v units) to v
    (:func:`neurolearn.dynamics.burst_neuron.homeostatic_bias_int`)."""

    dv_d: int
    lut: np.ndarray = field(repr=False)   # (256,) burst probability * 256
    lut_offset: int = 0
    lut_shift: int = 0
    pbar_shift: int = 5
    pbar_init: int = PBAR_ONE // 4
    valence_levels: int = 4
    seed: int = 0
    valence: str = "burst"        # 'burst' (B - Pbar) or 'expected' (p - Pbar)
    pbar_fixed: bool = False      # Pbar stays at pbar_init
    rate_target: int = 0          # homeostasis: target event rate, 2**-15 events per step (0 with gain 0: none)
    rate_shift: int = 10          # Ebar averages over about 2**rate_shift steps
    homeo_gain: int = 0           # homeostasis gain: homeo_gain / 2**homeo_shift
    homeo_shift: int = 0
    homeo_cap: int = 0            # below the target, h times min(rate_target / Ebar, 2**homeo_cap); 0: unscaled
    dead_zone: int = 0            # valences of magnitude below this (2**-15) are sent as 0
    bias_gain: int = 0            # homeostatic bias: hb += bias_gain * (rate_target - (event << 15)); 0: none
    bias_shift: int = 0           # the soma adds hb >> bias_shift (v units) to its bias
    plateau_split: bool = False   # y2, y3 = the valence's positive and negative parts (else y2 = Pbar, y3 = 0)
    valence_halving: int = 0      # steps between halvings of the valence sent (0: never)

    def __post_init__(self):
        object.__setattr__(self, "lut", np.asarray(self.lut, dtype=np.int64).reshape(-1))
        if self.lut.shape != (LUT_SIZE,):
            raise ShapeError(f"burst: lut shape {self.lut.shape} != ({LUT_SIZE},)")
        for pname, rng in (("dv_d", DV_RANGE), ("lut", LUT_RANGE), ("lut_offset", STATE_RANGE),
                           ("lut_shift", LUT_SHIFT_RANGE), ("pbar_shift", PBAR_SHIFT_RANGE),
                           ("pbar_init", (0, PBAR_ONE)), ("valence_levels", VALENCE_LEVELS_RANGE), ("seed", SEED_RANGE),
                           ("rate_target", (0, PBAR_ONE)), ("rate_shift", SHIFT_RANGE),
                           ("homeo_gain", HOMEO_GAIN_RANGE), ("homeo_shift", SHIFT_RANGE),
                           ("homeo_cap", HOMEO_CAP_RANGE), ("dead_zone", (0, PBAR_ONE)),
                           ("bias_gain", BIAS_GAIN_RANGE), ("bias_shift", BIAS_SHIFT_RANGE),
                           ("valence_halving", HALVING_RANGE)):
            _check_range(getattr(self, pname), rng, None, "burst", pname)
        if self.valence not in VALENCES:
            raise QuantizationError(f"burst: valence {self.valence!r}; allowed {', '.join(VALENCES)}")
        for flag in ("pbar_fixed", "plateau_split"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise QuantizationError(f"burst: {flag} {getattr(self, flag)!r}; allowed true or false")
        if self.bias_gain and self.bias_shift < BIAS_SHIFT_MIN:
            raise QuantizationError(f"burst: bias_shift = {self.bias_shift} with bias_gain {self.bias_gain}; allowed "
                                    f"{BIAS_SHIFT_MIN}..{BIAS_SHIFT_RANGE[1]} (the bias hb >> bias_shift stays within "
                                    "24 bits)")
        if self.homeo_cap and self.rate_target >> self.homeo_cap < 1:
            raise QuantizationError(f"burst: homeo_cap = {self.homeo_cap} needs rate_target >> homeo_cap >= 1 "
                                    f"(rate_target = {self.rate_target})")

    def valence_shape(self) -> tuple[int, ...]:
        """The valence's constants as :func:`~neurolearn.dynamics.burst_neuron.burst_int_step` takes them."""
        return (int(self.valence == "expected"), int(self.pbar_fixed), self.rate_target, self.rate_shift,
                self.homeo_gain, self.homeo_shift, self.homeo_cap, self.dead_zone, int(self.plateau_split),
                self.valence_halving)


@dataclass(frozen=True)
class LayerPlan:
    """One Lava ``LIF`` process, or neurolearn's ``NIRNeuron`` where Lava's LIF cannot run it (another reset,
    a non-spiking readout, dv = 4096), or a ``BurstLIF`` (``burst``). ``scale``: integer units of u and v per
    float unit, per neuron (v_int = v * scale). A NIR node whose neurons differ in decay becomes several layers:
    ``node`` names it and ``neurons`` says which of its neurons (indices) this layer holds, in order."""

    name: str
    size: int
    du: int | np.ndarray             # one for the layer (Lava's LIF), or (size,) per neuron (NIRNeuron)
    dv: int | np.ndarray
    vth: int | np.ndarray
    bias_mant: np.ndarray = field(repr=False)  # (size,) int
    bias_exp: np.ndarray = field(repr=False)   # (size,) int
    scale: np.ndarray | float = 1.0  # (size,); a scalar is every neuron's
    spiking: bool = True
    burst: BurstPlan | None = None   # a two-compartment BurstLIF instead of Lava's LIF
    reset: str = "zero"              # RESETS: to v_reset, or subtract vth
    reset_delay: bool = False        # the reset lands one step late (snntorch's reset_delay=True)
    v_reset: np.ndarray | None = field(default=None, repr=False)   # (size,) int, v's units; None: 0
    node: str = ""                   # the NIR node it runs ("": the node named like the layer, all of it)
    neurons: np.ndarray | None = field(default=None, repr=False)   # (size,) its neurons' indices in the node
    v_init: np.ndarray | None = field(default=None, repr=False)    # (size,) int, v's units, v before step 0; None: 0

    def __post_init__(self):
        object.__setattr__(self, "node", self.node or self.name)
        object.__setattr__(self, "neurons", np.arange(self.size) if self.neurons is None else
                           np.asarray(self.neurons, dtype=np.int64).reshape(-1))
        scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        if scale.size == 1:
            scale = np.full(self.size, scale[0])
        object.__setattr__(self, "scale", scale)
        for pname in ("neurons", "scale"):
            if getattr(self, pname).shape != (self.size,):
                raise ShapeError(f"{where(None, self.name, pname)}: shape {getattr(self, pname).shape} != "
                                 f"({self.size},)")
        if not np.all(np.isfinite(self.scale) & (self.scale > 0)):
            raise QuantizationError(f"{where(None, self.name, 'scale')}: must be finite and > 0")
        if self.reset not in RESETS:
            raise QuantizationError(f"{where(None, self.name, 'reset')}: {self.reset!r}; allowed {', '.join(RESETS)}")
        object.__setattr__(self, "v_reset", np.zeros(self.size, np.int64) if self.v_reset is None else
                           np.asarray(self.v_reset, dtype=np.int64).reshape(-1))
        if self.v_reset.shape != (self.size,):
            raise ShapeError(f"{where(None, self.name, 'v_reset')}: shape {self.v_reset.shape} != ({self.size},)")
        _check_range(self.v_reset, STATE_RANGE, None, self.name, "v_reset")
        object.__setattr__(self, "v_init", np.zeros(self.size, np.int64) if self.v_init is None else
                           np.asarray(self.v_init, dtype=np.int64).reshape(-1))
        if self.v_init.shape != (self.size,):
            raise ShapeError(f"{where(None, self.name, 'v_init')}: shape {self.v_init.shape} != ({self.size},)")
        _check_range(self.v_init, STATE_RANGE, None, self.name, "v_init")
        if np.any(self.v_init) and self.burst is not None:
            raise QuantizationError(f"{where(None, self.name, 'v_init')}: a burst layer starts at rest: allowed 0")
        if np.any(self.v_reset) and self.mode != "zero":
            raise QuantizationError(f"{where(None, self.name, 'v_reset')}: a reset value needs reset mode 'zero', "
                                    f"this layer's is '{self.mode}'")
        if isinstance(self.burst, dict):
            try:
                object.__setattr__(self, "burst", BurstPlan(**self.burst))
            except (QuantizationError, ShapeError) as exc:
                raise type(exc)(f"layer '{self.name}': {exc}") from None
        for pname in ("du", "dv", "vth"):   # per neuron: an int64 array; one for the layer: a Python int
            value = getattr(self, pname)
            if np.ndim(value):
                value = np.asarray(value, dtype=np.int64).reshape(-1)
                if value.shape != (self.size,):
                    raise ShapeError(f"{where(None, self.name, pname)}: shape {value.shape} != ({self.size},)")
            object.__setattr__(self, pname, value if np.ndim(value) else int(value))
        object.__setattr__(self, "bias_mant", np.asarray(self.bias_mant, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "bias_exp", np.asarray(self.bias_exp, dtype=np.int64).reshape(-1))
        for pname, arr in (("bias_mant", self.bias_mant), ("bias_exp", self.bias_exp)):
            if arr.shape != (self.size,):
                raise ShapeError(f"{where(None, self.name, pname)}: shape {arr.shape} != ({self.size},)")
        _check_range(self.du, DU_RANGE, None, self.name, "du")
        _check_range(np.where(np.equal(self.dv, DV_STATELESS), 0, self.dv), DV_RANGE, None, self.name, "dv")
        _check_range(self.vth, VTH_RANGE, None, self.name, "vth")
        _check_range(self.bias_mant, BIAS_MANT_RANGE, None, self.name, "bias_mant")
        _check_range(self.bias_exp, BIAS_EXP_RANGE, None, self.name, "bias_exp")
        if self.burst is not None and not self.lava_lif:
            raise QuantizationError(f"layer '{self.name}': a burst layer's soma is Lava's LIF (reset to zero at "
                                    f"once, spiking, dv <= {DV_RANGE[1]}); it has reset mode '{self.mode}', "
                                    f"dv {self.dv}")

    @property
    def bias(self) -> np.ndarray:
        """Effective per-step bias added to v, as Lava computes it: bias_mant << bias_exp."""
        return self.bias_mant << self.bias_exp

    @property
    def mode(self) -> str:
        """Its entry of RESET_MODES."""
        return reset_mode(self.reset, self.reset_delay, self.spiking)

    @property
    def lava_lif(self) -> bool:
        """Does Lava's own LIF run this layer (reset to zero at once, spiking, dv <= 4095, one du, dv, vth)?"""
        return (self.mode == "zero" and not np.any(self.v_reset) and not self.per_neuron
                and self.dv != DV_STATELESS)

    @property
    def per_neuron(self) -> bool:
        """Do its neurons have their own du, dv or vth (neurolearn's NIRNeuron)?"""
        return any(np.ndim(x) for x in (self.du, self.dv, self.vth))


@dataclass(frozen=True)
class ConnectionPlan:
    """One Lava connection process. ``weights`` as passed to it: a Lava ``Dense``, (n_target, n_source); with
    ``conv``, a Lava ``Conv`` whose kernel is ``weights`` (C_out, C_in / groups, kH, kW) (torch's layout; Lava
    takes it flipped, see docs/plan-format.md); with ``sparse``, a Lava ``Sparse`` whose stored weights are
    ``weights`` (nnz,). ``delays`` (integer steps, shaped like ``weights``) make a Dense a ``DelayDense`` and a
    Sparse a ``DelaySparse``."""

    name: str
    source: str
    target: str
    weights: np.ndarray = field(repr=False)
    weight_exp: int = 0
    num_weight_bits: int = 8
    recurrent: bool = False
    port: str = "soma"                          # the target's input: soma (basal) or apical dendrite
    carries: str = "events"                     # what the source sends: events, or bursts (burst layers)
    input_range: tuple[int, int] | None = None  # for the input: channels lo..hi-1 only
    conv: ConvGeometry | None = None            # a Lava Conv (weights: the kernel)
    sparse: SparseLayout | None = None          # a Lava Sparse (weights: the stored values)
    delays: np.ndarray | None = field(default=None, repr=False)   # steps beyond the usual one, per weight

    def __post_init__(self):
        if self.port not in PORTS or self.carries not in CARRIES:
            raise ShapeError(f"{where(None, self.name, 'port/carries')}: {self.port!r}/{self.carries!r}; "
                             f"allowed {'|'.join(PORTS)} / {'|'.join(CARRIES)}")
        if self.input_range is not None:
            object.__setattr__(self, "input_range", tuple(int(i) for i in self.input_range))
        for fname, cls in (("conv", ConvGeometry), ("sparse", SparseLayout)):
            if isinstance(getattr(self, fname), dict):
                try:
                    object.__setattr__(self, fname, cls(**getattr(self, fname)))
                except ShapeError as exc:
                    raise ShapeError(f"connection '{self.name}': {exc}") from None
        object.__setattr__(self, "weights", _integers(self.weights, self.name, "weights"))
        want = self.conv.kernel_shape if self.conv else (self.sparse.nnz,) if self.sparse else None
        if (want is None and self.weights.ndim != 2) or (want is not None and self.weights.shape != want):
            raise ShapeError(f"{where(None, self.name, 'weights')}: shape {self.weights.shape}, expected "
                             f"{want or '2-D (n_target, n_source)'}")
        _check_range(self.weights, WEIGHT_RANGE, None, self.name, "weights")
        _check_range(self.weight_exp, WEIGHT_EXP_RANGE, None, self.name, "weight_exp")
        _check_range(self.num_weight_bits, NUM_WEIGHT_BITS_RANGE, None, self.name, "num_weight_bits")
        if self.delays is not None:
            object.__setattr__(self, "delays", _integers(self.delays, self.name, "delays"))
            if self.delays.shape != self.weights.shape:
                raise ShapeError(f"{where(None, self.name, 'delays')}: shape {self.delays.shape}, expected the "
                                 f"weights' {self.weights.shape}")
            _check_range(self.delays, DELAY_RANGE, None, self.name, "delays")
        if self.conv is not None:
            self._check_conv()

    def _check_conv(self):
        """What Lava's Conv takes: no sparse layout, delays or input range; weight_exp 0 and 8 weight bits (its
        fixed_pt model applies neither); geometry within its int8 Vars."""
        g = self.conv
        for what, bad in (("sparse", self.sparse is not None), ("delays", self.delays is not None),
                          ("input_range", self.input_range is not None)):
            if bad:
                raise ShapeError(f"{where(None, self.name, what)}: a convolution has none (Lava's Conv takes no "
                                 f"{what})")
        if self.weight_exp != 0 or self.num_weight_bits != 8:
            raise QuantizationError(f"{where(None, self.name, 'weight_exp')}: {self.weight_exp} with "
                                    f"num_weight_bits {self.num_weight_bits}; Lava's Conv (fixed_pt) applies neither: "
                                    "allowed weight_exp 0, num_weight_bits 8")
        for name in ("kernel", "stride", "padding", "dilation", "groups"):
            value = getattr(g, name)
            if max(np.atleast_1d(value)) > CONV_GEOMETRY_MAX:
                raise ShapeError(f"{where(None, self.name, name)}: {value}; Lava's Conv holds it in 8 bits: allowed "
                                 f"<= {CONV_GEOMETRY_MAX}")

    @property
    def kind(self) -> str:
        """'conv', 'sparse' or 'dense': the Lava process (DelayDense and DelaySparse: 'dense', 'sparse')."""
        return "conv" if self.conv is not None else "sparse" if self.sparse is not None else "dense"

    @property
    def shape(self) -> tuple[int, int]:
        """(n_target, n_source): the neurons it connects."""
        if self.conv is not None:
            return (self.conv.n_out, self.conv.n_in)
        return self.sparse.shape if self.sparse is not None else tuple(self.weights.shape)


def _integers(values, node: str, param: str) -> np.ndarray:
    """``values`` as int64, or QuantizationError if any is not an integer."""
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == object or not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise QuantizationError(f"{where(None, node, param)}: not all integers")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class BandTeacherPlan:
    """A band-gated teacher (neurolearn's ``BandTeacher`` process): it passes the teacher requests on two
    input channels (``up``, ``down``) only where the prediction needs them. It counts ``layer``'s events
    while no request is active (the prediction; the count restarts after each request); when a request
    starts it opens for its whole duration if the request is up and the count is below ``hi``, or down
    and above ``lo`` (events, inclusive bounds stay closed). Requests without a silent step between them
    count as one. The teacher connection reads exactly channels (up, up + 2), down = up + 1."""

    layer: str
    up: int
    down: int
    lo: int
    hi: int

    def __post_init__(self):
        if not 0 <= self.lo <= self.hi:
            raise QuantizationError(f"teacher: band lo = {self.lo}, hi = {self.hi}; need 0 <= lo <= hi")


@dataclass(frozen=True)
class ClassTeacherPlan:
    """A class teacher (neurolearn's ``ClassTeacher`` process): ``layer`` holds ``classes`` populations of
    equal size; input channels ``first + 2c`` (up) and ``first + 2c + 1`` (down) request teaching of class c.
    Each step it counts each population's events since the sample began (a step without requests after one
    with them starts a sample) and passes up_c where requested and ``(count_c << shift) < hi * steps``,
    down_c where requested and ``(count_c << shift) > lo * steps``
    (:func:`neurolearn.dynamics.class_teacher.class_teacher_step`). The teacher connection reads exactly
    channels (first, first + 2 classes)."""

    layer: str
    first: int
    classes: int
    lo: int
    hi: int
    shift: int = 8

    def __post_init__(self):
        if self.classes < 1 or not 0 <= self.lo <= self.hi:
            raise QuantizationError(f"class teacher: classes = {self.classes}, band lo = {self.lo}, hi = {self.hi}; "
                                    "need classes >= 1 and 0 <= lo <= hi")
        _check_range(self.shift, TEACHER_SHIFT_RANGE, None, "class teacher", "shift")

    @property
    def channels(self) -> tuple[int, int]:
        """The request channels it reads: first .. first + 2 classes - 1."""
        return self.first, self.first + 2 * self.classes


@dataclass(frozen=True)
class Plasticity:
    """What makes a connection a ``LearningDense``: its program, Lava's ``sign_mode`` for the weights
    (saturation and LSB truncation) and the initial tags, (n_post, n_pre) integers (default 0)."""

    program: LearningProgram
    sign_mode: str = "mixed"
    tag_1: np.ndarray | None = None
    tag_2: np.ndarray | None = None

    def __post_init__(self):
        if self.sign_mode not in SIGN_MODES:
            raise QuantizationError(f"plasticity: sign_mode {self.sign_mode!r}; allowed {', '.join(SIGN_MODES)}")

    def to_dict(self) -> dict:
        prog = {f.name: getattr(self.program, f.name) for f in fields(self.program) if f.init}
        tags = {k: np.asarray(getattr(self, k)).tolist() for k in ("tag_1", "tag_2") if getattr(self, k) is not None}
        return {"program": {k: v for k, v in prog.items() if v is not None}, "sign_mode": self.sign_mode, **tags}

    @classmethod
    def from_dict(cls, d: dict) -> "Plasticity":
        return cls(LearningProgram(**d["program"]), d.get("sign_mode", "mixed"), d.get("tag_1"), d.get("tag_2"))


@dataclass(frozen=True)
class Plan:
    """A whole network in Lava's integers, plus what the report needs to map values back to floats."""

    dt: float
    input_name: str
    input_size: int
    layers: tuple[LayerPlan, ...]
    connections: tuple[ConnectionPlan, ...]
    outputs: tuple[str, ...]
    source: str = ""
    learning: dict = field(default_factory=dict)   # connection name -> Plasticity (a LearningDense)
    teacher: BandTeacherPlan | ClassTeacherPlan | None = None   # gates the teacher channels of the input

    def __post_init__(self):
        sizes = {self.input_name: self.input_size}
        for layer in self.layers:
            if layer.name in sizes:
                raise ShapeError(f"plan: duplicate layer name '{layer.name}'")
            sizes[layer.name] = layer.size
        bursty = {layer.name for layer in self.layers if layer.burst is not None}
        for c in self.connections:
            for end in (c.source, c.target):
                if end not in sizes:
                    raise ShapeError(f"plan: connection '{c.name}' refers to unknown '{end}'")
            if c.target == self.input_name:
                raise ShapeError(f"plan: connection '{c.name}' targets the input")
            n_src = sizes[c.source]
            if c.input_range is not None:
                lo, hi = c.input_range
                if c.source != self.input_name or not 0 <= lo < hi <= self.input_size:
                    raise ShapeError(f"plan: connection '{c.name}': input_range {c.input_range} needs the input "
                                     f"as source and 0 <= lo < hi <= {self.input_size}")
                n_src = hi - lo
            if c.carries == "bursts" and c.source not in bursty:
                raise ShapeError(f"plan: connection '{c.name}' carries bursts but '{c.source}' is not a burst layer")
            if c.port == "apical" and c.target not in bursty:
                raise ShapeError(f"plan: connection '{c.name}' targets the apical dendrite of '{c.target}', "
                                 "which is not a burst layer")
            want = (sizes[c.target], n_src)
            if c.shape != want:
                raise ShapeError(f"plan: connection '{c.name}' weights shape {c.shape}, expected {want}")
        order = {layer.name: i for i, layer in enumerate(self.layers)}
        for c in self.connections:
            if not c.recurrent and c.source != self.input_name and order[c.source] >= order[c.target]:
                raise ShapeError(f"plan: feedforward connection '{c.name}' runs backwards in layer order; "
                                 "mark it recurrent or reorder the layers")
        for o in self.outputs:
            if o not in order:
                raise ShapeError(f"plan: output '{o}' is not a layer")
        for node, parts in self.node_layers().items():
            held = np.sort(np.concatenate([idx for _, idx in parts]))
            if not np.array_equal(held, np.arange(held.size)):
                raise ShapeError(f"plan: the layers of node '{node}' ({', '.join(n for n, _ in parts)}) hold neurons "
                                 f"{held.tolist()[:8]}...; they must hold 0..{held.size - 1} once each")
        t = self.teacher
        if t is not None:
            band = isinstance(t, BandTeacherPlan)
            lo_ch, hi_ch = (t.up, t.up + 2) if band else t.channels
            if t.layer not in order or (band and t.down != t.up + 1) or not 0 <= lo_ch < hi_ch <= self.input_size:
                what = f"up {t.up}, down {t.down}; needs" if band else f"{lo_ch}..{hi_ch - 1}; needs"
                raise ShapeError(f"plan: teacher watches '{t.layer}' with channels {what} a layer"
                                 + (" and down = up + 1" if band else "") + f" within the input ({self.input_size})")
            if not band and self.layer(t.layer).size % t.classes:
                raise ShapeError(f"plan: class teacher: layer '{t.layer}' has {self.layer(t.layer).size} neurons, "
                                 f"not a multiple of {t.classes} classes")
            for c in self.connections:
                lo, hi = c.input_range or (0, self.input_size)
                if c.source == self.input_name and lo < hi_ch and lo_ch < hi and (lo, hi) != (lo_ch, hi_ch):
                    raise ShapeError(f"plan: connection '{c.name}' reads the teacher channels {lo_ch}..{hi_ch - 1} "
                                     f"with input_range {c.input_range}; a connection fed by the teacher reads "
                                     f"exactly ({lo_ch}, {hi_ch})")
        names = {c.name: c for c in self.connections}
        for name, pl in self.learning.items():
            if name not in names:
                raise ShapeError(f"plan: learning connection '{name}' is not a connection (have {', '.join(names)})")
            c = names[name]
            if pl.program.three_factor and self.layer(c.target).burst is None:
                raise QuantizationError(
                    f"plan: connection '{name}': its program is three-factor but its post-synaptic layer "
                    f"'{c.target}' is a plain LIF, which sends no y1..y3; target a burst layer or use a "
                    "two-factor program")

    def features(self) -> frozenset:
        """The features this plan uses (names in :data:`neurolearn.ir.features.FEATURES`)."""
        used = {"recurrence": any(c.recurrent for c in self.connections),
                "reset": any(layer.mode not in ("zero", "none") or np.any(layer.v_reset) for layer in self.layers),
                "start_voltage": any(np.any(layer.v_init) for layer in self.layers),
                "readout": any(not layer.spiking for layer in self.layers),
                "stateless": any(np.any(np.equal(layer.dv, DV_STATELESS)) for layer in self.layers),
                "neuron_parameters": any(layer.per_neuron for layer in self.layers),
                "bursts": any(layer.burst is not None for layer in self.layers),
                "apical": any(c.port == "apical" for c in self.connections),
                "input_ranges": any(c.input_range is not None for c in self.connections),
                "teacher": isinstance(self.teacher, BandTeacherPlan),
                "class_teacher": isinstance(self.teacher, ClassTeacherPlan),
                "learning": bool(self.learning),
                "convolution": any(c.conv is not None for c in self.connections),
                "sparse": any(c.sparse is not None for c in self.connections),
                "delays": any(c.delays is not None for c in self.connections)}
        return frozenset(name for name, on in used.items() if on)

    def node_layers(self) -> dict[str, list[tuple[str, np.ndarray]]]:
        """Each NIR node's layers and the neurons (indices in the node) each holds, in plan order."""
        nodes: dict[str, list[tuple[str, np.ndarray]]] = {}
        for layer in self.layers:
            nodes.setdefault(layer.node, []).append((layer.name, layer.neurons))
        return nodes

    def layer(self, name: str) -> LayerPlan:
        return self.layers[[layer.name for layer in self.layers].index(name)]

    def incoming(self, name: str) -> list[ConnectionPlan]:
        return [c for c in self.connections if c.target == name]

    def depths(self) -> dict[str, int]:
        """Steps of delay from the input to each layer (one per Dense on the feedforward path)."""
        depth = {self.input_name: 0}
        for layer in self.layers:
            ds = [depth[c.source] + 1 for c in self.incoming(layer.name) if not c.recurrent]
            depth[layer.name] = max(ds) if ds else 1
        return depth

    # ---- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict:
        def conv(obj):
            d = asdict(obj) if not isinstance(obj, dict) else obj
            return {k: v.tolist() if isinstance(v, np.ndarray) else conv(v) if isinstance(v, dict) else v
                    for k, v in d.items()}

        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "dt": self.dt,
            "source": self.source,
            "input": {"name": self.input_name, "size": self.input_size},
            "layers": [conv(layer) for layer in self.layers],
            "connections": [conv(c) for c in self.connections],
            "outputs": list(self.outputs),
            "learning": {name: pl.to_dict() for name, pl in self.learning.items()},
            "teacher": None if self.teacher is None else {"kind": "band" if isinstance(self.teacher, BandTeacherPlan)
                                                          else "class", **asdict(self.teacher)},
        }

    @classmethod
    def from_dict(cls, d, file: str | None = None) -> "Plan":
        """The plan of a plan.json document, checked against :data:`SCHEMA_FILE` first; PlanFormatError naming
        ``file`` (and the field) for anything that is not a valid plan."""
        name = file or "plan"
        if isinstance(d, dict) and d.get("format") != PLAN_FORMAT:
            raise PlanFormatError(f"{name}: not a neurolearn plan (format={_short(d.get('format'))})")
        if isinstance(d, dict) and d.get("version") not in range(1, PLAN_VERSION + 1):
            raise PlanFormatError(f"{name}: plan version {_short(d.get('version'))} unsupported "
                                  f"(this neurolearn reads versions 1..{PLAN_VERSION})")
        check_plan_schema(d, name)
        _check_rectangular(d, name)
        d = _integral_fields(d)
        try:
            return cls(
                dt=float(d["dt"]),
                input_name=d["input"]["name"],
                input_size=int(d["input"]["size"]),
                layers=tuple(LayerPlan(**layer) for layer in d["layers"]),
                connections=tuple(ConnectionPlan(**c) for c in d["connections"]),
                outputs=tuple(d["outputs"]),
                source=d.get("source", ""),
                learning={k: Plasticity.from_dict(pl) for k, pl in d.get("learning", {}).items()},
                teacher=_teacher_from_dict(d.get("teacher")),
            )
        except NeurolearnError as exc:
            raise PlanFormatError(f"{name}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, file: str | None = None) -> "Plan":
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise PlanFormatError(f"{file or 'plan'}: not JSON ({' '.join(str(exc).split())[:200]})") from None
        return cls.from_dict(doc, file=file)


# ---- the JSON Schema of plan.json ----------------------------------------------------------------------------------
SCHEMA_FILE = Path(__file__).with_name("plan_schema.json")   # published in docs/plan-format.md


@functools.lru_cache(maxsize=1)
def plan_schema() -> dict:
    """The JSON Schema of plan.json (:data:`SCHEMA_FILE`)."""
    return json.loads(SCHEMA_FILE.read_text())


@functools.lru_cache(maxsize=1)
def _validator():
    import fastjsonschema

    return fastjsonschema.compile(plan_schema())


@functools.lru_cache(maxsize=1)
def _integer_keys() -> frozenset:
    """Names of the schema's integer-valued properties (a JSON number such as 3.0 becomes the int 3)."""
    keys, defs = set(), plan_schema()["definitions"]

    def visit(node):
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                ref = sub.get("$ref", "") if isinstance(sub, dict) else ""
                target = defs.get(ref.rsplit("/", 1)[-1], {}) if ref else sub
                if isinstance(target, dict) and target.get("type") == "integer":
                    keys.add(key)
            for sub in node.values():
                visit(sub)
        elif isinstance(node, list):
            for sub in node:
                visit(sub)
    visit(plan_schema())
    return frozenset(keys)


def check_plan_schema(doc, file: str = "plan") -> None:
    """PlanFormatError naming ``file`` and the field unless ``doc`` (a parsed plan.json) satisfies the schema."""
    import fastjsonschema

    try:
        _validator()(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = "/".join(str(p) for p in exc.path[1:]) or "the document"
        value = _short(exc.value)
        raise PlanFormatError(f"{file}: '{field}' = {value}: {exc.message.removeprefix(exc.name).strip()} "
                              f"(schema {SCHEMA_FILE.name}: {exc.rule})") from None


def _tensor_shape(value) -> tuple | None:
    """The shape of nested lists that form a rectangular array, else None (level by level: no recursion)."""
    shape, level = [], [value]
    while any(isinstance(v, list) for v in level):
        lengths = {len(v) if isinstance(v, list) else -1 for v in level}
        if len(lengths) > 1:
            return None
        shape.append(lengths.pop())
        level = [x for v in level for x in v]
    return tuple(shape)


def _check_rectangular(doc: dict, file: str) -> None:
    """Arrays (weights: a matrix, a kernel or sparse values; delays; tags) whose rows all have one length, to any
    depth (a JSON Schema cannot say so)."""
    arrays = [(f"connections/{i}/{k}", c[k]) for i, c in enumerate(doc["connections"]) for k in ("weights", "delays")
              if c.get(k) is not None]
    arrays += [(f"learning/{k}/{t}", pl[t]) for k, pl in doc.get("learning", {}).items() for t in ("tag_1", "tag_2")
               if pl.get(t) is not None]
    for where_, rows in arrays:
        if _tensor_shape(rows) is None:
            raise PlanFormatError(f"{file}: '{where_}': rows of different lengths or depths; an array has one "
                                  "length per row at every depth")


def _integral_fields(doc):
    """``doc`` with the integral floats of integer fields as ints (the schema has checked they are integral)."""
    keys = _integer_keys()
    if isinstance(doc, dict):
        return {k: int(v) if k in keys and isinstance(v, float) else _integral_fields(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_integral_fields(v) for v in doc]
    return doc


def _short(value) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _teacher_from_dict(d: dict | None) -> BandTeacherPlan | ClassTeacherPlan | None:
    """plan.json's teacher: a band teacher (kind 'band'; plans of version 2 have no kind) or a class teacher."""
    if not d:
        return None
    kind = d.get("kind", "band")
    if kind not in ("band", "class"):
        raise PlanFormatError(f"plan: teacher kind {shown(kind)}; allowed band, class")
    args = {k: v for k, v in d.items() if k != "kind"}
    return BandTeacherPlan(**args) if kind == "band" else ClassTeacherPlan(**args)
