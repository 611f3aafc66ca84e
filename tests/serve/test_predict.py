"""/health, /setup and /predict over HTTP on 127.0.0.1 with the tiny random models."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import BRUSHES, POLYGONS, make_backend, running, task


def expected_label_map(backend, files_root, rel, prompts):
    """What our own pipeline gives for the image: decode -> infer -> post-process."""
    from annotator.core.pipeline import PipelineOptions, decode_image, infer_batch, postprocess_result

    _, rgb = decode_image(files_root, rel)
    (result,) = infer_batch(backend.segmenter, [rgb], prompts)
    return postprocess_result(backend.segmenter, result, PipelineOptions(classes=prompts))


def decode_brush(region) -> np.ndarray:
    from label_studio_sdk.converter.brush import decode_rle

    h, w = region["original_height"], region["original_width"]
    return decode_rle(region["value"]["rle"]).reshape(h, w, 4)[:, :, 3] > 0


def test_health_names_engine_and_checkpoint(client, tiny_model_dir):
    status, body = client.get("/health")
    assert status == 200 and body["status"] == "UP"
    assert body["model_version"] == f"pnp-ovss:{tiny_model_dir.name}"


def test_setup_answers_model_version_and_checks_the_config(client, backend):
    status, body = client.post("/setup", {"project": "1.1", "schema": POLYGONS, "hostname": "http://127.0.0.1:1",
                                          "access_token": "abc"})
    assert status == 200 and body["model_version"] == backend.model_version
    assert backend.fetcher.token == "abc"
    status, body = client.post("/setup", {"schema": "<View><Image name='i' value='$image'/></View>"})
    assert status == 400 and "BrushLabels" in body["error"]


def test_polygons_in_percent_with_config_labels_and_scores(client, backend):
    status, body = client.post("/predict", {"tasks": [task("imgs/img0.png", 7), task("imgs/img1.png", 8)],
                                            "label_config": POLYGONS})
    assert status == 200, body
    assert len(body["results"]) == 2
    found = 0
    for prediction, height in zip(body["results"], (72, 80)):
        assert prediction["model_version"] == backend.model_version
        assert isinstance(prediction["score"], float)
        for region in prediction["result"]:
            found += 1
            assert region["type"] == "polygonlabels" and region["from_name"] == "poly"
            assert region["to_name"] == "image"
            assert (region["original_width"], region["original_height"]) == (96, height)
            assert region["value"]["polygonlabels"][0] in ("Sky", "Road")
            points = np.array(region["value"]["points"])
            assert points.ndim == 2 and points.shape[1] == 2 and len(points) >= 3
            assert points.min() >= 0 and points.max() <= 100
            assert 0 <= region["score"] <= 1
        scores = [r["score"] for r in prediction["result"]]
        if scores:
            assert prediction["score"] == pytest.approx(np.mean(scores), abs=1e-3)
    assert found > 0


def test_brushes_decode_to_the_pipelines_label_map(client, backend, files_root):
    status, body = client.post("/predict", {"tasks": [task("imgs/img2.png")], "label_config": BRUSHES})
    assert status == 200, body
    regions = body["results"][0]["result"]
    want = expected_label_map(backend, files_root, "imgs/img2.png", ["sky", "road"])
    got = np.zeros(want.label_map.shape, np.int32)
    for region in regions:
        assert region["type"] == "brushlabels" and region["value"]["format"] == "rle"
        index = want.classes.index(region["value"]["brushlabels"][0]) + 1
        got[decode_brush(region)] = index
    assert regions and np.array_equal(got, want.label_map)


def test_one_unreadable_task_leaves_the_others(client):
    status, body = client.post("/predict", {"tasks": [task("imgs/img0.png", 1), task("imgs/broken.png", 2),
                                                      task("imgs/img3.png", 3)], "label_config": POLYGONS})
    assert status == 200
    assert body["results"][1] == [] and body["results"][0]["result"] and body["results"][2]["result"]
    assert body["errors"][0]["task"] == 2 and "broken.png" in body["errors"][0]["error"]


def test_batch_runs_in_chunks_of_batch_size(client, backend):
    before = backend.engine.runs["batch"]
    tasks = [task(f"imgs/img{i}.png", i) for i in range(5)]
    status, body = client.post("/predict", {"tasks": tasks, "label_config": POLYGONS})
    assert status == 200 and len(body["results"]) == 5
    assert backend.engine.runs["batch"] - before == 3  # 5 images, batch size 2


def test_sam3_instances_come_back_one_brush_per_object(tiny_sam3_dir, files_root):
    backend = make_backend(tiny_sam3_dir, files_root)
    try:
        assert backend.mode == "instances"
        with running(backend) as client:
            status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": BRUSHES})
        assert status == 200, body
        from annotator.core.pipeline import decode_image, infer_batch

        _, rgb = decode_image(files_root, "imgs/img0.png")
        (result,) = infer_batch(backend.segmenter, [rgb], ["sky", "road"])
        regions = body["results"][0]["result"]
        assert len(regions) == len([i for i in result.instances if i.mask.any()])
        assert body["results"][0]["model_version"].startswith("sam3:")
        for region, inst in zip(regions, sorted(result.instances, key=lambda i: -i.score)):
            assert np.array_equal(decode_brush(region), inst.mask)
            assert region["score"] == pytest.approx(inst.score, abs=1e-4)
    finally:
        backend.close()


def test_controls_with_the_same_prompts_share_one_model_run(client, backend):
    both = """<View><Image name="image" value="$image"/>
      <PolygonLabels name="poly" toName="image"><Label value="sky"/><Label value="road"/></PolygonLabels>
      <BrushLabels name="tag" toName="image"><Label value="sky"/><Label value="road"/></BrushLabels>
      <BrushLabels name="other" toName="image"><Label value="car"/></BrushLabels></View>"""
    before = backend.engine.runs["batch"]
    status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": both})
    assert status == 200, body
    assert backend.engine.runs["batch"] - before == 1  # 2 class lists of one image: one batch of 2
    names = {r["from_name"] for r in body["results"][0]["result"]}
    assert {"poly", "tag"} <= names
