"""The interactive model's prompt encoder + mask decoder on ONNX Runtime (CPU).

On a CPU, ONNX Runtime decodes a click in about half of torch's time (the mask decoder's
two-way transformer over 4096 image tokens is what a click costs). The image encoder stays
on torch: ONNX Runtime was measured no faster there (README). The two parts are exported
from the loaded model itself (``torch.onnx``'s dynamo exporter; the TorchScript one if that
fails) the first time it is used, and the file is cached in the user's cache folder under a
key made of the parts' weights, the model's config and the torch / transformers /
onnxruntime versions: another model, another checkpoint or another version of any of the
three gets its own file. Every time a file is opened it is checked against torch on the
current image; a file that does not load or disagrees is exported again.

The graph exported is ``regrouped.RegroupedPromptToMasks`` where the decoder has SAM 2's
structure (SAM 2 / 2.1 and the SAM 3 tracker): the same arithmetic as transformers' decoder,
regrouped so that a click does about a third less work; it must agree with ``PromptToMasks``
(transformers' own order, run by torch) like any graph, and if it does not, ``PromptToMasks``
itself is exported instead.

The graph takes every prompt as points: SAM's prompt encoder embeds a box's corners as
points with the labels 2 and 3, which is exactly what transformers' box path computes, and
the graph appends the "not a point" padding token itself. It returns all four masks and
IoU predictions; the caller chooses among them with the decoder's own rule
(``select_masks``), so one graph serves single- and multi-mask decoding.

When a file is opened, ``split_graph`` cuts it in two: the nodes that read only the image's
embeddings (the first layer's image-side key/value projections, the embedding plus the "no
mask" embedding, their copies and transposes) run once per image (``image_state``); a click
runs the rest. No node is changed, so the two parts compute exactly what the whole graph does;
the dynamo exporter's graph keeps fixed sizes as constants, which is what lets the image side
come apart from the prompts (the TorchScript graph reads them from the prompt's shape).

``PNP_ANNOTATOR_CACHE_DIR`` moves the cache folder (tests point it at a temporary folder).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import re
import time
import uuid
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import regrouped

FORMAT = 2  # bump when the exported graph's inputs, outputs or meaning change
IMAGE_INPUTS = ("feat_s0", "feat_s1", "image_embeddings")  # one image's embeddings
INPUTS = IMAGE_INPUTS + ("points", "labels")
OUTPUTS = ("masks", "iou_scores")
MAX_POINTS = 256  # prompt points + 2 box corners the graph accepts


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime (or the exporter's onnx / onnxscript) is not installed."""


def cache_folder() -> Path:
    """Where exported graphs are kept: $PNP_ANNOTATOR_CACHE_DIR/onnx, else the user's cache folder."""
    base = os.environ.get("PNP_ANNOTATOR_CACHE_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("pnp-annotator", appauthor=False)
    return Path(base) / "onnx"


# What this module writes into the cache folder: graphs, "unusable" markers, and temporary files
# of an export (left behind only if the process died during it). Nothing else there is touched.
_OURS = re.compile(r"[a-z0-9][a-z0-9-]*-prompt-decoder-[0-9a-f]{32}\.onnx(\.unusable)?")
_TEMPORARY = re.compile(r"\.[a-z0-9][a-z0-9-]*-prompt-decoder-[0-9a-f]{32}\.onnx(\.unusable)?\.\d+\.[0-9a-f]{8}\.tmp")
UNUSED_DAYS = 60  # a graph no model has opened for this long is deleted (another version's, another model's)


def prune_cache(folder: Path, used: Path, now: float | None = None) -> list[str]:
    """Mark *used* (a graph just opened) as used now, and delete from *folder* this module's graphs
    and markers unused for ``UNUSED_DAYS`` days and its temporary files older than a day (an export
    that died). Links and files of any other name are left alone. Returns the names deleted."""
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        os.utime(used, (now, now), follow_symlinks=False)
    deleted = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False) or entry.path == str(used):
                continue
            ours, temporary = _OURS.fullmatch(entry.name), _TEMPORARY.fullmatch(entry.name)
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if (ours and age > UNUSED_DAYS * 86400) or (temporary and age > 86400):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    deleted.append(entry.name)
    return deleted


