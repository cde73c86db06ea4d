"""The quantization plan: the exact integers each Lava process is given.

A plan is data (frozen dataclasses, validated on construction) and round-trips through
``plan.json``. Anyone can rebuild the same Lava graph from it by hand: see docs/plan-format.md.

Ranges are those of Lava 0.10.0's bit-accurate models (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from neurolearn.errors import QuantizationError, ShapeError, where
from neurolearn.ir.program import LearningProgram

PLAN_FORMAT = "neurolearn-plan"
PLAN_VERSION = 3                # 2 added burst layers, apical ports, input ranges and learning; 3 reset modes,
                                # v_reset, dv = 4096, per-neuron scale, layers of one node; reads 1..3

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
SEED_RANGE = (0, 2**31 - 1)
PORTS = ("soma", "apical")
CARRIES = ("events", "bursts")
SIGN_MODES = ("mixed", "excitatory", "inhibitory")   # LearningDense weights clip to [-256, 255], [0, 255], [-255, 0]
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
    bursts where ``r < lut[clip(((v_d - lut_offset) >> lut_shift) + 128, 0, 255)]``, r = floor(256 *
    uniform) from ``numpy.random.default_rng(seed)`` (two uniforms per neuron and step: this one, then the
    valence's rounding); on each event
    ``pbar += ((burst << 15) - pbar) >> pbar_shift``. Third factors, every step: the valence B - Pbar
    (Pbar before this step's update) as ``y1 = 64 + 8 q``, ``q = floor(((burst << 15) - pbar) * levels +
    r2) >> 15)`` (stochastic rounding, r2 = floor(2**15 * the second uniform)); ``y2 = (pbar * 127) >> 15``
    (Pbar in 1/127); ``y3 = 0``."""

    dv_d: int
    lut: np.ndarray = field(repr=False)   # (256,) burst probability * 256
    lut_offset: int = 0
    lut_shift: int = 0
    pbar_shift: int = 5
    pbar_init: int = PBAR_ONE // 4
    valence_levels: int = 4
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "lut", np.asarray(self.lut, dtype=np.int64).reshape(-1))
        if self.lut.shape != (LUT_SIZE,):
            raise ShapeError(f"burst: lut shape {self.lut.shape} != ({LUT_SIZE},)")
        for pname, rng in (("dv_d", DV_RANGE), ("lut", LUT_RANGE), ("lut_offset", STATE_RANGE),
                           ("lut_shift", LUT_SHIFT_RANGE), ("pbar_shift", PBAR_SHIFT_RANGE),
                           ("pbar_init", (0, PBAR_ONE)), ("valence_levels", VALENCE_LEVELS_RANGE), ("seed", SEED_RANGE)):
            _check_range(getattr(self, pname), rng, None, "burst", pname)


