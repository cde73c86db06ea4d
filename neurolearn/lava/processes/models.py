"""ProcessModels of :class:`BurstLIF`: fixed point (bit-exact with ``neurolearn.sims.learning``) and float.

The soma is Lava's own LIF arithmetic (``AbstractPyLifModelFixed`` / ``AbstractPyLifModelFloat``); the
models add the apical dendrite, the burst draw, the running burst probability and the third factors.
"""
import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.neuron import LearningNeuronModelFixed, LearningNeuronModelFloat
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat

from neurolearn.ir.plan import PBAR_ONE, STATE_RANGE
from neurolearn.lava.processes.process import BandTeacher, BurstLIF
from neurolearn.ir.program import VALENCE_ZERO

PBAR_BITS = PBAR_ONE.bit_length() - 1   # fixed-point Pbar: 2**15 is probability 1


def _wrap32(x):
    """int64 -> int32 two's-complement wrap, kept as int64 (numpy's int32 arithmetic)."""
    return ((x + 2**31) & (2**32 - 1)) - 2**31


def _send(model, event, burst):
    """A BurstLIF model's outputs of this step: events (also as BAP), bursts, and its y1..y3."""
    model.s_out.send(event)
    model.s_out_bap.send(event)
    model.s_out_burst.send(burst)
    for port, y in ((model.s_out_y1, model.y1), (model.s_out_y2, model.y2), (model.s_out_y3, model.y3)):
        port.send(y)


@implements(proc=BurstLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBurstLIFModelFixed(LearningNeuronModelFixed, AbstractPyLifModelFixed):
    """Integers throughout; the soma is Lava's bit-accurate LIF (``PyLifModelBitAcc``)."""

    a_apical_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_out_burst: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)
    v_d: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    pbar: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    dv_d: int = LavaPyType(int, np.uint16, precision=12)
    burst_lut: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    lut_offset: int = LavaPyType(int, np.int32, precision=24)
    lut_shift: int = LavaPyType(int, np.int32, precision=5)
    burst_offset: float = LavaPyType(float, float)
    burst_slope: float = LavaPyType(float, float)
    pbar_shift: int = LavaPyType(int, np.int32, precision=4)
    valence_levels: int = LavaPyType(int, np.int32, precision=3)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.rng = np.random.default_rng(proc_params["seed"])

    def run_spk(self):
        a_in, a_apical = self.a_in.recv(), self.a_apical_in.recv()
        self.scale_bias()
        if not self.isthrscaled:
            self.effective_vth = np.left_shift(self.vth, self.vth_shift)
            self.isthrscaled = True
        self.subthr_dynamics(activation_in=a_in)
        event = self.v > self.effective_vth
        self.v[event] = 0
        # apical dendrite: the soma's decay (toward zero), input MSB-aligned as for u, saturated to 24 bits
        vd = np.int64(self.v_d) * (self.decay_unity - int(self.dv_d))
        vd = np.sign(vd) * np.right_shift(np.abs(vd), self.decay_shift)
        vd = _wrap32(vd + _wrap32(np.int64(a_apical) << self.act_shift))
        self.v_d[:] = np.clip(vd, *STATE_RANGE)
        idx = np.clip(((np.int64(self.v_d) - int(self.lut_offset)) >> int(self.lut_shift)) + 128, 0, 255)
        u = self.rng.random((2,) + self.v_d.shape)
        burst = event & (np.int64(u[0] * 256) < self.burst_lut[idx])
        valence = (np.int64(burst) << PBAR_BITS) - self.pbar
        q = (valence * int(self.valence_levels) + np.int64(u[1] * 2**PBAR_BITS)) >> PBAR_BITS
        self.y1[:] = VALENCE_ZERO + 8 * q
        self.y2[:] = (np.int64(self.pbar) * 127) >> PBAR_BITS
        self.y3[:] = 0
        p = np.int64(self.pbar[event])
        self.pbar[event] = p + (((np.int64(burst[event]) << PBAR_BITS) - p) >> int(self.pbar_shift))
        _send(self, event, burst)


@implements(proc=BurstLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBurstLIFModelFloat(LearningNeuronModelFloat, AbstractPyLifModelFloat):
    """Floats: du, dv, dv_d are per-step decay fractions, p = sigmoid((v_d - burst_offset) / burst_slope),
    pbar in [0, 1], the valence unrounded; the same generator as the fixed-point model."""

    a_apical_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out_burst: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)
    v_d: np.ndarray = LavaPyType(np.ndarray, float)
    pbar: np.ndarray = LavaPyType(np.ndarray, float)
    dv_d: float = LavaPyType(float, float)
    burst_lut: np.ndarray = LavaPyType(np.ndarray, float)
    lut_offset: float = LavaPyType(float, float)
    lut_shift: float = LavaPyType(float, float)
    burst_offset: float = LavaPyType(float, float)
    burst_slope: float = LavaPyType(float, float)
    pbar_shift: float = LavaPyType(float, float)
    valence_levels: float = LavaPyType(float, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.rng = np.random.default_rng(proc_params["seed"])

    def run_spk(self):
        a_in, a_apical = self.a_in.recv(), self.a_apical_in.recv()
        self.subthr_dynamics(activation_in=a_in)
        event = self.v > self.vth
        self.v[event] = 0
        self.v_d[:] = self.v_d * (1 - self.dv_d) + a_apical
        p = 1.0 / (1.0 + np.exp(-(self.v_d - self.burst_offset) / self.burst_slope))
        u = self.rng.random((2,) + self.v_d.shape)
        burst = event & (u[0] < p)
        self.y1[:] = VALENCE_ZERO + 8 * self.valence_levels * (burst - self.pbar)
        self.y2[:] = self.pbar * 127
        self.y3[:] = 0.0
        self.pbar[event] += (burst[event] - self.pbar[event]) * 2.0 ** -self.pbar_shift
        _send(self, event, burst)


@implements(proc=BandTeacher, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyBandTeacherModel(PyLoihiProcessModel):
    """Integer counting; the same for fixed and float runs."""

    s_request_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_watch_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    lo: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    hi: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    gate: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    asked: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)

    def run_spk(self):
        up, down = (np.asarray(self.s_request_in.recv()) != 0)
        events = int(np.count_nonzero(self.s_watch_in.recv()))
        if not (up or down):
            if self.asked[0]:
                self.count[0] = 0
            self.count[0] += events
        elif not self.asked[0]:
            self.gate[0] = (up and self.count[0] < self.hi[0]) or (down and self.count[0] > self.lo[0])
        self.asked[0] = up or down
        self.s_out.send(np.array([up, down], np.int32) * int(self.gate[0]))