def missing_packages() -> list[str]:
    import importlib.util

    return [name for name in ("onnxruntime", "onnx", "onnxscript") if importlib.util.find_spec(name) is None]


class PromptToMasks(torch.nn.Module):
    """The exported part: prompt points -> (all four mask logits, their IoU predictions).

    Shares the model's prompt encoder and mask decoder (nothing is copied but the decoder's
    attribute dict, so that its final mask choice is left to ``select_masks``)."""

    def __init__(self, model):
        super().__init__()
        self.prompt_encoder = model.prompt_encoder
        decoder = copy.copy(model.mask_decoder)  # shallow: same parameters and submodules
        # Its multi-mask choice becomes "keep all four": the stability path with an identity choice.
        decoder.dynamic_multimask_via_stability = True
        decoder._dynamic_multimask_via_stability = lambda masks, iou: (masks, iou)
        self.mask_decoder = decoder
        self.register_buffer("image_pe", model.get_image_wide_positional_embeddings().detach().clone())

    def forward(self, feat_s0, feat_s1, image_embeddings, points, labels):
        # input_boxes=None: the encoder appends the "not a point" token after the points,
        # as its box path does after the corners.
        sparse, dense = self.prompt_encoder(input_points=points, input_labels=labels, input_boxes=None,
                                            input_masks=None)
        masks, iou, _, _ = self.mask_decoder(
            image_embeddings=image_embeddings, image_positional_embeddings=self.image_pe,
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False,
            high_resolution_features=[feat_s0, feat_s1])
        return masks, iou


def prompt_points(input_points, input_labels, input_boxes) -> tuple[torch.Tensor, torch.Tensor]:
    """The processor's prompt tensors as the graph's points [1, 1, N, 2] and labels [1, 1, N]:
    the points, then a box's two corners labelled 2 and 3 (SAM's box encoding)."""
    points = [input_points.float()] if input_points is not None else []
    labels = [input_labels.long()] if input_labels is not None else []
    if input_boxes is not None:
        corners = input_boxes.float().reshape(1, 1, 2, 2)
        points.append(corners)
        labels.append(torch.tensor([[[2, 3]]], dtype=torch.long))
    return torch.cat(points, dim=2), torch.cat(labels, dim=2)


def select_masks(decoder, masks: torch.Tensor, iou: torch.Tensor, multimask: bool):
    """The mask decoder's own final choice among its four outputs (transformers' rule)."""
    if multimask:
        return masks[:, :, 1:], iou[:, :, 1:]
    if decoder.dynamic_multimask_via_stability and not decoder.training:
        return decoder._dynamic_multimask_via_stability(masks, iou)
    return masks[:, :, 0:1], iou[:, :, 0:1]


