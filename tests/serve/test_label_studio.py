"""End to end against a real Label Studio (1.23.2, its own venv, SQLite, 127.0.0.1 only).

Label Studio calls our backend the way it does for its users: /health and /setup when
the backend is added, /predict for the Data Manager's "Retrieve predictions" and for a
smart keypoint. The predictions are read back through Label Studio's API.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import make_backend, running
from .labelstudio import LabelStudio
from .test_predict import decode_brush, expected_label_map

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <PolygonLabels name="poly" toName="image">
    <Label value="Sky" prompt="blue sky"/>
    <Label value="Road"/>
  </PolygonLabels>
  <BrushLabels name="tag" toName="image">
    <Label value="sky"/>
    <Label value="road"/>
  </BrushLabels>
  <KeyPointLabels name="kp" toName="image" smart="true">
    <Label value="road"/>
  </KeyPointLabels>
</View>"""

IMAGES = [f"imgs/img{i}.png" for i in range(3)]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory, files_root):
    ls = LabelStudio(tmp_path_factory.mktemp("ls-data"), files_root)
    try:
        ls.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield ls
    ls.stop()


@pytest.mark.timeout(1200)
def test_label_studio_retrieves_predictions_and_a_smart_click(label_studio, tiny_model_dir, tiny_sam2_dir,
                                                              files_root):
    backend = make_backend(tiny_model_dir, files_root, tiny_sam2_dir, batch_size=2)
    try:
        with running(backend) as client:
            project = label_studio.create_project(CONFIG)
            task_ids = label_studio.import_tasks(project, IMAGES)
            assert len(task_ids) == len(IMAGES)
            ml = label_studio.add_backend(project, client.url)
            assert backend.fetcher.label_studio_url == label_studio.url  # /setup told us where it is
            label_studio.retrieve_predictions(project)
            predictions = label_studio.predictions(project)

            assert sorted(p["task"] for p in predictions) == task_ids
            for prediction in predictions:
                rel = IMAGES[task_ids.index(prediction["task"])]
                assert prediction["model_version"] == backend.model_version
                _check_polygons([r for r in prediction["result"] if r["from_name"] == "poly"])
                brushes = [r for r in prediction["result"] if r["from_name"] == "tag"]
                want = expected_label_map(backend, files_root, rel, ["sky", "road"])
                got = np.zeros(want.label_map.shape, np.int32)
                for region in brushes:
                    got[decode_brush(region)] = want.classes.index(region["value"]["brushlabels"][0]) + 1
                assert brushes and np.array_equal(got, want.label_map), rel

            runs = backend.stats.image_encoder_runs
            click = {"from_name": "kp", "to_name": "image", "type": "keypointlabels", "is_positive": True,
                     "original_width": 96, "original_height": 72,
                     "value": {"x": 50.0, "y": 70.0, "width": 0.6, "keypointlabels": ["road"]}}
            answer = label_studio.interactive(ml, task_ids[0], {"result": [click]})
            assert not answer.get("errors"), answer
            data = answer["data"]
            assert data["model_version"] == backend.interactive_version
            assert all(r["type"] == "brushlabels" and r["value"]["brushlabels"] == ["road"] for r in data["result"])
            assert backend.stats.image_encoder_runs == runs + 1

            # without a document root, the image comes from Label Studio with the token /setup gave
            label_studio.add_local_storage(project, files_root / "imgs")
            backend.fetcher.files_root = None
            backend.fetcher.clear()
            url = f"/data/local-files/?d={IMAGES[1]}"
            assert backend.fetcher.read_bytes(url) == (files_root / IMAGES[1]).read_bytes()
            answer = label_studio.interactive(ml, task_ids[1], {"result": [click]})
            assert not answer.get("errors"), answer
            assert answer["data"]["result"] and answer["data"]["result"][0]["original_height"] == 80
    finally:
        backend.close()


def _check_polygons(regions):
    labels = {"Sky", "Road"}
    for region in regions:
        assert region["type"] == "polygonlabels"
        assert region["value"]["polygonlabels"][0] in labels
        points = np.array(region["value"]["points"])
        assert points.shape[1] == 2 and points.min() >= 0 and points.max() <= 100
        assert region["original_width"] == 96
