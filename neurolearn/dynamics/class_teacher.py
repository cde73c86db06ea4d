"""The class teacher: neurolearn's own on-chip decision of which teacher requests to pass, one class at a time.

The output layer holds C populations of equal size ``per_class``; the input holds two request channels per
class, up_c (channel 2c) and down_c (2c + 1), that fire through a sample's teaching steps (up for the label,
down for the other classes). Every step the teacher counts each population's events since the sample began
(a step without any request after a step with one starts a new sample: counts and steps restart) and passes

    up_c    where requested and (count_c << shift) < hi * steps     (the population is below its band)
    down_c  where requested and (count_c << shift) > lo * steps     (above it)

with ``hi``, ``lo`` the band in events per neuron and step times ``per_class * 2**shift``: a running band on
the population's rate, so the teacher stops pushing as soon as the label's population is active enough and
the others quiet enough. On Loihi 2 this is an embedded-core job; in Lava neurolearn's ``ClassTeacher``
process, in the simulators the same function.
"""
from __future__ import annotations

import numba


@numba.njit(cache=True, inline="always")
def class_teacher_step(requests, events, count, asked, steps, hi, lo, shift, gate):
    """One step: this step's requests (2C bools: up_c at 2c, down_c at 2c + 1), each population's events this
    step (C ints) and the state (``count``: C ints, updated in place; ``asked``: a request last step;
    ``steps``: steps since the sample began) -> the new (asked, steps); ``gate`` (2C bools) is set to the
    requests that pass this step. Plain loops: numba scalars or numpy arrays alike."""
    now = False
    for k in range(requests.size):
        now = now or bool(requests[k])
    if asked and not now:
        for c in range(count.size):
            count[c] = 0
        steps = 0
    steps += 1
    for c in range(count.size):
        count[c] += events[c]
        gate[2 * c] = requests[2 * c] and (count[c] << shift) < hi * steps
        gate[2 * c + 1] = requests[2 * c + 1] and (count[c] << shift) > lo * steps
    return now, steps