def graph_key(wrapper: torch.nn.Module, model, engine: str) -> str:
    """Hash of what the exported file depends on: weights, config, exporter and runtime versions."""
    import onnxruntime
    import transformers

    digest = hashlib.blake2b(digest_size=32)
    about = {"format": FORMAT, "engine": engine, "part": type(wrapper).__name__, "torch": torch.__version__,
             "transformers": transformers.__version__, "onnxruntime": onnxruntime.__version__,
             "config": model.config.to_dict()}
    digest.update(json.dumps(about, sort_keys=True, default=str).encode())
    for name, tensor in sorted(wrapper.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _session(model):
    """An ONNX Runtime CPU session of an in-memory ``onnx.ModelProto``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only (not shape-merge warnings)
    # Its threads spin between the operators of a run (faster), but not after it: a click's
    # mask resize and polygon tracing run on torch and OpenCV threads right after, on the same
    # cores (2-5 ms less per click on 2 cores).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def split_graph(model, image_inputs: tuple[str, ...] = IMAGE_INPUTS):
    """Split an exported graph into (image part, prompt part, state names).

    A node whose inputs come only from *image_inputs* and constants computes the same thing for
    every click on an image (the decoder's first image-side key/value projections, the image
    embedding plus the "no mask" embedding, its copies and transposes); the image part holds
    those and runs once per image. Its outputs that later nodes read, plus the image inputs
    those nodes read directly, are the *state names*: with the prompts, they are all the prompt
    part takes. The two parts compute exactly what the whole graph does (no node is changed).
    The image part is None when there is nothing to move (or the graph holds subgraphs, whose
    outer-scope reads this split does not follow).
    """
    import onnx
    from onnx import helper

    graph = model.graph
    typed = {v.name: v for v in list(graph.input) + list(graph.value_info) + list(graph.output)}
    constant = {init.name for init in graph.initializer}
    from_image = set(image_inputs)
    kinds = []
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            return None, model, list(image_inputs)
        inputs = [name for name in node.input if name]
        if all(name in constant for name in inputs):
            kinds.append("constant")
            constant.update(node.output)
        elif all(name in constant or name in from_image for name in inputs):
            kinds.append("image")
            from_image.update(node.output)
        else:
            kinds.append("prompt")
    state: list[str] = []
    for node, kind in zip(graph.node, kinds):
        if kind == "prompt":
            state += [name for name in node.input if name in from_image and name not in state]
    outputs = [o.name for o in graph.output]
    if any(name in from_image for name in outputs):  # an output that no prompt changes: keep the graph whole
        return None, model, list(image_inputs)
    computed = [name for name in state if name not in image_inputs]
    if not computed or any(name not in typed for name in computed):
        return None, model, list(image_inputs)

    def part(targets, allowed, name, inputs):
        needed, nodes = set(targets), []
        for node, kind in reversed(list(zip(graph.node, kinds))):
            if kind in allowed and any(out in needed for out in node.output):
                nodes.append(node)
                needed.update(n for n in node.input if n)
        initializers = [init for init in graph.initializer if init.name in needed]
        body = helper.make_graph(nodes[::-1], name, [typed[n] for n in inputs if n in needed],
                                 [typed[n] for n in targets], initializers)
        return helper.make_model(body, opset_imports=model.opset_import, ir_version=model.ir_version)

    image_part = part(computed, {"constant", "image"}, "image_part", list(image_inputs))
    prompt_part = part(outputs, {"constant", "prompt"}, "prompt_part",
                       state + [i.name for i in graph.input if i.name not in image_inputs])
    return image_part, prompt_part, state


class OnnxDecoder:
    """ONNX Runtime sessions of an exported click graph, split into a once-per-image part and a per-click part.

    ``image_state(features)`` runs the image part (once per image; the segmenter keeps its result
    beside the embedding); ``decoder(state, points, labels)`` runs the prompt part for one click."""

    def __init__(self, path: Path):
        import onnx

        self.path = path
        model = onnx.load_model_from_string(path.read_bytes())
        names = tuple(i.name for i in model.graph.input)
        if names != INPUTS:
            raise ValueError(f"{path.name} takes {names}, not {INPUTS}")
        image_part, prompt_part, self.state_names = split_graph(model)
        self.image_session = _session(image_part) if image_part is not None else None
        self.session = _session(prompt_part)
        self.prompt_inputs = tuple(i.name for i in self.session.get_inputs())

    def image_state(self, features) -> dict[str, np.ndarray]:
        """What every click on this image reads: the image part's outputs and the image inputs."""
        feed = dict(zip(IMAGE_INPUTS, (_numpy(features[0]), _numpy(features[1]), _numpy(features[-1]))))
        state = {name: feed[name] for name in self.state_names if name in feed}
        if self.image_session is not None:
            wanted = [o.name for o in self.image_session.get_outputs()]
            given = {i.name: feed[i.name] for i in self.image_session.get_inputs()}
            state.update(zip(wanted, self.image_session.run(wanted, given)))
        return state

    def __call__(self, state: dict, points: torch.Tensor, labels: torch.Tensor):
        feed = {name: state[name] for name in self.prompt_inputs if name in state}
        feed["points"] = points.numpy().astype(np.float32, copy=False)
        feed["labels"] = labels.numpy().astype(np.int64, copy=False)
        masks, iou = self.session.run(list(OUTPUTS), feed)
        return torch.from_numpy(masks), torch.from_numpy(iou)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().contiguous().numpy()


def prepare_decoder(model, engine: str, features, status: Callable[[str], None] | None = None,
                    folder: Path | None = None) -> OnnxDecoder:
    """The model's prompt encoder + mask decoder on ONNX Runtime, exported on first use.

    The graph is ``RegroupedPromptToMasks`` where the decoder has SAM 2's structure (fewer
    operations per click), else ``PromptToMasks``; either must agree with ``PromptToMasks`` run
    by torch (``check``). A regrouped graph that fails is marked unusable beside its file (it
    is not exported again for these weights and versions) and transformers' order is used.
    *features*: an image embedding of this model (export example and the check's input).
    Raises on any failure (the caller falls back to torch).
    """
    missing = missing_packages()
    if missing:
        raise OnnxUnavailable(f"not installed: {', '.join(missing)}")
    if model.dtype != torch.float32 or next(model.parameters()).device.type != "cpu":
        raise OnnxUnavailable("ONNX Runtime is used for float32 models on the CPU only")
    say = status or (lambda message: None)
    wrappers = graph_wrappers(model)
    reference = wrappers[-1]
    folder = folder or cache_folder()
    start, announced, failed = time.perf_counter(), [], []
    for wrapper in wrappers:
        path = folder / f"{engine}-prompt-decoder-{graph_key(wrapper, model, engine)[:32]}.onnx"
        unusable = path.with_name(path.name + ".unusable")
        if wrapper is not reference and unusable.is_file():
            continue  # failed before with these weights and versions
        try:
            decoder = _open_or_export(wrapper, reference, features, path, say, announced)
        except Exception as exc:  # noqa: BLE001 - the regrouped graph only: transformers' order next
            if wrapper is reference:
                raise
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            say(f"The regrouped click graph could not be used ({reason}); "
                f"exporting the decoder in transformers' own order")
            failed.append((path, unusable, reason))
            continue
        for graph, marker, reason in failed:  # only the regrouped graph failed: not tried again
            with contextlib.suppress(OSError):
                graph.unlink(missing_ok=True)
                _atomic_write_text(marker, reason + "\n")
        if announced:
            say(f"Click model ready on ONNX Runtime (exported in {time.perf_counter() - start:.0f} s, "
                f"cached in {folder})")
        prune_cache(folder, path)
        return decoder
    raise AssertionError("unreachable: the reference graph either returns or raises")


def graph_wrappers(model) -> list[torch.nn.Module]:
    """The graphs tried, in order: ``RegroupedPromptToMasks`` where the decoder has SAM 2's
    structure, then ``PromptToMasks`` (the reference every graph is checked against)."""
    wrappers = [PromptToMasks(model).eval()]
    if regrouped.supports(model):
        wrappers.insert(0, regrouped.RegroupedPromptToMasks(model).eval())
    return wrappers


def _open_or_export(wrapper, reference: PromptToMasks, features, path: Path, say, announced: list) -> OnnxDecoder:
    """*wrapper*'s graph from the cache, or exported into it; checked against *reference* (torch)."""
    if path.is_file() and not path.is_symlink():
        try:
            decoder = OnnxDecoder(path)
            check(decoder, reference, features)
            return decoder
        except Exception as exc:  # noqa: BLE001 - any damage: export again
            say(f"The cached ONNX Runtime file {path.name} is damaged or stale "
                f"({type(exc).__name__}: {_first_line(exc)}); exporting it again")
    if not announced:
        say("Preparing the click model for ONNX Runtime (once per model, about ten seconds)…")
        announced.append(True)
    exporter = export(wrapper, features, path)
    try:
        decoder = OnnxDecoder(path)
        check(decoder, reference, features)
    except Exception as exc:  # noqa: BLE001 - e.g. an ONNX Runtime older than the exporter's opset
        if exporter != "dynamo":
            raise
        say(f"ONNX Runtime could not use the dynamo exporter's graph ({type(exc).__name__}: "
            f"{_first_line(exc)}); exporting with the TorchScript exporter")
        export(wrapper, features, path, exporters=("torchscript",))
        decoder = OnnxDecoder(path)
        check(decoder, reference, features)
    return decoder


def _temporary(path: Path) -> Path:
    """A fresh temporary name beside *path* (the name ``_TEMPORARY`` matches)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _temporary(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _example_prompt(wrapper: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Two points (object, background) and a box, in the model's input pixel space."""
    side = float(wrapper.prompt_encoder.input_image_size)
    points = torch.tensor([[[[0.40 * side, 0.45 * side], [0.8 * side, 0.2 * side],
                             [0.25 * side, 0.3 * side], [0.7 * side, 0.75 * side]]]], dtype=torch.float32)
    labels = torch.tensor([[[1, 0, 2, 3]]], dtype=torch.long)
    return points, labels


EXPORTERS = ("dynamo", "torchscript")


def export(wrapper: torch.nn.Module, features, path: Path, exporters: tuple[str, ...] = EXPORTERS) -> str:
    """``torch.onnx.export`` of the prompt encoder + mask decoder into *path*, atomically.

    Tries *exporters* in turn; returns the one that wrote the file (the last one's error is raised)."""
    points, labels = _example_prompt(wrapper)
    args = (features[0].detach(), features[1].detach(), features[-1].detach(), points, labels)
    return _atomic_export(wrapper, args, path, INPUTS, OUTPUTS, {"points": 2, "labels": 2}, exporters)


def _write_graph(exporter: str, wrapper, args, target: Path, inputs, outputs, dynamic: dict) -> None:
    if exporter == "dynamo":  # fixed sizes stay constants, so the image part splits off cleanly
        n = torch.export.Dim("points", min=1, max=MAX_POINTS)
        shapes = {name: ({dynamic[name]: n} if name in dynamic else None) for name in inputs}
        program = torch.onnx.export(wrapper, args, None, dynamo=True, input_names=list(inputs),
                                    output_names=list(outputs), dynamic_shapes=shapes, verbose=False)
        program.save(str(target), external_data=False)
    else:  # TorchScript: opset 17, read by any ONNX Runtime we accept; its graph hardly splits (slower clicks)
        torch.onnx.export(wrapper, args, str(target), dynamo=False, input_names=list(inputs),
                          output_names=list(outputs), opset_version=17,
                          dynamic_axes={name: {axis: "points"} for name, axis in dynamic.items()})


def _atomic_export(wrapper, args, path: Path, inputs, outputs, dynamic: dict | None,
                   exporters: tuple[str, ...]) -> str:
    """``torch.onnx.export`` into a temporary file beside *path*, then renamed onto it.

    *dynamic*: input name -> its axis of variable length (the number of prompt points)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    dynamic = dynamic or {}
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            for i, exporter in enumerate(exporters):
                try:
                    _write_graph(exporter, wrapper, args, tmp, inputs, outputs, dynamic)
                    break
                except Exception:  # noqa: BLE001 - the next exporter, if any
                    tmp.unlink(missing_ok=True)
                    if i == len(exporters) - 1:
                        raise
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return exporter
    finally:
        tmp.unlink(missing_ok=True)


def check(decoder: OnnxDecoder, wrapper: PromptToMasks, features) -> None:
    """Raise ValueError unless the session's masks agree with torch's on *features*."""
    points, labels = _example_prompt(wrapper)
    state = decoder.image_state(features)
    for n in (1, points.shape[2]):  # one point (padded by the encoder) and points + box corners
        with torch.inference_mode():
            ref_masks, ref_iou = wrapper(features[0], features[1], features[-1], points[:, :, :n], labels[:, :, :n])
        masks, iou = decoder(state, points[:, :, :n], labels[:, :, :n])
        if masks.shape != ref_masks.shape or iou.shape != ref_iou.shape:
            raise ValueError(f"it returns masks {tuple(masks.shape)}, torch {tuple(ref_masks.shape)}")
        worst = float((masks - ref_masks).abs().max())
        # relative to the logits' scale (a random model's are ~1e-4, a trained one's ~10)
        tolerance = 1e-3 * float(ref_masks.abs().max()) + 1e-7
        if not worst <= tolerance or not float((iou - ref_iou).abs().max()) <= 1e-5:
            raise ValueError(f"its masks differ from torch's by {worst:.3g} (tolerance {tolerance:.3g})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""

