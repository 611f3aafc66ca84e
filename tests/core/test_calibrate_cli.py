"""``pnp-annotator calibrate`` with the tiny random models of both engines, and the report."""

from __future__ import annotations

import json

from calibration_fakes import make_image
from PIL import Image

from annotator.cli import main
from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape


def reviewed_folder(root, count=4):
    project = Project.open(root)
    project.settings.classes = "sky, car"
    project.save_settings()
    for seed in range(count):
        rgb, truth = make_image(seed)
        Image.fromarray(rgb).save(root / f"im{seed}.png")
        shapes = [Shape.from_mask(name, mask, source="human") for name, mask in truth.items()]
        project.save(ImageAnnotations(f"im{seed}.png", rgb.shape[1], rgb.shape[0], shapes))
    return project


def test_calibrate_command_reports_applies_and_reuses_the_cache(tmp_path, tiny_model_dir, tiny_sam3_dir, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    reviewed_folder(folder)
    argv = ["calibrate", str(folder), "--pnp-model", str(tiny_model_dir), "--sam3-model", str(tiny_sam3_dir),
            "--no-sharpen", "--device", "cpu", "--min-images", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pnp-ovss: model on 4 image(s), 0 from the cache" in out
    assert "sam3: model on 4 image(s), 0 from the cache" in out
    state = folder / ".pnp-annotator"
    report = json.loads((state / "calibration-report.json").read_text())
    assert [c["label"] for c in report["choices"]] == ["sky", "car"]
    assert (state / "calibration-report.png").read_bytes()[:4] == b"\x89PNG"
    html = (state / "calibration-report.html").read_text()
    assert "calibration-report.png" in html and "sky" in html
    routes = Project.open(folder).settings.routes
    assert set(routes) == {"sky", "car"}
    assert {r["engine"] for r in routes.values()} <= {"pnp-ovss", "sam3"}
    assert all(r["model"] in (str(tiny_model_dir), str(tiny_sam3_dir)) for r in routes.values())

    assert main(argv + ["--no-apply"]) == 0
    out = capsys.readouterr().out
    assert "pnp-ovss: model on 0 image(s), 4 from the cache" in out
    assert "sam3: model on 0 image(s), 4 from the cache" in out


def test_calibrate_without_reviewed_images_says_so(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(make_image(0)[0]).save(folder / "a.png")
    assert main(["calibrate", str(folder), "--classes", "sky"]) == 2
    assert "no reviewed images" in capsys.readouterr().err
