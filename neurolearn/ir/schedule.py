"""A learning run's input as data: the whole spike stream, its presentation windows and epoch ends."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurolearn.errors import InputError

ENDS = ("epochs", "samples")


@dataclass(frozen=True)
class Schedule:
    """The whole run's input: spikes (steps, n_in + teacher channels), the presentation windows (kind, e.g.
    'predict', 'eval' or 'train', epoch, pattern or label, start, stop) and the last step of each epoch (and of
    the final evaluation), or of each sample where ``ends`` is 'samples' (a prefix of an online training,
    compared sample by sample)."""

    spikes: np.ndarray = field(repr=False)
    windows: tuple
    epoch_ends: tuple
    ends: str = "epochs"

    def __post_init__(self):
        if self.ends not in ENDS:
            raise InputError(f"schedule: ends {self.ends!r}; allowed {', '.join(ENDS)}")

    @property
    def steps(self) -> int:
        return len(self.spikes)

    def save(self, path) -> None:
        """Write an .npz (spikes, windows, epoch_ends)."""
        kinds = sorted({w[0] for w in self.windows})
        rows = np.array([(kinds.index(k), e, p, a, b) for k, e, p, a, b in self.windows], np.int64).reshape(-1, 5)
        np.savez_compressed(path, spikes=self.spikes, windows=rows, kinds=np.array(kinds),
                            epoch_ends=np.array(self.epoch_ends, np.int64), ends=np.array(self.ends))

    @classmethod
    def load(cls, path) -> "Schedule":
        try:
            with np.load(path) as d:
                kinds = [str(k) for k in d["kinds"]]
                windows = tuple((kinds[k], int(e), int(p), int(a), int(b)) for k, e, p, a, b in d["windows"])
                ends = str(d["ends"]) if "ends" in d else "epochs"
                return cls(d["spikes"].astype(np.uint8), windows, tuple(int(x) for x in d["epoch_ends"]), ends)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a neurolearn schedule ({exc})") from exc

    def first_epochs(self, n: int) -> "Schedule":
        """The schedule cut after its first ``n`` ends (epochs, or samples)."""
        if not 1 <= n <= len(self.epoch_ends):
            raise InputError(f"schedule: {n} {self.ends} asked; it has 1..{len(self.epoch_ends)}")
        end = self.epoch_ends[n - 1] + 1
        return Schedule(self.spikes[:end], tuple(w for w in self.windows if w[4] <= end), self.epoch_ends[:n],
                        self.ends)
