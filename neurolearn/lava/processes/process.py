"""neurolearn's own Lava Processes: ``BurstLIF``, the two-compartment burst neuron (Payeur et al. 2021);
``NIRNeuron``, Lava's LIF with the reset modes, readouts and memoryless voltage NIR and snntorch need;
``BandTeacher``.

A Process only declares ports and variables; the arithmetic lives in the ProcessModels of
``models.py`` beside it (fixed point: tag ``fixed_pt``, bit-exact with neurolearn's simulator; float:
tag ``floating_pt``). Lava imports every ``.py`` file of this folder when it looks for models, so the
folder holds nothing else and nothing here runs at import time.

Ports: ``a_in`` basal (feedforward) input to the soma, ``a_apical_in`` feedback into the apical
dendrite, ``s_out`` events, ``s_out_burst`` bursts (a subset of the events), and Lava's learning ports
``s_out_bap`` (= events) and ``s_out_y1..3`` (third factors for a ``LearningDense`` with a
``Loihi3FLearningRule``: y1 = 64 + 8 q, q the valence (B - Pbar, or p - Pbar, plus the homeostasis) in steps
of 1/``valence_levels``, y2 = Pbar in 1/127, y3 = 0; with ``plateau_split`` y2 = max(q, 0), y3 = max(-q, 0)).

``ClassTeacher`` passes each class's teacher requests by its output population's running rate.
"""
import typing as ty

import numpy as np
from lava.magma.core.process.neuron import LearningNeuronProcess
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from neurolearn.ir.plan import LUT_SIZE


class BurstLIF(LearningNeuronProcess, AbstractProcess):
    """Soma: Lava's CUBA LIF (``u``, ``v``; ``du``, ``dv``, ``vth``, ``bias_mant``, ``bias_exp``), reset to 0.
    Apical dendrite ``v_d``, leak ``dv_d``. An event bursts with probability p(v_d): the fixed-point
    model reads ``burst_lut[clip(((v_d - lut_offset) >> lut_shift) + 128, 0, 255)] / 256``, the float
    model ``sigmoid((v_d - burst_offset) / burst_slope)``. ``pbar``: running burst probability per event,
    ``pbar += (burst - pbar) * 2**-pbar_shift`` (fixed point: ``pbar_one`` = 2**15 is probability 1).
    ``seed``: the generator (``numpy.random.default_rng(seed)``; per step two uniforms per neuron: the
    burst draw, then the valence's stochastic rounding). ``ebar``: the event rate (``rate_shift`` extra bits);
    ``valence_expected``, ``pbar_fixed``, ``rate_target``, ``homeo_gain``, ``homeo_shift``, ``homeo_cap``,
    ``dead_zone``, ``plateau_split``, ``valence_halving``: the valence, what y2, y3 carry and its halving
    (:class:`neurolearn.ir.plan.BurstPlan`; the halving counts Lava's time steps from the first).
    ``hb``: the homeostatic bias
    (``bias_gain`` > 0: ``hb += bias_gain * (rate_target - (event << 15))``, the soma adds ``hb >> bias_shift``;
    float: ``hb += bias_gain * (rate_target / 2**15 - event)``, added as it is).
    Units as in Lava's LIF: integers for fixed point, per-step fractions for float.
    """

    def __init__(self, *, shape: ty.Tuple[int, ...], du=0, dv=0, dv_d=0, vth=10, bias_mant=0, bias_exp=0,
                 burst_lut=None, lut_offset=0, lut_shift=0, burst_offset=0.0, burst_slope=1.0,
                 pbar_init=0, pbar_shift=5, valence_levels=4, seed=0, valence_expected=0, pbar_fixed=0,
                 rate_target=0, rate_shift=10, homeo_gain=0, homeo_shift=0, homeo_cap=0, dead_zone=0,
                 ebar_init=0, bias_gain=0, bias_shift=0, plateau_split=0, valence_halving=0,
                 name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None):
        super().__init__(shape=shape, learning_rule=None, seed=seed, name=name, log_config=log_config)
        self.a_in = InPort(shape=shape)
        self.a_apical_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.s_out_burst = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.v_d = Var(shape=shape, init=0)
        self.pbar = Var(shape=shape, init=pbar_init)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.dv_d = Var(shape=(1,), init=dv_d)
        self.vth = Var(shape=(1,), init=vth)
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.bias_exp = Var(shape=shape, init=bias_exp)
        self.burst_lut = Var(shape=(LUT_SIZE,), init=np.zeros(LUT_SIZE) if burst_lut is None else burst_lut)
        self.lut_offset = Var(shape=(1,), init=lut_offset)
        self.lut_shift = Var(shape=(1,), init=lut_shift)
        self.burst_offset = Var(shape=(1,), init=burst_offset)
        self.burst_slope = Var(shape=(1,), init=burst_slope)
        self.pbar_shift = Var(shape=(1,), init=pbar_shift)
        self.valence_levels = Var(shape=(1,), init=valence_levels)
        self.ebar = Var(shape=shape, init=ebar_init)
        self.hb = Var(shape=shape, init=0)
        for var, init in (("valence_expected", valence_expected), ("pbar_fixed", pbar_fixed),
                          ("rate_target", rate_target), ("rate_shift", rate_shift), ("homeo_gain", homeo_gain),
                          ("homeo_shift", homeo_shift), ("homeo_cap", homeo_cap), ("dead_zone", dead_zone),
                          ("bias_gain", bias_gain), ("bias_shift", bias_shift), ("plateau_split", plateau_split),
                          ("valence_halving", valence_halving)):
            setattr(self, var, Var(shape=(1,), init=init))


