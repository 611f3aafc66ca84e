"""Bad requests get a 4xx JSON answer naming the problem; the server lives on."""

from __future__ import annotations

import threading

import pytest

from .conftest import BRUSHES, POLYGONS, Client, make_backend, running, task


@pytest.mark.parametrize("payload, status, words", [
    ({"tasks": [task("imgs/img0.png")]}, 400, "labeling config"),
    ({"tasks": [], "label_config": POLYGONS}, 400, "tasks"),
    ({"tasks": [task("imgs/broken.png")], "label_config": POLYGONS}, 400, "broken.png"),
    ({"tasks": [task("imgs/missing.png")], "label_config": POLYGONS}, 400, "no file"),
    ({"tasks": [task("../../etc/passwd")], "label_config": POLYGONS}, 403, "leaves the document root"),
    ({"tasks": [{"id": 1, "data": {"picture": "x"}}], "label_config": POLYGONS}, 400, "'image'"),
    ({"tasks": [task("imgs/img0.png")], "label_config": "<View><Image name='image' value='$image'/>"
      "<PolygonLabels name='p' toName='image'></PolygonLabels></View>"}, 400, "no <Label"),
    ({"tasks": [task("imgs/img0.png")], "label_config": "<View"}, 400, "not valid XML"),
    ({"tasks": [task("imgs/img0.png")], "label_config": BRUSHES,
      "params": {"context": {"result": [{"from_name": "nope", "type": "keypointlabels",
                                         "value": {"x": 1, "y": 1, "keypointlabels": ["sky"]}}]}}},
     400, "unknown smart control 'nope'"),
    ({"tasks": [task("imgs/img0.png")], "label_config": BRUSHES,
      "params": {"context": {"result": [{"from_name": "kp", "type": "keypointlabels",
                                         "value": {"x": 1, "y": 1, "keypointlabels": ["cat"]}}]}}},
     400, "label 'cat'"),
    ({"tasks": [task("imgs/img0.png")], "label_config": BRUSHES,
      "params": {"context": {"result": [{"from_name": "kp", "type": "keypointlabels", "is_positive": False,
                                         "value": {"x": 1, "y": 1, "keypointlabels": ["sky"]}}]}}},
     400, "negative"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_predict_requests(client, payload, status, words):
    got, body = client.post("/predict", payload)
    assert got == status, body
    assert words in body["error"]
    assert "Traceback" not in body["error"]
    assert client.get("/health")[0] == 200


def test_malformed_json_and_unknown_paths(client):
    status, body = client.post("/predict", raw=b"{not json")
    assert status == 400 and "malformed JSON" in body["error"]
    assert client.get("/nowhere")[0] == 404
    assert client.get("/predict")[0] == 405
    status, body = client.post("/webhook", {"action": "ANNOTATION_CREATED"})
    assert status == 200 and body["status"] == "ok"


def test_an_image_above_the_limit_is_refused(tiny_model_dir, files_root):
    backend = make_backend(tiny_model_dir, files_root, max_bytes=100)
    try:
        with running(backend) as client:
            status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": POLYGONS})
        assert status == 413 and "limit" in body["error"]
    finally:
        backend.close()


def test_basic_auth(tiny_model_dir, files_root):
    backend = make_backend(tiny_model_dir, files_root)
    try:
        with running(backend, auth=("ls", "s3cret")) as client:
            assert client.get("/health")[0] == 200
            status, body = Client(client.url).get("/health")
            assert status == 401 and "basic auth" in body["error"]
            assert Client(client.url, ("ls", "wrong")).get("/health")[0] == 401
    finally:
        backend.close()


def test_a_request_that_cannot_finish_in_time_says_so(tiny_model_dir, files_root):
    backend = make_backend(tiny_model_dir, files_root, predict_timeout=1.0)
    gate = threading.Event()
    try:
        backend.engine.submit(lambda: gate.wait(30))  # the engine is busy with earlier work
        with running(backend) as client:
            status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": POLYGONS})
            assert status == 503 and "ML_TIMEOUT_PREDICT=1" in body["error"]
            gate.set()
            backend.predict_timeout = 600.0  # the engine is free again: the same request now finishes
            status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": POLYGONS})
            assert status == 200
    finally:
        gate.set()
        backend.close()


def test_at_the_deadline_finished_tasks_are_answered_and_the_rest_named(tiny_model_dir, files_root):
    import time

    from engine import Cancelled
    backend = make_backend(tiny_model_dir, files_root, batch_size=1, predict_timeout=100.0)
    late = {"offset": 0.0}
    backend.clock = lambda: time.monotonic() + late["offset"]
    real, calls = backend._segment, []

    def segment(chunk, cancel):  # the second chunk is still running when the deadline passes
        calls.append(chunk)
        if len(calls) == 2:
            late["offset"] = 1000.0
            cancel.wait(30)
            raise Cancelled("cancelled")
        return real(chunk, cancel)

    backend._segment = segment
    try:
        with running(backend) as client:
            status, body = client.post("/predict", {"tasks": [task("imgs/img0.png", 1), task("imgs/img1.png", 2)],
                                                    "label_config": POLYGONS})
        assert status == 200, body
        assert body["results"][0]["result"] and body["results"][1] == []
        assert body["errors"] == [{"task": 2, "error": backend._late()[1]}]
    finally:
        backend.close()
