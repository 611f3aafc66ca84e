"""The labeling config: image objects, output controls and their prompts, smart controls."""

from __future__ import annotations

import pytest

from annotator.serve.labeling import ConfigError, parse_labeling_config
from .conftest import BRUSHES, POLYGONS


def test_polygon_labels_and_their_prompts():
    config = parse_labeling_config(POLYGONS)
    (control,) = config.outputs
    assert (control.name, control.kind, control.to_name) == ("poly", "PolygonLabels", "image")
    assert [(label.value, label.prompt) for label in control.labels] == [("Sky", "blue sky"), ("Road", "Road")]
    assert config.images["image"].key == "image"
    assert config.smart_controls == []


def test_smart_controls_answer_in_brushes():
    config = parse_labeling_config(BRUSHES)
    assert [c.name for c in config.smart_controls] == ["kp", "box"]
    assert config.output_for("image").name == "tag"
    assert config.control("kp").result_type == "keypointlabels"


def test_a_smart_attribute_that_is_not_true_is_not_smart():
    xml = BRUSHES.replace('name="kp" toName="image" smart="true"', 'name="kp" toName="image" smart="false"')
    assert [c.name for c in parse_labeling_config(xml).smart_controls] == ["box"]


@pytest.mark.parametrize("xml, words", [
    ("", "empty"),
    ("<View><Image", "not valid XML"),
    ("<View><Text name='t' value='$text'/></View>", "no <Image"),
    ("<View><Image name='i' value='$img'/><Choices name='c' toName='i'/></View>", "no <BrushLabels>"),
    ("<View><Image name='i' value='$img'/><BrushLabels name='b' toName='i'/></View>", "no <Label"),
    ("<View><Image name='i' value='$img'/><BrushLabels toName='i'><Label value='a'/></BrushLabels></View>", "no name"),
])
def test_unusable_configs_name_the_problem(xml, words):
    with pytest.raises(ConfigError, match=words):
        parse_labeling_config(xml)
