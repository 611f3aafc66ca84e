"""A Label Studio labeling config (XML) read into what the backend needs.

    <View>
      <Image name="image" value="$image"/>
      <BrushLabels name="tag" toName="image">
        <Label value="sky"/>
        <Label value="car" prompt="a parked car"/>   <!-- optional longer text prompt -->
      </BrushLabels>
      <KeyPointLabels name="kp" toName="image" smart="true"> ... </KeyPointLabels>
    </View>

Output controls (``PolygonLabels``, ``BrushLabels``) are what predictions are made for:
their ``<Label value>`` names are the class prompts. Smart controls (``KeyPointLabels``,
``RectangleLabels`` with ``smart="true"``) are the clicks and boxes of interactive requests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

OUTPUT_KINDS = ("BrushLabels", "PolygonLabels")
"""Controls predictions are made for; a smart request answers in the first of these kinds found."""
SMART_KINDS = ("KeyPointLabels", "RectangleLabels")
IMAGE_KINDS = ("Image",)
PROMPT_ATTRIBUTE = "prompt"
"""<Label value="car" prompt="a red car"/>: the text sent to the model instead of the label name."""


class ConfigError(ValueError):
    """The labeling config cannot be used; the message names the tag and the problem."""


@dataclass(frozen=True)
class Label:
    value: str
    """The label as Label Studio stores it in results."""
    prompt: str
    """The text prompt for the model (the value unless the tag gives one)."""


@dataclass(frozen=True)
class Control:
    name: str
    kind: str
    """The tag: "BrushLabels", "PolygonLabels", "KeyPointLabels", "RectangleLabels", ..."""
    to_name: str
    labels: tuple[Label, ...]
    smart: bool = False

    @property
    def result_type(self) -> str:
        """The ``type`` of this control's results ("brushlabels", ...)."""
        return self.kind.lower()

    def label(self, value: str) -> Label | None:
        return next((lab for lab in self.labels if lab.value == value), None)


@dataclass(frozen=True)
class ImageObject:
    name: str
    key: str
    """The task data field holding the image URL ("image" for value="$image")."""


@dataclass(frozen=True)
class LabelingConfig:
    images: dict[str, ImageObject]
    controls: tuple[Control, ...]

    @property
    def outputs(self) -> list[Control]:
        """Controls to predict for: an output kind, pointing at an image, with labels."""
        return [c for c in self.controls if c.kind in OUTPUT_KINDS and c.to_name in self.images]

    @property
    def smart_controls(self) -> list[Control]:
        return [c for c in self.controls if c.kind in SMART_KINDS and c.smart and c.to_name in self.images]

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)

    def output_for(self, image: str) -> Control | None:
        """The control an interactive answer is given in for one image: brushes first, then polygons."""
        for kind in OUTPUT_KINDS:
            for c in self.outputs:
                if c.kind == kind and c.to_name == image:
                    return c
        return None


def parse_labeling_config(xml: str) -> LabelingConfig:
    """Read a labeling config; ConfigError names what is wrong (not XML, no image, no labels...)."""
    if not isinstance(xml, str) or not xml.strip():
        raise ConfigError("the labeling config is empty: give the project's XML (<View>...</View>)")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ConfigError(f"the labeling config is not valid XML: {exc}") from None
    images: dict[str, ImageObject] = {}
    controls: list[Control] = []
    for tag in root.iter():
        if tag.tag in IMAGE_KINDS:
            name, value = tag.get("name", ""), tag.get("value", "")
            if name and value.startswith("$") and len(value) > 1:
                images[name] = ImageObject(name, value[1:])
        elif tag.tag in OUTPUT_KINDS or tag.tag in SMART_KINDS:
            name = tag.get("name", "")
            if not name:
                raise ConfigError(f"a <{tag.tag}> tag of the labeling config has no name")
            labels = tuple(_labels(tag))
            smart = tag.get("smart", "").strip().lower() in ("true", "1", "yes")
            controls.append(Control(name, tag.tag, tag.get("toName", ""), labels, smart))
    if not images:
        raise ConfigError('the labeling config has no <Image name=... value="$field"> tag: this backend '
                          "segments images")
    config = LabelingConfig(images, tuple(controls))
    if not config.outputs:
        raise ConfigError("the labeling config has no <BrushLabels> or <PolygonLabels> control on an "
                          f"<Image> ({', '.join(images)}): add one with the class names as <Label value=...>")
    for control in config.outputs:
        if not control.labels:
            raise ConfigError(f"the <{control.kind} name=\"{control.name}\"> control has no <Label value=...> "
                              "tags: its labels are the class prompts")
    return config


def _labels(tag: ET.Element):
    seen = set()
    for child in tag.iter("Label"):
        value = child.get("value", "")
        if not value.strip() or value in seen:
            continue
        seen.add(value)
        prompt = (child.get(PROMPT_ATTRIBUTE) or "").strip() or value
        yield Label(value, prompt)
