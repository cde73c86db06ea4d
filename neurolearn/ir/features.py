"""What a plan uses, and which backend runs what: a backend never ignores a feature it does not run.

``Plan.features()`` names the features a plan uses. :data:`BACKENDS` declares, for every backend, the
features it runs (the conformance suite, ``tests/conformance``, checks each claim against Lava);
every backend calls :func:`require` before it computes, so a plan with a feature it lacks is refused in
one line naming the feature and the backends that have it.
"""
from __future__ import annotations

from dataclasses import dataclass

from neurolearn.errors import UnsupportedFeatureError

FEATURES = {
    "recurrence": "connections marked recurrent (they read the previous step's spikes)",
    "bursts": "burst layers (BurstLIF: apical dendrite, burst draw, Pbar) and connections carrying their bursts",
    "apical": "connections into a burst layer's apical dendrite",
    "input_ranges": "connections reading a range of the input channels",
    "teacher": "a band teacher gating the teacher channels of the input",
    "class_teacher": "a class teacher gating each class's teacher channels by its population's running rate",
    "learning": "learning connections (LearningDense programs)",
    "convolution": "convolutions (Lava Conv: NIR Conv1d, Conv2d, SumPool2d, AvgPool2d)",
    "sparse": "sparse weight matrices (Lava Sparse)",
    "delays": "synaptic delays (Lava DelayDense, DelaySparse: NIR Delay)",
    "reset": "layers that reset by subtraction, to a non-zero v_reset or one step late (neurolearn's NIRNeuron)",
    "readout": "non-spiking layers whose voltage is the output: NIR LI, CubaLI, I (neurolearn's NIRNeuron)",
    "stateless": "layers whose voltage keeps nothing between steps, dv = 4096: NIR Threshold (neurolearn's NIRNeuron)",
    "neuron_parameters": "layers whose neurons differ in du, dv or vth (neurolearn's NIRNeuron)",
    "start_voltage": "layers that start from a voltage other than 0 (v_init: a biased layer's rest before its first "
                     "input)",
}
NIR_NEURON = frozenset({"reset", "readout", "stateless", "neuron_parameters"})   # neurolearn's NIRNeuron adds to LIF
CONNECTION_KINDS = frozenset({"recurrence", "convolution", "sparse", "delays"})  # LIF layers, any connection
INFERENCE = CONNECTION_KINDS | NIR_NEURON | {"start_voltage"}   # what the inference backends run
ON_CHIP_LEARNING = frozenset(FEATURES) - INFERENCE | {"recurrence"}   # the learning backends'


@dataclass(frozen=True)
class BackendSpec:
    """A backend: its name, what it is, the features it runs, and where it is called."""

    name: str
    title: str
    features: frozenset
    entry: str                 # the function a user calls
    kind: str = "fixed"        # 'fixed' (bit-exact with Lava), 'float', 'lava' or 'hardware'


BACKENDS = {spec.name: spec for spec in (
    BackendSpec("float", "float reference (torch, snntorch's discretization; every layer starts at its own step 0)",
                INFERENCE,
                "neurolearn.sims.float_ref.simulate_float", kind="float"),
    BackendSpec("fixed", "fixed-point simulator (batched, bit-exact with Lava)", INFERENCE,
                "neurolearn.sims.fixed.simulate_fixed"),
    BackendSpec("learning", "fixed-point learning simulator (bit-exact with Lava)", ON_CHIP_LEARNING,
                "neurolearn.sims.learning.simulate_learning"),
    BackendSpec("float-twin", "float twin of an on-chip learning run", ON_CHIP_LEARNING,
                "neurolearn.sims.float_twin.run_float_twin", kind="float"),
    BackendSpec("lava", "Lava Loihi2SimCfg(select_tag='fixed_pt'), LIF (or neurolearn's NIRNeuron), Dense, Sparse, "
                "Conv and delays", INFERENCE, "neurolearn.lava.runner.simulate_lava", kind="lava"),
    BackendSpec("lava-learning", "Lava fixed_pt with BurstLIF, BandTeacher, ClassTeacher and LearningDense",
                ON_CHIP_LEARNING, "neurolearn.lava.runner.simulate_learning_lava", kind="lava"),
    BackendSpec("loihi", "Loihi core mapping and fit check (deployment: stock Lava processes only)",
                ON_CHIP_LEARNING | {"start_voltage"},
                "neurolearn.hardware.fit.check_fit", kind="hardware"),
)}


def missing_features(used, backend: str) -> list[str]:
    """The features in ``used`` that ``backend`` does not run, in FEATURES order."""
    have = BACKENDS[backend].features
    return [f for f in FEATURES if f in used and f not in have]


def require(used, backend: str) -> None:
    """Raise UnsupportedFeatureError unless ``backend`` runs every feature in ``used`` (a plan's features())."""
    missing = missing_features(used, backend)
    if missing:
        f = missing[0]
        others = [b for b, spec in BACKENDS.items() if f in spec.features]
        more = f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise UnsupportedFeatureError(
            f"backend '{backend}' ({BACKENDS[backend].title}) does not run '{f}'{more}: {FEATURES[f]}; "
            f"backends that do: {', '.join(others)}")


# The command line's --backend names: each a list of backends, the first that runs the plan is used.
FAMILIES = {"fixed": ("fixed", "learning"), "float": ("float",), "lava": ("lava", "lava-learning")}


def choose_backend(family: str, used) -> str:
    """The first backend of ``family`` (FAMILIES) that runs every feature in ``used``; else the refusal
    of the family's most capable backend (UnsupportedFeatureError)."""
    names = FAMILIES[family]
    for name in names:
        if not missing_features(used, name):
            return name
    require(used, names[-1])   # raises: the last one lacks a feature too
    return names[-1]
