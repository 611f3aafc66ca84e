"""``pnp-annotator export DIR --out coco.json``: the project as a COCO instances file,
or ``--format semantic-png --out FOLDER``: one label PNG per image (annotator/core/semantic.py)."""

from __future__ import annotations

import argparse
import sys

from annotator.core.commands import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, open_project
from annotator.core.terminal import printable

HELP = "write a project's annotations as a COCO instances JSON file or as semantic label PNGs"
FORMATS = ("coco", "semantic-png")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help=HELP, description=HELP + ".")
    p.add_argument("dir", metavar="DIR", help="the image folder (project root)")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="coco: the output file; semantic-png: the output folder (files written atomically)")
    p.add_argument("--format", choices=FORMATS, default="coco",
                   help="coco (default): instances JSON; semantic-png: per image a class-id PNG (greyscale and "
                        "VOC-palette indexed), labels.csv and an image list (mmsegmentation / VOC layout); "
                        "where shapes overlap, the last shape of the image wins")
    p.add_argument("--force", action="store_true",
                   help="coco: write --out even inside the image folder or over a file that is not an "
                        "earlier export of pnp-annotator (never inside .pnp-annotator)")
    p.add_argument("--accepted-only", action="store_true",
                   help="leave out model proposals nobody has accepted yet")
    p.add_argument("--segmentation", choices=("auto", "polygon", "rle"), default="auto",
                   help="coco only. auto (default): polygons, RLE for shapes with holes and crowd regions; "
                        "polygon: polygons (holes kept by cutting parts into hole-free pieces); rle: always "
                        "compressed RLE")
    p.add_argument("--unlabeled", type=int, choices=(0, 255), default=0,
                   help="semantic-png only: the value of pixels no shape covers (default 0; 255 = 'ignore')")
    return p


def run(args: argparse.Namespace) -> int:
    project = open_project(args.dir)
    if project is None:
        return EXIT_USAGE
    if args.format == "semantic-png":
        return _semantic(project, args)
    from annotator.core.coco import export_coco
    from annotator.core.jobs import tqdm_progress
    from annotator.core.outputs import OutputRefused, check_export_target

    try:
        check_export_target(project.root, args.out, force=args.force)
    except OutputRefused as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return EXIT_USAGE

    progress, close = tqdm_progress("Exporting")
    try:
        report = export_coco(project, args.out, segmentation=args.segmentation,
                             accepted_only=args.accepted_only, progress=progress)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    per_class = ", ".join(f"{name} {n}" for name, n in report.per_category.most_common()) or "none"
    print(f"Wrote {report.path}: {report.images} images, {report.annotations} annotations ({per_class}).")
    for problem in report.problems:
        print(f"  problem: {printable(problem)}")
    return EXIT_SOME_FAILED if report.problems else EXIT_OK


def _semantic(project, args: argparse.Namespace) -> int:
    from annotator.core.jobs import tqdm_progress
    from annotator.core.semantic import SemanticFormatError, export_semantic

    progress, close = tqdm_progress("Exporting")
    try:
        report = export_semantic(project, args.out, accepted_only=args.accepted_only, unlabeled=args.unlabeled,
                                 progress=progress)
    except SemanticFormatError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot write under {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    per_class = ", ".join(f"{name} {n} px" for name, n in report.pixels.most_common()) or "none"
    print(f"Wrote {report.images} label PNGs under {report.out} ({per_class}); "
          f"{report.not_annotated} images without annotations were not written.")
    for problem in report.problems:
        print(f"  problem: {printable(problem)}")
    return EXIT_SOME_FAILED if report.problems else EXIT_OK
