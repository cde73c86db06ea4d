"""ProcessModels of :class:`BurstLIF`: fixed point (bit-exact with ``neurolearn.sims.learning``) and float;
of :class:`NIRNeuron`: fixed point (bit-exact with ``neurolearn.sims.fixed``) and float; of :class:`BandTeacher`.

BurstLIF's soma is Lava's own LIF arithmetic (``AbstractPyLifModelFixed`` / ``AbstractPyLifModelFloat``); the
models add the apical dendrite, the burst draw, the running burst probability and the third factors.
NIRNeuron takes Lava's LIF ports and types and steps with :mod:`neurolearn.dynamics.lif`.
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

from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import (
    BurstStream,
    burst_float_step,
    burst_int_step,
    homeostatic_bias_float,
    homeostatic_bias_int,
    integer_draws,
)
from neurolearn.dynamics.class_teacher import class_teacher_step
from neurolearn.dynamics.lif import lif_float_step, lif_int_step
from neurolearn.ir.plan import PBAR_ONE
from neurolearn.lava.processes.process import BandTeacher, BurstLIF, ClassTeacher, NIRNeuron

# The dynamics are numba functions; these models call their Python form on numpy arrays (Lava's processes
# run in their own OS processes, where compiling them would only add start-up time).
_burst_int = burst_int_step.py_func
_burst_float = burst_float_step.py_func
_band_teacher = band_teacher_step.py_func
_class_teacher = class_teacher_step.py_func
_bias_int = homeostatic_bias_int.py_func
_bias_float = homeostatic_bias_float.py_func
_lif_int = lif_int_step.py_func
_VALENCE_VARS = ("valence_expected", "pbar_fixed", "rate_target", "rate_shift", "homeo_gain", "homeo_shift",
                 "homeo_cap", "dead_zone", "plateau_split", "valence_halving")


def _valence_shape(model, kind):
    """A BurstLIF model's valence constants in :func:`burst_int_step`'s order, as ``kind`` (int or float)."""
    return tuple(kind(getattr(model, var)) for var in _VALENCE_VARS)


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
    ebar: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    valence_expected: int = LavaPyType(int, np.int32, precision=1)
    pbar_fixed: int = LavaPyType(int, np.int32, precision=1)
    rate_target: int = LavaPyType(int, np.int32, precision=16)
    rate_shift: int = LavaPyType(int, np.int32, precision=4)
    homeo_gain: int = LavaPyType(int, np.int32, precision=8)
    homeo_shift: int = LavaPyType(int, np.int32, precision=4)
    homeo_cap: int = LavaPyType(int, np.int32, precision=3)
    dead_zone: int = LavaPyType(int, np.int32, precision=16)
    plateau_split: int = LavaPyType(int, np.int32, precision=1)
    valence_halving: int = LavaPyType(int, np.int32, precision=24)
    hb: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    bias_gain: int = LavaPyType(int, np.int32, precision=8)
    bias_shift: int = LavaPyType(int, np.int32, precision=5)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.stream = BurstStream(proc_params["seed"], proc_params["shape"][0])

    def run_spk(self):
        a_in, a_apical = self.a_in.recv(), self.a_apical_in.recv()
        self.scale_bias()
        self.effective_bias = np.int64(self.effective_bias) + (np.int64(self.hb) >> int(self.bias_shift))
        if not self.isthrscaled:
            self.effective_vth = np.left_shift(self.vth, self.vth_shift)
            self.isthrscaled = True
        self.subthr_dynamics(activation_in=a_in)   # the soma: Lava's own LIF
        event = self.v > self.effective_vth
        self.v[event] = 0
        r_burst, r_valence = integer_draws(self.stream.next())
        burst, self.v_d[:], self.pbar[:], self.ebar[:], self.y1[:], self.y2[:], self.y3[:] = _burst_int(
            event, np.int64(self.v_d), np.int64(self.pbar), np.int64(self.ebar), np.int64(a_apical),
            self.decay_unity - int(self.dv_d), np.int64(self.burst_lut), int(self.lut_offset), int(self.lut_shift),
            int(self.pbar_shift), int(self.valence_levels), r_burst, r_valence, _valence_shape(self, int),
            self.time_step - 1)
        if self.bias_gain:
            self.hb[:] = _bias_int(np.int64(self.hb), event, int(self.rate_target), int(self.bias_gain))
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
    ebar: np.ndarray = LavaPyType(np.ndarray, float)
    valence_expected: float = LavaPyType(float, float)
    pbar_fixed: float = LavaPyType(float, float)
    rate_target: float = LavaPyType(float, float)
    rate_shift: float = LavaPyType(float, float)
    homeo_gain: float = LavaPyType(float, float)
    homeo_shift: float = LavaPyType(float, float)
    homeo_cap: float = LavaPyType(float, float)
    dead_zone: float = LavaPyType(float, float)
    plateau_split: float = LavaPyType(float, float)
    valence_halving: float = LavaPyType(float, float)
    hb: np.ndarray = LavaPyType(np.ndarray, float)
    bias_gain: float = LavaPyType(float, float)
    bias_shift: float = LavaPyType(float, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.stream = BurstStream(proc_params["seed"], proc_params["shape"][0])

    def run_spk(self):
        a_in, a_apical = self.a_in.recv(), self.a_apical_in.recv()
        self.subthr_dynamics(activation_in=a_in)   # the soma: Lava's own LIF
        self.v[:] += self.hb                       # plus the homeostatic bias (v is linear in the bias)
        event = self.v > self.vth
        self.v[event] = 0
        burst, self.v_d[:], self.pbar[:], self.ebar[:], self.y1[:], self.y2[:], self.y3[:], _, _ = _burst_float(
            event, self.v_d, self.pbar, self.ebar, a_apical, 1 - self.dv_d, self.burst_offset, self.burst_slope,
            self.pbar_shift, self.valence_levels, self.stream.next()[0], _valence_shape(self, float),
            self.time_step - 1)
        self.hb[:] = _bias_float(self.hb, event, self.rate_target / PBAR_ONE, self.bias_gain)
        _send(self, event, burst)


@implements(proc=NIRNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNIRNeuronModelFixed(AbstractPyLifModelFixed):
    """Integers: Lava's LIF (``PyLifModelBitAcc``) in reset mode zero with v_reset 0; the other modes as
    :func:`~neurolearn.dynamics.lif.lif_int_step` says."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)   # per neuron
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=13)   # 4096: no voltage memory
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    v_reset: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    reset_mode: int = LavaPyType(int, np.int32, precision=3)

    def run_spk(self):
        a_in = self.a_in.recv()
        self.scale_bias()
        keep_u = self.decay_unity - (np.int64(self.du) + self.ds_offset)
        keep_v = self.decay_unity - (np.int64(self.dv) + self.dm_offset)
        s, u, v = _lif_int(np.int64(self.u), np.int64(self.v), np.int64(a_in), keep_u, keep_v,
                           np.int64(self.effective_bias), np.int64(self.vth) << self.vth_shift, np.int64(self.v_reset),
                           int(self.reset_mode))
        self.u[:], self.v[:] = u, v
        self.s_out.send(s)


