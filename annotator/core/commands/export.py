"""``pnp-annotator export DIR --out coco.json``: the project as a COCO instances file."""

from __future__ import annotations

import argparse
import sys

from annotator.core.commands import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, open_project

HELP = "write a project's annotations as a COCO instances JSON file"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help=HELP, description=HELP + ".")
    p.add_argument("dir", metavar="DIR", help="the image folder (project root)")
    p.add_argument("--out", required=True, metavar="COCO.json", help="output file (written atomically)")
    p.add_argument("--accepted-only", action="store_true",
                   help="leave out model proposals nobody has accepted yet")
    p.add_argument("--segmentation", choices=("auto", "polygon", "rle"), default="auto",
                   help="auto (default): polygons, RLE for shapes with holes; polygon: always polygons "
                        "(holes kept by cutting shapes into hole-free pieces); rle: always compressed RLE")
    return p


def run(args: argparse.Namespace) -> int:
    from annotator.core.coco import export_coco

    project = open_project(args.dir)
    if project is None:
        return EXIT_USAGE
    try:
        report = export_coco(project, args.out, segmentation=args.segmentation,
                             accepted_only=args.accepted_only)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    per_class = ", ".join(f"{name} {n}" for name, n in report.per_category.most_common()) or "none"
    print(f"Wrote {report.path}: {report.images} images, {report.annotations} annotations ({per_class}).")
    for problem in report.problems:
        print(f"  problem: {problem}")
    return EXIT_SOME_FAILED if report.problems else EXIT_OK
