"""plan.json against its JSON Schema (neurolearn/ir/plan_schema.json): the schema and the dataclasses agree, the
ranges are plan.py's, docs/plan-format.md publishes the schema, and every bad document is one PlanFormatError line
naming the file and the field."""
import dataclasses
import json
import re
from pathlib import Path

import pytest

from neurolearn.errors import PlanFormatError
from neurolearn.ir import plan as P
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.ir.program import LearningProgram
from tests.helpers import random_burst_net

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"
DEFINITIONS = {"LayerPlan": P.LayerPlan, "BurstPlan": P.BurstPlan, "ConnectionPlan": P.ConnectionPlan,
               "Plasticity": P.Plasticity, "LearningProgram": LearningProgram, "BandTeacherPlan": P.BandTeacherPlan,
               "ConvGeometry": ConvGeometry, "SparseLayout": SparseLayout,
               "ClassTeacherPlan": P.ClassTeacherPlan}
TAGS = {"kind"}   # plan.json's tag of the teacher's class, not a field


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_schema_and_dataclass_name_the_same_fields(name):
    """A field added to a plan dataclass fails here until its definition in plan_schema.json follows (and the
    schema refuses unknown fields, so a plan.json carrying it would not load)."""
    cls = DEFINITIONS[name]
    definition = P.plan_schema()["definitions"][name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    assert set(definition["properties"]) - TAGS == fields, (name, set(definition["properties"]) ^ fields)
    required = {f.name for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    assert set(definition.get("required", ())) - TAGS == required
    assert definition["additionalProperties"] is False


def test_schema_top_level_matches_to_dict(small_plan):
    plan, _ = random_burst_net(1)
    for p in (plan, small_plan):
        assert set(p.to_dict()) == set(P.plan_schema()["properties"])
        P.check_plan_schema(json.loads(p.to_json()))   # what neurolearn writes, the schema accepts


@pytest.mark.parametrize("definition, prop, rng", [
    ("LayerPlan", "du", P.DU_RANGE), ("LayerPlan", "dv", (P.DV_RANGE[0], P.DV_STATELESS)),
    ("LayerPlan", "vth", P.VTH_RANGE),
    ("LayerPlan", "bias_mant", P.BIAS_MANT_RANGE), ("LayerPlan", "bias_exp", P.BIAS_EXP_RANGE),
    ("ConnectionPlan", "weights", P.WEIGHT_RANGE), ("ConnectionPlan", "weight_exp", P.WEIGHT_EXP_RANGE),
    ("ConnectionPlan", "num_weight_bits", P.NUM_WEIGHT_BITS_RANGE), ("BurstPlan", "lut", P.LUT_RANGE),
    ("BurstPlan", "dv_d", P.DV_RANGE), ("BurstPlan", "lut_shift", P.LUT_SHIFT_RANGE),
    ("BurstPlan", "pbar_shift", P.PBAR_SHIFT_RANGE), ("BurstPlan", "valence_levels", P.VALENCE_LEVELS_RANGE),
    ("BurstPlan", "seed", P.SEED_RANGE), ("BurstPlan", "lut_offset", P.STATE_RANGE),
    ("ConnectionPlan", "delays", P.DELAY_RANGE), ("BurstPlan", "homeo_gain", P.HOMEO_GAIN_RANGE),
    ("BurstPlan", "rate_shift", P.SHIFT_RANGE), ("BurstPlan", "homeo_cap", P.HOMEO_CAP_RANGE),
    ("ClassTeacherPlan", "shift", P.TEACHER_SHIFT_RANGE), ("LayerPlan", "v_init", P.STATE_RANGE),
])
def test_schema_ranges_are_plan_ranges(definition, prop, rng):
    schema = P.plan_schema()
    node = schema["definitions"][definition]["properties"][prop]
    while {"$ref", "items", "anyOf", "oneOf"} & set(node):   # anyOf: a number or a deeper tensor; oneOf: null or it
        node = (schema["definitions"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else
                node["anyOf"][0] if "anyOf" in node else node["oneOf"][-1] if "oneOf" in node else node["items"])
    assert (node["minimum"], node["maximum"]) == rng


def test_docs_publish_the_schema():
    text = DOCS.read_text()
    block = re.search(r"```json\n(\{\n  \"\$schema\".*?)\n```", text, re.S)
    assert block, "docs/plan-format.md has no ```json block with the schema"
    assert json.loads(block.group(1)) == P.plan_schema()


def _doc(small_plan):
    return json.loads(small_plan.to_json())


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["layers"][0].update(du=1.5), ["layers/0/du", "must be integer"]),
    (lambda d: d["layers"][0].update(vth=100.7), ["layers/0/vth", "must be integer"]),
    (lambda d: d.update(dt=-1), ["'dt' = -1", "bigger than or equal to 1e-09"]),
    (lambda d: d.update(dt="abc"), ["'dt' = 'abc'", "must be number"]),
    (lambda d: d["layers"][1].update(dv=4097), ["layers/1/dv", "4096"]),
    (lambda d: d["connections"][0].update(weights=[[1, 2], [3]]), ["connections/0"]),
    (lambda d: d["connections"][0]["weights"][1].__setitem__(0, [1, 2]),   # v3 reads tensors of any depth
     ["'connections/0/weights'", "different lengths or depths"]),
    (lambda d: d["connections"][0].update(delays=[[0] * len(r) for r in d["connections"][0]["weights"][:-1]]
                                          + [[[0]] * len(d["connections"][0]["weights"][-1])]),
     ["'connections/0/delays'", "different lengths or depths"]),
    (lambda d: d["connections"][0].update(extra=1), ["connections/0", "extra"]),
    (lambda d: d["connections"][0].update(source="nowhere"), ["connection 'ff0' refers to unknown 'nowhere'"]),
    (lambda d: d.pop("layers"), ["'the document'", "layers"]),
    (lambda d: d["input"].update(size=0), ["input/size", "bigger than or equal to 1"]),
])
def test_bad_plan_fields_name_file_and_field(small_plan, edit, words):
    d = _doc(small_plan)
    edit(d)
    with pytest.raises(PlanFormatError) as err:
        P.Plan.from_dict(d, file="b/plan.json")
    msg = str(err.value)
    assert msg.startswith("b/plan.json: ") and "\n" not in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("text", ["[]", "null", "3", '"plan"', "{", '{"format": "neurolearn-plan"}', "[" * 5000])
def test_plan_json_that_is_no_plan(text):
    with pytest.raises(PlanFormatError) as err:
        P.Plan.from_json(text, file="b/plan.json")
    assert str(err.value).startswith("b/plan.json: ") and "\n" not in str(err.value)


def test_integral_floats_become_ints(small_plan):
    d = _doc(small_plan)
    d["layers"][0]["du"] = 410.0
    layer = P.Plan.from_dict(d).layers[0]
    assert layer.du == 410 and type(layer.du) is int
