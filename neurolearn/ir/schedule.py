"""A learning run's input as data: the whole spike stream, its presentation windows and epoch ends."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurolearn.errors import InputError


@dataclass(frozen=True)
class Schedule:
    """The whole run's input: spikes (steps, n_in + 2; the last two channels are teacher up/down),
    the presentation windows (kind 'predict' or 'eval', epoch, pattern, start, stop) and the last step
    of each epoch (and of the final evaluation)."""

    spikes: np.ndarray = field(repr=False)
    windows: tuple
    epoch_ends: tuple

    @property
    def steps(self) -> int:
        return len(self.spikes)

    def save(self, path) -> None:
        """Write an .npz (spikes, windows, epoch_ends)."""
        kinds = sorted({w[0] for w in self.windows})
        rows = np.array([(kinds.index(k), e, p, a, b) for k, e, p, a, b in self.windows], np.int64).reshape(-1, 5)
        np.savez_compressed(path, spikes=self.spikes, windows=rows, kinds=np.array(kinds),
                            epoch_ends=np.array(self.epoch_ends, np.int64))

    @classmethod
    def load(cls, path) -> "Schedule":
        try:
            with np.load(path) as d:
                kinds = [str(k) for k in d["kinds"]]
                windows = tuple((kinds[k], int(e), int(p), int(a), int(b)) for k, e, p, a, b in d["windows"])
                return cls(d["spikes"].astype(np.uint8), windows, tuple(int(x) for x in d["epoch_ends"]))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a neurolearn schedule ({exc})") from exc

    def first_epochs(self, n: int) -> "Schedule":
        """The schedule cut after its first ``n`` epoch ends."""
        if not 1 <= n <= len(self.epoch_ends):
            raise InputError(f"schedule: {n} epochs asked; it has 1..{len(self.epoch_ends)}")
        end = self.epoch_ends[n - 1] + 1
        return Schedule(self.spikes[:end], tuple(w for w in self.windows if w[4] <= end), self.epoch_ends[:n])
