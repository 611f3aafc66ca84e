"""``pnp-annotator label DIR --classes "sky, road"``: model proposals for a whole folder."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from dataclasses import replace

from annotator.core.commands import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, open_project
from annotator.core.terminal import printable
from annotator.core.commands.argtypes import fraction, non_negative, non_negative_int, positive_int, probability
from annotator.core.commands.ray_option import add_ray_arguments
from annotator.core.project import BACKGROUND_MODES, DEVICES, PROPOSAL_MODES

HELP = "propose shapes for every image of a folder with the segmentation model (no window)"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "label", help=HELP, description=HELP + ". Shapes are saved image by image, so a stopped run "
        "can be resumed with --skip-annotated. Your own and accepted shapes are never changed: a "
        "new run only replaces the unaccepted model proposals. Every setting defaults to the "
        "project's (.pnp-annotator/project.json, shared with the window); a setting given here is "
        "saved there for the next run and the window.")
    p.add_argument("dir", metavar="DIR", help="folder of images (searched recursively)")
    p.add_argument("--classes", metavar='"A, B, C"',
                   help="comma-separated class names (default: the project's last class prompt)")
    p.add_argument("--model", metavar="ID|PATH",
                   help="Hugging Face model id or local folder; the engine follows from it: "
                        "Salesforce/blip-itm-large-flickr (PnP-OVSS, the default) or facebook/sam3 "
                        "(SAM 3, gated: accept its licence on the hub, then `hf auth login`)")
    p.add_argument("--device", choices=DEVICES, help="default: the project's, else auto")
    p.add_argument("--skip-annotated", action="store_true",
                   help="skip images that already have shapes or were processed by an earlier run")
    p.add_argument("--presence-threshold", type=probability, metavar="P",
                   help="drop classes whose image-text match probability is below P (0..1)")
    p.add_argument("--threshold", type=probability, metavar="T",
                   help="per-class threshold (0..1; default: the project's, else the engine's: PnP-OVSS 0.15 on "
                        "normalised heatmaps, SAM 3 0.5 on probabilities)")
    p.add_argument("--background", choices=BACKGROUND_MODES,
                   help="background channel: auto (fewer than 3 classes), always or never")
    p.add_argument("--proposals", choices=PROPOSAL_MODES,
                   help="shapes per class region of the label map (regions) or per detected object "
                        "(instances, SAM 3 only); auto: instances for SAM 3, regions for PnP-OVSS")
    p.add_argument("--out", metavar="COCO.json", help="also export the project to this COCO file at the end")
    p.add_argument("--force", action="store_true",
                   help="write --out even inside the image folder or over a file that is not an earlier "
                        "export of pnp-annotator (never inside .pnp-annotator)")
    p.add_argument("--batch-size", type=positive_int, default=4, metavar="N",
                   help="images per model call (default: 4)")
    p.add_argument("--tolerance", type=non_negative, metavar="PX",
                   help="polygon simplification in pixels (default: the project's, 1.5)")
    p.add_argument("--min-area", type=fraction, metavar="FRACTION",
                   help="drop regions below this fraction of the image (default: the project's, 0.0005)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help="sharpen each proposal's outline with the interactive model (SAM 2.1): its box, "
                        "heatmap peaks and neighbouring classes become prompts (default: the project's, off)")
    p.add_argument("--interactive-model", metavar="ID|PATH",
                   help="the model --refine uses (default: the project's, else facebook/sam2.1-hiera-tiny)")
    p.add_argument("--postprocess-workers", type=non_negative_int, metavar="N",
                   help="processes that turn the model's maps into shapes (dense CRF, polygons) while the "
                        "model runs the next images; 0: none, in this process (default: sized from the "
                        "cores, e.g. 2 on a 2-core CPU, cores - 1 beside a GPU; none below 8 images). "
                        "The files written are the same")
    add_ray_arguments(p)
    return p


# argparse destination -> ProjectSettings field, for the flags that are remembered.
_REMEMBERED = {"classes": "classes", "model": "model", "device": "device",
               "presence_threshold": "presence_threshold", "threshold": "threshold",
               "background": "background", "proposals": "proposals", "tolerance": "simplify_tolerance",
               "min_area": "min_area_fraction", "refine": "refine",
               "interactive_model": "interactive_model"}


def run(args: argparse.Namespace) -> int:
    with _handling(_interrupt):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    project = open_project(args.dir)
    if project is None:
        return EXIT_USAGE
    settings = replace(project.settings, **{field: getattr(args, dest) for dest, field in _REMEMBERED.items()
                                            if getattr(args, dest) is not None})
    if not settings.classes.strip():
        return _fail('no classes given: add --classes "sky, road, car"')

    from engine import DEFAULT_MODEL
    from engine.prompts import normalize_classes

    try:
        classes = normalize_classes(settings.classes)
    except ValueError as exc:
        return _fail(f"--classes: {exc}")
    images = project.images()
    if not images:
        return _fail(f"no images (jpg, jpeg, png, bmp, tif, tiff, webp) found under {project.root}")
    if args.out:
        from annotator.core.outputs import OutputRefused, check_export_target

        try:  # before any model work: the run must not end by overwriting a file of the user's
            check_export_target(project.root, args.out, force=args.force)
        except OutputRefused as exc:
            return _fail(str(exc))

    from annotator.core.lock import ProjectLockedError, StateWriteError, project_lock

    with contextlib.ExitStack() as stack:
        try:  # before the model loads: a second run, a read-only folder or a full disk stop here
            stack.enter_context(project_lock(project, "pnp-annotator label"))
        except (ProjectLockedError, StateWriteError) as exc:
            return _fail(str(exc))
        model = settings.model or DEFAULT_MODEL
        segmenter = None  # with --ray, each model actor of the cluster loads its own
        if args.ray is None:
            # started before the model loads, so the workers' start-up is hidden behind it
            pool = stack.enter_context(_postprocess_pool(settings, args, len(images)))
            segmenter = _load(settings)
            if isinstance(segmenter, int):
                return segmenter
        from annotator.core.proposals import resolve_proposals

        engine_name = segmenter.engine if segmenter is not None else _engine_of(model)
        try:
            if engine_name:
                resolve_proposals(settings.proposals, engine_name)
        except ValueError as exc:
            if segmenter is not None:
                segmenter.close()
            return _fail(f"--proposals: {exc}")
        refiner = _load_refiner(settings, args)
        if isinstance(refiner, int):
            if segmenter is not None:
                segmenter.close()
            return refiner
        before = _project_file_bytes(project)
        try:
            project.settings = settings  # remembered once the run is sure to start
            for name in classes:
                project.labels.add(name)
            project.save_settings()
        except OSError as exc:
            if segmenter is not None:
                segmenter.close()
            return _fail(f"cannot write {project.state_dir}: {exc.strerror or exc}. Nothing was changed.")
        try:
            summary = _run_batch(project, segmenter, images, classes, model, args, refiner,
                                 pool if args.ray is None else None)
        finally:
            close = getattr(segmenter, "close", None)
            if close is not None:
                close()  # post-processing processes, if the engine started any
        if summary is None:  # the class list was refused (or the cluster could not run it)
            _restore_project_file(project, before)
    if summary is None:
        return EXIT_USAGE
    _print_summary(summary)
    if summary.stopped:
        return _fail(summary.stopped)
    status = EXIT_INTERRUPTED if summary.cancelled else EXIT_SOME_FAILED if summary.failed else EXIT_OK
    if args.out:
        from annotator.core.coco import export_coco

        report = export_coco(project, args.out)
        print(f"Wrote {report.path}: {report.images} images, {report.annotations} annotations.")
        for problem in report.problems:
            print(f"  problem: {printable(problem)}")
    return status


def _project_file_bytes(project) -> bytes | None:
    """project.json as it is before a run changes it (None: there is none)."""
    from annotator.core.statefiles import read_state_bytes

    try:
        return read_state_bytes(project.layout.project_file)
    except OSError:
        return None


def _restore_project_file(project, before: bytes | None) -> None:
    """A run refused before it started leaves project.json as it was: no classes, no settings kept."""
    from annotator.core.atomic import atomic_write_bytes

    path = project.layout.project_file
    with contextlib.suppress(OSError):
        if before is None:
            path.unlink()
        else:
            atomic_write_bytes(path, before)


def _load(settings):
    """The segmenter, or the exit code after printing why it cannot be loaded."""
    from engine import DEFAULT_MODEL, BrokenInstallError, ModelNotFoundError

    from annotator.core.pipeline import load_segmenter

    model = settings.model or DEFAULT_MODEL
    try:
        return load_segmenter(settings)
    except (ModelNotFoundError, BrokenInstallError) as exc:
        return _fail(str(exc))
    except (ValueError, RuntimeError) as exc:  # e.g. --device cuda without a GPU
        return _fail(f"cannot load model {model!r} on device {settings.device!r}: {exc}")


def _load_refiner(settings, args):
    """The --refine hook (None when off, and with --ray, where each model actor loads its
    own), or the exit code after printing why it cannot load."""
    if not settings.refine or args.ray is not None:
        return None
    from annotator.core.refine import RefinerLoadError, load_refiner

    try:
        return load_refiner(settings)
    except RefinerLoadError as exc:
        return _fail(str(exc))


@contextlib.contextmanager
def _postprocess_pool(settings, args, images: int):
    """The post-processing processes of a local run (None: post-process in this process)."""
    from annotator.core.postpool import start_pool

    device = settings.device or "auto"
    if device != "cpu":  # resolving "auto" imports torch; "cpu" needs nothing, so the workers start sooner
        try:
            from engine.loading import resolve_device

            device = resolve_device(device).type
        except (ValueError, RuntimeError):
            yield None  # the model's load names the problem
            return
    pool = start_pool(args.postprocess_workers, device, images)
    if pool is None:
        yield None
        return
    with pool:
        yield pool


def _run_batch(project, segmenter, images, classes, model, args, refiner=None, pool=None):
    from tqdm import tqdm

    from annotator.core.pipeline import ClassListError, PipelineOptions, run_pipeline

    options = PipelineOptions.from_settings(project.settings, classes, batch_size=args.batch_size,
                                            skip_annotated=args.skip_annotated, model=model,
                                            postprocess_workers=args.postprocess_workers)
    bar = tqdm(total=0, unit="img", desc="Labelling", file=sys.stderr, dynamic_ncols=True, disable=None)
    failed = 0

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "images" and done == 0:
            bar.reset(total=total)

    def on_image(rel: str, outcome: str, detail) -> None:
        nonlocal failed
        if outcome == "failed":
            failed += 1
            bar.set_postfix(failed=failed)
            tqdm.write(f"failed: {printable(rel)}: {printable(detail)}", file=sys.stderr)
        if outcome != "skipped":
            bar.update(1)

    cancel = threading.Event()
    try:
        with _ctrl_c_sets(cancel):
            if args.ray is not None:
                return _run_on_ray(project, images, options, args, on_image=on_image,
                                   on_progress=on_progress, cancel=cancel)
            return run_pipeline(project, segmenter, images, options, on_image=on_image,
                                on_progress=on_progress, cancel=cancel, refiner=refiner, pool=pool)
    except ClassListError as exc:
        _fail(f"--classes: {exc}")
        return None
    finally:
        bar.close()


def _engine_of(model: str) -> str:
    """The engine a model's config names, read without loading it; "" when this machine
    has no copy (with --ray only the cluster's nodes may have it)."""
    from engine import ModelNotFoundError
    from engine.loading import resolve_model_source

    try:
        return resolve_model_source(model).engine.name
    except ModelNotFoundError:
        return ""


def _run_on_ray(project, images, options, args, **callbacks):
    """The same run on a Ray cluster (README "Labelling on a Ray cluster"); None after
    printing why when the cluster cannot run it."""
    import functools

    from annotator.core.commands.ray_option import ray_job
    from annotator.core.executors.ray_label import label_on_ray
    from annotator.core.executors.ray_runtime import ClusterError, check_images_visible
    from annotator.core.pipeline import load_segmenter
    from annotator.core.refine import load_refiner

    try:
        with ray_job(args) as plan:
            check_images_visible(project.root)
            refiner = functools.partial(load_refiner, project.settings) if options.refine else None
            return label_on_ray(project, functools.partial(load_segmenter, project.settings), images,
                                options, plan, load_refiner=refiner, **callbacks)
    except ClusterError as exc:
        _fail(str(exc))
        return None


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""What stops a run like Ctrl-C: SIGTERM (``timeout``, ``docker stop``, ``kill``), SIGHUP (a closed terminal)."""


@contextlib.contextmanager
def _handling(handler):
    """*handler* for every signal of STOP_SIGNALS during the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # SIGINT always (as before); SIGTERM, SIGHUP unless ignored on purpose (nohup)
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS
                if sig == signal.SIGINT or signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def _interrupt(signum, frame):
    """Before the run starts, SIGTERM and SIGHUP interrupt as Ctrl-C does (the lock released,
    the pool stopped, exit 130)."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def _ctrl_c_sets(cancel: threading.Event):
    """First Ctrl-C (or SIGTERM, SIGHUP): finish saving and stop at the next model pass;
    second: stop now."""
    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        with contextlib.suppress(OSError, ValueError):  # SIGHUP: the terminal may be gone
            print("\nStopping: finished images are saved (Ctrl-C again to stop at once).", file=sys.stderr)

    with _handling(handler):
        yield


def _print_summary(s) -> None:
    rate = len(s.labelled) / s.seconds if s.seconds > 0 else 0.0
    print(f"Labelled {len(s.labelled)} of {s.total} images in {s.seconds:.1f} s ({rate:.2f} images/s); "
          f"skipped {len(s.skipped)} (already annotated); failed {len(s.failed)}.")
    per_class = ", ".join(f"{name} {n}" for name, n in s.shapes_per_class.most_common())
    print(f"Shapes per class: {per_class or 'none'}")
    if s.failed:
        print("Failed images:")
        for rel, reason in s.failed:
            print(f"  {printable(rel)}: {printable(reason)}")
    if s.cancelled:
        print("Interrupted. Run the same command with --skip-annotated to continue where it stopped.")


def _fail(message: str) -> int:
    print(f"error: {printable(message)}", file=sys.stderr)
    return EXIT_USAGE
