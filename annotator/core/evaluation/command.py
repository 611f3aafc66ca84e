"""``pnp-annotator eval``: mIoU of the segmenter on a benchmark dataset.

The CLI module registers it with ``add_parser(subparsers)`` and dispatches to ``run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from annotator.core.commands.argtypes import positive_int, probability
from annotator.core.commands.ray_option import add_ray_arguments

from .class_sources import ClassListError, class_source
from .datasets import INFOS, DatasetError, open_dataset
from .metrics import scores
from .protocols import PROTOCOLS, engine_overrides, eval_space, prompt_names
from .report import record, summary, table, write_json
from .runner import EvalError, evaluate

EXIT_USAGE = 2

HELP = "measure mIoU on VOC, Pascal Context, COCO-Object, COCO-Stuff or ADE20K"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help=HELP, description=HELP + ".")
    p.add_argument("--dataset", required=True, choices=list(INFOS))
    p.add_argument("--root", required=True, metavar="DIR", help="dataset root folder (release layout)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="reference",
                   help="reference: the PnP-OVSS authors' evaluation (compare with the paper); "
                        "standard: mmseg's, as in SCLIP/NACLIP/ProxyCLIP tables (default: reference)")
    p.add_argument("--classes-from", default="presence", metavar="gt|presence|FILE.json",
                   help="per-image class lists: 'gt' (oracle, from the ground truth), 'presence' "
                        "(all dataset classes, filtered by ITM presence), or a JSON file "
                        "{image_id: [names] | GPT-4o answer} (default: presence)")
    p.add_argument("--presence-threshold", type=probability, default=0.5, metavar="P",
                   help="ITM match probability a class needs with --classes-from presence (default: 0.5)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images of the split (sorted)")
    p.add_argument("--split", help="split name (default: val / val2017 / validation)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="B", help="images per model call (default: 8)")
    p.add_argument("--out", metavar="FILE.json", help="write the results as JSON")
    p.add_argument("--model", metavar="ID|PATH",
                   help="Hugging Face model id or local folder (default: Salesforce/blip-itm-large-flickr)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="default: auto")
    add_ray_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from annotator.core.executors.ray_runtime import ClusterError
    from engine import EngineError  # ModelNotFoundError, DeviceOutOfMemoryError: messages say what to do

    try:
        return _run(args)
    except (DatasetError, ClassListError, EvalError, EngineError, ClusterError) as exc:
        print(f"pnp-annotator eval: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    # torch loads here, not at import: `pnp-annotator --help` stays instant.
    from engine import DEFAULT_MODEL, Segmenter, SegmenterConfig

    dataset = open_dataset(args.dataset, args.root, args.split)
    info = dataset.info
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    source = class_source(args.classes_from, info)
    source.check_covers([s.image_id for s in samples])
    space = eval_space(info, args.protocol)

    overrides = engine_overrides(info, args.protocol)
    if source.kind == "presence":
        overrides["presence_threshold"] = args.presence_threshold
    t0 = time.perf_counter()
    model = args.model or DEFAULT_MODEL
    prompt = prompt_names(info, args.protocol)
    if args.ray is not None:  # each model actor of the cluster loads its own: inside result.seconds
        config = SegmenterConfig(**overrides)
        result, device = _evaluate_on_ray(args, model, config, dataset, samples, space, source, prompt)
        load_s = 0.0
    else:
        seg = Segmenter.load(model=model, device=args.device, config=SegmenterConfig(**overrides))
        load_s = time.perf_counter() - t0
        result = evaluate(seg, dataset, samples, space, source, prompt,
                          batch_size=args.batch_size, progress=_progress_bar(len(samples)))
        config, device = seg.config, str(seg.device)
    sc = scores(result.hist, space.mean_over)
    rec = record(
        space=space, sc=sc, hist=result.hist,
        dataset=info.key, dataset_title=info.title, root=str(dataset.root), split=args.split,
        protocol=args.protocol, class_source=source.describe(), oracle=source.oracle,
        class_list_fallbacks=len(source.fallbacks & {s.image_id for s in samples}),
        presence_threshold=args.presence_threshold if source.kind == "presence" else None,
        limit=args.limit, images=result.images, seconds=result.seconds, model_load_seconds=load_s,
        images_per_s=result.images_per_s, batch_size=args.batch_size,
        prompted_classes_per_image=result.prompted_per_image,
        segmented_classes_per_image=result.kept_per_image,
        model=model, device=device, config=dataclasses.asdict(config),
        paper_miou=info.paper_miou if args.protocol == "reference" else None,
    )
    print(table(space, sc))
    print()
    print(summary(rec))
    if args.out:
        write_json(rec, args.out)
        print(f"wrote {args.out}")
    return 0


def _evaluate_on_ray(args, model, config, dataset, samples, space, source, prompt):
    """(EvalRun, device description) of the run on the Ray cluster ``--ray`` names."""
    import functools

    from annotator.core.commands.ray_option import ray_job
    from annotator.core.executors.ray_eval import evaluate_on_ray
    from annotator.core.executors.ray_runtime import check_images_visible
    from engine import Segmenter

    load = functools.partial(Segmenter.load, model=model, device=args.device, config=config)
    with ray_job(args) as plan:
        check_images_visible(dataset.root)
        result = evaluate_on_ray(load, dataset, samples, space, source, prompt, plan,
                                 batch_size=args.batch_size, progress=_progress_bar(len(samples)))
    return result, f"ray: {plan.describe()}"


def _progress_bar(total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", desc="eval", file=sys.stderr, disable=None)

    def progress(done: int, _total: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress

