#!/usr/bin/env python
"""Speed through a real Label Studio: tasks/s of "Retrieve predictions" and the smart-tool round trip.

Starts Label Studio 1.23.2 from ``.venv-labelstudio`` (made on first use, as the
end-to-end test does) on 127.0.0.1 with a fresh SQLite folder, and ``serve``'s backend in
this process with the tiny random-weight models (speed of the HTTP and Label Studio path,
not of a real checkpoint). Measures, next to the same work run locally:

* batch: a project of ``--tasks`` images (the sample photos, copied) with a PolygonLabels
  + BrushLabels config; wall time of the Data Manager action ``retrieve_tasks_predictions``
  (Label Studio -> /predict -> Label Studio stores the predictions), versus
  ``Backend.predict`` on the same tasks in this process (no HTTP, no Label Studio) and the
  plain pipeline stages (decode -> infer_batch -> post-process) alone;
* interactive: ``/api/ml/{id}/interactive-annotating`` with one smart keypoint on an image
  whose embedding is cached (Label Studio -> backend -> Label Studio), median of
  ``--clicks``, versus ``Backend.predict`` with the same context in this process.

    python benchmarks/labelstudio_speed.py             # 20 tasks, 10 clicks
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serve.conftest import make_backend, running  # noqa: E402
from tests.serve.labelstudio import LabelStudio  # noqa: E402

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <PolygonLabels name="poly" toName="image"><Label value="sky"/><Label value="ground"/></PolygonLabels>
  <BrushLabels name="tag" toName="image"><Label value="sky"/><Label value="ground"/></BrushLabels>
  <KeyPointLabels name="kp" toName="image" smart="true"><Label value="sky"/></KeyPointLabels>
</View>"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=20)
    p.add_argument("--clicks", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--predict-timeout", type=float, default=900.0,
                   help="ML_TIMEOUT_PREDICT for Label Studio and the backend (s): the whole batch is one request")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "labelstudio_speed.json"))
    args = p.parse_args(argv)

    from engine.testing import build_random_model, build_random_sam2

    work = Path(tempfile.mkdtemp(prefix="ls-speed-"))
    files = work / "files"
    samples = sorted((ROOT / "resources" / "samples").glob("*.[jp][pn]g"))
    rels = []
    for i in range(args.tasks):
        src = samples[i % len(samples)]
        rel = f"imgs/{i:03d}{src.suffix}"
        (files / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, files / rel)
        rels.append(rel)
    model = build_random_model(work / "blip", size="tiny")
    sam2 = build_random_sam2(work / "sam2", size="tiny")
    ls = LabelStudio(work / "ls-data", files, env={"ML_TIMEOUT_PREDICT": str(args.predict_timeout)})
    backend = make_backend(model, files, sam2, batch_size=args.batch_size, predict_timeout=args.predict_timeout)
    report = {"tasks": args.tasks, "batch_size": args.batch_size, "images": [s.name for s in samples]}
    try:
        t = time.perf_counter()
        ls.start()
        report["label_studio_start_s"] = round(time.perf_counter() - t, 1)
        with running(backend) as client:
            project = ls.create_project(CONFIG)
            task_ids = ls.import_tasks(project, rels)
            ml = ls.add_backend(project, client.url)
            t = time.perf_counter()
            ls.retrieve_predictions(project)
            through_ls = time.perf_counter() - t
            stored = len(ls.predictions(project))
            assert stored == args.tasks, f"{stored} predictions stored for {args.tasks} tasks"

            tasks = [{"id": i, "data": {"image": f"/data/local-files/?d={rel}"}} for i, rel in enumerate(rels)]
            backend.fetcher.clear()
            t = time.perf_counter()
            backend.predict({"tasks": tasks, "label_config": CONFIG})
            local = time.perf_counter() - t
            stages = _pipeline_alone(backend, files, rels, args.batch_size)

            click = {"from_name": "kp", "to_name": "image", "type": "keypointlabels", "is_positive": True,
                     "value": {"x": 50.0, "y": 30.0, "width": 0.5, "keypointlabels": ["sky"]}}
            ls.interactive(ml, task_ids[0], {"result": [click]})  # first click: image encoder
            trips = []
            for _ in range(args.clicks):
                t = time.perf_counter()
                answer = ls.interactive(ml, task_ids[0], {"result": [click]})
                trips.append(1000 * (time.perf_counter() - t))
                assert not answer.get("errors"), answer
            body = {"tasks": [tasks[0]], "label_config": CONFIG, "params": {"context": {"result": [click]}}}
            direct = []
            for _ in range(args.clicks):
                t = time.perf_counter()
                backend.predict(body)
                direct.append(1000 * (time.perf_counter() - t))
        report.update({
            "retrieve_predictions_s": round(through_ls, 2),
            "tasks_per_s_through_label_studio": round(args.tasks / through_ls, 2),
            "tasks_per_s_backend_in_process": round(args.tasks / local, 2),
            "tasks_per_s_pipeline_stages_alone": round(args.tasks / stages, 2),
            "interactive_round_trip_ms_median": round(statistics.median(trips), 1),
            "interactive_backend_in_process_ms_median": round(statistics.median(direct), 1),
            "image_encoder_runs": backend.stats.image_encoder_runs,
        })
    finally:
        backend.close()
        ls.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def _pipeline_alone(backend, files: Path, rels: list[str], batch_size: int) -> float:
    """decode -> infer_batch -> post-process for the same images (the two controls share one run), no
    conversion to Label Studio regions."""
    from annotator.core.pipeline import PipelineOptions, decode_image, infer_batch, postprocess_result

    options = PipelineOptions(classes=["sky", "ground"])
    t = time.perf_counter()
    for start in range(0, len(rels), batch_size):
        rgbs = [decode_image(files, rel)[1] for rel in rels[start:start + batch_size]]
        for result in infer_batch(backend.segmenter, rgbs, ["sky", "ground"]):
            postprocess_result(backend.segmenter, result, options)
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
