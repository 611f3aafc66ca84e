"""The engine registry is the one list of engines: a third engine registered at run time is
listed, loaded and run without touching any other module."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from annotator.core.pipeline import PipelineOptions, load_segmenter, run_pipeline
from annotator.core.project import Project
from engine.base import SegmentationResult
from engine.config import EngineInfo, engine_for_model, engines, register_engine, unregister_engine
from engine.images import load_rgb
from engine.segmenter import Segmenter


class StripesSegmenter(Segmenter):
    """A made-up engine: class i's heatmap rises from left to right, shifted by i; the
    label map keeps each pixel's strongest class where it passes the threshold."""

    engine = "stripes"

    def __init__(self, config, device) -> None:
        self.config, self.device = config, device

    @classmethod
    def from_source(cls, source, device, *, dtype=None, config=None) -> StripesSegmenter:
        assert source.engine.name == "stripes" and source.config["model_type"] == "stripes"
        return cls(SimpleNamespace(threshold=0.3, background="auto"), device)

    def _segment_batch(self, images, names, progress, cancel, batch_size):
        out = []
        for image, classes in zip(images, names):
            rgb = load_rgb(image)
            h, w = rgb.shape[:2]
            ramp = np.linspace(0, 1, 16, dtype=np.float32)
            heatmaps = np.stack([np.tile(np.roll(ramp, 5 * i), (16, 1)) for i in range(len(classes))])
            result = SegmentationResult(classes=list(classes), heatmaps=heatmaps, presence={}, label_map=None,
                                        image_size=(h, w), engine="stripes")
            result.label_map = self.postprocess(result)
            out.append(result)
        return out

    def postprocess(self, result, threshold=None, **_):
        threshold = self.config.threshold if threshold is None else threshold
        h, w = result.image_size
        maps = np.stack([np.repeat(np.repeat(m, -(-h // 16), 0)[:h], -(-w // 16), 1)[:, :w]
                         for m in result.heatmaps])
        best = maps.argmax(0)
        return np.where(maps.max(0) >= threshold, best + 1, 0).astype(np.int32)


@pytest.fixture
def stripes(tmp_path):
    info = register_engine(EngineInfo("stripes", "Stripes (test)", "test/stripes", "", ("stripes",), False,
                                      "0 B", "MIT", loader=StripesSegmenter, default_threshold=0.3))
    folder = tmp_path / "stripes-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "stripes"}))
    yield info, folder
    unregister_engine("stripes")


def test_a_third_engine_registered_at_run_time_is_listed_loaded_and_run(stripes, tmp_path):
    from PIL import Image

    from annotator.core.proposals import resolve_proposals
    from annotator.gui.model_menu import model_choices

    info, folder = stripes
    # listed: by the registry, the model menu / settings dialog's choices, and the default threshold
    assert "stripes" in [e.name for e in engines()]
    assert "test/stripes" in [c.model for c in model_choices("", [])]
    assert engine_for_model(str(folder)) is info and info.default_threshold == 0.3
    assert resolve_proposals("auto", "stripes") == "regions"

    # loaded: Segmenter.load picks it from the folder's config.json
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((40, 64, 3), 128, np.uint8)).save(images / "a.png")
    project = Project.open(images)
    project.settings.model = str(folder)
    segmenter = load_segmenter(project.settings)
    assert isinstance(segmenter, StripesSegmenter)

    # run: the one pipeline saves its proposals like any engine's
    summary = run_pipeline(project, segmenter, ["a.png"],
                           PipelineOptions.from_settings(project.settings, ["left", "right"], batch_size=1))
    assert summary.labelled == ["a.png"]
    ann = project.load("a.png")
    assert {s.label for s in ann.shapes} == {"left", "right"} and ann.model_run["model"] == str(folder)


def test_unknown_engines_are_refused_by_name():
    from engine.config import engine_info

    with pytest.raises(ValueError, match="unknown engine 'nope'"):
        engine_info("nope")
    with pytest.raises(ValueError, match="needs a default threshold"):
        register_engine(EngineInfo("nope", "Nope", "x/nope", "", ("nope",), False, "", "", loader="x:y"))
