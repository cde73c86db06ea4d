"""Burstprop networks. The rate form (fast training) is in :mod:`neurolearn.nets.rate`."""
from neurolearn.nets.rate import (FEEDBACK, BurstpropLayer, BurstState, EventState, RateNet, RateParams,
                                  burst_step, event_step, rate_pass, teacher_step)

__all__ = ["FEEDBACK", "BurstpropLayer", "BurstState", "EventState", "RateNet", "RateParams", "burst_step",
           "event_step", "rate_pass", "teacher_step"]