@implements(proc=NIRNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyNIRNeuronModelFloat(AbstractPyLifModelFloat):
    """Floats: du, dv per-step decay fractions, bias_mant the bias, vth and v_reset in v's units."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    v_reset: np.ndarray = LavaPyType(np.ndarray, float)
    reset_mode: int = LavaPyType(int, int)

    def run_spk(self):
        a_in = self.a_in.recv()
        s, self.u[:], self.v[:] = lif_float_step(a_in, self.u, self.v, 1 - self.du, 1 - self.dv, self.bias_mant,
                                                 self.vth, self.v_reset, int(self.reset_mode))
        self.s_out.send(s)


class AbstractPyTeacherModel(PyLoihiProcessModel):
    """What the band and class teachers' models share (as Lava's LIF models share AbstractPyLifModelFixed): the
    request and watched ports, the gated requests out, the band and the count."""

    s_request_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_watch_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    lo: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    hi: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    asked: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)


@implements(proc=BandTeacher, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyBandTeacherModel(AbstractPyTeacherModel):
    """Integer counting; the same for fixed and float runs."""

    gate: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)

    def run_spk(self):
        up, down = (np.asarray(self.s_request_in.recv()) != 0)
        events = int(np.count_nonzero(self.s_watch_in.recv()))
        self.count[0], self.asked[0], self.gate[0] = _band_teacher(
            bool(up), bool(down), events, int(self.count[0]), bool(self.asked[0]), bool(self.gate[0]),
            int(self.lo[0]), int(self.hi[0]))
        self.s_out.send(np.array([up, down], np.int32) * int(self.gate[0]))


@implements(proc=ClassTeacher, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyClassTeacherModel(AbstractPyTeacherModel):
    """Integer counting; the same for fixed and float runs."""

    shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def run_spk(self):
        requests = np.asarray(self.s_request_in.recv()) != 0
        watch = np.asarray(self.s_watch_in.recv()) != 0
        events = watch.reshape(self.count.size, -1).sum(axis=1).astype(np.int64)
        count, gate = self.count.astype(np.int64), np.zeros(requests.size, bool)
        asked, steps = _class_teacher(requests, events, count, bool(self.asked[0]), int(self.steps[0]),
                                      int(self.hi[0]), int(self.lo[0]), int(self.shift[0]), gate)
        self.count[:], self.asked[0], self.steps[0] = count, asked, steps
        self.s_out.send(gate.astype(np.int32))