@dataclass(frozen=True)
class LayerPlan:
    """One Lava ``LIF`` process, or neurolearn's ``NIRNeuron`` where Lava's LIF cannot run it (another reset,
    a non-spiking readout, dv = 4096), or a ``BurstLIF`` (``burst``). ``scale``: integer units of u and v per
    float unit, per neuron (v_int = v * scale). A NIR node whose neurons differ in decay becomes several layers:
    ``node`` names it and ``neurons`` says which of its neurons (indices) this layer holds, in order."""

    name: str
    size: int
    du: int
    dv: int
    vth: int
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
        if np.any(self.v_reset) and self.mode != "zero":
            raise QuantizationError(f"{where(None, self.name, 'v_reset')}: a reset value needs reset mode 'zero', "
                                    f"this layer's is '{self.mode}'")
        if isinstance(self.burst, dict):
            try:
                object.__setattr__(self, "burst", BurstPlan(**self.burst))
            except (QuantizationError, ShapeError) as exc:
                raise type(exc)(f"layer '{self.name}': {exc}") from None
        object.__setattr__(self, "bias_mant", np.asarray(self.bias_mant, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "bias_exp", np.asarray(self.bias_exp, dtype=np.int64).reshape(-1))
        for pname, arr in (("bias_mant", self.bias_mant), ("bias_exp", self.bias_exp)):
            if arr.shape != (self.size,):
                raise ShapeError(f"{where(None, self.name, pname)}: shape {arr.shape} != ({self.size},)")
        _check_range(self.du, DU_RANGE, None, self.name, "du")
        if self.dv != DV_STATELESS:
            _check_range(self.dv, DV_RANGE, None, self.name, "dv")
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
        """Does Lava's own LIF run this layer (reset to zero at once, spiking, dv <= 4095)?"""
        return self.mode == "zero" and not np.any(self.v_reset) and self.dv != DV_STATELESS


@dataclass(frozen=True)
class ConnectionPlan:
    """One Lava ``Dense`` process: ``weights`` (n_target, n_source) as passed to ``Dense(weights=...)``."""

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

    def __post_init__(self):
        if self.port not in PORTS or self.carries not in CARRIES:
            raise ShapeError(f"{where(None, self.name, 'port/carries')}: {self.port!r}/{self.carries!r}; "
                             f"allowed {'|'.join(PORTS)} / {'|'.join(CARRIES)}")
        if self.input_range is not None:
            object.__setattr__(self, "input_range", tuple(int(i) for i in self.input_range))
        w = np.asarray(self.weights)
        if w.ndim != 2:
            raise ShapeError(f"{where(None, self.name, 'weights')}: expected 2-D, got shape {w.shape}")
        if not np.issubdtype(w.dtype, np.integer):
            if not np.all(np.isfinite(w)) or not np.array_equal(w, np.round(w)):
                raise QuantizationError(f"{where(None, self.name, 'weights')}: not all integers")
        object.__setattr__(self, "weights", w.astype(np.int64))
        _check_range(self.weights, WEIGHT_RANGE, None, self.name, "weights")
        _check_range(self.weight_exp, WEIGHT_EXP_RANGE, None, self.name, "weight_exp")
        _check_range(self.num_weight_bits, NUM_WEIGHT_BITS_RANGE, None, self.name, "num_weight_bits")


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
    teacher: BandTeacherPlan | None = None             # gates the teacher channels of the input

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
            if c.weights.shape != want:
                raise ShapeError(f"plan: connection '{c.name}' weights shape {c.weights.shape}, expected {want}")
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
            if t.layer not in order or t.down != t.up + 1 or not 0 <= t.up < self.input_size - 1:
                raise ShapeError(f"plan: teacher watches '{t.layer}' with channels up {t.up}, down {t.down}; needs a "
                                 f"layer and down = up + 1 < {self.input_size} (the input size)")
            for c in self.connections:
                lo, hi = c.input_range or (0, self.input_size)
                if c.source == self.input_name and lo < t.up + 2 and t.up < hi and (lo, hi) != (t.up, t.up + 2):
                    raise ShapeError(f"plan: connection '{c.name}' reads the teacher channels {t.up}, {t.down} with "
                                     f"input_range {c.input_range}; a connection fed by the teacher reads exactly "
                                     f"({t.up}, {t.up + 2})")
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
                "readout": any(not layer.spiking for layer in self.layers),
                "stateless": any(layer.dv == DV_STATELESS for layer in self.layers),
                "bursts": any(layer.burst is not None for layer in self.layers),
                "apical": any(c.port == "apical" for c in self.connections),
                "input_ranges": any(c.input_range is not None for c in self.connections),
                "teacher": self.teacher is not None,
                "learning": bool(self.learning)}
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
            "teacher": None if self.teacher is None else asdict(self.teacher),
        }

    @classmethod
    def from_dict(cls, d: dict, file: str | None = None) -> "Plan":
        if d.get("format") != PLAN_FORMAT:
            raise QuantizationError(f"{file or 'plan'}: not a neurolearn plan (format={d.get('format')!r})")
        if d.get("version") not in range(1, PLAN_VERSION + 1):
            raise QuantizationError(f"{file or 'plan'}: plan version {d.get('version')} unsupported "
                                    f"(this neurolearn reads versions 1..{PLAN_VERSION})")
        return cls(
            dt=float(d["dt"]),
            input_name=d["input"]["name"],
            input_size=int(d["input"]["size"]),
            layers=tuple(LayerPlan(**layer) for layer in d["layers"]),
            connections=tuple(ConnectionPlan(**c) for c in d["connections"]),
            outputs=tuple(d["outputs"]),
            source=d.get("source", ""),
            learning={name: Plasticity.from_dict(pl) for name, pl in d.get("learning", {}).items()},
            teacher=BandTeacherPlan(**d["teacher"]) if d.get("teacher") else None,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, file: str | None = None) -> "Plan":
        return cls.from_dict(json.loads(text), file=file)
