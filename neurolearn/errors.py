"""One error hierarchy. Each message is one line naming the file, node, parameter, value and range.

The CLI prints ``str(error)`` and exits non-zero; ``--debug`` shows the traceback.
"""
from __future__ import annotations


class NeurolearnError(Exception):
    """Base class of every error neurolearn raises on purpose."""

    exit_code = 2


class NIRFormatError(NeurolearnError):
    """A file that is not a readable NIR/HDF5 graph, or a graph that is malformed."""


class UnsupportedNodeError(NeurolearnError):
    """A NIR node (or snntorch module) that neurolearn cannot map."""


class ShapeError(NeurolearnError):
    """Mismatched shapes between connected nodes, or an input array of the wrong shape."""


class QuantizationError(NeurolearnError):
    """A parameter that cannot be represented in the target's fixed-point format."""


class PlanFormatError(NeurolearnError):
    """A plan.json (or build directory) that is not a valid neurolearn plan: syntax, schema, types, ranges."""


class UnsupportedFeatureError(NeurolearnError):
    """A plan using a feature (bursts, learning, ...) that the chosen backend does not run."""


class TrainingError(NeurolearnError):
    """Training diverged (NaN or inf in a layer)."""


class RuleError(NeurolearnError):
    """A learning-engine program that Lava's learning engine cannot run: bad rule string or trace parameter."""


class InputError(NeurolearnError):
    """Bad user input: arguments, arrays or files other than NIR graphs."""


class BackendUnavailableError(NeurolearnError):
    """A backend (Lava, Intel's Loihi runtime, a board) that is not present here."""

    exit_code = 3


class HardwareFitError(NeurolearnError):
    """A network that does not fit the chosen chip or board."""


class DescriptionError(InputError):
    """A chip or board description file that is malformed (missing field, wrong type, bad value)."""


def where(file: str | None = None, node: str | None = None, param: str | None = None) -> str:
    """Prefix 'FILE: node 'N': parameter 'P'' for error messages, skipping the parts not given."""
    parts = []
    if file:
        parts.append(str(file))
    if node:
        parts.append(f"node '{node}'")
    if param:
        parts.append(f"parameter '{param}'")
    return ": ".join(parts)


def shown(value) -> str:
    """``repr(value)`` for a message, a numpy (or torch) scalar as the Python number it holds: numpy 2 writes
    ``np.float64(0.5)`` where the user gave 0.5."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    return repr(value)
