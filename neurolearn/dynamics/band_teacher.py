"""The band teacher: neurolearn's own on-chip decision of whether to pass the teacher's requests.

Two request channels (up, down) fire through a teaching phase. While no request is active the teacher
counts the watched layer's events (the prediction; the count restarts after each request). When a
request starts it opens for the request's whole duration if the request is up and the count is below
``hi``, or down and above ``lo`` (inclusive bounds stay closed). Requests without a silent step between
them count as one. On Loihi 2 this is an embedded-core job; in Lava neurolearn's ``BandTeacher`` process,
in the simulators the same function.
"""
from __future__ import annotations

import numba


@numba.njit(cache=True, inline="always")
def band_teacher_step(up, down, events, count, asked, gate, lo, hi):
    """One step: this step's requests (bools), the watched layer's events this step (int) and the state
    (count, asked, gate) -> the new state. The requests pass this step where the new ``gate`` is True."""
    if not (up or down):
        count = (0 if asked else count) + events
    elif not asked:
        gate = (up and count < hi) or (down and count > lo)
    return count, up or down, gate
