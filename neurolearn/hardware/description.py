"""Chip and board descriptions: data files in ``descriptions/``, one per chip or board.

Every number carries its public source (and, where sources are weak, a ``confidence`` note) in the
file itself. A new board is a new file: ``{"kind": "board", "name", "title", "chip", "chips": {...}}``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neurolearn.errors import DescriptionError, HardwareFitError, shown

DESCRIPTIONS = Path(__file__).parent / "descriptions"

# Every chip file must give these limits, each as {"value": int, "source": str[, "confidence": str]}.
CHIP_LIMITS = (
    "cores_per_chip", "neurons_per_core", "synaptic_memory_bytes_per_core", "axons_in_per_core",
    "axons_out_per_core", "weight_bits", "weight_exp_min", "weight_exp_max", "state_bits", "index_bits",
    "learning_extra_bits", "pre_traces", "post_traces", "trace_bits", "epoch_time_bits", "max_rule_terms",
    "state_word_bits", "neuron_state_words_per_core", "neuron_state_words_max", "embedded_cores_per_chip",
    "inter_chip_links",
)


@dataclass(frozen=True)
class Limit:
    value: int
    source: str
    confidence: str = ""


@dataclass(frozen=True)
class Chip:
    name: str
    title: str
    generation: int
    limits: dict[str, Limit] = field(repr=False)

    def __getattr__(self, key):  # chip.neurons_per_core -> the value
        limits = self.__dict__.get("limits", {})
        if key in limits:
            return limits[key].value
        raise AttributeError(key)

    @property
    def unverified(self) -> list[str]:
        """Limits whose sources are weak (they carry a confidence note)."""
        return [k for k, lim in self.limits.items() if lim.confidence]


@dataclass(frozen=True)
class Target:
    """What a network is mapped onto: ``chips`` chips of one kind (a bare chip, a board or a system)."""

    name: str
    title: str
    chip: Chip
    chips: int
    source: str

    @property
    def cores(self) -> int:
        return self.chips * self.chip.cores_per_chip


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DescriptionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DescriptionError(f"{path}: expected a JSON object")
    for key in ("kind", "name", "title"):
        if not isinstance(data.get(key), str):
            raise DescriptionError(f"{path}: field '{key}' missing or not a string")
    return data


def _limit(path: Path, name: str, raw) -> Limit:
    if not isinstance(raw, dict) or "value" not in raw or "source" not in raw:
        raise DescriptionError(f"{path}: field '{name}' must be {{\"value\": int, \"source\": str}}")
    val, src = raw["value"], raw["source"]
    if isinstance(val, bool) or not isinstance(val, int):
        raise DescriptionError(f"{path}: field '{name}' value {shown(val)} is not an integer")
    lowest = {"limits.weight_exp_min": -64, "limits.weight_exp_max": 0}.get(name, 1)
    if val < lowest:
        raise DescriptionError(f"{path}: field '{name}' value {val}; allowed >= {lowest}")
    if not isinstance(src, str) or not src.strip():
        raise DescriptionError(f"{path}: field '{name}' has no source")
    return Limit(val, src, str(raw.get("confidence", "")))


def load_chip(path: Path) -> Chip:
    data = _read(path)
    if data["kind"] != "chip":
        raise DescriptionError(f"{path}: kind '{data['kind']}' is not 'chip'")
    raw = data.get("limits")
    if not isinstance(raw, dict):
        raise DescriptionError(f"{path}: field 'limits' missing")
    missing = [k for k in CHIP_LIMITS if k not in raw]
    if missing:
        raise DescriptionError(f"{path}: field 'limits.{missing[0]}' missing (required: {', '.join(CHIP_LIMITS)})")
    if not isinstance(data.get("generation"), int):
        raise DescriptionError(f"{path}: field 'generation' missing or not an integer")
    limits = {k: _limit(path, f"limits.{k}", raw[k]) for k in CHIP_LIMITS}
    return Chip(name=data["name"], title=data["title"], generation=data["generation"], limits=limits)


def known_targets(directory: Path = DESCRIPTIONS) -> dict[str, Path]:
    """Every chip and board name with its file."""
    return {p.stem: p for p in sorted(directory.glob("*.json"))}


def load_target(target: str, board: str | None = None, directory: Path = DESCRIPTIONS) -> Target:
    """A chip (``loihi2``) alone, or a board of that chip (``--board kapoho-point``).

    A board name may also be given as ``target`` directly.
    """
    files = known_targets(directory)
    chips = {n: p for n, p in files.items() if _read(p)["kind"] == "chip"}
    boards = {n: p for n, p in files.items() if n not in chips}
    if target not in files:
        raise HardwareFitError(f"unknown target '{target}'; known chips: {', '.join(chips)}; "
                               f"known boards: {', '.join(boards)}")
    if target in boards:
        if board not in (None, target):
            raise HardwareFitError(f"target '{target}' is a board; pass a chip with --board {board}")
        board, target = target, None
    if board is None:
        chip = load_chip(chips[target])
        return Target(name=chip.name, title=chip.title, chip=chip, chips=1, source="a single chip")
    if board not in boards:
        raise HardwareFitError(f"unknown board '{board}'; known boards: {', '.join(boards)}")
    data = _read(boards[board])
    path = boards[board]
    if data["kind"] != "board":
        raise DescriptionError(f"{path}: kind '{data['kind']}' is not 'board' or 'chip'")
    if data.get("chip") not in chips:
        raise DescriptionError(f"{path}: field 'chip' = {data.get('chip')!r}; known chips: {', '.join(chips)}")
    if target is not None and data["chip"] != target:
        raise HardwareFitError(f"board '{board}' carries {data['chip']} chips, not {target}")
    count = _limit(path, "chips", data.get("chips"))
    return Target(name=board, title=data["title"], chip=load_chip(chips[data["chip"]]), chips=count.value,
                  source=count.source + (f" ({count.confidence})" if count.confidence else ""))
