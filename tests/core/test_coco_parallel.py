"""COCO import converting in worker processes: the same files and report as in-process."""

from __future__ import annotations

import json
import os
import signal

from helpers import square, two_hole_shape, write_image

from annotator import cli
from annotator.core.annotations import ImageAnnotations
from annotator.core.coco import export_coco, import_coco
from annotator.core.coco.parallel import ConvertPool, convert_images, image_jobs, plan_workers
from annotator.core.project import Project
from annotator.core.shapes import Shape

SIZES = [(80, 60), (50, 40), (64, 48), (30, 20), (90, 70)]


def _exported(tmp_path):
    """A COCO file of a few images with polygons, holes (RLE), a crowd region and a shape
    partly outside its image, plus an annotation of an unknown category."""
    root = tmp_path / "src"
    for i, (w, h) in enumerate(SIZES):
        write_image(root / f"d{i % 2}" / f"img{i}.png", w, h)
    project = Project.open(root)
    for name in ("sky", "wall", "car"):
        project.labels.add(name)
    project.save_settings()
    for i, (w, h) in enumerate(SIZES):
        project.save(ImageAnnotations(f"d{i % 2}/img{i}.png", w, h, [
            Shape("sky", square(0, 0, w, h / 3)),
            two_hole_shape(source="model", accepted=True, score=0.5) if w >= 50 else Shape("car", square(2, 2, 9, 9)),
            Shape("wall", square(w / 2, h / 2, w - 1, h - 1), iscrowd=True),
        ]))
    out = tmp_path / "coco.json"
    export_coco(project, out)
    data = json.loads(out.read_text())
    first = data["annotations"][0]
    data["annotations"].append({**first, "id": 999, "category_id": 77})  # unknown category: reported
    data["annotations"].append({**first, "id": 998, "attributes": {}, "segmentation": [[-20, -20, 40, -5, 30, 30]]})  # clipped
    out.write_text(json.dumps(data))
    return out


def _fresh(tmp_path, name):
    for i, (w, h) in enumerate(SIZES):
        write_image(tmp_path / name / f"d{i % 2}" / f"img{i}.png", w, h)
    return Project.open(tmp_path / name)


def _files(project):
    return {p.relative_to(project.state_dir).as_posix(): p.read_text()
            for p in sorted(project.state_dir.rglob("*.png.json"))}


def test_workers_write_the_same_files_and_report_as_one_process(tmp_path):
    coco = _exported(tmp_path)
    inline, pooled = _fresh(tmp_path, "inline"), _fresh(tmp_path, "pooled")
    one = import_coco(inline, coco, workers=0)
    two = import_coco(pooled, coco, workers=2)
    assert _files(pooled) == _files(inline) and len(_files(inline)) == len(SIZES)
    assert two == one
    assert one.shapes == 3 * len(SIZES) + 1 and one.clipped_points and one.unknown_categories


def _jobs(coco):
    """(conversion jobs of every image in the file, category names by id)."""
    data = json.loads(coco.read_text())
    return image_jobs(data["images"], data["annotations"]), {c["id"]: c["name"] for c in data["categories"]}


def test_a_dead_worker_is_replaced_by_this_process(tmp_path):
    coco = _exported(tmp_path)
    inline = _fresh(tmp_path, "inline")
    import_coco(inline, coco, workers=0)
    jobs, names = _jobs(coco)
    pool = ConvertPool(1, fork=False)  # started at once, so that its worker can be killed first
    try:
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        converted = list(convert_images(jobs, names, 0.0, pool=pool))
    finally:
        pool.close()
    expected = list(convert_images(jobs, names, 0.0))
    assert [[s.to_dict() for s in c.shapes] for c in converted] == [[s.to_dict() for s in c.shapes] for c in expected]
    assert sum(len(c.shapes) for c in converted) == 3 * len(SIZES) + 1


def test_workers_start_only_for_big_imports():
    assert plan_workers(None, 5000, cores=2) == 2
    assert plan_workers(None, 5000, cores=64) == 8
    assert plan_workers(None, 100, cores=16) == 0
    assert plan_workers(None, 5000, cores=1) == 0
    assert plan_workers(0, 5000, cores=16) == 0
    assert plan_workers(3, 10, cores=2) == 3


def test_cli_import_workers_flag(tmp_path, capsys):
    coco = _exported(tmp_path)
    target = _fresh(tmp_path, "cli")
    assert cli.main(["import", str(coco), "--images", str(target.root), "--workers", "2"]) == 1  # unknown category
    assert f"into {len(SIZES)} of {len(SIZES)} matched images" in capsys.readouterr().out
    assert all(json.loads(t)["shapes"] for t in _files(target).values())


def test_forked_and_spawned_workers_convert_alike(tmp_path):
    coco = _exported(tmp_path)
    jobs, names = _jobs(coco)
    expected = [[s.to_dict() for s in c.shapes] for c in convert_images(jobs, names, 0.0)]
    for fork in (True, False):
        pool = ConvertPool(2, fork=fork)
        try:
            got = [[s.to_dict() for s in c.shapes] for c in convert_images(jobs, names, 0.0, pool=pool)]
        finally:
            pool.close()
        assert got == expected, fork
