"""One error hierarchy. Each message is one line naming the file, node, parameter, value and range.

The CLI prints ``str(error)`` and exits with the error's ``exit_code`` (docs/errors.md): 1 a check failed,
2 bad input or usage, 3 a runtime or backend is absent; 70 is a bug in neurolearn, 130 and 143 an interruption
(SIGINT, SIGTERM). ``--debug`` shows the traceback.
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


class ResourceLimitError(InputError):
    """Input that would need more memory, nesting or nodes than neurolearn's stated limits (ir/limits.py)."""


class LossyBuildError(QuantizationError):
    """``--strict``: a build that rounds a parameter to zero, saturates or clips (a failed check: exit 1)."""

    exit_code = 1


class Terminated(SystemExit):
    """SIGTERM, raised as an exception so that temporaries are removed on the way out (exit 143)."""

    def __init__(self):
        super().__init__(143)


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
