"""The quantization plan: the exact integers each Lava process is given.

A plan is data (frozen dataclasses, validated on construction) and round-trips through
``plan.json``. Anyone can rebuild the same Lava graph from it by hand: see docs/plan-format.md.

Ranges are those of Lava 0.10.0's bit-accurate models (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from neurolearn.errors import QuantizationError, ShapeError, where

PLAN_FORMAT = "neurolearn-plan"
PLAN_VERSION = 1

# Legal ranges, inclusive (Lava LavaPyType precisions; weight_exp as on Loihi).
DU_RANGE = (0, 4095)            # 12-bit current decay; Lava adds 1 (ds_offset)
DV_RANGE = (0, 4095)            # 12-bit voltage decay
VTH_RANGE = (0, 2**17 - 1)      # 17-bit threshold mantissa, used as vth << 6
BIAS_MANT_RANGE = (-(2**12), 2**12 - 1)   # 13-bit signed
BIAS_EXP_RANGE = (0, 7)         # 3-bit
WEIGHT_RANGE = (-256, 255)      # 8-bit magnitude + sign; Lava clips anything else
WEIGHT_EXP_RANGE = (-8, 7)
NUM_WEIGHT_BITS_RANGE = (1, 8)
STATE_BITS = 24                 # u and v are 24-bit signed


def _check_range(value, rng, file, node, param):
    arr = np.asarray(value)
    lo, hi = rng
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr.min() if arr.min() < lo else arr.max()
        raise QuantizationError(f"{where(file, node, param)} = {int(bad)} outside [{lo}, {hi}]")


@dataclass(frozen=True)
class LayerPlan:
    """One Lava ``LIF`` process. ``scale``: integer units of u and v per float unit (v_int = v * scale)."""

    name: str
    size: int
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray = field(repr=False)  # (size,) int
    bias_exp: np.ndarray = field(repr=False)   # (size,) int
    scale: float = 1.0
    spiking: bool = True

    def __post_init__(self):
        object.__setattr__(self, "bias_mant", np.asarray(self.bias_mant, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "bias_exp", np.asarray(self.bias_exp, dtype=np.int64).reshape(-1))
        for pname, arr in (("bias_mant", self.bias_mant), ("bias_exp", self.bias_exp)):
            if arr.shape != (self.size,):
                raise ShapeError(f"{where(None, self.name, pname)}: shape {arr.shape} != ({self.size},)")
        _check_range(self.du, DU_RANGE, None, self.name, "du")
        _check_range(self.dv, DV_RANGE, None, self.name, "dv")
        _check_range(self.vth, VTH_RANGE, None, self.name, "vth")
        _check_range(self.bias_mant, BIAS_MANT_RANGE, None, self.name, "bias_mant")
        _check_range(self.bias_exp, BIAS_EXP_RANGE, None, self.name, "bias_exp")

    @property
    def bias(self) -> np.ndarray:
        """Effective per-step bias added to v, as Lava computes it: bias_mant << bias_exp."""
        return self.bias_mant << self.bias_exp


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

    def __post_init__(self):
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
class Plan:
    """A whole network in Lava's integers, plus what the report needs to map values back to floats."""

    dt: float
    input_name: str
    input_size: int
    layers: tuple[LayerPlan, ...]
    connections: tuple[ConnectionPlan, ...]
    outputs: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        sizes = {self.input_name: self.input_size}
        for layer in self.layers:
            if layer.name in sizes:
                raise ShapeError(f"plan: duplicate layer name '{layer.name}'")
            sizes[layer.name] = layer.size
        for c in self.connections:
            for end in (c.source, c.target):
                if end not in sizes:
                    raise ShapeError(f"plan: connection '{c.name}' refers to unknown '{end}'")
            if c.target == self.input_name:
                raise ShapeError(f"plan: connection '{c.name}' targets the input")
            want = (sizes[c.target], sizes[c.source])
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
            d = asdict(obj)
            for k, v in d.items():
                if isinstance(v, np.ndarray):
                    d[k] = v.tolist()
            return d

        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "dt": self.dt,
            "source": self.source,
            "input": {"name": self.input_name, "size": self.input_size},
            "layers": [conv(layer) for layer in self.layers],
            "connections": [conv(c) for c in self.connections],
            "outputs": list(self.outputs),
        }

    @classmethod
    def from_dict(cls, d: dict, file: str | None = None) -> "Plan":
        if d.get("format") != PLAN_FORMAT:
            raise QuantizationError(f"{file or 'plan'}: not a neurolearn plan (format={d.get('format')!r})")
        if d.get("version") != PLAN_VERSION:
            raise QuantizationError(f"{file or 'plan'}: plan version {d.get('version')} unsupported "
                                    f"(this neurolearn reads version {PLAN_VERSION})")
        return cls(
            dt=float(d["dt"]),
            input_name=d["input"]["name"],
            input_size=int(d["input"]["size"]),
            layers=tuple(LayerPlan(**layer) for layer in d["layers"]),
            connections=tuple(ConnectionPlan(**c) for c in d["connections"]),
            outputs=tuple(d["outputs"]),
            source=d.get("source", ""),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, file: str | None = None) -> "Plan":
        return cls.from_dict(json.loads(text), file=file)
