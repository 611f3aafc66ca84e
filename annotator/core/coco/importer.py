"""COCO instances file or results list -> project annotations.

Everything is checked and converted in memory first; files are written only when
the whole input is usable, so a bad file never leaves a half import. Images are
matched by relative path, then by unique basename. One annotation becomes one shape
(``convert.annotation_to_shape``). What cannot be represented is listed in the
report's ``problems`` (the CLI exits 1); informational lines go to ``notes``.

Identity, so that importing the same file again replaces instead of adding:
an annotation that carries our ``attributes.shape_id`` is that shape; any other
annotation gets a shape id derived from its image's file_name and its annotation
id, so re-importing another tool's file replaces the shapes it made before.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from annotator.core.annotations import ImageAnnotations
from annotator.core.coco.categories import plan_categories
from annotator.core.coco.convert import annotation_to_shape
from annotator.core.coco.images import ImageShapes, image_shapes  # noqa: F401 - the importer's names
from annotator.core.coco.meta import image_ids, load_meta, save_meta
from annotator.core.coco.parallel import ConvertPool, convert_images, image_jobs
from annotator.core.coco.schema import read_coco
from annotator.core.jobs import Progress, check, stage
from annotator.core.project import AnnotationFileError, Project, annotation_text
from annotator.core.rollback import project_writes
from annotator.core.shapes import Shape, new_id

IMAGE_KEYS = {"id", "file_name", "width", "height"}
TOP_LEVEL_KEYS = {"info", "licenses", "images", "annotations", "categories"}


@dataclass
class ImportReport:
    kind: str = "instances"  # "instances" | "results"
    images_matched: int = 0
    shapes: int = 0
    replaced: int = 0  # imported shapes that replaced an earlier version (same shape id)
    clipped_points: int = 0
    written: list[str] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    """'<file_name>: <why>' for COCO images not found (or not usable) in the project."""
    unknown_categories: list[str] = field(default_factory=list)
    """'annotations[i] (id N): category_id K is not in categories' per skipped annotation."""
    problems: list[str] = field(default_factory=list)
    """What could not be represented: dropped zero-pixel shapes, changed category ids, ..."""
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.unmatched_images or self.unknown_categories or self.problems)


def import_coco(project: Project, coco_path: str | os.PathLike, *, replace: bool = False,
                tolerance: float = 0.0, min_score: float = 0.0, progress: Progress | None = None,
                cancel=None, workers: int | None = None) -> ImportReport:
    """Add the annotations of a COCO instances file or results list to the project's images.

    replace=False keeps existing shapes (an imported shape whose id matches one replaces
    it); replace=True drops the existing shapes of every matched image. A results list
    (detections with scores) imports as unaccepted model proposals, replacing the image's
    pending proposals; entries below *min_score* are skipped. CocoFormatError: nothing written.
    progress(done, total) per image; *cancel* (``is_set()``) is honoured until the writing
    starts (JobCancelled: nothing written), which then finishes. *workers*: processes that
    convert the annotations (``coco.parallel``; None: sized from the cores and the file).
    """
    pool = ConvertPool.for_file(coco_path, workers)  # its workers start while the file is parsed
    try:
        return _import(project, coco_path, replace, tolerance, min_score, progress, cancel, pool)
    finally:
        if pool is not None:
            pool.close()


def _import(project: Project, coco_path, replace: bool, tolerance: float, min_score: float,
            progress: Progress | None, cancel, pool) -> ImportReport:
    data = read_coco(coco_path)
    check(cancel)
    if isinstance(data, list):
        return _import_results(project, data, tolerance, min_score)
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    report = ImportReport()
    meta, meta_problem = load_meta(project)
    if meta_problem:
        report.notes.append(meta_problem)
    annotations = data.get("annotations", [])
    if not annotations:
        report.notes.append("the file has no annotations (an image list or test split): nothing to import")
    plan = plan_categories(data["categories"], {a["category_id"] for a in annotations}, project.labels)
    report.problems += plan.problems
    report.notes += plan.notes
    matches = _match_images(project, data["images"], report)

    matched: list[tuple[dict, ImageAnnotations]] = []
    stage(progress, "matching images")
    for seen, im in enumerate(data["images"]):
        check(cancel)
        if progress is not None:
            progress(seen, len(data["images"]))
        rel = matches.get(im["id"])
        if rel is None:
            continue
        try:
            ann = project.load(rel)
        except (AnnotationFileError, ImageReadError) as exc:
            report.problems.append(f"{rel}: not imported: {exc}")
            continue
        if (ann.width, ann.height) != (im["width"], im["height"]):
            report.unmatched_images.append(
                f"{im['file_name']}: the image is {ann.width}x{ann.height} here but "
                f"{im['width']}x{im['height']} in the COCO file; not imported")
            continue
        report.images_matched += 1
        meta.images[rel] = {"id": im["id"], "extra": {k: v for k, v in im.items() if k not in IMAGE_KEYS}}
        matched.append((im, ann))

    results: list[ImageAnnotations] = []
    texts: list[str] = []  # encoded here while the workers convert the next images
    jobs = image_jobs([im for im, _ in matched], annotations)
    stage(progress, "converting shapes")
    if progress is not None:
        progress(0, len(jobs))  # at once: the first results come a chunk of images later
    converting = convert_images(jobs, plan.names, tolerance, pool=pool, cancel=cancel)
    for done, ((im, ann), converted) in enumerate(zip(matched, converting)):
        if progress is not None:
            progress(done, len(jobs))
        report.unknown_categories += converted.unknown_categories
        report.problems += converted.problems
        report.clipped_points += converted.clipped_points
        shapes = converted.shapes
        if shapes or replace:  # an image with nothing to add keeps its file (or lack of one)
            report.replaced += _merge(ann, shapes, replace)
            results.append(ann)
            texts.append(annotation_text(ann))
            report.shapes += len(shapes)

    check(cancel)
    if progress is not None:
        progress(len(jobs), len(jobs))
    # Every check passed: now write, all or nothing.
    if "info" in data and isinstance(data["info"], dict):
        meta.info = data["info"]
    if "licenses" in data and isinstance(data["licenses"], list):
        meta.licenses = data["licenses"]
    meta.extra.update({k: v for k, v in data.items() if k not in TOP_LEVEL_KEYS})
    with project_writes(project, [a.image for a in results]):
        project.labels.set_categories(plan.labels.categories)
        project.save_settings()
        save_meta(project, meta)
        written = project.save_many(results, texts=texts)  # one sync for the lot, not one per file
    report.written.extend(written)
    if report.clipped_points:
        report.notes.append(f"{report.clipped_points} polygon point(s) outside their image were clipped to it")
    return report


def _match_images(project: Project, images: list[dict], report: ImportReport) -> dict[int, str]:
    """COCO image id -> project image path: relative path first, then a unique basename."""
    ours = project.images()
    exact = set(ours)
    by_name: dict[str, list[str]] = defaultdict(list)
    for rel in ours:
        by_name[PurePosixPath(rel).name].append(rel)
    matches: dict[int, str] = {}
    for im in images:
        name = PurePosixPath(im["file_name"].replace("\\", "/").removeprefix("./"))
        if name.as_posix() in exact:
            matches[im["id"]] = name.as_posix()
            continue
        candidates = by_name.get(name.name, [])
        if len(candidates) == 1:
            matches[im["id"]] = candidates[0]
        elif candidates:
            report.unmatched_images.append(
                f"{im['file_name']}: its name matches {len(candidates)} images ({', '.join(candidates[:3])}); "
                "give the relative path in file_name")
        else:
            report.unmatched_images.append(f"{im['file_name']}: no such image in {project.root}")
    return matches


def _merge(ann: ImageAnnotations, shapes: list[Shape], replace: bool) -> int:
    """Put *shapes* into *ann*; returns how many replaced a shape with the same id."""
    if replace:
        ann.shapes = list(shapes)
        return 0
    incoming = {s.id for s in shapes}
    kept = [s for s in ann.shapes if s.id not in incoming]
    replaced = len(ann.shapes) - len(kept)
    ann.shapes = kept + list(shapes)
    return replaced


# --- results lists ----------------------------------------------------------------------
def _import_results(project: Project, entries: list[dict[str, Any]], tolerance: float,
                    min_score: float) -> ImportReport:
    """Detections/segmentations with scores -> unaccepted model proposals.

    Image ids are resolved with the ids this project exports (``meta.image_ids``), and
    category ids with the label set's ids, which is what a model evaluated on our
    export writes back.
    """
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    report = ImportReport(kind="results")
    meta, meta_problem = load_meta(project)
    if meta_problem:
        report.notes.append(meta_problem)
    by_id = {i: rel for rel, i in image_ids(project.images(), meta).items()}
    per_image: dict[str, list[Shape]] = defaultdict(list)
    loaded: dict[str, ImageAnnotations] = {}
    skipped = 0
    for i, a in enumerate(entries):
        where = f"[{i}]"
        rel = by_id.get(a["image_id"])
        if rel is None:
            report.unmatched_images.append(f"{where}: image_id {a['image_id']} is not an image id of this "
                                           "project (ids as `export` writes them)")
            continue
        cat = project.labels.by_id(a["category_id"])
        if cat is None:
            report.unknown_categories.append(f"{where}: category_id {a['category_id']} is not in the project's "
                                             "label set")
            continue
        if a["score"] < min_score:
            skipped += 1
            continue
        if rel not in loaded:
            try:
                loaded[rel] = project.load(rel)
            except (AnnotationFileError, ImageReadError) as exc:
                report.problems.append(f"{rel}: not imported: {exc}")
                continue
        ann = loaded[rel]
        seg = a.get("segmentation")
        if isinstance(seg, dict) and tuple(seg["size"]) != (ann.height, ann.width):
            report.problems.append(f"{where}: segmentation.size {seg['size']} but {rel} is "
                                   f"[{ann.height}, {ann.width}]; not imported")
            continue
        converted = annotation_to_shape(a, cat.name, ann.height, ann.width, tolerance=tolerance, shape_id=new_id())
        report.clipped_points += converted.clipped_points
        if converted.shape is None:
            report.problems.append(f"{where} on {rel}: covers no pixel of the image; not imported")
            continue
        per_image[rel].append(converted.shape.replace(source="model", accepted=False))
    for rel, shapes in per_image.items():
        ann = loaded[rel]
        ann.apply_proposals(shapes)
        report.shapes += len(shapes)
        report.images_matched += 1
    with project_writes(project, list(per_image)):
        written = project.save_many(loaded[rel] for rel in per_image)
    report.written.extend(written)
    if skipped:
        report.notes.append(f"{skipped} result(s) below --min-score {min_score:g} skipped")
    if report.clipped_points:
        report.notes.append(f"{report.clipped_points} polygon point(s) outside their image were clipped to it")
    return report
