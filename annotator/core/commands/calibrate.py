"""``pnp-annotator calibrate DIR``: which engine, threshold and sharpening suit each class,
learnt from the reviewed images, written as a report and (unless --no-apply) as routes."""

from __future__ import annotations

import argparse
import sys

from annotator.core.commands import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, open_project
from annotator.core.commands.argtypes import positive_int
from annotator.core.project import DEVICES

HELP = "learn per class which engine, threshold and sharpening would have saved the most work"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate", help=HELP, description=HELP + ". The reviewed images (every shape drawn or accepted "
        "by you, none pending) are the ground truth; every available engine (PnP-OVSS regions, SAM 3 "
        "regions and instances), with and without sharpening, is scored over a grid of thresholds. "
        "Each class gets the candidate with the best IoU; the numbers shown are held out (chosen on "
        "one half of the images, measured on the other). Model outputs are cached in the project's "
        "state folder, so a later calibration runs the model only on newly reviewed images.")
    p.add_argument("dir", metavar="DIR", help="folder of images (the project)")
    p.add_argument("--classes", metavar='"A, B, C"',
                   help="classes to calibrate (default: the project's class prompt, else its labels)")
    p.add_argument("--pnp-model", metavar="ID|PATH", help="PnP-OVSS model (default: the project's model "
                   "when it is one, else Salesforce/blip-itm-large-flickr)")
    p.add_argument("--sam3-model", metavar="ID|PATH", help="SAM 3 model (default: the project's model when "
                   "it is one, else facebook/sam3)")
    p.add_argument("--engines", metavar="LIST", help="only these engines, e.g. 'sam3' (default: all that load)")
    p.add_argument("--sharpen", action=argparse.BooleanOptionalAction, default=True,
                   help="also score sharpened regions (needs the interactive model; default: on)")
    p.add_argument("--device", choices=DEVICES, help="default: the project's, else auto")
    p.add_argument("--min-images", type=positive_int, default=6, metavar="N",
                   help="reviewed images a class must appear in before it is calibrated (default: 6)")
    p.add_argument("--batch-size", type=positive_int, default=4, metavar="N", help="images per model call")
    p.add_argument("--report-dir", metavar="DIR",
                   help="where calibration-report.{png,html,json} go (default: the project's .pnp-annotator)")
    p.add_argument("--apply", action=argparse.BooleanOptionalAction, default=True,
                   help="store the chosen route per class in project.json (default: on)")
    return p


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    project = open_project(args.dir)
    if project is None:
        return EXIT_USAGE
    settings = project.settings if args.device is None else replace(project.settings, device=args.device)
    classes = _classes(args.classes or settings.classes, project)
    if isinstance(classes, int):
        return classes

    from annotator.core.calibration import CalibrationOptions, calibrate, reviewed_images
    from annotator.core.calibration.loading import load_engines
    from annotator.core.calibration.report import report_dir, summary_lines, write_report
    from annotator.core.jobs import JobCancelled, tqdm_progress
    from annotator.core.lock import ProjectLockedError, StateWriteError, project_lock

    images = reviewed_images(project)
    if not images:
        return _fail(f"no reviewed images in {project.root}: accept or draw every shape of a few images "
                     "first (an image with a pending proposal does not count)")
    models = {k: v for k, v in (("pnp-ovss", args.pnp_model), ("sam3", args.sam3_model)) if v}
    only = tuple(e.strip() for e in (args.engines or "").split(",") if e.strip())
    bad = [e for e in only if e not in ("pnp-ovss", "sam3")]
    if bad:
        return _fail(f"--engines: unknown engine(s) {', '.join(bad)}; use pnp-ovss and/or sam3")
    try:
        with project_lock(project, "pnp-annotator calibrate"):
            loaded = load_engines(settings, models, sharpen=args.sharpen, only=only)
            for note in loaded.notes:
                print(f"note: {note}", file=sys.stderr)
            if not loaded.engines:
                return _fail("no engine could be loaded (see the notes above)")
            progress, close = tqdm_progress("calibrate")
            try:
                cal = calibrate(project, loaded.engines,
                                CalibrationOptions(classes, min_images=args.min_images,
                                                   min_area_fraction=settings.min_area_fraction,
                                                   batch_size=args.batch_size),
                                images=images, sharpener=loaded.sharpener, progress=progress)
            finally:
                close()
                loaded.close()
            cal.notes[:0] = loaded.notes
            paths = write_report(cal, args.report_dir or report_dir(project))
            for line in summary_lines(cal):
                print(line)
            if args.apply:
                from annotator.core.calibration.apply import apply_routes

                routes = apply_routes(project, cal)
                print(f"Applied: {len(routes)} route(s) stored in {project.state_dir / 'project.json'}"
                      if routes else "Nothing applied: no class has enough reviewed images yet.")
            print(f"Report: {paths['html']}")
    except (ProjectLockedError, StateWriteError) as exc:
        return _fail(str(exc))
    except (KeyboardInterrupt, JobCancelled):
        print("\nInterrupted: nothing applied; the model outputs computed so far are cached for the next "
              "calibration.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _classes(text: str, project):
    from engine.prompts import normalize_classes

    if not text.strip():
        names = list(project.labels.names)
        if not names:
            return _fail('no classes: give --classes "sky, road, car" or set the project\'s classes')
        text = ", ".join(names)
    try:
        return normalize_classes(text)
    except ValueError as exc:
        return _fail(f"--classes: {exc}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
