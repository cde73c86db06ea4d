"""The linear nodes between two neuron populations, collapsed into one connection per (source, target).

A chain of Linear, Affine, Scale, Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d and Delay nodes (summed where
edges meet) is one linear map of the source's spikes plus a bias. Kept in the cheapest exact form:

* a dense matrix (Linear, Affine and anything composed with them), as Lava's ``Dense``;
* a convolution (:class:`ConvMap`: NIR's kernel and geometry), as Lava's ``Conv``; pooling is a depthwise
  convolution, and a convolution followed or preceded by pooling fuses into one convolution where the fused one
  computes the same matrix (checked entry by entry), else
* a ``scipy.sparse`` matrix, as Lava's ``Sparse``;
* Delay nodes add integer steps per source (before the first weight node) or per target (after the last one),
  so a synapse's delay is ``target delay + source delay`` (Lava's ``DelayDense``/``DelaySparse``).

Shapes follow NIR: a map (C, H, W) is numbered in C order; Flatten keeps the numbering.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import nir
import numpy as np
import scipy.sparse as sp

from neurolearn.errors import NIRFormatError, ShapeError, UnsupportedNodeError, where
from neurolearn.ir import plan as P
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.ir.network import Projection
from neurolearn.nir.connections import conv_geometry, delay_steps, pool_geometry

LINEAR_NODES = (nir.Linear, nir.Affine, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d, nir.SumPool2d,
                nir.AvgPool2d, nir.Delay)
SPARSE_DENSITY = 0.25   # a composed matrix with fewer nonzeros than this fraction runs as Lava's Sparse
GAIN_RTOL = 1e-12   # per-channel input gains this close are one gain (float rounding of r * dt / tau)
IDENTITY_DENSE_MAX = 4096   # identities (a neuron fed straight, or through Scale) up to this size stay dense


@dataclass(frozen=True)
class ConvMap:
    """A convolution: NIR's float kernel (C_out, C_in / groups, kH, kW) on ``geometry``."""

    geometry: ConvGeometry
    kernel: np.ndarray

    def matrix(self) -> sp.csr_matrix:
        """The (n_out, n_in) matrix it multiplies by (C-order maps)."""
        return conv_matrix(self.geometry, self.kernel)


@dataclass(frozen=True)
class Term:
    """What arrives from one source: ``op`` (None: the identity; a dense or sparse matrix; a ConvMap) applied to
    its spikes, each weight delayed by ``rows[i] + cols[j]`` steps (None: 0)."""

    n_in: int
    op: object = None
    rows: np.ndarray | None = None   # per target, added after the last weight node
    cols: np.ndarray | None = None   # per source, added before the first weight node

    @property
    def n_out(self) -> int:
        if self.op is None:
            return self.n_in
        return self.op.geometry.n_out if isinstance(self.op, ConvMap) else self.op.shape[0]


