"""The discretized float network: what a NIR graph means once dt is fixed.

Every backend runs this one model, each in its own number format:

    in_p[t] = sum_feedforward W x_src[t] + sum_recurrent W s_src[t-1]
    u[t]    = alpha * u[t-1] + in_p[t] + input_bias (alpha = 0: u holds this step's input only)
    v[t]    = beta  * v[t-1] + u[t] + bias
    s[t]    = v[t] > threshold ;  v[t] = v_reset where s[t]   (NIR's reset; Lava's LIF: v_reset = 0)

or another reset mode (``reset``, ``reset_delay``: see :data:`neurolearn.ir.plan.RESET_MODES`); ``alpha``,
``beta``, ``threshold``, ``v_reset`` scalars or one per neuron.

This is snntorch's discretization of ``Leaky``/``Synaptic``/``RLeaky`` (forward Euler, input
gain folded into W). ``W x`` is a matrix product, a convolution or a sparse matrix product; a projection with
``delays`` reads ``x_src[t - delay]`` per weight (NIR Delay nodes, in steps).
Units: ``alpha``/``beta`` are per-step keep factors in [0, 1]; ``u``, ``v``,
``bias``, ``threshold`` share the NIR graph's voltage unit; ``dt`` is in seconds.
Lava adds one step of delay per Dense: the fixed-point backends see a layer at graph depth k
``k`` steps later (see :func:`Network.depths`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurolearn.errors import QuantizationError, ShapeError, UnsupportedNodeError
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.ir.plan import RESETS, reset_mode

NEURON_KINDS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold")


@dataclass(frozen=True)
class Population:
    """One NIR neuron node. ``alpha``, ``beta``, ``threshold`` may differ from neuron to neuron (given as a
    scalar or one per neuron, stored as (size,) float64 arrays): the quantizer groups and folds them into Lava
    processes."""

    name: str
    kind: str
    size: int
    alpha: np.ndarray = field(repr=False)      # (size,) current keep factor per step
    beta: np.ndarray = field(repr=False)       # (size,) voltage keep factor per step
    threshold: np.ndarray | None = field(repr=False)  # (size,); None: non-spiking (LI, CubaLI, I)
    bias: np.ndarray = field(repr=False)  # (size,) added to v every step
    input_bias: np.ndarray | None = field(default=None, repr=False)  # (size,) added to the input (Affine bias)
    reset: str = "zero"                   # RESETS
    reset_delay: bool = False             # the reset lands one step late (snntorch)
    v_reset: np.ndarray | None = field(default=None, repr=False)   # (size,) v after a spike (reset 'zero')

    def __post_init__(self):
        if self.kind not in NEURON_KINDS:
            raise UnsupportedNodeError(f"population '{self.name}': kind {self.kind!r} not in {NEURON_KINDS}")
        if self.size < 1:
            raise ShapeError(f"population '{self.name}': size {self.size} < 1")
        if self.reset not in RESETS:
            raise UnsupportedNodeError(f"population '{self.name}': reset {self.reset!r} not in {RESETS}")
        if self.v_reset is None:
            object.__setattr__(self, "v_reset", np.zeros(self.size))
        if self.input_bias is None:
            object.__setattr__(self, "input_bias", np.zeros(self.size))
        for pname in ("alpha", "beta", "threshold", "v_reset"):
            val = getattr(self, pname)
            if val is not None:
                try:
                    object.__setattr__(self, pname, np.broadcast_to(np.asarray(val, np.float64).reshape(-1),
                                                                    (self.size,)).copy())
                except ValueError:
                    raise ShapeError(f"population '{self.name}': {pname} shape {np.shape(val)}, expected a scalar "
                                     f"or ({self.size},)") from None
        for pname in ("alpha", "beta"):
            val = getattr(self, pname)
            if not np.all((val >= 0.0) & (val <= 1.0)):
                bad = val[~((val >= 0.0) & (val <= 1.0))][0]
                raise QuantizationError(f"population '{self.name}': {pname} = {bad} outside [0, 1]")
        for pname in ("bias", "input_bias", "v_reset"):
            if np.shape(getattr(self, pname)) != (self.size,):
                raise ShapeError(f"population '{self.name}': {pname} shape {np.shape(getattr(self, pname))} "
                                 f"!= ({self.size},)")

    @property
    def spiking(self) -> bool:
        return self.threshold is not None

    @property
    def mode(self) -> str:
        """Its entry of :data:`neurolearn.ir.plan.RESET_MODES`."""
        return reset_mode(self.reset, self.reset_delay, self.spiking)


@dataclass(frozen=True)
class Projection:
    """Weights from a source (the input or a population) onto a target population, gains folded in: a
    (n_target, n_source) matrix; with ``conv`` the kernel (C_out, C_in / groups, kH, kW) of a convolution; with
    ``sparse`` the values stored at its positions. ``delays``: integer steps >= 0 shaped like ``weight``."""

    name: str
    source: str
    target: str
    weight: np.ndarray = field(repr=False)
    recurrent: bool = False  # a back edge: reads the source's spikes of the previous step
    conv: ConvGeometry | None = None
    sparse: SparseLayout | None = None
    delays: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        want = self.conv.kernel_shape if self.conv else (self.sparse.nnz,) if self.sparse else None
        if (want is None and np.ndim(self.weight) != 2) or (want is not None and np.shape(self.weight) != want):
            raise ShapeError(f"projection '{self.name}': weight shape {np.shape(self.weight)}, expected "
                             f"{want or '(n_target, n_source)'}")
        if self.delays is not None:
            d = np.asarray(self.delays)
            if self.conv is not None or d.shape != np.shape(self.weight) or not np.issubdtype(d.dtype, np.integer) \
                    or d.min(initial=0) < 0:
                raise ShapeError(f"projection '{self.name}': delays must be integer steps >= 0 shaped like the weights "
                                 f"{np.shape(self.weight)} (a convolution has none)")

    @property
    def shape(self) -> tuple[int, int]:
        """(n_target, n_source)."""
        if self.conv is not None:
            return (self.conv.n_out, self.conv.n_in)
        return self.sparse.shape if self.sparse is not None else tuple(self.weight.shape)


@dataclass(frozen=True)
class Network:
    """A layered spiking network with one input, in topological order of its feedforward edges."""

    dt: float
    input_name: str
    input_size: int
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    outputs: tuple[str, ...]
    pending: tuple[str, ...] = ()  # parts of the graph not compiled yet (e.g. burst dendrites), one line each
    notes: tuple[str, ...] = ()    # how nodes became connections (pooling, fusion, rounded delays), one line each

    def __post_init__(self):
        sizes = {self.input_name: self.input_size}
        for p in self.populations:
            sizes[p.name] = p.size
        for pr in self.projections:
            for end in (pr.source, pr.target):
                if end not in sizes:
                    raise ShapeError(f"projection '{pr.name}': unknown end '{end}'")
            want = (sizes[pr.target], sizes[pr.source])
            if pr.shape != want:
                raise ShapeError(
                    f"projection '{pr.name}' ({pr.source} -> {pr.target}): weight shape {pr.shape}, "
                    f"expected {want}")
        for o in self.outputs:
            if o not in sizes or o == self.input_name:
                raise ShapeError(f"output '{o}' is not a population")

    def population(self, name: str) -> Population:
        return next(p for p in self.populations if p.name == name)

    def incoming(self, name: str) -> list[Projection]:
        return [pr for pr in self.projections if pr.target == name]

    def depths(self) -> dict[str, int]:
        """Feedforward hops from the input to each population (its lag in the fixed-point backends).

        Raises ShapeError if two feedforward paths of different length reach one population:
        the one-step-per-Dense delay would then change what the network computes.
        """
        depth = {self.input_name: 0}
        for p in self.populations:
            ds = {depth[pr.source] + 1 for pr in self.incoming(p.name) if not pr.recurrent}
            if len(ds) > 1:
                raise ShapeError(
                    f"population '{p.name}' is reached by feedforward paths of lengths {sorted(ds)}; "
                    "Lava delays each Dense by one step, so skip connections change timing")
            depth[p.name] = ds.pop() if ds else 1
        return depth
