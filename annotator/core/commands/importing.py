"""``pnp-annotator import COCO.json --images DIR``: COCO annotations into a project;
``--format semantic-png`` reads a folder of label PNGs instead (annotator/core/semantic.py)."""

from __future__ import annotations

import argparse
import sys

from annotator.core.commands import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, open_project
from annotator.core.commands.argtypes import non_negative, non_negative_int
from annotator.core.terminal import printable

HELP = "add the annotations of a COCO file (instances or results list) or of semantic label PNGs to a folder of images"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("import", help=HELP, description=HELP + ". Images are matched by "
                              "file_name: relative path first, then a unique basename.")
    p.add_argument("coco", metavar="PATH", help="coco: the JSON file; semantic-png: the folder holding labels.csv")
    p.add_argument("--images", required=True, metavar="DIR", help="the image folder (project root)")
    p.add_argument("--format", choices=("coco", "semantic-png"), default="coco",
                   help="coco (default), or semantic-png: label PNGs + labels.csv as `export --format "
                        "semantic-png` writes them (one shape per class and image)")
    p.add_argument("--replace", action="store_true",
                   help="replace the existing shapes of every matched image (default: add to them; a "
                        "shape imported before replaces its earlier version)")
    p.add_argument("--tolerance", type=non_negative, default=0.0, metavar="PX",
                   help="simplify polygons traced from RLE masks by this many pixels (default: 0, exact)")
    p.add_argument("--min-score", type=non_negative, default=0.0, metavar="S",
                   help="results lists only: skip detections scoring below S (default: 0, keep all)")
    p.add_argument("--workers", type=non_negative_int, metavar="N",
                   help="coco: processes converting the annotations (default: one per core, up to 8, for "
                        "files of a few hundred images or more; 0: in this process). The result is the same")
    return p


def run(args: argparse.Namespace) -> int:
    project = open_project(args.images)
    if project is None:
        return EXIT_USAGE
    if args.format == "semantic-png":
        return _semantic(project, args)
    from annotator.core.coco import CocoFormatError, import_coco
    from annotator.core.jobs import tqdm_progress
    from annotator.core.rollback import WriteFailed

    progress, close = tqdm_progress("Importing")
    try:
        report = import_coco(project, args.coco, replace=args.replace, tolerance=args.tolerance,
                             min_score=args.min_score, progress=progress, workers=args.workers)
    except (CocoFormatError, WriteFailed) as exc:
        print(f"error: {printable(exc)}\nNothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    what = "model proposals from a results list" if report.kind == "results" else "shapes"
    _print(report, what, project.root)
    for line in report.unknown_categories:
        print(f"  unknown category: {printable(line)}")
    return EXIT_OK if report.complete else EXIT_SOME_FAILED


def _semantic(project, args: argparse.Namespace) -> int:
    from annotator.core.jobs import tqdm_progress
    from annotator.core.rollback import WriteFailed
    from annotator.core.semantic import SemanticFormatError, import_semantic

    progress, close = tqdm_progress("Importing")
    try:
        report = import_semantic(project, args.coco, replace=args.replace, progress=progress)
    except (SemanticFormatError, WriteFailed) as exc:
        print(f"error: {printable(exc)}\nNothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    _print(report, "shapes (one per class and image)", project.root)
    return EXIT_OK if report.complete else EXIT_SOME_FAILED


def _print(report, what: str, root) -> None:
    replaced = f" ({report.replaced} replaced their earlier version)" if report.replaced else ""
    print(f"Imported {report.shapes} {what}{replaced} into {len(report.written)} of {report.images_matched} "
          f"matched images under {printable(root)}.")
    for line in report.unmatched_images:
        print(f"  unmatched image: {printable(line)}")
    for line in report.problems:
        print(f"  problem: {printable(line)}")
    for line in report.notes:
        print(f"  note: {printable(line)}")