class NIRNeuron(AbstractProcess):
    """Lava's CUBA LIF (``u``, ``v``; ``du``, ``dv``, ``vth``, ``bias_mant``, ``bias_exp``, the same units and
    arithmetic) with a reset mode (``reset_mode``, an index of ``neurolearn.ir.plan.RESET_MODES``: zero,
    subtract, subtract_late, zero_late, none), per-neuron ``v_reset`` (v after a spike in mode zero) and start
    voltage ``v`` (as Lava's LIF's argument). ``du``, ``dv``, ``vth``: one value or one per neuron; ``dv`` may be
    4096 (fixed point) or 1 (float): v keeps nothing between steps. Mode none never spikes: its ``v`` is the
    output. The arithmetic is :func:`neurolearn.dynamics.lif.lif_int_step` / ``lif_float_step``."""

    def __init__(self, *, shape: ty.Tuple[int, ...], du=0, dv=0, vth=10, bias_mant=0, bias_exp=0, v_reset=0,
                 reset_mode=0, v=0, name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None):
        super().__init__(shape=shape, name=name, log_config=log_config)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=v)
        self.du = Var(shape=shape, init=np.broadcast_to(du, shape).copy())   # per neuron, unlike Lava's LIF
        self.dv = Var(shape=shape, init=np.broadcast_to(dv, shape).copy())
        self.vth = Var(shape=shape, init=np.broadcast_to(vth, shape).copy())
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.bias_exp = Var(shape=shape, init=bias_exp)
        self.v_reset = Var(shape=shape, init=v_reset)
        self.reset_mode = Var(shape=(1,), init=reset_mode)


class BandTeacher(AbstractProcess):
    """Passes teacher requests (``s_request_in``: channels up, down) to ``s_out`` only where the watched
    layer's prediction needs them: it counts the events on ``s_watch_in`` while no request is active
    (restarting after each request) and, when a request starts, opens for its whole duration if it is
    up and the count is below ``hi``, or down and above ``lo``. On Loihi 2 this is a job for an
    embedded core; in Lava it is a small process. ``n_watch``: the watched layer's size."""

    def __init__(self, *, n_watch: int, lo: int, hi: int, name: ty.Optional[str] = None,
                 log_config: ty.Optional[LogConfig] = None):
        super().__init__(n_watch=n_watch, name=name, log_config=log_config)
        self.s_request_in = InPort(shape=(2,))
        self.s_watch_in = InPort(shape=(n_watch,))
        self.s_out = OutPort(shape=(2,))
        self.lo = Var(shape=(1,), init=lo)
        self.hi = Var(shape=(1,), init=hi)
        self.count = Var(shape=(1,), init=0)
        self.gate = Var(shape=(1,), init=0)
        self.asked = Var(shape=(1,), init=0)


class ClassTeacher(AbstractProcess):
    """Passes each class's teacher requests (``s_request_in``: up_c at 2c, down_c at 2c + 1) to ``s_out`` by
    its population's running rate on ``s_watch_in`` (``classes`` populations of equal size, one after another):
    up_c while ``(count_c << shift) < hi * steps``, down_c while ``(count_c << shift) > lo * steps``, counting
    from the sample's start (a step without requests after one with them). On Loihi 2 an embedded-core job;
    in Lava a small process (:mod:`neurolearn.dynamics.class_teacher`)."""

    def __init__(self, *, n_watch: int, classes: int, lo: int, hi: int, shift: int = 8,
                 name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None):
        super().__init__(n_watch=n_watch, classes=classes, name=name, log_config=log_config)
        self.s_request_in = InPort(shape=(2 * classes,))
        self.s_watch_in = InPort(shape=(n_watch,))
        self.s_out = OutPort(shape=(2 * classes,))
        self.lo = Var(shape=(1,), init=lo)
        self.hi = Var(shape=(1,), init=hi)
        self.shift = Var(shape=(1,), init=shift)
        self.count = Var(shape=(classes,), init=0)
        self.asked = Var(shape=(1,), init=0)
        self.steps = Var(shape=(1,), init=0)
