"""Burstprop networks in torch: the rate form (:mod:`neurolearn.nets.rate`) and the spiking burst neuron
module (:mod:`neurolearn.nets.burst_module`). Importing this package loads no torch."""

FEEDBACK = ("random", "symmetric", "learned")   # a rate burstprop layer's feedback Y: fixed, = W, or learned