def conv_matrix(g: ConvGeometry, kernel: np.ndarray) -> sp.csr_matrix:
    """The (n_out, n_in) sparse matrix of a convolution (torch's cross-correlation, zero padding)."""
    c_out, c_grp, kh, kw = g.kernel_shape
    _, h_out, w_out = g.out_shape
    _, h, w = g.in_shape
    k, cl, p, q, yo, xo = np.ix_(np.arange(c_out), np.arange(c_grp), np.arange(kh), np.arange(kw),
                                 np.arange(h_out), np.arange(w_out))
    y = yo * g.stride[0] + p * g.dilation[0] - g.padding[0]
    x = xo * g.stride[1] + q * g.dilation[1] - g.padding[1]
    c = (k // (c_out // g.groups)) * c_grp + cl
    full = (c_out, c_grp, kh, kw, h_out, w_out)
    valid = np.broadcast_to((y >= 0) & (y < h) & (x >= 0) & (x < w), full)
    rows = np.broadcast_to((k * h_out + yo) * w_out + xo, full)[valid]
    cols = np.broadcast_to((c * h + y) * w + x, full)[valid]
    vals = np.broadcast_to(np.asarray(kernel, np.float64)[:, :, :, :, None, None], full)[valid]
    m = sp.csr_matrix((vals, (rows, cols)), shape=(g.n_out, g.n_in))
    m.eliminate_zeros()
    return m


def _depthwise(g: ConvGeometry) -> bool:
    return g.groups == g.in_shape[0] == g.out_channels


def _full_kernel(m: ConvMap) -> np.ndarray:
    """The kernel as (C_out, C_in, kH, kW), zeros between groups."""
    g = m.geometry
    c_out, c_grp = g.kernel_shape[:2]
    full = np.zeros((c_out, g.in_shape[0]) + g.kernel)
    k_grp = c_out // g.groups
    for k in range(c_out):
        c0 = (k // k_grp) * c_grp
        full[k, c0:c0 + c_grp] = m.kernel[k]
    return full


def fuse(first: ConvMap, second: ConvMap) -> ConvMap | None:
    """One convolution computing ``second`` after ``first`` (pooling around a convolution), or None where no
    single convolution with symmetric padding does. Checked against the product of their matrices."""
    g1, g2 = first.geometry, second.geometry
    if not (g1.groups == 1 or _depthwise(g1)) or not (g2.groups == 1 or _depthwise(g2)):
        return None
    k1, k2 = _full_kernel(first), _full_kernel(second)
    span = [(k2s - 1) * d2 * s1 + (k1s - 1) * d1 + 1 for k1s, k2s, s1, d1, d2 in
            zip(g1.kernel, g2.kernel, g1.stride, g1.dilation, g2.dilation)]
    fused = np.zeros((k2.shape[0], k1.shape[1]) + tuple(span))
    for p2 in range(g2.kernel[0]):
        for q2 in range(g2.kernel[1]):
            oy, ox = p2 * g2.dilation[0] * g1.stride[0], q2 * g2.dilation[1] * g1.stride[1]
            part = np.einsum("ab,bcpq->acpq", k2[:, :, p2, q2], k1)
            fused[:, :, oy:oy + (g1.kernel[0] - 1) * g1.dilation[0] + 1:g1.dilation[0],
                  ox:ox + (g1.kernel[1] - 1) * g1.dilation[1] + 1:g1.dilation[1]] += part
    both_depthwise = _depthwise(g1) and _depthwise(g2)
    try:
        geo = ConvGeometry(g1.in_shape, g2.out_channels, tuple(span),
                           stride=(g1.stride[0] * g2.stride[0], g1.stride[1] * g2.stride[1]),
                           padding=(g2.padding[0] * g1.stride[0] + g1.padding[0],
                                    g2.padding[1] * g1.stride[1] + g1.padding[1]),
                           groups=g1.in_shape[0] if both_depthwise else 1)
    except ShapeError:
        return None
    if geo.out_shape != g2.out_shape:
        return None
    kernel = np.stack([fused[c, c:c + 1] for c in range(fused.shape[0])]) if both_depthwise else fused
    candidate = ConvMap(geo, kernel)
    want = second.matrix() @ first.matrix()
    diff = abs(candidate.matrix() - want)
    scale = max(abs(want).max(), 1e-300)
    return candidate if diff.nnz == 0 or diff.max() <= 1e-12 * scale else None


def _matrix(t: Term):
    """The term's op as a dense ndarray or a csr matrix."""
    if t.op is None:
        return np.eye(t.n_in) if t.n_in <= IDENTITY_DENSE_MAX else sp.identity(t.n_in, format="csr")
    return t.op.matrix() if isinstance(t.op, ConvMap) else t.op


def _product(a, b):
    """a @ b for dense or sparse operands: dense if either is dense."""
    if sp.issparse(a) and sp.issparse(b):
        return (a @ b).tocsr()
    if sp.issparse(a):
        return np.asarray(a @ b)
    if sp.issparse(b):
        return np.asarray((b.T @ a.T).T)
    return a @ b


class ChainCollapser:
    """Collapses chains of linear nodes into ({source: Term}, bias) per node input (NIR ``graph`` flat)."""

    def __init__(self, graph: nir.NIRGraph, sources: tuple, dt: float, file=None):
        self.nodes, self.sources, self.dt, self.file = graph.nodes, sources, dt, file
        self.preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
        for a, b in graph.edges:
            self.preds[b].append(a)
        self._shapes: dict[str, tuple] = {}
        self.notes: list[str] = []   # how nodes became connections, for the report

    # ---- shapes --------------------------------------------------------------------------------------
    def shape(self, name: str, visiting=()) -> tuple:
        """The shape of ``name``'s output (NIR's types where recorded, else from its input)."""
        if name not in self._shapes:
            self._shapes[name] = self._shape(name, visiting + (name,))
        return self._shapes[name]

    def _shape(self, name: str, visiting) -> tuple:
        node = self.nodes[name]
        if isinstance(node, (nir.Linear, nir.Affine)):
            return (np.asarray(node.weight).shape[0],)
        if isinstance(node, nir.Scale):
            return tuple(np.shape(node.scale))
        if isinstance(node, nir.Delay):
            return tuple(np.shape(node.delay))
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            g = conv_geometry(node, name, self.in_shape(name, visiting), self.file)[0]
            return g.out_shape if isinstance(node, nir.Conv2d) else (g.out_shape[0], g.out_shape[2])
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            return pool_geometry(node, name, self.in_shape(name, visiting), self.file)[0].out_shape
        if isinstance(node, nir.Flatten):
            return (int(np.prod(self.in_shape(name, visiting))),)
        types = node.output_type if isinstance(node, nir.Output) else node.input_type
        value = next(iter((types or {}).values()), None)
        if value is not None:
            return tuple(int(s) for s in np.atleast_1d(value))
        if isinstance(node, nir.Output):
            return self.in_shape(name, visiting)
        return tuple(np.shape(node.r))

    def set_shape(self, name: str, shape) -> tuple:
        """Fix ``name``'s output shape (a neuron node whose parameters are one value for all its neurons)."""
        self._shapes[name] = tuple(int(k) for k in shape)
        return self._shapes[name]

    def in_shape(self, name: str, visiting=()) -> tuple | None:
        """The shape arriving at ``name`` (its first input's output; None if it is on a cycle)."""
        preds = [p for p in self.preds[name] if p not in visiting]
        return self.shape(preds[0], visiting) if preds else None

    def size(self, name: str) -> int:
        return int(np.prod(self.shape(name)))

    # ---- terms ---------------------------------------------------------------------------------------
    def terms(self, name: str, visiting=()):
        """The value at ``name``'s output as ({source: Term}, bias) over the graph input and neuron nodes."""
        node = self.nodes[name]
        if name in self.sources:
            return {name: Term(self.size(name))}, np.zeros(self.size(name))
        if name in visiting:
            raise NIRFormatError(f"{where(self.file, name)}: a cycle through linear nodes only "
                                 f"({' -> '.join(visiting + (name,))}) has no neuron to delay it")
        total, bias = self.inputs_of(name, visiting + (name,))
        if isinstance(node, (nir.Flatten, nir.Output)):
            return total, bias
        return {src: self._then(name, node, t) for src, t in total.items()}, self._bias(name, node, bias)

    def inputs_of(self, name: str, visiting=()):
        """The sum of everything arriving at ``name``'s input, as ({source: Term}, bias)."""
        if not self.preds[name]:
            raise ShapeError(f"{where(self.file, name)}: has no input edge")
        total, bias = {}, None
        for pred in self.preds[name]:
            t, b = self.terms(pred, visiting)
            if bias is not None and b.size != bias.size:
                raise ShapeError(f"{where(self.file, name)}: input from '{pred}' has size {b.size}, "
                                 f"expected {bias.size}")
            bias = b if bias is None else bias + b
            for src, term in t.items():
                total[src] = self._sum(name, total[src], term) if src in total else term
        return total, bias

    def _sum(self, name: str, a: Term, b: Term) -> Term:
        """Two paths from one source into ``name``."""
        for what in ("rows", "cols"):
            da, db = getattr(a, what), getattr(b, what)
            if not np.array_equal(np.zeros(0) if da is None else da, np.zeros(0) if db is None else db):
                raise UnsupportedNodeError(f"{where(self.file, name)}: two paths from one source arrive with "
                                           "different Delays; neurolearn compiles one delay per synapse")
        if isinstance(a.op, ConvMap) and isinstance(b.op, ConvMap) and a.op.geometry == b.op.geometry:
            return replace(a, op=ConvMap(a.op.geometry, a.op.kernel + b.op.kernel))
        ma, mb = _matrix(a), _matrix(b)
        both_sparse = sp.issparse(ma) and sp.issparse(mb)
        return replace(a, op=(ma + mb).tocsr() if both_sparse else np.asarray(ma + mb))

    def _then(self, name: str, node, t: Term) -> Term:
        """``t`` followed by the linear node ``name``."""
        if isinstance(node, nir.Delay):
            steps, err = delay_steps(node, name, self.dt, self.file)
            if err > 1e-9 * self.dt:
                self._note(f"`{name}`: Delay rounded to whole steps of dt = {self.dt:g} s (up to {err:g} s off)")
            steps = np.broadcast_to(steps.reshape(-1), (t.n_out,))
            if t.op is None:
                return replace(t, cols=steps if t.cols is None else t.cols + steps)
            return replace(t, rows=steps if t.rows is None else t.rows + steps)
        if t.rows is not None and np.any(t.rows):
            raise UnsupportedNodeError(f"{where(self.file, name)}: follows a Delay that follows another weight node; "
                                       "Lava delays per synapse: put Delays before the first or after the last "
                                       "weight node between two neuron layers")
        if isinstance(node, (nir.Linear, nir.Affine)):
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2:
                raise ShapeError(f"{where(self.file, name, 'weight')}: expected 2-D, got shape {w.shape}")
            if w.shape[1] != t.n_out:
                raise ShapeError(f"{where(self.file, name)}: input has size {t.n_out}, expected {w.shape[1]}")
            return replace(t, op=w if t.op is None else _product(w, _matrix(t)))
        if isinstance(node, nir.Scale):
            s = np.asarray(node.scale, dtype=np.float64).reshape(-1)
            return replace(t, op=self._scaled(t, s))
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            conv = ConvMap(*conv_geometry(node, name, self.in_shape(name), self.file)[:2])
        else:
            conv = ConvMap(*pool_geometry(node, name, self.in_shape(name), self.file))
            if isinstance(node, nir.AvgPool2d):
                k = conv.geometry.kernel
                self._note(f"`{name}`: AvgPool2d as a convolution of fixed weight 1/{k[0] * k[1]} per input (windows "
                           "over the padding count whole); rounded with its connection's weights (Conversions)")
        if conv.geometry.n_in != t.n_out:
            raise ShapeError(f"{where(self.file, name)}: input has size {t.n_out}, expected {conv.geometry.n_in}")
        if t.op is None:
            return replace(t, op=conv)
        if isinstance(t.op, ConvMap):
            fused = fuse(t.op, conv)
            if fused is not None:
                g = fused.geometry
                self._note(f"`{name}`: fused with the convolution before it into one convolution (kernel {g.kernel}, "
                           f"stride {g.stride}, padding {g.padding}, groups {g.groups})")
                return replace(t, op=fused)
            self._note(f"`{name}`: no single convolution computes it after the one before it: composed as a matrix")
        return replace(t, op=_product(conv.matrix(), _matrix(t)))

    def _note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    def _scaled(self, t: Term, s: np.ndarray):
        """diag(s) @ t.op; per-channel constant scales keep a convolution."""
        if s.size != t.n_out:
            raise ShapeError(f"scale of size {s.size} on an input of size {t.n_out}")
        if isinstance(t.op, ConvMap):
            per = s.reshape(t.op.geometry.out_shape[0], -1)
            if np.all(per == per[:, :1]):
                return ConvMap(t.op.geometry, t.op.kernel * per[:, 0, None, None, None])
        m = _matrix(t)
        if t.op is None and not sp.issparse(m):
            return np.diag(s)
        return (sp.diags(s) @ m).tocsr() if sp.issparse(m) else np.diag(s) @ m

    def _bias(self, name: str, node, bias: np.ndarray) -> np.ndarray:
        """The bias after the linear node ``name``."""
        if isinstance(node, nir.Delay):
            if np.any(bias) and np.any(delay_steps(node, name, self.dt, self.file)[0]):
                raise UnsupportedNodeError(f"{where(self.file, name)}: delays a bias; Lava adds biases from the "
                                           "first step on: put the Delay before the node with the bias")
            return bias
        if isinstance(node, (nir.Linear, nir.Affine)):
            w = np.asarray(node.weight, dtype=np.float64)
            b = np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else np.zeros(w.shape[0])
            return w @ bias + b.reshape(-1)
        if isinstance(node, nir.Scale):
            return np.asarray(node.scale, dtype=np.float64).reshape(-1) * bias
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            geo, kernel, b = conv_geometry(node, name, self.in_shape(name), self.file)
        else:
            (geo, kernel), b = pool_geometry(node, name, self.in_shape(name), self.file), None
        out = conv_matrix(geo, kernel) @ bias if np.any(bias) else np.zeros(geo.n_out)
        return out if b is None else out + np.repeat(b, geo.n_out // geo.out_channels)


def projection(name: str, source: str, target: str, t: Term, gain: np.ndarray, recurrent: bool) -> Projection:
    """The float Projection of term ``t`` with the target's per-neuron input ``gain`` folded in: a convolution
    where it stays one (no delays, gain constant per channel up to float rounding, GAIN_RTOL: NIR's r * dt / tau is
    1 only to a few ulps where each neuron has its own tau), a sparse matrix where one is sparse enough, else
    dense."""
    if isinstance(t.op, ConvMap) and t.rows is None and t.cols is None:
        per = np.broadcast_to(gain, (t.n_out,)).reshape(t.op.geometry.out_channels, -1)
        if np.allclose(per, per[:, :1], rtol=GAIN_RTOL, atol=0):
            return Projection(name, source, target, t.op.kernel * per[:, 0, None, None, None], recurrent,
                              conv=t.op.geometry)
    m = _matrix(t)
    if sp.issparse(m):
        m = (sp.diags(np.broadcast_to(gain, (m.shape[0],))) @ m).tocsr()
        m.eliminate_zeros()
        m.sort_indices()
        if m.nnz >= SPARSE_DENSITY * m.shape[0] * m.shape[1]:
            m = m.toarray()
    else:
        m = gain[:, None] * m
    rows = np.zeros(m.shape[0], np.int64) if t.rows is None else t.rows
    cols = np.zeros(m.shape[1], np.int64) if t.cols is None else t.cols
    delayed = t.rows is not None or t.cols is not None
    if sp.issparse(m):
        coo = m.tocoo()
        layout = SparseLayout(m.shape, coo.row, coo.col)
        delays = rows[coo.row] + cols[coo.col] if delayed else None
        return Projection(name, source, target, coo.data, recurrent, sparse=layout, delays=delays)
    return Projection(name, source, target, m, recurrent, delays=np.add.outer(rows, cols) if delayed else None)


def peak_fan_in(pr: Projection | P.ConnectionPlan, weights: np.ndarray) -> int:
    """The largest sum of |weights| onto one target neuron (``weights`` laid out as ``pr``'s: a projection's or
    a plan's connection)."""
    w = np.abs(np.asarray(weights, dtype=np.float64))
    if pr.conv is not None:
        return int(w.reshape(w.shape[0], -1).sum(axis=1).max(initial=0))
    if pr.sparse is not None:
        return int(np.bincount(pr.sparse.rows, w, minlength=pr.sparse.shape[0]).max(initial=0))
    return int(w.sum(axis=1).max(initial=0))
