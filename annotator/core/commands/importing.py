"""``pnp-annotator import COCO.json --images DIR``: COCO annotations into a project."""

from __future__ import annotations

import argparse
import sys

from annotator.core.commands import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, open_project
from annotator.core.commands.argtypes import non_negative

HELP = "add the annotations of a COCO instances JSON file to a folder of images"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("import", help=HELP, description=HELP + ". Images are matched by "
                              "file_name: relative path first, then a unique basename.")
    p.add_argument("coco", metavar="COCO.json")
    p.add_argument("--images", required=True, metavar="DIR", help="the image folder (project root)")
    p.add_argument("--replace", action="store_true",
                   help="replace the existing shapes of every matched image (default: add to them; a "
                        "shape exported by pnp-annotator replaces its earlier version)")
    p.add_argument("--tolerance", type=non_negative, default=0.0, metavar="PX",
                   help="simplify polygons traced from RLE masks by this many pixels (default: 0, exact)")
    p.add_argument("--min-score", type=non_negative, default=0.0, metavar="S",
                   help="results lists only: skip detections scoring below S (default: 0, keep all)")
    return p


def run(args: argparse.Namespace) -> int:
    from annotator.core.coco import CocoFormatError, import_coco

    project = open_project(args.images)
    if project is None:
        return EXIT_USAGE
    try:
        report = import_coco(project, args.coco, replace=args.replace, tolerance=args.tolerance,
                             min_score=args.min_score)
    except CocoFormatError as exc:
        print(f"error: {exc}\nNothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    what = "model proposals from a results list" if report.kind == "results" else "shapes"
    replaced = f" ({report.replaced} replaced their earlier version)" if report.replaced else ""
    print(f"Imported {report.shapes} {what}{replaced} into {len(report.written)} of {report.images_matched} "
          f"matched images under {project.root}.")
    for line in report.unmatched_images:
        print(f"  unmatched image: {line}")
    for line in report.unknown_categories:
        print(f"  unknown category: {line}")
    for line in report.problems:
        print(f"  problem: {line}")
    for line in report.notes:
        print(f"  note: {line}")
    return EXIT_OK if report.complete else EXIT_SOME_FAILED
