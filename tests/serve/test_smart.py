"""Smart tools: a keypoint or a box goes to the interactive model through its embedding cache."""

from __future__ import annotations

import numpy as np

from .conftest import BRUSHES, task

POLYGON_SMART = """<View>
  <Image name="image" value="$image"/>
  <PolygonLabels name="poly" toName="image"><Label value="car"/></PolygonLabels>
  <RectangleLabels name="box" toName="image" smart="true"><Label value="car"/></RectangleLabels>
</View>"""


def click(x, y, label="road", positive=True):
    return {"from_name": "kp", "to_name": "image", "type": "keypointlabels", "is_positive": positive,
            "original_width": 96, "original_height": 72,
            "value": {"x": x, "y": y, "width": 0.5, "keypointlabels": [label]}}


def body(rel, *clicks, config=BRUSHES):
    return {"tasks": [task(rel)], "label_config": config, "params": {"context": {"result": list(clicks)}}}


def test_a_keypoint_comes_back_as_a_brush_and_a_second_click_runs_no_encoder(client, backend):
    runs = backend.stats.image_encoder_runs
    status, answer = client.post("/predict", body("imgs/img4.png", click(50, 70)))
    assert status == 200, answer
    (prediction,) = answer["results"]
    assert prediction["model_version"].startswith("interactive:")
    for region in prediction["result"]:
        assert region["type"] == "brushlabels" and region["value"]["brushlabels"] == ["road"]
        assert (region["original_width"], region["original_height"]) == (96, 104)
    assert backend.stats.image_encoder_runs == runs + 1
    status, answer = client.post("/predict", body("imgs/img4.png", click(50, 70), click(10, 10, positive=False)))
    assert status == 200, answer
    assert backend.stats.image_encoder_runs == runs + 1  # the same image: its embedding is reused


def test_the_answer_is_the_interactive_models_mask(client, backend, files_root):
    from label_studio_sdk.converter.brush import decode_rle

    from annotator.core.pipeline import decode_image
    from engine.interactive import InteractiveSegmenter

    status, answer = client.post("/predict", body("imgs/img3.png", click(25, 25, "sky")))
    assert status == 200
    _, rgb = decode_image(files_root, "imgs/img3.png")
    h, w = rgb.shape[:2]
    seg = InteractiveSegmenter.load(backend.settings.interactive_model, device="cpu")
    seg.set_image("x", rgb)
    want = seg.predict([[0.25 * w, 0.25 * h]], [1]).mask
    regions = answer["results"][0]["result"]
    got = np.zeros((h, w), bool)
    for region in regions:
        got |= decode_rle(region["value"]["rle"]).reshape(h, w, 4)[:, :, 3] > 0
    assert np.array_equal(got, want)


def test_a_smart_box_comes_back_as_polygons_of_the_label(client):
    rect = {"from_name": "box", "to_name": "image", "type": "rectanglelabels",
            "value": {"x": 10, "y": 20, "width": 60, "height": 50, "rectanglelabels": ["car"]}}
    status, answer = client.post("/predict", body("imgs/img0.png", rect, config=POLYGON_SMART))
    assert status == 200, answer
    for region in answer["results"][0]["result"]:
        assert region["type"] == "polygonlabels" and region["value"]["polygonlabels"] == ["car"]
        points = np.array(region["value"]["points"])
        assert points.min() >= 0 and points.max() <= 100


def test_an_interactive_job_goes_ahead_of_queued_batch_work():
    import threading

    from annotator.serve.engine import EngineThread

    engine = EngineThread()
    try:
        gate, order = threading.Event(), []
        engine.submit(lambda: gate.wait(10))
        batch = engine.submit(lambda: order.append("batch"))
        click_job = engine.submit(lambda: order.append("click"), interactive=True)
        gate.set()
        batch.result(10), click_job.result(10)
        assert order == ["click", "batch"]
    finally:
        engine.close()


def test_an_interactive_job_runs_between_the_passes_of_a_running_batch():
    import threading

    from annotator.serve.engine import EngineThread

    engine = EngineThread()
    try:
        started, order = threading.Event(), []

        def batch():
            started.set()
            for step in range(50):
                engine.run_interactive("pass", step, 50)  # what the model's progress hook calls
                order.append("pass")
                if "click" in order:
                    return
                threading.Event().wait(0.05)

        job = engine.submit(batch)
        started.wait(10)
        engine.submit(lambda: order.append("click"), interactive=True).result(10)
        job.result(10)
        assert order[-2:] == ["click", "pass"] and len(order) < 51
    finally:
        engine.close()
